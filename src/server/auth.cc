#include "server/auth.h"

#include <openssl/crypto.h>
#include <openssl/sha.h>

namespace rivulet::server {

namespace {
std::array<unsigned char, 32> Digest(const std::string& text) {
  std::array<unsigned char, 32> out{};
  SHA256(reinterpret_cast<const unsigned char*>(text.data()), text.size(), out.data());
  return out;
}

bool EndsWith(const std::string& s, const char* suffix) {
  std::string_view tail(suffix);
  return s.size() >= tail.size() && s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
}
}  // namespace

Authenticator::Authenticator(const config::ServerConfig& server) : required_(server.auth_required) {
  for (const auto& t : server.tokens) tokens_.push_back(Entry{Digest(t.token), t.name, t.role});
}

bool Authenticator::IsPublic(const std::string& method, const std::string& path) {
  return method == "GET" && (path == "/v1/health" || path == "/v1/ready");
}

config::Role Authenticator::RequiredRole(const std::string& method, const std::string& path) {
  if (method == "GET" || method == "HEAD") return config::Role::kRead;
  if (EndsWith(path, "/rebuild") || EndsWith(path, "/retry") || EndsWith(path, "/abort") ||
      EndsWith(path, "/discard")) {
    return config::Role::kAdmin;
  }
  return config::Role::kWrite;
}

Status Authenticator::Check(const httplib::Request& req) const {
  if (!required_ || IsPublic(req.method, req.path)) return Status::Ok();
  std::string header = req.get_header_value("Authorization");
  static constexpr std::string_view kBearer = "Bearer ";
  if (header.size() <= kBearer.size() || header.compare(0, kBearer.size(), kBearer) != 0) {
    return Status::Unauthenticated("this server needs a token: send Authorization: Bearer <token>");
  }
  auto digest = Digest(header.substr(kBearer.size()));
  const Entry* match = nullptr;
  for (const Entry& e : tokens_) {
    // Every entry is compared, so timing does not reveal which one matched.
    if (CRYPTO_memcmp(e.digest.data(), digest.data(), digest.size()) == 0) match = &e;
  }
  if (match == nullptr) return Status::Unauthenticated("the token is not valid");
  config::Role needed = RequiredRole(req.method, req.path);
  if (static_cast<int>(match->role) < static_cast<int>(needed)) {
    return Status::PermissionDenied("token " + match->name + " has role " +
                                    config::RoleName(match->role) + "; " + req.method + " " +
                                    req.path + " needs " + config::RoleName(needed));
  }
  return Status::Ok();
}

}  // namespace rivulet::server
