// The sinks' janitors: a scheduled actor per sink instance that keeps time,
// and one janitor host per actor system that runs their checks.

#include "pulse/actors/streaming/janitor.hpp"

#include <mutex>
#include <unordered_map>

#include <caf/actor_system.hpp>
#include <caf/blocking_actor.hpp>
#include <caf/exit_reason.hpp>
#include <caf/send.hpp>
#include <caf/typed_event_based_actor.hpp>

#include "pulse/runtime/log.hpp"

namespace pulse::sink_detail {

namespace {

/// Keeps a janitor host alive: every janitor holds one reference; the last
/// one gone stops the host.
struct janitor_host_ref {
  janitor_host_actor host;

  ~janitor_host_ref() {
    caf::anon_send(host, jn_stop_atom::value);
  }
};

using janitor_host_ref_ptr = std::shared_ptr<janitor_host_ref>;

/// Runs checks one at a time until stopped (or exited).
void janitor_host_loop(caf::blocking_actor* self) {
  bool running = true;
  while (running) {
    self->receive(
      [&](jn_check_atom, janitor_job_ptr& job,
          std::vector<std::string>& streams) {
        run_janitor_check(self, *job, std::move(streams));
        return true;
      },
      [&](jn_stop_atom) { running = false; },
      [&](caf::exit_msg&) { running = false; });
  }
}

/// Returns this actor system's janitor host, spawning it if there is none.
janitor_host_ref_ptr janitor_host_of(caf::actor_system& sys) {
  static std::mutex mtx;
  static std::unordered_map<caf::actor_system*,
                            std::weak_ptr<janitor_host_ref>>
    hosts;
  std::lock_guard<std::mutex> guard{mtx};
  for (auto i = hosts.begin(); i != hosts.end();)
    i = i->second.expired() ? hosts.erase(i) : std::next(i);
  if (auto ref = hosts[&sys].lock())
    return ref;
  auto ref = std::make_shared<janitor_host_ref>();
  ref->host = caf::actor_cast<janitor_host_actor>(
    sys.spawn<caf::detached>(janitor_host_loop));
  hosts[&sys] = ref;
  return ref;
}

/// State of a sink instance's janitor.
struct janitor_state {
  janitor_host_ref_ptr host;
  janitor_job_ptr job;
  std::vector<std::string> streams;
  /// Whether a check is running on the host.
  bool busy = false;
};

janitor_actor::behavior_type
janitor_impl(janitor_actor::stateful_pointer<janitor_state> self,
             caf::actor sink, janitor_host_ref_ptr host, janitor_job_ptr job,
             std::vector<std::string> streams) {
  auto& st = self->state;
  st.host = std::move(host);
  st.job = std::move(job);
  st.streams = std::move(streams);
  self->monitor(sink);
  self->set_down_handler([self](const caf::down_msg&) { self->quit(); });
  self->delayed_send(self, janitor_interval(*st.job), jn_tick_atom::value);
  return {
    [self](jn_stop_atom) { self->quit(); },
    [self](jn_streams_atom, std::vector<std::string>& xs) {
      self->state.streams = std::move(xs);
    },
    [self](jn_tick_atom) {
      auto& st = self->state;
      auto rearm = [self] {
        self->state.busy = false;
        self->delayed_send(self, janitor_interval(*self->state.job),
                           jn_tick_atom::value);
      };
      if (st.busy)
        return;
      if (!janitor_due(*st.job)) {
        rearm();
        return;
      }
      st.busy = true;
      self
        ->request(st.host->host, caf::infinite, jn_check_atom::value, st.job,
                  st.streams)
        .then([rearm](bool) { rearm(); },
              [self, rearm](const caf::error& err) {
                log::warn("sink janitor check failed error=\"{}\"", err);
                rearm();
              });
    },
  };
}

} // namespace

janitor_actor spawn_janitor(caf::actor_system& sys, caf::actor sink,
                            gateway_actor gw, sink_config cfg,
                            std::shared_ptr<sink_shared> shared,
                            std::vector<std::string> streams) {
  auto job = make_janitor_job(sink, std::move(gw), std::move(cfg),
                              std::move(shared));
  return sys.spawn(janitor_impl, std::move(sink), janitor_host_of(sys),
                   std::move(job), std::move(streams));
}

} // namespace pulse::sink_detail
