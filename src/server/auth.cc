#include "server/auth.h"

#include <openssl/crypto.h>
#include <openssl/sha.h>

#include <cctype>
#include <optional>
#include <string_view>

namespace rivulet::server {

namespace {
std::array<unsigned char, 32> Digest(const std::string& text) {
  std::array<unsigned char, 32> out{};
  SHA256(reinterpret_cast<const unsigned char*>(text.data()), text.size(), out.data());
  return out;
}

bool IsSpace(char c) { return c == ' ' || c == '\t'; }

// The credentials of `Authorization: Bearer <token>`. RFC 7235 section 2.1: the scheme
// is case-insensitive and one or more spaces separate it from the token.
std::optional<std::string_view> BearerToken(std::string_view header) {
  static constexpr std::string_view kScheme = "bearer";
  if (header.size() <= kScheme.size() || !IsSpace(header[kScheme.size()])) return std::nullopt;
  for (size_t i = 0; i < kScheme.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(header[i])) != kScheme[i]) return std::nullopt;
  }
  std::string_view token = header.substr(kScheme.size());
  while (!token.empty() && IsSpace(token.front())) token.remove_prefix(1);
  while (!token.empty() && IsSpace(token.back())) token.remove_suffix(1);
  if (token.empty()) return std::nullopt;
  return token;
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
  const std::string header = req.get_header_value("Authorization");
  auto token = BearerToken(header);
  if (!token) {
    return Status::Unauthenticated("this server needs a token: send Authorization: Bearer <token>");
  }
  auto digest = Digest(std::string(*token));
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
