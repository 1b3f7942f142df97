// Configuration sources and rejected input: help, syntax errors, keys
// outside sections, secrets from the environment and a file, and a
// program's own config class composed with `pulse::add_options`.

#include <boost/test/unit_test.hpp>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "pulse/runtime/config.hpp"
#include "pulse/runtime/errors.hpp"
#include "tests/support/print.hpp"
#include "tests/support/temp_dir.hpp"
#include "tests/support/text.hpp"

using namespace pulse;
using pulse::test::temp_dir;
using namespace std::chrono_literals;

using pulse::test::contains;

namespace {

// Captures what is written to std::cerr while alive.
struct cerr_capture {
  cerr_capture() : old(std::cerr.rdbuf(buf.rdbuf())) {
  }
  ~cerr_capture() {
    std::cerr.rdbuf(old);
  }
  std::string text() const {
    return buf.str();
  }
  std::ostringstream buf;
  std::streambuf* old;
};

// Sets an environment variable for one scope.
struct scoped_env {
  scoped_env(const char* name, const char* value) : name(name) {
    ::setenv(name, value, 1);
  }
  ~scoped_env() {
    ::unsetenv(name);
  }
  const char* name;
};

// A program's own config class with one option of its own.
struct app_config : caf::actor_system_config {
  app_config() {
    pulse::add_options(*this);
    opt_group{custom_options_, "app"}.add<int64_t>("workers",
                                                   "number of workers");
  }
};

} // namespace

BOOST_AUTO_TEST_SUITE(configuration_sources)

BOOST_AUTO_TEST_CASE(help_asks_the_program_to_exit) {
  for (auto arg : {"--help", "-h", "--long-help"}) {
    cerr_capture out;
    config cfg;
    auto err = cfg.read({arg});
    BOOST_TEST(code_of(err) == errc::help_printed, arg);
    BOOST_TEST(cfg.help_printed());
    BOOST_TEST(exit_status(err) == 0);
    // The help names the file Pulse really reads, not CAF's default.
    BOOST_TEST(contains(out.text(), "caf-application.conf"), out.text());
    BOOST_TEST(!contains(out.text(), "caf-application.ini"), out.text());
    if (std::string{arg} == "--long-help")
      for (auto key : {"max-batch", "stream-max-len", "password-file"})
        BOOST_TEST(contains(out.text(), key), key);
  }
  // Help wins over a broken config file: nothing else is read.
  temp_dir dir;
  config cfg;
  cerr_capture out;
  auto err = cfg.read({"--config-file=" + dir.write("x.conf", "\x01\x02"),
                       "--help"});
  BOOST_TEST(code_of(err) == errc::help_printed);
}

BOOST_AUTO_TEST_CASE(dump_config_asks_the_program_to_exit) {
  cerr_capture out;
  config cfg;
  auto err = cfg.read({"--dump-config", "--pulse.redis.port=7010"});
  BOOST_TEST(code_of(err) == errc::help_printed);
  BOOST_TEST(exit_status(err) == 0);
}

BOOST_AUTO_TEST_CASE(other_errors_exit_with_status_1) {
  cerr_capture out;
  BOOST_TEST(exit_status(make_error(errc::invalid_config, "x")) == 1);
  BOOST_TEST(contains(out.text(), "pulse.invalid_config: x"), out.text());
}

BOOST_AUTO_TEST_CASE(binary_garbage_is_an_error_naming_file_and_line) {
  temp_dir dir;
  std::string garbage;
  for (int i = 0; i < 256; ++i)
    garbage.push_back(static_cast<char>((i * 37 + 11) % 256));
  auto file = dir.write("garbage.conf", garbage);
  config cfg;
  auto err = cfg.read({"--config-file=" + file});
  BOOST_TEST(code_of(err) == errc::invalid_config);
  BOOST_TEST(contains(render(err), file + ":1:"), render(err));
}

BOOST_AUTO_TEST_CASE(syntax_error_names_its_line) {
  temp_dir dir;
  auto file = dir.write("bad.conf",
                        "[pulse.redis]\nport = 7000\nthis is not config\n");
  config cfg;
  auto err = cfg.read({"--config-file=" + file});
  BOOST_TEST(code_of(err) == errc::invalid_config);
  BOOST_TEST(contains(render(err), file + ":3:"), render(err));
}

