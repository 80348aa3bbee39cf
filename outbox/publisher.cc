#include "outbox/publisher.h"

#include <set>

#include "core/status_macros.h"
#include "core/uuid.h"
#include "outbox/outbox_store.h"

namespace rivulet::outbox {

Status InstallPublisher(eventstore::EventStore& store, const OutboxSettings& settings) {
  if (settings.publish.empty()) return Status::Ok();
  RETURN_IF_ERROR(OutboxStore::Migrate(store));
  std::vector<PublishRule> rules = settings.publish;
  store.AddAppendHook([rules](eventstore::Transaction& tx,
                              const std::vector<eventstore::RecordedEvent>& events) -> Status {
    for (const auto& e : events) {
      core::Json event;
      std::set<std::string> destinations;
      for (const PublishRule& rule : rules) {
        if (event.is_null()) event = e.ToJson();
        if (!rule.match.Matches(event)) continue;
        destinations.insert(rule.to.begin(), rule.to.end());
      }
      if (destinations.empty()) continue;
      const std::string payload = core::DumpJson(event);
      for (const std::string& destination : destinations) {
        Message m;
        m.id = core::Uuid::NewV4().ToString();
        m.destination = destination;
        m.key = e.stream;
        m.headers = core::DumpJson(
            core::Json{{"Rivulet-Event-Type", e.type}, {"Rivulet-Event-Id", e.id.ToString()}});
        m.payload = payload;
        m.created_at = tx.now_millis();
        RETURN_IF_ERROR(OutboxStore::Insert(tx, m));
      }
    }
    return Status::Ok();
  });
  return Status::Ok();
}

}  // namespace rivulet::outbox
