#include "tests/support/rivulet_server.h"

#include <signal.h>

#include <chrono>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "core/json.h"

namespace rivulet::testing {

std::string RivuletBinary() { return RIVULET_BINARY; }

RivuletServer::RivuletServer(std::string server_yaml, std::string extra_yaml, bool start) {
  SetConfig(server_yaml, extra_yaml);
  if (start) Start();
}

void RivuletServer::SetConfig(const std::string& server_yaml, const std::string& extra_yaml) {
  WriteFile(config_path(), "store:\n  path: " + dir_.File("rivulet.db") +
                               "\nserver:\n  listen: 127.0.0.1:0\n" + server_yaml + "\n" +
                               extra_yaml + "\n");
}

RivuletServer::~RivuletServer() {
  if (process_ && process_->running()) Stop();
}

void RivuletServer::Start() {
  std::vector<std::string> argv{RivuletBinary(), "serve", "-c", config_path()};
  argv.insert(argv.end(), args_.begin(), args_.end());
  process_ = std::make_unique<Subprocess>(argv, dir_.File("serve.stderr"));
  auto line = process_->ReadLine(std::chrono::seconds(60));
  if (!line) throw std::runtime_error("rivulet serve did not start: " + stderr_text());
  auto json = core::Json::parse(*line, nullptr, false);
  std::string listen = json.is_object() ? json.value("listening", "") : "";
  auto colon = listen.rfind(':');
  if (colon == std::string::npos)
    throw std::runtime_error("unexpected first line from serve: " + *line);
  port_ = std::stoi(listen.substr(colon + 1));
  // Ready when health answers.
  httplib::Client client("127.0.0.1", port_);
  for (int i = 0; i < 600; ++i) {
    if (auto res = client.Get("/v1/health"); res && res->status == 200) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  throw std::runtime_error("rivulet serve never became healthy: " + stderr_text());
}

int RivuletServer::Stop() {
  process_->Signal(SIGTERM);
  auto code = process_->Wait(std::chrono::seconds(30));
  if (!code) {
    process_->Signal(SIGKILL);
    code = process_->Wait();
  }
  return code.value_or(-1);
}

void RivuletServer::Crash() {
  process_->Signal(SIGKILL);
  process_->Wait();
}

std::string RivuletServer::stderr_text() const { return ReadFile(dir_.File("serve.stderr")); }

std::vector<core::Json> RivuletServer::LogRecords() const {
  std::vector<core::Json> records;
  std::istringstream lines(stderr_text());
  for (std::string line; std::getline(lines, line);) {
    core::Json parsed = core::Json::parse(line, nullptr, false);
    if (parsed.is_object()) records.push_back(std::move(parsed));
  }
  return records;
}

std::unique_ptr<httplib::Client> RivuletServer::Client() const {
  auto client = std::make_unique<httplib::Client>("127.0.0.1", port_);
  client->set_keep_alive(true);
  client->set_tcp_nodelay(true);  // without it, Nagle and delayed ACKs add 40 ms per request
  client->set_read_timeout(std::chrono::seconds(60));
  client->set_write_timeout(std::chrono::seconds(60));
  client->set_connection_timeout(std::chrono::seconds(10));
  return client;
}

}  // namespace rivulet::testing
