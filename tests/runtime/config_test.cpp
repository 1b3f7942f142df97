// Configuration: caf-application.conf parsing, validation and overrides.

#include <boost/test/unit_test.hpp>

#include <cstdio>
#include <filesystem>
#include <fstream>

#include "pulse/runtime/config.hpp"
#include "pulse/messages/pool.hpp"
#include "pulse/messages/rmap.hpp"
#include "pulse/messages/streaming.hpp"
#include "pulse/runtime/errors.hpp"
#include "tests/support/print.hpp"
#include "tests/support/temp_dir.hpp"

using namespace pulse;
using pulse::test::temp_dir;
using namespace std::chrono_literals;

BOOST_AUTO_TEST_SUITE(configuration)

BOOST_AUTO_TEST_CASE(good_file_is_read) {
  temp_dir dir;
  auto file = dir.write("caf-application.conf", R"(
; Pulse node
[pulse.redis]
host = "10.1.2.3"
port = 6390
password = "s3cret"
db = 2
connect-timeout = 750ms
command-timeout = 3s
reply-spin = 0us
[pulse.log]
level = "debug"
[scheduler]
max-threads = 3
)");
  config cfg;
  auto err = cfg.read({"--config-file=" + file});
  BOOST_REQUIRE_MESSAGE(!err, render(err));
  auto& r = cfg.opts().redis;
  BOOST_TEST(r.host == "10.1.2.3");
  BOOST_TEST(r.port == 6390);
  BOOST_TEST(r.password == "s3cret");
  BOOST_TEST(r.db == 2);
  BOOST_TEST((r.connect_timeout == caf::timespan{750ms}));
  BOOST_TEST((r.command_timeout == caf::timespan{3s}));
  BOOST_TEST(r.reply_spin.count() == 0);
  BOOST_TEST(!r.use_embedded());
  BOOST_TEST(cfg.opts().log_level == "debug");
  BOOST_TEST(caf::get_or(cfg, "scheduler.max-threads", size_t{0}) == 3u);
}

BOOST_AUTO_TEST_CASE(streaming_section) {
  temp_dir dir;
  auto file = dir.write("s.conf", R"([pulse.streaming]
block-duration = 100ms
ack-grace-period = 3s
max-deliveries = 0
stream-max-len = 50
)");
  config cfg;
  auto err = cfg.read({"--config-file=" + file});
  BOOST_REQUIRE_MESSAGE(!err, render(err));
  auto& st = cfg.opts().streaming;
  BOOST_TEST((st.block_duration == caf::timespan{100ms}));
  BOOST_TEST((st.ack_grace_period == caf::timespan{3s}));
  BOOST_TEST(st.max_deliveries == 0u);
  BOOST_TEST(st.stream_max_len == 50u);
  BOOST_TEST(st.max_polled == 1000u);
  config bad;
  err = bad.read({"--config-file="
                  + dir.write("b.conf",
                              "[pulse.streaming]\nack-grace-period = 0s\n")});
  BOOST_TEST(render(err).find("ack-grace-period must be positive")
               != std::string::npos,
             render(err));
}

BOOST_AUTO_TEST_CASE(pool_section) {
  temp_dir dir;
  auto file = dir.write("p.conf", R"([pulse.pool]
worker-ttl = 2s
worker-shutdown-ttl = 1min
max-queued-jobs = 0
max-batch = 16
)");
  config cfg;
  auto err = cfg.read({"--config-file=" + file});
  BOOST_REQUIRE_MESSAGE(!err, render(err));
  auto& p = cfg.opts().pool;
  BOOST_TEST((p.worker_ttl == caf::timespan{2s}));
  BOOST_TEST((p.worker_shutdown_ttl == caf::timespan{60s}));
  BOOST_TEST(p.max_queued_jobs == 0u);
  BOOST_TEST(p.max_batch == 16u);
  BOOST_TEST((p.ack_grace_period == caf::timespan{20s}));
  for (auto text : {"[pulse.pool]\nworker-ttl = 0s\n",
                    "[pulse.pool]\nmax-batch = 0\n",
                    "[pulse.pool]\nmax-queued-jobs = -1\n",
                    "[pulse.pool]\nworker-ttl = \"soon\"\n",
                    "[pulse.pool]\nworkers = 3\n"}) {
    config bad;
    err = bad.read({"--config-file=" + dir.write("b.conf", text)});
    BOOST_TEST(render(err).find("pulse.pool.") != std::string::npos,
               render(err));
  }
}

