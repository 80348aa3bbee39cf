#include <iostream>

#include "cli/commands.h"
#include "config/config_summary.h"

namespace rivulet::cli {

int RunCheck(const GlobalOptions& global) {
  auto config = LoadConfigOrReport(global);
  if (!config) return kExitUsage;
  std::cerr << config::DescribeConfig(*config);
  PrintJsonLine(config::SummarizeConfig(*config));
  return kExitOk;
}

}  // namespace rivulet::cli
