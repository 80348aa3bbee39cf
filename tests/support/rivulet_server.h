#pragma once

#include <httplib.h>

#include <memory>
#include <string>
#include <vector>

#include "core/json.h"
#include "tests/support/subprocess.h"
#include "tests/support/temp_dir.h"

namespace rivulet::testing {

// The path of the rivulet binary under test (set by CMake).
std::string RivuletBinary();

// A real `rivulet serve` on a free loopback port, with its own store in a temporary
// directory. The config is `extra_yaml` appended to a store and a server section
// (`server:` keys other than listen go in `server_yaml`). Stopped with SIGTERM (then
// SIGKILL) on destruction; `Restart` keeps the directory and store.
class RivuletServer {
 public:
  // Starts at once unless `start` is false (to fill the store first, then Start()).
  explicit RivuletServer(std::string server_yaml = "", std::string extra_yaml = "",
                         bool start = true);
  ~RivuletServer();

  void Start();
  // Rewrites the config (same store and listen address) for the next Start.
  void SetConfig(const std::string& server_yaml, const std::string& extra_yaml);
  // Arguments after `serve -c CONFIG` for the next Start, e.g. {"--log-format", "json"}.
  void SetArgs(std::vector<std::string> args) { args_ = std::move(args); }
  // SIGTERM and wait; returns the exit code.
  int Stop();
  // SIGKILL, no cleanup, as a crash.
  void Crash();

  int port() const { return port_; }
  const TempDir& dir() const { return dir_; }
  std::string config_path() const { return dir_.File("rivulet.yaml"); }
  std::string stderr_text() const;
  // The stderr lines that are JSON objects (the log under --log-format json), parsed.
  std::vector<core::Json> LogRecords() const;
  Subprocess& process() { return *process_; }

  // A client with keep-alive and generous timeouts.
  std::unique_ptr<httplib::Client> Client() const;

 private:
  TempDir dir_;
  std::unique_ptr<Subprocess> process_;
  int port_ = 0;
  std::vector<std::string> args_;
};

}  // namespace rivulet::testing
