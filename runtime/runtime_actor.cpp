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
#include "pulse/actors/streaming/trim.hpp"

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

// An add under the producer's ID, kept for checking a refused ID.
struct stream_add {
  stream target;
  std::string id;
  std::string event;
  std::string payload;
  std::string topic;
};

// Null for adds under "*" (nothing to check: no copies on the hot path).
using stream_add_ptr = std::shared_ptr<const stream_add>;

template <class T>
void deliver(caf::response_promise& rp, caf::expected<T> x) {
  if (x)
    rp.deliver(std::move(*x));
  else
    rp.deliver(std::move(x.error()));
}

// Delivers the outcome of an add; an add under the producer's ID that Redis
// refused as not above the last entry is checked against the entry under
// that ID (`XRANGE key id id`): a retry that finds its own event succeeds.
void finish_add(caf::event_based_actor* self, services* svc,
                caf::response_promise rp, const stream_add_ptr& a,
                caf::expected<std::string> added) {
  if (added || !a || !stream::id_not_above_last(added.error())) {
    deliver(rp, std::move(added));
    return;
  }
  self
    ->request(svc->gateway(), caf::infinite, cmd_atom::value,
              make_command("XRANGE", a->target.key(), a->id, a->id))
    .then(
      [rp, a](const resp::value& range) mutable {
        deliver(rp, a->target.own_entry(range, a->id, a->event, a->payload,
                                        a->topic));
      },
      [rp](caf::error& err) mutable { rp.deliver(std::move(err)); });
}

// Adds one event under `id` ("*": Redis picks it) as `stream::add` and
// `stream::add_with_id` do, without blocking: a batch (`XADD`,
// `MULTI`/`EXEC` with a TTL) in `trim_mode::approximate`, one `EVALSHA` of
// `safe_add_script` in `trim_mode::safe`.
caf::response_promise
do_stream_add(caf::event_based_actor* self, services* svc,
              const std::string& name, const std::string& id,
              const std::string& event, const std::string& payload,
              const std::string& topic, const stream_options& opts) {
  auto rp = self->make_response_promise();
  auto s = stream::make(name, opts);
  if (!s) {
    rp.deliver(std::move(s.error()));
    return rp;
  }
  stream_add_ptr a;
  if (id != "*")
    a = std::make_shared<const stream_add>(
      stream_add{*s, id, event, payload, topic});
  auto on_error = [self, svc, rp, a](caf::error& err) {
    finish_add(self, svc, rp, a, std::move(err));
  };
  if (opts.trim == trim_mode::safe) {
    self
      ->request(svc->gateway(), caf::infinite, eval_atom::value,
                safe_add_script(), std::vector<std::string>{s->key()},
                s->script_add_args(id, event, payload, topic))
      .then(
        [self, svc, rp, a](const resp::value& reply) {
          finish_add(self, svc, rp, a, stream::parse_add_reply(reply));
        },
        on_error);
    return rp;
  }
  self
    ->request(svc->gateway(), caf::infinite, batch_atom::value,
              s->add_commands_with_id(id, event, payload, topic))
    .then(
      [self, svc, rp, a](const std::vector<resp::value>& replies) {
        finish_add(self, svc, rp, a, stream::parse_add(replies));
      },
      on_error);
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
      return do_stream_add(self, svc, name, "*", event, payload, topic,
                           opts);
    },
    [self, svc](stream_add_atom, const std::string& name,
                const std::string& event, const std::string& payload,
                const std::string& topic) {
      return do_stream_add(self, svc, name, "*", event, payload, topic,
                           stream_options::from(svc->opts().streaming));
    },
    [self, svc](stream_add_id_atom, const std::string& name,
                const std::string& id, const std::string& event,
                const std::string& payload, const std::string& topic,
                const stream_options& opts) {
      return do_stream_add(self, svc, name, id, event, payload, topic, opts);
    },
    [self, svc](stream_add_id_atom, const std::string& name,
                const std::string& id, const std::string& event,
                const std::string& payload, const std::string& topic) {
      return do_stream_add(self, svc, name, id, event, payload, topic,
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
