#include "server/router.h"

#include "server/api_error.h"
#include "server/connection_pool.h"
#include "server/request_body.h"

namespace rivulet::server {

Router::Handler Router::Guard(Handler handler) const {
  return [this, handler = std::move(handler)](const httplib::Request& req, httplib::Response& res) {
    // httplib calls a handler of these methods only once it has read the whole body.
    if (req.method == "POST" || req.method == "PUT" || req.method == "PATCH" ||
        req.method == "DELETE") {
      ConnectionPool::BodyRead();
    }
    if (req.body.size() > max_body_) return WriteError(res, BodyTooLarge(max_body_));
    handler(req, res);
  };
}

void Router::Get(const std::string& pattern, Handler handler) {
  http_.Get(pattern, Guard(std::move(handler)));
}
void Router::Post(const std::string& pattern, Handler handler) {
  http_.Post(pattern, Guard(std::move(handler)));
}
void Router::Put(const std::string& pattern, Handler handler) {
  http_.Put(pattern, Guard(std::move(handler)));
}
void Router::Delete(const std::string& pattern, Handler handler) {
  http_.Delete(pattern, Guard(std::move(handler)));
}

}  // namespace rivulet::server
