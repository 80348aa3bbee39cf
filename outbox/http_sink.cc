#include <httplib.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>

#include "core/digest.h"
#include "core/http_exchange.h"
#include "core/http_rules.h"
#include "core/url.h"
#include "core/watchdog.h"
#include "outbox/sink.h"

namespace rivulet::outbox {

namespace {

class HttpSink final : public Sink {
 public:
  HttpSink(Destination destination, int connections)
      : destination_(std::move(destination)), connections_(std::max(1, connections)) {
    std::tie(origin_, path_) = core::SplitOriginAndPath(destination_.url);
  }

  Status Open() override { return Status::Ok(); }
  bool ordered_batches() const override { return false; }

  ~HttpSink() override {
    for (auto& helper : helpers_) {
      {
        std::lock_guard<std::mutex> lock(helper->mu);
        helper->stopping = true;
      }
      helper->cv.notify_one();
      helper->thread.join();
    }
  }

  // The batch is shared by the connections the round uses: this thread works on the
  // first, a helper thread each on the others. Helpers live as long as the sink, so a
  // round costs one wake-up per connection it uses, not a thread start (on a busy
  // machine, starting and joining 15 threads for a batch of a few messages cost more
  // than delivering them).
  std::vector<Delivery> Deliver(const std::vector<Message>& batch) override {
    std::vector<Delivery> out(batch.size());
    std::atomic<size_t> next{0};
    auto work = [&](size_t worker) {
      httplib::Client& client = Client(worker);
      for (size_t i = next.fetch_add(1); i < batch.size(); i = next.fetch_add(1)) {
        out[i] = Send(client, batch[i]);
      }
    };
    const std::vector<size_t> workers = Workers(batch.size());
    std::function<void(size_t)> job = work;
    for (size_t t = 1; t < workers.size(); ++t) Helper(workers[t]).Start(&job, workers[t]);
    work(workers[0]);
    for (size_t t = 1; t < workers.size(); ++t) Helper(workers[t]).Wait();
    return out;
  }

 private:
  // At most this many connections are opened at once. Servers with a short listen
  // backlog (httplib's is 5) drop the handshake of connections beyond it, and the
  // client's SYN is retried a second later.
  static constexpr size_t kNewConnectionsPerRound = 4;

  // The connections a round of `messages` uses: every open one, then up to
  // kNewConnectionsPerRound that are not open yet (or were closed by the server).
  std::vector<size_t> Workers(size_t messages) {
    const size_t wanted = std::min(messages, static_cast<size_t>(connections_));
    std::vector<size_t> open;
    std::vector<size_t> closed;
    for (size_t t = 0; t < static_cast<size_t>(connections_); ++t) {
      (Client(t).is_socket_open() ? open : closed).push_back(t);  // created on this thread
    }
    std::vector<size_t> workers(open.begin(), open.begin() + std::min(open.size(), wanted));
    for (size_t t : closed) {
      if (workers.size() >= wanted || workers.size() >= open.size() + kNewConnectionsPerRound)
        break;
      workers.push_back(t);
    }
    return workers;
  }

  // Creates connections up to `worker` on first use; only Deliver's own thread may
  // create them (workers only look theirs up).
  httplib::Client& Client(size_t worker) {
    while (clients_.size() <= worker) {
      auto client = std::make_unique<httplib::Client>(origin_);
      client->set_keep_alive(true);
      client->set_tcp_nodelay(true);
      const auto s = std::chrono::duration_cast<std::chrono::seconds>(destination_.timeout);
      const auto us =
          std::chrono::duration_cast<std::chrono::microseconds>(destination_.timeout - s);
      client->set_connection_timeout(s.count(), us.count());
      client->set_read_timeout(s.count(), us.count());
      client->set_write_timeout(s.count(), us.count());
      clients_.push_back(std::move(client));
    }
    return *clients_[worker];
  }

