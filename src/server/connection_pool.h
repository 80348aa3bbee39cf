#pragma once

#include <httplib.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <list>
#include <mutex>
#include <thread>
#include <vector>

#include "core/metrics.h"
#include "core/result.h"

namespace rivulet::server {

struct ConnectionLimits {
  // Open client connections. At the cap a new connection closes the oldest refused
  // connection still discarding its body (lingering), else the longest-idle keep-alive
  // connection, or, when there is neither, is answered 503 and closed.
  size_t max_connections = 4096;
  // Threads that serve requests: `min_threads` stay ready; more start when a request
  // arrives and none is free, up to `max_threads`, and exit after `thread_idle`. When
  // the system refuses a thread, the request is answered 503 unread and closed.
  size_t min_threads = 16;
  size_t max_threads = 1024;
  std::chrono::milliseconds thread_idle{30'000};
  // A keep-alive connection with no request in progress closes after this long.
  std::chrono::milliseconds idle_timeout{60'000};
  // Waiting for request bytes (the whole request line and headers must arrive within
  // one read timeout), and for the client to take response bytes.
  std::chrono::milliseconds read_timeout{10'000};
  std::chrono::milliseconds write_timeout{10'000};
  // After refusing a request whose body was not read, the connection discards what the
  // client still sends for up to this long before closing, so that the client reads
  // the answer instead of a reset.
  std::chrono::milliseconds linger{2'000};
  // How long Shutdown lets requests in progress finish; past it their connections are
  // shut down, which fails whatever they still read or write.
  std::chrono::milliseconds stop_timeout{10'000};
  // Bytes of the request line and headers, and raw body bytes on the wire (chunk
  // framing included) read for one request. Past either, reading fails.
  size_t max_header_bytes = 64 * 1024;
  size_t max_body_bytes = SIZE_MAX;
};

// Serves one HTTP request from `stream` (httplib's Server::process_request). Calls
// `headers_read` once the request line and headers are parsed, before the body.
using RequestServer =
    std::function<bool(httplib::Stream& stream, bool close_connection, bool& connection_closed,
                       const std::function<void(httplib::Request&)>& headers_read)>;

class Connection;

// The server's connections and the threads that serve them. A connection holds a
// thread only while a request is in progress: between requests it waits in an epoll
// set, and a thread takes it when its next request is readable. So idle keep-alive
// connections (client pools keep dozens open) cost a file descriptor each, never a
// thread, and a request finds a thread as long as fewer than `max_threads` requests
// are in progress.
//
// Lifecycle: Start, then Adopt each accepted socket (from one thread, the accept
// loop); Shutdown closes idle connections, lets requests in progress finish within
// `stop_timeout` (their answers say Connection: close) and joins every thread.
// Thread-safe.
//
// A connection stays open after an answer only when the whole request was read: its
// headers, and its body (counted against Content-Length, or for a chunked body marked
// by BodyRead). Any other answer (an error before the headers were parsed, a refusal
// before the body, a malformed chunk) says Connection: close, so unread bytes are
// never parsed as the next request.
class ConnectionPool {
 public:
  ConnectionPool(ConnectionLimits limits, RequestServer serve, core::MetricsRegistry& metrics);
  ~ConnectionPool();
  ConnectionPool(const ConnectionPool&) = delete;
  ConnectionPool& operator=(const ConnectionPool&) = delete;

  // Creates the epoll set and the threads; an error when the system refuses them.
  Status Start();
  // Takes ownership of an accepted socket.
  void Adopt(int fd);
  // From now on every answer says Connection: close and its connection closes.
  void BeginShutdown() { stopping_flag_ = true; }
  // Idempotent; returns once every thread has ended.
  void Shutdown();

  const ConnectionLimits& limits() const { return limits_; }

  // For code running inside a request (route handlers, httplib's hooks), about the
  // connection the request arrived on; no-ops on any other thread.
  //
  // The connection closes after this answer, discarding unread request bytes first
  // (used when a request is refused before its body is read).
  static void CloseAfterResponse();
  // Whether the connection closes after this answer: CloseAfterResponse was called, the
  // request was not read to its end, or the pool is stopping.
  static bool ClosesAfterResponse();
  // The request's body has been read to its end (httplib calls a route handler only
  // then); the pool cannot see where a chunked body ends.
  static void BodyRead();
  // Whether reading this request failed because its headers or its body passed the
  // limits above.
  static bool HeaderLimitHit();
  static bool BodyLimitHit();

 private:
  friend class Connection;
  enum class State { kIdle, kLingering, kActive };

  void ReactorLoop();
  void WorkerLoop(std::list<std::thread>::iterator self);
  void Serve(Connection* c);
  // After a request: keep the connection for the next one, or close it.
  void Park(Connection* c);
  void Linger(Connection* c);
  // The rest require mu_, except JoinExited.
  void Dispatch(Connection* c);
  // Waits for the connection to be readable: idle until its next request, or lingering.
  void Watch(Connection* c, State state);
  void Rearm(Connection* c);
  void Destroy(Connection* c);
  // Answers 503 without reading the request, and closes (lingering).
  void Unavailable(Connection* c);
  // False when the system refuses another thread.
  bool SpawnThread();
  void JoinExited();
  void UpdateGauges();

  const ConnectionLimits limits_;
  const RequestServer serve_;
  core::Gauge& connections_gauge_;
  core::Gauge& threads_gauge_;
  core::Gauge& busy_gauge_;
  core::Counter& refused_;
  core::Counter& evicted_;
  core::Counter& no_thread_;
  int epoll_fd_ = -1;
  int wake_fd_ = -1;  // an eventfd that ends the reactor's wait

  std::mutex mu_;
  std::condition_variable work_cv_;         // a connection is ready, or stopping
  std::condition_variable threads_cv_;      // a worker thread ended
  bool started_ = false;                    // GUARDED_BY(mu_)
  bool stopping_ = false;                   // GUARDED_BY(mu_)
  std::atomic<bool> stopping_flag_{false};  // stopping_, for answers in progress
  std::atomic<size_t> queued_{0};           // ready_.size(), read without mu_
  std::atomic<size_t> warm_{0};             // threads waiting 2 ms for a next request
  size_t open_ = 0;                         // GUARDED_BY(mu_)
  std::list<Connection*> idle_;             // GUARDED_BY(mu_); oldest first
  std::list<Connection*> lingering_;        // GUARDED_BY(mu_); oldest first
  std::deque<Connection*> ready_;           // GUARDED_BY(mu_)
  std::list<Connection*> serving_;          // GUARDED_BY(mu_); taken by a thread
  // Closed connections, freed by the reactor once no event it holds can name them.
  std::vector<Connection*> graveyard_;  // GUARDED_BY(mu_)
  std::list<std::thread> threads_;      // GUARDED_BY(mu_); running workers
  std::list<std::thread> exited_;       // GUARDED_BY(mu_); to join
  size_t idle_threads_ = 0;             // GUARDED_BY(mu_)
  size_t busy_ = 0;                     // GUARDED_BY(mu_)
  std::thread reactor_;
};

}  // namespace rivulet::server
