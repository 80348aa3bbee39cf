#include "sources/pgoutput.h"

#include <cinttypes>
#include <cstdio>
#include <cstring>

#include "core/status_macros.h"

namespace rivulet::sources::pg {

namespace {

constexpr int64_t kPgEpochUnixMicros = 946'684'800'000'000;  // 2000-01-01 in Unix time

// Reads big-endian fields from a message; any overrun is an error.
class Reader {
 public:
  explicit Reader(std::string_view bytes) : bytes_(bytes) {}
  bool ok() const { return ok_; }
  bool done() const { return pos_ >= bytes_.size(); }
  uint64_t U(int size) {
    if (pos_ + size > bytes_.size()) {
      ok_ = false;
      return 0;
    }
    uint64_t v = 0;
    for (int i = 0; i < size; ++i) v = (v << 8) | static_cast<uint8_t>(bytes_[pos_++]);
    return v;
  }
  char Byte() { return static_cast<char>(U(1)); }
  std::string String() {  // NUL-terminated
    const size_t end = bytes_.find('\0', pos_);
    if (end == std::string_view::npos) {
      ok_ = false;
      return "";
    }
    std::string s(bytes_.substr(pos_, end - pos_));
    pos_ = end + 1;
    return s;
  }
  std::string Bytes(size_t n) {
    if (pos_ + n > bytes_.size()) {
      ok_ = false;
      return "";
    }
    std::string s(bytes_.substr(pos_, n));
    pos_ += n;
    return s;
  }

 private:
  std::string_view bytes_;
  size_t pos_ = 0;
  bool ok_ = true;
};

Tuple ReadTuple(Reader& r) {
  const int n = static_cast<int>(r.U(2));
  Tuple tuple;
  for (int i = 0; i < n && r.ok(); ++i) {
    TupleValue v;
    const char kind = r.Byte();
    if (kind == 'n') {
      v.kind = TupleValue::Kind::kNull;
    } else if (kind == 'u') {
      v.kind = TupleValue::Kind::kUnchangedToast;
    } else if (kind == 't' || kind == 'b') {
      v.kind = TupleValue::Kind::kText;
      v.text = r.Bytes(static_cast<size_t>(r.U(4)));
    }
    tuple.push_back(std::move(v));
  }
  return tuple;
}

bool IsInteger(std::string_view s) {
  size_t i = (!s.empty() && (s[0] == '-' || s[0] == '+')) ? 1 : 0;
  if (i == s.size()) return false;
  for (; i < s.size(); ++i) {
    if (s[i] < '0' || s[i] > '9') return false;
  }
  return true;
}

// "2024-01-02 03:04:05.123456+00" (UTC session) or without the offset -> RFC 3339.
std::string Rfc3339(std::string_view text) {
  std::string out(text);
  if (out.size() > 10 && out[10] == ' ') out[10] = 'T';
  if (out.size() >= 3 && (out.compare(out.size() - 3, 3, "+00") == 0))
    return out.substr(0, out.size() - 3) + "Z";
  const size_t t = out.find('T');
  if (t != std::string::npos && out.find_first_of("+-Z", t) == std::string::npos) return out + "Z";
  if (out.size() >= 3 && (out[out.size() - 3] == '+' || out[out.size() - 3] == '-'))
    return out + ":00";  // "+05" -> "+05:00"
  return out;
}

uint32_t ElementType(uint32_t array_oid) {
  switch (array_oid) {
    case 1000:
      return 16;  // bool[]
    case 1005:
      return 21;  // int2[]
    case 1007:
      return 23;  // int4[]
    case 1016:
      return 20;  // int8[]
    case 1028:
      return 26;  // oid[]
    case 1021:
      return 700;  // float4[]
    case 1022:
      return 701;  // float8[]
    case 1231:
      return 1700;  // numeric[]
    case 199:
      return 114;  // json[]
    case 3807:
      return 3802;  // jsonb[]
    case 1115:
      return 1114;  // timestamp[]
    case 1185:
      return 1184;  // timestamptz[]
    case 1182:
      return 1082;  // date[]
    case 1009:
      return 25;  // text[]
    case 1015:
      return 1043;  // varchar[]
    case 1014:
      return 1042;  // bpchar[]
    case 2951:
      return 2950;  // uuid[]
    default:
      return 0;
  }
}

// A PostgreSQL array literal: {1,2,NULL}, {"a b","c\"d"}, {{1,2},{3,4}}.
core::Json ParseArray(uint32_t element_oid, std::string_view text, size_t& pos) {
  core::Json out = core::Json::array();
  if (pos >= text.size() || text[pos] != '{') return core::Json(std::string(text));
  ++pos;
  while (pos < text.size() && text[pos] != '}') {
    if (text[pos] == '{') {
      out.push_back(ParseArray(element_oid, text, pos));
    } else if (text[pos] == '"') {
      std::string item;
      for (++pos; pos < text.size() && text[pos] != '"'; ++pos) {
        if (text[pos] == '\\' && pos + 1 < text.size()) ++pos;
        item += text[pos];
      }
      ++pos;  // closing quote
      out.push_back(TextToJson(element_oid, item));
    } else {
      const size_t end = text.find_first_of(",}", pos);
      std::string_view item = text.substr(pos, end - pos);
      out.push_back(item == "NULL" ? core::Json() : TextToJson(element_oid, item));
      pos = end == std::string_view::npos ? text.size() : end;
    }
    if (pos < text.size() && text[pos] == ',') ++pos;
  }
  ++pos;  // closing brace
  return out;
}

}  // namespace

std::string FormatLsn(uint64_t lsn) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%X/%X", static_cast<unsigned>(lsn >> 32),
                static_cast<unsigned>(lsn & 0xffffffffu));
  return buf;
}

