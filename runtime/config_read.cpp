#include "pulse/runtime/config.hpp"

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <iterator>
#include <regex>
#include <sstream>
#include <string_view>
#include <thread>

#include <caf/config_option_set.hpp>
#include <caf/pec.hpp>

#include "pulse/runtime/errors.hpp"
#include "pulse/runtime/log.hpp"

namespace pulse {

namespace {

using spec = option_spec;

// Reaches the option set CAF keeps protected in every config class: naming
// the member through a derived class is what C++ allows.
struct option_set_of : caf::actor_system_config {
  static caf::config_option_set& get(caf::actor_system_config& cfg) {
    return cfg.*(&option_set_of::custom_options_);
  }
};

// Prints CAF's help text, with the default file it names corrected.
void print_help(caf::actor_system_config& cfg, bool long_help) {
  auto text = option_set_of::get(cfg).help_text(!long_help);
  static constexpr std::string_view caf_default = "caf-application.ini";
  for (auto i = text.find(caf_default); i != std::string::npos;
       i = text.find(caf_default, i))
    text.replace(i, caf_default.size(), cfg.config_file_path);
  std::cerr << text << std::endl;
}

// Renders a parse error of `path` as `<path>:<line>:<column>: <cause>`.
caf::error syntax_error(const std::string& path, const caf::error& err) {
  auto what = caf::to_string(err);
  std::smatch line;
  std::smatch column;
  static const std::regex line_rx{R"("line" = (\d+))"};
  static const std::regex column_rx{R"("column" = (\d+))"};
  std::string pos;
  if (std::regex_search(what, line, line_rx)) {
    pos = ":" + line[1].str();
    if (std::regex_search(what, column, column_rx))
      pos += ":" + column[1].str();
  }
  std::string cause = what;
  if (err.category() == caf::atom("parser"))
    cause = caf::to_string(static_cast<caf::pec>(err.code()));
  return make_error(errc::invalid_config,
                    path + pos + ": not valid config (" + cause + ")");
}

// Checks the file at `path` ourselves before CAF reads it: CAF 0.17 drops
// file values of the wrong type silently and accepts keys outside any
// section and unknown keys.
caf::error check_file(const std::string& path) {
  auto parsed = caf::actor_system_config::parse_config_file(path.c_str());
  if (!parsed)
    return syntax_error(path, parsed.error());
  for (auto& [key, val] : *parsed)
    if (!caf::holds_alternative<caf::settings>(val))
      return make_error(errc::invalid_config,
                        path + ": " + key
                          + " is outside any section (put it under one, "
                            "e.g. [pulse.redis])");
  if (auto err = validate_settings(*parsed)) {
    auto text = render(err);
    static constexpr std::string_view prefix = "pulse.invalid_config: ";
    if (text.compare(0, prefix.size(), prefix) == 0)
      text.erase(0, prefix.size());
    return make_error(errc::invalid_config, path + ": " + text);
  }
  return caf::none;
}

// Applies the password sources: PULSE_REDIS_PASSWORD, then password-file.
caf::error resolve_password(redis_options& redis) {
  if (!redis.password_file.empty()) {
    if (!redis.password.empty())
      return make_error(errc::invalid_config,
                        "pulse.redis: set either password or password-file, "
                        "not both (a password in url counts)");
    std::ifstream in{redis.password_file, std::ios::binary};
    if (!in)
      return make_error(errc::invalid_config,
                        "pulse.redis.password-file: cannot read "
                          + redis.password_file);
    std::string pw{std::istreambuf_iterator<char>{in},
                   std::istreambuf_iterator<char>{}};
    if (!pw.empty() && pw.back() == '\n')
      pw.pop_back();
    if (!pw.empty() && pw.back() == '\r')
      pw.pop_back();
    redis.password = std::move(pw);
  }
  if (auto env = std::getenv("PULSE_REDIS_PASSWORD"); env && *env)
    redis.password = env;
  return caf::none;
}

// Removes each `--key=true` / `--key=false` of a boolean option from
// `args` into `out` (a bare `--key` stays: CAF reads it as true). Errors:
// `errc::invalid_config` for any other value.
caf::error take_boolean_args(std::vector<std::string>& args,
                             std::vector<std::pair<std::string, bool>>& out) {
  auto is_boolean = [](std::string_view key) {
    for (auto& opt : known_options())
      if (opt.expected == spec::type::boolean && key == opt.key)
        return true;
    return false;
  };
  std::vector<std::string> rest;
  for (auto& arg : args) {
    auto eq = arg.find('=');
    if (arg.compare(0, 2, "--") != 0 || eq == std::string::npos
        || !is_boolean(std::string_view{arg}.substr(2, eq - 2))) {
      rest.push_back(std::move(arg));
      continue;
    }
    auto key = arg.substr(2, eq - 2);
    auto value = arg.substr(eq + 1);
    if (value != "true" && value != "false")
      return make_error(errc::invalid_config,
                        "--" + key + " expects true or false, not \""
                          + value + "\"");
    out.emplace_back(std::move(key), value == "true");
  }
  args = std::move(rest);
  return caf::none;
}

} // namespace

void add_options(caf::actor_system_config& cfg) {
  cfg.add_error_category(pulse_category::value, render_pulse_error);
  cfg.config_file_path = "caf-application.conf";
  // CAF defaults to max(cores, 4) workers; match the cores instead.
  auto cores = std::max(2u, std::thread::hardware_concurrency());
  cfg.set("scheduler.max-threads", static_cast<size_t>(cores));
  // Idle workers poll instead of sleeping 50 us between polls in CAF's
  // "moderate" phase (they still fall back to the relaxed phase's sleep
  // after it): measured, this took an event-based actor's request to Redis
  // from 130 to 64 us and actor-pipelined SETs up by about a fifth, at no
  // visible idle CPU cost. `[work-stealing] moderate-sleep-duration`
  // overrides it.
  cfg.set("work-stealing.moderate-sleep-duration", caf::timespan{0});
  // ... and poll 3000 times instead of 500 before that sleep (~60-100 us on
  // the 2-core VM we measure on): long enough to cover a loopback round
  // trip, so a worker waiting for Redis' reply is still awake when it
  // arrives. Measured: event-based request to Redis 60 -> 27 us, 128
  // actor-pipelined SETs in flight +15 %; an idle node's CPU unchanged; a
  // worker fed one message per ms 2.6 -> 4.6 % of a core (CAF's own
  // defaults: 24 %), one per 200 us 14 -> 22 % (CAF's: 30 %).
  cfg.set("work-stealing.moderate-poll-attempts", size_t{3000});
  // An idle worker then waits 50 ms (CAF: 10 ms) on its queue before it
  // tries to steal again: work sent from outside the scheduler wakes it at
  // once, so what waits longer is only work queued behind an actor that
  // holds its worker (a blocking handler). Measured: an idle node with
  // 1,000 workers 1.1 -> 0.4 % of a core, 10,000 workers 1.3 -> 0.6-0.9 %;
  // the latency ratios of bench/ratios unchanged, a blocking rmap `set`
  // about 8 us (7 %) slower (docs/operations.md, "Idle CPU").
  // `[work-stealing] relaxed-sleep-duration` overrides it.
  cfg.set("work-stealing.relaxed-sleep-duration",
          caf::timespan{std::chrono::milliseconds{50}});
  // Declare every option of the table, unbound (CAF 0.17 does not store
  // nested file values in bound members); values are read from content
  // after parse(). This also makes each `--pulse.<section>.<key>=...`
  // valid on the command line and lists it in `--long-help`.
  auto& set = option_set_of::get(cfg);
  for (auto& opt : known_options()) {
    std::string key = opt.key;
    auto dot = key.rfind('.');
    auto category = key.substr(0, dot);
    auto name = key.substr(dot + 1);
    caf::actor_system_config::opt_group group{set, category};
    switch (opt.expected) {
      case spec::type::string:
        group.add<std::string>(name, opt.description);
        break;
      case spec::type::integer:
        group.add<int64_t>(name, opt.description);
        break;
      case spec::type::port:
        group.add<uint16_t>(name, opt.description);
        break;
      case spec::type::boolean:
        group.add<bool>(name, opt.description);
        break;
      case spec::type::timespan:
        group.add<caf::timespan>(name, opt.description);
        break;
      case spec::type::string_list:
        group.add<std::vector<std::string>>(name, opt.description);
        break;
    }
  }
}

caf::expected<options> read_config(caf::actor_system_config& cfg,
                                   std::vector<std::string> args) {
  // Help first, by us: CAF's names the wrong default file, and nothing
  // else (not even a broken config file) should stand in its way.
  for (auto& arg : args)
    if (arg == "-h" || arg == "-?" || arg == "--help"
        || arg == "--long-help") {
      print_help(cfg, arg == "--long-help");
      cfg.cli_helptext_printed = true;
      return make_error(errc::help_printed, arg);
    }
  std::string path = cfg.config_file_path;
  bool explicit_path = false;
  static constexpr std::string_view flag = "--config-file=";
  for (auto& arg : args)
    if (arg.compare(0, flag.size(), flag) == 0) {
      path = arg.substr(flag.size());
      explicit_path = true;
    }
  if (std::ifstream probe{path}; !probe) {
    if (explicit_path)
      return make_error(errc::invalid_config,
                        "config file not found: " + path);
  } else if (auto err = check_file(path)) {
    return err;
  }
  cfg.config_file_path = path;
  // CAF 0.17 takes a boolean on the command line only as a bare flag
  // (`--pulse.redis.tls`), so `=true` / `=false` are ours to apply.
  std::vector<std::pair<std::string, bool>> flags;
  if (auto err = take_boolean_args(args, flags))
    return err;
  if (auto err = cfg.parse(std::move(args), path.c_str()))
    return make_error(errc::invalid_config, render(err));
  for (auto& [key, value] : flags)
    caf::put(cfg.content, key, value);
  if (cfg.cli_helptext_printed) // --dump-config
    return make_error(errc::help_printed, "--dump-config");
  auto result = options_from(cfg.content);
  if (!result)
    return result.error();
  if (auto err = resolve_password(result->redis))
    return err;
  if (auto err = log::set_level(result->log_level))
    return err;
  return result;
}

int exit_status(const caf::error& err) {
  if (!err)
    return 0;
  if (code_of(err) == errc::help_printed)
    return 0;
  std::cerr << render(err) << std::endl;
  return 1;
}

config::config() {
  add_options(*this);
}

caf::error config::read(int argc, char** argv) {
  std::vector<std::string> args;
  for (int i = 1; i < argc; ++i)
    args.emplace_back(argv[i]);
  return read(std::move(args));
}

caf::error config::read(std::vector<std::string> args) {
  auto result = read_config(*this, std::move(args));
  if (!result)
    return result.error();
  opts_ = std::move(*result);
  return caf::none;
}

} // namespace pulse
