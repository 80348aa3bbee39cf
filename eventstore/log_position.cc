#include "eventstore/log_position.h"

#include "core/base64.h"

namespace rivulet::eventstore {

namespace {
bool ParseNonNegative(std::string_view text, int64_t& out) {
  if (text.empty() || text.size() > 18) return false;
  if (text.size() > 1 && text[0] == '0') return false;  // one spelling per position
  out = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return false;
    out = out * 10 + (c - '0');
  }
  return true;
}
}  // namespace

std::string EncodeResumeToken(const LogPosition& position) {
  std::string raw = position.txid == 0
                        ? std::to_string(position.position)
                        : std::to_string(position.txid) + ":" + std::to_string(position.position);
  return core::Base64UrlEncode(raw);
}

Result<LogPosition> DecodeResumeToken(std::string_view token) {
  auto bad = [&] {
    return Status::InvalidArgument("resume token \"" + std::string(token.substr(0, 64)) +
                                   "\" is not one this server issued");
  };
  auto raw = core::Base64UrlDecode(token);
  if (!raw) return bad();
  std::string_view text = *raw;
  LogPosition pos;
  auto colon = text.find(':');
  if (colon == std::string_view::npos) {
    if (!ParseNonNegative(text, pos.position)) return bad();
    return pos;
  }
  if (!ParseNonNegative(text.substr(0, colon), pos.txid) ||
      !ParseNonNegative(text.substr(colon + 1), pos.position) || pos.txid == 0) {
    return bad();
  }
  return pos;
}

}  // namespace rivulet::eventstore
