// Fuzz target: the configuration checks of runtime/config.cpp on settings
// that CAF's config parser produced from arbitrary bytes, read the two ways
// read_config reads a config file, in memory:
//  1. untyped (as its check_file does): caf::actor_system_config::
//     parse_config, then validate_settings and options_from;
//  2. typed by every declared pulse.* option, on top of the defaults of a
//     pulse::config (as cfg.parse does), then options_from.
// Checks: no crash, leak or sanitizer report; options_from accepts only
// values within the bounds of known_options() (ports in 1..65535, positive
// or non-negative integers and durations).

#include <cstddef>
#include <cstdint>
#include <sstream>
#include <string>
#include <type_traits>

#include <caf/actor_system_config.hpp>
#include <caf/settings.hpp>

#include "pulse/runtime/config.hpp"
#include "check.hpp"

namespace {

using spec = pulse::option_spec;

// The option set a config class keeps protected, reached through a
// derived class.
struct options_of : caf::actor_system_config {
  static const caf::config_option_set& get(caf::actor_system_config& cfg) {
    return cfg.*(&options_of::custom_options_);
  }
};

// One pulse::config for the whole run: its options and default content.
pulse::config& defaults() {
  static pulse::config cfg;
  return cfg;
}

template <class T>
void check_bound(const spec& opt, T x) {
  // A port is 1..65535, or 0 where the option allows it (0 = off).
  if (opt.expected == spec::type::port)
    FUZZ_CHECK(x >= (opt.min == spec::bound::non_negative ? 0 : 1)
               && x <= 65535);
  if (opt.min == spec::bound::positive)
    FUZZ_CHECK(x > 0);
  if (opt.min == spec::bound::non_negative)
    FUZZ_CHECK(x >= 0);
  if (opt.min == spec::bound::percent)
    FUZZ_CHECK(x >= 0 && x <= 100);
}

void check_options(pulse::options& opts) {
  for (auto& opt : pulse::known_options())
    caf::visit(
      [&](auto* field) {
        using type = std::remove_pointer_t<decltype(field)>;
        if constexpr (std::is_same_v<type, caf::timespan>)
          check_bound(opt, field->count());
        else if constexpr (std::is_integral_v<type>
                           && !std::is_same_v<type, bool>)
          check_bound(opt, static_cast<int64_t>(*field));
      },
      opt.field(opts));
}

void check(const caf::settings& xs) {
  auto opts = pulse::options_from(xs);
  if (opts)
    check_options(*opts);
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static bool init = [] {
    // The defaults alone are a valid configuration.
    auto opts = pulse::options_from(defaults().content);
    FUZZ_CHECK(opts);
    check_options(*opts);
    return true;
  }();
  (void) init;
  std::string text{reinterpret_cast<const char*>(data), size};
  {
    std::istringstream in{text};
    if (auto parsed = caf::actor_system_config::parse_config(in)) {
      (void) pulse::validate_settings(*parsed);
      check(*parsed);
    }
  }
  {
    std::istringstream in{text};
    auto xs = defaults().content;
    auto err = caf::actor_system_config::parse_config(
      in, options_of::get(defaults()), xs);
    if (!err)
      check(xs);
  }
  return 0;
}
