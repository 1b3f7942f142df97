#pragma once

/// Start-up shared by the helper processes of multi-process tests: an actor
/// system and a runtime connected to 127.0.0.1:<port>.

#include <cstdio>
#include <cstdlib>
#include <memory>
#include <optional>

#include <caf/all.hpp>

#include "pulse/runtime/errors.hpp"
#include "pulse/runtime/runtime.hpp"

namespace pulse::test {

struct helper_process {
  pulse::config cfg;
  std::optional<caf::actor_system> sys;
  std::unique_ptr<pulse::runtime> rt;

  /// Connects to 127.0.0.1:`port`; exits the process with status 1 and a
  /// message on stderr if that fails.
  explicit helper_process(const char* port) {
    cfg.set("scheduler.max-threads", 2);
    sys.emplace(cfg);
    pulse::options o;
    o.redis.host = "127.0.0.1";
    o.redis.port = static_cast<uint16_t>(std::atoi(port));
    o.log_level = "warn";
    auto r = pulse::runtime::start(*sys, o);
    if (!r) {
      std::fprintf(stderr, "%s\n", pulse::render(r.error()).c_str());
      std::exit(1);
    }
    rt = std::move(*r);
  }

  ~helper_process() {
    rt.reset();
  }
};

} // namespace pulse::test
