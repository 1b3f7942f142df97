#include "pulse/actors/pool/scripts.hpp"
#include "pulse/actors/pool/scripts_prologue.hpp"

namespace pulse::pool_scripts {

using detail::make;

const script& stop() {
  static const script s = make(R"lua(
local k = ARGV[1]
local r = get(k)
if not r then
  redis.call('HDEL', PAY, k)
  -- Waiting for a retry or for a start slot (rate limit): cancel it.
  local waits = redis.call('HEXISTS', TRIES, k) == 1 or redis.call('HEXISTS', RATED, k) == 1
  if waits and redis.call('ZREM', DELAYED, k) == 1 then
    redis.call('HDEL', DPAY, k)
    redis.call('HDEL', DMETA, k)
    redis.call('HDEL', TRIES, k)
    redis.call('HDEL', RATED, k)
    return {'ok'}
  end
  return {'missing'}
end
if r.s == 'p' then redis.call('DECR', QUEUED) end
redis.call('HDEL', JOBS, k)
redis.call('HDEL', TRIES, k)
redis.call('HDEL', PAY, k)
redis.call('SREM', owned(r.o), k)
if member(r.o) then redis.call('RPUSH', q(r.o), 'T'..r.e..' '..k) end
return {'ok'}
)lua");
  return s;
}

const script& notify() {
  static const script s = make(R"lua(
local k, p = ARGV[1], ARGV[2]
local r = get(k)
if not r then return {'missing'} end
if not member(r.o) then return {'unowned'} end
redis.call('RPUSH', q(r.o), 'N'..r.e..' '..#k..' '..k..p)
return {'ok'}
)lua");
  return s;
}

const script& begin_shutdown() {
  static const script s = make(R"lua(
redis.call('SET', SHUT, ARGV[1])
redis.call('PUBLISH', CTL, 's')
return {'ok'}
)lua");
  return s;
}

const script& purge() {
  static const script s = make(R"lua(
local owners = redis.call('HKEYS', WORKERS)
for _, w in ipairs(redis.call('SMEMBERS', ORPH)) do table.insert(owners, w) end
table.insert(owners, '')
for _, w in ipairs(owners) do redis.call('DEL', q(w), owned(w)) end
for _, name in ipairs(redis.call('SMEMBERS', pfx..'schedules')) do
  redis.call('DEL', pfx..'sched:'..name)
end
redis.call('DEL', JOBS, PAY, WORKERS, ALIVE, MREV, EPOCH, QUEUED, ORPH, SHUT, LEASE, TICKS, DELAYED, DPAY,
           INFO, TRIES, DMETA, DEAD, DEADPAY, DEADINFO, RATE, RATED, RSEQ,
           pfx..'schedules')
return {'ok'}
)lua");
  return s;
}

const script& intake_drain() {
  static const script s{R"lua(
local out = {}
for i = 1, #KEYS do
  local r = redis.call('LPOP', KEYS[i], ARGV[1])
  if r then
    out[#out + 1] = KEYS[i]
    out[#out + 1] = r
  end
end
return out
)lua"};
  return s;
}

} // namespace pulse::pool_scripts
