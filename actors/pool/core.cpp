#include "pulse/actors/pool/core.hpp"

#include <algorithm>
#include <atomic>
#include <charconv>
#include <random>
#include <unistd.h>

#include "pulse/actors/redis/client.hpp"
#include "pulse/runtime/errors.hpp"
#include "pulse/runtime/names.hpp"
#include "pulse/actors/pool/scripts.hpp"

namespace pulse {

std::string pool_membership::target(const std::string& key) const {
  auto w = pool_routing::owner(active, key);
  return w ? w->id : std::string{};
}

std::shared_ptr<const pool_membership>
pool_membership::parse(const resp::value& v) {
  if (!v.is_array() || v.elements.empty())
    return nullptr;
  auto rev = pool_routing::parse_i64(v.elements[0].str);
  if (!rev)
    return nullptr;
  auto m = std::make_shared<pool_membership>();
  m->rev = *rev;
  for (size_t i = 1; i + 1 < v.elements.size(); i += 2) {
    auto& id = v.elements[i].str;
    auto& val = v.elements[i + 1].str;
    auto bar = val.find('|');
    auto created = pool_routing::parse_i64(val.substr(0, bar));
    if (!created)
      continue; // not ours: skip, as Go Pulse skips unparseable entries
    m->active.push_back(pool_routing::worker{id, *created});
    m->nodes[id] = bar == std::string::npos ? std::string{} : val.substr(bar + 1);
  }
  pool_routing::sort_routing_order(m->active);
  return m;
}

namespace {

std::string host_name() {
  char buf[256] = {};
  if (gethostname(buf, sizeof(buf) - 1) != 0 || buf[0] == '\0')
    return "localhost";
  return buf;
}

// `<host>:<pid>:<k>` for the k-th node of this process.
std::string default_node_name() {
  static std::atomic<uint64_t> nodes{0};
  return host_name() + ":" + std::to_string(getpid()) + ":"
         + std::to_string(++nodes);
}

} // namespace

pool_core::pool_core(std::string pool, std::string node, pool_options opts)
  : pool(std::move(pool)),
    node(std::move(node)),
    prefix(pool_scripts::pool_prefix(this->pool)),
    script_keys(pool_scripts::script_keys(prefix)),
    opts(opts),
    name(opts.name.empty() ? default_node_name() : opts.name),
    members_(std::make_shared<pool_membership>()) {
  // nop
}

std::string pool_core::worker_name(const std::string& id) {
  std::lock_guard<std::mutex> guard{mtx_};
  auto i = worker_names_.find(id);
  if (i == worker_names_.end())
    i = worker_names_
          .emplace(id, name + ":" + std::to_string(worker_names_.size() + 1))
          .first;
  return i->second;
}

std::string pool_core::info() const {
  return name + "|" + host_name() + "|" + std::to_string(getpid()) + "|"
         + PULSE_VERSION;
}

std::shared_ptr<const pool_membership> pool_core::members() const {
  std::lock_guard<std::mutex> guard{mtx_};
  return members_;
}

bool pool_core::install(std::shared_ptr<const pool_membership> m) {
  if (!m)
    return false;
  std::lock_guard<std::mutex> guard{mtx_};
  if (m->rev < members_->rev)
    return false;
  members_ = std::move(m);
  return true;
}

void pool_core::replace(std::shared_ptr<const pool_membership> m) {
  if (!m)
    return;
  std::lock_guard<std::mutex> guard{mtx_};
  members_ = std::move(m);
}

void pool_core::set_lease_deadline(std::chrono::steady_clock::time_point t) {
  lease_deadline_ = t.time_since_epoch().count();
}

bool pool_core::lease_valid() const {
  return std::chrono::steady_clock::now().time_since_epoch().count()
         < lease_deadline_.load();
}

caf::error pool_core::check_dispatch(const std::string& key) const {
  if (closing)
    return make_error(errc::closed, "pool node is closed");
  return validate_key(key, "pool", "dispatch");
}

uint64_t pool_core::next_dispatch_id() {
  return ++next_id_;
}

void pool_core::add_waiter(uint64_t id, std::string key, dispatch_done fn,
                           std::chrono::steady_clock::time_point deadline) {
  std::lock_guard<std::mutex> guard{mtx_};
  waiters_[id] = waiter{std::move(key), std::move(fn), deadline};
}

bool pool_core::complete(uint64_t id, caf::error err) {
  dispatch_done fn;
  {
    std::lock_guard<std::mutex> guard{mtx_};
    auto i = waiters_.find(id);
    if (i == waiters_.end())
      return false;
    fn = std::move(i->second.fn);
    waiters_.erase(i);
  }
  fn(std::move(err));
  return true;
}

void pool_core::complete_all(const caf::error& err) {
  std::unordered_map<uint64_t, waiter> xs;
  {
    std::lock_guard<std::mutex> guard{mtx_};
    xs.swap(waiters_);
  }
  for (auto& kv : xs)
    kv.second.fn(err);
}

std::vector<pool_core::expired_dispatch>
pool_core::expire(std::chrono::steady_clock::time_point now) {
  std::vector<expired_dispatch> expired;
  std::lock_guard<std::mutex> guard{mtx_};
  for (auto i = waiters_.begin(); i != waiters_.end();) {
    if (i->second.deadline <= now) {
      expired.push_back(expired_dispatch{i->first, std::move(i->second.key),
                                         std::move(i->second.fn),
                                         i->second.deadline});
      i = waiters_.erase(i);
    } else {
      ++i;
    }
  }
  return expired;
}

size_t pool_core::deliver(const std::string& msg) {
  size_t delivered = 0;
  size_t pos = 0;
  while (pos < msg.size()) {
    if (msg[pos] == 'c') { // a completion record (length-prefixed text)
      pos = results.deliver_record(msg, pos);
      if (pos == std::string::npos)
        break;
      continue;
    }
    auto end = msg.find('\x1e', pos);
    if (end == std::string::npos)
      end = msg.size();
    auto sep = msg.find('\x1f', pos);
    if (sep == std::string::npos || sep > end) {
      pos = end + 1; // malformed record: skip it
      continue;
    }
    uint64_t id = 0;
    auto parsed = std::from_chars(msg.data() + pos, msg.data() + sep, id);
    auto err = msg.substr(sep + 1, end - sep - 1);
    pos = end + 1;
    if (parsed.ec != std::errc{} || parsed.ptr != msg.data() + sep)
      continue; // not one of ours
    if (complete(id, err.empty() ? caf::error{}
                                 : make_error(errc::handler_failed,
                                              std::move(err))))
      ++delivered;
  }
  return delivered;
}

void pool_core::observe_dispatch(caf::timespan d, bool failed) {
  if (failed)
    dispatch_errors.fetch_add(1, std::memory_order_relaxed);
  std::lock_guard<std::mutex> guard{hist_mtx_};
  dispatch_latency_.observe(d);
}

latency_histogram pool_core::dispatch_latency() const {
  std::lock_guard<std::mutex> guard{hist_mtx_};
  return dispatch_latency_;
}

size_t pool_core::waiters() const {
  std::lock_guard<std::mutex> guard{mtx_};
  return waiters_.size();
}

void pool_core::mark_stored(uint64_t id) {
  std::lock_guard<std::mutex> guard{mtx_};
  if (auto i = waiters_.find(id); i != waiters_.end())
    i->second.stored = true;
}

void pool_core::expire_early(uint64_t id,
                             std::chrono::steady_clock::time_point deadline) {
  std::lock_guard<std::mutex> guard{mtx_};
  if (auto i = waiters_.find(id); i != waiters_.end())
    i->second.deadline = std::min(i->second.deadline, deadline);
}

bool pool_core::stored(uint64_t id) const {
  std::lock_guard<std::mutex> guard{mtx_};
  auto i = waiters_.find(id);
  return i != waiters_.end() && i->second.stored;
}

std::vector<std::pair<uint64_t, std::string>> pool_core::waiting() const {
  std::lock_guard<std::mutex> guard{mtx_};
  std::vector<std::pair<uint64_t, std::string>> result;
  result.reserve(waiters_.size());
  for (auto& kv : waiters_)
    result.emplace_back(kv.first, kv.second.key);
  return result;
}

std::string ms_arg(caf::timespan d) {
  return std::to_string(
    std::chrono::duration_cast<std::chrono::milliseconds>(d).count());
}

std::string dispatch_opts_arg(const dispatch_options& o) {
  if (o.max_attempts < 0 && o.timeout.count() < 0)
    return {};
  std::string out;
  if (o.max_attempts >= 0)
    out = std::to_string(o.max_attempts);
  out += '|';
  if (o.timeout.count() >= 0)
    out += ms_arg(o.timeout);
  return out;
}

std::string admission_arg(const pool_options& opts) {
  auto max = std::to_string(std::max<int64_t>(0, opts.max_queued_jobs));
  if (opts.rate_limit <= 0)
    return max;
  auto period = std::max<int64_t>(
    1, std::chrono::duration_cast<std::chrono::milliseconds>(opts.rate_period)
         .count());
  return max + '|' + std::to_string(opts.rate_limit) + '|'
         + std::to_string(period);
}

std::string retry_policy(const pool_options& opts) {
  thread_local std::minstd_rand rng{std::random_device{}()};
  auto ms = [](caf::timespan d) {
    return std::max<int64_t>(
      1, std::chrono::duration_cast<std::chrono::milliseconds>(d).count());
  };
  return std::to_string(std::max<int64_t>(0, opts.max_attempts)) + '|'
         + std::to_string(ms(opts.retry_base)) + '|'
         + std::to_string(ms(opts.retry_cap)) + '|'
         + std::to_string(std::clamp<int64_t>(opts.retry_jitter, 0, 100))
         + '|' + std::to_string(rng() % 1000000);
}

std::vector<std::string> add_member_args(pool_core& core,
                                         const std::string& id,
                                         int64_t created_ns) {
  return {core.node, id, std::to_string(created_ns),
          ms_arg(core.opts.worker_ttl), core.worker_name(id)};
}

std::vector<std::string>
move_args(const pool_core& core, const pool_membership& m,
          const std::string& from,
          const std::vector<std::pair<std::string, std::string>>& jobs) {
  std::vector<std::string> args{from, std::to_string(m.rev),
                                retry_policy(core.opts)};
  for (auto& [key, epoch] : jobs) {
    args.push_back(key);
    args.push_back(epoch);
    args.push_back(m.target(key));
  }
  return args;
}

const std::string& script_status(const resp::value& v) {
  static const std::string none;
  return v.is_array() && !v.elements.empty() ? v.elements[0].str : none;
}

caf::error reload_members(client& cli, pool_core& core) {
  auto v = cli.eval(pool_scripts::members(), core.script_keys, {});
  if (!v)
    return v.error();
  core.install(pool_membership::parse(*v));
  return caf::none;
}

caf::error dispatch_refusal(const std::string& status,
                            const std::string& key) {
  if (status == "exists")
    return make_error(errc::job_exists, "job " + key + " already exists");
  if (status == "overloaded")
    return make_error(errc::overloaded,
                      "pool has too many queued jobs (max-queued-jobs)");
  if (status == "shutdown")
    return make_error(errc::shutting_down, "pool is shutting down");
  if (status == "stale")
    return make_error(errc::redis_error,
                      "dispatch refused as stale: the pool's membership in "
                      "Redis still differs from this node's after reloading "
                      "it (e.g. a failover discarded the latest membership "
                      "change; it heals once the workers rejoin); the job "
                      "was not stored");
  return make_error(errc::redis_error, "unexpected dispatch reply " + status);
}

namespace {

/// Parses `n` space-terminated decimal lengths starting at `pos`, each at
/// most the size of `raw` (so that the sum of a few cannot wrap around).
bool parse_lengths(const std::string& raw, size_t& pos, size_t* out,
                   size_t n) {
  for (size_t i = 0; i < n; ++i) {
    auto sp = raw.find(' ', pos);
    if (sp == std::string::npos || sp == pos)
      return false;
    auto v = pool_routing::parse_i64(raw.substr(pos, sp - pos));
    if (!v || *v < 0 || static_cast<uint64_t>(*v) > raw.size())
      return false;
    out[i] = static_cast<size_t>(*v);
    pos = sp + 1;
  }
  return true;
}

} // namespace

queue_entry parse_queue_entry(const std::string& raw) {
  queue_entry e;
  if (raw.size() < 3
      || (raw[0] != 'S' && raw[0] != 'T' && raw[0] != 'N' && raw[0] != 'C'))
    return e;
  auto sp = raw.find(' ');
  if (sp == std::string::npos || sp < 2)
    return e;
  auto head = raw.substr(1, sp - 1);
  if (raw[0] == 'S') { // S<epoch>[/<attempt>/<timeout_ms>]
    if (auto slash = head.find('/'); slash != std::string::npos) {
      auto rest = head.substr(slash + 1);
      head.resize(slash);
      auto slash2 = rest.find('/');
      if (slash2 == std::string::npos)
        return e;
      auto attempt = pool_routing::parse_i64(rest.substr(0, slash2));
      if (!attempt || *attempt < 1 || *attempt > UINT32_MAX)
        return e;
      e.attempt = static_cast<uint32_t>(*attempt);
      if (slash2 + 1 < rest.size()) {
        auto t = pool_routing::parse_i64(rest.substr(slash2 + 1));
        if (!t || *t < 0)
          return e;
        e.timeout_ms = *t;
      }
    }
  }
  auto epoch = pool_routing::parse_i64(head);
  if (!epoch || *epoch <= 0)
    return e;
  size_t pos = sp + 1;
  if (raw[0] == 'S') {
    size_t len[3];
    if (!parse_lengths(raw, pos, len, 3) || len[0] == 0
        || len[0] + len[1] + len[2] > raw.size() - pos)
      return e;
    e.key = raw.substr(pos, len[0]);
    e.node = raw.substr(pos + len[0], len[1]);
    e.dispatch_id = raw.substr(pos + len[0] + len[1], len[2]);
    e.payload = raw.substr(pos + len[0] + len[1] + len[2]);
  } else if (raw[0] == 'N') {
    size_t len[1];
    if (!parse_lengths(raw, pos, len, 1) || len[0] == 0
        || len[0] > raw.size() - pos)
      return e;
    e.key = raw.substr(pos, len[0]);
    e.payload = raw.substr(pos + len[0]);
  } else {
    e.key = raw.substr(pos);
    if (e.key.empty())
      return e;
  }
  e.epoch = static_cast<uint64_t>(*epoch);
  e.kind = raw[0];
  return e;
}

} // namespace pulse
