#include "pulse/actors/pool/worker.hpp"

#include <memory>
#include <mutex>
#include <thread>

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
            pool_core_ptr core, pool_intake_ptr intake, std::string id,
            int64_t created_ns, job_handler_ptr handler) {
  auto st = std::make_shared<worker_state>(self, *rt, std::move(core),
                                           std::move(intake), std::move(id),
                                           created_ns, std::move(handler));
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
  });
  {
    std::lock_guard<std::mutex> guard{st->mtx};
    st->poll();
  }
  using guard_t = std::lock_guard<std::mutex>;
  return {
    [st](rebalance_atom) {
      guard_t guard{st->mtx};
      if (!st->closed)
        st->rebalance();
    },
    [st](fence_atom) {
      guard_t guard{st->mtx};
      if (st->closed || st->running.empty())
        return;
      log::warn("pool worker lost its lease, stopping jobs worker={} jobs={}",
                st->id, st->running.size());
      st->stop_all_local();
    },
    [st](resume_atom) {
      guard_t guard{st->mtx};
      if (!st->closed)
        st->resume();
    },
    [st](rejoin_atom) {
      guard_t guard{st->mtx};
      if (!st->closed)
        st->rejoin();
    },
    [st](pw_retry_atom) {
      guard_t guard{st->mtx};
      st->retry_armed = false;
      if (st->closed)
        return;
      if (st->needs_resync && !st->resync()) {
        st->arm_retry();
        return;
      }
      st->resume();
      st->poll();
    },
    [st](pw_batch_atom, std::vector<resp::value>& entries) {
      guard_t guard{st->mtx};
      st->on_batch(entries);
    },
    [st](pw_lost_atom, const caf::error& err) {
      guard_t guard{st->mtx};
      st->on_lost(err);
    },
    [st](pw_timeout_atom, const std::string& key, uint64_t epoch) {
      guard_t guard{st->mtx};
      if (!st->closed)
        st->on_timeout(key, epoch);
    },
    [st](pw_requeue_atom) {
      guard_t guard{st->mtx};
      st->requeue_armed = false;
      if (st->closed)
        return;
      st->handoff.insert(st->handoff.end(), st->requeue.begin(),
                         st->requeue.end());
      st->requeue.clear();
      if (!st->flush_handoff())
        st->arm_retry();
    },
    [self, st](close_atom, bool shutdown) {
      {
        guard_t guard{st->mtx};
        if (!st->closed)
          st->close(shutdown);
      }
      self->quit();
      return true;
    },
  };
}

} // namespace

pool_worker_actor spawn_pool_worker(services& rt, pool_core_ptr core,
                                    pool_intake_ptr intake, std::string id,
                                    int64_t created_ns,
                                    job_handler_ptr handler) {
  return pool_worker_actor{rt.system().spawn<caf::detached>(
    worker_impl, &rt, std::move(core), std::move(intake), std::move(id),
    created_ns, std::move(handler))};
}

} // namespace pulse
