#pragma once

/// Redis Cluster key slots: CRC16/XMODEM of a key (or of its hash tag)
/// modulo 16384, and the key a command is routed by. Pure functions, no I/O.

#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

#include "pulse/messages/redis.hpp"

namespace pulse::cluster {

/// Number of hash slots of a Redis Cluster.
constexpr uint16_t slot_count = 16384;

/// Returns CRC16/XMODEM of `data` (polynomial 0x1021, initial value 0, no
/// reflection, no final XOR): `crc16("123456789") == 0x31C3`.
uint16_t crc16(std::string_view data) noexcept;

/// Returns the part of `key` that is hashed: the bytes between the first
/// `{` and the first `}` after it when there is at least one, else the
/// whole key (`{}x` hashes `{}x`, `x{y}{z}` hashes `y`).
std::string_view hash_tag(std::string_view key) noexcept;

/// Returns the cluster slot of `key`: `crc16(hash_tag(key)) & 16383`.
uint16_t key_slot(std::string_view key) noexcept;

/// Returns the positions in `args` (the command name first) of the keys a
/// command names, as Redis' key specs list them for the commands Pulse
/// issues: the first argument for ordinary key commands (`GET`, `SET`,
/// `HSET`, `XADD`, `XACK`, `XAUTOCLAIM`, ...), every key of `DEL`/`EXISTS`/
/// `UNLINK`/`MGET`/`TOUCH`, the second argument of `XGROUP`/`XINFO`/
/// `OBJECT`/`MEMORY`, the declared keys of `EVAL`/`EVALSHA`/`FCALL`, the
/// keys after `STREAMS` of `XREAD`/`XREADGROUP`, the keys of `BLMPOP`/
/// `LMPOP`/`BZMPOP`/`ZMPOP` and the keys of `BLPOP`/`BRPOP`/`BZPOPMIN`/
/// `BZPOPMAX` (all but the trailing timeout). Empty for keyless commands
/// (`PING`, `PUBLISH`, `INFO`, `SCRIPT`, `CLIENT`, `WAIT`, `CLUSTER`, ...).
std::vector<size_t> key_positions(const std::vector<std::string>& args);

/// Returns the slot a command is routed by: the slot of its first key
/// (`key_positions`), or `nullopt` for a keyless command (any master may
/// run it).
std::optional<uint16_t> command_slot(const command& cmd);

/// Returns whether all `keys` hash to one slot (true when there are fewer
/// than two).
bool same_slot(const std::vector<std::string>& keys) noexcept;

} // namespace pulse::cluster
