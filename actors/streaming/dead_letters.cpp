#include "pulse/actors/streaming/dead_letters.hpp"

#include <algorithm>
#include <charconv>
#include <optional>

#include "pulse/actors/redis/client.hpp"
#include "pulse/actors/streaming/stream.hpp"
#include "pulse/runtime/errors.hpp"
#include "pulse/runtime/log.hpp"
#include "pulse/runtime/names.hpp"

namespace pulse {

namespace {

uint64_t to_u64(const std::string& s) {
  uint64_t n = 0;
  auto res = std::from_chars(s.data(), s.data() + s.size(), n);
  return res.ec == std::errc{} && res.ptr == s.data() + s.size() ? n : 0;
}

caf::error check_name(const std::string& name) {
  return validate_name(name, "dead-letter stream");
}

} // namespace

namespace dead_letters {

std::string key(const std::string& name) {
  return stream_key(name);
}

dead_letter parse(const resp::value& entry) {
  dead_letter d;
  if (!entry.is_array() || entry.elements.size() != 2)
    return d;
  d.id = entry.elements[0].str;
  auto& f = entry.elements[1].elements;
  for (size_t i = 0; i + 1 < f.size(); i += 2) {
    auto& k = f[i].str;
    auto& v = f[i + 1].str;
    if (k == "n")
      d.name = v;
    else if (k == "p")
      d.payload = v;
    else if (k == "t")
      d.topic = v;
    else if (k == "id")
      d.original_id = v;
    else if (k == "stream")
      d.stream = v;
    else if (k == "sink")
      d.sink = v;
    else if (k == "deliveries")
      d.deliveries = to_u64(v);
    else if (k == "error")
      d.error = v;
  }
  return d;
}

caf::expected<std::vector<dead_letter>>
list(client& c, const std::string& name, size_t count,
     const std::string& from) {
  if (auto err = check_name(name))
    return err;
  if (count == 0)
    return make_error(errc::invalid_argument,
                      "dead letters: count must be positive");
  auto r = c("XRANGE", key(name), from.empty() ? "-" : from, "+", "COUNT",
             std::to_string(count));
  if (!r)
    return r.error();
  if (!r->is_array())
    return make_error(errc::protocol_error,
                      "XRANGE: unexpected reply " + r->render());
  std::vector<dead_letter> result;
  result.reserve(r->elements.size());
  for (auto& e : r->elements)
    result.push_back(parse(e));
  return result;
}

caf::expected<std::vector<std::string>>
purge_args(const dead_letter_selection& which) {
  if (which.every)
    return std::vector<std::string>{"all"};
  if (!which.ids.empty()) {
    std::vector<std::string> args{"ids"};
    args.insert(args.end(), which.ids.begin(), which.ids.end());
    return args;
  }
  if (which.age.count() > 0)
    return std::vector<std::string>{"age", std::to_string(which.age.count())};
  return make_error(errc::invalid_argument,
                    "dead letters: select all, some IDs or an age");
}

caf::expected<uint64_t> purge(client& c, const std::string& name,
                              const dead_letter_selection& which) {
  if (auto err = check_name(name))
    return err;
  auto args = purge_args(which);
  if (!args)
    return args.error();
  auto r = c.eval(purge_script(), {key(name)}, std::move(*args));
  if (!r)
    return r.error();
  if (r->type != resp::kind::integer)
    return make_error(errc::protocol_error,
                      "dead-letter purge: unexpected reply " + r->render());
  return static_cast<uint64_t>(r->integer);
}

const script& purge_script() {
  static const script s{R"lua(
local dlq, mode = KEYS[1], ARGV[1]
if mode == 'all' then
  local n = redis.call('XLEN', dlq)
  redis.call('DEL', dlq)
  return n
elseif mode == 'ids' then
  local n = 0
  for i = 2, #ARGV do
    local r = redis.pcall('XDEL', dlq, ARGV[i])
    if type(r) == 'table' and r.err then
      if string.find(r.err, 'WRONGTYPE') then return r end
    else
      n = n + r
    end
  end
  return n
end
local t = redis.call('TIME')
local cutoff = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
               - tonumber(ARGV[2])
if cutoff < 0 then cutoff = 0 end
return redis.call('XTRIM', dlq, 'MINID', string.format('%d', cutoff) .. '-0')
)lua"};
  return s;
}

const script& redrive_script() {
  static const script s{R"lua(
local dlq = KEYS[1]
local max_len, batch, mode = ARGV[1], tonumber(ARGV[2]), ARGV[3]
local moved, missing, more, last = 0, 0, 0, ''
local skipped = {}
-- Names a Pulse stream may have (see validate_name): no blanks or globs.
local function bad_name(s)
  return s == nil or s == '' or #s > 2048
         or string.find(s, '[%s%*%?%[%]]') ~= nil
end
local function move(e)
  local id, f, m = e[1], e[2], {}
  for i = 1, #f, 2 do m[f[i]] = f[i + 1] end
  last = id
  if bad_name(m['stream']) then
    skipped[#skipped + 1] = id
    skipped[#skipped + 1] = 'no valid source stream'
    return
  end
  local add = {'XADD', 'pulse:stream:' .. m['stream']}
  if max_len ~= '0' then
    add[#add + 1] = 'MAXLEN'; add[#add + 1] = '~'; add[#add + 1] = max_len
  end
  add[#add + 1] = '*'
  add[#add + 1] = 'n'; add[#add + 1] = m['n'] or ''
  add[#add + 1] = 'p'; add[#add + 1] = m['p'] or ''
  if m['t'] and m['t'] ~= '' then
    add[#add + 1] = 't'; add[#add + 1] = m['t']
  end
  local r = redis.pcall(unpack(add))
  if type(r) == 'table' and r.err then
    skipped[#skipped + 1] = id
    skipped[#skipped + 1] = r.err
    return
  end
  redis.call('XDEL', dlq, id)
  moved = moved + 1
end
if mode == 'ids' then
  for i = 4, #ARGV do
    local e = redis.pcall('XRANGE', dlq, ARGV[i], ARGV[i], 'COUNT', 1)
    if type(e) == 'table' and e.err then
      if string.find(e.err, 'WRONGTYPE') then return e end
      missing = missing + 1 -- not a valid ID: not there
    elseif #e == 0 then
      missing = missing + 1
    else
      move(e[1])
    end
  end
else
  local to = '+'
  local age = tonumber(ARGV[5])
  if age >= 0 then
    local t = redis.call('TIME')
    local cutoff = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
                   - age
    if cutoff < 0 then cutoff = 0 end
    to = '(' .. string.format('%d', cutoff) .. '-0'
  end
  local es = redis.call('XRANGE', dlq, ARGV[4], to, 'COUNT', batch)
  for _, e in ipairs(es) do move(e) end
  if #es == batch then more = 1 end
end
return {moved, missing, more, last, unpack(skipped)}
)lua"};
  return s;
}

} // namespace dead_letters

} // namespace pulse
