#pragma once

/// Shared start-up of the examples: config, actor system, runtime.

#include <cstdlib>
#include <iostream>
#include <memory>
#include <optional>

#include <caf/all.hpp>

#include "pulse/messages/streaming.hpp"
#include "pulse/runtime/errors.hpp"
#include "pulse/runtime/runtime.hpp"

namespace example {

/// Holds the actor system and the runtime (destroyed in the right order).
struct app {
  pulse::config cfg;
  std::optional<caf::actor_system> sys;
  std::unique_ptr<pulse::runtime> rt;

  /// Reads caf-application.conf and the command line, starts the runtime
  /// (an embedded redis-server when no host is configured). Exits the
  /// process with a message on errors.
  app(int argc, char** argv) {
    if (auto err = cfg.read(argc, argv)) // also after --help: exit
      std::exit(pulse::exit_status(err));
    sys.emplace(cfg);
    auto r = pulse::runtime::start(*sys, cfg.opts());
    if (!r) {
      std::cerr << "cannot start: " << pulse::render(r.error()) << '\n';
      std::exit(1);
    }
    rt = std::move(*r);
  }

  ~app() {
    rt.reset();
  }

  /// Returns `x` or exits with its error.
  template <class T>
  T must(caf::expected<T> x, const char* what) {
    if (!x) {
      std::cerr << what << ": " << pulse::render(x.error()) << '\n';
      std::exit(1);
    }
    return std::move(*x);
  }
};

/// Subscribes `sub` (an actor answering `event_batch` with `true`) to a
/// reader or sink and waits for the confirmation.
template <class Source>
void subscribe(caf::scoped_actor& self, const Source& source,
               const caf::actor& sub) {
  self
    ->request(source, std::chrono::seconds{5}, pulse::sub_atom::value,
              caf::actor_cast<pulse::event_subscriber_actor>(sub))
    .receive([](bool) {}, [](caf::error& err) {
      std::cerr << "subscribe: " << pulse::render(err) << '\n';
    });
}

/// A subscriber that prints each event with a label and, when `sink` is
/// set, acks it. Sends `true` to `done` after `expected` events.
inline caf::behavior printer(caf::event_based_actor* self, std::string label,
                             caf::actor sink, caf::actor done,
                             size_t expected) {
  auto seen = std::make_shared<size_t>(0);
  return {
    [=](pulse::event_batch& batch) {
      for (auto& ev : batch.events) {
        std::cout << label << " got " << ev.stream << "/" << ev.id << " "
                  << ev.name << (ev.topic.empty() ? "" : " topic=" + ev.topic)
                  << " payload=" << ev.payload << std::endl;
        if (sink)
          self->send(sink, pulse::ack_atom::value, ev.stream, ev.id);
        if (++*seen == expected)
          self->send(done, true);
      }
      return true;
    },
  };
}

/// Waits for `n` `true` messages (or 10 s).
inline void await(caf::scoped_actor& self, size_t n) {
  for (size_t i = 0; i < n; ++i)
    self->receive([](bool) {},
                  caf::after(std::chrono::seconds{10}) >>
                    [] { std::cerr << "timed out waiting for events\n"; });
}

} // namespace example
