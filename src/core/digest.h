#pragma once

#include <string>
#include <string_view>

namespace rivulet::core {

// Lowercase hex SHA-256 of `data` (definition hashes, token digests).
std::string Sha256Hex(std::string_view data);

// Lowercase hex HMAC-SHA256 of `data` with `key` (webhook signatures).
std::string HmacSha256Hex(std::string_view key, std::string_view data);

}  // namespace rivulet::core
