#include "sagas/saga_machine.h"

// The transition table has more rows than Boost.MPL's preprocessed limit of 20.
#define BOOST_MPL_CFG_NO_PREPROCESSED_HEADERS
#define BOOST_MPL_LIMIT_VECTOR_SIZE 50
#define BOOST_MPL_LIMIT_MAP_SIZE 50

#include <boost/msm/back/state_machine.hpp>
#include <boost/msm/front/functor_row.hpp>
#include <boost/msm/front/state_machine_def.hpp>
#include <exception>

#include "core/status_macros.h"

namespace rivulet::sagas {

namespace msm = boost::msm;
namespace mpl = boost::mpl;
using core::Json;
using msm::front::none;
using msm::front::Row;

namespace {

// An event's data, read and checked before the machine sees it.
struct Payload {
  int step = -1;  // index of data["step"]
  int attempt = 0;
  bool retryable = false;
  bool outcome_unknown = false;
  std::optional<int> status;
  Json response;
  std::string error;
  std::optional<int64_t> due;  // retry time; or an await's deadline
  const Json* data = nullptr;
};

template <class Tag>
struct Event {
  const Payload* p;
};
using Started = Event<struct StartedTag>;
using StepStarted = Event<struct StepStartedTag>;
using AwaitStarted = Event<struct AwaitStartedTag>;
using StepSucceeded = Event<struct StepSucceededTag>;
using StepFailed = Event<struct StepFailedTag>;
using RetryScheduled = Event<struct RetryScheduledTag>;
using TimedOut = Event<struct TimedOutTag>;
using AbortRequested = Event<struct AbortRequestedTag>;
using CompensationStarted = Event<struct CompensationStartedTag>;
using CompensationSucceeded = Event<struct CompensationSucceededTag>;
using CompensationFailed = Event<struct CompensationFailedTag>;
using CompensationRetryScheduled = Event<struct CompensationRetryScheduledTag>;
using RetryRequested = Event<struct RetryRequestedTag>;
using Finished = Event<struct FinishedTag>;  // SagaCompleted, SagaCompensated, ...

// The instance's data: the machine's context (steps come from the definition).
struct Data {
  const SagaDefinition* definition = nullptr;
  std::vector<StepState> steps;
  int current = -1;        // the step run, awaited or retried
  int compensating = -1;   // the step whose compensation is next
  bool in_flight = false;  // an attempt (action or compensation) was started, no result yet
  bool await_started = false;
  Json trigger;
  int64_t deadline = 0;
  std::optional<int64_t> due;
  std::optional<int64_t> await_deadline;
  std::string error;
  bool aborted = false;
  bool finished = false;
  std::string illegal;  // set by no_transition / exception_caught

