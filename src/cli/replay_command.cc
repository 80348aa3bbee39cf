#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <random>

#include "cli/commands.h"
#include "cli/progress.h"
#include "core/status_macros.h"
#include "core/time_format.h"
#include "core/uuid.h"
#include "eventstore/sqlite/serve_lock.h"
#include "outbox/outbox_store.h"
#include "projections/projection_engine.h"

namespace rivulet::cli {

namespace {

bool AllDigits(const std::string& s) {
  return !s.empty() && s.find_first_not_of("0123456789") == std::string::npos;
}

int ReplayProjections(const config::Config& config, const ReplayOptions& options,
                      int64_t to_position) {
  std::vector<std::string> names;
  if (options.all_projections) {
    for (const auto& p : config.projections) names.push_back(p.name);
    if (names.empty())
      return ReportFailure(Status::InvalidArgument("the config declares no projections"));
  } else {
    bool declared = false;
    for (const auto& p : config.projections) declared = declared || p.name == options.projection;
    if (!declared)
      return ReportFailure(Status::InvalidArgument("no projection named " + options.projection));
    names.push_back(options.projection);
  }
  InstallStopSignals();
  auto store = OpenStoreOrReport(config);
  if (!store) return kExitFailed;
  projections::ProjectionEngine engine(*store, config.projections, {});
  Status started = engine.Start(/*run_builders=*/false);
  if (!started.ok()) return ReportFailure(started);
  const int64_t head = store->HeadPosition();
  const int64_t end = to_position > 0 ? std::min(to_position, head) : head;
  for (const std::string& name : names) {
    Progress progress("replay " + name, end);
    auto done = engine.Replay(
        name, options.from > 0 ? options.from - 1 : 0,
        to_position > 0 ? std::optional<int64_t>(to_position) : std::nullopt,
        [&](int64_t position) { progress.Update(position); }, [] { return StopRequested(); });
    if (!done.ok()) return ReportFailure(done.status());
    progress.Finish(done->position);
    PrintJsonLine(done->ToJson());
  }
  return kExitOk;
}

std::string Errno() { return std::strerror(errno); }

// The files a SQLite store lives in; --to-file must never name one of them. SQLite
// puts -wal, -shm and -journal beside the database's real file, and the serve lock is
// beside it too, so when store.path is a symlink they are named from the real path
// (as well as from the path as written).
std::vector<std::string> StoreFiles(const config::Config& config) {
  if (config.store.backend != config::StoreConfig::Backend::kSqlite) return {};
  std::vector<std::string> files;
  for (const std::string& db :
       {config.store.path, eventstore::sqlite::ServeLock::RealPath(config.store.path)}) {
    for (const char* suffix : {"", "-wal", "-shm", "-journal", "-serve.lock"})
      files.push_back(db + suffix);
  }
  return files;
}

// Where --to-file writes. A regular file (or a new one) is written as a temporary file
// in the same folder and renamed over the target once complete and fsynced, so the
// target is never truncated: an interrupted or failed replay leaves it as it was. A
// target that is not a regular file (a pipe, /dev/stdout) is written in place.
class OutputFile {
 public:
  // Checks `target` before anything is created or truncated: it must not be one of the
  // store's files (by real path, and by device and inode, so symlinks, `..` and hard
  // links are caught), nor a folder.
  static Result<std::unique_ptr<OutputFile>> Open(const std::string& target,
                                                  const std::vector<std::string>& store_files) {
    const std::string real = eventstore::sqlite::ServeLock::RealPath(target);
    struct stat target_stat {};
    const bool exists = ::stat(real.c_str(), &target_stat) == 0;
    for (const std::string& file : store_files) {
      struct stat file_stat {};
      const bool same_inode = exists && ::stat(file.c_str(), &file_stat) == 0 &&
                              file_stat.st_dev == target_stat.st_dev &&
                              file_stat.st_ino == target_stat.st_ino;
      if (same_inode || eventstore::sqlite::ServeLock::RealPath(file) == real) {
        return Status::InvalidArgument("--to-file: " + target + " is the store's own file " + file +
                                       "; replay to another file");
      }
    }
    if (exists && S_ISDIR(target_stat.st_mode)) {
      return Status::InvalidArgument("--to-file: " + target + " is a folder");
    }
    std::unique_ptr<OutputFile> out(new OutputFile());
    out->target_ = target;
    if (exists && !S_ISREG(target_stat.st_mode)) {
      out->fd_ = ::open(real.c_str(), O_WRONLY | O_CLOEXEC);
      if (out->fd_ < 0) {
        return Status::InvalidArgument("--to-file: cannot write " + target + ": " + Errno());
      }
      return out;
    }
    // Beside the real target, so the rename stays on one file system and a symlink
    // named by --to-file keeps pointing at the new contents.
    out->final_ = real;
    std::filesystem::path final_path(real);
    std::mt19937_64 random(std::random_device{}());
    for (int attempt = 0; attempt < 100 && out->fd_ < 0; ++attempt) {
      std::string name = "." + final_path.filename().string() + ".rivulet-" +
                         std::to_string(::getpid()) + "-" + std::to_string(random() % 1'000'000);
      out->temp_ = (final_path.parent_path() / name).string();
      // 0666 less the umask, as a plain create would; an existing target's mode is
      // copied below.
      out->fd_ = ::open(out->temp_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
      if (out->fd_ < 0 && errno != EEXIST) {
        out->temp_.clear();
        return Status::InvalidArgument("--to-file: cannot write in the folder of " + target + ": " +
                                       Errno());
      }
    }
    if (out->fd_ < 0) {
      out->temp_.clear();
      return Status::Unavailable("--to-file: cannot create a temporary file beside " + target);
    }
    if (exists) ::fchmod(out->fd_, target_stat.st_mode & 07777);
    return out;
  }

  ~OutputFile() {
    if (fd_ >= 0) ::close(fd_);
    if (!temp_.empty()) ::unlink(temp_.c_str());
  }

  Status Write(std::string_view bytes) {
    buffer_.append(bytes);
    return buffer_.size() >= (1 << 20) ? Flush() : Status::Ok();
  }

  // Writes what is buffered, fsyncs, and renames the temporary file over the target
  // (then fsyncs the folder, so the rename is durable too).
  Status Commit() {
    RETURN_IF_ERROR(Flush());
    if (temp_.empty()) return Status::Ok();
    if (::fsync(fd_) != 0) return Failed("fsync");
    ::close(fd_);
    fd_ = -1;
    if (::rename(temp_.c_str(), final_.c_str()) != 0) return Failed("rename");
    temp_.clear();
    int dir = ::open(std::filesystem::path(final_).parent_path().c_str(),
                     O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir >= 0) {
      ::fsync(dir);
      ::close(dir);
    }
    return Status::Ok();
  }

 private:
  OutputFile() = default;

  Status Flush() {
    size_t done = 0;
    while (done < buffer_.size()) {
      ssize_t n = ::write(fd_, buffer_.data() + done, buffer_.size() - done);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return Failed("write");
      done += static_cast<size_t>(n);
    }
    buffer_.clear();
    return Status::Ok();
  }

  Status Failed(const char* what) const {
    return Status::Unavailable("writing " + target_ + " failed (" + what + ": " + Errno() +
                               "); the file is left as it was");
  }

  int fd_ = -1;
  std::string target_;
  std::string final_;  // the real path the temporary file becomes
  std::string temp_;   // empty once renamed, or when writing in place
  std::string buffer_;
};

Result<int64_t> ParseTime(const std::string& text, const char* option) {
  auto ms = core::ParseRfc3339(text);
  if (!ms.ok()) return ms.status().WithContext(option);
  return *ms;
}

// Writes the selected events as JSON lines to --to-file, counts them (--dry-run), or
// re-publishes them through the outbox to `destination` (new message ids, headers
// Rivulet-Replay: true and Rivulet-Original-Event-Id), one unit of work per batch; with
// --dry-run too, only counts what it would publish and writes nothing.
int ReplayEvents(const config::Config& config, const ReplayOptions& options, int64_t to_position,
                 const std::string& destination) {
  eventstore::LogReadOptions read;
  read.limit = 1000;
  if (!options.match.empty()) {
    auto json = core::ParseJson(options.match);
    if (!json.ok()) return ReportFailure(json.status().WithContext("--match"));
    auto filter = core::Filter::Parse(*json);
    if (!filter.ok()) return ReportFailure(filter.status().WithContext("--match"));
    read.filter.match = std::move(filter).value();
  }
  std::optional<int64_t> since, until;
  if (!options.since.empty()) {
    auto t = ParseTime(options.since, "--since");
    if (!t.ok()) return ReportFailure(t.status());
    since = *t;
  }
  if (!options.until.empty()) {
    auto t = ParseTime(options.until, "--until");
    if (!t.ok()) return ReportFailure(t.status());
    until = *t;
  }
  if (options.from > 0) read.after.position = options.from - 1;
  if (to_position > 0) read.up_to = to_position;

  std::unique_ptr<OutputFile> file;
  if (!options.to_file.empty()) {
    auto opened = OutputFile::Open(options.to_file, StoreFiles(config));
    if (!opened.ok()) return ReportFailure(opened.status());
    file = std::move(opened).value();
  }
  InstallStopSignals();
  auto store = OpenStoreOrReport(config);
  if (!store) return kExitFailed;
  const int64_t end = read.up_to.value_or(store->HeadPosition());
  const bool publish = !destination.empty() && !options.dry_run;
  if (publish) {
    Status migrated = outbox::OutboxStore::Migrate(*store);
    if (!migrated.ok()) return ReportFailure(migrated);
  }
  Progress progress(!destination.empty()
                        ? "replay to " + destination + (options.dry_run ? " (dry run)" : "")
                    : options.dry_run ? "replay (dry run)"
                                      : "replay to " + options.to_file,
                    end);
  int64_t written = 0;
  std::optional<int64_t> first, last;
  std::string line;
  bool done = false;
  while (!done && !StopRequested()) {
    auto batch = store->ReadLog(read);
    if (!batch.ok()) return ReportFailure(batch.status());
    std::vector<outbox::Message> messages;
    for (const auto& event : batch->events) {
      // recorded_at never decreases along the log, so --until ends the scan.
      if (until && event.recorded_at > *until) {
        done = true;
        break;
      }
      if (since && event.recorded_at < *since) continue;
      if (!first) first = event.position;
      last = event.position;
      ++written;
      if (publish) {
        outbox::Message m;
        m.id = core::Uuid::NewV4().ToString();
        m.destination = destination;
        m.key = event.stream;
        m.headers = core::DumpJson(core::Json{{"Rivulet-Event-Type", event.type},
                                              {"Rivulet-Event-Id", event.id.ToString()},
                                              {"Rivulet-Original-Event-Id", event.id.ToString()},
                                              {"Rivulet-Replay", "true"}});
        line.clear();
        eventstore::AppendEventJson(line, event);
        m.payload = line;
        messages.push_back(std::move(m));
      } else if (file) {
        line.clear();
        eventstore::AppendEventJson(line, event);
        line.push_back('\n');
        Status wrote = file->Write(line);
        if (!wrote.ok()) return ReportFailure(wrote);
      }
    }
    if (!messages.empty()) {
      Status queued = store->Write([&](eventstore::Transaction& tx) -> Status {
        for (outbox::Message& m : messages) {
          m.created_at = tx.now_millis();
          RETURN_IF_ERROR(outbox::OutboxStore::Insert(tx, m));
        }
        return Status::Ok();
      });
      if (!queued.ok()) return ReportFailure(queued);
    }
    progress.Update(batch->resume.position);
    if (batch->reached_head) done = true;
    read.after = batch->resume;
    if (read.up_to && read.after.position >= *read.up_to) done = true;
  }
  if (StopRequested()) return ReportFailure(Status::Cancelled("interrupted"));
  if (file) {
    // The file's contents are durable, and in place, before we say so.
    Status committed = file->Commit();
    if (!committed.ok()) return ReportFailure(committed);
  }
  progress.Finish(read.after.position);
  core::Json summary{{"events", written},
                     {"first_position", first ? core::Json(*first) : core::Json()},
                     {"last_position", last ? core::Json(*last) : core::Json()},
                     {"dry_run", options.dry_run}};
  if (!destination.empty()) {
    summary["destination"] = destination;
  } else if (!options.dry_run) {
    summary["file"] = options.to_file;
  }
  PrintJsonLine(summary);
  return kExitOk;
}

}  // namespace

int RunReplay(const GlobalOptions& global, const ReplayOptions& options) {
  auto config = LoadConfigOrReport(global);
  if (!config) return kExitUsage;
  const bool projections = !options.projection.empty() || options.all_projections;
  const bool events = !options.to_file.empty() || options.dry_run;
  int64_t to_position = 0;
  std::string destination;
  if (!options.to.empty()) {
    if (AllDigits(options.to) && options.to.size() <= 18) {
      to_position = std::stoll(options.to);
    } else if (projections) {
      return ReportFailure(
          Status::InvalidArgument("--to: expected a position, got \"" + options.to + "\""));
    } else if (!options.to_file.empty()) {
      // Checked before anything is opened: the file is not touched.
      return ReportFailure(Status::InvalidArgument(
          "--to " + options.to + " re-publishes through the outbox and --to-file writes a "
          "file: choose one (--to POS bounds a --to-file replay by position)"));
    } else {
      bool declared = false;
      for (const auto& d : config->outbox.destinations) declared = declared || d.name == options.to;
      if (!declared) {
        return ReportFailure(Status::InvalidArgument("--to: no outbox destination named " +
                                                     options.to + " (and not a position)"));
      }
      destination = options.to;
    }
  }
  if (!destination.empty()) {  // with --dry-run, publishes nothing
    if (options.from > 0 && !options.since.empty())
      return ReportFailure(Status::InvalidArgument("give either --from or --since, not both"));
    return ReplayEvents(*config, options, 0, destination);
  }
  if (projections + events != 1 || (!options.projection.empty() && options.all_projections) ||
      (!options.to_file.empty() && options.dry_run)) {
    return ReportFailure(Status::InvalidArgument(
        "choose one of --projection NAME, --all-projections, --to-file PATH, --dry-run"));
  }
  if (options.from > 0 && !options.since.empty()) {
    return ReportFailure(Status::InvalidArgument("give either --from or --since, not both"));
  }
  if (to_position > 0 && !options.until.empty()) {
    return ReportFailure(Status::InvalidArgument("give either --to or --until, not both"));
  }
  if (projections) {
    if (!options.match.empty() || !options.since.empty() || !options.until.empty()) {
      return ReportFailure(
          Status::InvalidArgument("--match, --since and --until apply to --to-file and --dry-run"));
    }
    return ReplayProjections(*config, options, to_position);
  }
  return ReplayEvents(*config, options, to_position, "");
}

}  // namespace rivulet::cli
