#include "pulse/actors/streaming/sink_state.hpp"

#include "pulse/actors/rmap/ops.hpp"
#include "pulse/actors/rmap/scripts.hpp"
#include "pulse/actors/streaming/stream.hpp"
#include "pulse/runtime/errors.hpp"
#include "pulse/runtime/log.hpp"

namespace pulse::sink_detail {

std::string sink_state::key_of(const std::string& stream) const {
  return stream_key(stream);
}

const std::string* sink_state::name_of_key(const std::string& key) const {
  for (auto& s : streams)
    if (stream_key(s) == key)
      return &s;
  return nullptr;
}

void sink_state::ack(const std::string& stream, const std::string& id) {
  if (cfg.opts.no_ack)
    return;
  acks[stream].push_back(id);
  shared->forget(id);
  if (!flush_scheduled) {
    flush_scheduled = true;
    self->send(self, sk_flush_atom::value);
  }
}

void sink_state::flush_acks() {
  flush_scheduled = false;
  if (acks.empty())
    return;
  std::vector<command> cmds;
  std::vector<std::string> names;
  for (auto& [stream, ids] : acks) {
    names.push_back(stream);
    command c;
    c.args.reserve(3 + ids.size());
    c.args = {"XACK", key_of(stream), cfg.name};
    c.args.insert(c.args.end(), ids.begin(), ids.end());
    cmds.push_back(std::move(c));
  }
  acks.clear();
  self->request(shared_gw, caf::infinite, batch_atom::value, std::move(cmds))
    .then(
      [this, names](const std::vector<resp::value>& rs) {
        for (size_t i = 0; i < rs.size(); ++i)
          if (rs[i].type == resp::kind::integer) {
            stats.acked += static_cast<uint64_t>(rs[i].integer);
            if (i < names.size()) {
              auto& c = counts[names[i]];
              c.stream = names[i];
              c.acked += static_cast<uint64_t>(rs[i].integer);
            }
          }
      },
      [this](caf::error& err) {
        ++stats.errors;
        // Unacked events are redelivered after the grace period.
        log::warn("sink XACK failed sink={} error=\"{}\"", cfg.name, err);
      });
}

void sink_state::keepalive() {
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

void sink_state::add_stream(const std::string& name, std::string start,
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

bool sink_state::remove_stream(const std::string& name) {
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

} // namespace pulse::sink_detail
