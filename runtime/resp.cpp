#include "runtime/resp.hpp"

#include <charconv>
#include <cstring>

#include <hiredis/hiredis.h>
#include <hiredis/read.h>

#include "runtime/errors.hpp"

namespace pulse::resp {

const char* to_string(kind x) {
  switch (x) {
    case kind::nil: return "nil";
    case kind::status: return "status";
    case kind::error: return "error";
    case kind::integer: return "integer";
    case kind::bulk: return "bulk";
    case kind::array: return "array";
  }
  return "?";
}

value value::make_status(std::string s) {
  value v;
  v.type = kind::status;
  v.str = std::move(s);
  return v;
}

value value::make_error(std::string s) {
  value v;
  v.type = kind::error;
  v.str = std::move(s);
  return v;
}

value value::make_integer(int64_t i) {
  value v;
  v.type = kind::integer;
  v.integer = i;
  return v;
}

value value::make_bulk(std::string s) {
  value v;
  v.type = kind::bulk;
  v.str = std::move(s);
  return v;
}

value value::make_array(std::vector<value> xs) {
  value v;
  v.type = kind::array;
  v.elements = std::move(xs);
  return v;
}

caf::optional<std::string> value::as_string() const {
  if (is_string())
    return str;
  return caf::none;
}

caf::optional<int64_t> value::as_integer() const {
  if (type == kind::integer)
    return integer;
  if (is_string() && !str.empty()) {
    int64_t result = 0;
    auto first = str.data();
    auto last = first + str.size();
    auto [ptr, ec] = std::from_chars(first, last, result);
    if (ec == std::errc{} && ptr == last)
      return result;
  }
  return caf::none;
}

std::string value::render() const {
  switch (type) {
    case kind::nil: return "(nil)";
    case kind::status: return str;
    case kind::error: return "(error) " + str;
    case kind::integer: return "(integer) " + std::to_string(integer);
    case kind::bulk: return "\"" + str + "\"";
    case kind::array: {
      std::string result = "[";
      for (size_t i = 0; i < elements.size(); ++i) {
        if (i > 0)
          result += ", ";
        result += elements[i].render();
      }
      result += "]";
      return result;
    }
  }
  return "?";
}

bool operator==(const value& x, const value& y) {
  return x.type == y.type && x.str == y.str && x.integer == y.integer
         && x.elements == y.elements;
}

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

} // namespace

void encode(std::vector<char>& out, const std::vector<std::string>& args) {
  size_t total = 16;
  for (auto& arg : args)
    total += arg.size() + 16;
  out.reserve(out.size() + total);
  append_header(out, '*', args.size());
  for (auto& arg : args) {
    append_header(out, '$', arg.size());
    out.insert(out.end(), arg.begin(), arg.end());
    out.push_back('\r');
    out.push_back('\n');
  }
}

std::string encode(const std::vector<std::string>& args) {
  std::vector<char> buf;
  encode(buf, args);
  return std::string{buf.begin(), buf.end()};
}

namespace {

value convert(const redisReply* r) {
  switch (r->type) {
    case REDIS_REPLY_STATUS:
      return value::make_status(std::string{r->str, r->len});
    case REDIS_REPLY_ERROR:
      return value::make_error(std::string{r->str, r->len});
    case REDIS_REPLY_INTEGER:
      return value::make_integer(r->integer);
    case REDIS_REPLY_STRING:
      return value::make_bulk(std::string{r->str, r->len});
    case REDIS_REPLY_ARRAY: {
      std::vector<value> xs;
      xs.reserve(r->elements);
      for (size_t i = 0; i < r->elements; ++i)
        xs.emplace_back(convert(r->element[i]));
      return value::make_array(std::move(xs));
    }
    default:
      return value::make_nil();
  }
}

} // namespace

struct decoder::impl {
  redisReader* reader = nullptr;
  impl() : reader(redisReaderCreate()) {
    // 0 disables hiredis' idle-buffer shrinking; keep the default (16 KiB).
  }
  ~impl() {
    if (reader != nullptr)
      redisReaderFree(reader);
  }
};

decoder::decoder() : impl_(std::make_unique<impl>()) {
  // nop
}

decoder::~decoder() {
  // nop
}

caf::error decoder::feed(const char* data, size_t n) {
  if (redisReaderFeed(impl_->reader, data, n) != REDIS_OK)
    return make_error(errc::protocol_error,
                      std::string{"RESP reader: "} + impl_->reader->errstr);
  return caf::none;
}

caf::expected<bool> decoder::next(value& out) {
  void* reply = nullptr;
  if (redisReaderGetReply(impl_->reader, &reply) != REDIS_OK)
    return make_error(errc::protocol_error,
                      std::string{"RESP reader: "} + impl_->reader->errstr);
  if (reply == nullptr)
    return false;
  auto r = static_cast<redisReply*>(reply);
  out = convert(r);
  freeReplyObject(r);
  return true;
}

void decoder::reset() {
  impl_ = std::make_unique<impl>();
}

caf::expected<value> decode_one(std::string_view bytes) {
  decoder dec;
  if (auto err = dec.feed(bytes.data(), bytes.size()))
    return err;
  value result;
  auto got = dec.next(result);
  if (!got)
    return got.error();
  if (!*got)
    return make_error(errc::protocol_error, "incomplete reply");
  return result;
}

} // namespace pulse::resp
