#include "pulse/actors/pool/worker.hpp"

#include <memory>
#include <mutex>

#include <caf/actor_system.hpp>
#include <caf/typed_event_based_actor.hpp>
#include <caf/send.hpp>

#include "pulse/actors/pool/worker_state.hpp"
#include "pulse/runtime/errors.hpp"
#include "pulse/runtime/log.hpp"

namespace pulse {

namespace {

using namespace worker_detail;

pool_worker_impl_actor::behavior_type
worker_impl(pool_worker_impl_actor::pointer self, services* rt,
            pool_core_ptr core, pool_intake_ptr intake,
            pool_confirmer_actor confirmer, std::string id,
            int64_t created_ns, job_handler_ptr handler) {
  auto st = std::make_shared<worker_state>(self, *rt, std::move(core),
                                           std::move(intake), std::move(id),
                                           created_ns, std::move(handler));
  st->confirmer = std::move(confirmer);
  st->weak = st;
  st->me = pool_worker_impl_actor{self};
  st->intake->enroll(st->queue_key, pool_intake_client_actor{st->me},
                     [w = st->weak](std::vector<resp::value>& entries) {
                       return worker_state::take_inline(w, entries);
                     });
  self->attach_functor([st](const caf::error&) {
    st->intake->drop(st->queue_key);
    std::lock_guard<std::mutex> guard{st->mtx};
    st->closed = true; // late poll callbacks do nothing
    st->me = nullptr;  // no self-reference after termination
    st->steps.clear();
    st->parked.reset();
    st->handover_next = nullptr;
  });
  {
    std::lock_guard<std::mutex> guard{st->mtx};
    st->poll();
  }
  using guard_t = std::lock_guard<std::mutex>;
  // Every message becomes a step: steps run one at a time, in order, and a
  // step waiting for Redis holds the later ones back (see `worker_state`).
  return {
    [st](rebalance_atom) {
      guard_t guard{st->mtx};
      st->submit([st](cont k) {
        if (st->closed)
          return k();
        st->rebalance(k);
      });
    },
    [st](fence_atom) {
      guard_t guard{st->mtx};
      st->submit([st](cont k) {
        if (!st->closed && !st->running.empty()) {
          log::warn("pool worker lost its lease, stopping jobs worker={} "
                    "jobs={}",
                    st->id, st->running.size());
          st->stop_all_local();
        }
        k();
      });
    },
    [st](resume_atom) {
      guard_t guard{st->mtx};
      st->submit([st](cont k) {
        if (st->closed)
          return k();
        st->resume(k);
      });
    },
    [st](pw_completed_atom, std::string& key, uint64_t epoch) {
      guard_t guard{st->mtx};
      st->submit([st, key = std::move(key), epoch](cont k) {
        st->forget(key, epoch);
        k();
      });
    },
    [st](rejoin_atom) {
      guard_t guard{st->mtx};
      st->submit([st](cont k) {
        if (st->closed)
          return k();
        st->rejoin(k);
      });
    },
    [st](pw_retry_atom) {
      guard_t guard{st->mtx};
      st->submit([st](cont k) {
        st->retry_armed = false;
        if (st->closed)
          return k();
        auto then = [st, k] {
          st->resume([st, k] {
            st->poll();
            k();
          });
        };
        if (!st->needs_resync)
          return then();
        st->resync([st, k, then](bool ok) {
          if (!ok) {
            st->arm_retry();
            return k();
          }
          then();
        });
      });
    },
    [st](pw_batch_atom, std::vector<resp::value>& entries) {
      guard_t guard{st->mtx};
      auto xs = std::make_shared<std::vector<resp::value>>(std::move(entries));
      st->submit([st, xs](cont k) { st->on_batch(*xs, k); });
    },
    [st](pw_lost_atom, const caf::error& err) {
      guard_t guard{st->mtx};
      st->submit([st, err](cont k) {
        st->on_lost(err);
        k();
      });
    },
    [st](pw_timeout_atom, const std::string& key, uint64_t epoch) {
      guard_t guard{st->mtx};
      st->submit([st, key, epoch](cont k) {
        if (st->closed)
          return k();
        st->on_timeout(key, epoch, k);
      });
    },
    [st](pw_requeue_atom) {
      guard_t guard{st->mtx};
      st->submit([st](cont k) {
        st->requeue_armed = false;
        if (st->closed)
          return k();
        st->handoff.insert(st->handoff.end(), st->requeue.begin(),
                           st->requeue.end());
        st->requeue.clear();
        st->flush_handoff([st, k](bool ok) {
          if (!ok)
            st->arm_retry();
          k();
        });
      });
    },
    [st](pw_call_atom) {
      // A Redis call parked on the intake's reader thread: the step that
      // made it waits for it, so this is no step of its own.
      guard_t guard{st->mtx};
      st->send_parked();
    },
    [st](pw_handover_atom) {
      // The next attempt of the close's hand-over (the close step waits).
      guard_t guard{st->mtx};
      if (auto f = std::move(st->handover_next)) {
        st->handover_next = nullptr;
        f();
      }
    },
    [self, st](close_atom, bool shutdown) {
      auto rp = self->make_response_promise<bool>();
      guard_t guard{st->mtx};
      st->submit([self, st, shutdown, rp](cont k) mutable {
        auto done = [self, st, rp, k]() mutable {
          rp.deliver(true);
          st->steps.clear(); // the worker is gone
          self->quit();
          k();
        };
        if (st->closed)
          return done();
        st->close(shutdown, done);
      });
      return rp;
    },
  };
}

} // namespace

pool_worker_actor spawn_pool_worker(services& rt, pool_core_ptr core,
                                    pool_intake_ptr intake,
                                    pool_confirmer_actor confirmer,
                                    std::string id, int64_t created_ns,
                                    job_handler_ptr handler, bool detached) {
  if (detached)
    return pool_worker_actor{rt.system().spawn<caf::detached>(
      worker_impl, &rt, std::move(core), std::move(intake),
      std::move(confirmer), std::move(id), created_ns, std::move(handler))};
  return pool_worker_actor{rt.system().spawn(
    worker_impl, &rt, std::move(core), std::move(intake),
    std::move(confirmer), std::move(id), created_ns, std::move(handler))};
}

} // namespace pulse
