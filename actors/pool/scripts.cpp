#include "pulse/actors/pool/scripts.hpp"
#include "pulse/actors/pool/scripts_prologue.hpp"

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

namespace detail {

namespace {

// Shared prologue. A job record is `owner|epoch|state|node|dispatch_id`
// (state `p` pending, `r` running); the payload lives in `payloads`.
constexpr const char* prologue = R"lua(
local pfx = KEYS[1]
local JOBS, PAY, WORKERS, ALIVE = pfx..'jobs', pfx..'payloads', pfx..'workers', pfx..'alive'
local MREV, EPOCH, QUEUED, ORPH = pfx..'mrev', pfx..'epoch', pfx..'queued', pfx..'orphans'
local SHUT, CTL, LEASE, TICKS = pfx..'shutdown', pfx..'ctl', pfx..'cleaner', pfx..'tickers'
local DELAYED, DPAY, RES = pfx..'delayed', pfx..'delayed_payloads', pfx..'result:'
local INFO = pfx..'info'
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

} // namespace

script make(const char* body) {
  return script{std::string{prologue} + body};
}

} // namespace detail

} // namespace pulse::pool_scripts
