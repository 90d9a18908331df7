#pragma once

#include <string>

namespace kps {

/// Our version and the versions of the libraries we link, one per line, for --version.
std::string version_report();

}  // namespace kps
