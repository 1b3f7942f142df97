#pragma once

/// The fixture of the `sink` suite of sink_test (sink_test.cpp,
/// sink_delivery_test.cpp, sink_trim_test.cpp): sinks with short timeouts
/// and the subscribers attached to them.

#include <boost/test/unit_test.hpp>

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <caf/all.hpp>

#include "pulse/actors/streaming/sink.hpp"
#include "pulse/actors/streaming/stream.hpp"
#include "pulse/runtime/errors.hpp"
#include "tests/support/collector.hpp"
#include "tests/support/fixtures.hpp"

namespace pulse::test {

/// The ack grace period of `sink_fixture::fast`.
inline constexpr auto grace = std::chrono::milliseconds{200};

/// An actor system and a Redis server, with helpers to spawn sinks, attach
/// subscribers, add events and inspect the consumer groups.
struct sink_fixture : actor_fixture {
  /// Sink options with short blocks, grace period and idle checks, reading
  /// from the start of the streams.
  sink_options fast() {
    sink_options o;
    o.block = 50ms;
    o.ack_grace = grace;
    o.idle_check = 50ms;
    o.start = "0";
    return o;
  }

  /// Spawns sink `name` on `streams` with options `o`.
  sink_actor make(const std::string& name, std::vector<std::string> streams,
                  sink_options o) {
    auto s = spawn_sink(*rt, name, std::move(streams), o);
    BOOST_REQUIRE_MESSAGE(s, describe(s));
    return *s;
  }

  /// Subscribes a collector; acks automatically when `auto_ack`.
  std::shared_ptr<event_inbox> attach(const sink_actor& s, bool auto_ack) {
    auto box = std::make_shared<event_inbox>();
    auto sub = sys->spawn(collector, box,
                          auto_ack ? caf::actor_cast<caf::actor>(s)
                                   : caf::actor{});
    attach_actor(s, sub);
    return box;
  }

  /// Subscribes `sub` to `s` (stopped with the fixture).
  void attach_actor(const sink_actor& s, caf::actor sub) {
    subs.push_back(sub);
    (*self)->request(s, 5s, sub_atom::value,
                     caf::actor_cast<event_subscriber_actor>(sub))
      .receive([](bool ok) { BOOST_TEST(ok); },
               [](caf::error& e) { BOOST_FAIL(render(e)); });
  }

  /// Adds an event with `payload` (and `topic`) to stream `s`; returns its ID.
  std::string add(const std::string& s, const std::string& payload,
                  const std::string& topic = {}) {
    auto id = stream::make(s)->add(redis(), "ev", payload, topic);
    BOOST_REQUIRE_MESSAGE(id, describe(id));
    return *id;
  }

  /// Events of stream `s` pending in `group` (-1 on error).
  int64_t pending(const std::string& s, const std::string& group) {
    auto r = redis()("XPENDING", "pulse:stream:" + s, group);
    return r && r->is_array() ? r->elements[0].integer : -1;
  }

  /// The counters of sink `s`.
  stream_stats stats(const sink_actor& s) {
    stream_stats result;
    (*self)->request(s, 5s, stats_atom::value)
      .receive([&](stream_stats& x) { result = x; },
               [](caf::error& e) { BOOST_FAIL(render(e)); });
    return result;
  }

  /// Stops sink `s` and waits until it is gone.
  void close(const sink_actor& s) {
    caf::anon_send_exit(s, caf::exit_reason::user_shutdown);
    (*self)->wait_for(s);
  }

  /// Stops every subscriber attached with `attach_actor`.
  ~sink_fixture() {
    for (auto& s : subs)
      caf::anon_send_exit(s, caf::exit_reason::user_shutdown);
  }

  /// The subscribers attached so far.
  std::vector<caf::actor> subs;
};

} // namespace pulse::test
