#pragma once

#include <csignal>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "config/config.h"
#include "core/json.h"
#include "core/status.h"
#include "eventstore/event_store.h"

namespace rivulet::cli {

// SPEC section 6: 0 success, 1 a failed operation (conflict, not found), 2 usage or
// config error.
inline constexpr int kExitOk = 0;
inline constexpr int kExitFailed = 1;
inline constexpr int kExitUsage = 2;

struct GlobalOptions {
  std::string config_path = "rivulet.yaml";
};

// Loads the config; on error prints every problem to stderr and returns nullopt.
std::optional<config::Config> LoadConfigOrReport(const GlobalOptions& global);

// Opens the configured store; on error prints why and returns null.
std::unique_ptr<eventstore::EventStore> OpenStoreOrReport(const config::Config& config);

// One JSON line on stdout, flushed so pipes see it at once.
void PrintJsonLine(const std::string& json);
void PrintJsonLine(const core::Json& json);

// "rivulet: <message>" on stderr.
void PrintMessage(const std::string& message);

// The exit code for a failed operation: 2 for bad input (an invalid argument, an event
// over server.max_body), 1 for everything else.
int FailureExitCode(const Status& status);
// Prints the status's message, then returns FailureExitCode.
int ReportFailure(const Status& status);

// The word of `known` that `word` was most likely meant to be, for "did you mean": the
// nearest within an edit distance of 2 (1 for words of up to 3 letters), else the only
// one that starts with `word`; "" when none is close.
std::string ClosestWord(const std::string& word, const std::vector<std::string>& known);

// SIGINT/SIGTERM handling for commands that run until interrupted: after
// InstallStopSignals, StopRequested turns true on either signal.
void InstallStopSignals();
bool StopRequested();

}  // namespace rivulet::cli