BOOST_AUTO_TEST_CASE(command_line_overrides_file) {
  temp_dir dir;
  auto file = dir.write("c.conf", "[pulse.redis]\nhost = \"h\"\nport = 1\n");
  config cfg;
  auto err = cfg.read({"--config-file=" + file, "--pulse.redis.port=7001",
                       "--pulse.redis.command-timeout=250ms"});
  BOOST_REQUIRE_MESSAGE(!err, render(err));
  BOOST_TEST(cfg.opts().redis.host == "h");
  BOOST_TEST(cfg.opts().redis.port == 7001);
  BOOST_TEST((cfg.opts().redis.command_timeout == caf::timespan{250ms}));
}

BOOST_AUTO_TEST_CASE(wrong_type_is_an_error) {
  temp_dir dir;
  auto file = dir.write("c.conf", "[pulse.redis]\nport = \"6379\"\n");
  config cfg;
  auto err = cfg.read({"--config-file=" + file});
  BOOST_REQUIRE(err);
  BOOST_TEST(code_of(err) == errc::invalid_config);
  BOOST_TEST(render(err).find("pulse.redis.port must be") != std::string::npos,
             render(err));
  auto file2 = dir.write("d.conf", "[pulse.redis]\ncommand-timeout = 5\n");
  config cfg2;
  err = cfg2.read({"--config-file=" + file2});
  BOOST_REQUIRE(err);
  BOOST_TEST(render(err).find("pulse.redis.command-timeout must be a duration")
               != std::string::npos,
             render(err));
}

BOOST_AUTO_TEST_CASE(unknown_key_is_an_error) {
  temp_dir dir;
  auto file = dir.write("c.conf", "[pulse.redis]\nhots = \"x\"\n");
  config cfg;
  auto err = cfg.read({"--config-file=" + file});
  BOOST_REQUIRE(err);
  BOOST_TEST(render(err).find("unknown option pulse.redis.hots")
               != std::string::npos,
             render(err));
}

BOOST_AUTO_TEST_CASE(out_of_range_values_are_errors) {
  temp_dir dir;
  config cfg;
  auto err = cfg.read(
    {"--config-file=" + dir.write("a.conf", "[pulse.redis]\nport = 70000\n")});
  BOOST_TEST(render(err).find("1..65535") != std::string::npos, render(err));
  config cfg2;
  err = cfg2.read(
    {"--config-file=" + dir.write("b.conf", "[pulse.log]\nlevel = \"loud\"\n")});
  BOOST_TEST(render(err).find("unknown level") != std::string::npos,
             render(err));
  config cfg3;
  err = cfg3.read({"--config-file="
                   + dir.write("c.conf", "[pulse.redis]\ndb = -1\n")});
  BOOST_TEST(code_of(err) == errc::invalid_config);
}

BOOST_AUTO_TEST_CASE(syntax_error_is_an_error) {
  temp_dir dir;
  auto file = dir.write("c.conf", "[pulse.redis\nhost = \"x\"\n");
  config cfg;
  auto err = cfg.read({"--config-file=" + file});
  BOOST_REQUIRE(err);
  BOOST_TEST(render(err).find(file + ":2:1: not valid config")
               != std::string::npos,
             render(err));
}

BOOST_AUTO_TEST_CASE(missing_explicit_file_is_an_error) {
  config cfg;
  auto err = cfg.read({"--config-file=/nonexistent/pulse.conf"});
  BOOST_REQUIRE(err);
  BOOST_TEST(render(err).find("config file not found: /nonexistent/pulse.conf")
               != std::string::npos,
             render(err));
}

