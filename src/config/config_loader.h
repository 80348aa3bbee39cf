#pragma once

#include <string>
#include <string_view>

#include "config/config.h"
#include "config/env_substitution.h"
#include "core/result.h"

namespace rivulet::config {

// Loads and validates a config file (SPEC section 4). On failure the Status is
// InvalidArgument and its message lists every error found, one per line, each as
// `file:line:col: key.path: message`; its details hold them as a JSON array.
Result<Config> LoadConfigFile(const std::string& path, const EnvLookup& env = ProcessEnv());

// The same for YAML text. `file` names it in errors; `base_dir` resolves relative paths.
Result<Config> LoadConfigString(std::string_view yaml, const std::string& file,
                                const std::string& base_dir, const EnvLookup& env = ProcessEnv());

}  // namespace rivulet::config
