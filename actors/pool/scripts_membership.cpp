#include "pulse/actors/pool/scripts.hpp"
#include "pulse/actors/pool/scripts_prologue.hpp"

namespace pulse::pool_scripts {

using detail::make;

const script& join_node() {
  static const script s = make(R"lua(
if redis.call('EXISTS', SHUT) == 1 then return {'shutdown'} end
redis.call('ZADD', ALIVE, now_ms() + tonumber(ARGV[2]), 'n:'..ARGV[1])
if ARGV[3] then redis.call('HSET', INFO, 'n:'..ARGV[1], ARGV[3]) end
return {'ok'}
)lua");
  return s;
}

const script& add_worker() {
  static const script s = make(R"lua(
local node, w, created, ttl = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4])
if redis.call('EXISTS', SHUT) == 1 then return {'shutdown'} end
redis.call('HSET', WORKERS, w, created..'|'..node)
redis.call('ZADD', ALIVE, now_ms() + ttl, 'w:'..w)
if ARGV[5] then redis.call('HSET', INFO, 'w:'..w, ARGV[5]) end
redis.call('SREM', ORPH, w)
for _, k in ipairs(redis.call('SMEMBERS', owned(w))) do
  local r = get(k)
  if r and r.o == w then assign(k, r, w) else redis.call('SREM', owned(w), k) end
end
return {'ok', bump()}
)lua");
  return s;
}

const script& remove_workers() {
  static const script s = make(R"lua(
for _, w in ipairs(ARGV) do
  redis.call('HDEL', WORKERS, w)
  redis.call('DEL', q(w))
  if redis.call('SCARD', owned(w)) > 0 then
    -- Leaving: its lease stays (renewed by its node) until it handed its
    -- jobs over; cleaners recover them only once that lease is gone.
    redis.call('SADD', ORPH, w)
  else
    redis.call('ZREM', ALIVE, 'w:'..w)
    redis.call('HDEL', INFO, 'w:'..w)
  end
end
return {'ok', bump()}
)lua");
  return s;
}

const script& members() {
  static const script s = make(R"lua(
local out = {mrev()}
for _, x in ipairs(redis.call('HGETALL', WORKERS)) do table.insert(out, x) end
return out
)lua");
  return s;
}

const script& keepalive() {
  static const script s = make(R"lua(
local st = redis.call('MGET', SHUT, MREV)
if st[1] then return {'shutdown'} end
local until_ms = now_ms() + tonumber(ARGV[2])
redis.call('ZADD', ALIVE, until_ms, 'n:'..ARGV[1])
local out = {'ok', st[2] or '0'}
for i = 3, #ARGV do
  local w = ARGV[i]
  if member(w) or (redis.call('SISMEMBER', ORPH, w) == 1
                   and redis.call('ZSCORE', ALIVE, 'w:'..w)) then
    redis.call('ZADD', ALIVE, until_ms, 'w:'..w)
  else
    table.insert(out, w)
  end
end
return out
)lua");
  return s;
}

const script& reap() {
  static const script s = make(R"lua(
local node, lease = ARGV[1], ARGV[2]
if not redis.call('SET', LEASE, node, 'NX', 'PX', lease) then
  if redis.call('GET', LEASE) ~= node then return {'busy'} end
  redis.call('PEXPIRE', LEASE, lease)
end
local now = now_ms()
local changed = false
local function drop_worker(w)
  redis.call('HDEL', WORKERS, w)
  redis.call('DEL', q(w))
  if redis.call('SCARD', owned(w)) > 0 then redis.call('SADD', ORPH, w) end
  changed = true
end
for _, m in ipairs(redis.call('ZRANGEBYSCORE', ALIVE, '-inf', now - 1)) do
  redis.call('ZREM', ALIVE, m)
  redis.call('HDEL', INFO, m)
  if string.sub(m, 1, 2) == 'w:' then drop_worker(string.sub(m, 3)) end
end
for _, w in ipairs(redis.call('HKEYS', WORKERS)) do
  if not redis.call('ZSCORE', ALIVE, 'w:'..w) then drop_worker(w) end
end
local out = {'ok', changed and bump() or mrev()}
for _, w in ipairs(redis.call('SMEMBERS', ORPH)) do
  -- A leaving worker with a valid lease is still stopping its jobs.
  if not redis.call('ZSCORE', ALIVE, 'w:'..w) then table.insert(out, w) end
end
if redis.call('SCARD', owned('')) > 0 then table.insert(out, '') end
return out
)lua");
  return s;
}

const script& live_nodes() {
  static const script s = make(R"lua(
local n = 0
for _, m in ipairs(redis.call('ZRANGEBYSCORE', ALIVE, now_ms(), '+inf')) do
  if string.sub(m, 1, 2) == 'n:' and m ~= 'n:'..ARGV[1] then n = n + 1 end
end
return {tostring(n)}
)lua");
  return s;
}

} // namespace pulse::pool_scripts
