#include "pulse/actors/streaming/sink.hpp"

#include <atomic>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <unordered_map>

#include <caf/actor_system.hpp>
#include <caf/blocking_actor.hpp>
#include <caf/event_based_actor.hpp>

#include "pulse/actors/redis/gateway.hpp"
#include "pulse/actors/streaming/fanout.hpp"
#include "pulse/actors/streaming/janitor.hpp"
#include "pulse/actors/streaming/poller.hpp"
#include "pulse/actors/streaming/sink_group.hpp"
#include "pulse/actors/streaming/read_reply.hpp"
#include "pulse/actors/redis/backoff.hpp"
#include "pulse/runtime/errors.hpp"
#include "pulse/runtime/log.hpp"
#include "pulse/runtime/names.hpp"
#include "pulse/actors/rmap/ops.hpp"
#include "pulse/actors/rmap/scripts.hpp"
#include "pulse/actors/redis/services.hpp"
#include "pulse/actors/streaming/stream.hpp"

namespace pulse {

namespace {

using namespace sink_detail;

// -- the sink actor -----------------------------------------------------------

struct sink_state {
  sink_state(caf::event_based_actor* self, sink_config cfg,
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

  caf::event_based_actor* self;
  sink_config cfg;
  gateway_actor shared_gw;
  gateway_actor blocking;
  detail::fanout out;
  detail::stream_poller<sk_poll_atom> reads;
  std::shared_ptr<sink_shared> shared;
  janitor_actor janitor_hdl;
  std::vector<std::string> streams;
  /// Reclaimed or read events waiting for the fanout, with their reply.
  std::deque<std::pair<std::vector<event>, caf::response_promise>> backlog;
  /// The reply owed for the batch being delivered (reclaimed events).
  caf::response_promise current;

  /// Answers every reclaim request still waiting (the janitor blocks on
  /// them) before the actor goes away.
  void release_janitor() {
    if (current.pending())
      current.deliver(false);
    current = caf::response_promise{};
    for (auto& entry : backlog)
      if (entry.second.pending())
        entry.second.deliver(false);
    backlog.clear();
  }

  std::map<std::string, std::vector<std::string>> acks;
  stream_stats stats;
  bool flush_scheduled = false;
  bool rejoining = false;

  std::string key_of(const std::string& stream) const {
    return stream_key(stream);
  }

  const std::string* name_of_key(const std::string& key) const {
    for (auto& s : streams)
      if (stream_key(s) == key)
        return &s;
    return nullptr;
  }

  void ack(const std::string& stream, const std::string& id) {
    if (cfg.opts.no_ack)
      return;
    acks[stream].push_back(id);
    shared->forget(id);
    if (!flush_scheduled) {
      flush_scheduled = true;
      self->send(self, sk_flush_atom::value);
    }
  }

  // One XACK per stream for everything acked since the last flush.
  void flush_acks() {
    flush_scheduled = false;
    if (acks.empty())
      return;
    std::vector<command> cmds;
    for (auto& [stream, ids] : acks) {
      command c;
      c.args.reserve(3 + ids.size());
      c.args = {"XACK", key_of(stream), cfg.name};
      c.args.insert(c.args.end(), ids.begin(), ids.end());
      cmds.push_back(std::move(c));
    }
    acks.clear();
    self->request(shared_gw, caf::infinite, batch_atom::value, std::move(cmds))
      .then(
        [this](const std::vector<resp::value>& rs) {
          for (auto& r : rs)
            if (r.type == resp::kind::integer)
              stats.acked += static_cast<uint64_t>(r.integer);
        },
        [this](caf::error& err) {
          ++stats.errors;
          // Unacked events are redelivered after the grace period.
          log::warn("sink XACK failed sink={} error=\"{}\"", cfg.name, err);
        });
  }

  void keepalive() {
    self->delayed_send(self, cfg.opts.ack_grace / 2, sk_alive_atom::value);
    std::vector<command> cmds{keepalive_command(cfg)};
    // Re-assert membership too: a no-op (no publish) while present, and a
    // repair after another instance removed us during an outage.
    for (auto& s : streams)
      cmds.push_back(eval_command(rmap_scripts::append_unique(),
                                  rmap_ops::keys_of("stream:" + s + ":sinks"),
                                  {"", "0", cfg.name, cfg.consumer}));
    self->request(shared_gw, caf::infinite, batch_atom::value, std::move(cmds))
      .then([](const std::vector<resp::value>&) {},
            [this](caf::error& err) {
              ++stats.errors;
              log::warn("sink keep-alive failed sink={} error=\"{}\"",
                        cfg.name, err);
            });
  }

  void schedule_retry() {
    reads.retry_later();
  }

  void deliver(std::vector<event> evs, caf::response_promise rp) {
    stats.delivered += evs.size();
    if (out.busy()) {
      backlog.emplace_back(std::move(evs), std::move(rp));
      return;
    }
    current = rp;
    out.deliver(std::move(evs), [this, rp]() mutable {
      shared->subscribers = out.size();
      current = caf::response_promise{};
      if (rp.pending())
        rp.deliver(true);
      if (!backlog.empty()) {
        auto next = std::move(backlog.front());
        backlog.pop_front();
        stats.delivered -= next.first.size(); // counted on arrival
        deliver(std::move(next.first), std::move(next.second));
        return;
      }
      poll();
    });
  }

  // Reads ahead while a batch is being delivered: at most one read in
  // flight and one batch waiting, so memory stays bounded (three batches).
  void poll() {
    if (reads.busy() || !backlog.empty() || rejoining || out.empty()
        || streams.empty())
      return;
    command cmd;
    cmd.args = {"XREADGROUP", "GROUP", cfg.name, cfg.consumer};
    reads.count_and_block(cmd.args, cfg.opts.max_polled, cfg.opts.block);
    if (cfg.opts.no_ack)
      cmd.args.emplace_back("NOACK");
    cmd.args.emplace_back("STREAMS");
    for (auto& s : streams)
      cmd.args.push_back(key_of(s));
    for (size_t i = 0; i < streams.size(); ++i)
      cmd.args.emplace_back(">");
    reads.read(
      std::move(cmd), cfg.opts.block, [this](resp::value& v) { on_read(v); },
      [this](caf::error& err) { on_error(err); });
  }

  void on_read(resp::value& v) {
    ++stats.polls;
    std::vector<event> evs;
    std::vector<command> dead;
    detail::for_each_entry(v, [&](const std::string& key,
                                  resp::value& entry) {
      auto name = name_of_key(key);
      if (name == nullptr || entry.is_nil())
        return;
      auto ev = parse_entry(entry, *name);
      if (!ev) {
        ++stats.malformed;
        log::warn("sink dead-letters malformed entry sink={} stream={} "
                  "error=\"{}\"",
                  cfg.name, *name, ev.error());
        dead.push_back(detail::dead_letter_command(
          entry, stream_key(cfg.dlq_name(*name)), *name, cfg.name, 1,
          render(ev.error())));
        if (entry.is_array() && !entry.elements.empty())
          ack(*name, entry.elements[0].str);
        return;
      }
      if (!cfg.filter.passes(*ev)) {
        ++stats.filtered;
        ack(*name, ev->id);
        return;
      }
      ev->sink = cfg.name;
      evs.push_back(std::move(*ev));
    });
    if (!dead.empty()) {
      shared->dead_lettered += dead.size();
      self->request(shared_gw, caf::infinite, batch_atom::value, std::move(dead))
        .then([](const std::vector<resp::value>&) {},
              [this](caf::error& err) {
                ++stats.errors;
                log::warn("sink dead-letter write failed sink={} error=\"{}\"",
                          cfg.name, err);
              });
    }
    if (!evs.empty())
      deliver(std::move(evs), caf::response_promise{});
    poll();
  }

  void on_error(const caf::error& err) {
    if (code_of(err) == errc::canceled) {
      poll();
      return;
    }
    ++stats.errors;
    if (render(err).find("NOGROUP") != std::string::npos) {
      // The group or the stream was deleted: create it again from 0.
      log::warn("sink group missing, re-creating sink={} error=\"{}\"",
                cfg.name, err);
      rejoin();
      return;
    }
    log::warn("sink read failed sink={} error=\"{}\"", cfg.name, err);
    schedule_retry();
  }

  void rejoin() {
    rejoining = true;
    std::vector<command> cmds;
    for (auto& s : streams)
      for (auto& c : join_commands(cfg, s, "0"))
        cmds.push_back(std::move(c));
    self->request(shared_gw, caf::infinite, batch_atom::value, std::move(cmds))
      .then(
        [this](const std::vector<resp::value>& rs) {
          rejoining = false;
          if (auto err = check_join(rs)) {
            log::warn("sink re-create failed sink={} error=\"{}\"", cfg.name,
                      err);
            schedule_retry_rejoin();
            return;
          }
          poll();
        },
        [this](caf::error& err) {
          rejoining = false;
          log::warn("sink re-create failed sink={} error=\"{}\"", cfg.name,
                    err);
          schedule_retry_rejoin();
        });
  }

  void schedule_retry_rejoin() {
    // The next read fails with NOGROUP again and re-runs rejoin.
    schedule_retry();
  }

  void add_stream(const std::string& name, std::string start,
                  caf::response_promise rp) {
    for (auto& s : streams)
      if (s == name) {
        rp.deliver(false);
        return;
      }
    if (start.empty())
      start = cfg.opts.start;
    self
      ->request(shared_gw, caf::infinite, batch_atom::value,
                join_commands(cfg, name, start))
      .then(
        [this, name, rp](const std::vector<resp::value>& rs) mutable {
          if (auto err = check_join(rs)) {
            rp.deliver(err);
            return;
          }
          streams.push_back(name);
          self->send(janitor_hdl, jn_streams_atom::value, streams);
          restart_read();
          rp.deliver(true);
        },
        [rp](caf::error& err) mutable { rp.deliver(err); });
  }

  bool remove_stream(const std::string& name) {
    for (auto i = streams.begin(); i != streams.end(); ++i)
      if (*i == name) {
        streams.erase(i);
        self->send(janitor_hdl, jn_streams_atom::value, streams);
        // Leave the membership list; the last member leaving destroys the
        // group (as Go Pulse does).
        auto sinks = "stream:" + name + ":sinks";
        self
          ->request(shared_gw, caf::infinite, eval_atom::value,
                    rmap_scripts::remove(), rmap_ops::keys_of(sinks),
                    std::vector<std::string>{"", "0", cfg.name, cfg.consumer})
          .then(
            [this, name](const resp::value& v) {
              // ["", 1]: the list became empty.
              if (v.is_array() && v.elements.size() == 2
                  && v.elements[1].integer == 1 && v.elements[0].str.empty())
                self->send(shared_gw, cmd_atom::value,
                           make_command("XGROUP", "DESTROY", key_of(name),
                                        cfg.name));
            },
            [](caf::error&) {});
        restart_read();
        return true;
      }
    return false;
  }

  void restart_read() {
    reads.restart([this] { poll(); });
  }
};

caf::behavior sink_impl(caf::event_based_actor* self, sink_config cfg,
                        std::vector<std::string> streams,
                        gateway_actor shared_gw, gateway_actor blocking,
                        caf::timespan command_timeout) {
  auto st = std::make_shared<sink_state>(self, std::move(cfg), streams,
                                         shared_gw, blocking, command_timeout);
  st->janitor_hdl = caf::actor_cast<janitor_actor>(
    self->system().spawn<caf::detached>(janitor_loop,
                                        caf::actor_cast<caf::actor>(self),
                                        shared_gw, st->cfg, st->shared,
                                        streams));
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
    [st](nack_atom, const std::string&, const std::string& id,
         std::string& err) { st->shared->nack(id, std::move(err)); },
    [st](stats_atom) {
      auto r = st->stats;
      r.subscribers = st->out.size();
      r.reclaimed = st->shared->reclaimed;
      r.dead_lettered = st->shared->dead_lettered;
      r.stale_consumers_removed = st->shared->stale_removed;
      r.trimmed = st->shared->trimmed;
      r.errors += st->shared->janitor_errors;
      return r;
    },
    [self, st](sk_reclaim_atom, std::vector<event>& evs) {
      auto rp = self->make_response_promise();
      st->deliver(std::move(evs), rp);
    },
    [st](sk_poll_atom) {
      st->reads.retry_due();
      st->poll();
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
  // Detached: its own thread wakes on a condition variable when a read
  // returns, which keeps add->delivery latency off the scheduler's idle
  // back-off.
  auto hdl = rt.system().spawn<caf::detached>(sink_impl, std::move(cfg),
                                              std::move(streams),
                               rt.gateway(), blocking,
                               rt.redis().command_timeout);
  rt.track(hdl);
  return caf::actor_cast<sink_actor>(hdl);
}

} // namespace pulse
