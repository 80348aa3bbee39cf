#include "server/connection_pool.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <memory>
#include <string>
#include <system_error>

namespace rivulet::server {

namespace {

using Clock = std::chrono::steady_clock;

constexpr size_t kReadBufferBytes = 16 * 1024;
// Bytes a lingering connection discards per wake-up, so one client cannot hold the
// reactor.
constexpr size_t kLingerDrainBytes = 64 * 1024;
// How long a thread waits for a connection's next request before handing the
// connection back to the reactor.
constexpr std::chrono::microseconds kKeepWarm{2'000};

int Millis(Clock::duration d) {
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(d).count();
  return static_cast<int>(std::clamp<int64_t>(ms, 0, 24 * 3600 * 1000));
}

// poll() for one event; false on timeout or error.
bool WaitFor(int fd, short events, Clock::duration timeout) {
  pollfd p{fd, events, 0};
  int r;
  do {
    r = poll(&p, 1, Millis(timeout));
  } while (r < 0 && errno == EINTR);
  return r > 0;
}

void IpAndPort(const sockaddr_storage& addr, std::string& ip, int& port) {
  char text[INET6_ADDRSTRLEN] = {};
  if (addr.ss_family == AF_INET) {
    const auto& in = reinterpret_cast<const sockaddr_in&>(addr);
    inet_ntop(AF_INET, &in.sin_addr, text, sizeof(text));
    port = ntohs(in.sin_port);
  } else if (addr.ss_family == AF_INET6) {
    const auto& in6 = reinterpret_cast<const sockaddr_in6&>(addr);
    inet_ntop(AF_INET6, &in6.sin6_addr, text, sizeof(text));
    port = ntohs(in6.sin6_port);
  }
  ip = text;
}

void SetTimeout(int fd, int option, std::chrono::milliseconds timeout) {
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(timeout.count() / 1000);
  tv.tv_usec = static_cast<suseconds_t>((timeout.count() % 1000) * 1000);
  setsockopt(fd, SOL_SOCKET, option, &tv, sizeof(tv));
}

// A whole 503 answer, written without reading the request.
std::string Unavailable503(const std::string& message) {
  std::string body = "{\"error\":\"unavailable\",\"message\":\"" + message + "\"}\n";
  return "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
         "Content-Length: " +
         std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" + body;
}

const std::string& TooManyConnections() {
  static const std::string answer = Unavailable503("too many open connections; try again shortly");
  return answer;
}

const std::string& NoThread() {
  static const std::string answer =
      Unavailable503("the server cannot start a thread for this request; try again shortly");
  return answer;
}

// The Content-Length a request declares (0 without one), or kUnknownLength when the
// pool cannot count its body (chunked, or a value that is not one number).
constexpr uint64_t kUnknownLength = UINT64_MAX;
uint64_t DeclaredBodyLength(const httplib::Request& req) {
  if (req.has_header("Transfer-Encoding")) return kUnknownLength;
  if (!req.has_header("Content-Length")) return 0;  // RFC 9112 section 6.3: no body
  if (req.get_header_value_count("Content-Length") != 1) return kUnknownLength;
  const std::string value = req.get_header_value("Content-Length");
  if (value.empty() || value.size() > 18) return kUnknownLength;
  uint64_t length = 0;
  for (char ch : value) {
    if (ch < '0' || ch > '9') return kUnknownLength;
    length = length * 10 + static_cast<uint64_t>(ch - '0');
  }
  return length;
}

}  // namespace

// One client connection, and the httplib::Stream its requests are read from and
// answered on. Reads are buffered; each request may read at most max_header_bytes up
// to the end of its headers (within one read timeout) and max_body_bytes after them.
class Connection final : public httplib::Stream {
 public:
  Connection(int fd, const ConnectionLimits& limits) : fd_(fd), limits_(limits) {}
  ~Connection() override = default;

  bool is_readable() const override { return off_ < len_ || WaitReadable(); }

  bool is_writable() const override {
    if (!WaitFor(fd_, POLLOUT, limits_.write_timeout)) return false;
    // Still connected: nothing to read, or something that is not the end of the stream.
    if (!WaitFor(fd_, POLLIN, Clock::duration::zero())) return true;
    char byte;
    return recv(fd_, &byte, 1, MSG_PEEK | MSG_DONTWAIT) > 0;
  }

