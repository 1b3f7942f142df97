// The cluster router's node handling: one gateway per master, slot table
// refreshes (CLUSTER SLOTS), MOVED/ASK and lost connections, and the
// routing of one request with its redirects.

#include <algorithm>
#include <tuple>

#include <caf/actor_system.hpp>

#include "pulse/actors/redis/cluster_router_state.hpp"
#include "pulse/actors/redis/cluster_slot.hpp"
#include "pulse/runtime/log.hpp"

namespace pulse::cluster_detail {

namespace {


void prune_nodes(router_ptr self);

/// The wait before the refresh after `failures` failed ones in a row:
/// `reconnect_min` doubling, at most `reconnect_max`.
std::chrono::steady_clock::duration backoff_after(const redis_options& o,
                                                  uint64_t failures) {
  auto d = std::chrono::duration_cast<std::chrono::steady_clock::duration>(
    o.reconnect_min);
  auto cap = std::chrono::duration_cast<std::chrono::steady_clock::duration>(
    o.reconnect_max);
  for (uint64_t i = 1; i < failures && d < cap; ++i)
    d *= 2;
  return std::min(d, cap);
}

/// Drops `addr` if it still is gateway `gw` and still not in the table.
void drop_stale(router_ptr self, const std::string& addr,
                const gateway_actor& gw) {
  auto& st = self->state;
  auto i = st.nodes.find(addr);
  if (i == st.nodes.end() || i->second != gw)
    return;
  auto keep = st.table.nodes();
  if (std::find(keep.begin(), keep.end(), addr) != keep.end())
    return;
  drop_node(self, addr, "not in the cluster topology any more");
}

void flush_waiting(router_ptr self, const caf::error& err) {
  auto xs = std::move(self->state.waiting);
  self->state.waiting.clear();
  for (auto& f : xs)
    f(err);
}

void try_refresh(router_ptr self,
                 std::shared_ptr<std::vector<std::string>> cands, size_t i,
                 caf::error last) {
  auto& st = self->state;
  if (i >= cands->size()) {
    st.refreshing = false;
    if (!last)
      last = make_error(errc::connect_failed,
                        "cluster: no node answered CLUSTER SLOTS");
    ++st.refresh_failures;
    ++st.refresh_failures_total;
    auto wait = backoff_after(st.opts, st.refresh_failures);
    st.refresh_not_before = std::chrono::steady_clock::now() + wait;
    // Once per outage, not per attempt (they repeat every back-off).
    if (st.refresh_failures == 1)
      log::warn("cluster topology refresh failed, retrying with back-off "
                "error=\"{}\"",
                render(last));
    else
      log::debug("cluster topology refresh failed attempt={} next_in_ms={} "
                 "error=\"{}\"",
                 st.refresh_failures,
                 std::chrono::duration_cast<std::chrono::milliseconds>(wait)
                   .count(),
                 render(last));
    if (!st.have_table)
      flush_waiting(self, last);
    if (st.refresh_again) {
      st.refresh_again = false;
      refresh(self); // waits for the back-off
    }
    return;
  }
  auto addr = (*cands)[i];
  self
    ->request(node_gw(self, addr), caf::infinite, cmd_atom::value,
              make_command("CLUSTER", "SLOTS"))
    .then(
      [=](resp::value& v) {
        auto t = cluster::parse_slots(v, router_host_of(addr));
        if (!t || t->covered() == 0) {
          try_refresh(self, cands, i + 1,
                      t ? make_error(errc::protocol_error,
                                     "cluster: " + addr
                                       + " serves no slots (not a cluster?)")
                        : t.error());
          return;
        }
        auto& st = self->state;
        st.table = std::move(*t);
        st.have_table = true;
        st.refreshing = false;
        ++st.refreshes;
        if (st.refresh_failures > 0)
          log::info("cluster topology refresh works again from={} "
                    "failed_attempts={}",
                    addr, st.refresh_failures);
        st.refresh_failures = 0;
        prune_nodes(self);
        log::debug("cluster topology from={} masters={} slots={}", addr,
                   st.table.masters.size(), st.table.covered());
        flush_waiting(self, caf::none);
        if (st.refresh_again) {
          st.refresh_again = false;
          refresh(self);
        }
      },
      [=](caf::error& err) {
        // A seed or replica that does not answer is not kept reconnecting
        // (a master's gateway stays: requests are routed to it).
        auto code = code_of(err);
        auto& ms = self->state.table.masters;
        if ((code == errc::connect_failed || code == errc::disconnected
             || code == errc::timeout)
            && std::find(ms.begin(), ms.end(), addr) == ms.end())
          drop_node(self, addr, "did not answer a topology refresh", true);
        try_refresh(self, cands, i + 1, err);
      });
}

/// Closes the gateways of nodes not in the table (a killed node, a seed by
/// another name) once they hold no request (or are down): asked by
/// `stats_atom`, so a busy one waits for the next refresh.
void prune_nodes(router_ptr self) {
  auto& st = self->state;
  auto keep = st.table.nodes();
  for (auto& kv : st.nodes) {
    if (std::find(keep.begin(), keep.end(), kv.first) != keep.end())
      continue;
    auto addr = kv.first;
    auto gw = kv.second;
    self->request(gw, std::chrono::seconds{2}, stats_atom::value)
      .then(
        [self, addr, gw](gateway_stats& x) {
          if (!x.connected || x.in_flight + x.queued == 0)
            drop_stale(self, addr, gw);
        },
        [self, addr, gw](caf::error&) { drop_stale(self, addr, gw); });
  }
}

} // namespace

// The host part of `host:port`.
std::string router_host_of(const std::string& addr) {
  auto colon = addr.rfind(':');
  auto host = addr.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[')
    host = host.substr(1, host.size() - 2);
  return host;
}

gateway_actor node_gw(router_ptr self, const std::string& addr) {
  auto& st = self->state;
  if (auto i = st.nodes.find(addr); i != st.nodes.end())
    return i->second;
  auto gw = spawn_gateway(self->system(), cluster::node_options(st.opts, addr),
                          st.role);
  st.nodes.emplace(addr, gw);
  return gw;
}



/// Reads `CLUSTER SLOTS` from the known masters, then the known replicas,
/// then the seeds, until one answers (so a dead seed or master does not
/// stop it); one refresh at a time (a request for another while one runs
/// starts one more afterwards).
void refresh(router_ptr self) {
  auto& st = self->state;
  if (st.refreshing) {
    st.refresh_again = true;
    return;
  }
  if (st.refresh_scheduled)
    return;
  auto now = std::chrono::steady_clock::now();
  if (st.refresh_failures > 0 && now < st.refresh_not_before) {
    st.refresh_scheduled = true;
    self->delayed_send(self, st.refresh_not_before - now,
                       cluster_rtick_atom::value);
    return;
  }
  st.refreshing = true;
  auto cands = std::make_shared<std::vector<std::string>>(st.table.nodes());
  for (auto& s : st.seeds)
    if (std::find(cands->begin(), cands->end(), s) == cands->end())
      cands->push_back(s);
  try_refresh(self, cands, 0, caf::error{});
}

void refresh_tick(router_ptr self) {
  self->state.refresh_scheduled = false;
  refresh(self);
}

void drop_node(router_ptr self, const std::string& addr, const char* why,
               bool per_attempt) {
  auto& st = self->state;
  auto i = st.nodes.find(addr);
  if (i == st.nodes.end())
    return;
  caf::anon_send_exit(i->second, caf::exit_reason::user_shutdown);
  st.nodes.erase(i);
  ++st.dropped;
  if (st.keyless == addr)
    st.keyless.clear();
  if (per_attempt) // the refresh's own warning covers the outage
    log::debug("cluster node connection closed endpoint={} reason=\"{}\"",
               addr, why);
  else
    log::info("cluster node connection closed endpoint={} reason=\"{}\"",
              addr, why);
}

/// Runs `f` once a slot table exists (at once, or after the first refresh;
/// with its error when no node answered).
void when_ready(router_ptr self, std::function<void(caf::error)> f) {
  if (self->state.have_table) {
    f(caf::none);
    return;
  }
  self->state.waiting.push_back(std::move(f));
  refresh(self);
}

/// The master owning `slot`; for none, the keyless node: the table's
/// first master until a connect to it failed, then the next master
/// (always the same one while it works, so a `SCAN` cursor stays on the
/// node that made it).
std::string addr_for(router_state& st, std::optional<uint16_t> slot) {
  if (slot)
    if (auto o = st.table.owner[*slot]; o >= 0)
      return st.table.masters[static_cast<size_t>(o)];
  auto& ms = st.table.masters;
  if (!st.keyless.empty()
      && std::find(ms.begin(), ms.end(), st.keyless) != ms.end())
    return st.keyless;
  return ms.front();
}

namespace {

/// After a failed connect to `from`, the keyless node moves to the master
/// after it; returns false when there is no other master to try.
bool next_keyless(router_state& st, const std::string& from) {
  auto& ms = st.table.masters;
  if (ms.size() < 2)
    return false;
  auto i = std::find(ms.begin(), ms.end(), from);
  if (i == ms.end())
    return false;
  auto next = std::next(i) == ms.end() ? ms.begin() : std::next(i);
  st.keyless = *next;
  log::info("cluster keyless commands move from={} to={}", from, *next);
  return true;
}

} // namespace

void retry_later(router_ptr self, caf::timespan delay,
                 std::function<void()> f) {
  auto& st = self->state;
  auto id = ++st.next_later;
  st.later.emplace(id, std::move(f));
  self->delayed_send(self, delay, cluster_later_atom::value, id);
}

void run_later(router_ptr self, uint64_t id) {
  auto& st = self->state;
  auto i = st.later.find(id);
  if (i == st.later.end())
    return;
  auto f = std::move(i->second);
  st.later.erase(i);
  f();
}

void on_failure(router_ptr self, const caf::error& err,
                const std::string& from, int hops,
                std::chrono::steady_clock::time_point until,
                const routed_fn& done, const retry_fn& retry) {
  auto& st = self->state;
  auto code = code_of(err);
  if (code == errc::redis_error) {
    auto text = detail::error_text(err);
    if (auto r = cluster::parse_redirect(text, router_host_of(from))) {
      if (hops >= max_redirects) {
        done(err);
        return;
      }
      if (r->ask) {
        ++st.asks;
        retry(r->addr, hops + 1);
        return;
      }
      ++st.moved;
      st.table.owner[r->slot] = st.table.index_of(r->addr);
      refresh(self);
      retry(std::string{}, hops + 1);
      return;
    }
    auto delay = st.opts.reconnect_min;
    if (text.compare(0, 8, "TRYAGAIN") == 0
        && std::chrono::steady_clock::now() + delay < until) {
      // Redis ran nothing: safe to send again, once the migration of the
      // slot has moved on. It starts over at the owner, with no redirect
      // counted (each try meets ASK first), bounded by `until`.
      ++st.tryagains;
      retry_later(self, delay, [retry] { retry(std::string{}, 0); });
      return;
    }
    if (text.compare(0, 11, "CLUSTERDOWN") == 0)
      refresh(self);
  } else if (code == errc::disconnected || code == errc::connect_failed) {
    refresh(self);
  }
  done(err);
}

/// Sends a request (by `send`: a command or a script) to the node owning
/// `slot`, or `as_cmd` after `ASKING` to `ask`, and follows redirects.
void run_routed(router_ptr self, std::optional<uint16_t> slot,
                std::shared_ptr<command> as_cmd, send_fn make_request,
                routed_fn done, int hops, std::string ask,
                std::chrono::steady_clock::time_point until) {
  when_ready(self, [=](caf::error err) {
    if (err) {
      done(std::move(err));
      return;
    }
    auto addr = ask.empty() ? addr_for(self->state, slot) : ask;
    auto gw = node_gw(self, addr);
    auto fail = [=](caf::error e) {
      // A keyless command whose node cannot be reached (never sent: safe
      // to repeat) goes to the next master.
      if (!slot && ask.empty() && hops < max_redirects
          && code_of(e) == errc::connect_failed
          && addr_for(self->state, slot) == addr
          && next_keyless(self->state, addr)) {
        refresh(self);
        run_routed(self, slot, as_cmd, make_request, done, hops + 1,
                   std::string{}, until);
        return;
      }
      on_failure(self, e, addr, hops, until, done,
                 [=](std::string next, int next_hops) {
                   run_routed(self, slot, as_cmd, make_request, done,
                              next_hops, std::move(next), until);
                 });
    };
    if (!ask.empty()) {
      std::vector<command> b{make_command("ASKING"), *as_cmd};
      self->request(gw, caf::infinite, batch_atom::value, std::move(b))
        .then(
          [=](std::vector<resp::value>& vs) {
            if (vs.size() != 2)
              done(make_error(errc::protocol_error, "cluster: ASKING reply"));
            else if (vs[1].is_error())
              fail(make_error(errc::redis_error, vs[1].str));
            else
              done(std::move(vs[1]));
          },
          [=](caf::error& e) { fail(std::move(e)); });
      return;
    }
    make_request(
      gw, [=](resp::value& v) { done(std::move(v)); },
      [=](caf::error& e) { fail(std::move(e)); });
  });
}

} // namespace pulse::cluster_detail
