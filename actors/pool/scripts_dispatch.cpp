#include "pulse/actors/pool/scripts.hpp"
#include "pulse/actors/pool/scripts_prologue.hpp"

#include <string>

namespace pulse::pool_scripts {

using detail::make;

const script& dispatch_many() {
  // Batched: one HMGET, INCRBY, HSET per hash, and SADD/RPUSH per target,
  // whatever the number of jobs (redis.call dominates the cost otherwise).
  static const script s = make(R"lua(
local node, rev = ARGV[1], ARGV[2]
local max, rn, rp = limits(ARGV[3])
-- One MGET for the shutdown mark, the membership revision and the queued
-- count (each `redis.call` costs microseconds, more on a cold core).
local st = redis.call('MGET', SHUT, MREV, QUEUED)
if st[1] then return {'shutdown'} end
if (st[2] or '0') ~= rev then return {'stale'} end
local n = (#ARGV - 3) / 5
local keys = {}
for j = 1, n do keys[j] = ARGV[5 * j - 1] end
local existing = redis.call('HMGET', JOBS, unpack(keys))
-- A key waiting for a retry has no record but retry state; one waiting for
-- a start slot (rate limit) is in RATED.
local waiting = redis.call('HMGET', TRIES, unpack(keys))
local rated, sl, now = {}, nil, 0
if rn > 0 then
  rated = redis.call('HMGET', RATED, unpack(keys))
  now = now_ms()
  sl = slots(rn, rp, now)
end
local queued = tonumber(st[3] or '0')
local out, seen, take, defer = {'ok'}, {}, {}, {}
local added = 0
for j = 1, n do
  local k = keys[j]
  if existing[j] or waiting[j] or rated[j] or seen[k] then
    out[j + 1] = 'exists'
  elseif max > 0 and queued + added >= max then
    out[j + 1] = 'overloaded'
  else
    seen[k] = true
    local t = sl and sl.next() or 0
    if t > now then
      defer[#defer + 1] = {j, t}
      out[j + 1] = 'deferred'
    else
      added = added + 1
      take[added] = j
      out[j + 1] = 'ok'
    end
  end
end
if #defer > 0 then
  -- Over the rate limit: delayed until the slot each one reserved, under
  -- its dispatcher (DMETA), marked as holding a slot (RATED).
  local first = redis.call('ZRANGE', DELAYED, 0, 0, 'WITHSCORES')
  local z, dp, dm, rd, op = {}, {}, {}, {}, {}
  for _, d in ipairs(defer) do
    local j, t = d[1], d[2]
    local k, o = keys[j], ARGV[5 * j + 3]
    z[#z + 1] = string.format('%d', t)
    z[#z + 1] = k
    dp[#dp + 1] = k
    dp[#dp + 1] = ARGV[5 * j]
    dm[#dm + 1] = k
    dm[#dm + 1] = node..'|'..ARGV[5 * j + 1]
    rd[#rd + 1] = k
    rd[#rd + 1] = '1'
    if o ~= '' then
      op[#op + 1] = k
      op[#op + 1] = '0|'..o..'|'
    end
  end
  redis.call('ZADD', DELAYED, unpack(z))
  redis.call('HSET', DPAY, unpack(dp))
  redis.call('HSET', DMETA, unpack(dm))
  redis.call('HSET', RATED, unpack(rd))
  if #op > 0 then redis.call('HSET', TRIES, unpack(op)) end
  if not first[2] or defer[1][2] < tonumber(first[2]) then
    redis.call('PUBLISH', CTL, 'd'..string.format('%d', defer[1][2]))
  end
end
if sl then sl.done() end
if added == 0 then return out end
local base = redis.call('INCRBY', EPOCH, added) - added
local pay, rec, owners, pushes, opts = {}, {}, {}, {}, {}
for i = 1, added do
  local j = take[i]
  local k, p, did, target = keys[j], ARGV[5 * j], ARGV[5 * j + 1], ARGV[5 * j + 2]
  local o = ARGV[5 * j + 3] -- per-dispatch options: `max|timeout_ms`, or ''
  local e = tostring(base + i)
  local x = ''
  if o ~= '' then
    opts[#opts + 1] = k
    opts[#opts + 1] = '0|'..o..'|'
    x = '/1/'..string.match(o, '|(.*)$')
  end
  pay[#pay + 1] = k
  pay[#pay + 1] = p
  rec[#rec + 1] = k
  rec[#rec + 1] = target..'|'..e..'|p|'..node..'|'..did
  local ow = owners[target]
  if not ow then ow = {}; owners[target] = ow end
  ow[#ow + 1] = k
  if target ~= '' then
    local list = pushes[target]
    if not list then list = {}; pushes[target] = list end
    list[#list + 1] = 'S'..e..x..' '..#k..' '..#node..' '..#did..' '..k..node..did..p
  end
end
if #opts > 0 then redis.call('HSET', TRIES, unpack(opts)) end
redis.call('HSET', PAY, unpack(pay))
redis.call('HSET', JOBS, unpack(rec))
redis.call('INCRBY', QUEUED, added)
for target, list in pairs(owners) do redis.call('SADD', owned(target), unpack(list)) end
for target, list in pairs(pushes) do redis.call('RPUSH', q(target), unpack(list)) end
return out
)lua");
  return s;
}

const script& resync() {
  static const script s = make(R"lua(
local w = ARGV[1]
if not member(w) then return {'lost'} end
-- Completions still queued (`C<epoch> <key>`): the worker forgets those
-- jobs rather than stopping them once their entries are deleted.
-- Notifications still queued (`N...`) are queued again. Read in chunks:
-- start entries carry payloads, and a backlog may be long.
local done, notes = {}, {}
local len = redis.call('LLEN', q(w))
for from = 0, len - 1, 256 do
  for _, x in ipairs(redis.call('LRANGE', q(w), from, from + 255)) do
    local c = string.sub(x, 1, 1)
    if c == 'C' then
      local sp = string.find(x, ' ', 2, true)
      if sp then done[string.sub(x, sp + 1)] = string.sub(x, 2, sp - 1) end
    elseif c == 'N' then
      notes[#notes + 1] = x
    end
  end
end
redis.call('DEL', q(w))
for i = 1, #notes, 256 do
  redis.call('RPUSH', q(w), unpack(notes, i, math.min(i + 255, #notes)))
end
-- The jobs the worker runs, by key: their epochs.
local runs = {}
for i = 2, #ARGV, 2 do runs[ARGV[i]] = ARGV[i + 1] end
local n = 0
for _, k in ipairs(redis.call('SMEMBERS', owned(w))) do
  local r = get(k)
  if r and r.o == w then
    if r.s == 'p' and runs[k] == r.e then
      -- Started under this epoch, its confirm lost with the connection:
      -- it runs (as confirm would record), not started a second time.
      r.s = 'r'
      put(k, r)
      redis.call('DECR', QUEUED)
    elseif r.s == 'p' then
      assign(k, r, w)
      n = n + 1
    end
  else
    redis.call('SREM', owned(w), k)
  end
end
local out = {'ok', tostring(n)}
-- Jobs running on the worker that it no longer owns (a lost stop entry),
-- or that completed (epoch `C<e>`: no stop).
for i = 2, #ARGV, 2 do
  local k, e = ARGV[i], ARGV[i + 1]
  local r = get(k)
  if not r or r.o ~= w or r.e ~= e then
    if done[k] ~= e then
      -- Its `C` entry may have been popped by the failed poll itself: a
      -- completion from another node also left `done:<key>`.
      if redis.call('GET', DONE..k) == e then
        done[k] = e
        redis.call('DEL', DONE..k)
      end
    end
    if done[k] == e then
      table.insert(out, k)
      table.insert(out, 'C'..e)
    elseif not (r and r.o == w and r.s == 'p') then
      table.insert(out, k)
      table.insert(out, e)
    end
  end
end
return out
)lua");
  return s;
}

const script& move() {
  static const script s = make(R"lua(
local from, pol = ARGV[1], policy(ARGV[3])
if mrev() ~= ARGV[2] then return {'stale'} end
-- Jobs running on a worker whose lease ended (it died) failed an attempt.
local lost = from ~= '' and not member(from)
             and not redis.call('ZSCORE', ALIVE, 'w:'..from)
local moved = 0
for i = 4, #ARGV, 3 do
  local k, e, target = ARGV[i], ARGV[i + 1], ARGV[i + 2]
  local r = get(k)
  if r and r.o == from and (e == '*' or r.e == e) then
    if target ~= '' and not member(target) then return {'stale'} end
    local how = 'failed'
    if lost and r.s == 'r' then
      how = settle_failure(k, r, 'worker '..from..' lost while running the job', pol, i)
    end
    if how == 'failed' then
      assign(k, r, target)
    else
      redis.call('HDEL', JOBS, k)
      redis.call('HDEL', PAY, k)
      redis.call('SREM', owned(from), k)
    end
    moved = moved + 1
  elseif not r or r.o ~= from then
    redis.call('SREM', owned(from), k)
  end
end
if from ~= '' and not member(from) and redis.call('SCARD', owned(from)) == 0 then
  redis.call('SREM', ORPH, from)
  redis.call('DEL', q(from))
  redis.call('ZREM', ALIVE, 'w:'..from)
  redis.call('HDEL', INFO, 'w:'..from)
end
return {'ok', tostring(moved)}
)lua");
  return s;
}

} // namespace pulse::pool_scripts
