#include "pulse/actors/redis/cluster_slot.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <cstdlib>
#include <string>

namespace pulse::cluster {

namespace {

// The 256-entry table of CRC16/XMODEM, built once at compile time.
constexpr std::array<uint16_t, 256> make_crc16_table() {
  std::array<uint16_t, 256> table{};
  for (unsigned i = 0; i < 256; ++i) {
    uint16_t crc = static_cast<uint16_t>(i << 8);
    for (int bit = 0; bit < 8; ++bit)
      crc = (crc & 0x8000) ? static_cast<uint16_t>((crc << 1) ^ 0x1021)
                           : static_cast<uint16_t>(crc << 1);
    table[i] = crc;
  }
  return table;
}

constexpr auto crc16_table = make_crc16_table();

// Upper-case copy of a command name (names are short).
std::string upper_name(const std::string& x) {
  std::string result = x;
  for (auto& c : result)
    c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return result;
}

// Parses a non-negative count argument; -1 when it is not one.
long count_arg(const std::string& x) {
  if (x.empty() || x.size() > 9)
    return -1;
  for (auto c : x)
    if (c < '0' || c > '9')
      return -1;
  return std::strtol(x.c_str(), nullptr, 10);
}

// Positions first .. first + n - 1, clamped to the arguments present.
std::vector<size_t> key_range(size_t first, long n, size_t size) {
  std::vector<size_t> result;
  for (long i = 0; i >= 0 && i < n && first + i < size; ++i)
    result.push_back(first + static_cast<size_t>(i));
  return result;
}

} // namespace

uint16_t crc16(std::string_view data) noexcept {
  uint16_t crc = 0;
  for (auto c : data)
    crc = static_cast<uint16_t>(
      (crc << 8) ^ crc16_table[((crc >> 8) ^ static_cast<uint8_t>(c)) & 0xFF]);
  return crc;
}

std::string_view hash_tag(std::string_view key) noexcept {
  auto open = key.find('{');
  if (open == std::string_view::npos)
    return key;
  auto close = key.find('}', open + 1);
  if (close == std::string_view::npos || close == open + 1)
    return key;
  return key.substr(open + 1, close - open - 1);
}

uint16_t key_slot(std::string_view key) noexcept {
  return crc16(hash_tag(key)) & (slot_count - 1);
}

std::vector<size_t> key_positions(const std::vector<std::string>& args) {
  auto n = args.size();
  if (n < 2)
    return {};
  auto name = upper_name(args[0]);
  if (name == "PING" || name == "PUBLISH" || name == "SPUBLISH"
      || name == "INFO" || name == "SCRIPT" || name == "CLIENT"
      || name == "WAIT" || name == "CLUSTER" || name == "CONFIG"
      || name == "AUTH" || name == "SELECT" || name == "HELLO"
      || name == "ECHO" || name == "TIME" || name == "DBSIZE"
      || name == "FLUSHALL" || name == "FLUSHDB" || name == "KEYS"
      || name == "SCAN" || name == "FUNCTION" || name == "ROLE"
      || name == "ASKING" || name == "READONLY" || name == "MULTI"
      || name == "EXEC" || name == "DISCARD" || name == "ACL"
      || name == "COMMAND" || name == "DEBUG" || name == "SUBSCRIBE"
      || name == "PSUBSCRIBE" || name == "PUBSUB" || name == "SHUTDOWN"
      || name == "SAVE" || name == "BGSAVE" || name == "LASTSAVE")
    return {};
  if (name == "EVAL" || name == "EVALSHA" || name == "EVAL_RO"
      || name == "EVALSHA_RO" || name == "FCALL" || name == "FCALL_RO")
    return n > 2 ? key_range(3, count_arg(args[2]), n) : std::vector<size_t>{};
  if (name == "XREAD" || name == "XREADGROUP") {
    for (size_t i = 1; i < n; ++i)
      if (upper_name(args[i]) == "STREAMS")
        return key_range(i + 1, static_cast<long>((n - i - 1) / 2), n);
    return {};
  }
  if (name == "BLMPOP" || name == "BZMPOP")
    return n > 2 ? key_range(3, count_arg(args[2]), n) : std::vector<size_t>{};
  if (name == "LMPOP" || name == "ZMPOP" || name == "SINTERCARD"
      || name == "ZINTERCARD")
    return key_range(2, count_arg(args[1]), n);
  if (name == "BLPOP" || name == "BRPOP" || name == "BZPOPMIN"
      || name == "BZPOPMAX")
    return key_range(1, static_cast<long>(n) - 2, n);
  if (name == "DEL" || name == "EXISTS" || name == "UNLINK" || name == "MGET"
      || name == "TOUCH" || name == "WATCH" || name == "SUNION"
      || name == "SINTER" || name == "SDIFF" || name == "PFCOUNT")
    return key_range(1, static_cast<long>(n) - 1, n);
  if (name == "MSET" || name == "MSETNX") {
    std::vector<size_t> result;
    for (size_t i = 1; i < n; i += 2)
      result.push_back(i);
    return result;
  }
  if (name == "XGROUP" || name == "XINFO" || name == "OBJECT"
      || name == "MEMORY")
    return n > 2 ? std::vector<size_t>{2} : std::vector<size_t>{};
  if (name == "RENAME" || name == "RENAMENX" || name == "LMOVE"
      || name == "BLMOVE" || name == "RPOPLPUSH" || name == "BRPOPLPUSH"
      || name == "SMOVE" || name == "COPY")
    return key_range(1, 2, n);
  return {1};
}

std::optional<uint16_t> command_slot(const command& cmd) {
  auto pos = key_positions(cmd.args);
  if (pos.empty())
    return std::nullopt;
  return key_slot(cmd.args[pos.front()]);
}

bool same_slot(const std::vector<std::string>& keys) noexcept {
  if (keys.size() < 2)
    return true;
  auto first = key_slot(keys.front());
  return std::all_of(keys.begin() + 1, keys.end(), [first](const auto& k) {
    return key_slot(k) == first;
  });
}

} // namespace pulse::cluster
