// Collecting one metrics snapshot: a short-lived event-based actor asks every
// live gateway, the pub/sub actor and every announced reader, sink, replica
// and pool node for its stats, each request bounded by the scrape timeout,
// and hands the aggregated snapshot to the waiting HTTP thread.

#include "pulse/runtime/metrics.hpp"

#include <algorithm>
#include <chrono>
#include <future>
#include <map>
#include <memory>

#include <caf/actor_system.hpp>
#include <caf/event_based_actor.hpp>

#include "pulse/runtime/errors.hpp"
#include "pulse/runtime/runtime.hpp"

namespace pulse {

namespace {

using clock_type = std::chrono::steady_clock;

std::string join(const std::vector<std::string>& xs) {
  std::string out;
  for (auto& x : xs) {
    if (!out.empty())
      out += ',';
    out += x;
  }
  return out;
}

void add(stream_stats& acc, const stream_stats& x, bool first) {
  acc.polls += x.polls;
  acc.delivered += x.delivered;
  acc.filtered += x.filtered;
  acc.malformed += x.malformed;
  acc.acked += x.acked;
  acc.nacked += x.nacked;
  acc.reclaimed += x.reclaimed;
  acc.dead_lettered += x.dead_lettered;
  acc.stale_consumers_removed += x.stale_consumers_removed;
  acc.trimmed += x.trimmed;
  acc.errors += x.errors;
  acc.subscribers += x.subscribers;
  acc.pending = std::max(acc.pending, x.pending);
  acc.lag = first ? x.lag : std::max(acc.lag, x.lag);
  // Per stream: the group's numbers (the same from every instance) from
  // the first, this process' counts added up.
  if (first || acc.per_stream.empty()) {
    acc.per_stream = x.per_stream;
    return;
  }
  for (auto& ps : x.per_stream)
    for (auto& a : acc.per_stream)
      if (a.stream == ps.stream) {
        a.delivered += ps.delivered;
        a.acked += ps.acked;
        a.nacked += ps.nacked;
        a.reclaimed += ps.reclaimed;
        a.dead_lettered += ps.dead_lettered;
      }
}

void add(replica_stats& acc, const replica_stats& x) {
  acc.rev = std::max(acc.rev, x.rev);
  acc.applied += x.applied;
  acc.ignored += x.ignored;
  acc.resyncs += x.resyncs;
  acc.gaps += x.gaps;
  acc.malformed += x.malformed;
  acc.subscribers += x.subscribers;
  acc.propagation.merge(x.propagation);
  acc.propagation_unmatched += x.propagation_unmatched;
}

/// What the gathering actor builds up (keyed, ordered maps keep the output
/// stable between scrapes).
struct gather_state {
  std::map<std::string, metrics_snapshot::gateway_entry> gateways;
  std::map<std::pair<std::string, std::string>, metrics_snapshot::stream_entry>
    sinks;
  std::map<std::string, metrics_snapshot::stream_entry> readers;
  std::map<std::string, metrics_snapshot::map_entry> maps;
  std::map<std::pair<std::string, std::string>, pool_stats> pools;
  metrics_snapshot out;
  size_t outstanding = 0;
  clock_type::time_point start = clock_type::now();
  std::shared_ptr<std::promise<metrics_snapshot>> done;

