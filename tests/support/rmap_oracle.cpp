#include "tests/support/rmap_oracle.hpp"

namespace pulse::test {

namespace {

void put_u32(std::string& out, size_t n) {
  auto v = static_cast<uint32_t>(n);
  for (int i = 0; i < 4; ++i)
    out.push_back(static_cast<char>((v >> (8 * i)) & 0xFF));
}

} // namespace

std::string encode_notification(const map_notification& n) {
  std::string out;
  auto rev = std::to_string(n.rev);
  switch (n.kind) {
    case map_notification::op::set:
      out = "set:";
      put_u32(out, n.key.size());
      out += n.key;
      put_u32(out, n.value.size());
      out += n.value;
      put_u32(out, rev.size());
      out += rev;
      break;
    case map_notification::op::del:
      out = "del:";
      put_u32(out, n.key.size());
      out += n.key;
      put_u32(out, rev.size());
      out += rev;
      break;
    case map_notification::op::reset:
      out = "reset:" + rev;
      break;
    case map_notification::op::destroy:
      out = "destroy:" + rev;
      break;
  }
  return out;
}

std::string encode_list(const std::vector<std::string>& items) {
  std::string out = "[";
  static constexpr char hex[] = "0123456789abcdef";
  for (size_t i = 0; i < items.size(); ++i) {
    if (i > 0)
      out += ',';
    out += '"';
    for (unsigned char c : items[i]) {
      switch (c) {
        case '"': out += "\\\""; break;
        case '\\': out += "\\\\"; break;
        case '/': out += "\\/"; break;
        case '\b': out += "\\b"; break;
        case '\f': out += "\\f"; break;
        case '\n': out += "\\n"; break;
        case '\r': out += "\\r"; break;
        case '\t': out += "\\t"; break;
        default:
          if (c < 0x20 || c == 0x7f) {
            out += "\\u00";
            out += hex[c >> 4];
            out += hex[c & 0xF];
          } else {
            out += static_cast<char>(c);
          }
      }
    }
    out += '"';
  }
  out += ']';
  return out;
}

} // namespace pulse::test
