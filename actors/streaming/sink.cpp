#include "pulse/actors/streaming/sink.hpp"

#include <memory>

#include <caf/actor_system.hpp>
#include <caf/blocking_actor.hpp>
#include <caf/event_based_actor.hpp>

#include "pulse/actors/redis/gateway.hpp"
#include "pulse/actors/redis/services.hpp"
#include "pulse/actors/streaming/dead_letters.hpp"
#include "pulse/actors/streaming/janitor.hpp"
#include "pulse/actors/streaming/sink_state.hpp"
#include "pulse/actors/streaming/stream.hpp"
#include "pulse/actors/streaming/trim.hpp"
#include "pulse/runtime/errors.hpp"
#include "pulse/runtime/names.hpp"

namespace pulse {

namespace sink_detail {

sink_state::sink_state(caf::event_based_actor* self, sink_config cfg,
                       std::vector<std::string> names, gateway_actor shared_gw,
                       gateway_actor blocking, caf::timespan command_timeout)
  : self(self),
    cfg(std::move(cfg)),
    shared_gw(std::move(shared_gw)),
    blocking(std::move(blocking)),
    out(self, this->cfg.opts.buffer_size, "sink " + this->cfg.name,
        this->cfg.opts.slow_subscriber),
    reads(self, this->blocking, command_timeout),
    shared(std::make_shared<sink_shared>()) {
  for (auto& kv : this->cfg.trimmed_at_start)
    shared->trimmed += kv.second;
  for (auto& n : names)
    streams.push_back(n);
}

} // namespace sink_detail

namespace {

using namespace sink_detail;

caf::behavior sink_impl(caf::event_based_actor* self, sink_config cfg,
                        std::vector<std::string> streams,
                        gateway_actor shared_gw, gateway_actor blocking,
                        caf::timespan command_timeout) {
  auto st = std::make_shared<sink_state>(self, std::move(cfg), streams,
                                         shared_gw, blocking, command_timeout);
  st->janitor_hdl = spawn_janitor(self->system(),
                                  caf::actor_cast<caf::actor>(self),
                                  shared_gw, st->cfg, st->shared, streams);
  self->set_down_handler([st](const caf::down_msg& msg) {
    st->out.on_down(msg.source);
    st->shared->subscribers = st->out.size();
  });
  self->set_exit_handler([self, st](const caf::exit_msg& msg) {
    st->release_janitor();
    st->flush_acks();
    self->send(st->janitor_hdl, jn_stop_atom::value);
    self->send_exit(st->blocking, caf::exit_reason::user_shutdown);
    self->quit(msg.reason);
  });
  st->keepalive();
  return {
    [st](fanout_check_atom) { st->out.check(); },
    [st](sub_atom, const event_subscriber_actor& who) {
      auto added = st->out.add(caf::actor_cast<caf::actor>(who));
      st->shared->subscribers = st->out.size();
      st->poll();
      return added;
    },
    [st](unsub_atom, const event_subscriber_actor& who) {
      auto removed = st->out.remove(caf::actor_cast<caf::actor>(who));
      st->shared->subscribers = st->out.size();
      return removed;
    },
    [self, st](add_stream_atom, const std::string& name,
               const std::string& start) {
      auto rp = self->make_response_promise();
      if (auto err = validate_name(name, "pulse stream")) {
        rp.deliver(err);
        return;
      }
      st->add_stream(name, start, rp);
    },
    [st](rm_stream_atom, const std::string& name) {
      return st->remove_stream(name);
    },
    [st](ack_atom, const std::string& stream, const std::string& id) {
      st->ack(stream, id);
    },
    [st](ack_atom, const std::string& stream,
         const std::vector<std::string>& ids) {
      for (auto& id : ids)
        st->ack(stream, id);
    },
    [st](nack_atom, const std::string& stream, const std::string& id,
         std::string& err) {
      ++st->stats.nacked;
      auto& c = st->counts[stream];
      c.stream = stream;
      ++c.nacked;
      st->shared->nack(id, std::move(err));
    },
    [self, st](stats_atom) -> caf::result<stream_stats> {
      auto r = st->stats;
      r.subscribers = st->out.size();
      r.reclaimed = st->shared->reclaimed;
      r.dead_lettered = st->shared->dead_lettered;
      r.stale_consumers_removed = st->shared->stale_removed;
      r.trimmed = st->shared->trimmed;
      r.errors += st->shared->janitor_errors;
      if (st->streams.empty()) {
        r.lag = 0;
        return r;
      }
      // Pending and lag as Redis sees them now, per stream: XINFO GROUPS,
      // XLEN of the stream and of its dead-letter stream. Without an
      // answer the counters still go out (lag -1, no per-stream entries).
      std::vector<command> cmds;
      std::vector<std::string> names;
      for (auto& s : st->streams) {
        names.push_back(s);
        cmds.push_back(make_command("XINFO", "GROUPS", stream_key(s)));
        cmds.push_back(make_command("XLEN", stream_key(s)));
        cmds.push_back(make_command(
          "XLEN", dead_letters::key(st->cfg.dlq_name(s))));
      }
      auto rp = self->make_response_promise<stream_stats>();
      auto own = st->shared->stream_counts();
      self
        ->request(st->shared_gw, caf::infinite, batch_atom::value,
                  std::move(cmds))
        .then(
          [rp, r, names, counts = st->counts, own = std::move(own),
           group = st->cfg.name](
            std::vector<resp::value>& replies) mutable {
            int64_t lag = 0;
            for (size_t i = 0; i < names.size() && 3 * i + 2 < replies.size();
                 ++i) {
              auto b = parse_group_backlog(replies[3 * i], group);
              r.pending += b.pending;
              if (lag >= 0)
                lag = b.found && b.lag >= 0 ? lag + b.lag : -1;
              auto len = [&](const resp::value& v) -> int64_t {
                return v.is_error() ? -1 : v.as_integer().value_or(-1);
              };
              auto c = counts[names[i]];
              c.stream = names[i];
              c.pending = b.pending;
              c.lag = b.found ? b.lag : -1;
              c.entries_read = b.found ? b.entries_read : -1;
              c.length = len(replies[3 * i + 1]);
              c.dead_letters = len(replies[3 * i + 2]);
              if (auto o = own.find(names[i]); o != own.end()) {
                c.reclaimed = o->second.first;
                c.dead_lettered = o->second.second;
              }
              r.per_stream.push_back(std::move(c));
            }
            r.lag = lag;
            rp.deliver(r);
          },
          [rp, r](caf::error&) mutable { rp.deliver(r); });
      return rp;
    },
    [self, st](sk_reclaim_atom, std::vector<event>& evs) {
      auto rp = self->make_response_promise();
      st->deliver(std::move(evs), rp);
    },
    [st](sk_poll_atom) {
      st->reads.retry_due();
      st->poll();
    },
    [self, st](dl_redrive_atom, const std::string& stream,
               dead_letter_selection& which,
               uint64_t max_len) -> caf::result<redrive_result> {
      return redrive_dead_letters(self, *st, stream, std::move(which),
                                  max_len);
    },
    [self, st](dl_purge_atom, const std::string& stream,
               dead_letter_selection& which) -> caf::result<uint64_t> {
      return purge_dead_letters(self, *st, stream, std::move(which));
    },
    [st](sk_flush_atom) { st->flush_acks(); },
    [st](sk_alive_atom) { st->keepalive(); },
  };
}

} // namespace

caf::expected<sink_actor> spawn_sink(services& rt, const std::string& name,
                                     std::vector<std::string> streams) {
  return spawn_sink(rt, name, std::move(streams),
                    sink_options::from(rt.opts().streaming));
}

caf::expected<sink_actor> spawn_sink(services& rt, const std::string& name,
                                     std::vector<std::string> streams,
                                     sink_options opts) {
  auto prepared = join_group(rt, name, streams, std::move(opts));
  if (!prepared)
    return prepared.error();
  auto cfg = std::move(*prepared);
  auto blocking = rt.spawn_gateway(gateway_role::blocking);
  auto streams_copy = streams;
  // On the scheduler's threads unless asked for a thread of its own
  // (`sink_options::detached`): it never blocks, and a thread per sink
  // would make threads grow with sinks.
  auto hdl = cfg.opts.detached
               ? rt.system().spawn<caf::detached>(sink_impl, std::move(cfg),
                                                  std::move(streams),
                                                  rt.gateway(), blocking,
                                                  rt.redis().command_timeout)
               : rt.system().spawn(sink_impl, std::move(cfg),
                                   std::move(streams), rt.gateway(), blocking,
                                   rt.redis().command_timeout);
  rt.track(hdl);
  rt.announce(metrics_source{metrics_kind::sink, name, streams_copy,
                             hdl.address()});
  return caf::actor_cast<sink_actor>(hdl);
}

} // namespace pulse
