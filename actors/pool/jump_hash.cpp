#include "pulse/actors/pool/jump_hash.hpp"

#include <array>

namespace pulse {

namespace {

constexpr uint64_t poly = 0xC96C5795D7870F42ull;

constexpr std::array<uint64_t, 256> make_table() {
  std::array<uint64_t, 256> t{};
  for (uint64_t i = 0; i < 256; ++i) {
    uint64_t c = i;
    for (int k = 0; k < 8; ++k)
      c = (c & 1) ? (c >> 1) ^ poly : c >> 1;
    t[i] = c;
  }
  return t;
}

constexpr auto table = make_table();

} // namespace

uint64_t crc64_xz(std::string_view data) {
  uint64_t crc = ~uint64_t{0};
  for (unsigned char x : data)
    crc = table[(crc ^ x) & 0xFF] ^ (crc >> 8);
  return ~crc;
}

int64_t jump_hash(std::string_view key, int64_t buckets) {
  if (buckets <= 0)
    return -1;
  uint64_t s = crc64_xz(key);
  int64_t b = -1;
  int64_t j = 0;
  // volatile keeps the compiler from fusing or reassociating: the order
  // (quotient first, then the product) is part of the contract.
  while (j < buckets) {
    b = j;
    s = s * 2862933555777941757ull + 1;
    volatile double q = 2147483648.0 / static_cast<double>((s >> 33) + 1);
    volatile double p = static_cast<double>(b + 1) * q;
    j = static_cast<int64_t>(p);
  }
  return b;
}

} // namespace pulse
