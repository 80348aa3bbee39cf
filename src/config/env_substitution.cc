#include "config/env_substitution.h"

#include <cstdlib>

namespace rivulet::config {

EnvLookup ProcessEnv() {
  return [](const std::string& name) -> std::optional<std::string> {
    const char* value = std::getenv(name.c_str());
    if (value == nullptr) return std::nullopt;
    return std::string(value);
  };
}

Result<std::string> SubstituteEnv(std::string_view text, const EnvLookup& env) {
  static constexpr std::string_view kOpen = "${env:";
  if (text.find(kOpen) == std::string_view::npos) return std::string(text);
  std::string out;
  size_t i = 0;
  while (i < text.size()) {
    if (text.compare(i, 3, "$${") == 0) {
      out.append("$${");
      i += 3;
      continue;
    }
    if (text.compare(i, kOpen.size(), kOpen) != 0) {
      out.push_back(text[i++]);
      continue;
    }
    size_t name_start = i + kOpen.size();
    size_t close = text.find('}', name_start);
    if (close == std::string_view::npos) return Status::InvalidArgument("missing '}' after ${env:");
    std::string name(text.substr(name_start, close - name_start));
    bool valid = !name.empty() && !(name[0] >= '0' && name[0] <= '9');
    for (char c : name) {
      valid = valid && ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                        (c >= '0' && c <= '9') || c == '_');
    }
    if (!valid)
      return Status::InvalidArgument("\"" + name + "\" is not an environment variable name");
    std::optional<std::string> value = env(name);
    if (!value) return Status::InvalidArgument("environment variable " + name + " is not set");
    out += *value;
    i = close + 1;
  }
  return out;
}

}  // namespace rivulet::config
