// A pool node after its pub/sub connection re-subscribed: results published
// while nobody listened are found again (the waiting dispatches' job
// records, and the outcomes the completion scripts kept).

#include "pulse/actors/pool/node_state.hpp"
#include "pulse/actors/pool/routing.hpp"
#include "pulse/runtime/log.hpp"

namespace pulse::node_detail {

bool array_reply(const caf::expected<resp::value>& r, size_t n,
                 const char* what, const std::string& pool,
                 const std::string& node) {
  if (r && r->is_array() && r->elements.size() == n)
    return true;
  log::warn("pool node {} pool={} node={} error=\"{}\"", what, pool, node,
            r ? r->render() : render(r.error()));
  return false;
}

void node_state::recheck_dispatches() {
  auto waiting = core->waiting();
  if (waiting.empty())
    return;
  command hmget;
  hmget.args.reserve(2 + waiting.size());
  hmget.args.emplace_back("HMGET");
  hmget.args.emplace_back(core->prefix + "jobs");
  for (auto& w : waiting)
    hmget.args.emplace_back(w.second);
  call(std::move(hmget), [this, waiting](caf::expected<resp::value> r) {
    rechecked(waiting, r);
  });
}

void node_state::rechecked(
  const std::vector<std::pair<uint64_t, std::string>>& waiting,
  const caf::expected<resp::value>& r) {
  if (!array_reply(r, waiting.size(), "cannot look up its waiting dispatches",
                   core->pool, core->node))
    return;
  size_t started = 0;
  size_t gone = 0;
  auto soon = std::chrono::steady_clock::now() + std::chrono::seconds{1};
  for (size_t i = 0; i < waiting.size(); ++i) {
    auto& rec = r->elements[i];
    if (!rec.is_string()) {
      // Stored, yet gone now: discarded by a failover (or started and
      // finished while nobody listened). Its start, if one is still on
      // the way, has a second to arrive; then it fails as "the outcome is
      // unknown" instead of waiting for the whole dispatch timeout.
      if (core->stored(waiting[i].first)) {
        core->expire_early(waiting[i].first, soon);
        ++gone;
      }
      continue;
    }
    auto e = pool_routing::parse_job_entry(rec.str);
    if (e && e->state == "r" && e->node == core->node
        && e->dispatch_id == std::to_string(waiting[i].first)
        && core->complete(waiting[i].first, caf::none))
      ++started;
  }
  if (started > 0)
    log::info("pool node completed dispatches whose start result was "
              "published while re-subscribing pool={} node={} count={}",
              core->pool, core->node, started);
  if (gone > 0)
    log::warn("pool node lost track of stored dispatches while "
              "re-subscribing (failover or restart?); they fail in 1 s "
              "unless their start arrives pool={} node={} count={}",
              core->pool, core->node, gone);
}

std::string node_state::outcome_key(uint64_t id) const {
  return core->prefix + "out:" + core->node + ":" + std::to_string(id);
}

void node_state::recover_outcomes() {
  auto ids = core->results.ids();
  if (ids.empty())
    return;
  command mget;
  mget.args.reserve(1 + ids.size());
  mget.args.emplace_back("MGET");
  for (auto id : ids)
    mget.args.emplace_back(outcome_key(id));
  call(std::move(mget), [this, ids](caf::expected<resp::value> r) {
    recovered(ids, r);
  });
}

void node_state::recovered(const std::vector<uint64_t>& ids,
                           const caf::expected<resp::value>& r) {
  if (!array_reply(r, ids.size(), "cannot look up kept job outcomes",
                   core->pool, core->node))
    return;
  command del;
  del.args.emplace_back("DEL");
  size_t count = 0;
  for (size_t i = 0; i < ids.size(); ++i) {
    auto& rec = r->elements[i];
    if (!rec.is_string())
      continue;
    del.args.push_back(outcome_key(ids[i]));
    core->complete(ids[i], caf::none); // its start, if still waiting
    if (core->results.complete_kept(ids[i], rec.str))
      ++count;
  }
  if (del.args.size() == 1)
    return;
  call(std::move(del), [this](caf::expected<resp::value> d) {
    if (!d)
      log::warn("pool node cannot delete kept job outcomes pool={} node={} "
                "error=\"{}\" (they expire)",
                core->pool, core->node, render(d.error()));
  });
  log::info("pool node completed dispatches from outcomes kept while "
            "re-subscribing pool={} node={} count={}",
            core->pool, core->node, count);
}

} // namespace pulse::node_detail