  // One POST, bounded like a saga step (core/http_rules.h): headers checked before
  // anything is sent, the destination's timeout a deadline for the whole exchange, the
  // answer read up to core::kMaxAnswerBytes (only its first 200 bytes are kept, for the
  // error).
  Delivery Send(httplib::Client& client, const Message& m) {
    const auto deadline = std::chrono::steady_clock::now() + destination_.timeout;
    const std::string what = "POST " + destination_.url;
    Delivery d;
    httplib::Request req;
    req.method = "POST";
    req.path = path_;
    auto add = [&](const std::string& name, const std::string& value) {
      Status header = core::CheckHeaderField(name, value);
      if (!header.ok() && d.error.empty()) {
        d.retryable = false;  // the same message would fail the same way: dead at once
        d.error = what + ": " + header.message();
      }
      req.headers.emplace(name, value);
    };
    const core::Json extra = m.Headers();
    for (auto it = extra.begin(); it != extra.end(); ++it) {
      if (it->is_string()) add(it.key(), it->get<std::string>());
    }
    add("Idempotency-Key", m.id);
    if (!destination_.secret.empty()) {
      add("Rivulet-Signature", "sha256=" + core::HmacSha256Hex(destination_.secret, m.payload));
    }
    if (!d.error.empty()) return d;
    req.headers.emplace("Content-Type", "application/json");
    req.body = m.payload;

    core::BoundedExchange exchange =
        core::SendBounded(client, req, watchdog_, deadline, core::kMaxAnswerBytes, 200);
    if (!exchange.sent) {
      if (exchange.too_large) {
        d.error = what + " answered " + std::to_string(exchange.status) + " with a body over " +
                  std::to_string(core::kMaxAnswerBytes) + " bytes, the limit of an answer";
      } else if (exchange.timed_out) {
        d.error = what + ": no complete answer within the timeout of " +
                  std::to_string(destination_.timeout.count()) + "ms";
      } else {
        d.error = what + ": " + httplib::to_string(exchange.error);
      }
      return d;
    }
    const int status = exchange.response.status;
    if (status >= 200 && status < 300) {
      d.delivered = true;
      return d;
    }
    d.retryable = status == 408 || status == 429 || status >= 500;
    d.error = what + " answered " + std::to_string(status) +
              (exchange.body.empty() ? "" : ": " + exchange.body);
    return d;
  }

  // A thread that runs one connection's share of a round.
  struct HelperThread {
    std::mutex mu;
    std::condition_variable cv;
    const std::function<void(size_t)>* job = nullptr;  // GUARDED_BY(mu); set while a round runs
    size_t worker = 0;                                 // GUARDED_BY(mu)
    bool stopping = false;                             // GUARDED_BY(mu)
    std::thread thread;

    void Start(const std::function<void(size_t)>* work, size_t index) {
      {
        std::lock_guard<std::mutex> lock(mu);
        job = work;
        worker = index;
      }
      cv.notify_one();
    }
    void Wait() {
      std::unique_lock<std::mutex> lock(mu);
      cv.wait(lock, [&] { return job == nullptr; });
    }
    void Run() {
      std::unique_lock<std::mutex> lock(mu);
      while (true) {
        cv.wait(lock, [&] { return job != nullptr || stopping; });
        if (stopping) return;
        const std::function<void(size_t)>* work = job;
        const size_t index = worker;
        lock.unlock();
        (*work)(index);
        lock.lock();
        job = nullptr;
        cv.notify_one();
      }
    }
  };

  // The helper for connection `worker`, started on first use.
  HelperThread& Helper(size_t worker) {
    while (helpers_.size() <= worker) {
      helpers_.push_back(std::make_unique<HelperThread>());
      HelperThread* helper = helpers_.back().get();
      helper->thread = std::thread([helper] { helper->Run(); });
    }
    return *helpers_[worker];
  }

  Destination destination_;
  int connections_;
  std::string origin_;
  std::string path_;
  std::vector<std::unique_ptr<httplib::Client>> clients_;  // one per worker index
  core::Watchdog watchdog_;  // stops an exchange still going at its deadline
  std::vector<std::unique_ptr<HelperThread>> helpers_;  // helpers_[i] serves connection i
};

}  // namespace

std::unique_ptr<Sink> MakeHttpSink(const Destination& destination, int connections) {
  return std::make_unique<HttpSink>(destination, connections);
}

}  // namespace rivulet::outbox
