// The metrics endpoint on a live runtime: a sink, a replica and a pool node
// do work; `/metrics` is scraped directly (values, promtool), by a real
// Prometheus server (values read back through its query API), with a stuck
// actor (bounded scrape), and the endpoint stops with the runtime.

#include <chrono>
#include <memory>
#include <string>

#include <boost/test/unit_test.hpp>

#include <caf/event_based_actor.hpp>

#include "pulse/runtime/errors.hpp"
#include "tests/metrics/live_system.hpp"
#include "tests/support/temp_dir.hpp"

using namespace pulse;
using namespace pulse::test;
using namespace std::chrono_literals;

namespace {

const std::string sink_labels = "{sink=\"billing\",streams=\"orders\"}";
const std::string stream_labels = "{sink=\"billing\",stream=\"orders\"}";

} // namespace

BOOST_AUTO_TEST_SUITE(metrics_endpoint)

BOOST_AUTO_TEST_CASE(endpoint_is_off_by_default) {
  configured_runtime f{[](options&) {}};
  BOOST_TEST(f.rt->metrics_port() == 0u);
  options defaults;
  BOOST_TEST(defaults.metrics.port == 0u);
  BOOST_TEST(defaults.metrics.bind == "127.0.0.1");
}

BOOST_FIXTURE_TEST_CASE(scrape_reports_the_actors_counters, live_system) {
  auto reply = http_get(port(), "/metrics");
  BOOST_REQUIRE_EQUAL(reply.status, 200);
  BOOST_TEST(reply.content_type == "text/plain; version=0.0.4; charset=utf-8");
  auto& text = reply.body;
  auto v = [&](const std::string& series) {
    return sample_value(text, series).value_or("<none>");
  };
  BOOST_TEST(v("pulse_sink_events_delivered_total" + sink_labels) == "5");
  BOOST_TEST(v("pulse_sink_events_acked_total" + sink_labels) == "4");
  BOOST_TEST(v("pulse_sink_events_nacked_total" + sink_labels) == "1");
  BOOST_TEST(v("pulse_sink_events_dead_lettered_total" + sink_labels) == "1");
  BOOST_TEST(v("pulse_sink_pending_events" + sink_labels) == "0");
  BOOST_TEST(v("pulse_sink_lag_events" + sink_labels) == "0");
  BOOST_TEST(v("pulse_sink_instances" + sink_labels) == "1");
  // Per stream of the sink, from Redis: every event read by the group, none
  // pending or unread, the nacked one waiting in orders:dead-letter.
  BOOST_TEST(v("pulse_sink_stream_pending_events" + stream_labels) == "0");
  BOOST_TEST(v("pulse_sink_stream_lag_events" + stream_labels) == "0");
  BOOST_TEST(v("pulse_sink_stream_entries_read_total" + stream_labels)
             == "5");
  BOOST_TEST(v("pulse_sink_stream_dead_letters" + stream_labels) == "1");
  BOOST_TEST(v("pulse_stream_length_events{stream=\"orders\"}") == "5");
  BOOST_TEST(v("pulse_map_revision{map=\"config\"}")
             == std::to_string(map_revision()));
  BOOST_TEST(map_revision() >= 3u);
  BOOST_TEST(v("pulse_map_replicas{map=\"config\"}") == "1");
  BOOST_TEST(v(node_series("pulse_pool_dispatches_total")) == "3");
  BOOST_TEST(v(node_series("pulse_pool_job_starts_total")) == "3");
  BOOST_TEST(v(node_series("pulse_pool_job_stops_total")) == "1");
  BOOST_TEST(v(node_series("pulse_pool_running_jobs")) == "2");
  BOOST_TEST(v(node_series("pulse_pool_workers")) == "1");
  BOOST_TEST(v(node_series("pulse_pool_dispatch_duration_seconds_count"))
             == "3");
  BOOST_TEST(v("pulse_pool_dispatch_duration_seconds_bucket{pool=\"jobs\","
               "node=\"" + node_id() + "\",le=\"+Inf\"}")
             == "3");
  BOOST_TEST(v("pulse_gateway_connections{role=\"pipelined\"}") == "1");
  BOOST_TEST(v("pulse_gateway_connected{role=\"pipelined\"}") == "1");
  BOOST_TEST(std::stod(v("pulse_gateway_commands_total{role=\"pipelined\"}"))
             > 10);
  BOOST_TEST(std::stod(v("pulse_gateway_request_duration_seconds_count{role="
                         "\"pipelined\"}"))
             > 10);
  BOOST_TEST(std::stod(v("pulse_pubsub_messages_total")) >= 3);
  // Not in cluster mode: the cluster router families are there, all 0.
  for (auto name : {"pulse_gateway_moved_redirects_total",
                    "pulse_gateway_ask_redirects_total",
                    "pulse_gateway_cluster_nodes",
                    "pulse_gateway_cluster_nodes_dropped_total",
                    "pulse_gateway_cluster_refresh_failures_total"})
    BOOST_TEST(v(std::string{name} + "{role=\"pipelined\"}") == "0", name);
  BOOST_TEST(v("pulse_scrape_missing_sources") == "0");
}

