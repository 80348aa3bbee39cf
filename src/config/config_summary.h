#pragma once

#include <string>

#include "config/config.h"
#include "core/json.h"

namespace rivulet::config {

// What a config declares, for `rivulet check`: names and counts, never secrets.
core::Json SummarizeConfig(const Config& config);

// The same as a few lines for people.
std::string DescribeConfig(const Config& config);

}  // namespace rivulet::config