Result<uint64_t> ParseLsn(std::string_view text) {
  unsigned hi = 0, lo = 0;
  char tail = 0;
  const std::string s(text);
  if (std::sscanf(s.c_str(), "%X/%X%c", &hi, &lo, &tail) != 2)
    return Status::InvalidArgument("not an LSN: \"" + s + "\"");
  return (static_cast<uint64_t>(hi) << 32) | lo;
}

core::Json TextToJson(uint32_t type_oid, std::string_view text) {
  switch (type_oid) {
    case 16:  // bool
      return text == "t" || text == "true";
    case 20:  // int8
    case 21:  // int2
    case 23:  // int4
    case 26:  // oid
      if (IsInteger(text)) {
        try {
          return core::Json(std::stoll(std::string(text)));
        } catch (...) {
        }
      }
      return core::Json(std::string(text));
    case 700:    // float4
    case 701: {  // float8
      char* end = nullptr;
      const std::string s(text);
      const double d = std::strtod(s.c_str(), &end);
      if (end == s.c_str() + s.size() && s != "NaN" && s != "Infinity" && s != "-Infinity")
        return core::Json(d);
      return core::Json(s);
    }
    case 114:     // json
    case 3802: {  // jsonb
      // Within the limits of any input (a deeper document stays text, as invalid JSON).
      Result<core::Json> parsed = core::ParseJson(text, core::kInputJson);
      return parsed.ok() ? std::move(parsed).value() : core::Json(std::string(text));
    }
    case 1114:  // timestamp
    case 1184:  // timestamptz
      return core::Json(Rfc3339(text));
    default:
      break;
  }
  if (const uint32_t element = ElementType(type_oid); element != 0) {
    size_t pos = 0;
    return ParseArray(element, text, pos);
  }
  return core::Json(std::string(text));  // numeric, text, date, uuid, ...: as text
}

