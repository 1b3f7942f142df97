#pragma once

/// A temporary directory for tests that write files (config files,
/// secrets); removed with everything in it when the object goes away.

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

namespace pulse::test {

struct temp_dir {
  temp_dir() {
    char tmpl[] = "/tmp/pulse-test-XXXXXX";
    path = ::mkdtemp(tmpl);
  }
  ~temp_dir() {
    std::filesystem::remove_all(path);
  }
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;

  /// Writes `text` (bytes as they are) to `name` in the directory and
  /// returns the file's path.
  std::string write(const std::string& name, const std::string& text) {
    auto file = path + "/" + name;
    std::ofstream{file, std::ios::binary} << text;
    return file;
  }

  /// The directory.
  std::string path;
};

} // namespace pulse::test
