#include "projections/projection_builder.h"

#include <thread>

#include "core/status_macros.h"
#include "core/time_format.h"
#include "projections/document_update.h"

namespace rivulet::projections {

namespace {
constexpr size_t kMaxCachedDocuments = 200'000;
constexpr auto kCheckpointInterval = std::chrono::seconds(1);
constexpr const char* kLost = "lost";

// Tables smaller than this are cheap to query with or without statistics.
constexpr int64_t kAnalyzeMinRows = 1000;

Status Lost() {
  return Status::Aborted("the projection copy changed under this builder").WithReason(kLost);
}
}  // namespace

core::Json EventContext(const eventstore::RecordedEvent& event,
                        const std::set<std::string>* fields) {
  auto wants = [&](const char* field) { return fields == nullptr || fields->count(field) > 0; };
  core::Json ctx = core::Json::object();
  if (wants("position")) ctx["position"] = event.position;
  if (wants("stream")) ctx["stream"] = event.stream;
  if (wants("version")) ctx["version"] = event.version;
  if (wants("id")) ctx["id"] = event.id.ToString();
  if (wants("type")) ctx["type"] = event.type;
  if (wants("data")) ctx["data"] = core::ParseJsonOr(event.data, core::Json(), core::kStoredJson);
  if (wants("metadata"))
    ctx["metadata"] = core::ParseJsonOr(event.metadata, core::Json(), core::kStoredJson);
  if (wants("recorded_at")) ctx["recorded_at"] = core::FormatRfc3339Millis(event.recorded_at);
  return ctx;
}

ProjectionBuilder::ProjectionBuilder(eventstore::EventStore& store, ProjectionDefinition definition,
                                     Generation generation, Options options)
    : store_(store),
      definition_(std::move(definition)),
      generation_(std::move(generation)),
      options_(std::move(options)) {
  if (options_.clock == nullptr) options_.clock = core::SystemClock::Default();
  fields_read_ = definition_.EventFieldsRead();
  position_.store(generation_.position);
}

eventstore::EventFilter ProjectionBuilder::Filter() const {
  eventstore::EventFilter filter;
  if (auto types = definition_.TypesToRead()) {
    filter.types = *types;
    // No handled type: read nothing. Types are never empty, so "" matches no event.
    if (filter.types.empty()) filter.types.push_back("");
  }
  filter.streams = definition_.from_streams;
  filter.match = definition_.from_match;
  return filter;
}

Status ProjectionBuilder::Prefetch(const std::vector<PendingEvent>& pending) {
  if (cache_.size() > kMaxCachedDocuments) cache_.clear();
  std::vector<std::string> missing;
  for (const PendingEvent& p : pending) {
    if (cache_.find(p.key) == cache_.end()) {
      cache_.emplace(p.key, std::nullopt);  // absent unless the read below finds it
      missing.push_back(p.key);
    }
  }
  ASSIGN_OR_RETURN(auto docs, ProjectionTables::ReadDocuments(store_, table_, missing));
  for (auto& [key, text] : docs) {
    auto doc = core::ParseJson(text, core::kStoredJson);
    if (!doc.ok()) return doc.status().WithContext("stored document " + key);
    cache_[key] = std::move(doc).value();
  }
  return Status::Ok();
}

Result<bool> ProjectionBuilder::Commit(
    int64_t to, const std::optional<std::pair<int64_t, std::string>>& failed_at,
    const std::vector<eventstore::DeadLetter>& parked,
    const std::function<Status(eventstore::Transaction&)>& also) {
  const std::vector<std::string>& indexes = definition_.indexes;
  // cache_ holds every changed key's stored state (Prefetch loaded it for this batch).
  int64_t rows = rows_;
  for (const auto& [key, doc] : changed_) {
    auto stored = cache_.find(key);
    bool existed = stored != cache_.end() && stored->second.has_value();
    rows += static_cast<int64_t>(doc.has_value()) - static_cast<int64_t>(existed);
  }
  // Statistics are gathered again whenever the table has grown or shrunk by half, so
  // their cost stays a small fraction of the writes.
  const bool analyze = !indexes.empty() && std::abs(rows - analyzed_rows_) >=
                                               std::max(kAnalyzeMinRows, analyzed_rows_ / 2);
  Status status = store_.Write([&](eventstore::Transaction& tx) -> Status {
    ASSIGN_OR_RETURN(
        std::optional<std::string> role,
        ProjectionTables::Advance(tx, generation_.name, generation_.generation, options_.owner,
                                  committed_, to, NowMillis(), options_.lease_ms));
    if (!role) return Lost();
    generation_.role = *role;
    const std::string table = ProjectionTables::TableOf(generation_);
    for (const auto& [key, doc] : changed_) {
      if (doc) {
        RETURN_IF_ERROR(ProjectionTables::Upsert(tx, table, key, *doc, indexes));
      } else {
        RETURN_IF_ERROR(ProjectionTables::Delete(tx, table, key));
      }
    }
    if (failed_at) {
      RETURN_IF_ERROR(ProjectionTables::MarkFailed(tx, generation_.name, generation_.generation,
                                                   failed_at->first, failed_at->second,
                                                   NowMillis()));
    }
    for (const eventstore::DeadLetter& letter : parked)
      RETURN_IF_ERROR(eventstore::DeadLetters::Add(tx, letter).status());
    if (also) RETURN_IF_ERROR(also(tx));
    if (analyze) RETURN_IF_ERROR(ProjectionTables::Analyze(tx, table));
    return Status::Ok();
  });
  if (!status.ok()) {
    // Whatever happened, the documents in memory may be ahead of the stored ones.
    changed_.clear();
    cache_.clear();
    if (status.reason() == kLost) return false;
    return status;
  }
  for (auto& [key, doc] : changed_) cache_[key] = std::move(doc);
  changed_.clear();
  rows_ = rows;
  if (analyze) analyzed_rows_ = rows;
  committed_ = to;
  table_ = ProjectionTables::TableOf(generation_);
  live_.store(generation_.role == "live", std::memory_order_release);
  last_commit_ = std::chrono::steady_clock::now();
  return true;
}

eventstore::DeadLetter ProjectionBuilder::Letter(const eventstore::RecordedEvent& event,
                                                 const std::string& error) const {
  eventstore::DeadLetter letter;
  letter.kind = "projection";
  letter.component = generation_.name;
  letter.generation = generation_.generation;
  letter.position = event.position;
  letter.payload = event.ToJson();
  letter.error = error;
  return letter;
}

Result<bool> ProjectionBuilder::ProcessRetries() {
  retries_wanted_.store(false, std::memory_order_release);
  last_retry_check_ = std::chrono::steady_clock::now();
  ASSIGN_OR_RETURN(
      std::vector<eventstore::DeadLetter> requests,
      eventstore::DeadLetters::RetryRequests(store_, generation_.name, generation_.generation));
  if (requests.empty()) return true;
  std::vector<int64_t> applied;
  std::vector<std::pair<int64_t, std::string>> failed;
  // The retried documents go to changed_, which the next Commit writes whatever it is
  // for: if a read fails halfway, what was applied must go too (and the cache, which may
  // hold it), or it would be stored while its letter stays.
  Status gathered = [&]() -> Status {
    for (const eventstore::DeadLetter& letter : requests) {
      auto failure = [&](const std::string& why) { failed.emplace_back(letter.id, why); };
      if (!letter.position.is_number_integer()) {
        failure("the letter has no log position");
        continue;
      }
      const int64_t position = letter.position.get<int64_t>();
      eventstore::LogReadOptions read;
      read.after.position = position - 1;
      read.up_to = position;
      read.limit = 1;
      ASSIGN_OR_RETURN(eventstore::LogBatch found, store_.ReadLog(read));
      if (found.events.empty() || found.events[0].position != position) {
        failure("the event at position " + std::to_string(position) + " is not in the log");
        continue;
      }
      const eventstore::RecordedEvent& e = found.events[0];
      const auto* handler = definition_.HandlerFor(e.type);
      if (handler == nullptr) {
        failure("the projection no longer handles events of type " + e.type);
        continue;
      }
      core::Json context = EventContext(e, &fields_read_);
      auto key = EvaluateKey(definition_.key, context);
      if (!key.ok()) {
        failure(key.status().message());
        continue;
      }
      std::vector<PendingEvent> one{PendingEvent{&e, context, *key, handler}};
      RETURN_IF_ERROR(Prefetch(one));
      auto changed = changed_.find(*key);
      std::optional<core::Json> doc = changed != changed_.end() ? changed->second : cache_[*key];
      // A late event must not move the document's _position back.
      int64_t doc_position = position;
      if (doc && doc->contains("_position") && (*doc)["_position"].is_number_integer())
        doc_position = std::max(doc_position, (*doc)["_position"].get<int64_t>());
      Status status = ApplyEvent(*handler, context, *key, doc_position, doc);
      if (!status.ok()) {
        failure(status.message());
        continue;
      }
      changed_[*key] = std::move(doc);
      applied.push_back(letter.id);
    }
    return Status::Ok();
  }();
  if (!gathered.ok()) {
    changed_.clear();
    cache_.clear();
    return gathered;
  }
  return Commit(position(), std::nullopt, {}, [&](eventstore::Transaction& tx) -> Status {
    for (int64_t id : applied) {
      ASSIGN_OR_RETURN(bool removed, eventstore::DeadLetters::Remove(tx, id));
      // Discarded meanwhile: its effect must not be stored either.
      if (!removed) return Status::Aborted("dead letter " + std::to_string(id) + " was discarded");
    }
    for (const auto& [id, why] : failed)
      RETURN_IF_ERROR(eventstore::DeadLetters::RecordFailure(tx, id, why));
    return Status::Ok();
  });
}

Result<bool> ProjectionBuilder::RunRetries() {
  std::optional<Generation> claimed;
  RETURN_IF_ERROR(store_.Write([&](eventstore::Transaction& tx) -> Status {
    ASSIGN_OR_RETURN(claimed,
                     ProjectionTables::Claim(tx, generation_.name, generation_.generation,
                                             options_.owner, NowMillis(), options_.lease_ms));
    return Status::Ok();
  }));
  if (!claimed) return false;
  generation_ = std::move(*claimed);
  committed_ = generation_.position;
  position_.store(committed_);
  table_ = ProjectionTables::TableOf(generation_);
  auto ran = ProcessRetries();
  store_
      .Write([&](eventstore::Transaction& tx) {
        return ProjectionTables::Release(tx, generation_.name, generation_.generation,
                                         options_.owner);
      })
      .IgnoreError();
  if (!ran.ok()) return ran.status();
  if (!*ran) return Status::Aborted("the copy of " + generation_.name + " changed meanwhile");
  return true;
}

Result<bool> ProjectionBuilder::TrySwap() {
  if (!options_.ready_to_swap || !options_.ready_to_swap(position())) return false;
  // The stored checkpoint first, so the live copy's position is exact from the start.
  ASSIGN_OR_RETURN(bool kept, Commit(position(), std::nullopt));
  if (!kept) return Lost();
  Status status = store_.Write([&](eventstore::Transaction& tx) -> Status {
    ASSIGN_OR_RETURN(
        eventstore::SqlRows live,
        tx.Query("SELECT generation FROM projection_generations WHERE name = $1 AND role = 'live'",
                 {generation_.name}));
    std::optional<int64_t> live_generation;
    if (!live.empty()) live_generation = std::get<int64_t>(live[0][0]);
    return ProjectionTables::Swap(tx, generation_.name, live_generation, generation_.generation,
                                  NowMillis());
  });
  if (!status.ok()) return status.code() == StatusCode::kAborted ? Lost() : status;
  generation_.role = "live";
  generation_.end_position.reset();
  table_ = ProjectionTables::TableOf(generation_);
  live_.store(true, std::memory_order_release);
  if (options_.became_live) options_.became_live();
  return true;
}

ProjectionBuilder::Outcome ProjectionBuilder::Run(const std::function<bool()>& stop) {
  {
    std::optional<Generation> claimed;
    Status status = store_.Write([&](eventstore::Transaction& tx) -> Status {
      ASSIGN_OR_RETURN(claimed,
                       ProjectionTables::Claim(tx, generation_.name, generation_.generation,
                                               options_.owner, NowMillis(), options_.lease_ms));
      return Status::Ok();
    });
    if (!status.ok() || !claimed) {
      last_error_ = status.ok() ? "another process is building this copy" : status.message();
      return Outcome::kLost;
    }
    generation_ = std::move(*claimed);
    if (generation_.failed()) {
      last_error_ = generation_.last_error;
      return Outcome::kFailed;
    }
  }
  committed_ = generation_.position;
  position_.store(committed_);
  table_ = ProjectionTables::TableOf(generation_);
  live_.store(generation_.role == "live");
  last_commit_ = std::chrono::steady_clock::now();

  auto release = [&] {
    store_
        .Write([&](eventstore::Transaction& tx) {
          return ProjectionTables::Release(tx, generation_.name, generation_.generation,
                                           options_.owner);
        })
        .IgnoreError();
  };
  if (auto size = ProjectionTables::Size(store_, table_); size.ok()) {
    rows_ = size->rows;
    analyzed_rows_ = size->analyzed_rows;
  } else {
    last_error_ = size.status().message();
    release();
    return Outcome::kLost;
  }

  eventstore::LogReadOptions read;
  read.after.position = committed_;
  read.limit = options_.batch_size;
  read.filter = Filter();
  read.up_to = generation_.end_position;
  const auto renew_every = std::chrono::milliseconds(options_.lease_ms / 3);

  constexpr auto kRetryCheckInterval = std::chrono::seconds(2);
  auto wait_cancelled = [&] { return stop() || retries_wanted_.load(std::memory_order_acquire); };
  while (true) {
    if (stop()) {
      if (position() > committed_) Commit(position(), std::nullopt).status().IgnoreError();
      release();
      return Outcome::kStopped;
    }
    if (retries_wanted_.load(std::memory_order_acquire) ||
        std::chrono::steady_clock::now() - last_retry_check_ >= kRetryCheckInterval) {
      auto retried = ProcessRetries();
      if (!retried.ok()) {
        last_error_ = retried.status().message();
        read.after.position = committed_;
        position_.store(committed_);
      } else if (!*retried) {
        return Outcome::kLost;
      }
    }
    auto batch = store_.ReadChanges(read, options_.poll, wait_cancelled);
    if (!batch.ok()) {
      last_error_ = batch.status().message();
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
      continue;
    }

    if (batch->events.empty()) {
      read.after = batch->resume;
      position_.store(batch->resume.position, std::memory_order_release);
      auto since = std::chrono::steady_clock::now() - last_commit_;
      if ((position() > committed_ && since >= kCheckpointInterval) || since >= renew_every) {
        auto kept = Commit(position(), std::nullopt);
        if (!kept.ok()) {
          read.after.position = committed_;
          position_.store(committed_);
          continue;
        }
        if (!*kept) return Outcome::kLost;
      }
      if (options_.progressed) options_.progressed(position(), live());
      bool at_end = generation_.end_position && position() >= *generation_.end_position;
      if (!live() && (batch->reached_head || at_end)) {
        auto swapped = TrySwap();
        if (!swapped.ok()) {
          if (swapped.status().reason() == kLost) return Outcome::kLost;
          last_error_ = swapped.status().message();
          continue;
        }
        if (*swapped && options_.stop_after_swap) {
          release();
          return Outcome::kFinished;
        }
        if (*swapped) read.up_to.reset();
      } else if (live() && at_end && options_.stop_after_swap) {
        release();
        return Outcome::kFinished;
      }
      continue;
    }

    // Keys first, then the documents they need, then the operations in log order.
    std::optional<std::pair<int64_t, std::string>> failed_at;
    std::vector<eventstore::DeadLetter> parked;
    // Parks the event, or marks where the copy stops; true if it stops.
    auto fail = [&](const eventstore::RecordedEvent& e, const Status& why) {
      if (definition_.on_error == eventstore::OnError::kDeadLetter) {
        parked.push_back(Letter(e, why.message()));
        return false;
      }
      failed_at = std::make_pair(e.position, "position " + std::to_string(e.position) + " (" +
                                                 e.stream + " v" + std::to_string(e.version) +
                                                 ", " + e.type + "): " + why.message());
      return true;
    };
    std::vector<PendingEvent> pending;
    pending.reserve(batch->events.size());
    for (const auto& e : batch->events) {
      const auto* handler = definition_.HandlerFor(e.type);
      if (handler == nullptr) continue;
      core::Json context = EventContext(e, &fields_read_);
      auto key = EvaluateKey(definition_.key, context);
      if (!key.ok()) {
        if (fail(e, key.status())) break;
        continue;
      }
      pending.push_back(PendingEvent{&e, std::move(context), std::move(key).value(), handler});
    }
    Status fetched = Prefetch(pending);
    if (!fetched.ok()) {
      last_error_ = fetched.message();
      cache_.clear();
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
      continue;
    }
    uint64_t applied = 0;
    for (const PendingEvent& p : pending) {
      auto changed = changed_.find(p.key);
      std::optional<core::Json> doc = changed != changed_.end() ? changed->second : cache_[p.key];
      Status status = ApplyEvent(*p.handler, p.context, p.key, p.event->position, doc);
      if (!status.ok()) {
        if (fail(*p.event, status)) break;
        continue;
      }
      changed_[p.key] = std::move(doc);
      ++applied;
    }
    const int64_t to = failed_at ? failed_at->first - 1 : batch->resume.position;
    auto kept = Commit(to, failed_at, parked);
    if (!kept.ok()) {
      last_error_ = kept.status().message();
      read.after.position = committed_;
      position_.store(committed_);
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
      continue;
    }
    if (!*kept) return Outcome::kLost;
    if (options_.events_applied != nullptr) options_.events_applied->Inc(applied);
    read.after.position = to;
    position_.store(to, std::memory_order_release);
    if (options_.progressed) options_.progressed(to, live());
    if (failed_at) {
      last_error_ = failed_at->second;
      release();
      return Outcome::kFailed;
    }
  }
}

}  // namespace rivulet::projections
