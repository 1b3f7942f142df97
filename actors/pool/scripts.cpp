#include "pulse/actors/pool/scripts.hpp"
#include "pulse/actors/pool/scripts_prologue.hpp"

#include <cctype>
#include <set>
#include <string>
#include <vector>

namespace pulse::pool_scripts {

std::string pool_prefix(const std::string& pool) {
  return "pulse:pool:{" + pool + "}:";
}

std::vector<std::string> script_keys(const std::string& prefix) {
  return {prefix, prefix + "pin"};
}

std::string control_channel(const std::string& pool) {
  return pool_prefix(pool) + "ctl";
}

std::string node_channel(const std::string& pool, const std::string& node) {
  return pool_prefix(pool) + "node:" + node;
}

std::string intake_wake_key(const std::string& pool,
                            const std::string& node) {
  return pool_prefix(pool) + "intake:" + node;
}

namespace detail {

namespace {

// Shared prologue. A job record is `owner|epoch|state|node|dispatch_id`
// (state `p` pending, `r` running); the payload lives in `payloads`.
// Each script gets only the statements it uses (`make`): every statement
// starts with `local` in column 0 (comment lines above it belong to it),
// one name per key.
constexpr const char* prologue = R"lua(
local pfx = KEYS[1]
local JOBS = pfx..'jobs'
local PAY = pfx..'payloads'
local WORKERS = pfx..'workers'
local ALIVE = pfx..'alive'
local MREV = pfx..'mrev'
local EPOCH = pfx..'epoch'
local QUEUED = pfx..'queued'
local ORPH = pfx..'orphans'
local SHUT = pfx..'shutdown'
local CTL = pfx..'ctl'
local LEASE = pfx..'cleaner'
local TICKS = pfx..'tickers'
local DELAYED = pfx..'delayed'
local DPAY = pfx..'delayed_payloads'
local RES = pfx..'result:'
local DONE = pfx..'done:'
local INFO = pfx..'info'
local TRIES = pfx..'tries'
local DMETA = pfx..'delayed_meta'
local DEAD = pfx..'dead'
local DEADPAY = pfx..'dead_payloads'
local DEADINFO = pfx..'dead_info'
local RATE = pfx..'rate'
local RATED = pfx..'rated'
local RSEQ = pfx..'rate_seq'
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
-- Retry state of a job that has per-dispatch options or failed before:
-- `tries[k] = failures|max|timeout_ms|history` (max and timeout empty: the
-- pool's); history holds the last 10 `attempt\31unix_ms\31error\30`.
local function tries(k)
  local t = redis.call('HGET', TRIES, k)
  if not t then return 0, '', '', '' end
  local f, m, to, h = string.match(t, '^(%d+)|(%d*)|(%d*)|(.*)$')
  if not f then return 0, '', '', '' end
  return tonumber(f), m, to, h
end
-- Start entry: everything the worker needs to start without a round trip;
-- `/attempt/timeout_ms` follows the epoch after a failure or with options.
local function start_msg(k, r, p)
  p = p or redis.call('HGET', PAY, k) or ''
  local f, _, to = tries(k)
  local x = ''
  if f > 0 or to ~= '' then x = '/'..(f + 1)..'/'..to end
  return 'S'..r.e..x..' '..#k..' '..#r.n..' '..#r.d..' '..k..r.n..r.d..p
end
-- The retry policy a node passes: `max|base_ms|cap_ms|jitter_pct|rnd`.
local function policy(s)
  local m, b, c, j, x = string.match(s or '', '^(%d+)|(%d+)|(%d+)|(%d+)|(%d+)$')
  if not m then return {max = 0, base = 1000, cap = 600000, jit = 0, rnd = 0} end
  return {max = tonumber(m), base = tonumber(b), cap = tonumber(c),
          jit = tonumber(j), rnd = tonumber(x)}
end
-- A failed attempt of job k (record r, payload still in PAY): retries off
-- ('failed'), a retry due after the backoff ('retry': delayed set, with the
-- dispatcher in DMETA), or the dead set after the last attempt ('dead').
-- The caller deletes the job's record, payload and ownership (and, when
-- 'failed', its retry state).
local function settle_failure(k, r, err, pol, salt)
  local fails, m, to, hist = tries(k)
  local max = pol.max
  if m ~= '' then max = tonumber(m) end
  if max <= 0 then return 'failed' end
  fails = fails + 1
  local now = now_ms()
  err = string.sub((string.gsub(err, '[\30\31]', '?')), 1, 1000)
  hist = hist..fails..'\31'..now..'\31'..err..'\30'
  local _, n = string.gsub(hist, '\30', '')
  while n > 10 do
    hist = string.sub(hist, string.find(hist, '\30', 1, true) + 1)
    n = n - 1
  end
  local p = redis.call('HGET', PAY, k) or ''
  local state = fails..'|'..m..'|'..to..'|'..hist
  if fails < max then
    local d = pol.base * 2 ^ (fails - 1)
    if d > pol.cap then d = pol.cap end
    local x = ((pol.rnd + salt * 618034) % 1000000) / 1000000
    local due = now + math.floor(d - d * pol.jit / 100 * x)
    local first = redis.call('ZRANGE', DELAYED, 0, 0, 'WITHSCORES')
    redis.call('ZADD', DELAYED, due, k)
    redis.call('HSET', DPAY, k, p)
    redis.call('HSET', DMETA, k, r.n..'|'..r.d)
    redis.call('HSET', TRIES, k, state)
    if not first[2] or due < tonumber(first[2]) then
      redis.call('PUBLISH', CTL, 'd'..string.format('%d', due))
    end
    return 'retry'
  end
  redis.call('ZADD', DEAD, now, k)
  redis.call('HSET', DEADPAY, k, p)
  redis.call('HSET', DEADINFO, k, state)
  redis.call('HDEL', TRIES, k)
  return 'dead'
end
-- A dispatch ID as a job record holds it: `<id>` (the dispatcher waits
-- for the start) or `<id>.<keep_ms>` (it also waits for the outcome).
-- `plain(d)` is the `<id>` that the node's records carry.
local function plain(d) return (string.match(d, '^[^.]*')) end
-- The completion record of dispatch d: `c<id>\31<ok><len>\31<res>\30`.
local function done_rec(d, ok, res)
  return 'c'..plain(d)..'\31'..ok..#res..'\31'..res..'\30'
end
-- Publishes msg on node n's channel. When no client of this server got it
-- (the node's pub/sub connection is down, or in a cluster on another
-- server), the outcomes in outs ({d, ok..res} pairs) of dispatches that wait
-- for them (`<id>.<keep_ms>`) are kept as `out:<n>:<id>` for keep_ms: the
-- node reads them back after it subscribed again.
local function publish_node(n, msg, outs)
  if redis.call('PUBLISH', pfx..'node:'..n, msg) > 0 or not outs then return end
  for _, o in ipairs(outs) do
    local id, keep = string.match(o[1], '^(%d+)%.(%d+)$')
    if keep then redis.call('SET', pfx..'out:'..n..':'..id, o[2], 'PX', keep) end
  end
end
-- Admission a node passes: `max_queued|rate_limit|rate_period_ms` (a plain
-- number: max_queued only, no rate limit).
local function limits(s)
  local m, n, p = string.match(s or '', '^(%d+)|(%d+)|(%d+)$')
  if not m then return tonumber(s) or 0, 0, 0 end
  return tonumber(m), tonumber(n), tonumber(p)
end
-- Start slots under a rate limit of n starts per p ms. RATE logs every
-- grant by time, future ones too (reserved by jobs waiting for their slot
-- in the delayed set). A new slot is at or after the last one and at least
-- p after the n-th most recent, so no n + 1 grants fit in one window of p.
-- `slots(n, p, now).next()` takes the next slot (its time); `.done()`
-- writes the slots taken.
local function slots(n, p, now)
  redis.call('ZREMRANGEBYSCORE', RATE, '-inf', now - p)
  local len = redis.call('ZCARD', RATE)
  local last = now
  if len > 0 then
    local l = tonumber(redis.call('ZRANGE', RATE, -1, -1, 'WITHSCORES')[2])
    if l > last then last = l end
  end
  local lo = len - n
  if lo < 0 then lo = 0 end
  local old, added, sl = nil, {}, {}
  function sl.next()
    local total = len + #added
    local t = last
    if total >= n then
      local i, x = total - n, nil
      if i < len then
        if not old then old = redis.call('ZRANGE', RATE, lo, len - 1, 'WITHSCORES') end
        x = tonumber(old[2 * (i - lo) + 2])
      else
        x = added[i - len + 1]
      end
      if x + p > t then t = x + p end
    end
    added[#added + 1] = t
    last = t
    return t
  end
  function sl.done()
    if #added == 0 then return end
    local base = redis.call('INCRBY', RSEQ, #added) - #added
    local z = {}
    for i, t in ipairs(added) do
      z[#z + 1] = string.format('%d', t)
      z[#z + 1] = tostring(base + i)
    end
    redis.call('ZADD', RATE, unpack(z))
  end
  return sl
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

/// A top-level statement of the prologue and the names it defines.
struct part {
  std::vector<std::string> names;
  std::string code;
};

/// Every Lua identifier in `code` (strings and comments included: a word
/// there only adds a statement that is not needed).
std::set<std::string> words_of(const std::string& code) {
  std::set<std::string> out;
  auto ident = [](char c, bool first) {
    return std::isalpha(static_cast<unsigned char>(c)) || c == '_'
           || (!first && std::isdigit(static_cast<unsigned char>(c)));
  };
  for (size_t i = 0; i < code.size();) {
    if (!ident(code[i], false)) {
      ++i;
      continue;
    }
    auto j = i;
    while (j < code.size() && ident(code[j], false))
      ++j;
    if (ident(code[i], true)) // not a number
      out.insert(code.substr(i, j - i));
    i = j;
  }
  return out;
}

/// Splits the prologue into its statements (see `prologue`).
std::vector<part> parts_of(const std::string& text) {
  std::vector<part> out;
  std::string comments;
  size_t pos = 0;
  while (pos < text.size()) {
    auto end = text.find('\n', pos);
    end = end == std::string::npos ? text.size() : end + 1;
    auto line = text.substr(pos, end - pos);
    pos = end;
    if (line.rfind("local ", 0) == 0) {
      part p;
      if (line.rfind("local function ", 0) == 0) {
        auto from = std::string{"local function "}.size();
        p.names.push_back(line.substr(from, line.find('(') - from));
      } else {
        auto lhs = line.substr(6, line.find('=') - 6);
        for (auto& w : words_of(lhs))
          p.names.push_back(w);
      }
      p.code = std::move(comments) + line;
      comments.clear();
      out.push_back(std::move(p));
    } else if (line.rfind("--", 0) == 0) {
      comments += line;
    } else if (!out.empty()) {
      out.back().code += line; // a function's body and `end`
    }
  }
  return out;
}

} // namespace

script make(const char* body) {
  static const std::vector<part> parts = parts_of(prologue);
  // The statements `body` names, and those they name in turn.
  std::vector<bool> used(parts.size(), false);
  auto wanted = words_of(body);
  for (bool more = true; more;) {
    more = false;
    for (size_t i = 0; i < parts.size(); ++i) {
      if (used[i])
        continue;
      for (auto& n : parts[i].names) {
        if (wanted.count(n) != 0) {
          used[i] = true;
          more = true;
          auto ws = words_of(parts[i].code);
          wanted.insert(ws.begin(), ws.end());
          break;
        }
      }
    }
  }
  std::string src;
  for (size_t i = 0; i < parts.size(); ++i)
    if (used[i])
      src += parts[i].code;
  return script{src + body};
}

std::vector<std::string> prologue_names() {
  std::vector<std::string> out;
  for (auto& p : parts_of(prologue))
    out.insert(out.end(), p.names.begin(), p.names.end());
  return out;
}

} // namespace detail

} // namespace pulse::pool_scripts