  bool HasCompensation(int i) const {
    return definition->steps[static_cast<size_t>(i)].compensation.has_value();
  }
  // The highest step below `below` whose effect must be undone and can be.
  int NextToCompensate(int below) const {
    for (int i = below - 1; i >= 0; --i) {
      if (steps[static_cast<size_t>(i)].NeedsCompensation() && HasCompensation(i)) return i;
    }
    return -1;
  }
  // Where compensation starts when the saga stops at the current step; `current_unknown`
  // marks the current step's outcome as unknown (an attempt was in flight).
  int CompensationStart(bool current_unknown) const {
    if (current >= 0 && HasCompensation(current) &&
        (current_unknown || steps[static_cast<size_t>(current)].NeedsCompensation())) {
      return current;
    }
    return NextToCompensate(current);
  }
  bool NextIs(bool await) const {
    size_t next = static_cast<size_t>(current + 1);
    if (next >= definition->steps.size()) return false;
    return definition->steps[next].await.has_value() == await;
  }
};

// ---- guards ----
struct FirstIsAwait {
  template <class E, class M, class S, class T>
  bool operator()(const E&, M& m, S&, T&) const {
    return m.data.definition->steps[0].await.has_value();
  }
};
struct FirstIsAction {
  template <class E, class M, class S, class T>
  bool operator()(const E& e, M& m, S& s, T& t) const {
    return !FirstIsAwait()(e, m, s, t);
  }
};
struct NotInFlight {
  template <class E, class M, class S, class T>
  bool operator()(const E&, M& m, S&, T&) const {
    return !m.data.in_flight;
  }
};
struct NextIsAction {
  template <class E, class M, class S, class T>
  bool operator()(const E&, M& m, S&, T&) const {
    return m.data.NextIs(false);
  }
};
struct NextIsAwait {
  template <class E, class M, class S, class T>
  bool operator()(const E&, M& m, S&, T&) const {
    return m.data.NextIs(true);
  }
};
struct NoMoreSteps {
  template <class E, class M, class S, class T>
  bool operator()(const E&, M& m, S&, T&) const {
    return static_cast<size_t>(m.data.current + 1) >= m.data.definition->steps.size();
  }
};
struct AttemptsLeft {  // a failed action is tried again
  template <class E, class M, class S, class T>
  bool operator()(const E& e, M& m, S&, T&) const {
    const StepState& step = m.data.steps[static_cast<size_t>(m.data.current)];
    return e.p->retryable && m.data.definition->retry.AttemptsLeft(step.attempts);
  }
};
// After a failure that is not retried, or a stop (timeout, abort): is there anything to
// undo? An action whose outcome is unknown counts as done.
struct ToCompensateAfterFailure {
  template <class E, class M, class S, class T>
  bool operator()(const E& e, M& m, S& s, T& t) const {
    return !AttemptsLeft()(e, m, s, t) && m.data.CompensationStart(e.p->outcome_unknown) >= 0;
  }
};
struct NothingToCompensateAfterFailure {
  template <class E, class M, class S, class T>
  bool operator()(const E& e, M& m, S& s, T& t) const {
    return !AttemptsLeft()(e, m, s, t) && m.data.CompensationStart(e.p->outcome_unknown) < 0;
  }
};
struct ToCompensateAfterStop {
  template <class E, class M, class S, class T>
  bool operator()(const E&, M& m, S&, T&) const {
    return m.data.CompensationStart(m.data.in_flight) >= 0;
  }
};
struct NothingToCompensateAfterStop {
  template <class E, class M, class S, class T>
  bool operator()(const E&, M& m, S&, T&) const {
    return m.data.CompensationStart(m.data.in_flight) < 0;
  }
};
struct MoreToCompensate {
  template <class E, class M, class S, class T>
  bool operator()(const E&, M& m, S&, T&) const {
    return m.data.NextToCompensate(m.data.compensating) >= 0;
  }
};
struct DoneAborted {
  template <class E, class M, class S, class T>
  bool operator()(const E& e, M& m, S& s, T& t) const {
    return !MoreToCompensate()(e, m, s, t) && m.data.aborted;
  }
};
struct DoneCompensated {
  template <class E, class M, class S, class T>
  bool operator()(const E& e, M& m, S& s, T& t) const {
    return !MoreToCompensate()(e, m, s, t) && !m.data.aborted;
  }
};
struct CompensationAttemptsLeft {
  template <class E, class M, class S, class T>
  bool operator()(const E& e, M& m, S&, T&) const {
    const StepState& step = m.data.steps[static_cast<size_t>(m.data.compensating)];
    return e.p->retryable &&
           m.data.definition->compensation_retry.AttemptsLeft(step.compensation_attempts);
  }
};
struct CompensationExhausted {
  template <class E, class M, class S, class T>
  bool operator()(const E& e, M& m, S& s, T& t) const {
    return !CompensationAttemptsLeft()(e, m, s, t);
  }
};
struct NotFinished {
  template <class E, class M, class S, class T>
  bool operator()(const E&, M& m, S&, T&) const {
    return !m.data.finished;
  }
};

// ---- actions ----
struct Start {
  template <class E, class M, class S, class T>
  void operator()(const E& e, M& m, S&, T&) const {
    m.data.trigger = e.p->data->value("trigger", Json());
    m.data.deadline = e.p->data->value("deadline", int64_t{0});
    m.data.current = 0;
  }
};
struct BeginAttempt {
  template <class E, class M, class S, class T>
  void operator()(const E&, M& m, S&, T&) const {
    ++m.data.steps[static_cast<size_t>(m.data.current)].attempts;
    m.data.in_flight = true;
    m.data.due.reset();
  }
};
struct BeginAwait {
  template <class E, class M, class S, class T>
  void operator()(const E& e, M& m, S&, T&) const {
    m.data.await_started = true;
    m.data.await_deadline = e.p->due;
  }
};
struct StepDone {  // records the result, moves to the next step (if any)
  template <class E, class M, class S, class T>
  void operator()(const E& e, M& m, S&, T&) const {
    StepState& step = m.data.steps[static_cast<size_t>(m.data.current)];
    step.succeeded = true;
    step.status = e.p->status;
    step.response = e.p->response;
    m.data.in_flight = false;
    m.data.await_started = false;
    m.data.await_deadline.reset();
    if (static_cast<size_t>(m.data.current + 1) < m.data.steps.size()) ++m.data.current;
  }
};
struct RecordFailure {
  template <class E, class M, class S, class T>
  void operator()(const E& e, M& m, S&, T&) const {
    StepState& step = m.data.steps[static_cast<size_t>(m.data.current)];
    step.last_error = e.p->error;
    step.outcome_unknown = step.outcome_unknown || e.p->outcome_unknown;
    m.data.in_flight = false;
  }
};
// Starts compensating from the current step; `in_flight_unknown`: an attempt still in
// flight (a stop, not its answer) may have taken effect.
template <bool in_flight_unknown>
struct BeginCompensation {
  template <class E, class M, class S, class T>
  void operator()(const E& e, M& m, S&, T&) const {
    StepState& step = m.data.steps[static_cast<size_t>(m.data.current)];
    if (in_flight_unknown && m.data.in_flight) step.outcome_unknown = true;
    if (!e.p->error.empty()) step.last_error = e.p->error;
    step.outcome_unknown = step.outcome_unknown || e.p->outcome_unknown;
    m.data.in_flight = false;
    m.data.await_started = false;
    m.data.await_deadline.reset();
    m.data.due.reset();
    m.data.error = e.p->error;
    m.data.compensating = m.data.CompensationStart(false);
  }
};
using CompensateAfterFailure = BeginCompensation<false>;
using CompensateAfterStop = BeginCompensation<true>;
struct Abort {
  template <class E, class M, class S, class T>
  void operator()(const E& e, M& m, S& s, T& t) const {
    m.data.aborted = true;
    CompensateAfterStop()(e, m, s, t);
  }
};
struct ScheduleRetry {
  template <class E, class M, class S, class T>
  void operator()(const E& e, M& m, S&, T&) const {
    m.data.due = e.p->due;
  }
};
struct BeginCompensationAttempt {
  template <class E, class M, class S, class T>
  void operator()(const E&, M& m, S&, T&) const {
    ++m.data.steps[static_cast<size_t>(m.data.compensating)].compensation_attempts;
    m.data.in_flight = true;
    m.data.due.reset();
  }
};
struct CompensationDone {
  template <class E, class M, class S, class T>
  void operator()(const E&, M& m, S&, T&) const {
    m.data.steps[static_cast<size_t>(m.data.compensating)].compensated = true;
    m.data.in_flight = false;
    m.data.compensating = m.data.NextToCompensate(m.data.compensating);
  }
};
struct RecordCompensationFailure {
  template <class E, class M, class S, class T>
  void operator()(const E& e, M& m, S&, T&) const {
    m.data.steps[static_cast<size_t>(m.data.compensating)].last_error = e.p->error;
    m.data.in_flight = false;
    m.data.error = e.p->error;
  }
};
struct ResumeCompensation {  // a person asked to retry a failed instance
  template <class E, class M, class S, class T>
  void operator()(const E&, M& m, S&, T&) const {
    m.data.steps[static_cast<size_t>(m.data.compensating)].compensation_attempts = 0;
    m.data.finished = false;
  }
};
struct Finish {
  template <class E, class M, class S, class T>
  void operator()(const E&, M& m, S&, T&) const {
    m.data.finished = true;
  }
};

// ---- the machine ----
struct Lifecycle : msm::front::state_machine_def<Lifecycle> {
  Data data;

