#include "pulse/actors/streaming/stream.hpp"

#include <charconv>

#include "pulse/actors/redis/client.hpp"
#include "pulse/actors/redis/services.hpp"
#include "pulse/actors/streaming/trim.hpp"
#include "pulse/runtime/errors.hpp"
#include "pulse/runtime/names.hpp"
#include "pulse/actors/rmap/scripts.hpp"

namespace pulse {

int64_t event::created_at_ms() const {
  int64_t ms = 0;
  auto dash = id.find('-');
  auto end = id.data() + (dash == std::string::npos ? id.size() : dash);
  std::from_chars(id.data(), end, ms);
  return ms;
}

namespace {

/// Appends Go Pulse's entry fields: `n <event> p <payload> [t <topic>]`.
void append_entry_fields(std::vector<std::string>& a,
                         const std::string& event_name,
                         const std::string& payload,
                         const std::string& topic) {
  a.emplace_back("n");
  a.emplace_back(event_name);
  a.emplace_back("p");
  a.emplace_back(payload);
  if (!topic.empty()) {
    a.emplace_back("t");
    a.emplace_back(topic);
  }
}

} // namespace

std::string stream_key(const std::string& name) {
  return "pulse:stream:" + name;
}

stream::stream(std::string name, stream_options opts)
  : name_(std::move(name)), key_(stream_key(name_)), opts_(opts) {
  // nop
}

caf::expected<stream> stream::make(const services& rt, std::string name) {
  return make(std::move(name), stream_options::from(rt.opts().streaming));
}

caf::expected<stream> stream::make(std::string name, stream_options opts) {
  if (auto err = validate_name(name, "pulse stream"))
    return err;
  if (opts.ttl.count() < 0)
    return make_error(errc::invalid_argument,
                      "pulse stream: TTL must not be negative");
  return stream{std::move(name), opts};
}

std::vector<command> stream::add_commands(const std::string& event_name,
                                          const std::string& payload,
                                          const std::string& topic,
                                          bool only_if_exists) const {
  return add_commands_with_id("*", event_name, payload, topic,
                              only_if_exists);
}

std::vector<std::string>
stream::script_add_args(const std::string& id, const std::string& event_name,
                        const std::string& payload, const std::string& topic,
                        bool only_if_exists) const {
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(opts_.ttl);
  std::vector<std::string> a;
  a.reserve(11);
  a.emplace_back(id);
  a.emplace_back(std::to_string(opts_.max_len));
  a.emplace_back(std::to_string(ms.count()));
  a.emplace_back(opts_.sliding_ttl ? "1" : "0");
  a.emplace_back(only_if_exists ? "1" : "0");
  append_entry_fields(a, event_name, payload, topic);
  return a;
}

std::vector<command>
stream::add_commands_with_id(const std::string& id,
                             const std::string& event_name,
                             const std::string& payload,
                             const std::string& topic,
                             bool only_if_exists) const {
  if (opts_.trim == trim_mode::safe) {
    // EVAL <source> 1 <key> <args...>: self-contained, fits any batch.
    auto args = script_add_args(id, event_name, payload, topic,
                                only_if_exists);
    command eval;
    eval.args.reserve(4 + args.size());
    eval.args.emplace_back("EVAL");
    eval.args.emplace_back(safe_add_script().source);
    eval.args.emplace_back("1");
    eval.args.emplace_back(key_);
    for (auto& x : args)
      eval.args.emplace_back(std::move(x));
    return {std::move(eval)};
  }
  command xadd;
  auto& a = xadd.args;
  a.reserve(12);
  a.emplace_back("XADD");
  a.emplace_back(key_);
  if (only_if_exists)
    a.emplace_back("NOMKSTREAM");
  if (opts_.max_len > 0) {
    a.emplace_back("MAXLEN");
    a.emplace_back("~");
    a.emplace_back(std::to_string(opts_.max_len));
  }
  a.emplace_back(id);
  append_entry_fields(a, event_name, payload, topic);
  std::vector<command> result;
  if (opts_.ttl.count() == 0) {
    result.emplace_back(std::move(xadd));
    return result;
  }
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(opts_.ttl);
  command expire = make_command("PEXPIRE", key_, std::to_string(ms.count()));
  if (!opts_.sliding_ttl)
    expire.args.emplace_back("NX");
  result.emplace_back(make_command("MULTI"));
  result.emplace_back(std::move(xadd));
  result.emplace_back(std::move(expire));
  result.emplace_back(make_command("EXEC"));
  return result;
}

caf::expected<std::string>
stream::parse_add(const std::vector<resp::value>& replies) {
  if (replies.empty())
    return make_error(errc::protocol_error, "XADD: no reply");
  const resp::value* id = nullptr;
  if (replies.size() == 1) {
    id = &replies[0];
  } else {
    // MULTI / XADD / PEXPIRE / EXEC: errors show up as QUEUED failures or
    // inside the EXEC array.
    for (auto& r : replies)
      if (r.is_error())
        return make_error(errc::redis_error, r.str);
    auto& exec = replies.back();
    if (!exec.is_array() || exec.elements.empty())
      return make_error(errc::redis_error, "XADD: transaction aborted");
    id = &exec.elements[0];
  }
  return parse_add_reply(*id);
}

caf::expected<std::string> stream::parse_add_reply(const resp::value& id) {
  if (id.is_error())
    return make_error(errc::redis_error, id.str);
  if (id.is_nil())
    return std::string{};
  if (!id.is_string())
    return make_error(errc::protocol_error,
                      "XADD: unexpected reply " + id.render());
  return id.str;
}

bool stream::id_not_above_last(const caf::error& err) {
  return code_of(err) == errc::redis_error
         && render(err).find("equal or smaller") != std::string::npos;
}

caf::expected<std::string> stream::own_entry(const resp::value& range,
                                             const std::string& id,
                                             const std::string& event_name,
                                             const std::string& payload,
                                             const std::string& topic) const {
  if (range.is_error())
    return make_error(errc::redis_error, range.str);
  if (!range.is_array())
    return make_error(errc::protocol_error,
                      "XRANGE: unexpected reply " + range.render());
  if (range.elements.empty())
    return make_error(errc::invalid_argument,
                      "stream " + name_ + ": entry ID " + id
                        + " is not above the last entry (and not in the "
                          "stream)");
  auto& entry = range.elements[0];
  if (!entry.is_array() || entry.elements.size() != 2
      || !entry.elements[1].is_array())
    return make_error(errc::protocol_error,
                      "XRANGE: unexpected entry " + entry.render());
  auto& fields = entry.elements[1].elements;
  std::string n, p, t;
  for (size_t i = 0; i + 1 < fields.size(); i += 2) {
    if (fields[i].str == "n")
      n = fields[i + 1].str;
    else if (fields[i].str == "p")
      p = fields[i + 1].str;
    else if (fields[i].str == "t")
      t = fields[i + 1].str;
  }
  if (n != event_name || p != payload || t != topic)
    return make_error(errc::invalid_argument,
                      "stream " + name_ + ": entry ID " + id
                        + " holds a different event");
  return id;
}

command stream::remove_command(const std::vector<std::string>& ids) const {
  command c;
  c.args.reserve(2 + ids.size());
  c.args.emplace_back("XDEL");
  c.args.emplace_back(key_);
  c.args.insert(c.args.end(), ids.begin(), ids.end());
  return c;
}

caf::expected<std::string>
stream::run_add(client& c, const std::string& id,
                const std::string& event_name, const std::string& payload,
                const std::string& topic, bool only_if_exists) const {
  if (opts_.trim == trim_mode::safe) {
    auto res = c.eval(safe_add_script(), {key_},
                      script_add_args(id, event_name, payload, topic,
                                      only_if_exists));
    if (!res)
      return res.error();
    return parse_add_reply(*res);
  }
  auto res = c.batch(add_commands_with_id(id, event_name, payload, topic,
                                          only_if_exists));
  if (!res)
    return res.error();
  return parse_add(*res);
}

caf::expected<std::string> stream::add(client& c, const std::string& event_name,
                                       const std::string& payload,
                                       const std::string& topic,
                                       bool only_if_exists) const {
  return run_add(c, "*", event_name, payload, topic, only_if_exists);
}

caf::expected<std::string>
stream::add_with_id(client& c, const std::string& id,
                    const std::string& event_name, const std::string& payload,
                    const std::string& topic) const {
  auto added = run_add(c, id, event_name, payload, topic, false);
  if (added || !id_not_above_last(added.error()))
    return added; // e.g. an invalid ID
  // The ID is taken or below the last entry: a retry of this very add
  // finds its own entry (same name, payload and topic) and succeeds.
  auto entry = c("XRANGE", key_, id, id);
  if (!entry)
    return entry.error();
  return own_entry(*entry, id, event_name, payload, topic);
}

caf::expected<int64_t> stream::remove(client& c,
                                      const std::vector<std::string>& ids) const {
  if (ids.empty())
    return int64_t{0};
  auto res = c.call(remove_command(ids));
  if (!res)
    return res.error();
  return res->integer;
}

caf::error stream::destroy(client& c) const {
  auto sinks = "stream:" + name_ + ":sinks";
  auto res = c.batch({make_command("DEL", key_),
                      make_command("EXISTS", rmap_scripts::content_key(sinks))});
  if (!res)
    return res.error();
  if ((*res)[0].is_error())
    return make_error(errc::redis_error, (*res)[0].str);
  if ((*res)[1].integer == 1) {
    auto d = c.eval(rmap_scripts::destroy(), {rmap_scripts::content_key(sinks)},
                    {"", "0"});
    if (!d)
      return d.error();
  }
  return caf::none;
}

caf::expected<event> parse_entry(resp::value& entry,
                                 const std::string& stream_name) {
  if (!entry.is_array() || entry.elements.size() != 2
      || !entry.elements[0].is_string() || !entry.elements[1].is_array())
    return make_error(errc::protocol_error,
                      "not a stream entry: " + entry.render());
  event ev;
  ev.id = entry.elements[0].str;
  ev.stream = stream_name;
  auto& fields = entry.elements[1].elements;
  bool has_name = false;
  bool has_payload = false;
  for (size_t i = 0; i + 1 < fields.size(); i += 2) {
    auto& f = fields[i].str;
    if (f == "n") {
      ev.name = fields[i + 1].str;
      has_name = true;
    } else if (f == "p") {
      has_payload = true;
    } else if (f == "t") {
      ev.topic = fields[i + 1].str;
    }
  }
  // Only a well-formed entry gives its payload away: a malformed one is
  // still copied whole to the dead-letter stream. A field given twice (by
  // another client) counts with its last value, for n, t and p alike, as
  // Go Pulse reads entries into a map.
  if (has_name && has_payload)
    for (size_t i = fields.size() - fields.size() % 2; i >= 2; i -= 2)
      if (fields[i - 2].str == "p") {
        ev.payload = std::move(fields[i - 1].str);
        break;
      }
  if (!has_name || !has_payload)
    return make_error(errc::protocol_error,
                      "entry " + ev.id + " of stream " + stream_name
                        + " lacks field " + (has_name ? "p" : "n"));
  return ev;
}

} // namespace pulse