  ssize_t read(char* ptr, size_t size) override {
    if (size == 0) return 0;
    if (budget_ == 0) {
      (in_body_ ? body_limit_hit : header_limit_hit) = true;
      close_after = true;
      return -1;
    }
    size = std::min(size, budget_);
    if (off_ == len_) {
      if (!buffer_) buffer_ = std::make_unique<char[]>(kReadBufferBytes);
      // What has arrived is taken at once; only then is it worth waiting.
      ssize_t n = Receive(MSG_DONTWAIT);
      if (n < 0 && errno == EAGAIN) {
        if (!WaitReadable()) return Failed(-1);
        n = Receive(0);
      }
      if (n <= 0) return Failed(n);
      off_ = 0;
      len_ = static_cast<size_t>(n);
    }
    size_t taken = std::min(size, len_ - off_);
    std::memcpy(ptr, buffer_.get() + off_, taken);
    off_ += taken;
    budget_ -= taken;
    consumed_ += taken;
    return static_cast<ssize_t>(taken);
  }

  ssize_t write(const char* ptr, size_t size) override {
    if (!WaitFor(fd_, POLLOUT, limits_.write_timeout)) return -1;
    ssize_t n;
    do {
      n = send(fd_, ptr, size, MSG_NOSIGNAL);  // SO_SNDTIMEO bounds a partial send
    } while (n < 0 && errno == EINTR);
    return n;
  }

  void get_remote_ip_and_port(std::string& ip, int& port) const override {
    sockaddr_storage addr{};
    socklen_t len = sizeof(addr);
    if (getpeername(fd_, reinterpret_cast<sockaddr*>(&addr), &len) == 0) IpAndPort(addr, ip, port);
  }

  void get_local_ip_and_port(std::string& ip, int& port) const override {
    sockaddr_storage addr{};
    socklen_t len = sizeof(addr);
    if (getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len) == 0) IpAndPort(addr, ip, port);
  }

  socket_t socket() const override { return fd_; }

  void BeginRequest() {
    in_body_ = false;
    budget_ = limits_.max_header_bytes;
    header_deadline_ = Clock::now() + limits_.read_timeout;
    consumed_ = 0;
    header_limit_hit = body_limit_hit = close_after = body_read = false;
  }

  // The request line and headers are parsed; what follows is the body.
  void BeginBody(const httplib::Request& req) {
    in_body_ = true;
    budget_ = limits_.max_body_bytes;
    body_start_ = consumed_;
    body_length_ = DeclaredBodyLength(req);
  }

  // Whether this request's bytes were read, but not to its end: answering it and
  // keeping the connection would parse the rest as the next request.
  bool Unfinished() const {
    if (consumed_ == 0) return false;  // nothing read: the connection ended before a request
    if (!in_body_) return true;        // answered before its headers were parsed
    if (body_read) return false;
    return body_length_ == kUnknownLength || consumed_ - body_start_ < body_length_;
  }

  bool HasBuffered() const { return off_ < len_; }
  // Between requests nothing is buffered; an idle connection keeps no buffer.
  void ReleaseBuffer() {
    if (off_ == len_) buffer_.reset();
  }

  int fd() const { return fd_; }

  // Bookkeeping of ConnectionPool, guarded by its mutex.
  ConnectionPool::State state = ConnectionPool::State::kActive;
  bool closed = false;
  bool registered = false;  // in the epoll set
  std::list<Connection*>::iterator where;
  Clock::time_point deadline;

  std::list<Connection*>::iterator serving_where;

  // Per request; read by the thread serving it.
  bool close_after = false;
  bool header_limit_hit = false;
  bool body_limit_hit = false;
  bool body_read = false;

 private:
  bool WaitReadable() const {
    Clock::duration timeout = limits_.read_timeout;
    if (!in_body_) timeout = std::min(timeout, header_deadline_ - Clock::now());
    return WaitFor(fd_, POLLIN, timeout);
  }

  ssize_t Receive(int flags) {
    ssize_t n;
    do {
      n = recv(fd_, buffer_.get(), kReadBufferBytes, flags);
    } while (n < 0 && errno == EINTR);
    return n;
  }

  // A read that ended the request early leaves the connection in an unknown place.
  ssize_t Failed(ssize_t n) {
    if (consumed_ > 0) close_after = true;
    return n;
  }