BOOST_AUTO_TEST_CASE(missing_default_file_gives_defaults_and_embedded) {
  // The test runs in the build tree, which has no caf-application.conf.
  config cfg;
  auto err = cfg.read(std::vector<std::string>{});
  BOOST_REQUIRE_MESSAGE(!err, render(err));
  BOOST_TEST(cfg.opts().redis.host.empty());
  BOOST_TEST(cfg.opts().redis.use_embedded());
  BOOST_TEST((cfg.opts().redis.command_timeout == caf::timespan{5s}));
}

BOOST_AUTO_TEST_CASE(scheduler_polling_defaults_and_overrides) {
  // Pulse's work-stealing defaults (see config.cpp), and the user's values
  // win over them.
  {
    config cfg;
    BOOST_REQUIRE(!cfg.read(std::vector<std::string>{}));
    BOOST_TEST(caf::get_or(cfg, "work-stealing.moderate-poll-attempts",
                           size_t{0})
               == 3000u);
    BOOST_TEST(caf::get_or(cfg, "work-stealing.moderate-sleep-duration",
                           caf::timespan{1})
                 .count()
               == 0);
    BOOST_TEST((caf::get_or(cfg, "work-stealing.relaxed-sleep-duration",
                            caf::timespan{0})
                == caf::timespan{50ms}));
  }
  config cfg;
  BOOST_REQUIRE(!cfg.read({"--work-stealing.moderate-poll-attempts=500",
                           "--work-stealing.moderate-sleep-duration=50us",
                           "--work-stealing.relaxed-sleep-duration=10ms"}));
  BOOST_TEST((caf::get_or(cfg, "work-stealing.relaxed-sleep-duration",
                          caf::timespan{0})
              == caf::timespan{10ms}));
  BOOST_TEST(caf::get_or(cfg, "work-stealing.moderate-poll-attempts",
                         size_t{0})
             == 500u);
  BOOST_TEST((caf::get_or(cfg, "work-stealing.moderate-sleep-duration",
                          caf::timespan{0})
              == caf::timespan{50us}));
}

BOOST_AUTO_TEST_CASE(sample_config_in_repo_is_valid) {
  config cfg;
  auto err = cfg.read({"--config-file=" PULSE_SOURCE_DIR
                       "/config/caf-application.conf"});
  BOOST_REQUIRE_MESSAGE(!err, render(err));
  // The sample documents every option: each known key appears in it.
  std::ifstream in{PULSE_SOURCE_DIR "/config/caf-application.conf"};
  std::string text{std::istreambuf_iterator<char>{in}, {}};
  for (auto& opt : known_options()) {
    std::string key = opt.key;
    auto leaf = key.substr(key.rfind('.') + 1);
    BOOST_TEST(text.find(leaf) != std::string::npos, "missing " << key);
  }
}