  void finish() {
    for (auto& kv : gateways)
      out.gateways.push_back(std::move(kv.second));
    // The shared (pipelined) gateway first.
    std::sort(out.gateways.begin(), out.gateways.end(),
              [](auto& a, auto& b) { return a.role > b.role; });
    for (auto& kv : sinks)
      out.sinks.push_back(std::move(kv.second));
    for (auto& kv : readers)
      out.readers.push_back(std::move(kv.second));
    for (auto& kv : maps)
      out.maps.push_back(std::move(kv.second));
    for (auto& kv : pools)
      out.pools.push_back(std::move(kv.second));
    out.duration
      = std::chrono::duration<double>(clock_type::now() - start).count();
    done->set_value(std::move(out));
  }
};

struct collect_input {
  std::vector<std::pair<gateway_role, gateway_actor>> gateways;
  pubsub_actor pubsub;
  std::vector<metrics_source> sources;
  caf::timespan timeout;
};

void gather(caf::event_based_actor* self, collect_input in,
            std::shared_ptr<std::promise<metrics_snapshot>> done) {
  auto st = std::make_shared<gather_state>();
  st->done = std::move(done);
  auto t = in.timeout;
  // The actor lives until the last answer (`settle` quits it).
  self->become([](stats_atom) {
    // nop
  });
  // Each answer (or failure) settles one request; the last one finishes.
  auto settle = [self, st](bool ok) {
    if (!ok)
      ++st->out.missing;
    if (--st->outstanding == 0) {
      st->finish();
      self->quit();
    }
  };
  auto on_error = [settle](const caf::error&) { settle(false); };
  st->outstanding = in.gateways.size() + (in.pubsub ? 1 : 0)
                    + in.sources.size();
  st->out.asked = st->outstanding;
  if (st->outstanding == 0) {
    st->finish();
    self->quit();
    return;
  }
  for (auto& [role, gw] : in.gateways) {
    std::string name
      = role == gateway_role::pipelined ? "pipelined" : "blocking";
    self->request(gw, t, stats_atom::value)
      .then(
        [st, settle, name](const gateway_stats& x) {
          auto& e = st->gateways[name];
          e.role = name;
          ++e.gateways;
          if (x.connected)
            ++e.connected;
          merge(e.stats, x);
          settle(true);
        },
        on_error);
  }
  if (in.pubsub)
    self->request(in.pubsub, t, stats_atom::value)
      .then(
        [st, settle](const pubsub_stats& x) {
          st->out.has_pubsub = true;
          st->out.pubsub = x;
          settle(true);
        },
        on_error);
  for (auto& src : in.sources) {
    auto hdl = caf::actor_cast<caf::actor>(src.addr);
    if (!hdl) {
      // Gone since the list was taken: nothing to report.
      --st->out.asked;
      settle(true);
      continue;
    }
    auto streams = join(src.streams);
    switch (src.kind) {
      case metrics_kind::reader:
      case metrics_kind::sink: {
        bool sink = src.kind == metrics_kind::sink;
        self->request(caf::actor_cast<reader_actor>(hdl), t, stats_atom::value)
          .then(
            [st, settle, sink, name = src.name,
             streams](const stream_stats& x) {
              auto& e = sink ? st->sinks[{name, streams}] : st->readers[streams];
              e.name = name;
              e.streams = streams;
              add(e.stats, x, e.instances == 0);
              ++e.instances;
              settle(true);
            },
            on_error);
        break;
      }
      case metrics_kind::replica:
        self->request(caf::actor_cast<replica_actor>(hdl), t, stats_atom::value)
          .then(
            [st, settle, name = src.name](const replica_stats& x) {
              auto& e = st->maps[name];
              e.name = name;
              add(e.stats, x);
              ++e.replicas;
              settle(true);
            },
            on_error);
        break;
      case metrics_kind::pool_node:
        self
          ->request(caf::actor_cast<pool_node_actor>(hdl), t,
                    stats_atom::value)
          .then(
            [st, settle](const pool_stats& x) {
              st->pools[{x.pool, x.node}] = x;
              settle(true);
            },
            on_error);
        break;
    }
  }
}

} // namespace

caf::expected<metrics_snapshot> collect_metrics(runtime& rt,
                                                caf::timespan timeout) {
  collect_input in;
  in.gateways = rt.gateways();
  in.pubsub = rt.pubsub();
  in.sources = rt.sources();
  in.timeout = timeout;
  auto done = std::make_shared<std::promise<metrics_snapshot>>();
  auto result = done->get_future();
  rt.system().spawn(gather, std::move(in), done);
  // Every request is bounded by `timeout`: the answer comes within it; the
  // extra margin covers a busy scheduler.
  if (result.wait_for(2 * timeout) != std::future_status::ready)
    return make_error(errc::timeout, "metrics: collection did not finish in "
                                     "twice the scrape timeout");
  return result.get();
}

} // namespace pulse