  const int fd_;
  const ConnectionLimits& limits_;
  std::unique_ptr<char[]> buffer_;
  size_t off_ = 0;
  size_t len_ = 0;
  bool in_body_ = false;
  size_t budget_ = 0;
  size_t consumed_ = 0;
  size_t body_start_ = 0;
  uint64_t body_length_ = 0;
  Clock::time_point header_deadline_;
};

namespace {
thread_local Connection* current_connection = nullptr;
thread_local const std::atomic<bool>* current_pool_stopping = nullptr;
}  // namespace

ConnectionPool::ConnectionPool(ConnectionLimits limits, RequestServer serve,
                               core::MetricsRegistry& metrics)
    : limits_(limits),
      serve_(std::move(serve)),
      connections_gauge_(metrics.GetGauge("rivulet_http_connections", "Open HTTP connections")),
      threads_gauge_(metrics.GetGauge("rivulet_http_threads", "Threads that serve HTTP requests")),
      busy_gauge_(metrics.GetGauge("rivulet_http_requests_in_progress",
                                   "HTTP requests being served (long polls and event streams "
                                   "included)")),
      refused_(metrics.GetCounter("rivulet_http_connections_refused_total",
                                  "Connections answered 503 at the connection limit")),
      evicted_(metrics.GetCounter("rivulet_http_connections_evicted_total",
                                  "Idle keep-alive connections closed to make room for a new one "
                                  "at the connection limit")),
      no_thread_(metrics.GetCounter("rivulet_http_requests_without_thread_total",
                                    "Requests answered 503 because the system refused a new "
                                    "thread")) {}

ConnectionPool::~ConnectionPool() { Shutdown(); }

Status ConnectionPool::Start() {
  std::lock_guard<std::mutex> lock(mu_);
  if (started_) return Status::Ok();
  auto failed = [this](const std::string& what, int error) {
    if (epoll_fd_ >= 0) close(epoll_fd_);
    if (wake_fd_ >= 0) close(wake_fd_);
    epoll_fd_ = wake_fd_ = -1;
    return Status::Unavailable("cannot start the HTTP server: " + what + ": " +
                               std::strerror(error));
  };
  epoll_fd_ = epoll_create1(EPOLL_CLOEXEC);
  if (epoll_fd_ < 0) return failed("cannot create an epoll set", errno);
  wake_fd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (wake_fd_ < 0) return failed("cannot create an eventfd for the epoll set", errno);
  epoll_event wake{};
  wake.events = EPOLLIN;
  wake.data.ptr = nullptr;
  if (epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, wake_fd_, &wake) != 0) {
    return failed("cannot add the eventfd to the epoll set", errno);
  }
  try {
    reactor_ = std::thread([this] { ReactorLoop(); });
  } catch (const std::system_error& e) {
    return failed("cannot start the thread that waits on the epoll set", e.code().value());
  }
  started_ = true;
  // Threads the system refuses now are asked for again when requests need them.
  for (size_t i = 0; i < std::min(limits_.min_threads, limits_.max_threads); ++i) {
    if (!SpawnThread()) break;
  }
  return Status::Ok();
}

void ConnectionPool::Adopt(int fd) {
  SetTimeout(fd, SO_SNDTIMEO, limits_.write_timeout);
  std::unique_lock<std::mutex> lock(mu_);
  if (!started_ || stopping_) {
    lock.unlock();
    close(fd);
    return;
  }
  if (open_ >= limits_.max_connections && !lingering_.empty()) {
    // A refused connection that only waits for its client to stop sending makes room
    // first.
    Destroy(lingering_.front());
  } else if (open_ >= limits_.max_connections) {
    if (idle_.empty()) {
      refused_.Inc();
      lock.unlock();
      // The socket buffer is empty, so this never blocks.
      const std::string& answer = TooManyConnections();
      static_cast<void>(send(fd, answer.data(), answer.size(), MSG_NOSIGNAL | MSG_DONTWAIT));
      shutdown(fd, SHUT_WR);
      close(fd);
      return;
    }
    evicted_.Inc();
    Destroy(idle_.front());
  }
  ++open_;
  Watch(new Connection(fd, limits_), State::kIdle);
  UpdateGauges();
}

void ConnectionPool::Shutdown() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!started_ || stopping_) return;
    stopping_ = true;
    stopping_flag_ = true;
    work_cv_.notify_all();
  }
  const auto deadline = Clock::now() + limits_.stop_timeout;
  uint64_t one = 1;
  static_cast<void>(::write(wake_fd_, &one, sizeof(one)));
  reactor_.join();  // it closes the idle and lingering connections
  {
    std::unique_lock<std::mutex> lock(mu_);
    if (!threads_cv_.wait_until(lock, deadline, [this] { return threads_.empty(); })) {
      // Past the deadline: every read and write of the requests still in progress fails
      // at once, so their threads end (the socket stays open until its thread lets go).
      for (Connection* c : serving_) shutdown(c->fd(), SHUT_RDWR);
      threads_cv_.wait(lock, [this] { return threads_.empty(); });
    }
  }
  JoinExited();
  std::lock_guard<std::mutex> lock(mu_);
  for (Connection* c : graveyard_) delete c;
  graveyard_.clear();
  close(epoll_fd_);
  close(wake_fd_);
}