  struct NotStarted : msm::front::state<> {};
  struct RunningStep : msm::front::state<> {};
  struct AwaitingEvent : msm::front::state<> {};
  struct WaitingToRetry : msm::front::state<> {};
  struct Compensating : msm::front::state<> {};
  struct WaitingToRetryCompensation : msm::front::state<> {};
  struct Completed : msm::front::state<> {};
  struct Compensated : msm::front::state<> {};
  struct Failed : msm::front::state<> {};
  struct Aborted : msm::front::state<> {};
  using initial_state = NotStarted;

  // clang-format off
  struct transition_table : mpl::vector<
    //  Source                      Event                       Target                      Action                     Guard
    Row<NotStarted,                 Started,                    RunningStep,                Start,                     FirstIsAction>,
    Row<NotStarted,                 Started,                    AwaitingEvent,              Start,                     FirstIsAwait>,

    Row<RunningStep,                StepStarted,                none,                       BeginAttempt,              NotInFlight>,
    Row<RunningStep,                StepSucceeded,              RunningStep,                StepDone,                  NextIsAction>,
    Row<RunningStep,                StepSucceeded,              AwaitingEvent,              StepDone,                  NextIsAwait>,
    Row<RunningStep,                StepSucceeded,              Completed,                  StepDone,                  NoMoreSteps>,
    Row<RunningStep,                StepFailed,                 WaitingToRetry,             RecordFailure,             AttemptsLeft>,
    Row<RunningStep,                StepFailed,                 Compensating,               CompensateAfterFailure,    ToCompensateAfterFailure>,
    Row<RunningStep,                StepFailed,                 Compensated,                CompensateAfterFailure,    NothingToCompensateAfterFailure>,
    Row<RunningStep,                TimedOut,                   Compensating,               CompensateAfterStop,       ToCompensateAfterStop>,
    Row<RunningStep,                TimedOut,                   Compensated,                CompensateAfterStop,       NothingToCompensateAfterStop>,
    Row<RunningStep,                AbortRequested,             Compensating,               Abort,                     ToCompensateAfterStop>,
    Row<RunningStep,                AbortRequested,             Aborted,                    Abort,                     NothingToCompensateAfterStop>,

