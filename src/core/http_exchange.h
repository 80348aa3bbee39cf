#pragma once

// One HTTP exchange bounded as a whole: the deadline covers connecting, sending and a
// trickled answer (the watchdog stops the client when it passes), and the answer is
// read up to a byte limit. Saga steps and webhook destinations send through it.

#include <httplib.h>

#include <chrono>
#include <cstddef>
#include <string>

#include "core/watchdog.h"

namespace rivulet::core {

struct BoundedExchange {
  bool sent = false;  // a whole answer arrived within the deadline and the limit
  httplib::Response response;
  httplib::Error error = httplib::Error::Success;
  int status = 0;          // the answer's status, also when its body was cut short
  bool timed_out = false;  // the deadline passed first
  bool too_large = false;  // the body passed max_bytes; reading stopped there
  std::string body;        // at most keep_bytes of it
};

// Sends `request` on `client`; when the exchange did not complete, the client is
// stopped so that its connection is not reused.
BoundedExchange SendBounded(httplib::Client& client, httplib::Request& request, Watchdog& watchdog,
                            Watchdog::TimePoint deadline, size_t max_bytes, size_t keep_bytes);

}  // namespace rivulet::core