Result<Message> ParseMessage(std::string_view bytes) {
  Reader r(bytes);
  Message m;
  const char tag = r.Byte();
  switch (tag) {
    case 'B':
      m.type = Message::Type::kBegin;
      m.lsn = r.U(8);
      m.timestamp = static_cast<int64_t>(r.U(8));
      m.xid = static_cast<uint32_t>(r.U(4));
      break;
    case 'C':
      m.type = Message::Type::kCommit;
      r.U(1);  // flags
      m.lsn = r.U(8);
      m.end_lsn = r.U(8);
      m.timestamp = static_cast<int64_t>(r.U(8));
      break;
    case 'O':
      m.type = Message::Type::kOrigin;
      m.lsn = r.U(8);
      m.origin = r.String();
      break;
    case 'R': {
      m.type = Message::Type::kRelation;
      m.relation.oid = static_cast<uint32_t>(r.U(4));
      m.relation.schema = r.String();
      m.relation.name = r.String();
      m.relation.replica_identity = r.Byte();
      const int n = static_cast<int>(r.U(2));
      for (int i = 0; i < n && r.ok(); ++i) {
        Column c;
        c.key = (r.U(1) & 1) != 0;
        c.name = r.String();
        c.type_oid = static_cast<uint32_t>(r.U(4));
        r.U(4);  // type modifier
        m.relation.columns.push_back(std::move(c));
      }
      break;
    }
    case 'Y':
      m.type = Message::Type::kType;
      r.U(4);
      r.String();
      r.String();
      break;
    case 'I':
      m.type = Message::Type::kInsert;
      m.relation_oid = static_cast<uint32_t>(r.U(4));
      if (r.Byte() != 'N') return Status::InvalidArgument("pgoutput: Insert without a new tuple");
      m.new_tuple = ReadTuple(r);
      break;
    case 'U': {
      m.type = Message::Type::kUpdate;
      m.relation_oid = static_cast<uint32_t>(r.U(4));
      char kind = r.Byte();
      if (kind == 'K' || kind == 'O') {
        m.old_kind = kind;
        m.old_tuple = ReadTuple(r);
        kind = r.Byte();
      }
      if (kind != 'N') return Status::InvalidArgument("pgoutput: Update without a new tuple");
      m.new_tuple = ReadTuple(r);
      break;
    }
    case 'D': {
      m.type = Message::Type::kDelete;
      m.relation_oid = static_cast<uint32_t>(r.U(4));
      const char kind = r.Byte();
      if (kind != 'K' && kind != 'O')
        return Status::InvalidArgument("pgoutput: Delete without an old tuple");
      m.old_kind = kind;
      m.old_tuple = ReadTuple(r);
      break;
    }
    case 'T': {
      m.type = Message::Type::kTruncate;
      const int n = static_cast<int>(r.U(4));
      r.U(1);  // options: cascade, restart identity
      for (int i = 0; i < n && r.ok(); ++i) m.truncated.push_back(static_cast<uint32_t>(r.U(4)));
      break;
    }
    default:
      m.type = Message::Type::kOther;  // 'M' logical messages and later versions' tags
      return m;
  }
  if (!r.ok())
    return Status::InvalidArgument(std::string("pgoutput: truncated '") + tag + "' message");
  return m;
}

std::string FormatPgTimestamp(int64_t micros_since_2000) {
  const int64_t unix_micros = micros_since_2000 + kPgEpochUnixMicros;
  time_t seconds = static_cast<time_t>(unix_micros / 1'000'000);
  int64_t micros = unix_micros % 1'000'000;
  if (micros < 0) {
    micros += 1'000'000;
    --seconds;
  }
  std::tm tm{};
  gmtime_r(&seconds, &tm);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%06" PRId64 "Z", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, micros);
  return buf;
}

int64_t PgTimestampToUnixMillis(int64_t micros_since_2000) {
  return (micros_since_2000 + kPgEpochUnixMicros) / 1000;
}

}  // namespace rivulet::sources::pg