    Row<AwaitingEvent,              AwaitStarted,               none,                       BeginAwait,                none>,
    Row<AwaitingEvent,              StepSucceeded,              RunningStep,                StepDone,                  NextIsAction>,
    Row<AwaitingEvent,              StepSucceeded,              AwaitingEvent,              StepDone,                  NextIsAwait>,
    Row<AwaitingEvent,              StepSucceeded,              Completed,                  StepDone,                  NoMoreSteps>,
    Row<AwaitingEvent,              StepFailed,                 Compensating,               CompensateAfterFailure,    ToCompensateAfterStop>,
    Row<AwaitingEvent,              StepFailed,                 Compensated,                CompensateAfterFailure,    NothingToCompensateAfterStop>,
    Row<AwaitingEvent,              TimedOut,                   Compensating,               CompensateAfterStop,       ToCompensateAfterStop>,
    Row<AwaitingEvent,              TimedOut,                   Compensated,                CompensateAfterStop,       NothingToCompensateAfterStop>,
    Row<AwaitingEvent,              AbortRequested,             Compensating,               Abort,                     ToCompensateAfterStop>,
    Row<AwaitingEvent,              AbortRequested,             Aborted,                    Abort,                     NothingToCompensateAfterStop>,

    Row<WaitingToRetry,             RetryScheduled,             none,                       ScheduleRetry,             none>,
    Row<WaitingToRetry,             StepStarted,                RunningStep,                BeginAttempt,              none>,
    Row<WaitingToRetry,             TimedOut,                   Compensating,               CompensateAfterStop,       ToCompensateAfterStop>,
    Row<WaitingToRetry,             TimedOut,                   Compensated,                CompensateAfterStop,       NothingToCompensateAfterStop>,
    Row<WaitingToRetry,             AbortRequested,             Compensating,               Abort,                     ToCompensateAfterStop>,
    Row<WaitingToRetry,             AbortRequested,             Aborted,                    Abort,                     NothingToCompensateAfterStop>,

