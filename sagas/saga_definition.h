#pragma once

#include <chrono>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "core/filter.h"
#include "core/json.h"
#include "core/json_reader.h"
#include "core/result.h"
#include "core/retry_policy.h"
#include "core/template.h"

namespace rivulet::sagas {

using std::chrono::milliseconds;

// A request to a participant service: services.<service> + path.
struct HttpCall {
  std::string service;  // a key of `services:`
  std::string method = "POST";
  core::Template path;
  std::optional<core::JsonTemplate> body;
  std::map<std::string, core::Template> headers;
};

// Waits for an event of `type` whose fields match; operands may be templates over the
// saga's context, evaluated when the wait begins.
struct AwaitSpec {
  std::string type;
  std::optional<core::Filter> match;
};

struct Step {
  std::string name;
  std::optional<HttpCall> action;  // exactly one of action and await
  std::optional<AwaitSpec> await;
  std::optional<HttpCall> compensation;
  std::optional<milliseconds> timeout;  // per attempt (action) or for the wait (await)
};

struct Emit {
  core::Template stream;
  core::Template type;
  core::JsonTemplate data;
  std::optional<core::JsonTemplate> metadata;
};

// One `sagas:` item, compiled. `definition` is the JSON it was compiled from and `hash`
// its SHA-256: an instance freezes both when it starts and is driven by them to the
// end, whatever the config says later.
struct SagaDefinition {
  std::string name;
  std::optional<std::string> trigger_type;  // no trigger: started by hand only
  std::optional<core::Filter> trigger_match;
  std::optional<core::Template> id;  // over the trigger event; required with a trigger
  milliseconds timeout{5 * 60'000};
  core::RetryPolicy retry;
  core::RetryPolicy compensation_retry{10, milliseconds(1000), 2.0, milliseconds(60'000),
                                       core::RetryPolicy::Jitter::kFull};
  std::vector<Step> steps;
  std::optional<Emit> on_completed;
  std::optional<Emit> on_compensated;
  core::Json definition;
  std::string hash;

  // The index of the step named `name`, or -1.
  int StepIndex(const std::string& name) const;
};

// Compiles the JSON form of one `sagas:` item. Errors go to `reader` with key paths
// under `path`. `services` are the declared service names a call may name; nullptr
// skips that check (a frozen definition is compiled again on restore, and a service
// that has since left the config fails its calls instead).
SagaDefinition CompileSaga(const core::Json& definition, const std::string& path,
                           core::JsonReader& reader, const std::set<std::string>* services);

// The same, as a Result with every error in its message.
Result<SagaDefinition> CompileSaga(const core::Json& definition,
                                   const std::set<std::string>* services = nullptr);

}  // namespace rivulet::sagas