void ConnectionPool::CloseAfterResponse() {
  if (current_connection != nullptr) current_connection->close_after = true;
}

bool ConnectionPool::ClosesAfterResponse() {
  Connection* c = current_connection;
  if (c == nullptr) return false;
  if (current_pool_stopping->load() || c->Unfinished()) c->close_after = true;
  return c->close_after;
}

void ConnectionPool::BodyRead() {
  if (current_connection != nullptr) current_connection->body_read = true;
}

bool ConnectionPool::HeaderLimitHit() {
  return current_connection != nullptr && current_connection->header_limit_hit;
}

bool ConnectionPool::BodyLimitHit() {
  return current_connection != nullptr && current_connection->body_limit_hit;
}

void ConnectionPool::ReactorLoop() {
  epoll_event events[64];
  std::unique_ptr<char[]> discard = std::make_unique<char[]>(kLingerDrainBytes);
  while (true) {
    // Deadlines are checked at least twice a second.
    int n = epoll_wait(epoll_fd_, events, 64, 500);
    JoinExited();
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_) {
      while (!idle_.empty()) Destroy(idle_.front());
      while (!lingering_.empty()) Destroy(lingering_.front());
      return;
    }
    for (int i = 0; i < n; ++i) {
      auto* c = static_cast<Connection*>(events[i].data.ptr);
      if (c == nullptr) {
        uint64_t count;
        static_cast<void>(::read(wake_fd_, &count, sizeof(count)));
        continue;
      }
      if (c->closed) continue;  // closed after epoll_wait returned
      if (c->state == State::kIdle) {
        idle_.erase(c->where);
        c->state = State::kActive;
        Dispatch(c);
      } else if (c->state == State::kLingering) {
        // Discard what the client still sends; close at its end or on an error.
        ssize_t got = recv(c->fd(), discard.get(), kLingerDrainBytes, MSG_DONTWAIT);
        if (got > 0 || (got < 0 && (errno == EAGAIN || errno == EINTR))) {
          Rearm(c);
        } else {
          Destroy(c);
        }
      }
    }
    auto now = Clock::now();
    while (!idle_.empty() && idle_.front()->deadline <= now) Destroy(idle_.front());
    while (!lingering_.empty() && lingering_.front()->deadline <= now) Destroy(lingering_.front());
    // Every event naming a connection destroyed so far has been seen.
    for (Connection* c : graveyard_) delete c;
    graveyard_.clear();
  }
}

void ConnectionPool::WorkerLoop(std::list<std::thread>::iterator self) {
  std::unique_lock<std::mutex> lock(mu_);
  while (true) {
    if (ready_.empty()) {
      if (stopping_) break;
      ++idle_threads_;
      bool woken = work_cv_.wait_for(lock, limits_.thread_idle,
                                     [this] { return !ready_.empty() || stopping_; });
      --idle_threads_;
      if (!woken && threads_.size() > limits_.min_threads) break;
      continue;
    }
    Connection* c = ready_.front();
    ready_.pop_front();
    queued_ = ready_.size();
    c->serving_where = serving_.insert(serving_.end(), c);
    ++busy_;
    UpdateGauges();
    lock.unlock();
    Serve(c);
    lock.lock();
    --busy_;
    UpdateGauges();
  }
  exited_.splice(exited_.end(), threads_, self);
  UpdateGauges();
  threads_cv_.notify_all();
}

void ConnectionPool::Serve(Connection* c) {
  current_connection = c;
  current_pool_stopping = &stopping_flag_;
  auto headers_read = [c](httplib::Request& req) { c->BeginBody(req); };
  bool keep = true;
  bool linger = false;
  while (true) {
    c->BeginRequest();
    const bool close_connection = stopping_flag_.load();
    bool connection_closed = false;
    bool ok = false;
    try {
      ok = serve_(*c, close_connection, connection_closed, headers_read);
    } catch (...) {
      // httplib catches what handlers throw; anything else ends only this connection.
      c->close_after = true;
    }
    // Whatever was not read of this request must not be taken for the next one (the
    // answer said Connection: close, through ClosesAfterResponse).
    if (c->Unfinished()) c->close_after = true;
    linger = c->close_after;
    keep =
        ok && !connection_closed && !close_connection && !c->close_after && !stopping_flag_.load();
    if (!keep) break;
    // A pipelined request, or a client that sends its next request right after the
    // answer (most do), is served at once: the hand-over through the reactor costs two
    // thread wake-ups. Not while other connections wait for a thread.
    if (c->HasBuffered()) continue;
    if (queued_.load() > 0) break;
    ++warm_;
    const bool next = WaitFor(c->fd(), POLLIN, kKeepWarm);
    --warm_;
    if (!next) break;
  }
  current_connection = nullptr;
  current_pool_stopping = nullptr;
  if (keep) return Park(c);
  if (linger) return Linger(c);
  std::lock_guard<std::mutex> lock(mu_);
  serving_.erase(c->serving_where);
  Destroy(c);
}