    Row<Compensating,               CompensationStarted,        none,                       BeginCompensationAttempt,  NotInFlight>,
    Row<Compensating,               CompensationSucceeded,      Compensating,               CompensationDone,          MoreToCompensate>,
    Row<Compensating,               CompensationSucceeded,      Compensated,                CompensationDone,          DoneCompensated>,
    Row<Compensating,               CompensationSucceeded,      Aborted,                    CompensationDone,          DoneAborted>,
    Row<Compensating,               CompensationFailed,         WaitingToRetryCompensation, RecordCompensationFailure, CompensationAttemptsLeft>,
    Row<Compensating,               CompensationFailed,         Failed,                     RecordCompensationFailure, CompensationExhausted>,

    Row<WaitingToRetryCompensation, CompensationRetryScheduled, none,                       ScheduleRetry,             none>,
    Row<WaitingToRetryCompensation, CompensationStarted,        Compensating,               BeginCompensationAttempt,  none>,

    Row<Failed,                     RetryRequested,             Compensating,               ResumeCompensation,        none>,
    Row<Failed,                     Finished,                   none,                       Finish,                    NotFinished>,
    Row<Completed,                  Finished,                   none,                       Finish,                    NotFinished>,
    Row<Compensated,                Finished,                   none,                       Finish,                    NotFinished>,
    Row<Aborted,                    Finished,                   none,                       Finish,                    NotFinished>
  > {};
  // clang-format on

  template <class FSM, class E>
  void no_transition(const E&, FSM&, int) {
    data.illegal = "not allowed now";
  }
  template <class FSM, class E>
  void exception_caught(const E&, FSM&, std::exception& e) {
    data.illegal = std::string("failed: ") + e.what();
  }
};

using Machine = msm::back::state_machine<Lifecycle>;

}  // namespace

struct SagaMachine::Impl {
  Machine machine;
  int64_t applied = 0;

