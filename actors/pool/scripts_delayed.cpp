#include "pulse/actors/pool/scripts.hpp"
#include "pulse/actors/pool/scripts_prologue.hpp"

namespace pulse::pool_scripts {

using detail::make;

const script& schedule_job() {
  static const script s = make(R"lua(
local k, p, at, delay = ARGV[1], ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4])
if redis.call('EXISTS', SHUT) == 1 then return {'shutdown'} end
if redis.call('ZSCORE', DELAYED, k) then return {'exists'} end
if redis.call('HEXISTS', TRIES, k) == 1 then return {'exists'} end
local now = now_ms()
local due = at
if due < 0 then due = now + delay end
local first = redis.call('ZRANGE', DELAYED, 0, 0, 'WITHSCORES')
redis.call('ZADD', DELAYED, due, k)
redis.call('HSET', DPAY, k, p)
if not first[2] or due < tonumber(first[2]) then
  redis.call('PUBLISH', CTL, 'd'..string.format('%d', due))
end
return {'ok', string.format('%d', due), string.format('%d', now)}
)lua");
  return s;
}

const script& cancel_delayed() {
  static const script s = make(R"lua(
if redis.call('ZREM', DELAYED, ARGV[1]) == 0 then return {'missing'} end
redis.call('HDEL', DPAY, ARGV[1])
redis.call('HDEL', DMETA, ARGV[1])
redis.call('HDEL', RATED, ARGV[1])
redis.call('HDEL', TRIES, ARGV[1])
return {'ok'}
)lua");
  return s;
}

const script& due_jobs() {
  static const script s = make(R"lua(
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local out = {t[1]..string.format('%06d', tonumber(t[2])), '-1'}
local first = redis.call('ZRANGE', DELAYED, 0, 0, 'WITHSCORES')
if not first[2] then return out end
out[2] = first[2]
if tonumber(first[2]) > now then return out end
local ks = redis.call('ZRANGEBYSCORE', DELAYED, '-inf', now, 'LIMIT', 0, tonumber(ARGV[1]))
for _, k in ipairs(ks) do out[#out + 1] = k end
return out
)lua");
  return s;
}

const script& promote() {
  static const script s = make(R"lua(
local node, rev, retry = ARGV[1], ARGV[2], tonumber(ARGV[4])
local max, rn, rp = limits(ARGV[3])
-- One MGET for the shutdown mark, the membership revision and the queued
-- count, as in `dispatch_many`.
local st = redis.call('MGET', SHUT, MREV, QUEUED)
if st[1] then return {'shutdown'} end
if (st[2] or '0') ~= rev then return {'stale'} end
local now = now_ms()
local queued = tonumber(st[3] or '0')
local sl = nil
if rn > 0 then sl = slots(rn, rp, now) end
local out = {'ok'}
for i = 5, #ARGV, 2 do
  local k, target = ARGV[i], ARGV[i + 1]
  local due = redis.call('ZSCORE', DELAYED, k)
  local st
  if not due or tonumber(due) > now then
    st = 'gone'
  elseif redis.call('HEXISTS', JOBS, k) == 1 then
    redis.call('ZADD', DELAYED, now + retry, k)
    st = 'exists'
  elseif max > 0 and queued >= max then
    st = 'overloaded'
  else
    -- A job that waited for its start slot holds it; a delayed job or a
    -- retry takes the next one, and waits for it when that is later.
    local held = redis.call('HDEL', RATED, k) == 1
    local t = now
    if sl and not held then t = sl.next() end
    if t > now then
      redis.call('ZADD', DELAYED, string.format('%d', t), k)
      redis.call('HSET', RATED, k, '1')
      st = 'deferred'
    end
  end
  if not st then
    local p = redis.call('HGET', DPAY, k) or ''
    redis.call('ZREM', DELAYED, k)
    redis.call('HDEL', DPAY, k)
    -- A retry goes on under its dispatcher (whose wait gets the outcome).
    local n, d = node, ''
    local meta = redis.call('HGET', DMETA, k)
    if meta then
      n, d = string.match(meta, '^([^|]*)|(.*)$')
      redis.call('HDEL', DMETA, k)
      if not n or n == '' then n, d = node, '' end
    end
    local r = {o = target, e = tostring(redis.call('INCR', EPOCH)), s = 'p', n = n, d = d}
    put(k, r)
    redis.call('HSET', PAY, k, p)
    redis.call('INCR', QUEUED)
    queued = queued + 1
    redis.call('SADD', owned(target), k)
    if target ~= '' then redis.call('RPUSH', q(target), start_msg(k, r, p)) end
    st = 'ok'
  end
  out[#out + 1] = st
end
if sl then sl.done() end
return out
)lua");
  return s;
}

} // namespace pulse::pool_scripts
