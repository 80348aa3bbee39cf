#pragma once

#include <memory>
#include <string>
#include <vector>

#include "core/json.h"
#include "tests/support/subprocess.h"
#include "tests/support/temp_dir.h"

namespace rivulet::testing {

// The example participant services (examples/services) on a free loopback port,
// killed when the object goes away.
class ExampleServices {
 public:
  explicit ExampleServices(const std::vector<std::string>& args = {});

  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  int port() const { return port_; }
  // GET /state: payments, reservations, shipments, notifications, applied (times the
  // work ran per idempotency key), requests (requests per key).
  core::Json State() const;
  void Control(const core::Json& settings) const;

 private:
  TempDir dir_;
  std::unique_ptr<Subprocess> process_;
  int port_ = 0;
};

}  // namespace rivulet::testing
