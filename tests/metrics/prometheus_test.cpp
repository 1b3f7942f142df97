// Unit tests of the Prometheus exposition writer (runtime/prometheus.hpp)
// and of the metrics rendering of a snapshot (runtime/metrics.hpp): no
// server, no actors.

#include <cmath>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <boost/test/unit_test.hpp>

#include "pulse/runtime/metrics.hpp"
#include "pulse/runtime/prometheus.hpp"

using namespace pulse;
using namespace pulse::prometheus;

namespace {

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in{text};
  for (std::string line; std::getline(in, line);)
    out.push_back(line);
  return out;
}

/// One sample line split up: metric name, labels (without braces, `le`
/// removed into `le`), value.
struct parsed {
  std::string name;
  std::string labels;
  std::string le;
  std::string value;
};

parsed parse(const std::string& line) {
  parsed r;
  auto brace = line.find('{');
  auto space = line.rfind(' ');
  r.value = line.substr(space + 1);
  if (brace == std::string::npos || brace > space) {
    r.name = line.substr(0, space);
    return r;
  }
  r.name = line.substr(0, brace);
  auto close = line.rfind('}', space);
  r.labels = line.substr(brace + 1, close - brace - 1);
  // `le` is the first label or follows a comma (not the end of "role=").
  auto le = r.labels.rfind("le=\"", 0) == 0 ? 0 : r.labels.find(",le=\"");
  if (le != std::string::npos) {
    auto start = le == 0 ? 0 : le + 1;
    auto end = r.labels.find('"', start + 4);
    r.le = r.labels.substr(start + 4, end - start - 4);
    r.labels.erase(le, end + 1 - le);
  }
  return r;
}

bool ends_with(const std::string& x, const std::string& suffix) {
  return x.size() >= suffix.size()
         && x.compare(x.size() - suffix.size(), suffix.size(), suffix) == 0;
}

/// Checks what promtool does not: every series at most once, one HELP per
/// family, every line ending in a newline, and for every histogram series
/// cumulative buckets and a `+Inf` bucket equal to its `_count`.
void check_exposition(const std::string& text) {
  BOOST_REQUIRE(!text.empty());
  BOOST_TEST(text.back() == '\n');
  std::set<std::string> series;
  std::set<std::string> helps;
  std::map<std::string, std::string> inf_buckets; // base{labels} -> value
  std::map<std::string, std::string> counts;
  std::map<std::string, double> last_bucket;
  for (auto& line : lines_of(text)) {
    if (line.rfind("# HELP ", 0) == 0) {
      auto name = line.substr(7, line.find(' ', 7) - 7);
      BOOST_TEST(helps.insert(name).second, "second HELP for " << name);
      continue;
    }
    if (line.empty() || line[0] == '#')
      continue;
    auto p = parse(line);
    auto whole = p.name + "{" + p.labels + (p.le.empty() ? "" : ",le=" + p.le)
                 + "}";
    BOOST_TEST(series.insert(whole).second, "repeated series " << whole);
    if (ends_with(p.name, "_bucket")) {
      BOOST_TEST(!p.le.empty(), "bucket without le: " << line);
      auto key = p.name.substr(0, p.name.size() - 7) + "{" + p.labels + "}";
      auto v = p.value == "+Inf" ? 1e308 : std::stod(p.value);
      if (last_bucket.count(key))
        BOOST_TEST(v >= last_bucket[key], "buckets not cumulative: " << line);
      last_bucket[key] = v;
      if (p.le == "+Inf")
        inf_buckets[key] = p.value;
    } else if (ends_with(p.name, "_count")) {
      counts[p.name.substr(0, p.name.size() - 6) + "{" + p.labels + "}"]
        = p.value;
    }
  }
  for (auto& [key, v] : counts) {
    BOOST_TEST(inf_buckets.count(key) == 1u, "no +Inf bucket for " << key);
    BOOST_TEST(inf_buckets[key] == v, "+Inf bucket != count for " << key);
  }
  for (auto& [key, v] : last_bucket)
    BOOST_TEST(inf_buckets.count(key) == 1u, "no +Inf bucket for " << key);
}

} // namespace

