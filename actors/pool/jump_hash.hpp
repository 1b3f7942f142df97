#pragma once

#include <cstdint>
#include <string_view>

namespace pulse {

/// CRC-64/XZ (Go's `crc64` with the ECMA table): reflected polynomial
/// 0xC96C5795D7870F42, init and xorout all ones. Check value of
/// "123456789": 0x995DC9BBDF1939FA.
uint64_t crc64_xz(std::string_view data);

/// Jump consistent hash of `key` into `buckets` buckets, bit-exact with Go
/// Pulse v1.6.5: seeded with CRC-64/XZ of the key, computing the quotient
/// before the product in IEEE binary64 (see the protocol reference, §6.2).
/// Returns -1 when `buckets <= 0`.
int64_t jump_hash(std::string_view key, int64_t buckets);

} // namespace pulse
