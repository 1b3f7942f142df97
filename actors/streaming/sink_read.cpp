#include "pulse/actors/streaming/sink_state.hpp"

#include "pulse/actors/streaming/read_reply.hpp"
#include "pulse/actors/streaming/stream.hpp"
#include "pulse/runtime/errors.hpp"
#include "pulse/runtime/log.hpp"

namespace pulse::sink_detail {

void sink_state::release_janitor() {
  if (current.pending())
    current.deliver(false);
  current = caf::response_promise{};
  for (auto& entry : backlog)
    if (entry.second.pending())
      entry.second.deliver(false);
  backlog.clear();
}

void sink_state::count_delivered(const std::vector<event>& evs, bool add) {
  // A batch holds runs of one stream each (one per stream of the reply).
  sink_stream_stats* c = nullptr;
  for (auto& ev : evs) {
    if (c == nullptr || c->stream != ev.stream) {
      c = &counts[ev.stream];
      c->stream = ev.stream;
    }
    if (add)
      ++c->delivered;
    else
      --c->delivered;
  }
}

void sink_state::deliver(std::vector<event> evs, caf::response_promise rp) {
  stats.delivered += evs.size();
  count_delivered(evs, true);
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
      count_delivered(next.first, false);
      deliver(std::move(next.first), std::move(next.second));
      return;
    }
    poll();
  });
}

void sink_state::poll() {
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

void sink_state::on_read(resp::value& v) {
  ++stats.polls;
  std::vector<event> evs;
  std::vector<command> dead;
  std::map<std::string, uint64_t> dead_by_stream;
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
      ++dead_by_stream[*name];
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
    for (auto& [stream, n] : dead_by_stream)
      shared->count_dead_lettered(stream, n);
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

void sink_state::on_error(const caf::error& err) {
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

void sink_state::schedule_retry() {
  reads.retry_later();
}

void sink_state::rejoin() {
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

void sink_state::schedule_retry_rejoin() {
  // The next read fails with NOGROUP again and re-runs rejoin.
  schedule_retry();
}

void sink_state::restart_read() {
  reads.restart([this] { poll(); });
}

} // namespace pulse::sink_detail