BOOST_FIXTURE_TEST_CASE(scrape_reads_delayed_jobs_from_redis, live_system) {
  auto text = http_get(port(), "/metrics").body;
  BOOST_TEST(sample_value(text, "pulse_pool_delayed_jobs{pool=\"jobs\"}")
               .value_or("<none>")
             == "0");
  // None waits: no due time.
  BOOST_TEST(!sample_value(text, "pulse_pool_next_delayed_due_seconds{pool="
                                 "\"jobs\"}"));
  auto due = node->dispatch_in("later-1", "p", std::chrono::hours{1});
  BOOST_REQUIRE_MESSAGE(due, describe(due));
  BOOST_REQUIRE(node->dispatch_in("later-2", "p", std::chrono::hours{2}));
  text = http_get(port(), "/metrics").body;
  BOOST_TEST(sample_value(text, "pulse_pool_delayed_jobs{pool=\"jobs\"}")
               .value_or("<none>")
             == "2");
  auto next = sample_value(text, "pulse_pool_next_delayed_due_seconds{pool="
                                 "\"jobs\"}");
  BOOST_REQUIRE(next);
  BOOST_TEST(std::stod(*next) > 3500.0);
  BOOST_TEST(std::stod(*next) <= 3600.0);
  BOOST_REQUIRE(!node->cancel_delayed("later-1"));
  BOOST_REQUIRE(!node->cancel_delayed("later-2"));
}

BOOST_FIXTURE_TEST_CASE(promtool_accepts_the_scrape, live_system) {
  auto promtool = find_program("promtool");
  if (promtool.empty()) {
    BOOST_TEST_MESSAGE("SKIPPED: promtool not installed "
                       "(apt-get install prometheus)");
    return;
  }
  auto text = http_get(port(), "/metrics").body;
  BOOST_REQUIRE(!text.empty());
  std::string out;
  auto rc = run_program({promtool, "check", "metrics"}, text, out);
  BOOST_TEST(rc == 0, "promtool rc=" << rc << ": " << out);
  BOOST_TEST(out.empty(), "promtool said: " << out);
}

