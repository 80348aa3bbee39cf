#include "tests/support/postgres_server.h"

#include <libpq-fe.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sstream>
#include <stdexcept>

#include "tests/support/nats_server.h"  // FreeLoopbackPort
#include "tests/support/subprocess.h"

namespace rivulet::testing {

namespace {

const char* kBin = "/usr/lib/postgresql/15/bin/";

void AsPostgres(const std::vector<std::string>& command, const std::string& what) {
  std::vector<std::string> argv{"runuser", "-u", "postgres", "--"};
  argv.insert(argv.end(), command.begin(), command.end());
  CommandResult r = RunCommand(argv);
  if (r.exit_code != 0)
    throw std::runtime_error(what + " failed (" + std::to_string(r.exit_code) + "): " + r.err +
                             r.out);
}

}  // namespace

PostgresServer::PostgresServer() : port_(FreeLoopbackPort()), data_(dir_.File("data")) {
  // The directory belongs to root; PostgreSQL's files must belong to postgres.
  if (::chown(dir_.path().c_str(), 0, 0) != 0 || ::chmod(dir_.path().c_str(), 0777) != 0)
    throw std::runtime_error("cannot open " + dir_.path() + " to the postgres user");
  AsPostgres({std::string(kBin) + "initdb", "-D", data_, "-A", "trust", "-U", "postgres",
              "--no-sync", "-E", "UTF8"},
             "initdb");
  Start();
}

PostgresServer::~PostgresServer() {
  if (conn_ != nullptr) PQfinish(conn_);
  try {
    if (running_)
      AsPostgres({std::string(kBin) + "pg_ctl", "-D", data_, "-m", "immediate", "-w", "stop"},
                 "pg_ctl stop");
  } catch (...) {
  }
}

std::string PostgresServer::url() const {
  return "postgresql://postgres@127.0.0.1:" + std::to_string(port_) + "/postgres";
}

void PostgresServer::Start() {
  const std::string options = "-p " + std::to_string(port_) + " -k " + dir_.path() +
                              " -c listen_addresses=127.0.0.1 -c wal_level=logical"
                              " -c max_wal_senders=10 -c max_replication_slots=10"
                              " -c fsync=off -c full_page_writes=off";
  AsPostgres({std::string(kBin) + "pg_ctl", "-D", data_, "-l", dir_.File("postgres.log"), "-o",
              options, "-w", "-t", "60", "start"},
             "pg_ctl start");
  running_ = true;
}

void PostgresServer::Stop(std::chrono::seconds timeout) {
  if (conn_ != nullptr) PQfinish(conn_);
  conn_ = nullptr;
  const std::string seconds = std::to_string(timeout.count());
  try {
    AsPostgres(
        {std::string(kBin) + "pg_ctl", "-D", data_, "-m", "fast", "-w", "-t", seconds, "stop"},
        "pg_ctl stop -m fast");
  } catch (const std::exception& e) {
    // Still running_: the destructor stops it with immediate mode.
    throw std::runtime_error("PostgreSQL did not finish a fast shutdown within " + seconds +
                             " s (" + e.what() + "); the end of its log:\n" + LogTail(30));
  }
  running_ = false;
}

std::string PostgresServer::LogTail(size_t lines) const {
  // Without the refusals of clients that keep trying to connect meanwhile.
  std::vector<std::string> kept;
  std::istringstream log(ReadFile(dir_.File("postgres.log")));
  for (std::string line; std::getline(log, line);) {
    if (line.find("the database system is shutting down") == std::string::npos &&
        line.find("the database system is starting up") == std::string::npos)
      kept.push_back(line);
  }
  std::string out;
  for (size_t i = kept.size() > lines ? kept.size() - lines : 0; i < kept.size(); ++i)
    out += kept[i] + "\n";
  return out;
}

void PostgresServer::Restart(std::chrono::seconds stop_timeout) {
  Stop(stop_timeout);
  Start();
}

PGconn* PostgresServer::Connection() {
  if (conn_ != nullptr && PQstatus(conn_) == CONNECTION_OK) return conn_;
  if (conn_ != nullptr) PQfinish(conn_);
  conn_ = PQconnectdb(url().c_str());
  if (PQstatus(conn_) != CONNECTION_OK)
    throw std::runtime_error(std::string("cannot connect to the test PostgreSQL: ") +
                             PQerrorMessage(conn_));
  return conn_;
}

std::vector<std::vector<std::string>> PostgresServer::Exec(const std::string& sql,
                                                           const std::vector<std::string>& params) {
  PGconn* conn = Connection();
  std::vector<const char*> values;
  for (const auto& p : params) values.push_back(p.c_str());
  PGresult* r = params.empty() ? PQexec(conn, sql.c_str())
                               : PQexecParams(conn, sql.c_str(), static_cast<int>(params.size()),
                                              nullptr, values.data(), nullptr, nullptr, 0);
  const ExecStatusType s = PQresultStatus(r);
  if (s != PGRES_COMMAND_OK && s != PGRES_TUPLES_OK) {
    std::string error = PQresultErrorMessage(r);
    PQclear(r);
    throw std::runtime_error("SQL failed: " + sql + ": " + error);
  }
  std::vector<std::vector<std::string>> rows;
  for (int i = 0; i < PQntuples(r); ++i) {
    std::vector<std::string> row;
    for (int c = 0; c < PQnfields(r); ++c)
      row.push_back(PQgetisnull(r, i, c) ? "<null>" : PQgetvalue(r, i, c));
    rows.push_back(std::move(row));
  }
  PQclear(r);
  return rows;
}

std::string PostgresServer::Value(const std::string& sql, const std::vector<std::string>& params) {
  auto rows = Exec(sql, params);
  if (rows.empty() || rows[0].empty()) throw std::runtime_error("no value from " + sql);
  return rows[0][0];
}

}  // namespace rivulet::testing
