#include "pulse/actors/redis/resp.hpp"

#include <charconv>
#include <cstring>

#include <algorithm>

#include "pulse/runtime/errors.hpp"

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

/// A decoder whose buffer is empty keeps at most this much capacity.
constexpr size_t max_idle_buffer = 1024 * 1024;

/// Our own incremental RESP2 parser: replies are built directly as
/// `value`s (no intermediate allocation per reply). Input accumulates in
/// `buf`; `pos` is where the next reply starts. An incomplete reply is
/// parsed again from its start once more bytes arrived.
struct decoder::impl {
  std::string buf;
  size_t pos = 0;
  bool failed = false;
  std::string error;
  /// The pending reply cannot be complete before the buffer has this size.
  size_t need = 0;

  enum class status { ok, incomplete, bad };

  // Reads a line ending in \r\n starting at `i`; sets `end` to the index
  // after it.
  status line(size_t i, size_t& line_end, size_t& next) const {
    auto cr = buf.find('\r', i);
    if (cr == std::string::npos || cr + 1 >= buf.size())
      return status::incomplete;
    if (buf[cr + 1] != '\n')
      return status::bad;
    line_end = cr;
    next = cr + 2;
    return status::ok;
  }

  static bool to_int(const char* first, const char* last, int64_t& out) {
    auto [ptr, ec] = std::from_chars(first, last, out);
    return ec == std::errc{} && ptr == last && first != last;
  }

  // Resumable completeness check of the reply starting at `pos`, without
  // building anything: `scan_pos` is the next header to read and `open`
  // holds how many elements each enclosing array still expects, so every
  // byte is scanned once however many chunks the reply arrives in.
  size_t scan_pos = 0;
  std::vector<int64_t> open;
  bool scanning = false;

  status scan(size_t& reply_end) {
    if (!scanning) {
      scanning = true;
      scan_pos = pos;
      open.clear();
    }
    for (;;) {
      if (scan_pos >= buf.size()) {
        need = std::max(need, scan_pos + 1);
        return status::incomplete;
      }
      char type = buf[scan_pos];
      size_t end = 0;
      size_t next = 0;
      auto st = line(scan_pos + 1, end, next);
      if (st == status::bad) {
        error = "line without \\n";
        return st;
      }
      if (st == status::incomplete) {
        need = std::max(need, buf.size() + 1);
        return st;
      }
      const char* first = buf.data() + scan_pos + 1;
      const char* last = buf.data() + end;
      int64_t n = 0;
      bool element_done = true;
      switch (type) {
        case '+':
        case '-':
          scan_pos = next;
          break;
        case ':':
          if (!to_int(first, last, n)) {
            error = "bad integer";
            return status::bad;
          }
          scan_pos = next;
          break;
        case '$':
          if (!to_int(first, last, n) || n < -1) {
            error = "bad bulk length";
            return status::bad;
          }
          if (n >= 0 && buf.size() < next + static_cast<size_t>(n) + 2) {
            need = std::max(need, next + static_cast<size_t>(n) + 2);
            return status::incomplete; // re-read this header next time
          }
          scan_pos = n >= 0 ? next + static_cast<size_t>(n) + 2 : next;
          break;
        case '*':
          if (!to_int(first, last, n) || n < -1) {
            error = "bad array length";
            return status::bad;
          }
          scan_pos = next;
          if (n > 0) {
            if (open.size() >= 64) {
              error = "nesting too deep";
              return status::bad;
            }
            open.push_back(n);
            element_done = false;
          }
          break;
        default:
          return bad_type(type);
      }
      if (!element_done)
        continue;
      // One element completed: close every array it completes.
      while (!open.empty() && --open.back() == 0)
        open.pop_back();
      if (open.empty()) {
        scanning = false;
        reply_end = scan_pos;
        return status::ok;
      }
    }
  }

  status bad_type(char type) {
    static constexpr char hex[] = "0123456789abcdef";
    auto b = static_cast<unsigned char>(type);
    error = std::string{"unknown type byte 0x"} + hex[b >> 4] + hex[b & 0xF];
    return status::bad;
  }

