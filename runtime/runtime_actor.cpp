#include "runtime/runtime_actor.hpp"

#include <memory>
#include <utility>

#include <caf/actor_system.hpp>
#include <caf/event_based_actor.hpp>

#include "actors/pool/node.hpp"
#include "actors/redis/resp.hpp"
#include "actors/rmap/replica.hpp"
#include "actors/streaming/reader.hpp"
#include "actors/streaming/sink.hpp"
#include "actors/streaming/stream.hpp"

namespace pulse {

namespace {


// Runs `f` (blocking Redis round trips) on a one-shot detached helper and
// returns the delegation of the current request to it: the helper answers
// the original requester with `f`'s result and quits.
template <class F>
auto off_thread(caf::event_based_actor* self, services& svc, F f) {
  using value_type = typename decltype(f())::value_type;
  auto helper = svc.system().spawn<caf::detached>(
    [f](caf::event_based_actor* h) -> caf::behavior {
      return {[h, f](rt_run_atom) -> caf::result<value_type> {
        h->quit();
        return f();
      }};
    });
  svc.track(helper);
  return self->delegate(helper, rt_run_atom::value);
}

caf::behavior runtime_impl(caf::event_based_actor* self, services* svc) {
  return {
    [self, svc](spawn_reader_atom, std::vector<std::string> streams,
                reader_options opts) {
      return off_thread(self, *svc, [svc, streams, opts] {
        return spawn_reader(*svc, streams, opts);
      });
    },
    [self, svc](spawn_sink_atom, std::string name,
                std::vector<std::string> streams, sink_options opts) {
      return off_thread(self, *svc, [svc, name, streams, opts] {
        return spawn_sink(*svc, name, streams, opts);
      });
    },
    [self, svc](spawn_map_atom, std::string name, map_options opts) {
      return off_thread(self, *svc, [svc, name, opts] {
        return join_replica(*svc, name, std::make_shared<rmap_store>(), opts);
      });
    },
    [self, svc](spawn_pool_atom, std::string pool, pool_options opts) {
      return off_thread(self, *svc, [svc, pool, opts]() -> caf::expected<
                                                     pool_node_actor> {
        auto node = spawn_pool_node(*svc, pool, opts);
        if (!node)
          return node.error();
        return node->actor;
      });
    },
    [self, svc](stream_add_atom, const std::string& name,
                const std::string& event, const std::string& payload,
                const std::string& topic, const stream_options& opts) {
      auto rp = self->make_response_promise();
      auto s = stream::make(name, opts);
      if (!s) {
        rp.deliver(std::move(s.error()));
        return rp;
      }
      self
        ->request(svc->gateway(), caf::infinite, batch_atom::value,
                  s->add_commands(event, payload, topic))
        .then(
          [rp](std::vector<resp::value>& replies) mutable {
            auto id = stream::parse_add(replies);
            if (id)
              rp.deliver(std::move(*id));
            else
              rp.deliver(std::move(id.error()));
          },
          [rp](caf::error& err) mutable { rp.deliver(std::move(err)); });
      return rp;
    },
  };
}

} // namespace

runtime_actor spawn_runtime_actor(services& svc) {
  return caf::actor_cast<runtime_actor>(
    svc.system().spawn(runtime_impl, &svc));
}

} // namespace pulse
