#include "pulse/actors/rmap/encoding.hpp"

#include <charconv>
#include <cstring>

#include "pulse/runtime/errors.hpp"

namespace pulse {

namespace {

bool take_u32(std::string_view& in, uint32_t& out) {
  if (in.size() < 4)
    return false;
  out = 0;
  for (int i = 0; i < 4; ++i)
    out |= static_cast<uint32_t>(static_cast<unsigned char>(in[i])) << (8 * i);
  in.remove_prefix(4);
  return true;
}

bool take_str(std::string_view& in, std::string& out) {
  uint32_t n = 0;
  if (!take_u32(in, n) || in.size() < n)
    return false;
  out.assign(in.data(), n);
  in.remove_prefix(n);
  return true;
}

bool parse_rev(std::string_view s, uint64_t& out) {
  if (s.empty())
    return false;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc{} && ptr == s.data() + s.size();
}

} // namespace

caf::expected<map_notification> decode_notification(std::string_view msg) {
  auto bad = [&](const char* why) {
    return make_error(errc::protocol_error,
                      std::string{"map notification: "} + why);
  };
  auto colon = msg.find(':');
  if (colon == std::string_view::npos)
    return bad("missing ':'");
  auto op = msg.substr(0, colon);
  auto data = msg.substr(colon + 1);
  map_notification n;
  if (op == "set" || op == "del") {
    n.kind = op == "set" ? map_notification::op::set
                         : map_notification::op::del;
    if (!take_str(data, n.key))
      return bad("truncated key");
    if (n.kind == map_notification::op::set && !take_str(data, n.value))
      return bad("truncated value");
    std::string rev;
    if (!take_str(data, rev))
      return bad("truncated revision");
    if (!parse_rev(rev, n.rev))
      return bad("revision is not a decimal number");
    return n;
  }
  if (op == "reset" || op == "destroy") {
    n.kind = op == "reset" ? map_notification::op::reset
                           : map_notification::op::destroy;
    if (!parse_rev(data, n.rev))
      return bad("revision is not a decimal number");
    return n;
  }
  return bad("unknown op");
}

namespace {

void append_utf8(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

// Parses a JSON array of strings; returns false if `s` is anything else.
bool parse_json_list(std::string_view s, std::vector<std::string>& out) {
  size_t i = 0;
  auto ws = [&] {
    while (i < s.size()
           && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r'))
      ++i;
  };
  ws();
  if (i >= s.size() || s[i] != '[')
    return false;
  ++i;
  ws();
  if (i < s.size() && s[i] == ']') {
    ++i;
    ws();
    return i == s.size();
  }
  for (;;) {
    ws();
    if (i >= s.size() || s[i] != '"')
      return false;
    ++i;
    std::string item;
    for (;;) {
      if (i >= s.size())
        return false;
      char c = s[i++];
      if (c == '"')
        break;
      if (c != '\\') {
        item += c;
        continue;
      }
      if (i >= s.size())
        return false;
      char e = s[i++];
      switch (e) {
        case '"': item += '"'; break;
        case '\\': item += '\\'; break;
        case '/': item += '/'; break;
        case 'b': item += '\b'; break;
        case 'f': item += '\f'; break;
        case 'n': item += '\n'; break;
        case 'r': item += '\r'; break;
        case 't': item += '\t'; break;
        case 'u': {
          if (i + 4 > s.size())
            return false;
          uint32_t cp = 0;
          auto [p, ec] = std::from_chars(s.data() + i, s.data() + i + 4, cp,
                                         16);
          if (ec != std::errc{} || p != s.data() + i + 4)
            return false;
          i += 4;
          if (cp >= 0xD800 && cp < 0xDC00 && i + 6 <= s.size()
              && s[i] == '\\' && s[i + 1] == 'u') {
            uint32_t lo = 0;
            auto [p2, ec2] = std::from_chars(s.data() + i + 2,
                                             s.data() + i + 6, lo, 16);
            if (ec2 == std::errc{} && p2 == s.data() + i + 6 && lo >= 0xDC00
                && lo < 0xE000) {
              cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
              i += 6;
            }
          }
          append_utf8(item, cp);
          break;
        }
        default:
          return false;
      }
    }
    out.push_back(std::move(item));
    ws();
    if (i < s.size() && s[i] == ',') {
      ++i;
      continue;
    }
    if (i < s.size() && s[i] == ']') {
      ++i;
      ws();
      return i == s.size();
    }
    return false;
  }
}

} // namespace

std::vector<std::string> decode_list(std::string_view value) {
  std::vector<std::string> result;
  if (parse_json_list(value, result))
    return result;
  result.clear();
  size_t start = 0;
  for (;;) {
    auto pos = value.find(',', start);
    result.emplace_back(value.substr(start, pos - start));
    if (pos == std::string_view::npos)
      break;
    start = pos + 1;
  }
  return result;
}

} // namespace pulse
