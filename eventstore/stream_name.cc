#include "eventstore/stream_name.h"

#include <string>

#include "core/utf8.h"

namespace rivulet::eventstore {

Status ValidateStreamName(std::string_view name, bool allow_reserved) {
  if (name.empty()) return Status::InvalidArgument("stream name is empty");
  if (name.size() > kMaxStreamNameBytes) {
    return Status::InvalidArgument("stream name is " + std::to_string(name.size()) +
                                   " bytes; the limit is 256");
  }
  if (!core::IsValidUtf8(name)) return Status::InvalidArgument("stream name is not valid UTF-8");
  if (core::HasControlCharacter(name)) {
    return Status::InvalidArgument("stream name contains a control character");
  }
  if (name.find('/') != std::string_view::npos) {
    return Status::InvalidArgument("stream name \"" + std::string(name) + "\" contains '/'");
  }
  if (IsReservedStream(name) && !allow_reserved) {
    return Status::InvalidArgument("stream name \"" + std::string(name) +
                                   "\" starts with '$', which is reserved for the runtime");
  }
  return Status::Ok();
}

Status ValidateEventType(std::string_view type) {
  if (type.empty()) return Status::InvalidArgument("event type is empty");
  if (type.size() > kMaxEventTypeBytes) {
    return Status::InvalidArgument("event type is " + std::to_string(type.size()) +
                                   " bytes; the limit is 256");
  }
  if (!core::IsValidUtf8(type)) return Status::InvalidArgument("event type is not valid UTF-8");
  if (core::HasControlCharacter(type)) {
    return Status::InvalidArgument("event type contains a control character");
  }
  return Status::Ok();
}

}  // namespace rivulet::eventstore
