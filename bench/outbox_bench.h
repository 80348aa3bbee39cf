#pragma once

#include <string>

#include "core/json.h"

namespace rivulet::bench {

// The relay draining `messages` pending outbox messages over `keys` keys to a jsonl
// file, a local webhook receiver (16 connections) and a local JetStream (a private
// nats-server -js), in messages/s, each beside the destination's own rate without the
// outbox; then commit-to-delivery latency p50/p99 to the webhook at a steady rate.
core::Json MeasureOutbox(const std::string& dir, int messages, int keys, int steady_rate);

}  // namespace rivulet::bench
