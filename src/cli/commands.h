#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "cli/cli_common.h"

namespace rivulet::cli {

// One function per subcommand of SPEC section 6; each returns the process exit code.

int RunServe(const GlobalOptions& global);
int RunCheck(const GlobalOptions& global);

struct AppendOptions {
  std::string stream;
  std::string type;
  std::string data = "{}";
  std::string expected_version = "any";
  std::string metadata = "{}";
  std::string id;
};
int RunAppend(const GlobalOptions& global, const AppendOptions& options);

struct ReadOptions {
  std::string stream;
  std::optional<int64_t> from;
  std::optional<int64_t> limit;
  bool backward = false;
};
int RunRead(const GlobalOptions& global, const ReadOptions& options);

struct TailOptions {
  std::string match;
  std::string resume_after;
  bool from_start = false;
  std::optional<int64_t> limit;  // stop after this many events
};
int RunTail(const GlobalOptions& global, const TailOptions& options);

}  // namespace rivulet::cli
