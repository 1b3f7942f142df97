// Renders a metrics snapshot as JSON for the dashboard (`/api/state`).

#include <cstdio>
#include <string>

#include "pulse/runtime/metrics.hpp"
#include "pulse/runtime/prometheus.hpp"

namespace pulse {

namespace {

/// Returns `x` as a JSON string literal.
std::string quote(const std::string& x) {
  std::string out = "\"";
  for (unsigned char c : x) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof(buf), "\\u%04x", c);
          out += buf;
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  return out + '"';
}

/// Builds one JSON object field by field.
class object {
public:
  object& num(const char* key, double v) {
    return raw(key, prometheus::format_value(v));
  }
  object& num(const char* key, uint64_t v) {
    return raw(key, std::to_string(v));
  }
  object& num(const char* key, int64_t v) {
    return raw(key, std::to_string(v));
  }
  object& str(const char* key, const std::string& v) {
    return raw(key, quote(v));
  }
  object& boolean(const char* key, bool v) {
    return raw(key, v ? "true" : "false");
  }
  object& raw(const char* key, const std::string& json) {
    out_ += out_.empty() ? "{" : ",";
    out_ += quote(key) + ':' + json;
    return *this;
  }
  std::string done() const { return out_.empty() ? "{}" : out_ + '}'; }

private:
  std::string out_;
};

template <class Xs, class F>
std::string array(const Xs& xs, F f) {
  std::string out = "[";
  for (auto& x : xs) {
    if (out.size() > 1)
      out += ',';
    out += f(x);
  }
  return out + ']';
}

double mean_seconds(const latency_histogram& h) {
  return h.count == 0 ? 0.0 : h.sum / static_cast<double>(h.count);
}

} // namespace

std::string render_json(const metrics_snapshot& x) {
  object root;
  root.raw("gateways", array(x.gateways, [](auto& g) {
    return object{}
      .str("role", g.role)
      .num("gateways", g.gateways)
      .num("connected", g.connected)
      .num("commands", g.stats.sent)
      .num("errors", g.stats.errors)
      .num("reconnects", g.stats.reconnects)
      .num("moved_redirects", g.stats.moved_redirects)
      .num("ask_redirects", g.stats.ask_redirects)
      .num("cluster_nodes", g.stats.cluster_nodes)
      .num("cluster_nodes_dropped", g.stats.cluster_nodes_dropped)
      .num("cluster_refresh_failures", g.stats.cluster_refresh_failures)
      .num("in_flight", g.stats.in_flight)
      .num("mean_latency_seconds", mean_seconds(g.stats.latency))
      .done();
  }));
  root.raw("pubsub", object{}
                       .boolean("present", x.has_pubsub)
                       .num("messages", x.pubsub.messages)
                       .num("channels", x.pubsub.channels)
                       .num("patterns", x.pubsub.patterns)
                       .boolean("connected", x.pubsub.connected)
                       .done());
  auto streams = [](auto& e) {
    auto& s = e.stats;
    return object{}
      .str("name", e.name)
      .str("streams", e.streams)
      .num("instances", e.instances)
      .num("delivered", s.delivered)
      .num("acked", s.acked)
      .num("nacked", s.nacked)
      .num("dead_lettered", s.dead_lettered)
      .num("reclaimed", s.reclaimed)
      .num("pending", s.pending)
      .num("lag", s.lag)
      .num("errors", s.errors)
      .num("subscribers", s.subscribers)
      .raw("per_stream", array(s.per_stream, [](auto& p) {
        return object{}
          .str("stream", p.stream)
          .num("pending", p.pending)
          .num("lag", p.lag)
          .num("entries_read", p.entries_read)
          .num("length", p.length)
          .num("dead_letters", p.dead_letters)
          .num("delivered", p.delivered)
          .num("acked", p.acked)
          .num("nacked", p.nacked)
          .num("reclaimed", p.reclaimed)
          .num("dead_lettered", p.dead_lettered)
          .done();
      }))
      .done();
  };
  root.raw("sinks", array(x.sinks, streams));
  root.raw("readers", array(x.readers, streams));
  root.raw("maps", array(x.maps, [](auto& m) {
    return object{}
      .str("name", m.name)
      .num("replicas", m.replicas)
      .num("revision", m.stats.rev)
      .num("resyncs", m.stats.resyncs)
      .num("applied", m.stats.applied)
      .num("subscribers", m.stats.subscribers)
      .num("propagation_count", m.stats.propagation.count)
      .num("propagation_sum_seconds", m.stats.propagation.sum)
      .done();
  }));
  root.raw("pools", array(x.pools, [](auto& p) {
    return object{}
      .str("pool", p.pool)
      .str("node", p.node)
      .num("workers", p.workers)
      .num("running", p.running)
      .num("queued", p.queued)
      .num("dispatches", p.dispatches)
      .num("dispatch_errors", p.dispatch_errors)
      .num("starts", p.starts)
      .num("stops", p.stops)
      .num("failovers", p.failovers)
      .num("pending_dispatches", p.pending_dispatches)
      .num("mean_dispatch_seconds", mean_seconds(p.dispatch_latency))
      .done();
  }));
  root.raw("scrape", object{}
                       .num("asked", x.asked)
                       .num("missing", x.missing)
                       .num("duration_seconds", x.duration)
                       .done());
  return root.done();
}

} // namespace pulse
