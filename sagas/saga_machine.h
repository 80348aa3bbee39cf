#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/json.h"
#include "core/result.h"
#include "sagas/saga_definition.h"

namespace rivulet::sagas {

// The lifecycle every saga shares, as a Boost.MSM state machine (saga_machine.cc).
// Phases, not MSM state ids, are what the rest of the code sees: ids change with the
// transition table and are never stored.
enum class Phase {
  kNotStarted,
  kRunningStep,     // a step's action is (to be) called
  kAwaitingEvent,   // an await step waits for its event
  kWaitingToRetry,  // a step's action failed and waits for its retry time
  kCompensating,    // a compensation is (to be) called
  kWaitingToRetryCompensation,
  kCompleted,
  kCompensated,
  kFailed,  // a compensation exhausted its attempts: waits for a person (retry)
  kAborted,
};

// The status users see (SPEC section 5).
std::string StatusName(Phase phase);
std::string PhaseName(Phase phase);
bool IsTerminal(Phase phase);  // completed, compensated, aborted (failed waits for retry)

// What an instance knows about one step.
struct StepState {
  int attempts = 0;  // action attempts started
  bool succeeded = false;
  bool outcome_unknown = false;  // an attempt may have taken effect (timeout, broken connection)
  std::optional<int> status;     // HTTP status of the successful answer
  core::Json response;           // its JSON body (null when absent)
  std::string last_error;
  int compensation_attempts = 0;
  bool compensated = false;

  // Whether a compensation must undo this step's effect.
  bool NeedsCompensation() const { return (succeeded || outcome_unknown) && !compensated; }
};

// The event types of a saga instance's stream ($saga-<name>-<id>), with their data:
//   SagaStarted              {trigger, definition, hash, deadline (ms since epoch)}
//   StepStarted              {step, attempt, request: {method, url, headers, body}}
//   AwaitStarted             {step, match, deadline}
//   StepSucceeded            {step, status?, response?, event?: {position, ...}}
//   StepFailed               {step, attempt, error, retryable, outcome: known|unknown}
//   RetryScheduled           {step, attempt, due}
//   SagaTimedOut             {}
//   AbortRequested           {reason}
//   CompensationStarted      {step, attempt, request}
//   CompensationSucceeded    {step, status, response}
//   CompensationFailed       {step, attempt, error, retryable}
//   CompensationRetryScheduled {step, attempt, due}
//   RetryRequested           {}
//   SagaCompleted / SagaCompensated / SagaFailed / SagaAborted   {error?}
// `step` is the step's name. The machine checks that each event is legal in the
// current phase and names the step the instance is at; anything else is an error
// and changes nothing.
class SagaMachine {
 public:
  // `definition` is the instance's frozen definition (from its SagaStarted event).
  explicit SagaMachine(std::shared_ptr<const SagaDefinition> definition);
  ~SagaMachine();
  SagaMachine(const SagaMachine&) = delete;
  SagaMachine& operator=(const SagaMachine&) = delete;

  // Applies one stream event. Restoring an instance applies its stream in order to a
  // fresh machine; driving one applies each new event before it is appended.
  Status Apply(const std::string& type, const core::Json& data);

  Phase phase() const;
  const SagaDefinition& definition() const { return *definition_; }
  // The step being run, awaited or retried; while compensating, the step whose
  // compensation is next; -1 when there is none.
  int current_step() const;
  const std::vector<StepState>& steps() const;
  const core::Json& trigger() const;
  int64_t deadline() const;            // of the whole saga, ms since epoch
  std::optional<int64_t> due() const;  // retry time while waiting to retry
  std::optional<int64_t> await_deadline() const;
  const std::string& error() const;  // why it compensates, or why it failed
  bool aborted() const;
  // An action or compensation attempt was started and has no result yet.
  bool in_flight() const;
  // The current await step has recorded AwaitStarted.
  bool await_started() const;
  // Whether the terminal event (SagaCompleted, ...) of the current phase is recorded.
  bool finished() const;
  int64_t events_applied() const;

 private:
  struct Impl;
  std::shared_ptr<const SagaDefinition> definition_;
  std::unique_ptr<Impl> impl_;
};

}  // namespace rivulet::sagas
