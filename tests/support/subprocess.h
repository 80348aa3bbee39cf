#pragma once

#include <sys/types.h>

#include <chrono>
#include <optional>
#include <string>
#include <vector>

namespace rivulet::testing {

// A child process started with fork+exec. Its stdout is a pipe the test reads line by
// line; stderr goes to a file (for failure messages). The child gets SIGKILL if the
// test process dies, and the destructor kills and reaps it, so no test leaves a
// process behind.
class Subprocess {
 public:
  Subprocess(const std::vector<std::string>& argv, const std::string& stderr_path = "",
             const std::string& stdin_text = "");
  ~Subprocess();
  Subprocess(const Subprocess&) = delete;
  Subprocess& operator=(const Subprocess&) = delete;

  pid_t pid() const { return pid_; }

  // The next line of stdout (without the newline), or nullopt at EOF or timeout.
  std::optional<std::string> ReadLine(std::chrono::milliseconds timeout = std::chrono::seconds(30));
  // Everything left on stdout until EOF.
  std::string ReadAll(std::chrono::milliseconds timeout = std::chrono::seconds(60));

  void Signal(int sig);
  // Waits for exit; returns the exit code, or 128+signal, or nullopt on timeout.
  std::optional<int> Wait(std::chrono::milliseconds timeout = std::chrono::seconds(60));
  bool running();

 private:
  pid_t pid_ = -1;
  int stdout_fd_ = -1;
  std::string buffer_;
  std::optional<int> exit_code_;
};

// Runs a command to completion and returns {exit code, stdout}; stderr into `stderr_out`.
struct CommandResult {
  int exit_code = -1;
  std::string out;
  std::string err;
};
CommandResult RunCommand(const std::vector<std::string>& argv, const std::string& stdin_text = "");

}  // namespace rivulet::testing
