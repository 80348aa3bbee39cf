#include "sources/pg_status.h"

namespace rivulet::sources {

namespace {

bool Contains(std::string_view text, std::string_view part) {
  return text.find(part) != std::string_view::npos;
}

constexpr std::string_view kRestart = ", then restart rivulet";

// What to do about a failure a person must fix, or "" when it may pass by itself.
std::string Remedy(std::string_view sqlstate, std::string_view message, std::string_view slot,
                   std::string_view source) {
  if (sqlstate == "28P01" || Contains(message, "password authentication failed")) {
    return "PostgreSQL refused the password: correct the user or password in the source's url";
  }
  if (Contains(message, "must be superuser or replication role")) {
    return "the source's role may not stream changes: ALTER ROLE ... REPLICATION (and allow "
           "replication connections in pg_hba.conf)";
  }
  if (sqlstate == "28000" || Contains(message, "no pg_hba.conf entry") ||
      (Contains(message, "role \"") && Contains(message, "does not exist")) ||
      Contains(message, "is not permitted to log in")) {
    return "PostgreSQL refused the login: check the user in the source's url and pg_hba.conf "
           "(which needs a `replication` line for the replication connection too)";
  }
  if (sqlstate == "3D000" ||
      (Contains(message, "database \"") && Contains(message, "does not exist"))) {
    return "correct the database in the source's url, or create it";
  }
  if (sqlstate == "42P01") return "create the table, or remove it from the source's tables:";
  if (sqlstate == "42704" && Contains(message, "publication")) {
    // pgoutput reads the publication as of each change's position: one dropped while
    // the slot was behind cannot be read there again, even when created anew.
    return "the publication was dropped while the slot still had changes to send, and "
           "PostgreSQL cannot decode them without it, even if it is created again: create it "
           "again, drop the slot (SELECT pg_drop_replication_slot('" +
           std::string(slot) +
           "')) and the source's checkpoint (DELETE FROM "
           "source_checkpoints WHERE source = '" +
           std::string(source) + "') to copy the tables anew";
  }
  if (sqlstate == "42704") return "create what it names";
  if (sqlstate == "42501") return "grant the source's role the privilege it names";
  if (sqlstate == "55000") return "fix what it names";
  return "";
}

}  // namespace

Status PgError(std::string_view sqlstate, std::string message, std::string_view slot,
               std::string_view source) {
  // libpq's text of a result starts with the severity: it adds nothing to a Status.
  for (std::string_view severity : {"ERROR:  ", "FATAL:  "}) {
    if (message.compare(0, severity.size(), severity) == 0) message.erase(0, severity.size());
  }
  std::string remedy = Remedy(sqlstate, message, slot, source);
  if (remedy.empty()) return Status::Unavailable(std::move(message));
  return Status::FailedPrecondition(message + "; " + remedy + std::string(kRestart));
}

Status PgConnectError(const std::string& what, const std::string& libpq_message) {
  return PgError("", what + ": " + libpq_message);
}

Status PublicationNotCreated(const std::string& publication, const std::string& create_sql,
                             const Status& why) {
  if (why.code() != StatusCode::kFailedPrecondition) {
    return Status(why.code(), "cannot create publication " + publication + ": " + why.message());
  }
  const std::string& message = why.message();
  if (!Contains(message, "permission denied") && !Contains(message, "must be owner") &&
      !Contains(message, "must be superuser")) {
    return Status::FailedPrecondition("cannot create publication " + publication + ": " + message);
  }
  // The statement to run by hand is the remedy here, not the privilege.
  std::string cause = message.substr(0, message.find("; "));
  return Status::FailedPrecondition("publication \"" + publication +
                                    "\" does not exist on the source database and the source "
                                    "cannot create it (" +
                                    cause + "): create it with " + create_sql +
                                    " as a superuser or the tables' owner" + std::string(kRestart));
}

}  // namespace rivulet::sources