BOOST_AUTO_TEST_CASE(stream_trim_mode) {
  temp_dir dir;
  // Default: approximate (Go Pulse's MAXLEN ~).
  config plain;
  auto err = plain.read({"--config-file=" + dir.write("e.conf", "")});
  BOOST_REQUIRE_MESSAGE(!err, render(err));
  BOOST_TEST((plain.opts().streaming.trim == trim_mode::approximate));
  BOOST_TEST((stream_options{}.trim == trim_mode::approximate));
  // From the file, and into stream options built from the section.
  config file;
  err = file.read({"--config-file="
                   + dir.write("t.conf",
                               "[pulse.streaming]\ntrim = \"safe\"\n")});
  BOOST_REQUIRE_MESSAGE(!err, render(err));
  BOOST_TEST((file.opts().streaming.trim == trim_mode::safe));
  BOOST_TEST((stream_options::from(file.opts().streaming).trim
              == trim_mode::safe));
  // The command line wins over the file.
  config cli;
  err = cli.read({"--config-file=" + dir.write("u.conf",
                                               "[pulse.streaming]\n"
                                               "trim = \"safe\"\n"),
                  "--pulse.streaming.trim=approximate"});
  BOOST_REQUIRE_MESSAGE(!err, render(err));
  BOOST_TEST((cli.opts().streaming.trim == trim_mode::approximate));
  // Other names, and other types, are errors naming the allowed values.
  for (auto bad : {"\"fast\"", "\"Safe\"", "\"\""}) {
    config cfg;
    err = cfg.read({"--config-file="
                    + dir.write("b.conf", std::string{"[pulse.streaming]\n"
                                                      "trim = "}
                                            + bad + "\n")});
    BOOST_TEST(code_of(err) == errc::invalid_config);
    BOOST_TEST(render(err).find("pulse.streaming.trim must be "
                                "\"approximate\" or \"safe\", got ")
                 != std::string::npos,
               render(err));
  }
  config cli_bad;
  err = cli_bad.read({"--pulse.streaming.trim=exact"});
  BOOST_TEST(render(err).find("got \"exact\"") != std::string::npos,
             render(err));
  config typed;
  err = typed.read({"--config-file="
                    + dir.write("n.conf", "[pulse.streaming]\ntrim = 1\n")});
  BOOST_TEST(render(err).find("pulse.streaming.trim must be a quoted string")
               != std::string::npos,
             render(err));
  trim_mode m = trim_mode::safe;
  BOOST_TEST(!parse_trim_mode("SAFE", m));
  BOOST_TEST((m == trim_mode::safe));
  BOOST_TEST(std::string{to_string(trim_mode::approximate)} == "approximate");
}

BOOST_AUTO_TEST_CASE(every_option_is_settable_on_the_command_line) {
  // One value per type, for every option of the table: the command line
  // accepts each (no `not_an_option`) and it reaches `opts()`.
  std::vector<std::string> args;
  for (auto& opt : known_options()) {
    // password-file excludes password (config_sources_test covers it).
    if (std::string{opt.key} == "pulse.redis.password-file")
      continue;
    // Cluster mode excludes sentinels and db 7 (cluster_test covers its
    // options on the command line).
    if (std::string{opt.key} == "pulse.redis.cluster"
        || std::string{opt.key} == "pulse.redis.cluster-nodes")
      continue;
    std::string v;
    switch (opt.expected) {
      case option_spec::type::string:
        // The URL overrides host and port: name the same ones.
        v = std::string{opt.key} == "pulse.log.level"        ? "warn"
            : std::string{opt.key} == "pulse.streaming.trim" ? "safe"
            : std::string{opt.key} == "pulse.redis.url"      ? "redis://x:7/7"
                                                             : "x";
        break;
      case option_spec::type::integer:
      case option_spec::type::port:
        v = "7";
        break;
      case option_spec::type::boolean:
        break; // a flag: `--pulse.redis.embedded` sets it
      case option_spec::type::timespan:
        v = "7s";
        break;
      case option_spec::type::string_list:
        v = "127.0.0.1:7";
        break;
    }
    args.push_back(std::string{"--"} + opt.key + (v.empty() ? "" : "=" + v));
  }
  config cfg;
  auto err = cfg.read(args);
  BOOST_REQUIRE_MESSAGE(!err, render(err));
  auto& o = cfg.opts();
  BOOST_TEST(o.redis.port == 7);
  BOOST_TEST(o.redis.host == "x");
  BOOST_TEST(o.redis.embedded);
  BOOST_TEST((o.redis.reply_spin == caf::timespan{7s}));
  BOOST_TEST(o.streaming.max_polled == 7u);
  BOOST_TEST((o.streaming.idle_check == caf::timespan{7s}));
  BOOST_TEST((o.pool.worker_ttl == caf::timespan{7s}));
  BOOST_TEST(o.pool.max_batch == 7u);
  BOOST_TEST(o.log_level == "warn");
  BOOST_TEST((o.streaming.trim == trim_mode::safe));
  config bad;
  err = bad.read({"--pulse.pool.max-batch=0"});
  BOOST_TEST(render(err).find("pulse.pool.max-batch must be >= 1")
               != std::string::npos,
             render(err));
}

