#include "pulse/runtime/runtime_actor.hpp"

#include <memory>
#include <utility>

#include <caf/actor_system.hpp>
#include <caf/event_based_actor.hpp>

#include "pulse/actors/pool/node.hpp"
#include "pulse/actors/redis/resp.hpp"
#include "pulse/actors/rmap/replica.hpp"
#include "pulse/actors/streaming/reader.hpp"
#include "pulse/actors/streaming/sink.hpp"
#include "pulse/actors/streaming/stream.hpp"

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

auto do_spawn_reader(caf::event_based_actor* self, services* svc,
                              std::vector<std::string> streams,
                              reader_options opts) {
  return off_thread(self, *svc, [svc, streams, opts] {
    return spawn_reader(*svc, streams, opts);
  });
}

auto do_spawn_sink(caf::event_based_actor* self, services* svc,
                          std::string name, std::vector<std::string> streams,
                          sink_options opts) {
  return off_thread(self, *svc, [svc, name, streams, opts] {
    return spawn_sink(*svc, name, streams, opts);
  });
}

auto do_spawn_map(caf::event_based_actor* self, services* svc,
                            std::string name, map_options opts) {
  return off_thread(self, *svc, [svc, name, opts] {
    return join_replica(*svc, name, std::make_shared<rmap_store>(), opts);
  });
}

auto do_spawn_pool(caf::event_based_actor* self, services* svc,
                          std::string pool, pool_options opts) {
  return off_thread(self, *svc,
                    [svc, pool, opts]() -> caf::expected<pool_node_actor> {
                      auto node = spawn_pool_node(*svc, pool, opts);
                      if (!node)
                        return node.error();
                      return node->actor;
                    });
}

caf::response_promise
do_stream_add(caf::event_based_actor* self, services* svc,
              const std::string& name, const std::string& event,
              const std::string& payload, const std::string& topic,
              const stream_options& opts) {
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
}

// Every request exists with explicit options and without them; without,
// the configured section (`[pulse.streaming]`, `[pulse.pool]`) applies.
caf::behavior runtime_impl(caf::event_based_actor* self, services* svc) {
  return {
    [self, svc](spawn_reader_atom, std::vector<std::string> streams,
                reader_options opts) {
      return do_spawn_reader(self, svc, std::move(streams), opts);
    },
    [self, svc](spawn_reader_atom, std::vector<std::string> streams) {
      return do_spawn_reader(self, svc, std::move(streams),
                             reader_options::from(svc->opts().streaming));
    },
    [self, svc](spawn_sink_atom, std::string name,
                std::vector<std::string> streams, sink_options opts) {
      return do_spawn_sink(self, svc, std::move(name), std::move(streams),
                           opts);
    },
    [self, svc](spawn_sink_atom, std::string name,
                std::vector<std::string> streams) {
      return do_spawn_sink(self, svc, std::move(name), std::move(streams),
                           sink_options::from(svc->opts().streaming));
    },
    [self, svc](spawn_map_atom, std::string name, map_options opts) {
      return do_spawn_map(self, svc, std::move(name), opts);
    },
    [self, svc](spawn_map_atom, std::string name) {
      return do_spawn_map(self, svc, std::move(name),
                          map_options::from(svc->opts().rmap));
    },
    [self, svc](spawn_pool_atom, std::string pool, pool_options opts) {
      return do_spawn_pool(self, svc, std::move(pool), opts);
    },
    [self, svc](spawn_pool_atom, std::string pool) {
      return do_spawn_pool(self, svc, std::move(pool),
                           pool_options::from(svc->opts().pool));
    },
    [self, svc](stream_add_atom, const std::string& name,
                const std::string& event, const std::string& payload,
                const std::string& topic, const stream_options& opts) {
      return do_stream_add(self, svc, name, event, payload, topic, opts);
    },
    [self, svc](stream_add_atom, const std::string& name,
                const std::string& event, const std::string& payload,
                const std::string& topic) {
      return do_stream_add(self, svc, name, event, payload, topic,
                           stream_options::from(svc->opts().streaming));
    },
  };
}

} // namespace

runtime_actor spawn_runtime_actor(services& svc) {
  return caf::actor_cast<runtime_actor>(
    svc.system().spawn(runtime_impl, &svc));
}

} // namespace pulse
