#include "pulse/actors/redis/resp.hpp"

#include <charconv>

#include <algorithm>

namespace pulse::resp {

namespace {

void append_header(std::vector<char>& out, char prefix, size_t n) {
  char buf[24];
  buf[0] = prefix;
  auto [ptr, ec] = std::to_chars(buf + 1, buf + sizeof(buf) - 2, n);
  (void) ec;
  *ptr++ = '\r';
  *ptr++ = '\n';
  out.insert(out.end(), buf, ptr);
}

// Makes room for `extra` more bytes, growing geometrically: callers append
// command after command to one output buffer, and an exact `reserve` would
// reallocate (and copy the whole buffer) on every append.
void grow(std::vector<char>& out, size_t extra) {
  auto need = out.size() + extra;
  if (need > out.capacity())
    out.reserve(std::max(need, 2 * out.capacity()));
}

void append_bulk(std::vector<char>& out, std::string_view arg) {
  append_header(out, '$', arg.size());
  out.insert(out.end(), arg.begin(), arg.end());
  out.push_back('\r');
  out.push_back('\n');
}

} // namespace

void encode(std::vector<char>& out, const std::vector<std::string>& args) {
  size_t total = 16;
  for (auto& arg : args)
    total += arg.size() + 16;
  grow(out, total);
  append_header(out, '*', args.size());
  for (auto& arg : args)
    append_bulk(out, arg);
}

void encode(std::vector<char>& out,
            std::initializer_list<std::string_view> head,
            std::initializer_list<const std::vector<std::string>*> tails) {
  size_t count = head.size();
  size_t total = 16;
  for (auto& arg : head)
    total += arg.size() + 16;
  for (auto* xs : tails) {
    count += xs->size();
    for (auto& arg : *xs)
      total += arg.size() + 16;
  }
  grow(out, total);
  append_header(out, '*', count);
  for (auto& arg : head)
    append_bulk(out, arg);
  for (auto* xs : tails)
    for (auto& arg : *xs)
      append_bulk(out, arg);
}

std::string encode(const std::vector<std::string>& args) {
  std::vector<char> buf;
  encode(buf, args);
  return std::string{buf.begin(), buf.end()};
}

} // namespace pulse::resp