void ConnectionPool::Park(Connection* c) {
  c->ReleaseBuffer();
  std::lock_guard<std::mutex> lock(mu_);
  serving_.erase(c->serving_where);
  if (stopping_) return Destroy(c);
  Watch(c, State::kIdle);
}

void ConnectionPool::Linger(Connection* c) {
  // The answer is out: end our side, then read until the client ends its side.
  shutdown(c->fd(), SHUT_WR);
  c->ReleaseBuffer();
  std::lock_guard<std::mutex> lock(mu_);
  serving_.erase(c->serving_where);
  if (stopping_) return Destroy(c);
  Watch(c, State::kLingering);
}

void ConnectionPool::Dispatch(Connection* c) {
  // Threads waiting for work take the connections queued before this one first.
  const bool needs_thread = ready_.size() >= idle_threads_;
  if (needs_thread && threads_.size() < limits_.max_threads && !SpawnThread() &&
      ready_.size() >= idle_threads_ + warm_.load()) {
    // The system refuses another thread and every thread is taken (threads waiting
    // 2 ms for their connection's next request are about to be free): waiting could
    // mean waiting for a long poll or an event stream to end.
    return Unavailable(c);
  }
  ready_.push_back(c);
  queued_ = ready_.size();
  work_cv_.notify_one();
}

void ConnectionPool::Unavailable(Connection* c) {
  no_thread_.Inc();
  // Never blocks the reactor; the request is not read (the lingering close discards it).
  const std::string& answer = NoThread();
  static_cast<void>(send(c->fd(), answer.data(), answer.size(), MSG_NOSIGNAL | MSG_DONTWAIT));
  shutdown(c->fd(), SHUT_WR);
  Watch(c, State::kLingering);
}

void ConnectionPool::Watch(Connection* c, State state) {
  c->state = state;
  // Every connection of a list waits as long, so each list stays in deadline order.
  c->deadline = Clock::now() + (state == State::kIdle ? limits_.idle_timeout : limits_.linger);
  std::list<Connection*>& list = state == State::kIdle ? idle_ : lingering_;
  c->where = list.insert(list.end(), c);
  Rearm(c);
}

void ConnectionPool::Rearm(Connection* c) {
  epoll_event ev{};
  ev.events = EPOLLIN | EPOLLRDHUP | EPOLLONESHOT;
  ev.data.ptr = c;
  if (epoll_ctl(epoll_fd_, c->registered ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, c->fd(), &ev) != 0) {
    return Destroy(c);
  }
  c->registered = true;
}

void ConnectionPool::Destroy(Connection* c) {
  if (c->state == State::kIdle) idle_.erase(c->where);
  if (c->state == State::kLingering) lingering_.erase(c->where);
  c->state = State::kActive;
  c->closed = true;
  if (c->registered) epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, c->fd(), nullptr);
  close(c->fd());
  --open_;
  // Freed by the reactor once no event it already holds can name it.
  graveyard_.push_back(c);
  UpdateGauges();
}

bool ConnectionPool::SpawnThread() {
  auto self = threads_.emplace(threads_.end());
  try {
    // The thread starts by taking mu_, which the caller holds: `self` is set by then.
    *self = std::thread([this, self] { WorkerLoop(self); });
  } catch (const std::system_error&) {
    threads_.erase(self);
    return false;
  }
  UpdateGauges();
  return true;
}

void ConnectionPool::JoinExited() {
  std::list<std::thread> done;
  {
    std::lock_guard<std::mutex> lock(mu_);
    done.swap(exited_);
  }
  for (std::thread& t : done) t.join();
}

void ConnectionPool::UpdateGauges() {
  connections_gauge_.Set(static_cast<int64_t>(open_));
  threads_gauge_.Set(static_cast<int64_t>(threads_.size()));
  busy_gauge_.Set(static_cast<int64_t>(busy_));
}

}  // namespace rivulet::server
