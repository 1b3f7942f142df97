#include "pulse/runtime/names.hpp"

#include <array>
#include <chrono>
#include <mutex>
#include <random>

#include "pulse/runtime/errors.hpp"

namespace pulse {

caf::error validate_name(std::string_view name, const char* what) {
  auto bad = [&] {
    return make_error(errc::invalid_argument,
                      std::string{what} + ": not a valid name \""
                        + std::string{name} + "\"");
  };
  size_t code_points = 0;
  for (size_t i = 0; i < name.size(); ++i) {
    auto c = static_cast<unsigned char>(name[i]);
    if ((c & 0xC0) != 0x80)
      ++code_points;
    if (c == ' ' || c == '\0' || c == '*' || c == '?' || c == '[' || c == ']')
      return bad();
  }
  if (code_points == 0 || code_points > 512)
    return bad();
  return caf::none;
}

caf::error validate_key(std::string_view key, const char* what,
                        const char* op) {
  if (key.empty())
    return make_error(errc::invalid_argument,
                      std::string{what} + ": key cannot be empty in \"" + op
                        + "\"");
  if (key.find('=') != std::string_view::npos)
    return make_error(errc::invalid_argument,
                      std::string{what} + ": key \"" + std::string{key}
                        + "\" cannot contain '=' in \"" + op + "\"");
  return caf::none;
}

std::string make_ulid() {
  static std::mutex mtx;
  static std::mt19937_64 rng{std::random_device{}()};
  static uint64_t last_ms = 0;
  static std::array<uint8_t, 10> last_rand{};
  static constexpr char alphabet[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
  std::lock_guard<std::mutex> guard{mtx};
  auto ms = static_cast<uint64_t>(unix_ms());
  std::array<uint8_t, 10> rnd;
  if (ms <= last_ms) {
    // Same (or earlier) millisecond: increment the random part.
    ms = last_ms;
    rnd = last_rand;
    for (int i = 9; i >= 0; --i)
      if (++rnd[i] != 0)
        break;
  } else {
    for (auto& b : rnd)
      b = static_cast<uint8_t>(rng());
  }
  last_ms = ms;
  last_rand = rnd;
  // 128 bits: 48-bit time then 80 random bits, encoded 5 bits at a time.
  std::array<uint8_t, 16> bytes{};
  for (int i = 0; i < 6; ++i)
    bytes[i] = static_cast<uint8_t>(ms >> (8 * (5 - i)));
  for (int i = 0; i < 10; ++i)
    bytes[6 + i] = rnd[i];
  std::string out(26, '0');
  // 130 bits of output for 128 bits of input: the first char holds 3 bits.
  for (int i = 0; i < 26; ++i) {
    int bit = 128 - 5 * (25 - i) - 5; // index of the top bit of this char
    unsigned v = 0;
    for (int b = 0; b < 5; ++b) {
      int pos = bit + b; // from the most significant side, may be negative
      v <<= 1;
      if (pos >= 0)
        v |= (bytes[pos / 8] >> (7 - pos % 8)) & 1u;
    }
    out[i] = alphabet[v];
  }
  return out;
}

int64_t unix_ns() {
  using namespace std::chrono;
  return duration_cast<nanoseconds>(system_clock::now().time_since_epoch())
    .count();
}

int64_t unix_ms() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch())
    .count();
}

} // namespace pulse
