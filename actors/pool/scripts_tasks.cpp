#include "pulse/actors/pool/scripts.hpp"
#include "pulse/actors/pool/scripts_prologue.hpp"

namespace pulse::pool_scripts {

using detail::make;

const script& complete() {
  static const script s = make(R"lua(
local w, k, e, ok, res, keep = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], tonumber(ARGV[6])
local mark = tonumber(ARGV[8] or '0')
local r = get(k)
if not r or r.o ~= w or r.e ~= e then return {'stale'} end
local how = 'done'
if ok == '0' then how = settle_failure(k, r, res, policy(ARGV[7]), 1) end
if r.s == 'p' then redis.call('DECR', QUEUED) end
redis.call('HDEL', JOBS, k)
redis.call('HDEL', PAY, k)
redis.call('SREM', owned(w), k)
if how ~= 'retry' then
  redis.call('HDEL', TRIES, k)
  if keep > 0 then redis.call('SET', RES..k, ok..res, 'PX', keep) end
  if r.d ~= '' then
    publish_node(r.n, done_rec(r.d, ok, res), {{r.d, ok..res}})
  end
end
if member(w) then
  redis.call('RPUSH', q(w), 'C'..e..' '..k)
  -- A worker on another node: if a failed poll pops this entry, its
  -- resync finds the completion here (`done:<key>`), not a lost job.
  if mark > 0 then redis.call('SET', DONE..k, e, 'PX', mark) end
end
return {'ok', how}
)lua");
  return s;
}

} // namespace pulse::pool_scripts
