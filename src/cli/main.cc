// rivulet: one binary for the server and every command of SPEC section 6.

#include <CLI/CLI.hpp>
#include <cerrno>
#include <cstdlib>
#include <iostream>

#include "cli/commands.h"
#include "core/log.h"

namespace {

// A whole number of at least `min`. (CLI11's PositiveNumber reports the range of a
// double, with its 300-digit upper bound.)
CLI::Validator AtLeast(int64_t min) {
  return CLI::Validator(
      [min](std::string& value) -> std::string {
        errno = 0;
        char* end = nullptr;
        const long long n = std::strtoll(value.c_str(), &end, 10);
        if (value.empty() || end != value.c_str() + value.size() || errno == ERANGE)
          return "expected a whole number, got \"" + value + "\"";
        if (n < min) return "must be at least " + std::to_string(min) + ", got " + value;
        return "";
      },
      "INT>=" + std::to_string(min));
}

// After a failed parse: if a word stands where a subcommand must, and names none,
// reports it with the closest subcommand and returns true. Walks `args` as CLI11 does:
// options (with their values) anywhere, subcommands in order.
bool ReportUnknownCommand(CLI::App& app, const std::vector<std::string>& args) {
  CLI::App* current = &app;
  std::string where = "rivulet";
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (arg == "--") return false;
    if (arg.size() > 1 && arg[0] == '-') {
      if (arg.find('=') != std::string::npos || (arg[1] != '-' && arg.size() > 2)) continue;
      for (CLI::App* a = current; a != nullptr; a = a->get_parent()) {
        if (const CLI::Option* opt = a->get_option_no_throw(arg)) {
          if (opt->get_expected_min() > 0) ++i;  // its value
          break;
        }
      }
      continue;
    }
    if (current->get_require_subcommand_min() == 0) return false;  // a positional argument
    std::vector<std::string> names;
    CLI::App* next = nullptr;
    for (CLI::App* sub :
         current->get_subcommands([](CLI::App* a) { return !a->get_name().empty(); })) {
      names.push_back(sub->get_name());
      if (sub->check_name(arg)) next = sub;
    }
    if (next != nullptr) {
      current = next;
      where += " " + arg;
      continue;
    }
    std::string message = where + ": unknown command \"" + arg + "\"";
    if (std::string hint = rivulet::cli::ClosestWord(arg, names); !hint.empty()) {
      message += " (did you mean \"" + hint + "\"?)";
    } else {
      message += " (expected one of:";
      for (const std::string& n : names) message += " " + n;
      message += ")";
    }
    std::cerr << message << "\nRun with --help for more information." << std::endl;
    return true;
  }
  return false;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace rivulet::cli;

  CLI::App app{"Rivulet: event sourcing and saga orchestration runtime"};
  app.require_subcommand(1);
  app.fallthrough();
  app.set_version_flag("--version", "rivulet 0.1.0");

  GlobalOptions global;
  app.add_option("-c,--config", global.config_path, "Config file")->capture_default_str();
  std::string log_format = "text";
  std::string log_level = "info";
  app.add_option("--log-format", log_format,
                 "How the log on stderr is written: text (one readable line per record) or "
                 "json (one object per line)")
      ->check(CLI::IsMember({"text", "json"}))
      ->capture_default_str();
  app.add_option("--log-level", log_level, "The least level logged: debug, info, warn or error")
      ->check(CLI::IsMember({"debug", "info", "warn", "error"}))
      ->capture_default_str();

  auto* serve = app.add_subcommand(
      "serve", "Run everything: HTTP API, sources, projections, sagas, outbox relay");
  auto* check = app.add_subcommand("check", "Validate the config and print what it declares");

  AppendOptions append;
  auto* append_cmd = app.add_subcommand("append", "Append one event to a stream");
  append_cmd->add_option("STREAM", append.stream, "Stream name")->required();
  append_cmd->add_option("TYPE", append.type, "Event type")->required();
  append_cmd->add_option("DATA", append.data, "Event data, a JSON object")->capture_default_str();
  append_cmd
      ->add_option("--expected-version", append.expected_version,
                   "any, no_stream, stream_exists or a version number")
      ->capture_default_str();
  append_cmd->add_option("--metadata", append.metadata, "Event metadata, a JSON object");
  append_cmd->add_option("--id", append.id, "Event id (UUID); generated when omitted");