  Phase phase() const {
    const int state = machine.current_state()[0];
    // Each state's id, looked up by type (ids are MSM's, never stored).
    using L = Lifecycle;
    if (state == msm::back::get_state_id<Machine::stt, L::NotStarted>::value)
      return Phase::kNotStarted;
    if (state == msm::back::get_state_id<Machine::stt, L::RunningStep>::value)
      return Phase::kRunningStep;
    if (state == msm::back::get_state_id<Machine::stt, L::AwaitingEvent>::value)
      return Phase::kAwaitingEvent;
    if (state == msm::back::get_state_id<Machine::stt, L::WaitingToRetry>::value)
      return Phase::kWaitingToRetry;
    if (state == msm::back::get_state_id<Machine::stt, L::Compensating>::value)
      return Phase::kCompensating;
    if (state == msm::back::get_state_id<Machine::stt, L::WaitingToRetryCompensation>::value)
      return Phase::kWaitingToRetryCompensation;
    if (state == msm::back::get_state_id<Machine::stt, L::Completed>::value)
      return Phase::kCompleted;
    if (state == msm::back::get_state_id<Machine::stt, L::Compensated>::value)
      return Phase::kCompensated;
    if (state == msm::back::get_state_id<Machine::stt, L::Failed>::value) return Phase::kFailed;
    return Phase::kAborted;
  }
};

std::string PhaseName(Phase phase) {
  switch (phase) {
    case Phase::kNotStarted:
      return "not_started";
    case Phase::kRunningStep:
      return "running_step";
    case Phase::kAwaitingEvent:
      return "awaiting_event";
    case Phase::kWaitingToRetry:
      return "waiting_to_retry";
    case Phase::kCompensating:
      return "compensating";
    case Phase::kWaitingToRetryCompensation:
      return "waiting_to_retry_compensation";
    case Phase::kCompleted:
      return "completed";
    case Phase::kCompensated:
      return "compensated";
    case Phase::kFailed:
      return "failed";
    case Phase::kAborted:
      return "aborted";
  }
  return "unknown";
}

std::string StatusName(Phase phase) {
  switch (phase) {
    case Phase::kNotStarted:
    case Phase::kRunningStep:
    case Phase::kAwaitingEvent:
    case Phase::kWaitingToRetry:
      return "running";
    case Phase::kCompensating:
    case Phase::kWaitingToRetryCompensation:
      return "compensating";
    default:
      return PhaseName(phase);
  }
}

bool IsTerminal(Phase phase) {
  return phase == Phase::kCompleted || phase == Phase::kCompensated || phase == Phase::kAborted;
}

SagaMachine::SagaMachine(std::shared_ptr<const SagaDefinition> definition)
    : definition_(std::move(definition)), impl_(std::make_unique<Impl>()) {
  Data& data = impl_->machine.data;
  data.definition = definition_.get();
  data.steps.resize(definition_->steps.size());
  impl_->machine.start();
}

SagaMachine::~SagaMachine() = default;

namespace {

Status Bad(const std::string& type, const std::string& why) {
  return Status::InvalidArgument("saga event " + type, why);
}

// Reads the fields of `data` that `type` needs, checking the step it names.
Status Parse(const std::string& type, const Json& data, const Data& d, Phase phase, Payload& p) {
  if (!data.is_object()) return Bad(type, "data must be an object");
  p.data = &data;
  auto step_named = [&](int expected) -> Status {
    auto it = data.find("step");
    if (it == data.end() || !it->is_string()) return Bad(type, "needs the step's name");
    p.step = d.definition->StepIndex(it->get<std::string>());
    if (p.step < 0) return Bad(type, "no step named " + it->get<std::string>());
    if (p.step != expected) {
      return Bad(type, "names step " + it->get<std::string>() + ", but the instance is at " +
                           (expected >= 0 ? d.definition->steps[static_cast<size_t>(expected)].name
                                          : std::string("no step")));
    }
    return Status::Ok();
  };
  auto integer = [&](const char* key) -> std::optional<int64_t> {
    auto it = data.find(key);
    if (it == data.end() || !it->is_number_integer()) return std::nullopt;
    return it->get<int64_t>();
  };
  p.error = data.value("error", std::string());
  p.retryable = data.value("retryable", false);
  p.outcome_unknown = data.value("outcome", std::string("known")) == "unknown";
  if (auto s = integer("status")) p.status = static_cast<int>(*s);
  if (auto it = data.find("response"); it != data.end()) p.response = *it;
  if (auto a = integer("attempt")) p.attempt = static_cast<int>(*a);

  if (type == "SagaTimedOut" && p.error.empty()) p.error = "the saga timed out";
  if (type == "AbortRequested")
    p.error = "aborted: " + data.value("reason", std::string("by request"));
  const bool compensation = type.rfind("Compensation", 0) == 0;
  const int at = compensation ? d.compensating : d.current;
  if (type == "SagaStarted") {
    if (!integer("deadline")) return Bad(type, "needs deadline (ms since epoch)");
    return Status::Ok();
  }
  if (type == "StepStarted" || type == "CompensationStarted") {
    RETURN_IF_ERROR(step_named(at));
    const StepState& s = d.steps[static_cast<size_t>(at)];
    const int expected = (compensation ? s.compensation_attempts : s.attempts) + 1;
    if (p.attempt != expected)
      return Bad(type,
                 "attempt " + std::to_string(p.attempt) + ", expected " + std::to_string(expected));
    return Status::Ok();
  }
  if (type == "AwaitStarted") {
    RETURN_IF_ERROR(step_named(at));
    if (d.await_started) return Bad(type, "the wait has begun already");
    p.due = integer("deadline");
    return Status::Ok();
  }
  if (type == "StepSucceeded" || type == "StepFailed" || type == "CompensationSucceeded" ||
      type == "CompensationFailed") {
    RETURN_IF_ERROR(step_named(at));
    const bool await = phase == Phase::kAwaitingEvent;
    if (!await && !d.in_flight) return Bad(type, "no attempt is in flight");
    return Status::Ok();
  }
  if (type == "RetryScheduled" || type == "CompensationRetryScheduled") {
    RETURN_IF_ERROR(step_named(at));
    p.due = integer("due");
    if (!p.due) return Bad(type, "needs due (ms since epoch)");
    return Status::Ok();
  }
  return Status::Ok();
}

}  // namespace

Status SagaMachine::Apply(const std::string& type, const Json& data) {
  Machine& m = impl_->machine;
  Payload p;
  Status parsed = Parse(type, data, m.data, phase(), p);
  if (!parsed.ok()) return parsed;
  m.data.illegal.clear();
  const Phase before = phase();
  msm::back::HandledEnum handled = msm::back::HANDLED_FALSE;
  if (type == "SagaStarted")
    handled = m.process_event(Started{&p});
  else if (type == "StepStarted")
    handled = m.process_event(StepStarted{&p});
  else if (type == "AwaitStarted")
    handled = m.process_event(AwaitStarted{&p});
  else if (type == "StepSucceeded")
    handled = m.process_event(StepSucceeded{&p});
  else if (type == "StepFailed")
    handled = m.process_event(StepFailed{&p});
  else if (type == "RetryScheduled")
    handled = m.process_event(RetryScheduled{&p});
  else if (type == "SagaTimedOut")
    handled = m.process_event(TimedOut{&p});
  else if (type == "AbortRequested")
    handled = m.process_event(AbortRequested{&p});
  else if (type == "CompensationStarted")
    handled = m.process_event(CompensationStarted{&p});
  else if (type == "CompensationSucceeded")
    handled = m.process_event(CompensationSucceeded{&p});
  else if (type == "CompensationFailed")
    handled = m.process_event(CompensationFailed{&p});
  else if (type == "CompensationRetryScheduled")
    handled = m.process_event(CompensationRetryScheduled{&p});
  else if (type == "RetryRequested")
    handled = m.process_event(RetryRequested{&p});
  else if (type == "SagaCompleted" || type == "SagaCompensated" || type == "SagaFailed" ||
           type == "SagaAborted") {
    const Phase expected = type == "SagaCompleted"     ? Phase::kCompleted
                           : type == "SagaCompensated" ? Phase::kCompensated
                           : type == "SagaFailed"      ? Phase::kFailed
                                                       : Phase::kAborted;
    if (before != expected) return Bad(type, "the instance is " + PhaseName(before));
    handled = m.process_event(Finished{&p});
  } else {
    return Bad(type, "unknown saga event type");
  }
  if (handled != msm::back::HANDLED_TRUE || !m.data.illegal.empty()) {
    return Status::FailedPrecondition(
        "saga event " + type + ": not allowed while the instance is " + PhaseName(before) +
        (m.data.illegal.empty() || m.data.illegal == "not allowed now" ? ""
                                                                       : ": " + m.data.illegal));
  }
  ++impl_->applied;
  return Status::Ok();
}

Phase SagaMachine::phase() const { return impl_->phase(); }
int SagaMachine::current_step() const {
  const Data& d = impl_->machine.data;
  switch (phase()) {
    case Phase::kCompensating:
    case Phase::kWaitingToRetryCompensation:
    case Phase::kFailed:
      return d.compensating;
    case Phase::kRunningStep:
    case Phase::kAwaitingEvent:
    case Phase::kWaitingToRetry:
      return d.current;
    default:
      return -1;
  }
}
const std::vector<StepState>& SagaMachine::steps() const { return impl_->machine.data.steps; }
const Json& SagaMachine::trigger() const { return impl_->machine.data.trigger; }
int64_t SagaMachine::deadline() const { return impl_->machine.data.deadline; }
std::optional<int64_t> SagaMachine::due() const { return impl_->machine.data.due; }
std::optional<int64_t> SagaMachine::await_deadline() const {
  return impl_->machine.data.await_deadline;
}
const std::string& SagaMachine::error() const { return impl_->machine.data.error; }
bool SagaMachine::aborted() const { return impl_->machine.data.aborted; }
bool SagaMachine::in_flight() const { return impl_->machine.data.in_flight; }
bool SagaMachine::await_started() const { return impl_->machine.data.await_started; }
bool SagaMachine::finished() const { return impl_->machine.data.finished; }
int64_t SagaMachine::events_applied() const { return impl_->applied; }

}  // namespace rivulet::sagas