BOOST_AUTO_TEST_SUITE(prometheus_writer)

BOOST_AUTO_TEST_CASE(escapes_label_values_and_help) {
  BOOST_TEST(escape_label("mail \"hi\" \\ x\ny") == "mail \\\"hi\\\" \\\\ x\\ny");
  BOOST_TEST(escape_label("plain") == "plain");
  BOOST_TEST(escape_help("a \\ b\nc \"q\"") == "a \\\\ b\\nc \"q\"");
  writer w;
  BOOST_TEST(w.sample("x_total", writer::type::counter, "Help \\ with\nnewline",
                      {{"queue", "mail \"hi\" \\ x\ny"}}, 7));
  auto text = w.str();
  BOOST_TEST(text
             == "# HELP x_total Help \\\\ with\\nnewline\n"
                "# TYPE x_total counter\n"
                "x_total{queue=\"mail \\\"hi\\\" \\\\ x\\ny\"} 7\n");
}

BOOST_AUTO_TEST_CASE(formats_values) {
  BOOST_TEST(format_value(42) == "42");
  BOOST_TEST(format_value(0) == "0");
  BOOST_TEST(format_value(-3) == "-3");
  BOOST_TEST(format_value(0.005) == "0.005");
  BOOST_TEST(format_value(0.00025) == "0.00025");
  BOOST_TEST(format_value(2.5) == "2.5");
  BOOST_TEST(format_value(1.0 / 3) == "0.3333333333333333");
  BOOST_TEST(format_value(1e300 * 1e300) == "+Inf");
  BOOST_TEST(format_value(-1e300 * 1e300) == "-Inf");
  BOOST_TEST(format_value(std::nan("")) == "NaN");
}

BOOST_AUTO_TEST_CASE(keeps_families_together_and_refuses_repeats) {
  writer w;
  using t = writer::type;
  BOOST_TEST(w.sample("a_total", t::counter, "A.", {{"k", "1"}}, 1));
  BOOST_TEST(w.sample("b", t::gauge, "B.", {}, 2));
  BOOST_TEST(w.sample("a_total", t::counter, "A.", {{"k", "2"}}, 3));
  // Same series again, a type clash, invalid names: refused.
  BOOST_TEST(!w.sample("a_total", t::counter, "A.", {{"k", "1"}}, 9));
  BOOST_TEST(!w.sample("b", t::counter, "B.", {{"k", "x"}}, 1));
  BOOST_TEST(!w.sample("1bad", t::gauge, "x", {}, 1));
  BOOST_TEST(!w.sample("c", t::gauge, "x", {{"__reserved", "v"}}, 1));
  BOOST_TEST(!w.sample("c", t::gauge, "x", {{"bad-name", "v"}}, 1));
  BOOST_TEST(w.refused() == 5u);
  auto text = w.str();
  BOOST_TEST(text
             == "# HELP a_total A.\n# TYPE a_total counter\n"
                "a_total{k=\"1\"} 1\na_total{k=\"2\"} 3\n"
                "# HELP b B.\n# TYPE b gauge\nb 2\n"
                "# HELP c x\n# TYPE c gauge\n");
  check_exposition(text);
}

