#include "pulse/actors/streaming/janitor.hpp"

#include <algorithm>

#include <caf/blocking_actor.hpp>

#include "pulse/actors/rmap/ops.hpp"
#include "pulse/actors/rmap/scripts.hpp"
#include "pulse/actors/streaming/read_reply.hpp"
#include "pulse/actors/streaming/sink.hpp"
#include "pulse/actors/streaming/stream.hpp"
#include "pulse/actors/streaming/trim.hpp"
#include "pulse/runtime/errors.hpp"
#include "pulse/runtime/log.hpp"
#include "pulse/runtime/names.hpp"

namespace pulse::sink_detail {

/// A sink's janitor work (see `janitor.hpp`); its calls run on the janitor
/// host's thread.
struct janitor_work {
  /// The host thread running the current check (set for its duration).
  caf::blocking_actor* self = nullptr;
  caf::actor sink;
  gateway_actor gw;
  sink_config cfg;
  std::shared_ptr<sink_shared> shared;
  std::vector<std::string> streams;
  /// Trimmed-unread events already reported, per stream (the current gap).
  std::map<std::string, uint64_t> trim_known;
  /// Checks so far; every tenth one also looks for trimmed events.
  uint64_t checks = 0;

  // Looks for events trimmed before the group read them (a sink lagging
  // more than the stream's MAXLEN); counts and warns once per gap.
  void check_trimmed(const std::string& stream) {
    auto key = stream_key(stream);
    auto info = call(make_command("XINFO", "STREAM", key));
    auto groups = call(make_command("XINFO", "GROUPS", key));
    if (!info || !groups)
      return;
    std::vector<resp::value> replies{std::move(*info), std::move(*groups)};
    auto& known = trim_known[stream];
    if (!parse_trim_check(replies, cfg.name).lost) {
      known = 0; // caught up past any gap: a new one is new
      return;
    }
    auto delta = trim_watch::report(replies, cfg.name, stream, known);
    known += delta;
    shared->trimmed += delta;
  }

  caf::expected<resp::value> call(command cmd) {
    caf::expected<resp::value> result{resp::value{}};
    self->request(gw, caf::infinite, cmd_atom::value, std::move(cmd))
      .receive([&](resp::value& v) { result = std::move(v); },
               [&](caf::error& e) { result = std::move(e); });
    return result;
  }

  caf::expected<resp::value> eval(const script& s,
                                  std::vector<std::string> keys,
                                  std::vector<std::string> args) {
    caf::expected<resp::value> result{resp::value{}};
    self
      ->request(gw, caf::infinite, eval_atom::value, s, std::move(keys),
                std::move(args))
      .receive([&](resp::value& v) { result = std::move(v); },
               [&](caf::error& e) { result = std::move(e); });
    return result;
  }

  // Hands reclaimed events to the sink and waits until they were delivered
  // (back-pressure: the next check claims no more meanwhile).
  void deliver(const std::string& stream, std::vector<event> evs) {
    if (evs.empty())
      return;
    shared->count_reclaimed(stream, evs.size());
    // Bounded by one check interval (at most 10 s): the host runs every
    // sink's checks in turn, so a sink whose subscribers are slow holds
    // up the others' for no longer than that. Events it has not delivered
    // by then stay in its mailbox and are delivered later; if it died,
    // they are claimed again after the grace period.
    auto bound = std::min<caf::timespan>(std::chrono::seconds{10},
                                         cfg.opts.idle_check);
    self->request(sink, bound, sk_reclaim_atom::value, std::move(evs))
      .receive([](bool) {}, [](caf::error&) {});
  }

  void fail(const char* what, const caf::error& err) {
    ++shared->janitor_errors;
    log::warn("sink janitor {} failed sink={} error=\"{}\"", what, cfg.name,
              err);
  }

