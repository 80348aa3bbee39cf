#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cctype>
#include <chrono>
#include <functional>
#include <mutex>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace rivulet::testing {

// A loopback HTTP server on raw sockets, for what a well-behaved server will not do:
// record each request byte for byte (to see exactly what went out), and answer with
// anything, as slowly as wanted. Each connection carries one request: `answer` gets its
// raw bytes (head and body) and a way to write, then the connection is closed. Header
// only, so any test binary can use it.
class RawHttpServer {
 public:
  class Connection {
   public:
    explicit Connection(int fd, const std::atomic<bool>& stopping) : fd_(fd), stopping_(stopping) {}
    // False once the peer is gone or the server is stopping.
    bool Write(std::string_view bytes) {
      while (!bytes.empty()) {
        if (stopping_.load()) return false;
        ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
        if (n <= 0) return false;
        bytes.remove_prefix(static_cast<size_t>(n));
      }
      return true;
    }
    // Sleeps in small steps; false if the server is stopping or the peer closed.
    bool Pause(std::chrono::milliseconds how_long) {
      const auto until = std::chrono::steady_clock::now() + how_long;
      while (std::chrono::steady_clock::now() < until) {
        if (stopping_.load() || PeerClosed()) return false;
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
      }
      return true;
    }

   private:
    bool PeerClosed() {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, 0) <= 0) return false;
      if (p.revents & (POLLHUP | POLLERR)) return true;
      char c;
      return ::recv(fd_, &c, 1, MSG_PEEK | MSG_DONTWAIT) == 0;
    }
    int fd_;
    const std::atomic<bool>& stopping_;
  };
  using Answer = std::function<void(const std::string& request, Connection& connection)>;

  // A complete answer with this status and body (JSON content type).
  static std::string Response(int status, const std::string& body) {
    return "HTTP/1.1 " + std::to_string(status) +
           " X\r\nContent-Type: application/json\r\nConnection: close\r\nContent-Length: " +
           std::to_string(body.size()) + "\r\n\r\n" + body;
  }

  explicit RawHttpServer(Answer answer) : answer_(std::move(answer)) {
    listen_fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    ::setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
        ::listen(listen_fd_, 64) != 0) {
      ::close(listen_fd_);
      throw std::runtime_error("RawHttpServer: cannot listen on loopback");
    }
    socklen_t len = sizeof(addr);
    ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    acceptor_ = std::thread([this] { Accept(); });
  }

  ~RawHttpServer() {
    stopping_ = true;
    acceptor_.join();
    std::vector<std::thread> handlers;
    {
      std::lock_guard<std::mutex> lock(mu_);
      handlers.swap(handlers_);
    }
    for (auto& t : handlers) t.join();
    ::close(listen_fd_);
  }
  RawHttpServer(const RawHttpServer&) = delete;
  RawHttpServer& operator=(const RawHttpServer&) = delete;

  int port() const { return port_; }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  std::vector<std::string> requests() const {
    std::lock_guard<std::mutex> lock(mu_);
    return requests_;
  }

 private:
  void Accept() {
    while (!stopping_.load()) {
      pollfd p{listen_fd_, POLLIN, 0};
      if (::poll(&p, 1, 50) <= 0) continue;
      int fd = ::accept(listen_fd_, nullptr, nullptr);
      if (fd < 0) continue;
      std::lock_guard<std::mutex> lock(mu_);
      handlers_.emplace_back([this, fd] { Handle(fd); });
    }
  }

  void Handle(int fd) {
    std::string request;
    size_t head_end = std::string::npos;
    size_t wanted = 0;
    char buf[4096];
    const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (!stopping_.load() && std::chrono::steady_clock::now() < give_up) {
      if (head_end != std::string::npos && request.size() >= head_end + 4 + wanted) break;
      pollfd p{fd, POLLIN, 0};
      if (::poll(&p, 1, 50) <= 0) continue;
      ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
      if (n <= 0) break;
      request.append(buf, static_cast<size_t>(n));
      if (head_end == std::string::npos) {
        head_end = request.find("\r\n\r\n");
        if (head_end != std::string::npos) wanted = ContentLength(request.substr(0, head_end));
      }
    }
    if (head_end != std::string::npos) {
      {
        std::lock_guard<std::mutex> lock(mu_);
        requests_.push_back(request);
      }
      Connection connection(fd, stopping_);
      answer_(request, connection);
    }
    ::shutdown(fd, SHUT_RDWR);
    ::close(fd);
  }

  static size_t ContentLength(const std::string& head) {
    std::string lower;
    for (char c : head)
      lower.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
    size_t at = lower.find("\r\ncontent-length:");
    if (at == std::string::npos) return 0;
    return static_cast<size_t>(std::stoul(lower.substr(at + 17)));
  }

  Answer answer_;
  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stopping_{false};
  std::thread acceptor_;
  mutable std::mutex mu_;
  std::vector<std::thread> handlers_;  // GUARDED_BY(mu_)
  std::vector<std::string> requests_;  // GUARDED_BY(mu_)
};

}  // namespace rivulet::testing
