#include "pulse/actors/streaming/trim.hpp"

#include <algorithm>
#include <charconv>
#include <utility>

#include "pulse/actors/redis/client.hpp"
#include "pulse/actors/streaming/stream.hpp"
#include "pulse/runtime/log.hpp"

namespace pulse {

namespace {

// Finds `name` in a flat RESP2 map `[k1, v1, k2, v2, ...]`.
const resp::value* field(const resp::value& map, const std::string& name) {
  if (!map.is_array())
    return nullptr;
  for (size_t i = 0; i + 1 < map.elements.size(); i += 2)
    if (map.elements[i].str == name)
      return &map.elements[i + 1];
  return nullptr;
}

// Splits `<ms>-<seq>`; an invalid ID parses as 0-0.
std::pair<uint64_t, uint64_t> split_id(const std::string& id) {
  uint64_t ms = 0;
  uint64_t seq = 0;
  auto dash = id.find('-');
  auto end = id.data() + (dash == std::string::npos ? id.size() : dash);
  std::from_chars(id.data(), end, ms);
  if (dash != std::string::npos)
    std::from_chars(id.data() + dash + 1, id.data() + id.size(), seq);
  return {ms, seq};
}

} // namespace

namespace trim_watch {

uint64_t report(const std::vector<resp::value>& replies,
                const std::string& group, const std::string& stream,
                uint64_t known) {
  auto r = parse_trim_check(replies, group);
  if (!r.lost)
    return 0;
  if (r.count <= known)
    return 0;
  log::warn("sink lost events trimmed before it read them sink={} "
            "stream={} last_delivered={} first_entry={} lost={} (raise "
            "the stream's max-len or keep the sink running)",
            group, stream, r.last_delivered, r.first_entry, r.count);
  return r.count - known;
}

uint64_t check(client& c, const std::string& group, const std::string& stream,
               uint64_t known) {
  auto res = c.batch(trim_check_commands(stream_key(stream)));
  if (!res)
    return 0;
  return report(*res, group, stream, known);
}

} // namespace trim_watch

bool entry_id_after(const std::string& a, const std::string& b) {
  return split_id(a) > split_id(b);
}

group_backlog parse_group_backlog(const resp::value& groups,
                                  const std::string& group) {
  group_backlog r;
  if (!groups.is_array())
    return r;
  for (auto& g : groups.elements) {
    auto name = field(g, "name");
    if (!name || name->str != group)
      continue;
    r.found = true;
    if (auto p = field(g, "pending"); p && p->as_integer() && *p->as_integer() > 0)
      r.pending = static_cast<uint64_t>(*p->as_integer());
    if (auto l = field(g, "lag"); l && !l->is_nil() && l->as_integer())
      r.lag = *l->as_integer();
    if (auto e = field(g, "entries-read"); e && !e->is_nil() && e->as_integer())
      r.entries_read = *e->as_integer();
    break;
  }
  return r;
}

std::vector<command> trim_check_commands(const std::string& key) {
  return {make_command("XINFO", "STREAM", key),
          make_command("XINFO", "GROUPS", key)};
}

trim_report parse_trim_check(const std::vector<resp::value>& replies,
                             const std::string& group) {
  trim_report r;
  if (replies.size() != 2 || !replies[0].is_array()
      || !replies[1].is_array())
    return r;
  auto& info = replies[0];
  const resp::value* g = nullptr;
  for (auto& x : replies[1].elements)
    if (auto name = field(x, "name"); name && name->str == group)
      g = &x;
  auto last = g ? field(*g, "last-delivered-id") : nullptr;
  if (!last || !last->is_string())
    return r;
  r.last_delivered = last->str;
  // The oldest entry still in the stream; none when it is empty.
  auto first = field(info, "first-entry");
  if (first && first->is_array() && !first->elements.empty())
    r.first_entry = first->elements[0].str;
  // Trimming only removes entries older than the first one left: the group
  // lost some only if it had not read up to there.
  if (!r.first_entry.empty()
      && !entry_id_after(r.first_entry, r.last_delivered))
    return r;
  auto number = [](const resp::value* x) -> caf::optional<int64_t> {
    if (x == nullptr || x->is_nil())
      return caf::none;
    return x->as_integer();
  };
  auto added = number(field(info, "entries-added"));
  auto length = number(field(info, "length"));
  auto read = number(field(*g, "entries-read"));
  if (!added || !length || !read)
    return r; // Redis cannot count: report nothing rather than guess
  // Everything after the group's position is in the stream now, so what
  // it has not read beyond the stream's length is gone.
  auto lost = *added - *read - *length;
  if (lost > 0) {
    r.lost = true;
    r.count = static_cast<uint64_t>(lost);
  }
  return r;
}

const script& safe_add_script() {
  static const script s{R"lua(
local key = KEYS[1]
local max_len = tonumber(ARGV[2])
-- Compares two non-negative decimal strings without leading zeros.
local function num_cmp(a, b)
  if #a ~= #b then return #a < #b and -1 or 1 end
  if a == b then return 0 end
  return a < b and -1 or 1
end
-- Compares stream IDs <ms>-<seq> exactly (both parts are 64-bit).
local function id_cmp(a, b)
  local am, as = string.match(a, '^(%d+)-(%d+)$')
  local bm, bs = string.match(b, '^(%d+)-(%d+)$')
  local c = num_cmp(am, bm)
  if c ~= 0 then return c end
  return num_cmp(as, bs)
end
-- Adds 1 to a decimal string.
local function incr(s)
  local i = #s
  while i > 0 and string.byte(s, i) == 57 do i = i - 1 end
  if i == 0 then return '1' .. string.rep('0', #s) end
  return string.sub(s, 1, i - 1) .. string.char(string.byte(s, i) + 1)
    .. string.rep('0', #s - i)
end
-- The smallest ID after `id`.
local function after(id)
  local ms, seq = string.match(id, '^(%d+)-(%d+)$')
  if seq == '18446744073709551615' then return incr(ms) .. '-0' end
  return ms .. '-' .. incr(seq)
end

local xadd = {'XADD', key}
if ARGV[5] == '1' then xadd[#xadd + 1] = 'NOMKSTREAM' end
xadd[#xadd + 1] = ARGV[1]
for i = 6, #ARGV do xadd[#xadd + 1] = ARGV[i] end
local id = redis.pcall(unpack(xadd))
if type(id) == 'table' then return id end -- XADD's error reply
if not id then return false end           -- NOMKSTREAM: no stream
if ARGV[3] ~= '0' then
  if ARGV[4] == '1' then
    redis.call('PEXPIRE', key, ARGV[3])
  else
    redis.call('PEXPIRE', key, ARGV[3], 'NX')
  end
end
if max_len == 0 then return id end
local excess = redis.call('XLEN', key) - max_len
if excess < math.max(1, math.floor(max_len / 100)) then return id end
if excess > 1000 then excess = 1000 end
local groups = redis.call('XINFO', 'GROUPS', key)
if #groups == 0 then
  redis.call('XTRIM', key, 'MAXLEN', ARGV[2])
  return id
end
-- Safe: entries <= bound, or < bound when `open`.
local bound, open
for _, g in ipairs(groups) do
  local f = {}
  for i = 1, #g, 2 do f[g[i]] = g[i + 1] end
  local b, o = f['last-delivered-id'], false
  if tonumber(f['pending']) > 0 then
    b, o = redis.call('XPENDING', key, f['name'])[2], true
  end
  if not bound then
    bound, open = b, o
  else
    local c = id_cmp(b, bound)
    if c < 0 or (c == 0 and o) then bound, open = b, o end
  end
end
if bound == '0-0' then return id end
if open then bound = '(' .. bound end
local old = redis.call('XRANGE', key, '-', bound, 'COUNT', excess)
if #old > 0 then
  redis.call('XTRIM', key, 'MINID', after(old[#old][1]))
end
return id
)lua"};
  return s;
}

} // namespace pulse
