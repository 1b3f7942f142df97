#pragma once

/// Helpers for tests in which an event-based actor does the work and
/// reports its outcome (a struct with an `error` string) to the test
/// thread through a promise.

#include <chrono>
#include <future>
#include <memory>
#include <optional>
#include <string>

#include <caf/actor_system.hpp>
#include <caf/event_based_actor.hpp>

#include "pulse/runtime/errors.hpp"

namespace pulse::test {

/// Returns `fail(where, err)`: reports `where: <err>` through `out` and
/// quits `self`.
template <class Report>
auto failing(caf::event_based_actor* self,
             std::shared_ptr<std::promise<Report>> out) {
  return [self, out](const std::string& where, const caf::error& err) {
    Report r;
    r.error = where + ": " + render(err);
    out->set_value(r);
    self->quit();
  };
}

/// Spawns `fn(self, args..., out)` and waits up to `timeout` for its
/// report; `none` when it did not report in time.
template <class Report, class F, class... Ts>
std::optional<Report> run_app(caf::actor_system& sys,
                              std::chrono::seconds timeout, F fn,
                              Ts&&... xs) {
  auto out = std::make_shared<std::promise<Report>>();
  auto result = out->get_future();
  sys.spawn(fn, std::forward<Ts>(xs)..., out);
  if (result.wait_for(timeout) != std::future_status::ready)
    return std::nullopt;
  return result.get();
}

} // namespace pulse::test
