#include "tests/support/example_services.h"

#include <httplib.h>

#include <stdexcept>

namespace rivulet::testing {

ExampleServices::ExampleServices(const std::vector<std::string>& args) {
  std::vector<std::string> argv = {EXAMPLE_SERVICES_BINARY, "--listen", "127.0.0.1:0"};
  argv.insert(argv.end(), args.begin(), args.end());
  process_ = std::make_unique<Subprocess>(argv, dir_.File("stderr"));
  auto line = process_->ReadLine(std::chrono::seconds(30));
  const std::string prefix = "listening on 127.0.0.1:";
  if (!line || line->rfind(prefix, 0) != 0) {
    throw std::runtime_error("example services did not start: " + line.value_or("(nothing)"));
  }
  port_ = std::stoi(line->substr(prefix.size()));
}

core::Json ExampleServices::State() const {
  httplib::Client client("127.0.0.1", port_);
  auto res = client.Get("/state");
  if (!res || res->status != 200) throw std::runtime_error("GET /state failed");
  return core::Json::parse(res->body);
}

void ExampleServices::Control(const core::Json& settings) const {
  httplib::Client client("127.0.0.1", port_);
  auto res = client.Post("/control", settings.dump(), "application/json");
  if (!res || res->status != 200) throw std::runtime_error("POST /control failed");
}

}  // namespace rivulet::testing
