#include "server/request_body.h"

namespace rivulet::server {

Result<core::Json> ParseJsonBody(const httplib::Request& req) {
  if (req.has_header("Content-Type")) {
    std::string type = req.get_header_value("Content-Type");
    std::string media = type.substr(0, type.find(';'));
    while (!media.empty() && media.back() == ' ') media.pop_back();
    for (char& c : media) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (media != "application/json") {
      return Status::InvalidArgument("Content-Type must be application/json, got \"" +
                                     type.substr(0, 64) + "\"");
    }
  }
  if (req.body.empty())
    return Status::InvalidArgument("the request body is empty; send a JSON object");
  auto json = core::ParseJson(req.body);
  if (!json.ok()) return json.status().WithContext("body");
  return json;
}

Status BodyTooLarge(uint64_t max_body) {
  return Status::ResourceExhausted("the request body is larger than server.max_body (" +
                                   std::to_string(max_body) + " bytes)")
      .WithReason("too_large");
}

}  // namespace rivulet::server
