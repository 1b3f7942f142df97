// Renders a metrics snapshot as Prometheus text (the families documented in
// docs/operations.md, "Metrics") and as JSON for the dashboard.

#include <cstdio>
#include <map>
#include <vector>

#include "pulse/runtime/metrics.hpp"
#include "pulse/runtime/prometheus.hpp"

namespace pulse {

namespace {

using prometheus::labels;
using wtype = prometheus::writer::type;

std::vector<double> bounds() {
  return {latency_histogram::bounds.begin(), latency_histogram::bounds.end()};
}

double d(uint64_t x) {
  return static_cast<double>(x);
}

void render_gateways(prometheus::writer& w, const metrics_snapshot& x) {
  for (auto& g : x.gateways) {
    labels l{{"role", g.role}};
    auto c = [&](const char* name, const char* help, uint64_t v) {
      w.sample(name, wtype::counter, help, l, d(v));
    };
    auto g_ = [&](const char* name, const char* help, uint64_t v) {
      w.sample(name, wtype::gauge, help, l, d(v));
    };
    c("pulse_gateway_commands_total",
      "Redis commands written by the gateways (a batch counts each command).",
      g.stats.sent);
    c("pulse_gateway_replies_total", "Redis replies received by the gateways.",
      g.stats.replies);
    c("pulse_gateway_errors_total",
      "Gateway requests answered with an error (Redis errors included).",
      g.stats.errors);
    c("pulse_gateway_timeouts_total",
      "Gateway requests failed by their timeout.", g.stats.timeouts);
    c("pulse_gateway_reconnects_total",
      "Successful gateway connects after the first.", g.stats.reconnects);
    c("pulse_gateway_retries_total",
      "Requests sent again: refused by Redis before running (LOADING, BUSY, "
      "...) or reads in flight when the connection was lost.",
      g.stats.refused_retries + g.stats.lost_retries);
    c("pulse_gateway_moved_redirects_total",
      "Redis Cluster MOVED redirects followed (requests sent again to a "
      "slot's new owner; 0 outside cluster mode).",
      g.stats.moved_redirects);
    c("pulse_gateway_ask_redirects_total",
      "Redis Cluster ASK redirects followed (ASKING and the request sent to "
      "the node importing a slot; 0 outside cluster mode).",
      g.stats.ask_redirects);
    g_("pulse_gateway_cluster_nodes",
       "Redis Cluster node connections the routers hold right now (opened "
       "on first use for nodes of the slot table, plus a seed during a "
       "refresh; 0 outside cluster mode).",
       g.stats.cluster_nodes);
    c("pulse_gateway_cluster_nodes_dropped_total",
      "Redis Cluster node connections the router closed because the node "
      "left the topology or a seed or replica did not answer a refresh (0 "
      "outside cluster mode).",
      g.stats.cluster_nodes_dropped);
    c("pulse_gateway_cluster_refresh_failures_total",
      "Redis Cluster slot table refreshes that found no node answering (0 "
      "outside cluster mode).",
      g.stats.cluster_refresh_failures);
    g_("pulse_gateway_in_flight_commands",
       "Replies Redis still owes the gateways right now.", g.stats.in_flight);
    g_("pulse_gateway_queued_requests",
       "Requests waiting for a gateway connection right now.",
       g.stats.queued);
    g_("pulse_gateway_connections", "Gateways (Redis connections) alive.",
       g.gateways);
    g_("pulse_gateway_connected", "Gateways whose connection is up.",
       g.connected);
    auto& h = g.stats.latency;
    w.histogram("pulse_gateway_request_duration_seconds",
                "Time from writing a request to Redis to its last reply.", l,
                bounds(), h.counts, h.sum, h.count);
  }
}

void render_pubsub(prometheus::writer& w, const metrics_snapshot& x) {
  if (!x.has_pubsub)
    return;
  auto& p = x.pubsub;
  w.sample("pulse_pubsub_messages_total", wtype::counter,
           "Pub/sub messages received on subscribed channels and patterns.",
           {}, d(p.messages));
  w.sample("pulse_pubsub_reconnects_total", wtype::counter,
           "Successful pub/sub connects after the first.", {},
           d(p.reconnects));
  w.sample("pulse_pubsub_channels", wtype::gauge,
           "Pub/sub channels subscribed right now.", {}, d(p.channels));
  w.sample("pulse_pubsub_patterns", wtype::gauge,
           "Pub/sub patterns subscribed right now.", {}, d(p.patterns));
  w.sample("pulse_pubsub_connected", wtype::gauge,
           "Whether the pub/sub connection is up (1) or not (0).", {},
           p.connected ? 1 : 0);
}

void render_sinks(prometheus::writer& w, const metrics_snapshot& x) {
  for (auto& e : x.sinks) {
    labels l{{"sink", e.name}, {"streams", e.streams}};
    auto c = [&](const char* name, const char* help, uint64_t v) {
      w.sample(name, wtype::counter, help, l, d(v));
    };
    auto& s = e.stats;
    c("pulse_sink_events_delivered_total",
      "Events a sink handed to its subscribers.", s.delivered);
    c("pulse_sink_events_acked_total", "Events a sink acknowledged (XACK).",
      s.acked);
    c("pulse_sink_events_nacked_total",
      "Failures reported for events of a sink (nack).", s.nacked);
    c("pulse_sink_events_dead_lettered_total",
      "Events copied to the dead-letter stream and acked.", s.dead_lettered);
    c("pulse_sink_events_reclaimed_total",
      "Idle or stale pending events claimed and redelivered.", s.reclaimed);
    c("pulse_sink_events_filtered_total",
      "Events the topic filter rejected (acked at once).", s.filtered);
    c("pulse_sink_events_malformed_total",
      "Entries that could not be parsed.", s.malformed);
    c("pulse_sink_events_trimmed_total",
      "Events trimmed from a stream before the sink's group read them.",
      s.trimmed);
    c("pulse_sink_errors_total", "Redis requests of a sink that failed.",
      s.errors);
    w.sample("pulse_sink_pending_events", wtype::gauge,
             "Events delivered to the sink's group and not acked yet "
             "(XINFO GROUPS pending).",
             l, d(s.pending));
    if (s.lag >= 0)
      w.sample("pulse_sink_lag_events", wtype::gauge,
               "Events in the streams not yet delivered to the sink's group "
               "(XINFO GROUPS lag; absent when Redis cannot tell).",
               l, static_cast<double>(s.lag));
    w.sample("pulse_sink_instances", wtype::gauge,
             "Instances of the sink in this process.", l, d(e.instances));
    w.sample("pulse_sink_subscribers", wtype::gauge,
             "Subscribers of the sink's instances in this process.", l,
             d(s.subscribers));
    for (auto& ps : s.per_stream) {
      labels ls{{"sink", e.name}, {"stream", ps.stream}};
      w.sample("pulse_sink_stream_events_delivered_total", wtype::counter,
               "Events of one stream the sink's instances in this process "
               "handed to their subscribers.",
               ls, d(ps.delivered));
      w.sample("pulse_sink_stream_events_acked_total", wtype::counter,
               "Events of one stream the sink's instances in this process "
               "acknowledged (XACK).",
               ls, d(ps.acked));
      w.sample("pulse_sink_stream_events_nacked_total", wtype::counter,
               "Failures reported for events of one stream (nack).", ls,
               d(ps.nacked));
      w.sample("pulse_sink_stream_events_reclaimed_total", wtype::counter,
               "Events of one stream the sink's instances in this process "
               "claimed after their idle time and redelivered.",
               ls, d(ps.reclaimed));
      w.sample("pulse_sink_stream_events_dead_lettered_total",
               wtype::counter,
               "Events of one stream the sink's instances in this process "
               "copied to the dead-letter stream.",
               ls, d(ps.dead_lettered));
      w.sample("pulse_sink_stream_pending_events", wtype::gauge,
               "Events of one stream delivered to the sink's group and not "
               "acked yet (XINFO GROUPS pending).",
               ls, d(ps.pending));
      if (ps.lag >= 0)
        w.sample("pulse_sink_stream_lag_events", wtype::gauge,
                 "Events of one stream not yet delivered to the sink's "
                 "group (XINFO GROUPS lag; absent when Redis cannot tell).",
                 ls, static_cast<double>(ps.lag));
      if (ps.entries_read >= 0)
        w.sample("pulse_sink_stream_entries_read_total", wtype::counter,
                 "Entries of one stream the sink's group read, by every "
                 "consumer of every process (XINFO GROUPS entries-read).",
                 ls, static_cast<double>(ps.entries_read));
      if (ps.dead_letters >= 0)
        w.sample("pulse_sink_stream_dead_letters", wtype::gauge,
                 "Entries waiting in the dead-letter stream the sink uses "
                 "for one stream (XLEN).",
                 ls, static_cast<double>(ps.dead_letters));
    }
  }
  // Stream lengths, once per stream whatever the number of sinks.
  std::map<std::string, int64_t> lengths;
  for (auto& e : x.sinks)
    for (auto& ps : e.stats.per_stream)
      if (ps.length >= 0)
        lengths[ps.stream] = ps.length;
  for (auto& [stream, len] : lengths)
    w.sample("pulse_stream_length_events", wtype::gauge,
             "Entries in a stream read by a sink of this process (XLEN).",
             {{"stream", stream}}, static_cast<double>(len));
  for (auto& e : x.readers) {
    labels l{{"streams", e.streams}};
    w.sample("pulse_reader_events_delivered_total", wtype::counter,
             "Events readers handed to their subscribers.", l,
             d(e.stats.delivered));
    w.sample("pulse_reader_errors_total", wtype::counter,
             "Redis requests of readers that failed.", l, d(e.stats.errors));
    w.sample("pulse_reader_instances", wtype::gauge,
             "Readers of these streams in this process.", l, d(e.instances));
  }
}

void render_maps(prometheus::writer& w, const metrics_snapshot& x) {
  for (auto& e : x.maps) {
    labels l{{"map", e.name}};
    w.sample("pulse_map_revision", wtype::gauge,
             "The map's revision as seen by this process' replicas.", l,
             d(e.stats.rev));
    w.sample("pulse_map_resyncs_total", wtype::counter,
             "Snapshots loaded with HGETALL (joins included).", l,
             d(e.stats.resyncs));
    w.sample("pulse_map_changes_applied_total", wtype::counter,
             "Change notifications applied.", l, d(e.stats.applied));
    w.sample("pulse_map_gaps_total", wtype::counter,
             "Revision gaps or regressions seen (each triggers a resync).", l,
             d(e.stats.gaps));
    w.sample("pulse_map_replicas", wtype::gauge,
             "Replicas of the map in this process.", l, d(e.replicas));
    auto& h = e.stats.propagation;
    w.histogram("pulse_map_propagation_seconds",
                "Time from this process sending a set to its replica "
                "applying that revision's notification (own writes only).",
                l, bounds(), h.counts, h.sum, h.count);
    w.sample("pulse_map_propagation_unmatched_total", wtype::counter,
             "Own set writes whose propagation could not be timed (their "
             "revision came through a resync, or too late to match).",
             l, d(e.stats.propagation_unmatched));
  }
}

void render_pools(prometheus::writer& w, const metrics_snapshot& x) {
  for (auto& p : x.pools) {
    labels l{{"pool", p.pool}, {"node", p.node}};
    auto c = [&](const char* name, const char* help, uint64_t v) {
      w.sample(name, wtype::counter, help, l, d(v));
    };
    auto g = [&](const char* name, const char* help, uint64_t v) {
      w.sample(name, wtype::gauge, help, l, d(v));
    };
    c("pulse_pool_dispatches_total", "Jobs dispatched through the node.",
      p.dispatches);
    c("pulse_pool_dispatch_errors_total",
      "Dispatches that completed with an error.", p.dispatch_errors);
    c("pulse_pool_job_starts_total", "Jobs started by the node's workers.",
      p.starts);
    c("pulse_pool_job_stops_total", "Jobs stopped by the node's workers.",
      p.stops);
    c("pulse_pool_failovers_total",
      "Jobs the node's cleaner moved away from dead or removed workers.",
      p.failovers);
    g("pulse_pool_queue_depth",
      "Starts and stops waiting in the node's worker queues.", p.queued);
    g("pulse_pool_running_jobs", "Jobs running on the node's workers.",
      p.running);
    g("pulse_pool_workers", "Workers of the node.", p.workers);
    g("pulse_pool_pending_dispatches",
      "Dispatches waiting for their worker's start.", p.pending_dispatches);
    auto& h = p.dispatch_latency;
    w.histogram("pulse_pool_dispatch_duration_seconds",
                "Time from a dispatch to its completion (job started, or "
                "the error).",
                l, bounds(), h.counts, h.sum, h.count);
  }
  for (auto& k : x.pool_keys) {
    labels l{{"pool", k.pool}};
    w.sample("pulse_pool_delayed_jobs", wtype::gauge,
             "Delayed jobs waiting in the pool (ZCARD delayed).", l,
             static_cast<double>(k.delayed));
    w.sample("pulse_pool_dead_jobs", wtype::gauge,
             "Jobs in the pool's dead set: their last attempt failed "
             "(ZCARD dead).",
             l, static_cast<double>(k.dead));
    if (k.has_next)
      w.sample("pulse_pool_next_delayed_due_seconds", wtype::gauge,
               "Seconds until the pool's earliest delayed job is due, on "
               "Redis' clock (negative: overdue; absent when none waits).",
               l, static_cast<double>(k.next_due_in_ms) / 1000.0);
  }
}

} // namespace

std::string render_prometheus(const metrics_snapshot& x) {
  prometheus::writer w;
  render_gateways(w, x);
  render_pubsub(w, x);
  render_sinks(w, x);
  render_maps(w, x);
  render_pools(w, x);
  w.sample("pulse_scrape_sources", wtype::gauge,
           "Actors asked for their counters by this scrape.", {}, d(x.asked));
  w.sample("pulse_scrape_missing_sources", wtype::gauge,
           "Actors that did not answer this scrape in time.", {},
           d(x.missing));
  w.sample("pulse_scrape_duration_seconds", wtype::gauge,
           "Time this scrape took to collect the counters.", {}, x.duration);
  return w.str();
}

} // namespace pulse
