#pragma once

#include <string>
#include <utility>

namespace rivulet::core {

// "http://host:port/prefix/path" -> {"http://host:port", "/prefix/path"}; a URL without
// a path gets "/". The origin is what an HTTP client connects to, the path what it asks.
std::pair<std::string, std::string> SplitOriginAndPath(const std::string& url);

}  // namespace rivulet::core
