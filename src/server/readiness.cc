#include "server/readiness.h"

#include "eventstore/dead_letters.h"
#include "server/api_error.h"

namespace rivulet::server {

Readiness::~Readiness() {
  if (collector_ != 0) ctx_.metrics.RemoveCollector(collector_);
}

std::vector<core::ComponentState> Readiness::Collect() {
  std::vector<core::ComponentState> all;
  core::ComponentState store{
      "store", ctx_.store.dialect() == eventstore::SqlDialect::kSqlite ? "sqlite" : "postgres",
      core::ComponentHealth::kOk, ""};
  Status health = ctx_.store.Health();
  if (!health.ok()) {
    store.health = core::ComponentHealth::kFailed;
    store.detail = health.message();
  }
  all.push_back(std::move(store));
  for (const Reporter& reporter : reporters_) {
    for (core::ComponentState& c : reporter()) all.push_back(std::move(c));
  }
  return all;
}

void Readiness::Register(Router& router) {
  for (const core::ComponentState& c : Collect()) {
    up_[{c.kind, c.name}] = &ctx_.metrics.GetGauge(
        "rivulet_component_up", "1 while the component is ok or degraded, 0 if stopped or failed",
        {{"kind", c.kind}, {"name", c.name}});
    if (c.kind == "source" || c.kind == "projection") {
      dead_letters_[{c.kind, c.name}] = &ctx_.metrics.GetGauge(
          "rivulet_dead_letters", "Inputs parked by on_error: dead_letter, waiting for a person",
          {{"component", c.kind + "/" + c.name}});
    }
  }
  collector_ = ctx_.metrics.AddCollector([this] { UpdateGauges(); });
  router.Get("/v1/ready", [this](const httplib::Request&, httplib::Response& res) {
    int status = 200;
    core::Json body = Report(&status);
    WriteJson(res, status, core::DumpJson(body));
  });
}

void Readiness::UpdateGauges() {
  // Runs under the registry's lock: it only sets gauges registered in Register.
  std::map<std::pair<std::string, std::string>, int64_t> counts;
  if (auto c = eventstore::DeadLetters::Counts(ctx_.store); c.ok()) counts = std::move(*c);
  for (const core::ComponentState& c : Collect()) {
    if (auto it = up_.find({c.kind, c.name}); it != up_.end()) {
      it->second->Set(c.health == core::ComponentHealth::kOk ||
                              c.health == core::ComponentHealth::kDegraded
                          ? 1
                          : 0);
    }
  }
  for (const auto& [key, gauge] : dead_letters_) {
    auto it = counts.find(key);
    gauge->Set(it == counts.end() ? 0 : it->second);
  }
}

core::Json Readiness::Report(int* http_status) {
  std::map<std::pair<std::string, std::string>, int64_t> counts;
  if (auto c = eventstore::DeadLetters::Counts(ctx_.store); c.ok()) counts = std::move(*c);
  core::Json components = core::Json::array();
  bool all_ok = true;
  bool store_ok = true;
  for (core::ComponentState& c : Collect()) {
    int64_t dead = 0;
    if (auto it = counts.find({c.kind, c.name}); it != counts.end()) dead = it->second;
    if (dead > 0) {
      if (c.health == core::ComponentHealth::kOk) c.health = core::ComponentHealth::kDegraded;
      c.detail += (c.detail.empty() ? "" : "; ") + std::to_string(dead) +
                  " dead letters (GET /v1/dead-letters?" + c.kind + "=" + c.name + ")";
    }
    if (c.kind == "store" && c.health != core::ComponentHealth::kOk) store_ok = false;
    all_ok = all_ok && c.health == core::ComponentHealth::kOk;
    core::Json entry{{"name", c.name},
                     {"kind", c.kind},
                     {"state", core::ComponentHealthName(c.health)},
                     {"detail", c.detail.empty() ? core::Json(nullptr) : core::Json(c.detail)}};
    if (c.kind == "source" || c.kind == "projection") entry["dead_letters"] = dead;
    components.push_back(std::move(entry));
  }
  std::string status = all_ok ? "ready" : "degraded";
  *http_status = 200;
  if (!store_ok) {
    status = "unavailable";
    *http_status = 503;
  } else if (!started_.load() || ctx_.stopping.load()) {
    status = ctx_.stopping.load() ? "stopping" : "starting";
    *http_status = 503;
  }
  return core::Json{{"status", status}, {"components", components}};
}

}  // namespace rivulet::server