BOOST_AUTO_TEST_CASE(booleans_take_true_or_false_on_the_command_line) {
  // CAF 0.17 alone accepts only the bare flag, so a default-true option
  // could not be turned off from the command line.
  config off;
  auto err = off.read({"--pulse.redis.tls-verify=false",
                       "--pulse.redis.reply-lead=false",
                       "--pulse.redis.embedded=true"});
  BOOST_REQUIRE_MESSAGE(!err, render(err));
  BOOST_TEST(!off.opts().redis.tls_verify);
  BOOST_TEST(!off.opts().redis.reply_lead);
  BOOST_TEST(off.opts().redis.embedded);
  // The command line overrides the file, both ways.
  temp_dir dir;
  auto file = dir.write("b.conf", "[pulse.redis]\nreply-lead = false\n"
                                  "tls-verify = true\n");
  config over;
  err = over.read({"--config-file=" + file, "--pulse.redis.reply-lead=true",
                   "--pulse.redis.tls-verify=false"});
  BOOST_REQUIRE_MESSAGE(!err, render(err));
  BOOST_TEST(over.opts().redis.reply_lead);
  BOOST_TEST(!over.opts().redis.tls_verify);
  config flag;
  err = flag.read({"--pulse.redis.tls-verify"});
  BOOST_REQUIRE_MESSAGE(!err, render(err));
  BOOST_TEST(flag.opts().redis.tls_verify);
  config bad;
  err = bad.read({"--pulse.redis.reply-lead=maybe"});
  BOOST_REQUIRE(err);
  BOOST_TEST(render(err).find("--pulse.redis.reply-lead expects true or "
                              "false, not \"maybe\"")
               != std::string::npos,
             render(err));
}

BOOST_AUTO_TEST_CASE(actor_option_defaults_are_the_section_defaults) {
  // Written once: a default-constructed option struct equals the one built
  // from the default section.
  auto r = reader_options::from(streaming_defaults{});
  reader_options r0;
  BOOST_TEST((r0.block == r.block));
  BOOST_TEST(r0.max_polled == r.max_polled);
  BOOST_TEST(r0.buffer_size == r.buffer_size);
  auto k = sink_options::from(streaming_defaults{});
  sink_options k0;
  BOOST_TEST((k0.ack_grace == k.ack_grace));
  BOOST_TEST(k0.max_deliveries == k.max_deliveries);
  BOOST_TEST((k0.idle_check == k.idle_check));
  BOOST_TEST(stream_options{}.max_len
             == stream_options::from(streaming_defaults{}).max_len);
  BOOST_TEST((stream_options{}.trim
              == stream_options::from(streaming_defaults{}).trim));
  auto p = pool_options::from(pool_defaults{});
  pool_options p0;
  BOOST_TEST((p0.worker_ttl == p.worker_ttl));
  BOOST_TEST((p0.worker_shutdown_ttl == p.worker_shutdown_ttl));
  BOOST_TEST((p0.ack_grace_period == p.ack_grace_period));
  BOOST_TEST((p0.job_sink_block_duration == p.job_sink_block_duration));
  BOOST_TEST((p0.requeue_delay == p.requeue_delay));
  BOOST_TEST(p0.max_queued_jobs == p.max_queued_jobs);
  BOOST_TEST(p0.max_batch == p.max_batch);
  auto m = map_options::from(rmap_defaults{});
  map_options m0;
  BOOST_TEST((m0.join_timeout == m.join_timeout));
  BOOST_TEST((m0.slow_subscriber == m.slow_subscriber));
  BOOST_TEST((r0.slow_subscriber == r.slow_subscriber));
  BOOST_TEST((k0.slow_subscriber == k.slow_subscriber));
}

BOOST_AUTO_TEST_SUITE_END()
