// The pool's dead set on a pool node: jobs whose last attempt failed, read,
// redriven and purged (dead_set.cpp runs the scripts of scripts_retry.cpp).

#include "pulse/actors/pool/dead_set.hpp"
#include "pulse/actors/pool/node_state.hpp"
#include "pulse/actors/pool/scripts.hpp"
#include "pulse/runtime/errors.hpp"
#include "pulse/runtime/log.hpp"

namespace pulse {

dead_job parse_dead_job(std::string key, const std::string& died,
                        std::string payload, const std::string& state) {
  dead_job d;
  d.key = std::move(key);
  d.payload = std::move(payload);
  d.died_at = pool_routing::parse_i64(died).value_or(0);
  // attempts|max|timeout_ms|history
  auto p1 = state.find('|');
  auto p2 = p1 == std::string::npos ? p1 : state.find('|', p1 + 1);
  auto p3 = p2 == std::string::npos ? p2 : state.find('|', p2 + 1);
  if (p3 == std::string::npos)
    return d;
  auto n = pool_routing::parse_i64(state.substr(0, p1)).value_or(0);
  d.attempts = static_cast<uint32_t>(std::clamp<int64_t>(n, 0, UINT32_MAX));
  // history: attempt \x1f unix_ms \x1f error \x1e ...
  size_t pos = p3 + 1;
  while (pos < state.size()) {
    auto end = state.find('\x1e', pos);
    if (end == std::string::npos)
      end = state.size();
    auto rec = state.substr(pos, end - pos);
    auto a = rec.find('\x1f');
    auto b = a == std::string::npos ? a : rec.find('\x1f', a + 1);
    if (b != std::string::npos) {
      attempt_failure f;
      auto at = pool_routing::parse_i64(rec.substr(0, a)).value_or(0);
      f.attempt = static_cast<uint32_t>(std::clamp<int64_t>(at, 0,
                                                            UINT32_MAX));
      f.at = pool_routing::parse_i64(rec.substr(a + 1, b - a - 1))
               .value_or(0);
      f.error = rec.substr(b + 1);
      d.failures.push_back(std::move(f));
    }
    pos = end + 1;
  }
  return d;
}

namespace node_detail {

namespace ps = pool_scripts;

caf::result<std::vector<dead_job>> node_state::dead_jobs(uint64_t limit) {
  if (limit == 0)
    return std::vector<dead_job>{};
  auto rp = self->make_response_promise<std::vector<dead_job>>();
  eval(ps::dead_jobs(), {std::to_string(limit)},
       [rp](caf::expected<resp::value> r) mutable {
         if (!r)
           rp.deliver(std::move(r.error()));
         else
           rp.deliver(pool_dead_set::parse_list(*r));
       });
  return rp;
}

void node_state::repeat_dead_script(
  const script& s, std::vector<std::string> keys,
  std::shared_ptr<pool_dead_set::outcome> total,
  std::function<void(caf::expected<uint64_t>)> k) {
  auto named = !keys.empty();
  // `s` is one of the pool's static scripts: held by address.
  auto sp = &s;
  eval(s, keys, [this, sp, keys, total, k, named](caf::expected<resp::value> r) {
    if (!r)
      return k(std::move(r.error()));
    auto again = pool_dead_set::add_step(*r, named, *total);
    if (!again)
      return k(std::move(again.error()));
    if (*again)
      return repeat_dead_script(*sp, keys, total, k);
    k(total->done);
  });
}

caf::result<uint64_t>
node_state::redrive(const std::vector<std::string>& keys) {
  auto rp = self->make_response_promise<uint64_t>();
  repeat_dead_script(ps::redrive(), keys,
                     std::make_shared<pool_dead_set::outcome>(),
                     [this, rp](caf::expected<uint64_t> n) mutable {
                       if (n && *n > 0)
                         log::info("pool redrove dead jobs pool={} jobs={}",
                                   core->pool, *n);
                       deliver(rp, std::move(n));
                     });
  return rp;
}

caf::result<uint64_t>
node_state::purge_dead(const std::vector<std::string>& keys) {
  auto rp = self->make_response_promise<uint64_t>();
  repeat_dead_script(ps::purge_dead(), keys,
                     std::make_shared<pool_dead_set::outcome>(),
                     [rp](caf::expected<uint64_t> n) mutable {
                       deliver(rp, std::move(n));
                     });
  return rp;
}

} // namespace node_detail

} // namespace pulse
