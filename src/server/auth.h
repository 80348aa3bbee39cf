#pragma once

#include <httplib.h>

#include <array>
#include <string>
#include <vector>

#include "config/config.h"
#include "core/status.h"

namespace rivulet::server {

// Bearer-token authentication with roles (read < write < admin). Tokens are compared
// by their SHA-256 digests in constant time. Immutable after construction; thread-safe.
class Authenticator {
 public:
  explicit Authenticator(const config::ServerConfig& server);

  // The role a request needs: none for /v1/health, read for GETs, admin for rebuild,
  // retry and abort, write for every other POST.
  static config::Role RequiredRole(const std::string& method, const std::string& path);
  static bool IsPublic(const std::string& method, const std::string& path);

  // Ok, Unauthenticated (no or unknown token) or PermissionDenied (role too low).
  Status Check(const httplib::Request& req) const;

 private:
  struct Entry {
    std::array<unsigned char, 32> digest;
    std::string name;
    config::Role role;
  };
  bool required_;
  std::vector<Entry> tokens_;
};

}  // namespace rivulet::server
