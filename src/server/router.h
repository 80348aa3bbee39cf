#pragma once

#include <httplib.h>

#include <cstdint>
#include <functional>
#include <string>

namespace rivulet::server {

// Registers route handlers. Authentication happens before a route is chosen (in
// HttpServer, before the body is read); the router holds each decoded body to
// server.max_body, which a chunked body can only be measured against once read.
class Router {
 public:
  using Handler = std::function<void(const httplib::Request&, httplib::Response&)>;

  Router(httplib::Server& http, uint64_t max_body) : http_(http), max_body_(max_body) {}

  void Get(const std::string& pattern, Handler handler);
  void Post(const std::string& pattern, Handler handler);
  void Put(const std::string& pattern, Handler handler);
  void Delete(const std::string& pattern, Handler handler);

 private:
  Handler Guard(Handler handler) const;

  httplib::Server& http_;
  const uint64_t max_body_;
};

}  // namespace rivulet::server
