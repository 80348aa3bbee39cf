#include "core/http_exchange.h"

#include <algorithm>
#include <atomic>

namespace rivulet::core {

BoundedExchange SendBounded(httplib::Client& client, httplib::Request& request, Watchdog& watchdog,
                            Watchdog::TimePoint deadline, size_t max_bytes, size_t keep_bytes) {
  BoundedExchange out;
  size_t received = 0;
  request.response_handler = [&](const httplib::Response& res) {
    out.status = res.status;
    return true;
  };
  request.content_receiver = [&](const char* data, size_t n, uint64_t, uint64_t) {
    received += n;
    if (received > max_bytes) {
      out.too_large = true;
      return false;  // stop reading; the connection is closed below
    }
    if (out.body.size() < keep_bytes)
      out.body.append(data, std::min(n, keep_bytes - out.body.size()));
    return true;
  };
  std::atomic<bool> timed_out{false};
  {
    Watchdog::Scope scope(watchdog, deadline, [&] {
      timed_out = true;
      client.stop();  // wakes the exchange; thread-safe in httplib
    });
    out.sent = client.send(request, out.response, out.error);
  }
  out.timed_out = timed_out.load();
  if (!out.sent) client.stop();  // a broken or abandoned connection is not reused
  return out;
}

}  // namespace rivulet::core
