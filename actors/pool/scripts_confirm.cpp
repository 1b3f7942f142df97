#include "pulse/actors/pool/scripts.hpp"
#include "pulse/actors/pool/scripts_prologue.hpp"

#include <string>

namespace pulse::pool_scripts {

using detail::make;

namespace {

/// `confirm_groups(gs)`: settles the starts that workers confirm. Each
/// group `g` is one worker's confirm in `ARGV[g.b]` ... `ARGV[g.b + g.n - 1]`:
/// worker, keep_ms, retry policy, then 6 per job (key, epoch, outcome,
/// dispatch ID, node, error). Reads every record with one `HMGET` and
/// writes each hash once, and publishes once per node, whatever the number
/// of groups; so no key may be in two groups (each would miss the other's
/// writes: the callers check). Returns each group's fenced `key, epoch`
/// pairs.
constexpr const char* confirm_groups = R"lua(
local function confirm_groups(gs)
  -- `cmd key xs...` in chunks of `n` (under Lua's `unpack` limit).
  local function chunked(cmd, key, xs, n)
    for c = 1, #xs, n do redis.call(cmd, key, unpack(xs, c, math.min(c + n - 1, #xs))) end
  end
  local keys = {}
  for _, g in ipairs(gs) do
    for b = g.b + 3, g.b + g.n - 6, 6 do keys[#keys + 1] = ARGV[b] end
  end
  local recs = {}
  for c = 1, #keys, 1000 do
    local part = redis.call('HMGET', JOBS, unpack(keys, c, math.min(c + 999, #keys)))
    for x = 1, #part do recs[c + x - 1] = part[x] end
  end
  local out, results, running, dropped, finished = {}, {}, {}, {}, {}
  local outs = {} -- node -> outcomes of waited dispatches (see publish_node)
  local settled, at = 0, 0
  -- A final outcome of job k (`ok` '1': done, `res` its result; '0':
  -- failed, `res` its error): kept as its result for keep_ms; returns the
  -- completion record and outcome for its dispatcher when one waits (`did`).
  local function finish(k, ok, res, did, keep)
    finished[#finished + 1] = k
    if keep > 0 then redis.call('SET', RES..k, ok..res, 'PX', keep) end
    if did ~= '' then return done_rec(did, ok, res), {did, ok..res} end
    return '', nil
  end
  -- Policies by their text: a node's workers pass the same one, and with
  -- many small groups its parsing was a tenth of the call.
  local pols = {}
  for gi, g in ipairs(gs) do
    local w, keep, ps = ARGV[g.b], tonumber(ARGV[g.b + 1]), ARGV[g.b + 2] or ''
    local pol = pols[ps]
    if not pol then
      pol = policy(ps)
      pols[ps] = pol
    end
    local fenced, mine_dropped, j = {}, {}, 0
    local mem
    local function is_member()
      if mem == nil then mem = member(w) end
      return mem
    end
    for b = g.b + 3, g.b + g.n - 6, 6 do
      j = j + 1
      at = at + 1
      local k, e, outcome, did, node, err = ARGV[b], ARGV[b + 1], ARGV[b + 2], ARGV[b + 3], ARGV[b + 4], ARGV[b + 5]
      local raw = recs[at]
      local o, re, st, rn, rd
      if raw then o, re, st, rn, rd = string.match(raw, '^([^|]*)|([^|]*)|([^|]*)|([^|]*)|(.*)$') end
      local mine = o == w and re == e
      local msg, done = nil, nil
      local pd = plain(did)
      if outcome == 'ok' then
        if mine then
          if st == 'p' then
            running[#running + 1] = k
            running[#running + 1] = o..'|'..re..'|r|'..rn..'|'..rd
            settled = settled + 1
          end
        elseif not (raw and o ~= w) and is_member() then
          -- Completed, stopped or dispatched again while w, still a
          -- member, started it: the `C`, `T` or `S` entry that says so is
          -- in w's queue, after this start. Fencing it too would stop a
          -- job its handler already completed.
        else
          fenced[#fenced + 1] = k -- moved, or settled after w was lost
          fenced[#fenced + 1] = e
        end
        msg = pd..'\31\30'
      elseif outcome == 'fail' then
        msg = pd..'\31'..err..'\30'
        if mine then
          if st == 'p' then settled = settled + 1 end
          mine_dropped[#mine_dropped + 1] = k
          if settle_failure(k, {n = rn, d = rd}, err, pol, j) == 'retry' then
            msg = pd..'\31\30' -- accepted: it runs again after the backoff
          else
            local rec
            rec, done = finish(k, '0', err, did, keep)
            msg = msg..rec
          end
        end
      elseif outcome == 'done' then
        -- Started and finished at once (a task handler): `err` is the result.
        msg = pd..'\31\30'
        if mine then
          if st == 'p' then settled = settled + 1 end
          mine_dropped[#mine_dropped + 1] = k
          local rec
          rec, done = finish(k, '1', err, did, keep)
          msg = msg..rec
        end
      end
      if msg and did ~= '' then
        if not results[node] then results[node] = {} end
        table.insert(results[node], msg)
      end
      if done then
        if not outs[node] then outs[node] = {} end
        table.insert(outs[node], done)
      end
    end
    for _, k in ipairs(mine_dropped) do dropped[#dropped + 1] = k end
    chunked('SREM', owned(w), mine_dropped, 1000)
    out[gi] = fenced
  end
  chunked('HSET', JOBS, running, 2000)
  chunked('HDEL', JOBS, dropped, 1000)
  chunked('HDEL', PAY, dropped, 1000)
  chunked('HDEL', TRIES, finished, 1000)
  if settled > 0 then redis.call('DECRBY', QUEUED, settled) end
  for node, msgs in pairs(results) do publish_node(node, table.concat(msgs), outs[node]) end
  return out
end
)lua";

} // namespace

const script& confirm() {
  static const script s = make((std::string{confirm_groups} + R"lua(
return confirm_groups({{b = 1, n = #ARGV}})[1]
)lua").c_str());
  return s;
}

const script& confirm_many() {
  static const script s = make((std::string{confirm_groups} + R"lua(
local gs, seen, twice, i = {}, {}, false, 1
while i <= #ARGV do
  local g = {b = i + 1, n = tonumber(ARGV[i])}
  gs[#gs + 1] = g
  for b = g.b + 3, g.b + g.n - 6, 6 do
    if seen[ARGV[b]] then twice = true end
    seen[ARGV[b]] = true
  end
  i = i + g.n + 1
end
if not twice then return confirm_groups(gs) end
-- A key in two groups: one group after the other, each seeing the writes
-- of the ones before it.
local out = {}
for gi, g in ipairs(gs) do out[gi] = confirm_groups({g})[1] end
return out
)lua").c_str());
  return s;
}

} // namespace pulse::pool_scripts
