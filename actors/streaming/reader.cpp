#include "pulse/actors/streaming/reader.hpp"

#include <memory>
#include <optional>

#include <caf/actor_system.hpp>
#include <caf/event_based_actor.hpp>

#include "pulse/actors/redis/gateway.hpp"
#include "pulse/actors/streaming/fanout.hpp"
#include "pulse/actors/streaming/filter.hpp"
#include "pulse/actors/streaming/poller.hpp"
#include "pulse/actors/streaming/read_reply.hpp"
#include "pulse/actors/redis/backoff.hpp"
#include "pulse/actors/redis/client.hpp"
#include "pulse/runtime/errors.hpp"
#include "pulse/runtime/log.hpp"
#include "pulse/runtime/names.hpp"
#include "pulse/actors/redis/services.hpp"
#include "pulse/actors/streaming/stream.hpp"

namespace pulse {

namespace {


struct reader_state {
  struct cursor {
    std::string name;
    std::string key;
    /// Last ID read; "$" until resolved.
    std::string id;
  };

  reader_state(caf::event_based_actor* self, reader_options opts,
               topic_filter filter, gateway_actor shared,
               gateway_actor blocking, caf::timespan command_timeout)
    : self(self),
      opts(std::move(opts)),
      filter(std::move(filter)),
      shared(std::move(shared)),
      blocking(std::move(blocking)),
      out(self, this->opts.buffer_size, "reader",
          this->opts.slow_subscriber),
      reads(self, this->blocking, command_timeout) {
    // nop
  }

  caf::event_based_actor* self;
  reader_options opts;
  topic_filter filter;
  gateway_actor shared;
  gateway_actor blocking;
  detail::fanout out;
  detail::stream_poller<rd_poll_atom> reads;
  std::vector<cursor> streams;
  stream_stats stats;
  size_t resolving = 0;

  bool add(const std::string& name, std::string start) {
    auto key = stream_key(name);
    for (auto& c : streams)
      if (c.key == key)
        return false;
    if (start.empty())
      start = opts.start;
    streams.push_back(cursor{name, key, start});
    if (start == "$")
      resolve(key);
    restart_read();
    return true;
  }

  bool remove(const std::string& name) {
    auto key = stream_key(name);
    for (auto i = streams.begin(); i != streams.end(); ++i)
      if (i->key == key) {
        streams.erase(i);
        restart_read();
        return true;
      }
    return false;
  }

  // Resolves "$" to the stream's last ID now (an empty or missing stream
  // starts at 0-0), so entries added before the first poll are not missed.
  void resolve(const std::string& key) {
    ++resolving;
    self
      ->request(shared, caf::infinite, cmd_atom::value,
                make_command("XREVRANGE", key, "+", "-", "COUNT", "1"))
      .then(
        [this, key](const resp::value& v) {
          --resolving;
          auto last = std::string{"0-0"};
          if (v.is_array() && !v.elements.empty()
              && v.elements[0].is_array() && !v.elements[0].elements.empty())
            last = v.elements[0].elements[0].str;
          for (auto& c : streams)
            if (c.key == key && c.id == "$")
              c.id = last;
          poll();
        },
        [this, key](caf::error& err) {
          --resolving;
          ++stats.errors;
          log::warn("reader cannot resolve $ stream={} error=\"{}\"", key,
                    err);
          schedule_retry();
        });
  }

  void restart_read() {
    reads.restart([this] { poll(); }); // re-issued with new streams
  }

  void schedule_retry() {
    reads.retry_later();
  }

  void poll() {
    if (reads.busy() || out.busy() || out.empty() || streams.empty())
      return;
    for (auto& c : streams)
      if (c.id == "$") {
        if (resolving == 0)
          resolve(c.key);
        return;
      }
    command cmd;
    cmd.args = {"XREAD"};
    reads.count_and_block(cmd.args, opts.max_polled, opts.block);
    cmd.args.emplace_back("STREAMS");
    for (auto& c : streams)
      cmd.args.push_back(c.key);
    for (auto& c : streams)
      cmd.args.push_back(c.id);
    reads.read(
      std::move(cmd), opts.block, [this](resp::value& v) { on_read(v); },
      [this](caf::error& err) { on_error(err); });
  }

