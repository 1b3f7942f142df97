#include "output.hpp"

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <ctime>
#include <iostream>

namespace pulse::cli {

void fail(const std::string& msg) {
  throw cli_error{msg};
}

// -- table --------------------------------------------------------------------

table::table(std::vector<std::string> headers) : headers_(std::move(headers)) {
  // nop
}

void table::add(std::vector<std::string> row) {
  row.resize(headers_.size());
  rows_.push_back(std::move(row));
}

namespace {

// Display width of UTF-8 text: one column per code point.
size_t width(const std::string& s) {
  size_t n = 0;
  for (unsigned char c : s)
    if ((c & 0xC0) != 0x80)
      ++n;
  return n;
}

} // namespace

void table::print(std::ostream& out) const {
  std::vector<size_t> w(headers_.size());
  for (size_t i = 0; i < headers_.size(); ++i)
    w[i] = width(headers_[i]);
  for (auto& row : rows_)
    for (size_t i = 0; i < row.size(); ++i)
      w[i] = std::max(w[i], width(row[i]));
  auto line = [&](const std::vector<std::string>& cells) {
    std::string s;
    for (size_t i = 0; i < cells.size(); ++i) {
      s += cells[i];
      if (i + 1 < cells.size())
        s.append(w[i] - width(cells[i]) + 2, ' ');
    }
    while (!s.empty() && s.back() == ' ')
      s.pop_back();
    s += '\n';
    out << s;
  };
  line(headers_);
  for (auto& row : rows_)
    line(row);
}

// -- JSON ---------------------------------------------------------------------

void print_json(const nlohmann::json& x) {
  std::cout << x.dump(2, ' ', false, nlohmann::json::error_handler_t::replace)
            << '\n';
}

void print_json_line(const nlohmann::json& x) {
  std::cout << x.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace)
            << std::endl;
}

// -- text ---------------------------------------------------------------------

namespace {

// Length of the valid UTF-8 sequence at s[i] (0 if invalid).
size_t utf8_len(const std::string& s, size_t i) {
  auto c = static_cast<unsigned char>(s[i]);
  size_t n = c >= 0xF0 && c < 0xF5 ? 4 : c >= 0xE0 ? 3 : c >= 0xC2 ? 2 : 0;
  if (c >= 0xF8 || n == 0 || i + n > s.size())
    return 0;
  for (size_t k = 1; k < n; ++k)
    if ((static_cast<unsigned char>(s[i + k]) & 0xC0) != 0x80)
      return 0;
  return n;
}

} // namespace

std::string printable(const std::string& x, size_t max) {
  std::string out;
  size_t chars = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    if (max > 0 && chars >= max) {
      out += "...";
      break;
    }
    auto c = static_cast<unsigned char>(x[i]);
    ++chars;
    if (c == '\n') {
      out += "\\n";
    } else if (c == '\t') {
      out += "\\t";
    } else if (c == '\\') {
      out += "\\\\";
    } else if (c >= 0x20 && c < 0x7F) {
      out += static_cast<char>(c);
    } else if (auto n = c >= 0x80 ? utf8_len(x, i) : 0; n > 0) {
      out.append(x, i, n);
      i += n - 1;
    } else {
      char buf[8];
      std::snprintf(buf, sizeof(buf), "\\x%02x", c);
      out += buf;
    }
  }
  return out;
}

std::string format_duration(std::chrono::milliseconds d) {
  auto ms = d.count();
  if (ms < 0)
    return "-" + format_duration(std::chrono::milliseconds{-ms});
  char buf[32];
  if (ms < 1000)
    std::snprintf(buf, sizeof(buf), "%lldms", static_cast<long long>(ms));
  else if (ms < 60'000)
    std::snprintf(buf, sizeof(buf), "%.1fs", static_cast<double>(ms) / 1000);
  else if (ms < 3'600'000)
    std::snprintf(buf, sizeof(buf), "%lldm%02llds",
                  static_cast<long long>(ms / 60'000),
                  static_cast<long long>(ms / 1000 % 60));
  else if (ms < 86'400'000)
    std::snprintf(buf, sizeof(buf), "%lldh%02lldm",
                  static_cast<long long>(ms / 3'600'000),
                  static_cast<long long>(ms / 60'000 % 60));
  else
    std::snprintf(buf, sizeof(buf), "%lldd%02lldh",
                  static_cast<long long>(ms / 86'400'000),
                  static_cast<long long>(ms / 3'600'000 % 24));
  return buf;
}

int64_t to_int(const std::string& x, int64_t fallback) {
  int64_t n = 0;
  auto res = std::from_chars(x.data(), x.data() + x.size(), n);
  return res.ec == std::errc{} && res.ptr == x.data() + x.size() ? n
                                                                 : fallback;
}

int64_t id_ms(const std::string& id) {
  auto dash = id.find('-');
  if (dash == std::string::npos || dash == 0)
    return -1;
  return to_int(id.substr(0, dash), -1);
}

std::string format_time(int64_t unix_ms) {
  if (unix_ms < 0)
    return "-";
  auto secs = static_cast<std::time_t>(unix_ms / 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[40];
  auto n = std::strftime(buf, sizeof(buf), "%Y-%m-%d %H:%M:%S", &tm);
  std::snprintf(buf + n, sizeof(buf) - n, ".%03lld",
                static_cast<long long>(unix_ms % 1000));
  return buf;
}

std::chrono::milliseconds parse_duration(const std::string& text,
                                         const char* what) {
  size_t i = 0;
  while (i < text.size() && (std::isdigit(static_cast<unsigned char>(text[i]))
                             || text[i] == '.'))
    ++i;
  double n = 0;
  try {
    n = i > 0 ? std::stod(text.substr(0, i)) : -1;
  } catch (...) {
    n = -1;
  }
  auto unit = text.substr(i);
  double f = unit.empty() || unit == "s" ? 1000
             : unit == "ms"             ? 1
             : unit == "m" || unit == "min" ? 60'000
             : unit == "h"              ? 3'600'000
             : unit == "d"              ? 86'400'000
                                        : -1;
  if (n < 0 || f < 0)
    fail(std::string{what} + ": not a duration \"" + text
         + "\" (examples: 1500ms, 90s, 15m, 2h, 1d)");
  return std::chrono::milliseconds{static_cast<int64_t>(n * f)};
}

} // namespace pulse::cli
