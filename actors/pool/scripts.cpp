#include "pulse/actors/pool/scripts.hpp"

namespace pulse::pool_scripts {

std::string pool_prefix(const std::string& pool) {
  return "pulse:pool:{" + pool + "}:";
}

std::string control_channel(const std::string& pool) {
  return pool_prefix(pool) + "ctl";
}

std::string node_channel(const std::string& pool, const std::string& node) {
  return pool_prefix(pool) + "node:" + node;
}

namespace {

// Shared prologue. A job record is `owner|epoch|state|node|dispatch_id`
// (state `p` pending, `r` running); the payload lives in `payloads`.
constexpr const char* prologue = R"lua(
local pfx = KEYS[1]
local JOBS, PAY, WORKERS, ALIVE = pfx..'jobs', pfx..'payloads', pfx..'workers', pfx..'alive'
local MREV, EPOCH, QUEUED, ORPH = pfx..'mrev', pfx..'epoch', pfx..'queued', pfx..'orphans'
local SHUT, CTL, LEASE, TICKS = pfx..'shutdown', pfx..'ctl', pfx..'cleaner', pfx..'tickers'
local function q(w) return pfx..'q:'..w end
local function owned(w) return pfx..'owned:'..w end
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local function mrev() return redis.call('GET', MREV) or '0' end
local function get(k)
  local r = redis.call('HGET', JOBS, k)
  if not r then return nil end
  local o, e, s, n, d = string.match(r, '^([^|]*)|([^|]*)|([^|]*)|([^|]*)|(.*)$')
  if not o then return nil end
  return {o = o, e = e, s = s, n = n, d = d}
end
local function put(k, r)
  redis.call('HSET', JOBS, k, r.o..'|'..r.e..'|'..r.s..'|'..r.n..'|'..r.d)
end
local function member(w) return w ~= '' and redis.call('HEXISTS', WORKERS, w) == 1 end
-- Start entry: everything the worker needs to start without a round trip.
local function start_msg(k, r, p)
  p = p or redis.call('HGET', PAY, k) or ''
  return 'S'..r.e..' '..#k..' '..#r.n..' '..#r.d..' '..k..r.n..r.d..p
end
-- Gives job k (record r, owned by r.o) to target under a new epoch.
local function assign(k, r, target)
  if r.s == 'r' then redis.call('INCR', QUEUED) end
  redis.call('SREM', owned(r.o), k)
  r.e = tostring(redis.call('INCR', EPOCH))
  r.o, r.s = target, 'p'
  put(k, r)
  redis.call('SADD', owned(target), k)
  if target ~= '' then redis.call('RPUSH', q(target), start_msg(k, r)) end
end
local function bump()
  local m = redis.call('INCR', MREV)
  redis.call('PUBLISH', CTL, 'm'..m)
  return tostring(m)
end
)lua";

script make(const char* body) {
  return script{std::string{prologue} + body};
}

} // namespace

