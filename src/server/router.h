#pragma once

#include <httplib.h>

#include <functional>
#include <string>

#include "server/auth.h"

namespace rivulet::server {

// Registers route handlers behind the server's authentication. The check runs inside
// the handler, after httplib has read the request body: rejecting earlier (in httplib's
// pre-routing hook) would leave a POST body unread on a keep-alive connection and turn
// the client's next request into garbage.
class Router {
 public:
  using Handler = std::function<void(const httplib::Request&, httplib::Response&)>;

  Router(httplib::Server& http, const Authenticator& auth) : http_(http), auth_(auth) {}

  void Get(const std::string& pattern, Handler handler);
  void Post(const std::string& pattern, Handler handler);
  void Put(const std::string& pattern, Handler handler);
  void Delete(const std::string& pattern, Handler handler);

 private:
  Handler Guard(Handler handler) const;

  httplib::Server& http_;
  const Authenticator& auth_;
};

}  // namespace rivulet::server
