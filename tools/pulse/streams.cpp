/// `pulse streams`, `pulse stream <s>` and `pulse tail <s>`: streams, their
/// consumer groups (sinks) with consumers, pending, lag and idle times, and
/// their entries. Reads Go Pulse's layout (`pulse:stream:<s>`, one group per
/// sink) as well as ours: `XINFO STREAM|GROUPS|CONSUMERS`, `XRANGE`,
/// `XREVRANGE`, `XREAD BLOCK`.

#include <algorithm>
#include <iostream>

#include <CLI/CLI.hpp>

#include "output.hpp"
#include "session.hpp"
#include "pulse/actors/streaming/stream.hpp"
#include "pulse/runtime/names.hpp"

namespace pulse::cli {

namespace {

using nlohmann::json;

constexpr std::string_view key_prefix = "pulse:stream:";

/// Throws unless `name` is a valid stream name whose key holds a stream.
std::string checked_stream_key(session& s, const std::string& name) {
  if (auto err = validate_name(name, "pulse stream"))
    fail("not a valid stream name \"" + name + "\"");
  auto key = stream_key(name);
  auto type = s("TYPE", key).str;
  if (type == "none")
    fail("unknown stream \"" + name + "\" (no key " + key + ")");
  if (type != "stream")
    fail(key + " is a " + type + ", not a stream");
  return key;
}

/// One stream entry as Go Pulse writes it: fields `n`, `p`, optional `t`.
struct entry {
  std::string id;
  std::string name;
  std::string topic;
  std::string payload;
};

entry parse(const resp::value& e) {
  entry x;
  if (!e.is_array() || e.elements.size() != 2)
    return x;
  x.id = e.elements[0].str;
  auto f = pairs(e.elements[1]);
  x.name = f["n"].str;
  x.topic = f["t"].str;
  x.payload = f["p"].str;
  return x;
}

json to_json(const entry& x) {
  return {{"id", x.id},           {"time_ms", id_ms(x.id)},
          {"name", x.name},       {"topic", x.topic},
          {"payload", x.payload}};
}

std::vector<std::string> row(const entry& x) {
  return {x.id, format_time(id_ms(x.id)), printable(x.name, 30),
          printable(x.topic, 20), printable(x.payload, 60)};
}

// -- pulse streams ------------------------------------------------------------

void list_streams(session& s) {
  auto keys = s.scan(std::string{key_prefix} + "*", "stream");
  std::vector<command> cmds;
  for (auto& k : keys)
    cmds.push_back(make_command("XINFO", "STREAM", k));
  auto infos = s.batch(std::move(cmds));
  auto now = s.now_ms();
  json out = json::array();
  table t{{"STREAM", "LENGTH", "SINKS", "FIRST ENTRY", "LAST ENTRY",
           "LAST ADD"}};
  for (size_t i = 0; i < keys.size(); ++i) {
    if (infos[i].is_error())
      continue; // deleted meanwhile
    auto f = pairs(infos[i]);
    auto name = keys[i].substr(key_prefix.size());
    auto first = parse(f["first-entry"]).id;
    auto last = parse(f["last-entry"]).id;
    auto last_ms = id_ms(f["last-generated-id"].str);
    out.push_back({{"name", name},
                   {"length", f["length"].integer},
                   {"sinks", f["groups"].integer},
                   {"first_entry", first},
                   {"last_entry", last},
                   {"last_generated_id", f["last-generated-id"].str}});
    t.add({name, std::to_string(f["length"].integer),
           std::to_string(f["groups"].integer), first.empty() ? "-" : first,
           last.empty() ? "-" : last,
           last_ms > 0
             ? format_duration(std::chrono::milliseconds{now - last_ms})
                 + " ago"
             : "-"});
  }
  if (s.json())
    print_json(out);
  else
    t.print(std::cout);
}

// -- pulse stream <s> ---------------------------------------------------------

struct stream_flags {
  std::string name;
  uint64_t max_len = 0; // 0: the configured stream-max-len
};

void show_stream(session& s, const stream_flags& fl) {
  auto key = checked_stream_key(s, fl.name);
  auto max_len = fl.max_len > 0 ? fl.max_len
                                : s.opts().streaming.stream_max_len;
  auto info = pairs(s("XINFO", "STREAM", key));
  auto groups = s("XINFO", "GROUPS", key);
  auto dlq = stream_key(fl.name + ":dead-letter");
  auto dead = s("EXISTS", dlq).integer == 1 ? s("XLEN", dlq).integer : 0;
  auto length = info["length"].integer;
  auto first = parse(info["first-entry"]);
  auto last = parse(info["last-entry"]);
  json j{{"name", fl.name},
         {"key", key},
         {"length", length},
         {"max_len", max_len},
         {"first_entry", first.id},
         {"last_entry", last.id},
         {"last_generated_id", info["last-generated-id"].str},
         {"entries_added", info["entries-added"].integer},
         {"dead_letters", dead},
         {"sinks", json::array()},
         {"warnings", json::array()}};
  table sinks{{"SINK", "CONSUMERS", "PENDING", "LAG", "LAST DELIVERED",
               "ENTRIES READ"}};
  table consumers{{"SINK", "CONSUMER", "PENDING", "IDLE"}};
  std::vector<std::string> warnings;
  for (auto& g : groups.elements) {
    auto f = pairs(g);
    auto name = f["name"].str;
    auto lag_known = !f["lag"].is_nil();
    auto lag = f["lag"].integer;
    auto last_delivered = f["last-delivered-id"].str;
    json sj{{"name", name},
            {"consumers", f["consumers"].integer},
            {"pending", f["pending"].integer},
            {"lag", lag_known ? json(lag) : json(nullptr)},
            {"last_delivered_id", last_delivered},
            {"entries_read", f["entries-read"].is_nil()
                               ? json(nullptr)
                               : json(f["entries-read"].integer)},
            {"consumer_list", json::array()}};
    sinks.add({name, std::to_string(f["consumers"].integer),
               std::to_string(f["pending"].integer),
               lag_known ? std::to_string(lag) : "unknown", last_delivered,
               f["entries-read"].is_nil()
                 ? "-"
                 : std::to_string(f["entries-read"].integer)});
    if (max_len > 0 && lag_known
        && static_cast<uint64_t>(lag) * 10 >= max_len * 8)
      warnings.push_back("sink " + name + " lags " + std::to_string(lag)
                         + " entries behind, close to the stream's max "
                           "length "
                         + std::to_string(max_len)
                         + ": events may be trimmed before it reads them");
    if (lag_known && lag > length)
      warnings.push_back("sink " + name + " lags " + std::to_string(lag)
                         + " entries behind but the stream holds "
                         + std::to_string(length) + ": "
                         + std::to_string(lag - length)
                         + " were trimmed before it read them");
    auto cs = s("XINFO", "CONSUMERS", key, name);
    for (auto& c : cs.elements) {
      auto cf = pairs(c);
      auto idle = cf["idle"].integer;
      sj["consumer_list"].push_back({{"name", cf["name"].str},
                                     {"pending", cf["pending"].integer},
                                     {"idle_ms", idle}});
      consumers.add({name, cf["name"].str,
                     std::to_string(cf["pending"].integer),
                     format_duration(std::chrono::milliseconds{idle})});
    }
    j["sinks"].push_back(std::move(sj));
  }
  for (auto& w : warnings)
    j["warnings"].push_back(w);
  if (s.json()) {
    print_json(j);
    return;
  }
  auto show_entry = [](const entry& e) {
    return e.id.empty() ? std::string{"-"}
                        : e.id + "  (" + format_time(id_ms(e.id)) + ")";
  };
  table head{{"STREAM", fl.name}};
  head.add({"key", key});
  head.add({"length", std::to_string(length) + " (max-len "
                        + (max_len > 0 ? std::to_string(max_len)
                                       : std::string{"none"})
                        + ")"});
  head.add({"first entry", show_entry(first)});
  head.add({"last entry", show_entry(last)});
  head.add({"dead letters", std::to_string(dead) + " (" + fl.name
                              + ":dead-letter)"});
  head.print(std::cout);
  std::cout << '\n';
  if (sinks.empty()) {
    std::cout << "no sinks (consumer groups)\n";
  } else {
    sinks.print(std::cout);
    std::cout << '\n';
    if (consumers.empty())
      std::cout << "no consumers\n";
    else
      consumers.print(std::cout);
  }
  for (auto& w : warnings)
    std::cout << "WARNING: " << w << '\n';
}

// -- pulse tail <s> -----------------------------------------------------------

struct tail_flags {
  std::string name;
  std::string topic;
  size_t count = 10;
  bool follow = false;
  size_t max_events = 0; // follow: stop after this many (0: never)
};

void tail(session& s, const tail_flags& fl) {
  auto key = checked_stream_key(s, fl.name);
  // The last `count` entries with the topic, newest first, in pages.
  std::vector<entry> xs;
  std::string end = "+";
  while (xs.size() < fl.count) {
    auto r = s("XREVRANGE", key, end, "-", "COUNT", "500");
    for (auto& e : r.elements) {
      auto x = parse(e);
      if (fl.topic.empty() || x.topic == fl.topic)
        xs.push_back(std::move(x));
      if (xs.size() == fl.count)
        break;
    }
    if (r.elements.size() < 500 || xs.size() == fl.count)
      break;
    end = "(" + r.elements.back().elements[0].str;
  }
  std::reverse(xs.begin(), xs.end());
  if (!fl.follow) {
    if (s.json()) {
      json out = json::array();
      for (auto& x : xs)
        out.push_back(to_json(x));
      print_json(out);
    } else {
      table t{{"ID", "TIME", "NAME", "TOPIC", "PAYLOAD"}};
      for (auto& x : xs)
        t.add(row(x));
      t.print(std::cout);
    }
    return;
  }
  // Follow: one line per entry (JSON lines with --json).
  auto print = [&](const entry& x) {
    if (s.json()) {
      print_json_line(to_json(x));
    } else {
      auto cells = row(x);
      std::string line;
      for (auto& c : cells)
        line += (line.empty() ? "" : "  ") + (c.empty() ? "-" : c);
      std::cout << line << std::endl;
    }
  };
  for (auto& x : xs)
    print(x);
  auto last = pairs(s("XINFO", "STREAM", key))["last-generated-id"].str;
  size_t seen = 0;
  // The shared gateway answers within its command timeout: block less.
  auto block = std::min<int64_t>(
    1000, std::chrono::duration_cast<std::chrono::milliseconds>(
            s.opts().redis.command_timeout)
              .count()
            / 2);
  while (!interrupted() && (fl.max_events == 0 || seen < fl.max_events)) {
    auto r = s("XREAD", "COUNT", "100", "BLOCK", std::to_string(block),
               "STREAMS", key, last);
    if (r.is_nil() || r.elements.empty())
      continue;
    for (auto& e : r.elements[0].elements[1].elements) {
      auto x = parse(e);
      last = x.id;
      if (!fl.topic.empty() && x.topic != fl.topic)
        continue;
      print(x);
      if (fl.max_events > 0 && ++seen >= fl.max_events)
        break;
    }
  }
}

} // namespace

void add_stream_commands(CLI::App& app, registry& reg) {
  auto ls = app.add_subcommand("streams", "list streams (pulse:stream:*)");
  reg.add(ls, list_streams);

  auto sf = std::make_shared<stream_flags>();
  auto st = app.add_subcommand(
    "stream", "show a stream: length, first/last entry, sinks (consumer "
              "groups) with consumers, pending, lag and idle times");
  st->add_option("stream", sf->name, "stream name")->required();
  st->add_option("--max-len", sf->max_len,
                 "the stream's max length for the lag warning (default: "
                 "pulse.streaming.stream-max-len)");
  reg.add(st, [sf](session& s) { show_stream(s, *sf); });

  auto tf = std::make_shared<tail_flags>();
  auto tl = app.add_subcommand("tail", "print the last entries of a stream");
  tl->add_option("stream", tf->name, "stream name")->required();
  tl->add_option("--count,-n", tf->count, "entries to print first")
    ->capture_default_str();
  tl->add_option("--topic", tf->topic, "only entries with this topic");
  tl->add_flag("--follow,-f", tf->follow,
               "keep printing new entries until interrupted");
  tl->add_option("--max-events", tf->max_events,
                 "with --follow: exit after this many new entries");
  reg.add(tl, [tf](session& s) { tail(s, *tf); });
}

} // namespace pulse::cli
