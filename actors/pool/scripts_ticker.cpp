#include "pulse/actors/pool/scripts.hpp"
#include "pulse/actors/pool/scripts_prologue.hpp"

namespace pulse::pool_scripts {

using detail::make;

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
