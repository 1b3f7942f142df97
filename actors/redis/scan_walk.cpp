#include "pulse/actors/redis/scan_walk.hpp"

#include <algorithm>
#include <memory>

#include "pulse/runtime/errors.hpp"

namespace pulse::detail {

namespace {

/// One node's walk in progress.
struct scan_walk_state {
  scan_send_fn send;
  scan_query query;
  std::function<void(caf::expected<scan_result>)> done;
  scan_result result;
  std::string cursor = "0";
  uint32_t rounds = 0;
};

void scan_walk_step(std::shared_ptr<scan_walk_state> w) {
  auto cmd = scan_command(w->query, w->cursor);
  w->send(std::move(cmd), [w](caf::expected<resp::value> r) {
    if (!r) {
      w->done(std::move(r.error()));
      return;
    }
    auto next = parse_scan_reply(*r, w->result.keys);
    if (!next) {
      w->done(std::move(next.error()));
      return;
    }
    ++w->rounds;
    w->cursor = std::move(*next);
    if (w->cursor == "0") {
      w->result.complete = true;
      w->done(std::move(w->result));
      return;
    }
    if (w->query.max_rounds > 0 && w->rounds >= w->query.max_rounds) {
      w->result.complete = false;
      w->done(std::move(w->result));
      return;
    }
    scan_walk_step(w);
  });
}

} // namespace

command scan_command(const scan_query& q, const std::string& cursor) {
  auto cmd = make_command("SCAN", cursor, "MATCH", q.pattern, "COUNT",
                          std::to_string(q.count == 0 ? 1000 : q.count));
  if (!q.type.empty()) {
    cmd.args.emplace_back("TYPE");
    cmd.args.push_back(q.type);
  }
  return cmd;
}

caf::expected<std::string> parse_scan_reply(const resp::value& reply,
                                            std::vector<std::string>& keys) {
  if (reply.is_error())
    return make_error(errc::redis_error, reply.str);
  if (!reply.is_array() || reply.elements.size() != 2
      || !reply.elements[1].is_array())
    return make_error(errc::protocol_error,
                      "SCAN: unexpected reply " + reply.render());
  for (auto& k : reply.elements[1].elements)
    keys.push_back(k.str);
  return reply.elements[0].str;
}

void normalize(scan_result& x) {
  std::sort(x.keys.begin(), x.keys.end());
  x.keys.erase(std::unique(x.keys.begin(), x.keys.end()), x.keys.end());
}

void walk_scan(scan_send_fn send, scan_query q,
               std::function<void(caf::expected<scan_result>)> done) {
  auto w = std::make_shared<scan_walk_state>();
  w->send = std::move(send);
  w->query = std::move(q);
  w->done = std::move(done);
  scan_walk_step(std::move(w));
}

} // namespace pulse::detail