  ReadOptions read;
  int64_t read_from = 0, read_limit = 0;
  auto* read_cmd = app.add_subcommand("read", "Print a stream's events as JSON lines");
  read_cmd->add_option("STREAM", read.stream, "Stream name")->required();
  auto* read_from_opt =
      read_cmd->add_option("--from", read_from, "First version to read")->check(AtLeast(0));
  auto* read_limit_opt =
      read_cmd->add_option("--limit", read_limit, "Events to read at most")->check(AtLeast(1));
  read_cmd->add_flag("--backward", read.backward, "Newest first");

  TailOptions tail;
  int64_t tail_limit = 0;
  auto* tail_cmd =
      app.add_subcommand("tail", "Follow the change stream, printing events as JSON lines");
  tail_cmd->add_option("--match", tail.match, "A filter document, e.g. {\"type\":\"OrderInsert\"}");
  tail_cmd->add_option("--resume-after", tail.resume_after, "Resume after this token");
  tail_cmd->add_flag("--from-start", tail.from_start, "Start at the beginning of the log");
  auto* tail_limit_opt =
      tail_cmd->add_option("--limit", tail_limit, "Exit after this many events")->check(AtLeast(1));

  ReplayOptions replay;
  auto* replay_cmd = app.add_subcommand("replay", "Rebuild projections, or write events to a file");
  replay_cmd->add_option("--projection", replay.projection, "Rebuild this projection");
  replay_cmd->add_flag("--all-projections", replay.all_projections, "Rebuild every projection");
  replay_cmd->add_option("--to-file", replay.to_file,
                         "Write the events as JSON lines to this file");
  replay_cmd->add_flag("--dry-run", replay.dry_run, "Count the events only");
  replay_cmd->add_option("--match", replay.match, "A filter document over events");
  replay_cmd->add_option("--from", replay.from, "First position")->check(AtLeast(1));
  replay_cmd->add_option("--to", replay.to, "Last position");
  replay_cmd->add_option("--since", replay.since, "First recorded time (RFC 3339)");
  replay_cmd->add_option("--until", replay.until, "Last recorded time (RFC 3339)");

  ExportOptions export_options;
  auto* export_cmd = app.add_subcommand("export", "Write the log as JSON lines to stdout");
  export_cmd->add_option("--from", export_options.from, "First position")->check(AtLeast(1));
  export_cmd->add_option("--to", export_options.to, "Last position")->check(AtLeast(1));

  ImportOptions import_options;
  auto* import_cmd = app.add_subcommand("import", "Load an exported log into an empty store");
  import_cmd->add_option("FILE", import_options.file, "The JSON lines file, or - for stdin")
      ->required();

  ProjectionsOptions proj;
  auto* proj_cmd = app.add_subcommand("projections", "Inspect projections");
  proj_cmd->require_subcommand(1);
  auto* proj_list = proj_cmd->add_subcommand("list", "Each projection's state and position");
  auto* proj_get = proj_cmd->add_subcommand("get", "One document");
  proj_get->add_option("NAME", proj.name)->required();
  proj_get->add_option("KEY", proj.key)->required();
  auto* proj_query = proj_cmd->add_subcommand("query", "Query documents");
  proj_query->add_option("NAME", proj.name)->required();
  proj_query->add_option("--match", proj.match, "A filter document");
  proj_query->add_option("--sort", proj.sort, "field or -field, comma-separated");
  proj_query->add_option("--limit", proj.limit, "1 to 1000")->capture_default_str();
  proj_query->add_option("--cursor", proj.cursor, "From the previous page's next_cursor");

  SagasOptions saga;
  auto* sagas_cmd = app.add_subcommand("sagas", "Inspect and drive saga instances");
  sagas_cmd->require_subcommand(1);
  auto* sagas_list = sagas_cmd->add_subcommand("list", "Instances, one JSON line each");
  sagas_list->add_option("--status", saga.status,
                         "running, compensating, completed, compensated, failed or aborted");
  sagas_list->add_option("--name", saga.name, "Only this saga's instances");
  auto* sagas_show = sagas_cmd->add_subcommand("show", "One instance: state, steps, history");
  sagas_show->add_option("NAME", saga.name)->required();
  sagas_show->add_option("ID", saga.id)->required();
  auto* sagas_start = sagas_cmd->add_subcommand("start", "Start an instance by hand");
  sagas_start->add_option("NAME", saga.name)->required();
  sagas_start->add_option("INPUT", saga.input, "The trigger, a JSON object")->required();
  sagas_start->add_option("--id", saga.id, "Instance id; a UUID when omitted");
  auto* sagas_retry = sagas_cmd->add_subcommand("retry", "Resume a failed instance");
  sagas_retry->add_option("NAME", saga.name)->required();
  sagas_retry->add_option("ID", saga.id)->required();
  auto* sagas_abort = sagas_cmd->add_subcommand("abort", "Compensate a running instance");
  sagas_abort->add_option("NAME", saga.name)->required();
  sagas_abort->add_option("ID", saga.id)->required();
  sagas_abort->add_option("--reason", saga.reason, "Recorded with the abort");