BOOST_AUTO_TEST_CASE(histogram_has_cumulative_buckets_and_inf_equal_to_count) {
  writer w;
  std::vector<double> bounds{0.005, 0.1, 1};
  // Per bucket: 1 <= 0.005, 29 in (0.005, 0.1], 11 in (0.1, 1], 1 above.
  BOOST_TEST(w.histogram("rq_job_duration_seconds", "Time.",
                         {{"queue", "default"}}, bounds, {1, 29, 11, 1}, 6.25,
                         42));
  // An empty histogram (nothing observed yet): zeros, +Inf 0.
  BOOST_TEST(w.histogram("rq_job_duration_seconds", "Time.",
                         {{"queue", "idle"}}, bounds, {}, 0, 0));
  BOOST_TEST(!w.histogram("rq_job_duration_seconds", "Time.",
                          {{"queue", "idle"}}, bounds, {}, 0, 0));
  BOOST_TEST(!w.histogram("h", "x", {{"le", "1"}}, bounds, {}, 0, 0));
  auto text = w.str();
  auto expected = std::string{
    "# HELP rq_job_duration_seconds Time.\n"
    "# TYPE rq_job_duration_seconds histogram\n"
    "rq_job_duration_seconds_bucket{queue=\"default\",le=\"0.005\"} 1\n"
    "rq_job_duration_seconds_bucket{queue=\"default\",le=\"0.1\"} 30\n"
    "rq_job_duration_seconds_bucket{queue=\"default\",le=\"1\"} 41\n"
    "rq_job_duration_seconds_bucket{queue=\"default\",le=\"+Inf\"} 42\n"
    "rq_job_duration_seconds_sum{queue=\"default\"} 6.25\n"
    "rq_job_duration_seconds_count{queue=\"default\"} 42\n"
    "rq_job_duration_seconds_bucket{queue=\"idle\",le=\"0.005\"} 0\n"
    "rq_job_duration_seconds_bucket{queue=\"idle\",le=\"0.1\"} 0\n"
    "rq_job_duration_seconds_bucket{queue=\"idle\",le=\"1\"} 0\n"
    "rq_job_duration_seconds_bucket{queue=\"idle\",le=\"+Inf\"} 0\n"
    "rq_job_duration_seconds_sum{queue=\"idle\"} 0\n"
    "rq_job_duration_seconds_count{queue=\"idle\"} 0\n"};
  // The refused "h" family shows up empty at the end (HELP and TYPE only).
  expected += "# HELP h x\n# TYPE h histogram\n";
  BOOST_TEST(text == expected);
  check_exposition(text);
}

