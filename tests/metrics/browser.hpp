#pragma once

/// Headless Chromium for the dashboard tests: running it on a URL and
/// reading the cells of a table row from the DOM it dumps.

#include <chrono>
#include <regex>
#include <string>
#include <vector>

#include "tests/metrics/metrics_support.hpp"

namespace pulse::test {

/// Runs headless Chromium on `url` with `extra` flags (HOME and profile in
/// `dir`); returns its exit code, stdout and stderr in `out`.
inline int chromium(const std::string& exe, const std::string& dir,
                    const std::string& url, std::vector<std::string> extra,
                    std::string& out) {
  std::vector<std::string> argv{"/usr/bin/env",
                                "HOME=" + dir + "/home",
                                exe,
                                "--headless",
                                "--no-sandbox",
                                "--disable-gpu",
                                "--user-data-dir=" + dir + "/profile",
                                "--virtual-time-budget=8000"};
  argv.insert(argv.end(), extra.begin(), extra.end());
  argv.push_back(url);
  return run_program(argv, "", out, std::chrono::seconds{120});
}

/// The texts of the `<td>` cells of the row `<tr id="row_id">` in `dom`.
inline std::vector<std::string> row_cells(const std::string& dom,
                                          const std::string& row_id) {
  std::vector<std::string> out;
  auto start = dom.find("<tr id=\"" + row_id + "\"");
  if (start == std::string::npos)
    return out;
  auto end = dom.find("</tr>", start);
  auto row = dom.substr(start, end - start);
  std::regex td{"<td[^>]*>([^<]*)"};
  for (auto i = std::sregex_iterator(row.begin(), row.end(), td);
       i != std::sregex_iterator(); ++i)
    out.push_back((*i)[1]);
  return out;
}

} // namespace pulse::test
