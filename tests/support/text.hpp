#pragma once

/// Small text helpers shared by tests.

#include <string>

namespace pulse::test {

/// Whether `text` contains `part`.
inline bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

} // namespace pulse::test
