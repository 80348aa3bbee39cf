#pragma once

#include "core/clock.h"
#include "core/result.h"
#include "eventstore/event_store.h"
#include "outbox/outbox_config.h"

namespace rivulet::outbox {

// Registers the append hook that writes an outbox message per destination for every
// appended event that a publish rule matches, inside the append's unit of work: the
// rows commit with the events or not at all (SPEC 2.2). Saga emits are appends too.
// Applies the outbox migrations first. Call before the store is written to.
Status InstallPublisher(eventstore::EventStore& store, const OutboxSettings& settings);

}  // namespace rivulet::outbox
