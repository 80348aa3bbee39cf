#include <pthread.h>
#include <signal.h>

#include <atomic>
#include <ctime>
#include <thread>

#include "cli/commands.h"
#include "config/config_loader.h"
#include "core/log.h"
#include "core/metrics.h"
#include "outbox/relay.h"
#include "projections/projection_engine.h"
#include "runtime/dead_letter_actions.h"
#include "runtime/store_factory.h"
#include "sagas/saga_engine.h"
#include "server/dead_letter_routes.h"
#include "server/http_server.h"
#include "server/outbox_routes.h"
#include "server/projection_routes.h"
#include "server/readiness.h"
#include "server/saga_routes.h"
#include "server/source_routes.h"
#include "sources/source_runner.h"

namespace rivulet::cli {

namespace {

// What serve says goes through the log (--log-format, --log-level), like everything
// the modules it runs say; only the listening line goes to stdout.
const core::Logger& ServerLog() {
  static const core::Logger log("server");
  return log;
}

int Fail(const Status& status) {
  ServerLog().Error(status.message(), {{"code", StatusCodeName(status.code())}});
  return FailureExitCode(status);
}

}  // namespace

int RunServe(const GlobalOptions& global) {
  auto config = config::LoadConfigFile(global.config_path);
  if (!config.ok()) {
    // One record per problem.
    const std::string& problems = config.status().message();
    for (size_t start = 0; start < problems.size();) {
      size_t end = problems.find('\n', start);
      if (end == std::string::npos) end = problems.size();
      if (end > start) ServerLog().Error(std::string_view(problems).substr(start, end - start));
      start = end + 1;
    }
    return kExitUsage;
  }

  // Block the stop signals before any thread starts, so every thread inherits the mask
  // and only the waiter below ever sees them.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  std::signal(SIGPIPE, SIG_IGN);

  core::MetricsRegistry metrics;
  // Takes the store's serve lock: a second server on the same file stops here.
  auto store = runtime::OpenStore(*config, &metrics, nullptr, runtime::StoreRole::kServer);
  if (!store.ok()) return Fail(store.status());

  projections::ProjectionEngine::Options engine_options;
  engine_options.metrics = &metrics;
  projections::ProjectionEngine engine(**store, config->projections, engine_options);
  Status engine_started = engine.Start();
  if (!engine_started.ok()) return Fail(engine_started);

  sagas::SagaEngineOptions saga_options;
  saga_options.services = config->services;
  saga_options.workers = config->runtime.saga_workers;
  saga_options.metrics = &metrics;
  sagas::SagaEngine saga_engine(**store, config->sagas, saga_options);
  if (!config->sagas.empty()) {
    Status sagas_started = saga_engine.Start();
    if (!sagas_started.ok()) return Fail(sagas_started);
  }

  outbox::Relay::Options relay_options;
  relay_options.metrics = &metrics;
  outbox::Relay relay(**store, config->outbox, relay_options);
  Status relay_started = relay.Start();
  if (!relay_started.ok()) return Fail(relay_started);

  sources::Mapper mapper(config->mappings);
  sources::Ingestor ingestor(**store, mapper, &metrics);
  if (!config->sources.empty()) {
    Status migrated = sources::Ingestor::Migrate(**store);
    if (!migrated.ok()) return Fail(migrated);
  }
  sources::SourceRunner source_runner(**store, ingestor, config->sources, &metrics);

  server::HttpServer http(**store, metrics, *config);
  server::RegisterProjectionRoutes(http.router(), http.context(), engine);
  server::RegisterSagaRoutes(http.router(), http.context(), saga_engine.definitions());
  server::RegisterOutboxRoutes(http.router(), http.context());
  server::RegisterSourceRoutes(http.router(), http.context(), ingestor);
  runtime::DeadLetterActions dead_letters(**store, &ingestor, &engine);
  server::RegisterDeadLetterRoutes(http.router(), http.context(), dead_letters);
  server::Readiness readiness(http.context());
  readiness.Add([&] { return source_runner.Components(); });
  readiness.Add([&] { return engine.Components(); });
  if (!config->sagas.empty()) {
    readiness.Add([] {
      return std::vector<core::ComponentState>{
          {"saga_engine", "sagas", core::ComponentHealth::kOk, ""}};
    });
  }
  readiness.Add([&] { return relay.Components(); });
  readiness.Register(http.router());
  auto port = http.Bind();
  if (!port.ok()) return Fail(port.status());
  Status sources_started = source_runner.Start();
  if (!sources_started.ok()) return Fail(sources_started);
  readiness.SetStarted();

  std::atomic<bool> done{false};
  std::thread signal_waiter([&] {
    timespec tick{0, 200'000'000};
    while (!done.load()) {
      int sig = sigtimedwait(&stop_signals, nullptr, &tick);
      if (sig == SIGINT || sig == SIGTERM) {
        ServerLog().Info(std::string("received ") + (sig == SIGINT ? "SIGINT" : "SIGTERM") +
                         ", draining in-flight requests");
        http.Stop();
        return;
      }
    }
  });

  std::string listen = config->server.host + ":" + std::to_string(*port);
  ServerLog().Info("serving http://" + listen + " (sqlite store " + config->store.path + ")",
                   {{"listen", listen}, {"store", config->store.path}});
  PrintJsonLine(core::Json{{"listening", listen}, {"store", config->store.path}});
  Status served = http.Serve();
  source_runner.Stop();
  done.store(true);
  signal_waiter.join();
  if (!served.ok()) return Fail(served);
  ServerLog().Info("stopped");
  return kExitOk;
}

}  // namespace rivulet::cli