BOOST_AUTO_TEST_CASE(keys_outside_any_section_are_rejected) {
  temp_dir dir;
  auto file = dir.write("top.conf", "port = 7000\n[pulse.redis]\nport = 1\n");
  config cfg;
  auto err = cfg.read({"--config-file=" + file});
  BOOST_TEST(code_of(err) == errc::invalid_config);
  BOOST_TEST(contains(render(err), "port is outside any section"),
             render(err));
}

BOOST_AUTO_TEST_CASE(unknown_keys_and_wrong_types_are_rejected) {
  temp_dir dir;
  struct bad_case {
    const char* text;
    const char* message;
  };
  for (auto c : {bad_case{"[pulse.redis]\nprot = 7000\n",
                          "unknown option pulse.redis.prot"},
                 bad_case{"[pulse.streaming]\nmax-polled = \"many\"\n",
                          "pulse.streaming.max-polled must be an integer"},
                 bad_case{"[pulse.pool]\nworker-ttl = 3\n",
                          "pulse.pool.worker-ttl must be a duration"},
                 bad_case{"[pulse.log]\nlevel = \"loud\"\n",
                          "unknown level"}}) {
    config cfg;
    auto err = cfg.read({"--config-file=" + dir.write("b.conf", c.text)});
    BOOST_TEST(contains(render(err), c.message), render(err));
  }
}

BOOST_AUTO_TEST_CASE(password_comes_from_the_environment) {
  temp_dir dir;
  auto file = dir.write("p.conf", "[pulse.redis]\npassword = \"in-file\"\n");
  {
    config cfg;
    BOOST_REQUIRE(!cfg.read({"--config-file=" + file}));
    BOOST_TEST(cfg.opts().redis.password == "in-file");
  }
  scoped_env env{"PULSE_REDIS_PASSWORD", "from-env"};
  config cfg;
  auto err = cfg.read({"--config-file=" + file});
  BOOST_REQUIRE_MESSAGE(!err, render(err));
  BOOST_TEST(cfg.opts().redis.password == "from-env");
}

BOOST_AUTO_TEST_CASE(password_comes_from_a_file) {
  temp_dir dir;
  auto secret = dir.write("secret", "s3cret\n");
  config cfg;
  auto err = cfg.read({"--pulse.redis.password-file=" + secret});
  BOOST_REQUIRE_MESSAGE(!err, render(err));
  BOOST_TEST(cfg.opts().redis.password == "s3cret");
  config missing;
  err = missing.read({"--pulse.redis.password-file=" + dir.path + "/none"});
  BOOST_TEST(contains(render(err), "password-file: cannot read"),
             render(err));
  config both;
  err = both.read({"--pulse.redis.password-file=" + secret,
                   "--pulse.redis.password=x"});
  BOOST_TEST(contains(render(err), "either password or password-file"),
             render(err));
}

BOOST_AUTO_TEST_CASE(own_config_class_composes_with_add_options) {
  temp_dir dir;
  auto file = dir.write("app.conf", "[app]\nworkers = 4\n"
                                    "[pulse.redis]\nport = 7001\n"
                                    "[pulse.pool]\nmax-batch = 8\n");
  app_config cfg;
  BOOST_TEST(cfg.config_file_path == "caf-application.conf");
  auto opts = read_config(cfg, {"--config-file=" + file,
                                "--pulse.streaming.max-polled=12"});
  BOOST_REQUIRE(opts);
  BOOST_TEST(caf::get_or(cfg, "app.workers", int64_t{0}) == 4);
  BOOST_TEST(opts->redis.port == 7001);
  BOOST_TEST(opts->pool.max_batch == 8u);
  BOOST_TEST(opts->streaming.max_polled == 12u);
  // The same checks as pulse::config.
  app_config bad;
  auto bad_opts = read_config(bad, {"--config-file="
                                    + dir.write("b.conf", "[pulse.redis]\n"
                                                          "port = \"x\"\n")});
  BOOST_REQUIRE(!bad_opts);
  BOOST_TEST(contains(render(bad_opts.error()), "pulse.redis.port must be"),
             render(bad_opts.error()));
}

BOOST_AUTO_TEST_SUITE_END()
