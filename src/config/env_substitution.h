#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "core/result.h"

namespace rivulet::config {

// Looks an environment variable up; nullopt if unset. Injectable for tests.
using EnvLookup = std::function<std::optional<std::string>(const std::string&)>;

// The process environment.
EnvLookup ProcessEnv();

// Replaces every `${env:NAME}` in `text` with the variable's value (SPEC section 4).
// `$${` stays as written (it is a template's escaped `${`). An unset variable is an
// error: `environment variable RIVULET_ADMIN_TOKEN is not set`.
Result<std::string> SubstituteEnv(std::string_view text, const EnvLookup& env);

}  // namespace rivulet::config
