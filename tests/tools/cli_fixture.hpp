#pragma once

/// The fixture of the CLI tests: a live redis-server and a Pulse runtime
/// (the pool fixture's, so nodes and workers can be added) that writes data
/// with the library, and helpers that run the `pulse` binary against it.

#include <boost/test/unit_test.hpp>

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "pulse/actors/streaming/stream.hpp"
#include "tests/pool/pool_fixture.hpp"
#include "tests/tools/cli_runner.hpp"

namespace pulse::test {

struct cli_fixture : pool_fixture {
  /// The options pointing `pulse` at the fixture's server.
  std::vector<std::string> endpoint() const {
    return {"--pulse.redis.host=127.0.0.1",
            "--pulse.redis.port=" + std::to_string(port())};
  }

  /// Runs `pulse <endpoint> args...`.
  cli_result cli(std::vector<std::string> args) {
    auto all = endpoint();
    all.insert(all.end(), args.begin(), args.end());
    return run_cli(all);
  }

  /// Runs `pulse --json args...`, requires rc 0 and parses stdout.
  nlohmann::json cli_json(std::vector<std::string> args) {
    args.insert(args.begin(), "--json");
    auto r = cli(args);
    BOOST_REQUIRE_MESSAGE(r.rc == 0, "rc " << r.rc << ": " << r.err);
    try {
      return nlohmann::json::parse(r.out);
    } catch (const std::exception& e) {
      BOOST_FAIL("not JSON: " << r.out);
    }
    return {};
  }

  /// Runs `pulse args...`, requires rc 0 and returns stdout.
  std::string cli_ok(std::vector<std::string> args) {
    auto r = cli(args);
    BOOST_REQUIRE_MESSAGE(r.rc == 0, "rc " << r.rc << ": " << r.err);
    return r.out;
  }

  /// Adds an event to stream `s` through the library; returns its ID.
  std::string add(const std::string& s, const std::string& name,
                  const std::string& payload, const std::string& topic = {}) {
    auto id = stream::make(s)->add(redis(), name, payload, topic);
    BOOST_REQUIRE_MESSAGE(id, describe(id));
    return *id;
  }
};

/// Returns whether `text` contains `part`.
inline bool has(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

} // namespace pulse::test