  IngestOptions ingest;
  auto* ingest_cmd = app.add_subcommand(
      "ingest", "Feed change events (JSON lines) through the mappings of a source");
  ingest_cmd->add_option("SOURCE", ingest.source, "A declared http or jsonl source")->required();
  ingest_cmd->add_option("FILE", ingest.file,
                         "JSON lines; - for stdin; default: a jsonl source's own path");

  OutboxOptions outbox;
  auto* outbox_cmd = app.add_subcommand("outbox", "Inspect the outbox and re-drive dead messages");
  outbox_cmd->require_subcommand(1);
  auto* outbox_list = outbox_cmd->add_subcommand("list", "Messages, one JSON line each");
  outbox_list->add_option("--status", outbox.status, "pending, delivered or dead");
  outbox_list->add_option("--destination", outbox.destination, "Only this destination's");
  auto* outbox_retry = outbox_cmd->add_subcommand("retry", "Send a dead message again");
  outbox_retry->add_option("ID", outbox.id, "The message id")->required();

  DeadLettersOptions dead;
  auto* dead_cmd = app.add_subcommand(
      "dead-letters", "Changes and events parked by on_error: dead_letter: list, retry, discard");
  dead_cmd->require_subcommand(1);
  auto* dead_list = dead_cmd->add_subcommand("list", "Dead letters, one JSON line each");
  dead_list->add_option("--source", dead.source, "Only this source's");
  dead_list->add_option("--projection", dead.projection, "Only this projection's");
  auto* dead_retry =
      dead_cmd->add_subcommand("retry", "Run one through the current config (exit 1 if it fails)");
  dead_retry->add_option("ID", dead.id, "The dead letter's id")
      ->required()
      ->check(CLI::PositiveNumber);
  auto* dead_discard = dead_cmd->add_subcommand("discard", "Drop one");
  dead_discard->add_option("ID", dead.id, "The dead letter's id")
      ->required()
      ->check(CLI::PositiveNumber);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() != 0 && ReportUnknownCommand(app, {argv + 1, argv + argc}))
      return kExitUsage;
    int code = app.exit(e);
    return code == 0 ? kExitOk : kExitUsage;
  }

  // Once, before any thread starts; the values are checked above.
  rivulet::core::ConfigureLog({rivulet::core::ParseLogLevel(log_level).value(),
                               rivulet::core::ParseLogFormat(log_format).value(),
                               {}});

  if (*serve) return RunServe(global);
  if (*check) return RunCheck(global);
  if (*append_cmd) return RunAppend(global, append);
  if (*read_cmd) {
    if (read_from_opt->count() > 0) read.from = read_from;
    if (read_limit_opt->count() > 0) read.limit = read_limit;
    return RunRead(global, read);
  }
  if (*replay_cmd) return RunReplay(global, replay);
  if (*export_cmd) return RunExport(global, export_options);
  if (*import_cmd) return RunImport(global, import_options);
  if (*proj_cmd) {
    proj.action = *proj_list ? "list" : *proj_get ? "get" : "query";
    return RunProjections(global, proj);
  }
  if (*ingest_cmd) return RunIngest(global, ingest);
  if (*dead_cmd) {
    dead.action = *dead_list ? "list" : *dead_retry ? "retry" : "discard";
    static_cast<void>(dead_discard);
    return RunDeadLetters(global, dead);
  }
  if (*outbox_cmd) {
    outbox.action = *outbox_list ? "list" : "retry";
    static_cast<void>(outbox_retry);
    return RunOutbox(global, outbox);
  }
  if (*sagas_cmd) {
    saga.action = *sagas_list    ? "list"
                  : *sagas_show  ? "show"
                  : *sagas_start ? "start"
                  : *sagas_retry ? "retry"
                                 : "abort";
    return RunSagas(global, saga);
  }
  if (*tail_cmd) {
    if (tail_limit_opt->count() > 0) tail.limit = tail_limit;
    return RunTail(global, tail);
  }
  return kExitUsage;
}