const script& join_node() {
  static const script s = make(R"lua(
if redis.call('EXISTS', SHUT) == 1 then return {'shutdown'} end
redis.call('ZADD', ALIVE, now_ms() + tonumber(ARGV[2]), 'n:'..ARGV[1])
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

const script& dispatch_many() {
  // Batched: one HMGET, INCRBY, HSET per hash, and SADD/RPUSH per target,
  // whatever the number of jobs (redis.call dominates the cost otherwise).
  static const script s = make(R"lua(
local node, rev, max = ARGV[1], ARGV[2], tonumber(ARGV[3])
if redis.call('EXISTS', SHUT) == 1 then return {'shutdown'} end
if mrev() ~= rev then return {'stale'} end
local n = (#ARGV - 3) / 4
local keys = {}
for j = 1, n do keys[j] = ARGV[4 * j] end
local existing = redis.call('HMGET', JOBS, unpack(keys))
local queued = tonumber(redis.call('GET', QUEUED) or '0')
local out, seen, take = {'ok'}, {}, {}
local added = 0
for j = 1, n do
  local k = keys[j]
  if existing[j] or seen[k] then
    out[j + 1] = 'exists'
  elseif max > 0 and queued + added >= max then
    out[j + 1] = 'overloaded'
  else
    seen[k] = true
    added = added + 1
    take[added] = j
    out[j + 1] = 'ok'
  end
end
if added == 0 then return out end
local base = redis.call('INCRBY', EPOCH, added) - added
local pay, rec, owners, pushes = {}, {}, {}, {}
for i = 1, added do
  local j = take[i]
  local k, p, did, target = keys[j], ARGV[4 * j + 1], ARGV[4 * j + 2], ARGV[4 * j + 3]
  local e = tostring(base + i)
  pay[#pay + 1] = k
  pay[#pay + 1] = p
  rec[#rec + 1] = k
  rec[#rec + 1] = target..'|'..e..'|p|'..node..'|'..did
  local o = owners[target]
  if not o then o = {}; owners[target] = o end
  o[#o + 1] = k
  if target ~= '' then
    local list = pushes[target]
    if not list then list = {}; pushes[target] = list end
    list[#list + 1] = 'S'..e..' '..#k..' '..#node..' '..#did..' '..k..node..did..p
  end
end
redis.call('HSET', PAY, unpack(pay))
redis.call('HSET', JOBS, unpack(rec))
redis.call('INCRBY', QUEUED, added)
for target, list in pairs(owners) do redis.call('SADD', owned(target), unpack(list)) end
for target, list in pairs(pushes) do redis.call('RPUSH', q(target), unpack(list)) end
return out
)lua");
  return s;
}

const script& confirm() {
  static const script s = make(R"lua(
local w = ARGV[1]
local n = (#ARGV - 1) / 6
local keys = {}
for j = 1, n do keys[j] = ARGV[6 * j - 4] end
local recs = redis.call('HMGET', JOBS, unpack(keys))
local fenced, results, running, dropped, owned_drop = {}, {}, {}, {}, {}
local started, failed_pending = 0, 0
for j = 1, n do
  local b = 6 * j - 4
  local k, e, outcome, did, node, err = ARGV[b], ARGV[b + 1], ARGV[b + 2], ARGV[b + 3], ARGV[b + 4], ARGV[b + 5]
  local raw = recs[j]
  local o, re, st, rn, rd
  if raw then o, re, st, rn, rd = string.match(raw, '^([^|]*)|([^|]*)|([^|]*)|([^|]*)|(.*)$') end
  local mine = o == w and re == e
  local msg = nil
  if outcome == 'ok' then
    if mine then
      if st == 'p' then
        running[#running + 1] = k
        running[#running + 1] = o..'|'..re..'|r|'..rn..'|'..rd
        started = started + 1
      end
    else
      fenced[#fenced + 1] = k -- stopped or moved meanwhile
      fenced[#fenced + 1] = e
    end
    msg = did..'\31\30'
  elseif outcome == 'fail' then
    if mine then
      if st == 'p' then failed_pending = failed_pending + 1 end
      dropped[#dropped + 1] = k
    end
    msg = did..'\31'..err..'\30'
  end
  if msg and did ~= '' then results[node] = (results[node] or '')..msg end
end
if #running > 0 then redis.call('HSET', JOBS, unpack(running)) end
if #dropped > 0 then
  redis.call('HDEL', JOBS, unpack(dropped))
  redis.call('HDEL', PAY, unpack(dropped))
  redis.call('SREM', owned(w), unpack(dropped))
end
if started + failed_pending > 0 then redis.call('DECRBY', QUEUED, started + failed_pending) end
for node, msg in pairs(results) do redis.call('PUBLISH', pfx..'node:'..node, msg) end
return fenced
)lua");
  return s;
}

const script& resync() {
  static const script s = make(R"lua(
local w = ARGV[1]
if not member(w) then return {'lost'} end
redis.call('DEL', q(w))
local n = 0
for _, k in ipairs(redis.call('SMEMBERS', owned(w))) do
  local r = get(k)
  if r and r.o == w then
    if r.s == 'p' then
      assign(k, r, w)
      n = n + 1
    end
  else
    redis.call('SREM', owned(w), k)
  end
end
local out = {'ok', tostring(n)}
-- Jobs running on the worker that it no longer owns (a lost stop entry).
for i = 2, #ARGV, 2 do
  local k, e = ARGV[i], ARGV[i + 1]
  local r = get(k)
  if not r or r.o ~= w or r.e ~= e then
    if not (r and r.o == w and r.s == 'p') then
      table.insert(out, k)
      table.insert(out, e)
    end
  end
end
return out
)lua");
  return s;
}

const script& fail() {
  static const script s = make(R"lua(
local w, k, e = ARGV[1], ARGV[2], ARGV[3]
local r = get(k)
if not r or r.o ~= w or r.e ~= e then return {'missing'} end
if r.s == 'p' then redis.call('DECR', QUEUED) end
redis.call('HDEL', JOBS, k)
redis.call('HDEL', PAY, k)
redis.call('SREM', owned(w), k)
return {'ok'}
)lua");
  return s;
}

const script& move() {
  static const script s = make(R"lua(
local from = ARGV[1]
if mrev() ~= ARGV[2] then return {'stale'} end
local moved = 0
for i = 3, #ARGV, 3 do
  local k, e, target = ARGV[i], ARGV[i + 1], ARGV[i + 2]
  local r = get(k)
  if r and r.o == from and (e == '*' or r.e == e) then
    if target ~= '' and not member(target) then return {'stale'} end
    assign(k, r, target)
    moved = moved + 1
  elseif not r or r.o ~= from then
    redis.call('SREM', owned(from), k)
  end
end
if from ~= '' and not member(from) and redis.call('SCARD', owned(from)) == 0 then
  redis.call('SREM', ORPH, from)
  redis.call('DEL', q(from))
  redis.call('ZREM', ALIVE, 'w:'..from)
end
return {'ok', tostring(moved)}
)lua");
  return s;
}

const script& stop() {
  static const script s = make(R"lua(
local k = ARGV[1]
local r = get(k)
if not r then
  redis.call('HDEL', PAY, k)
  return {'missing'}
end
if r.s == 'p' then redis.call('DECR', QUEUED) end
redis.call('HDEL', JOBS, k)
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

const script& keepalive() {
  static const script s = make(R"lua(
if redis.call('EXISTS', SHUT) == 1 then return {'shutdown'} end
local until_ms = now_ms() + tonumber(ARGV[2])
redis.call('ZADD', ALIVE, until_ms, 'n:'..ARGV[1])
local out = {'ok', mrev()}
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

const script& begin_shutdown() {
  static const script s = make(R"lua(
redis.call('SET', SHUT, ARGV[1])
redis.call('PUBLISH', CTL, 's')
return {'ok'}
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

const script& purge() {
  static const script s = make(R"lua(
local owners = redis.call('HKEYS', WORKERS)
for _, w in ipairs(redis.call('SMEMBERS', ORPH)) do table.insert(owners, w) end
table.insert(owners, '')
for _, w in ipairs(owners) do redis.call('DEL', q(w), owned(w)) end
for _, name in ipairs(redis.call('SMEMBERS', pfx..'schedules')) do
  redis.call('DEL', pfx..'sched:'..name)
end
redis.call('DEL', JOBS, PAY, WORKERS, ALIVE, MREV, EPOCH, QUEUED, ORPH, SHUT, LEASE, TICKS, pfx..'schedules')
return {'ok'}
)lua");
  return s;
}

const script& ticker_join() {
  static const script s = make(R"lua(
local name, d, first = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3] or ARGV[2])
local now = now_ms()
local v = redis.call('HGET', TICKS, name)
if v then
  local nx, dd = string.match(v, '^(%d+)|(%d+)$')
  if nx and tonumber(dd) == d then return {nx, tostring(now)} end
end
local nx = string.format('%d', now + first)
redis.call('HSET', TICKS, name, nx..'|'..d)
return {nx, tostring(now)}
)lua");
  return s;
}

const script& ticker_fire() {
  static const script s = make(R"lua(
local name, expected = ARGV[1], ARGV[2]
local now = now_ms()
local v = redis.call('HGET', TICKS, name)
if not v then return {'stopped'} end
local nx, d = string.match(v, '^(%d+)|(%d+)$')
if not nx then return {'stopped'} end
if nx ~= expected then return {'moved', nx, tostring(now)} end
if tonumber(nx) > now then return {'early', nx, tostring(now)} end
local n, dd = tonumber(nx) + tonumber(d), tonumber(d)
while n <= now do n = n + dd end
redis.call('HSET', TICKS, name, string.format('%d', n)..'|'..d)
return {'won', string.format('%d', n), tostring(now)}
)lua");
  return s;
}

} // namespace pulse::pool_scripts
