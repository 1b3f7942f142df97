// A pool's dead set through a blocking client (see dead_set.hpp).

#include "pulse/actors/pool/dead_set.hpp"

#include "pulse/actors/pool/core.hpp"
#include "pulse/actors/pool/routing.hpp"
#include "pulse/actors/pool/scripts.hpp"
#include "pulse/actors/redis/client.hpp"
#include "pulse/runtime/errors.hpp"

namespace pulse::pool_dead_set {

caf::expected<std::vector<dead_job>>
list(client& cli, const std::string& prefix, uint64_t limit) {
  if (limit == 0)
    return std::vector<dead_job>{};
  auto r = cli.eval(pool_scripts::dead_jobs(), pool_scripts::script_keys(prefix),
                    {std::to_string(limit)});
  if (!r)
    return r.error();
  return parse_list(*r);
}

std::vector<dead_job> parse_list(resp::value& r) {
  std::vector<dead_job> out;
  auto& xs = r.elements;
  for (size_t i = 0; i + 3 < xs.size(); i += 4)
    out.push_back(parse_dead_job(std::move(xs[i].str), xs[i + 1].str,
                                 std::move(xs[i + 2].str), xs[i + 3].str));
  return out;
}

caf::expected<bool> add_step(const resp::value& r, bool keys_named,
                             outcome& total) {
  if (script_status(r) != "ok" || r.elements.size() < 3)
    return make_error(errc::redis_error,
                      "unexpected reply of a dead-set script");
  auto n = pool_routing::parse_i64(r.elements[1].str).value_or(0);
  auto left = pool_routing::parse_i64(r.elements[2].str).value_or(0);
  total.done += static_cast<uint64_t>(std::max<int64_t>(n, 0));
  total.left = static_cast<uint64_t>(std::max<int64_t>(left, 0));
  return !keys_named && n > 0 && left > 0;
}

namespace {

/// Runs `s` (`redrive` or `purge_dead`) on `keys`, or while dead jobs are
/// left and it makes progress when `keys` is empty; sums the counts.
caf::expected<outcome> repeat_dead_script(client& cli, const script& s,
                                          const std::string& prefix,
                                          const std::vector<std::string>& keys) {
  outcome total;
  for (;;) {
    auto r = cli.eval(s, pool_scripts::script_keys(prefix), keys);
    if (!r)
      return r.error();
    auto again = add_step(*r, !keys.empty(), total);
    if (!again)
      return again.error();
    if (!*again)
      return total;
  }
}

} // namespace

caf::expected<outcome> redrive(client& cli, const std::string& prefix,
                               const std::vector<std::string>& keys) {
  return repeat_dead_script(cli, pool_scripts::redrive(), prefix, keys);
}

caf::expected<outcome> purge(client& cli, const std::string& prefix,
                             const std::vector<std::string>& keys) {
  return repeat_dead_script(cli, pool_scripts::purge_dead(), prefix, keys);
}

caf::expected<uint64_t> count(client& cli, const std::string& prefix) {
  auto r = cli.call(make_command("ZCARD", prefix + "dead"));
  if (!r)
    return r.error();
  return static_cast<uint64_t>(std::max<int64_t>(r->integer, 0));
}

} // namespace pulse::pool_dead_set
