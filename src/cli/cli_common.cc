#include "cli/cli_common.h"

#include <cstdio>
#include <iostream>

#include "config/config_loader.h"
#include "core/edit_distance.h"
#include "runtime/store_factory.h"

namespace rivulet::cli {

namespace {
volatile std::sig_atomic_t g_stop_requested = 0;

void OnStopSignal(int) { g_stop_requested = 1; }
}  // namespace

std::optional<config::Config> LoadConfigOrReport(const GlobalOptions& global) {
  auto config = config::LoadConfigFile(global.config_path);
  if (!config.ok()) {
    std::cerr << config.status().message() << std::endl;
    return std::nullopt;
  }
  return std::move(config).value();
}

std::unique_ptr<eventstore::EventStore> OpenStoreOrReport(const config::Config& config) {
  auto store = runtime::OpenStore(config, nullptr);
  if (!store.ok()) {
    PrintMessage(store.status().message());
    return nullptr;
  }
  return std::move(store).value();
}

void PrintJsonLine(const std::string& json) {
  std::fwrite(json.data(), 1, json.size(), stdout);
  std::fputc('\n', stdout);
  std::fflush(stdout);
}

void PrintJsonLine(const core::Json& json) { PrintJsonLine(core::DumpJson(json)); }

void PrintMessage(const std::string& message) { std::cerr << "rivulet: " << message << std::endl; }

int ReportFailure(const Status& status) {
  PrintMessage(status.message());
  return FailureExitCode(status);
}

int FailureExitCode(const Status& status) {
  // An event over server.max_body is bad input, like any other invalid argument.
  const bool bad_input =
      status.code() == StatusCode::kInvalidArgument || status.reason() == "too_large";
  return bad_input ? kExitUsage : kExitFailed;
}

std::string ClosestWord(const std::string& word, const std::vector<std::string>& known) {
  std::string best;
  size_t best_distance = word.size() <= 3 ? 2 : 3;
  for (const std::string& k : known) {
    const size_t d = core::EditDistance(word, k);
    if (d < best_distance) {
      best_distance = d;
      best = k;
    }
  }
  if (!best.empty() || word.size() < 2) return best;
  for (const std::string& k : known) {
    if (k.rfind(word, 0) != 0) continue;
    if (!best.empty()) return "";  // more than one starts so
    best = k;
  }
  return best;
}

void InstallStopSignals() {
  struct sigaction action {};
  action.sa_handler = OnStopSignal;
  sigemptyset(&action.sa_mask);
  action.sa_flags = 0;
  sigaction(SIGINT, &action, nullptr);
  sigaction(SIGTERM, &action, nullptr);
  std::signal(SIGPIPE, SIG_IGN);
}

bool StopRequested() { return g_stop_requested != 0; }

}  // namespace rivulet::cli
