#include "core/time_format.h"

#include <algorithm>

namespace rivulet::core {

namespace {
// Howard Hinnant's days_from_civil / civil_from_days: proleptic Gregorian calendar,
// no time zone database, no locale.
int64_t DaysFromCivil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<int64_t>(doe) - 719468;
}

void CivilFromDays(int64_t z, int64_t& y, unsigned& m, unsigned& d) {
  z += 719468;
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const unsigned doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  y = static_cast<int64_t>(yoe) + era * 400;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  d = doy - (153 * mp + 2) / 5 + 1;
  m = mp < 10 ? mp + 3 : mp - 9;
  y += m <= 2;
}

void AppendDigits(std::string& out, int64_t value, int width) {
  char buf[8];
  for (int i = width - 1; i >= 0; --i) {
    buf[i] = static_cast<char>('0' + value % 10);
    value /= 10;
  }
  out.append(buf, static_cast<size_t>(width));
}

bool ReadDigits(std::string_view text, size_t& i, int width, int& value) {
  if (i + static_cast<size_t>(width) > text.size()) return false;
  value = 0;
  for (int k = 0; k < width; ++k) {
    char c = text[i + static_cast<size_t>(k)];
    if (c < '0' || c > '9') return false;
    value = value * 10 + (c - '0');
  }
  i += static_cast<size_t>(width);
  return true;
}

bool Expect(std::string_view text, size_t& i, char c) {
  if (i >= text.size() || text[i] != c) return false;
  ++i;
  return true;
}
}  // namespace

void AppendRfc3339Millis(std::string& out, int64_t unix_millis) {
  unix_millis = std::clamp(unix_millis, kMinRfc3339Millis, kMaxRfc3339Millis);
  int64_t days = unix_millis / 86'400'000;
  int64_t ms_of_day = unix_millis % 86'400'000;
  if (ms_of_day < 0) {
    ms_of_day += 86'400'000;
    --days;
  }
  int64_t year;
  unsigned month, day;
  CivilFromDays(days, year, month, day);
  AppendDigits(out, year, 4);
  out.push_back('-');
  AppendDigits(out, month, 2);
  out.push_back('-');
  AppendDigits(out, day, 2);
  out.push_back('T');
  AppendDigits(out, ms_of_day / 3'600'000, 2);
  out.push_back(':');
  AppendDigits(out, ms_of_day / 60'000 % 60, 2);
  out.push_back(':');
  AppendDigits(out, ms_of_day / 1000 % 60, 2);
  out.push_back('.');
  AppendDigits(out, ms_of_day % 1000, 3);
  out.push_back('Z');
}

std::string FormatRfc3339Millis(int64_t unix_millis) {
  std::string out;
  out.reserve(24);
  AppendRfc3339Millis(out, unix_millis);
  return out;
}

Result<std::string> FormatTimestamp(int64_t unix_millis) {
  if (unix_millis < kMinRfc3339Millis || unix_millis > kMaxRfc3339Millis) {
    return Status::InvalidArgument("timestamp " + std::to_string(unix_millis) +
                                   " (milliseconds since 1970) is outside years 0000-9999");
  }
  return FormatRfc3339Millis(unix_millis);
}

Result<int64_t> ParseRfc3339(std::string_view text) {
  auto bad = [&] {
    return Status::InvalidArgument(
        "expected an RFC 3339 timestamp like 2026-11-21T09:05:03Z, got \"" +
        std::string(text.substr(0, 64)) + "\"");
  };
  size_t i = 0;
  int year, month, day, hour, minute, second;
  if (!ReadDigits(text, i, 4, year) || !Expect(text, i, '-') || !ReadDigits(text, i, 2, month) ||
      !Expect(text, i, '-') || !ReadDigits(text, i, 2, day)) {
    return bad();
  }
  if (i >= text.size() || (text[i] != 'T' && text[i] != 't' && text[i] != ' ')) return bad();
  ++i;
  if (!ReadDigits(text, i, 2, hour) || !Expect(text, i, ':') || !ReadDigits(text, i, 2, minute) ||
      !Expect(text, i, ':') || !ReadDigits(text, i, 2, second)) {
    return bad();
  }
  static constexpr int kDaysInMonth[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
  if (month < 1 || month > 12 || day < 1 || day > kDaysInMonth[month - 1] ||
      (month == 2 && day == 29 && !leap) || hour > 23 || minute > 59 || second > 60) {
    return bad();
  }
  int millis = 0;
  if (i < text.size() && text[i] == '.') {
    ++i;
    size_t start = i;
    int scale = 100;
    while (i < text.size() && text[i] >= '0' && text[i] <= '9') {
      millis += (text[i] - '0') * scale;
      scale /= 10;
      ++i;
    }
    if (i == start) return bad();
  }
  int offset_minutes = 0;
  if (i < text.size() && (text[i] == 'Z' || text[i] == 'z')) {
    ++i;
  } else if (i < text.size() && (text[i] == '+' || text[i] == '-')) {
    int sign = text[i] == '-' ? -1 : 1;
    ++i;
    int oh, om;
    if (!ReadDigits(text, i, 2, oh) || !Expect(text, i, ':') || !ReadDigits(text, i, 2, om) ||
        oh > 23 || om > 59) {
      return bad();
    }
    offset_minutes = sign * (oh * 60 + om);
  } else {
    return bad();
  }
  if (i != text.size()) return bad();
  if (second == 60) second = 59;  // a leap second folds into the one before it
  int64_t days = DaysFromCivil(year, static_cast<unsigned>(month), static_cast<unsigned>(day));
  int64_t seconds = days * 86400 + hour * 3600 + minute * 60 + second - offset_minutes * 60;
  const int64_t result = seconds * 1000 + millis;
  if (result < kMinRfc3339Millis || result > kMaxRfc3339Millis) {
    return Status::InvalidArgument("timestamp \"" + std::string(text.substr(0, 64)) +
                                   "\" is outside years 0000-9999 in UTC");
  }
  return result;
}

}  // namespace rivulet::core
