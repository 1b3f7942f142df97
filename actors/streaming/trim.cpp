#include "pulse/actors/streaming/trim.hpp"

#include <algorithm>
#include <charconv>
#include <utility>

#include "pulse/actors/redis/client.hpp"
#include "pulse/actors/streaming/stream.hpp"
#include "pulse/runtime/log.hpp"

namespace pulse {

namespace {

// Finds `name` in a flat RESP2 map `[k1, v1, k2, v2, ...]`.
const resp::value* field(const resp::value& map, const std::string& name) {
  if (!map.is_array())
    return nullptr;
  for (size_t i = 0; i + 1 < map.elements.size(); i += 2)
    if (map.elements[i].str == name)
      return &map.elements[i + 1];
  return nullptr;
}

// Splits `<ms>-<seq>`; an invalid ID parses as 0-0.
std::pair<uint64_t, uint64_t> split_id(const std::string& id) {
  uint64_t ms = 0;
  uint64_t seq = 0;
  auto dash = id.find('-');
  auto end = id.data() + (dash == std::string::npos ? id.size() : dash);
  std::from_chars(id.data(), end, ms);
  if (dash != std::string::npos)
    std::from_chars(id.data() + dash + 1, id.data() + id.size(), seq);
  return {ms, seq};
}

} // namespace

namespace trim_watch {

uint64_t report(const std::vector<resp::value>& replies,
                const std::string& group, const std::string& stream,
                uint64_t known) {
  auto r = parse_trim_check(replies, group);
  if (!r.lost)
    return 0;
  if (r.count <= known)
    return 0;
  log::warn("sink lost events trimmed before it read them sink={} "
            "stream={} last_delivered={} first_entry={} lost={} (raise "
            "the stream's max-len or keep the sink running)",
            group, stream, r.last_delivered, r.first_entry, r.count);
  return r.count - known;
}

uint64_t check(client& c, const std::string& group, const std::string& stream,
               uint64_t known) {
  auto res = c.batch(trim_check_commands(stream_key(stream)));
  if (!res)
    return 0;
  return report(*res, group, stream, known);
}

} // namespace trim_watch

bool entry_id_after(const std::string& a, const std::string& b) {
  return split_id(a) > split_id(b);
}

std::vector<command> trim_check_commands(const std::string& key) {
  return {make_command("XINFO", "STREAM", key),
          make_command("XINFO", "GROUPS", key)};
}

trim_report parse_trim_check(const std::vector<resp::value>& replies,
                             const std::string& group) {
  trim_report r;
  if (replies.size() != 2 || !replies[0].is_array()
      || !replies[1].is_array())
    return r;
  auto& info = replies[0];
  const resp::value* g = nullptr;
  for (auto& x : replies[1].elements)
    if (auto name = field(x, "name"); name && name->str == group)
      g = &x;
  auto last = g ? field(*g, "last-delivered-id") : nullptr;
  if (!last || !last->is_string())
    return r;
  r.last_delivered = last->str;
  // The oldest entry still in the stream; none when it is empty.
  auto first = field(info, "first-entry");
  if (first && first->is_array() && !first->elements.empty())
    r.first_entry = first->elements[0].str;
  // Trimming only removes entries older than the first one left: the group
  // lost some only if it had not read up to there.
  if (!r.first_entry.empty()
      && !entry_id_after(r.first_entry, r.last_delivered))
    return r;
  auto number = [](const resp::value* x) -> caf::optional<int64_t> {
    if (x == nullptr || x->is_nil())
      return caf::none;
    return x->as_integer();
  };
  auto added = number(field(info, "entries-added"));
  auto length = number(field(info, "length"));
  auto read = number(field(*g, "entries-read"));
  if (!added || !length || !read)
    return r; // Redis cannot count: report nothing rather than guess
  // Everything after the group's position is in the stream now, so what
  // it has not read beyond the stream's length is gone.
  auto lost = *added - *read - *length;
  if (lost > 0) {
    r.lost = true;
    r.count = static_cast<uint64_t>(lost);
  }
  return r;
}

} // namespace pulse
