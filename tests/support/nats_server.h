#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "tests/support/subprocess.h"
#include "tests/support/temp_dir.h"

namespace rivulet::testing {

// A loopback port nobody listens on right now (the kernel's pick for port 0).
int FreeLoopbackPort();

// A private `nats-server -js` on `port` (a free one by default) with its store in a
// temporary directory, asking clients for `user` and `password` when a user is given;
// ready when constructed (throws otherwise), killed on destruction.
class NatsServer {
 public:
  explicit NatsServer(int port = FreeLoopbackPort(), std::string user = "",
                      std::string password = "");

  // With the credentials, when there are some.
  std::string url() const {
    return "nats://" + (user_.empty() ? "" : user_ + ":" + password_ + "@") +
           "127.0.0.1:" + std::to_string(port_);
  }
  int port() const { return port_; }
  // Messages stored in `stream`.
  int64_t Count(const std::string& stream) const;
  // Creates `stream` over `subjects` (a wildcard), refusing messages over max_msg_size
  // bytes when that is not 0; false if it could not.
  bool AddStream(const std::string& stream, const std::string& subjects,
                 int32_t max_msg_size = 0) const;
  // The payloads stored in `stream`, in stream sequence order.
  std::vector<std::string> Payloads(const std::string& stream) const;

 private:
  TempDir dir_;
  int port_;
  std::string user_;
  std::string password_;
  std::unique_ptr<Subprocess> process_;
};

}  // namespace rivulet::testing
