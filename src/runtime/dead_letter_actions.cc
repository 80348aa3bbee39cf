#include "runtime/dead_letter_actions.h"

#include "core/status_macros.h"

namespace rivulet::runtime {

namespace {
Status Gone(int64_t id) { return Status::NotFound("no dead letter " + std::to_string(id)); }
}  // namespace

Result<core::Json> DeadLetterActions::Retry(int64_t id, std::chrono::milliseconds wait) {
  ASSIGN_OR_RETURN(std::optional<eventstore::DeadLetter> letter,
                   eventstore::DeadLetters::Find(store_, id));
  if (!letter) return Gone(id);
  core::Json answer{{"id", id},
                    {"kind", letter->kind},
                    {letter->kind, letter->component},
                    {"outcome", "applied"}};
  if (letter->kind == "source") {
    if (ingestor_ == nullptr)
      return Status::FailedPrecondition("this process does not run sources");
    ASSIGN_OR_RETURN(sources::IngestStats stats, ingestor_->RetryDeadLetter(id));
    answer["result"] = stats.ToJson();
    return answer;
  }
  if (letter->kind == "projection") {
    if (engine_ == nullptr)
      return Status::FailedPrecondition("this process does not run projections");
    RETURN_IF_ERROR(engine_->RetryDeadLetter(id, wait));
    return answer;
  }
  return Status::InvalidArgument("dead letter " + std::to_string(id) + " is of an unknown kind " +
                                 letter->kind);
}

Result<core::Json> DeadLetterActions::Discard(int64_t id) {
  bool removed = false;
  RETURN_IF_ERROR(store_.Write([&](eventstore::Transaction& tx) -> Status {
    ASSIGN_OR_RETURN(removed, eventstore::DeadLetters::Remove(tx, id));
    return Status::Ok();
  }));
  if (!removed) return Gone(id);
  return core::Json{{"id", id}, {"outcome", "discarded"}};
}

}  // namespace rivulet::runtime
