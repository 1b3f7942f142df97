#include "pulse/actors/pool/scripts.hpp"
#include "pulse/actors/pool/scripts_prologue.hpp"

// The dead set: jobs whose last attempt failed (`settle_failure` in the
// prologue puts them there), read, redriven and purged.

namespace pulse::pool_scripts {

using detail::make;

const script& dead_jobs() {
  static const script s = make(R"lua(
local out = {}
local ks = redis.call('ZRANGE', DEAD, 0, tonumber(ARGV[1]) - 1, 'WITHSCORES')
for i = 1, #ks, 2 do
  local k = ks[i]
  out[#out + 1] = k
  out[#out + 1] = ks[i + 1]
  out[#out + 1] = redis.call('HGET', DEADPAY, k) or ''
  out[#out + 1] = redis.call('HGET', DEADINFO, k) or ''
end
return out
)lua");
  return s;
}

const script& redrive() {
  static const script s = make(R"lua(
local ks = ARGV
if #ks == 0 then ks = redis.call('ZRANGE', DEAD, 0, 999) end
local now = now_ms()
local moved = 0
for _, k in ipairs(ks) do
  if redis.call('ZSCORE', DEAD, k) and redis.call('HEXISTS', JOBS, k) == 0
     and not redis.call('ZSCORE', DELAYED, k)
     and redis.call('HEXISTS', TRIES, k) == 0 then
    local _, m, to = string.match(redis.call('HGET', DEADINFO, k) or '',
                                  '^(%d+)|(%d*)|(%d*)|')
    redis.call('ZADD', DELAYED, now, k)
    redis.call('HSET', DPAY, k, redis.call('HGET', DEADPAY, k) or '')
    redis.call('HSET', TRIES, k, '0|'..(m or '')..'|'..(to or '')..'|')
    redis.call('ZREM', DEAD, k)
    redis.call('HDEL', DEADPAY, k)
    redis.call('HDEL', DEADINFO, k)
    moved = moved + 1
  end
end
if moved > 0 then redis.call('PUBLISH', CTL, 'd'..string.format('%d', now)) end
return {'ok', tostring(moved), tostring(redis.call('ZCARD', DEAD))}
)lua");
  return s;
}

const script& purge_dead() {
  static const script s = make(R"lua(
local ks = ARGV
if #ks == 0 then ks = redis.call('ZRANGE', DEAD, 0, 999) end
local n = 0
for _, k in ipairs(ks) do
  n = n + redis.call('ZREM', DEAD, k)
  redis.call('HDEL', DEADPAY, k)
  redis.call('HDEL', DEADINFO, k)
end
return {'ok', tostring(n), tostring(redis.call('ZCARD', DEAD))}
)lua");
  return s;
}

} // namespace pulse::pool_scripts