BOOST_AUTO_TEST_CASE(latency_histogram_counts_per_bucket) {
  latency_histogram h;
  h.observe(0.00005);  // first bucket
  h.observe(0.0001);   // bound is inclusive
  h.observe(0.003);    // (0.0025, 0.005]
  h.observe(100.0);    // above every bound
  BOOST_TEST(h.count == 4u);
  BOOST_REQUIRE(h.counts.size() == latency_histogram::bounds.size() + 1);
  BOOST_TEST(h.counts[0] == 2u);
  BOOST_TEST(h.counts[5] == 1u);
  BOOST_TEST(h.counts.back() == 1u);
  latency_histogram g;
  g.merge(h);
  g.merge(h);
  BOOST_TEST(g.count == 8u);
  BOOST_TEST(g.counts[0] == 4u);
  BOOST_TEST(g.sum == 2 * h.sum);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(metrics_rendering)

// A snapshot with every kind of entry renders to an exposition whose series
// are unique, whose histograms are complete, and which names every family
// of docs/operations.md.
BOOST_AUTO_TEST_CASE(snapshot_renders_every_family_once) {
  metrics_snapshot x;
  metrics_snapshot::gateway_entry g;
  g.role = "pipelined";
  g.gateways = 1;
  g.connected = 1;
  g.stats.sent = 10;
  g.stats.latency.observe(0.0002);
  g.stats.moved_redirects = 4;
  g.stats.ask_redirects = 2;
  g.stats.cluster_nodes = 6;
  g.stats.cluster_nodes_dropped = 3;
  g.stats.cluster_refresh_failures = 5;
  x.gateways.push_back(g);
  g.role = "blocking";
  g.gateways = 3;
  x.gateways.push_back(g);
  x.has_pubsub = true;
  x.pubsub.messages = 5;
  metrics_snapshot::stream_entry s;
  s.name = "billing \"eu\"";
  s.streams = "orders,refunds";
  s.instances = 2;
  s.stats.delivered = 7;
  s.stats.lag = 3;
  x.sinks.push_back(s);
  s.name = "audit";
  s.stats.lag = -1; // unknown: no lag sample
  x.sinks.push_back(s);
  s.name.clear();
  x.readers.push_back(s);
  metrics_snapshot::map_entry m;
  m.name = "config";
  m.stats.rev = 12;
  x.maps.push_back(m);
  pool_stats p;
  p.pool = "jobs";
  p.node = "01HZZZ";
  p.dispatches = 4;
  p.dispatch_latency.observe(0.01);
  x.pools.push_back(p);
  x.asked = 9;
  auto text = render_prometheus(x);
  check_exposition(text);
  for (auto name :
       {"pulse_gateway_commands_total", "pulse_gateway_errors_total",
        "pulse_gateway_reconnects_total",
        "pulse_gateway_moved_redirects_total",
        "pulse_gateway_ask_redirects_total", "pulse_gateway_cluster_nodes",
        "pulse_gateway_cluster_nodes_dropped_total",
        "pulse_gateway_cluster_refresh_failures_total",
        "pulse_gateway_request_duration_seconds", "pulse_pubsub_messages_total",
        "pulse_sink_events_delivered_total", "pulse_sink_events_acked_total",
        "pulse_sink_events_nacked_total",
        "pulse_sink_events_dead_lettered_total",
        "pulse_sink_events_reclaimed_total", "pulse_sink_pending_events",
        "pulse_sink_lag_events", "pulse_reader_events_delivered_total",
        "pulse_map_revision", "pulse_map_resyncs_total",
        "pulse_pool_dispatches_total", "pulse_pool_job_starts_total",
        "pulse_pool_job_stops_total", "pulse_pool_failovers_total",
        "pulse_pool_queue_depth", "pulse_pool_running_jobs",
        "pulse_pool_dispatch_duration_seconds", "pulse_scrape_sources"})
    BOOST_TEST(text.find(std::string{"# TYPE "} + name + ' ')
                 != std::string::npos,
               "missing family " << name);
  BOOST_TEST(text.find("pulse_sink_lag_events{sink=\"billing \\\"eu\\\"\","
                       "streams=\"orders,refunds\"} 3\n")
             != std::string::npos);
  BOOST_TEST(text.find("pulse_sink_lag_events{sink=\"audit\"")
             == std::string::npos);
  BOOST_TEST(text.find("pulse_gateway_request_duration_seconds_bucket{role="
                       "\"pipelined\",le=\"0.00025\"} 1\n")
             != std::string::npos);
  BOOST_TEST(text.find("pulse_gateway_moved_redirects_total{role="
                       "\"pipelined\"} 4\n")
             != std::string::npos);
  BOOST_TEST(text.find("pulse_gateway_ask_redirects_total{role="
                       "\"pipelined\"} 2\n")
             != std::string::npos);
  BOOST_TEST(text.find("# TYPE pulse_gateway_cluster_nodes gauge\n")
             != std::string::npos);
  BOOST_TEST(text.find("pulse_gateway_cluster_nodes{role=\"pipelined\"} 6\n")
             != std::string::npos);
  BOOST_TEST(text.find("pulse_gateway_cluster_nodes_dropped_total{role="
                       "\"pipelined\"} 3\n")
             != std::string::npos);
  BOOST_TEST(text.find("pulse_gateway_cluster_refresh_failures_total{role="
                       "\"pipelined\"} 5\n")
             != std::string::npos);
  auto json = render_json(x);
  BOOST_TEST(json.find("\"cluster_nodes\":6,\"cluster_nodes_dropped\":3,"
                       "\"cluster_refresh_failures\":5")
             != std::string::npos,
             json);
  BOOST_TEST(json.find("\"name\":\"billing \\\"eu\\\"\"") != std::string::npos);
  BOOST_TEST(json.find("\"revision\":12") != std::string::npos);
}

BOOST_AUTO_TEST_SUITE_END()