BOOST_FIXTURE_TEST_CASE(prometheus_scrapes_and_reads_back, live_system) {
  auto prom = find_program("prometheus");
  if (prom.empty()) {
    BOOST_TEST_MESSAGE("SKIPPED: prometheus not installed "
                       "(apt-get install prometheus)");
    return;
  }
  temp_dir dir;
  auto prom_port = free_loopback_port();
  auto config = dir.write("prometheus.yml",
                          "global:\n"
                          "  scrape_interval: 1s\n"
                          "  evaluation_interval: 1s\n"
                          "scrape_configs:\n"
                          "  - job_name: pulse\n"
                          "    static_configs:\n"
                          "      - targets: ['127.0.0.1:"
                            + std::to_string(port()) + "']\n");
  auto listen = "127.0.0.1:" + std::to_string(prom_port);
  child_process p{{prom, "--config.file=" + config,
                   "--storage.tsdb.path=" + dir.path + "/data",
                   "--web.listen-address=" + listen, "--web.enable-lifecycle",
                   "--log.level=warn"},
                  dir.path + "/prometheus.log"};
  BOOST_REQUIRE(p.pid() > 0);
  BOOST_REQUIRE_MESSAGE(wait_until(
                          [&] {
                            return http_get(prom_port, "/-/ready", 2s).status
                                   == 200;
                          },
                          30s),
                        "prometheus not ready on " << listen);
  auto query = [&](const std::string& q) -> std::optional<std::string> {
    return single_value(
      http_get(prom_port, "/api/v1/query?query=" + url_encode(q), 5s).body);
  };
  // The first sample takes ~6 s (service discovery forwards targets every
  // 5 s); poll with a deadline well above that.
  std::optional<std::string> acked;
  BOOST_REQUIRE_MESSAGE(wait_until(
                          [&] {
                            acked = query("pulse_sink_events_acked_total{sink="
                                          "\"billing\"}");
                            return acked.has_value();
                          },
                          40s),
                        "no sample from Prometheus within 40 s");
  BOOST_TEST(*acked == "4");
  BOOST_TEST(query("up{job=\"pulse\"}").value_or("") == "1");
  BOOST_TEST(query("pulse_sink_events_dead_lettered_total{sink=\"billing\"}")
               .value_or("")
             == "1");
  BOOST_TEST(query("pulse_sink_events_nacked_total{sink=\"billing\"}")
               .value_or("")
             == "1");
  BOOST_TEST(query("pulse_sink_stream_entries_read_total{sink=\"billing\","
                   "stream=\"orders\"}")
               .value_or("")
             == "5");
  BOOST_TEST(query("pulse_sink_stream_dead_letters{sink=\"billing\","
                   "stream=\"orders\"}")
               .value_or("")
             == "1");
  BOOST_TEST(query("pulse_sink_stream_lag_events{stream=\"orders\"}")
               .value_or("")
             == "0");
  BOOST_TEST(query("pulse_stream_length_events{stream=\"orders\"}")
               .value_or("")
             == "5");
  BOOST_TEST(query("pulse_pool_delayed_jobs{pool=\"jobs\"}").value_or("")
             == "0");
  BOOST_TEST(query("pulse_pool_job_starts_total{pool=\"jobs\"}").value_or("")
             == "3");
  BOOST_TEST(query("pulse_pool_running_jobs{pool=\"jobs\"}").value_or("")
             == "2");
  BOOST_TEST(query("pulse_pool_dispatch_duration_seconds_count{pool=\"jobs\"}")
               .value_or("")
             == "3");
  BOOST_TEST(query("pulse_map_revision{map=\"config\"}").value_or("")
             == std::to_string(map_revision()));
  // A change shows up within a few scrape intervals.
  BOOST_REQUIRE(!node->dispatch("k4", "p"));
  BOOST_TEST(wait_until(
    [&] {
      return query("pulse_pool_job_starts_total{pool=\"jobs\"}").value_or("")
             == "4";
    },
    15s));
  auto targets = http_get(prom_port, "/api/v1/targets?state=active").body;
  BOOST_TEST(targets.find("\"health\":\"up\"") != std::string::npos, targets);
  // Prometheus may close the connection while it shuts down, before its
  // reply to /-/quit is written (status 0 then); what counts is that it
  // exits.
  auto quit = http_post(prom_port, "/-/quit");
  BOOST_TEST((quit.status == 200 || quit.status == 0), "quit status "
                                                           << quit.status);
  BOOST_TEST(p.wait_exit(15s),
             "prometheus did not exit after /-/quit (status " << quit.status
                                                              << ")");
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(metrics_bounds)

// An actor that never answers its stats request (here: one that leaves
// every unknown message in its mailbox) is left out after the scrape timeout; the scrape still
// answers, and says so.
BOOST_AUTO_TEST_CASE(stuck_actor_does_not_hang_the_scrape) {
  metrics_fixture f{300ms};
  auto stuck = f.sys->spawn([](caf::event_based_actor* self) {
    self->set_default_handler(caf::skip);
    return caf::behavior{[](int) {
      // nop
    }};
  });
  f.rt->track(stuck);
  f.rt->announce(metrics_source{metrics_kind::sink, "stuck", {"s"},
                                stuck.address()});
  auto t0 = std::chrono::steady_clock::now();
  auto reply = http_get(f.port(), "/metrics");
  auto took = std::chrono::steady_clock::now() - t0;
  BOOST_REQUIRE_EQUAL(reply.status, 200);
  BOOST_TEST((took < 3s));
  BOOST_TEST((took >= 250ms));
  BOOST_TEST(sample_value(reply.body, "pulse_scrape_missing_sources").value_or("")
             == "1");
  BOOST_TEST(reply.body.find("sink=\"stuck\"") == std::string::npos);
  // The gateway and pub/sub still reported.
  BOOST_TEST(sample_value(reply.body, "pulse_gateway_connections{role=\"pipelined\"}")
               .value_or("")
             == "1");
}

BOOST_AUTO_TEST_CASE(endpoint_stops_with_the_runtime) {
  auto f = std::make_unique<metrics_fixture>();
  auto port = f->port();
  BOOST_REQUIRE(port != 0);
  BOOST_TEST(http_get(port, "/metrics").status == 200);
  // Unknown paths are 404.
  BOOST_TEST(http_get(port, "/nope").status == 404);
  auto t0 = std::chrono::steady_clock::now();
  f->rt->shutdown();
  BOOST_TEST((std::chrono::steady_clock::now() - t0 < 5s));
  BOOST_TEST(http_get(port, "/metrics", 1s).status == 0);
  f.reset();
}

BOOST_AUTO_TEST_CASE(port_in_use_is_a_config_error) {
  metrics_fixture first;
  auto port = first.port();
  pulse::config cfg;
  cfg.set("scheduler.max-threads", 2);
  caf::actor_system sys{cfg};
  options o;
  o.redis = first.redis_opts();
  o.log_level = "warn";
  o.metrics.port = port;
  auto r = runtime::start(sys, o);
  BOOST_REQUIRE(!r);
  BOOST_TEST(code_of(r.error()) == errc::invalid_config);
  BOOST_TEST(render(r.error()).find(std::to_string(port)) != std::string::npos);
}

BOOST_AUTO_TEST_SUITE_END()
