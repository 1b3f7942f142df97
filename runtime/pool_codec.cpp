#include "runtime/pool_codec.hpp"

#include "runtime/errors.hpp"

namespace pulse::pool_codec {

namespace {

void put_i32(std::string& out, size_t n) {
  auto v = static_cast<uint32_t>(n);
  for (int i = 0; i < 4; ++i)
    out.push_back(static_cast<char>((v >> (8 * i)) & 0xFF));
}

void put_str(std::string& out, const std::string& s) {
  put_i32(out, s.size());
  out += s;
}

/// Reads fields off the front of a buffer; the first failure sticks.
struct reader {
  std::string_view in;
  const char* what;
  bool ok = true;

  std::string str() {
    if (!ok || in.size() < 4) {
      ok = false;
      return {};
    }
    uint32_t n = 0;
    for (int i = 0; i < 4; ++i)
      n |= static_cast<uint32_t>(static_cast<unsigned char>(in[i])) << (8 * i);
    in.remove_prefix(4);
    if (static_cast<int32_t>(n) < 0 || in.size() < n) {
      ok = false;
      return {};
    }
    std::string s{in.substr(0, n)};
    in.remove_prefix(n);
    return s;
  }

  int64_t i64() {
    if (!ok || in.size() < 8) {
      ok = false;
      return 0;
    }
    uint64_t v = 0;
    for (int i = 0; i < 8; ++i)
      v |= static_cast<uint64_t>(static_cast<unsigned char>(in[i])) << (8 * i);
    in.remove_prefix(8);
    return static_cast<int64_t>(v);
  }

  uint8_t u8() {
    if (!ok || in.empty()) {
      ok = false;
      return 0;
    }
    auto v = static_cast<uint8_t>(in[0]);
    in.remove_prefix(1);
    return v;
  }

  caf::error error() const {
    return make_error(errc::protocol_error,
                      std::string{"truncated "} + what + " record");
  }
};

} // namespace

std::string encode(const job& x) {
  std::string out;
  out.reserve(21 + x.key.size() + x.node_id.size() + x.payload.size());
  put_str(out, x.key);
  put_str(out, x.node_id);
  put_str(out, x.payload);
  auto v = static_cast<uint64_t>(x.created_at);
  for (int i = 0; i < 8; ++i)
    out.push_back(static_cast<char>((v >> (8 * i)) & 0xFF));
  out.push_back(x.requeued ? 1 : 0);
  return out;
}

std::string encode_job_key(const std::string& key) {
  std::string out;
  put_str(out, key);
  return out;
}

std::string encode(const notification& x) {
  std::string out;
  put_str(out, x.key);
  put_str(out, x.payload);
  return out;
}

std::string encode(const envelope& x) {
  std::string out;
  put_str(out, x.sender);
  put_str(out, x.inner);
  return out;
}

std::string encode(const ack& x) {
  std::string out;
  put_str(out, x.event_id);
  put_str(out, x.error);
  return out;
}

caf::expected<job> decode_job(std::string_view bytes) {
  reader r{bytes, "job"};
  job x;
  x.key = r.str();
  x.node_id = r.str();
  x.payload = r.str();
  x.created_at = r.i64();
  x.requeued = r.u8() != 0;
  if (!r.ok)
    return r.error();
  return x;
}

caf::expected<std::string> decode_job_key(std::string_view bytes) {
  reader r{bytes, "job key"};
  auto key = r.str();
  if (!r.ok)
    return r.error();
  return key;
}

caf::expected<notification> decode_notification(std::string_view bytes) {
  reader r{bytes, "notification"};
  notification x;
  x.key = r.str();
  x.payload = r.str();
  if (!r.ok)
    return r.error();
  return x;
}

caf::expected<envelope> decode_envelope(std::string_view bytes) {
  reader r{bytes, "envelope"};
  envelope x;
  x.sender = r.str();
  x.inner = r.str();
  if (!r.ok)
    return r.error();
  return x;
}

caf::expected<ack> decode_ack(std::string_view bytes) {
  reader r{bytes, "ack"};
  ack x;
  x.event_id = r.str();
  x.error = r.str();
  if (!r.ok)
    return r.error();
  return x;
}

} // namespace pulse::pool_codec