  status parse(size_t& i, value& out, int depth) {
    if (depth > 64) {
      error = "nesting too deep";
      return status::bad;
    }
    if (i >= buf.size())
      return status::incomplete;
    char type = buf[i];
    size_t end = 0;
    size_t next = 0;
    auto st = line(i + 1, end, next);
    if (st != status::ok) {
      if (st == status::bad)
        error = "line without \\n";
      return st;
    }
    const char* first = buf.data() + i + 1;
    const char* last = buf.data() + end;
    switch (type) {
      case '+':
        out = value::make_status(std::string{first, last});
        i = next;
        return status::ok;
      case '-':
        out = value::make_error(std::string{first, last});
        i = next;
        return status::ok;
      case ':': {
        int64_t n = 0;
        if (!to_int(first, last, n)) {
          error = "bad integer";
          return status::bad;
        }
        out = value::make_integer(n);
        i = next;
        return status::ok;
      }
      case '$': {
        int64_t n = 0;
        if (!to_int(first, last, n) || n < -1) {
          error = "bad bulk length";
          return status::bad;
        }
        if (n == -1) {
          out = value::make_nil();
          i = next;
          return status::ok;
        }
        auto len = static_cast<size_t>(n);
        if (buf.size() < next + len + 2)
          return status::incomplete;
        if (buf[next + len] != '\r' || buf[next + len + 1] != '\n') {
          error = "bulk without \\r\\n";
          return status::bad;
        }
        out = value::make_bulk(buf.substr(next, len));
        i = next + len + 2;
        return status::ok;
      }
      case '*': {
        int64_t n = 0;
        if (!to_int(first, last, n) || n < -1) {
          error = "bad array length";
          return status::bad;
        }
        if (n == -1) {
          out = value::make_nil();
          i = next;
          return status::ok;
        }
        value arr;
        arr.type = kind::array;
        // Do not trust the length for the reservation: bound it by the
        // bytes present (each element takes at least 3 bytes).
        arr.elements.reserve(std::min<size_t>(static_cast<size_t>(n),
                                              (buf.size() - next) / 3 + 1));
        size_t j = next;
        for (int64_t k = 0; k < n; ++k) {
          value elem;
          auto est = parse(j, elem, depth + 1);
          if (est != status::ok)
            return est;
          arr.elements.emplace_back(std::move(elem));
        }
        out = std::move(arr);
        i = j;
        return status::ok;
      }
      default:
        return bad_type(type);
    }
  }
};

decoder::decoder() : impl_(std::make_unique<impl>()) {
  // nop
}

decoder::~decoder() {
  // nop
}

caf::error decoder::feed(const char* data, size_t n) {
  if (impl_->failed)
    return make_error(errc::protocol_error, "RESP reader: " + impl_->error);
  // Drop consumed bytes before appending, keeping the buffer small.
  if (impl_->pos > 0) {
    impl_->need -= std::min(impl_->need, impl_->pos);
    if (impl_->scanning)
      impl_->scan_pos -= impl_->pos;
    impl_->buf.erase(0, impl_->pos);
    impl_->pos = 0;
    if (impl_->buf.capacity() > max_idle_buffer
        && impl_->buf.size() + n < max_idle_buffer / 4)
      impl_->buf.shrink_to_fit();
  }
  impl_->buf.append(data, n);
  return caf::none;
}

caf::expected<bool> decoder::next(value& out) {
  if (impl_->failed)
    return make_error(errc::protocol_error, "RESP reader: " + impl_->error);
  if (impl_->buf.size() < impl_->need)
    return false;
  impl_->need = 0;
  size_t reply_end = 0;
  auto complete = impl_->scan(reply_end);
  if (complete == impl::status::incomplete)
    return false;
  if (complete == impl::status::bad) {
    impl_->failed = true;
    return make_error(errc::protocol_error, "RESP reader: " + impl_->error);
  }
  size_t i = impl_->pos;
  switch (impl_->parse(i, out, 0)) {
    case impl::status::ok:
      impl_->pos = i;
      if (impl_->pos == impl_->buf.size()) {
        // A large reply (HGETALL of a big hash) grew the buffer: free it
        // rather than keep that much idle per connection.
        if (impl_->buf.capacity() > max_idle_buffer)
          std::string{}.swap(impl_->buf);
        else
          impl_->buf.clear();
        impl_->pos = 0;
      }
      return true;
    case impl::status::incomplete:
      return false;
    case impl::status::bad:
    default:
      impl_->failed = true;
      return make_error(errc::protocol_error, "RESP reader: " + impl_->error);
  }
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
