#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "core/result.h"

namespace rivulet::eventstore {

// The largest position the log ever assigns: 2^53 - 1, the largest integer a JSON
// number (an IEEE double) holds exactly, so every client reads every position right.
// Stores refuse appends and imports beyond it rather than wrap or round.
inline constexpr int64_t kMaxPosition = (int64_t{1} << 53) - 1;

// A place in the global log: "everything up to and including here has been seen".
// On SQLite only `position` matters (positions follow commit order). On PostgreSQL a
// reader orders by (txid, position) and the token carries both (SPEC section 3).
struct LogPosition {
  int64_t position = 0;  // 0 is the start of the log
  int64_t txid = 0;

  friend bool operator==(const LogPosition& a, const LogPosition& b) {
    return a.position == b.position && a.txid == b.txid;
  }
  friend bool operator!=(const LogPosition& a, const LogPosition& b) { return !(a == b); }
};

// Resume tokens are opaque to clients: base64url (no padding) of "<position>", or of
// "<txid>:<position>" when a txid is set. They stay valid across restarts because they
// name positions, never in-memory state.
std::string EncodeResumeToken(const LogPosition& position);
Result<LogPosition> DecodeResumeToken(std::string_view token);

}  // namespace rivulet::eventstore
