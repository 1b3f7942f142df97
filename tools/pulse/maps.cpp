/// `pulse maps`, `pulse map <m>` and `pulse map get|set|del|watch`:
/// replicated maps in Go Pulse's layout (hash `map:<m>:content` with the
/// reserved fields `=rev` and `=kind`, channel `map:<m>:updates`). Writes go
/// through the rmap Lua scripts (`actors/rmap/ops.hpp`), so every replica,
/// Go or C++, is notified; `watch` decodes the notifications
/// (`actors/rmap/encoding.hpp`).

#include <iostream>

#include <CLI/CLI.hpp>
#include <caf/scoped_actor.hpp>

#include "output.hpp"
#include "session.hpp"
#include "pulse/actors/redis/pubsub.hpp"
#include "pulse/actors/rmap/encoding.hpp"
#include "pulse/actors/rmap/ops.hpp"
#include "pulse/actors/rmap/scripts.hpp"
#include "pulse/messages/rmap.hpp"
#include "pulse/runtime/errors.hpp"
#include "pulse/runtime/names.hpp"

namespace pulse::cli {

namespace {

using nlohmann::json;

struct map_flags {
  std::string name;
  std::string key;
  std::string value;
  bool create = false;
  size_t max_events = 0;
};

/// Throws unless `name` is a valid map name whose hash exists.
std::string checked_map_key(session& s, const std::string& name) {
  if (auto err = validate_name(name, "pulse map"))
    fail("not a valid map name \"" + name + "\"");
  auto key = rmap_scripts::content_key(name);
  auto type = s("TYPE", key).str;
  if (type == "none")
    fail("unknown map \"" + name + "\" (no key " + key + ")");
  if (type != "hash")
    fail(key + " is a " + type + ", not a hash");
  return key;
}

bool reserved(const std::string& field) {
  return field == "=rev" || field == "=kind";
}

// -- pulse maps ---------------------------------------------------------------

void list_maps(session& s) {
  auto keys = s.scan("map:*:content", "hash");
  std::vector<command> cmds;
  for (auto& k : keys) {
    cmds.push_back(make_command("HLEN", k));
    cmds.push_back(make_command("HMGET", k, "=rev", "=kind"));
  }
  auto rs = s.batch(std::move(cmds));
  json out = json::array();
  table t{{"MAP", "KEYS", "REVISION", "LAST CHANGE"}};
  for (size_t i = 0; i < keys.size(); ++i) {
    auto name = keys[i].substr(4, keys[i].size() - 4 - 8);
    auto& meta = rs[2 * i + 1].elements;
    if (meta.size() != 2)
      continue;
    auto n = rs[2 * i].integer - (meta[0].is_nil() ? 0 : 1)
             - (meta[1].is_nil() ? 0 : 1);
    auto rev = to_int(meta[0].str);
    out.push_back({{"name", name}, {"keys", n}, {"rev", rev},
                   {"kind", meta[1].str}});
    t.add({name, std::to_string(n), std::to_string(rev),
           meta[1].str.empty() ? "-" : meta[1].str});
  }
  if (s.json())
    print_json(out);
  else
    t.print(std::cout);
}

// -- pulse map <m> ------------------------------------------------------------

void show_map(session& s, const map_flags& fl) {
  auto key = checked_map_key(s, fl.name);
  auto all = pairs(s("HGETALL", key));
  auto rev = to_int(all["=rev"].str);
  auto kind = all["=kind"].str;
  if (s.json()) {
    json values = json::object();
    for (auto& [k, v] : all)
      if (!reserved(k))
        values[k] = v.str;
    print_json({{"name", fl.name}, {"rev", rev}, {"kind", kind},
                {"values", values}});
    return;
  }
  std::cout << "map " << fl.name << "  revision " << rev << "  last change "
            << (kind.empty() ? "-" : kind) << "\n\n";
  table t{{"KEY", "VALUE"}};
  for (auto& [k, v] : all)
    if (!reserved(k))
      t.add({printable(k), printable(v.str, 100)});
  if (t.empty())
    std::cout << "(empty)\n";
  else
    t.print(std::cout);
}

void get(session& s, const map_flags& fl) {
  auto key = checked_map_key(s, fl.name);
  if (auto err = validate_key(fl.key, "pulse map", "get"))
    fail(render(err));
  auto v = s("HGET", key, fl.key);
  if (v.is_nil())
    fail("map \"" + fl.name + "\" has no key \"" + fl.key + "\"");
  if (s.json())
    print_json({{"key", fl.key}, {"value", v.str}});
  else
    std::cout << v.str << '\n';
}

// Runs one write through the rmap scripts, as every replica expects.
map_write_result write(session& s, const std::string& name, map_write w) {
  auto args = rmap_ops::args_of(w, map_options::from(s.opts().rmap));
  if (!args)
    fail(render(args.error()));
  auto r = s.eval(rmap_ops::script_of(w.op), rmap_ops::keys_of(name),
                  std::move(*args));
  auto res = rmap_ops::decode(w, r);
  if (!res)
    fail(render(res.error()));
  return std::move(*res);
}

void set(session& s, const map_flags& fl) {
  if (!fl.create)
    checked_map_key(s, fl.name);
  else if (auto err = validate_name(fl.name, "pulse map"))
    fail("not a valid map name \"" + fl.name + "\"");
  auto res = write(s, fl.name, map_write{map_op::set, fl.key, {fl.value}});
  if (s.json()) {
    print_json({{"key", fl.key},
                {"value", fl.value},
                {"previous", res.prev ? json(*res.prev) : json(nullptr)},
                {"rev", res.rev}});
    return;
  }
  std::cout << "set " << fl.key << " (revision " << res.rev << ", previous "
            << (res.prev ? "\"" + printable(*res.prev, 60) + "\""
                         : std::string{"none"})
            << ")\n";
}

void del(session& s, const map_flags& fl) {
  checked_map_key(s, fl.name);
  auto res = write(s, fl.name, map_write{map_op::del, fl.key, {}});
  if (!res.prev)
    fail("map \"" + fl.name + "\" has no key \"" + fl.key + "\"");
  if (s.json())
    print_json({{"key", fl.key}, {"previous", *res.prev}});
  else
    std::cout << "deleted " << fl.key << '\n';
}

// -- pulse map watch <m> ------------------------------------------------------

void watch(session& s, const map_flags& fl) {
  checked_map_key(s, fl.name);
  auto channel = rmap_scripts::updates_channel(fl.name);
  caf::scoped_actor self{s.rt().system()};
  auto me = caf::actor_cast<pubsub_subscriber_actor>(self);
  bool ok = false;
  self
    ->request(s.rt().pubsub(), caf::infinite, sub_atom::value, channel, me)
    .receive([&](bool) { ok = true; },
             [&](caf::error& err) {
               fail("cannot subscribe to " + channel + ": " + render(err));
             });
  if (!ok)
    return;
  if (!s.json())
    std::cout << "watching map " << fl.name << " (" << channel
              << "); Ctrl-C stops" << std::endl;
  size_t seen = 0;
  bool done = false;
  while (!done && !interrupted()) {
    self->receive(
      [&](pubsub_message& m) {
        auto n = decode_notification(m.payload);
        if (!n) {
          std::cerr << "pulse: undecodable notification: "
                    << printable(m.payload, 80) << '\n';
          return;
        }
        static constexpr const char* ops[] = {"set", "del", "reset",
                                              "destroy"};
        auto op = ops[static_cast<int>(n->kind)];
        if (s.json())
          print_json_line({{"rev", n->rev}, {"op", op}, {"key", n->key},
                           {"value", n->value}});
        else if (n->kind == map_notification::op::set)
          std::cout << "rev " << n->rev << "  set  " << printable(n->key)
                    << " = " << printable(n->value, 100) << std::endl;
        else if (n->kind == map_notification::op::del)
          std::cout << "rev " << n->rev << "  del  " << printable(n->key)
                    << std::endl;
        else
          std::cout << "rev " << n->rev << "  " << op << std::endl;
        done = fl.max_events > 0 && ++seen >= fl.max_events;
      },
      [&](resub_atom, const std::string&) {
        std::cerr << "pulse: subscription re-established; changes made "
                     "while disconnected were not shown\n";
      },
      caf::after(std::chrono::milliseconds{200}) >> [] {});
  }
  self->send(s.rt().pubsub(), unsub_atom::value, channel, me);
}

} // namespace

void add_map_commands(CLI::App& app, registry& reg) {
  auto ls = app.add_subcommand("maps", "list replicated maps (map:*:content)");
  reg.add(ls, list_maps);

  auto fl = std::make_shared<map_flags>();
  auto mp = app.add_subcommand(
    "map", "show a replicated map (revision, keys, values); get, set, del, "
           "watch");
  mp->add_option("map", fl->name, "map name");
  mp->require_subcommand(0, 1);
  reg.add(mp, [fl](session& s) {
    if (fl->name.empty())
      fail("map: missing map name");
    show_map(s, *fl);
  });

  auto gf = std::make_shared<map_flags>();
  auto g = mp->add_subcommand("get", "print the value of a key");
  g->add_option("map", gf->name, "map name")->required();
  g->add_option("key", gf->key, "key")->required();
  reg.add(g, [gf](session& s) { get(s, *gf); });

  auto sf = std::make_shared<map_flags>();
  auto st = mp->add_subcommand(
    "set", "set a key (rmap set script: bumps the revision and notifies "
           "every replica)");
  st->add_option("map", sf->name, "map name")->required();
  st->add_option("key", sf->key, "key")->required();
  st->add_option("value", sf->value, "value")->required();
  st->add_flag("--create", sf->create, "create the map if it does not exist");
  reg.add(st, [sf](session& s) { set(s, *sf); });

  auto df = std::make_shared<map_flags>();
  auto d = mp->add_subcommand("del", "delete a key (rmap delete script)");
  d->add_option("map", df->name, "map name")->required();
  d->add_option("key", df->key, "key")->required();
  reg.add(d, [df](session& s) { del(s, *df); });

  auto wf = std::make_shared<map_flags>();
  auto w = mp->add_subcommand("watch", "print every change as it happens");
  w->add_option("map", wf->name, "map name")->required();
  w->add_option("--max-events", wf->max_events,
                "exit after this many changes");
  reg.add(w, [wf](session& s) { watch(s, *wf); });
}

} // namespace pulse::cli