  // Parses claimed entries; malformed ones are dead-lettered and acked.
  std::vector<event> to_events(const std::string& stream,
                               std::vector<resp::value>& entries,
                               uint64_t deliveries) {
    std::vector<event> evs;
    auto key = stream_key(stream);
    for (auto& entry : entries) {
      if (entry.is_nil())
        continue;
      auto ev = parse_entry(entry, stream);
      if (!ev) {
        call(detail::dead_letter_command(entry, stream_key(cfg.dlq_name(stream)),
                                         stream, cfg.name, deliveries,
                                         render(ev.error())));
        if (entry.is_array() && !entry.elements.empty())
          call(make_command("XACK", key, cfg.name, entry.elements[0].str));
        shared->count_dead_lettered(stream, 1);
        continue;
      }
      ev->sink = cfg.name;
      ev->deliveries = deliveries;
      if (!cfg.filter.passes(*ev)) {
        call(make_command("XACK", key, cfg.name, ev->id));
        continue;
      }
      evs.push_back(std::move(*ev));
    }
    return evs;
  }

  void dead_letter(const std::string& stream) {
    auto key = stream_key(stream);
    auto pending = call(make_command(
      "XPENDING", key, cfg.name, "IDLE",
      std::to_string(ms_of(cfg.opts.ack_grace)), "-", "+", "100"));
    if (!pending) {
      fail("XPENDING", pending.error());
      return;
    }
    std::vector<std::string> poison;
    std::map<std::string, uint64_t> counts;
    for (auto& p : pending->elements)
      if (p.is_array() && p.elements.size() >= 4
          && static_cast<uint64_t>(p.elements[3].integer)
               >= cfg.opts.max_deliveries) {
        poison.push_back(p.elements[0].str);
        counts[p.elements[0].str] = p.elements[3].integer;
      }
    if (poison.empty())
      return;
    command claim;
    claim.args = {"XCLAIM", key, cfg.name, cfg.consumer, "0"};
    claim.args.insert(claim.args.end(), poison.begin(), poison.end());
    auto claimed = call(std::move(claim));
    if (!claimed) {
      fail("XCLAIM", claimed.error());
      return;
    }
    auto dlq = stream_key(cfg.dlq_name(stream));
    for (auto& entry : claimed->elements) {
      if (!entry.is_array() || entry.elements.empty())
        continue;
      auto& id = entry.elements[0].str;
      auto err = shared->error_of(id);
      if (err.empty())
        err = "not acked after " + std::to_string(counts[id]) + " deliveries";
      auto added = call(detail::dead_letter_command(entry, dlq, stream,
                                                    cfg.name, counts[id], err));
      if (!added || added->is_error())
        continue; // keep it pending; retried next round
      call(make_command("XACK", key, cfg.name, id));
      shared->forget(id);
      shared->count_dead_lettered(stream, 1);
      log::warn("sink dead-lettered event sink={} stream={} id={} "
                "deliveries={} error=\"{}\"",
                cfg.name, stream, id, counts[id], err);
    }
  }

  void reclaim(const std::string& stream) {
    auto key = stream_key(stream);
    std::string cursor = "0-0";
    for (int round = 0; round < 10; ++round) {
      auto res = call(make_command("XAUTOCLAIM", key, cfg.name, cfg.consumer,
                                   std::to_string(ms_of(cfg.opts.ack_grace)),
                                   cursor, "COUNT", "100"));
      if (!res) {
        fail("XAUTOCLAIM", res.error());
        return;
      }
      if (!res->is_array() || res->elements.size() < 2)
        return;
      cursor = res->elements[0].str;
      deliver(stream, to_events(stream, res->elements[1].elements, 2));
      if (cursor == "0-0")
        return;
    }
  }

