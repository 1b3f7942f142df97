#include "pulse/actors/rmap/scripts.hpp"

#include <string>

namespace pulse::rmap_scripts {

namespace {

// Shared prologue: commit, publish and TTL helpers.
constexpr const char* prologue = R"lua(
-- The updates channel is no key (KEYS holds only the content hash, so a
-- script touches one slot in Redis Cluster): map:<name>:content names it.
local content = KEYS[1]
local updates = string.sub(content, 1, -9) .. ':updates'
local ttl_mode, ttl_ms = ARGV[1], tonumber(ARGV[2])
local function commit(kind)
  local rev = redis.call('HINCRBY', content, '=rev', 1)
  redis.call('HSET', content, '=kind', kind)
  return string.format('%d', rev)
end
local function pub_set(k, v, rev)
  redis.call('PUBLISH', updates, 'set:' .. struct.pack('i', #k) .. k ..
    struct.pack('i', #v) .. v .. struct.pack('i', #rev) .. rev)
end
local function pub_del(k, rev)
  redis.call('PUBLISH', updates, 'del:' .. struct.pack('i', #k) .. k ..
    struct.pack('i', #rev) .. rev)
end
local function ttl()
  if ttl_mode == 'abs' then
    redis.call('PEXPIRE', content, ttl_ms, 'NX')
  elseif ttl_mode == 'slide' then
    redis.call('PEXPIRE', content, ttl_ms)
  end
end
local function read_list(v)
  local list = {}
  if not v then return list end
  local ok, decoded = pcall(cjson.decode, v)
  if ok and type(decoded) == 'table' then
    for _, x in ipairs(decoded) do table.insert(list, tostring(x)) end
    return list
  end
  for piece in string.gmatch(v, '([^,]+)') do table.insert(list, piece) end
  return list
end
local function reset_to(kind)
  local rev = redis.call('HINCRBY', content, '=rev', 1)
  local keep = -1
  if ttl_mode == 'abs' then keep = redis.call('PTTL', content) end
  redis.call('DEL', content)
  redis.call('HSET', content, '=rev', rev, '=kind', kind)
  if keep > 0 then
    redis.call('PEXPIRE', content, keep)
  else
    ttl()
  end
  redis.call('PUBLISH', updates, kind .. ':' .. string.format('%d', rev))
end
)lua";

script make(const char* body) {
  return script{std::string{prologue} + body};
}

} // namespace

const script& set() {
  static const script s = make(R"lua(
local k, v = ARGV[3], ARGV[4]
local old = redis.call('HGET', content, k)
redis.call('HSET', content, k, v)
local rev = commit('set')
pub_set(k, v, rev)
ttl()
if old then return {1, old, rev} end
return {0, '', rev}
)lua");
  return s;
}

const script& set_if_not_exists() {
  static const script s = make(R"lua(
local k, v = ARGV[3], ARGV[4]
if redis.call('HEXISTS', content, k) == 1 then ttl() return 0 end
redis.call('HSET', content, k, v)
pub_set(k, v, commit('set'))
ttl()
return 1
)lua");
  return s;
}

const script& test_and_set() {
  static const script s = make(R"lua(
local k, test, v = ARGV[3], ARGV[4], ARGV[5]
local cur = redis.call('HGET', content, k)
if cur and cur == test then
  redis.call('HSET', content, k, v)
  pub_set(k, v, commit('set'))
end
ttl()
return cur
)lua");
  return s;
}

const script& incr() {
  static const script s = make(R"lua(
local k = ARGV[3]
local n = redis.call('HINCRBY', content, k, ARGV[4])
local v = string.format('%d', n)
pub_set(k, v, commit('set'))
ttl()
return v
)lua");
  return s;
}

const script& append() {
  static const script s = make(R"lua(
local k = ARGV[3]
local cur = redis.call('HGET', content, k)
if #ARGV < 4 then ttl() return cur end
local list = read_list(cur)
for i = 4, #ARGV do table.insert(list, ARGV[i]) end
local v = cjson.encode(list)
redis.call('HSET', content, k, v)
pub_set(k, v, commit('set'))
ttl()
return v
)lua");
  return s;
}

const script& append_unique() {
  static const script s = make(R"lua(
local k = ARGV[3]
local cur = redis.call('HGET', content, k)
local list = read_list(cur)
local seen, added = {}, false
for _, x in ipairs(list) do seen[x] = true end
for i = 4, #ARGV do
  if not seen[ARGV[i]] then
    seen[ARGV[i]] = true
    table.insert(list, ARGV[i])
    added = true
  end
end
if not added then ttl() return cur end
local v = cjson.encode(list)
redis.call('HSET', content, k, v)
pub_set(k, v, commit('set'))
ttl()
return v
)lua");
  return s;
}

const script& remove() {
  static const script s = make(R"lua(
local k = ARGV[3]
local cur = redis.call('HGET', content, k)
if not cur or #ARGV < 4 then ttl() return {cur, 0} end
local drop = {}
for i = 4, #ARGV do drop[ARGV[i]] = true end
local list, kept, removed = read_list(cur), {}, false
for _, x in ipairs(list) do
  if drop[x] then removed = true else table.insert(kept, x) end
end
if not removed then ttl() return {cur, 0} end
if #kept == 0 then
  redis.call('HDEL', content, k)
  pub_del(k, commit('del'))
  ttl()
  return {'', 1}
end
local v = cjson.encode(kept)
redis.call('HSET', content, k, v)
pub_set(k, v, commit('set'))
ttl()
return {v, 1}
)lua");
  return s;
}

const script& del() {
  static const script s = make(R"lua(
local k = ARGV[3]
local cur = redis.call('HGET', content, k)
if cur then
  redis.call('HDEL', content, k)
  pub_del(k, commit('del'))
end
ttl()
return cur
)lua");
  return s;
}

const script& test_and_delete() {
  static const script s = make(R"lua(
local k, test = ARGV[3], ARGV[4]
local cur = redis.call('HGET', content, k)
if cur and cur == test then
  redis.call('HDEL', content, k)
  pub_del(k, commit('del'))
end
ttl()
return cur
)lua");
  return s;
}

const script& reset() {
  static const script s = make(R"lua(
reset_to('reset')
return nil
)lua");
  return s;
}

const script& destroy() {
  static const script s = make(R"lua(
reset_to('destroy')
return nil
)lua");
  return s;
}

const script& test_and_reset() {
  static const script s = make(R"lua(
local n = tonumber(ARGV[3])
for i = 1, n do
  if redis.call('HGET', content, ARGV[3 + i]) ~= ARGV[3 + n + i] then
    ttl()
    return 0
  end
end
reset_to('reset')
return 1
)lua");
  return s;
}

std::string content_key(const std::string& name) {
  return "map:" + name + ":content";
}

std::string updates_channel(const std::string& name) {
  return "map:" + name + ":updates";
}

} // namespace pulse::rmap_scripts
