#pragma once

#include <cstddef>
#include <string_view>

#include "core/status.h"

namespace rivulet::core {

// Rules every HTTP request Rivulet sends follows (saga steps, webhooks):
//
// * Header fields are checked before anything is sent: a name is an RFC 9110 token, a
//   value has no control characters (CR, LF, NUL, ... ; a tab is allowed). A value that
//   breaks the rule is refused, never sent raw (that would let event data inject
//   headers or smuggle a second request) nor rewritten.
// * An answer's body is read up to kMaxAnswerBytes; a larger one fails the attempt.
// * The timeout is a deadline for the whole exchange (connect, send, headers, body),
//   enforced by a Watchdog, not a bound on each read.
inline constexpr size_t kMaxAnswerBytes = size_t{4} << 20;  // 4 MiB

// InvalidArgument naming the header and the offending byte, e.g.
// `header Rivulet-Correlation-Id: control character 0x0d at byte 5 (not sent)`.
Status CheckHeaderField(std::string_view name, std::string_view value);

}  // namespace rivulet::core