  void sweep(const std::string& stream) {
    auto key = stream_key(stream);
    auto info = call(make_command("XINFO", "CONSUMERS", key, cfg.name));
    if (!info) {
      fail("XINFO CONSUMERS", info.error());
      return;
    }
    auto ka = call(make_command("HGETALL", rmap_scripts::content_key(
                                             cfg.keepalive_map())));
    if (!ka) {
      fail("HGETALL keep-alive", ka.error());
      return;
    }
    std::map<std::string, std::string> alive;
    for (size_t i = 0; i + 1 < ka->elements.size(); i += 2)
      alive[ka->elements[i].str] = ka->elements[i + 1].str;
    auto now = unix_ns();
    auto stale_after = std::chrono::duration_cast<std::chrono::nanoseconds>(
                         2 * cfg.opts.ack_grace)
                         .count();
    for (auto& c : info->elements) {
      std::string name;
      int64_t pending = 0;
      for (size_t i = 0; i + 1 < c.elements.size(); i += 2) {
        if (c.elements[i].str == "name")
          name = c.elements[i + 1].str;
        else if (c.elements[i].str == "pending")
          pending = c.elements[i + 1].integer;
      }
      if (name.empty() || name == cfg.consumer)
        continue;
      auto i = alive.find(name);
      if (i != alive.end()) {
        auto ns = resp::value::make_bulk(i->second).as_integer();
        if (!ns) {
          log::warn("sink unparseable keep-alive sink={} consumer={} "
                    "value=\"{}\"",
                    cfg.name, name, i->second);
          continue;
        }
        if (now - *ns <= stale_after)
          continue;
      }
      // Stale: claim whatever it still holds (young entries too), then
      // delete it once its PEL is empty.
      if (pending > 0) {
        auto ids = call(make_command("XPENDING", key, cfg.name, "-", "+",
                                     "100", name));
        if (!ids || ids->elements.empty())
          continue;
        command claim;
        claim.args = {"XCLAIM", key, cfg.name, cfg.consumer, "0"};
        for (auto& p : ids->elements)
          if (p.is_array() && !p.elements.empty())
            claim.args.push_back(p.elements[0].str);
        auto claimed = call(std::move(claim));
        if (!claimed) {
          fail("XCLAIM", claimed.error());
          continue;
        }
        deliver(stream, to_events(stream, claimed->elements, 2));
        if (static_cast<size_t>(pending) > ids->elements.size())
          continue; // more next round
      }
      call(make_command("XGROUP", "DELCONSUMER", key, cfg.name, name));
      eval(rmap_scripts::del(), rmap_ops::keys_of(cfg.keepalive_map()),
           {"", "0", name});
      eval(rmap_scripts::remove(), rmap_ops::keys_of("stream:" + stream + ":sinks"),
           {"", "0", cfg.name, name});
      ++shared->stale_removed;
      log::info("sink removed stale consumer sink={} stream={} consumer={}",
                cfg.name, stream, name);
    }
  }

  void check() {
    if (shared->subscribers == 0)
      return;
    auto now = unix_ms();
    auto lease = eval(sink_lease_script(), {"sink:" + cfg.name + ":stalelease"},
                      {std::to_string(now + 495), std::to_string(now), "495"});
    if (!lease) {
      fail("lease", lease.error());
      return;
    }
    if (lease->integer != 1)
      return;
    bool trim_check = ++checks % 10 == 0;
    for (auto& s : streams) {
      if (cfg.opts.max_deliveries > 0 && !cfg.opts.no_ack)
        dead_letter(s);
      reclaim(s);
      sweep(s);
      if (trim_check)
        check_trimmed(s);
    }
  }
};

} // namespace pulse::sink_detail

namespace pulse {

/// One sink instance's janitor: its work and the state kept between checks.
struct janitor_job {
  sink_detail::janitor_work work;
};

} // namespace pulse

namespace pulse::sink_detail {

janitor_job_ptr make_janitor_job(caf::actor sink, gateway_actor gw,
                                 sink_config cfg,
                                 std::shared_ptr<sink_shared> shared) {
  auto job = std::make_shared<janitor_job>();
  auto& j = job->work;
  j.sink = std::move(sink);
  j.gw = std::move(gw);
  j.trim_known = cfg.trimmed_at_start;
  j.cfg = std::move(cfg);
  j.shared = std::move(shared);
  return job;
}

bool janitor_due(const janitor_job& job) {
  return job.work.shared->subscribers > 0;
}

caf::timespan janitor_interval(const janitor_job& job) {
  return job.work.cfg.opts.idle_check;
}

void run_janitor_check(caf::blocking_actor* self, janitor_job& job,
                       std::vector<std::string> streams) {
  auto& j = job.work;
  j.self = self;
  j.streams = std::move(streams);
  j.check();
  j.self = nullptr;
}

} // namespace pulse::sink_detail
