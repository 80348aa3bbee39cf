#include "core/uuid.h"

#include <cstring>

#include "core/random.h"

namespace rivulet::core {

namespace {
int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

void FillRandom(std::array<uint8_t, 16>& bytes, size_t from) {
  uint64_t hi = RandomU64();
  uint64_t lo = RandomU64();
  uint8_t random[16];
  std::memcpy(random, &hi, 8);
  std::memcpy(random + 8, &lo, 8);
  for (size_t i = from; i < 16; ++i) bytes[i] = random[i];
}
}  // namespace

Result<Uuid> Uuid::Parse(std::string_view text) {
  auto bad = [&] {
    std::string shown(text.substr(0, 64));
    return Status::InvalidArgument(
        "expected a UUID like 0190c2a4-7b7e-7cc1-9d8e-4f3c2b1a0d9e, got \"" + shown + "\"");
  };
  if (text.size() != 36) return bad();
  std::array<uint8_t, 16> bytes{};
  size_t out = 0;
  for (size_t i = 0; i < 36;) {
    if (i == 8 || i == 13 || i == 18 || i == 23) {
      if (text[i] != '-') return bad();
      ++i;
      continue;
    }
    int hi = HexValue(text[i]);
    int lo = HexValue(text[i + 1]);
    if (hi < 0 || lo < 0) return bad();
    bytes[out++] = static_cast<uint8_t>(hi << 4 | lo);
    i += 2;
  }
  return Uuid(bytes);
}

Result<Uuid> Uuid::FromBytes(std::string_view raw) {
  if (raw.size() != 16) return Status::InvalidArgument("a stored UUID must be 16 bytes");
  std::array<uint8_t, 16> bytes{};
  std::memcpy(bytes.data(), raw.data(), 16);
  return Uuid(bytes);
}

Uuid Uuid::NewV4() {
  std::array<uint8_t, 16> bytes{};
  FillRandom(bytes, 0);
  bytes[6] = static_cast<uint8_t>((bytes[6] & 0x0f) | 0x40);
  bytes[8] = static_cast<uint8_t>((bytes[8] & 0x3f) | 0x80);
  return Uuid(bytes);
}

Uuid Uuid::NewV7(int64_t unix_millis) {
  std::array<uint8_t, 16> bytes{};
  FillRandom(bytes, 6);
  uint64_t ms = static_cast<uint64_t>(unix_millis);
  for (int i = 0; i < 6; ++i) bytes[i] = static_cast<uint8_t>(ms >> (40 - 8 * i));
  bytes[6] = static_cast<uint8_t>((bytes[6] & 0x0f) | 0x70);
  bytes[8] = static_cast<uint8_t>((bytes[8] & 0x3f) | 0x80);
  return Uuid(bytes);
}

std::string Uuid::ToString() const {
  std::string text;
  text.reserve(36);
  AppendTo(text);
  return text;
}

void Uuid::AppendTo(std::string& out) const {
  static constexpr char kHex[] = "0123456789abcdef";
  char text[36];
  size_t o = 0;
  for (size_t i = 0; i < 16; ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) text[o++] = '-';
    text[o++] = kHex[bytes_[i] >> 4];
    text[o++] = kHex[bytes_[i] & 0x0f];
  }
  out.append(text, sizeof(text));
}

}  // namespace rivulet::core
