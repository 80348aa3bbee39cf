#include "core/url.h"

namespace rivulet::core {

std::pair<std::string, std::string> SplitOriginAndPath(const std::string& url) {
  const size_t scheme = url.find("://");
  const size_t path = url.find('/', scheme == std::string::npos ? 0 : scheme + 3);
  if (path == std::string::npos) return {url, "/"};
  return {url.substr(0, path), url.substr(path)};
}

}  // namespace rivulet::core
