#include "pulse/runtime/dashboard.hpp"

#include <algorithm>
#include <sstream>

#include "pulse/actors/redis/client.hpp"
#include "pulse/actors/streaming/dead_letters.hpp"
#include "pulse/runtime/errors.hpp"
#include "pulse/runtime/log.hpp"
#include "pulse/runtime/metrics.hpp"
#include "pulse/runtime/runtime.hpp"

namespace pulse {

namespace {

std::vector<std::string> split(const std::string& xs) {
  std::vector<std::string> out;
  std::stringstream in{xs};
  for (std::string x; std::getline(in, x, ',');)
    if (!x.empty())
      out.push_back(x);
  return out;
}

} // namespace

std::string dashboard_state(runtime& rt, const metrics_snapshot& snap,
                            caf::timespan timeout) {
  auto json = render_json(snap);
  // One XLEN per stream of a sink, in one batch.
  std::vector<std::string> names;
  std::vector<command> cmds;
  for (auto& s : snap.sinks)
    for (auto& stream : split(s.streams)) {
      auto dl = stream + ":dead-letter";
      if (std::find(names.begin(), names.end(), dl) != names.end())
        continue;
      names.push_back(dl);
      cmds.push_back(make_command("XLEN", dead_letters::key(dl)));
    }
  std::string extra = ",\"dead_letters\":{";
  if (!cmds.empty()) {
    client c{rt.system(), rt.gateway(), timeout};
    auto lens = c.batch(std::move(cmds));
    for (size_t i = 0; i < names.size(); ++i) {
      int64_t n = -1; // unknown
      if (lens && i < lens->size())
        n = (*lens)[i].as_integer().value_or(-1);
      if (i > 0)
        extra += ',';
      extra += dashboard_quote(names[i]) + ':' + std::to_string(n);
    }
  }
  extra += '}';
  extra += ",\"jobs\":{" + dashboard_pools(rt, snap, timeout) + '}';
  json.insert(json.size() - 1, extra);
  return json;
}

caf::expected<uint64_t> redrive_dead_letters(runtime& rt,
                                             const std::string& streams,
                                             caf::timespan timeout) {
  auto names = split(streams);
  if (names.empty())
    return make_error(errc::invalid_argument, "redrive: no stream named");
  client c{rt.system(), rt.gateway(), timeout};
  uint64_t moved = 0;
  for (auto& s : names) {
    auto r = dead_letters::redrive(c, s + ":dead-letter",
                                   dead_letter_selection::all(),
                                   rt.opts().streaming.stream_max_len,
                                   dead_letters::redrive_mode_for(
                                     rt.opts().redis));
    if (!r)
      return r.error();
    moved += r->moved;
  }
  log::info("dashboard redrive streams={} moved={}", streams, moved);
  return moved;
}

std::string dashboard_quote(const std::string& x) {
  std::string out = "\"";
  for (char c : x) {
    if (c == '"' || c == '\\')
      out += '\\';
    if (static_cast<unsigned char>(c) < 0x20)
      continue;
    out += c;
  }
  return out + '"';
}

} // namespace pulse