  void on_read(resp::value& v) {
    ++stats.polls;
    std::vector<event> events;
    detail::for_each_entry(v, [&](const std::string& key, resp::value& entry) {
      cursor* c = nullptr;
      for (auto& s : streams)
        if (s.key == key)
          c = &s;
      if (c == nullptr)
        return; // removed meanwhile
      if (entry.is_array() && !entry.elements.empty())
        c->id = entry.elements[0].str; // advance even if skipped
      auto ev = parse_entry(entry, c->name);
      if (!ev) {
        ++stats.malformed;
        log::warn("reader skips malformed entry stream={} error=\"{}\"",
                  c->name, ev.error());
        return;
      }
      if (!filter.passes(*ev)) {
        ++stats.filtered;
        return;
      }
      events.push_back(std::move(*ev));
    });
    stats.delivered += events.size();
    if (events.empty()) {
      poll();
      return;
    }
    out.deliver(std::move(events), [this] { poll(); });
  }

  void on_error(const caf::error& err) {
    if (code_of(err) == errc::canceled) {
      poll();
      return;
    }
    ++stats.errors;
    log::warn("reader read failed error=\"{}\"", err);
    schedule_retry();
  }
};

caf::behavior reader_impl(caf::event_based_actor* self,
                          std::vector<std::string> streams,
                          reader_options opts,
                          topic_filter filter,
                          gateway_actor shared, gateway_actor blocking,
                          caf::timespan command_timeout) {
  auto st = std::make_shared<reader_state>(self, std::move(opts),
                                           std::move(filter), shared,
                                           blocking, command_timeout);
  self->set_down_handler(
    [st](const caf::down_msg& msg) { st->out.on_down(msg.source); });
  self->set_exit_handler([self, st](const caf::exit_msg& msg) {
    self->send_exit(st->blocking, caf::exit_reason::user_shutdown);
    self->quit(msg.reason);
  });
  for (auto& name : streams)
    st->add(name, {});
  return {
    [st](fanout_check_atom) { st->out.check(); },
    [st](sub_atom, const event_subscriber_actor& who) {
      auto added = st->out.add(caf::actor_cast<caf::actor>(who));
      st->poll();
      return added;
    },
    [st](unsub_atom, const event_subscriber_actor& who) {
      return st->out.remove(caf::actor_cast<caf::actor>(who));
    },
    [st](add_stream_atom, const std::string& name, const std::string& start) {
      return st->add(name, start);
    },
    [st](rm_stream_atom, const std::string& name) {
      return st->remove(name);
    },
    [st](stats_atom) {
      auto result = st->stats;
      result.subscribers = st->out.size();
      return result;
    },
    [st](rd_poll_atom) {
      st->reads.retry_due();
      st->poll();
    },
  };
}

} // namespace

caf::error check_stream_types(services& rt,
                               const std::vector<std::string>& streams) {
  std::vector<command> cmds;
  for (auto& name : streams)
    cmds.push_back(make_command("TYPE", stream_key(name)));
  client c{rt.system(), rt.gateway()};
  auto types = c.batch(std::move(cmds));
  if (!types)
    return caf::none; // Redis unreachable: the reader retries its reads
  for (size_t i = 0; i < streams.size() && i < types->size(); ++i) {
    auto& t = (*types)[i].str;
    if (t != "none" && t != "stream")
      return make_error(errc::redis_error,
                        "WRONGTYPE pulse reader: key " + stream_key(streams[i])
                          + " holds a " + t + ", not a stream");
  }
  return caf::none;
}

caf::expected<reader_actor> spawn_reader(services& rt,
                                         std::vector<std::string> streams) {
  return spawn_reader(rt, std::move(streams),
                      reader_options::from(rt.opts().streaming));
}

caf::expected<reader_actor> spawn_reader(services& rt,
                                         std::vector<std::string> streams,
                                         reader_options opts) {
  if (streams.empty())
    return make_error(errc::invalid_argument,
                      "pulse reader: at least one stream is required");
  for (auto& name : streams)
    if (auto err = validate_name(name, "pulse stream"))
      return err;
  auto filter = topic_filter::make(opts);
  if (!filter)
    return filter.error();
  if (auto err = check_stream_types(rt, streams))
    return err;
  auto blocking = rt.spawn_gateway(gateway_role::blocking);
  auto streams_copy = streams;
  auto hdl = rt.system().spawn(reader_impl, std::move(streams),
                               std::move(opts), std::move(*filter),
                               rt.gateway(), blocking,
                               rt.redis().command_timeout);
  rt.track(hdl);
  rt.announce(metrics_source{metrics_kind::reader, {}, std::move(streams_copy),
                             hdl.address()});
  return caf::actor_cast<reader_actor>(hdl);
}

} // namespace pulse
