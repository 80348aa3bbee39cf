#include "tests/support/nats_server.h"

#include <arpa/inet.h>
#include <nats/nats.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <stdexcept>
#include <thread>

namespace rivulet::testing {

int FreeLoopbackPort() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    ::close(fd);
    throw std::runtime_error("no free loopback port");
  }
  ::close(fd);
  return ntohs(addr.sin_port);
}

NatsServer::NatsServer(int port, std::string user, std::string password)
    : port_(port), user_(std::move(user)), password_(std::move(password)) {
  std::vector<std::string> argv{"nats-server",         "-js", "-a",           "127.0.0.1", "-p",
                                std::to_string(port_), "-sd", dir_.File("js")};
  if (!user_.empty()) argv.insert(argv.end(), {"--user", user_, "--pass", password_});
  process_ = std::make_unique<Subprocess>(argv, dir_.File("stderr"));
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (true) {  // ready when it accepts a connection
    natsConnection* nc = nullptr;
    if (natsConnection_ConnectTo(&nc, url().c_str()) == NATS_OK) {
      natsConnection_Destroy(nc);
      return;
    }
    if (std::chrono::steady_clock::now() > deadline)
      throw std::runtime_error("nats-server did not start on " + url());
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

int64_t NatsServer::Count(const std::string& stream) const {
  natsConnection* nc = nullptr;
  jsCtx* js = nullptr;
  jsStreamInfo* info = nullptr;
  int64_t n = -1;
  if (natsConnection_ConnectTo(&nc, url().c_str()) == NATS_OK &&
      natsConnection_JetStream(&js, nc, nullptr) == NATS_OK &&
      js_GetStreamInfo(&info, js, stream.c_str(), nullptr, nullptr) == NATS_OK) {
    n = static_cast<int64_t>(info->State.Msgs);
  }
  if (info != nullptr) jsStreamInfo_Destroy(info);
  if (js != nullptr) jsCtx_Destroy(js);
  if (nc != nullptr) natsConnection_Destroy(nc);
  return n;
}

std::vector<std::string> NatsServer::Payloads(const std::string& stream) const {
  std::vector<std::string> out;
  natsConnection* nc = nullptr;
  jsCtx* js = nullptr;
  if (natsConnection_ConnectTo(&nc, url().c_str()) == NATS_OK &&
      natsConnection_JetStream(&js, nc, nullptr) == NATS_OK) {
    for (uint64_t seq = 1;; ++seq) {
      natsMsg* msg = nullptr;
      if (js_GetMsg(&msg, js, stream.c_str(), seq, nullptr, nullptr) != NATS_OK) break;
      out.emplace_back(natsMsg_GetData(msg), static_cast<size_t>(natsMsg_GetDataLength(msg)));
      natsMsg_Destroy(msg);
    }
  }
  if (js != nullptr) jsCtx_Destroy(js);
  if (nc != nullptr) natsConnection_Destroy(nc);
  return out;
}

bool NatsServer::AddStream(const std::string& stream, const std::string& subjects,
                           int32_t max_msg_size) const {
  natsConnection* nc = nullptr;
  jsCtx* js = nullptr;
  bool added = false;
  if (natsConnection_ConnectTo(&nc, url().c_str()) == NATS_OK &&
      natsConnection_JetStream(&js, nc, nullptr) == NATS_OK) {
    jsStreamConfig config;
    jsStreamConfig_Init(&config);
    config.Name = stream.c_str();
    const char* subject_list[] = {subjects.c_str()};
    config.Subjects = subject_list;
    config.SubjectsLen = 1;
    if (max_msg_size > 0) config.MaxMsgSize = max_msg_size;
    jsStreamInfo* info = nullptr;
    added = js_AddStream(&info, js, &config, nullptr, nullptr) == NATS_OK;
    if (info != nullptr) jsStreamInfo_Destroy(info);
  }
  if (js != nullptr) jsCtx_Destroy(js);
  if (nc != nullptr) natsConnection_Destroy(nc);
  return added;
}

}  // namespace rivulet::testing
