/// `pulse dead-letters <s>` (list), `pulse dead-letters redrive <s>` and
/// `pulse dead-letters purge <s>`: the entries sinks gave up on, moved back
/// into their source stream or deleted. All three go through
/// `actors/streaming/dead_letters.hpp` (`XRANGE`, the redrive script,
/// `XDEL`/`XTRIM MINID`/`DEL`).

#include <iostream>

#include <CLI/CLI.hpp>

#include "output.hpp"
#include "session.hpp"
#include "pulse/actors/streaming/dead_letters.hpp"
#include "pulse/actors/streaming/stream.hpp"
#include "pulse/runtime/errors.hpp"
#include "pulse/runtime/names.hpp"

namespace pulse::cli {

namespace {

using nlohmann::json;

struct dl_flags {
  std::string stream;
  std::string dlq; // empty: <stream>:dead-letter
  std::string sink;
  size_t count = 100;
  // redrive and purge
  std::vector<std::string> ids;
  bool all = false;
  std::string older_than;
  uint64_t max_len = 0; // 0: the configured stream-max-len

  std::string dlq_name() const {
    return dlq.empty() ? stream + ":dead-letter" : dlq;
  }
};

/// Throws unless the source stream or its dead-letter stream exists.
void check_exists(session& s, const dl_flags& fl) {
  if (auto err = validate_name(fl.stream, "pulse stream"))
    fail("not a valid stream name \"" + fl.stream + "\"");
  if (auto err = validate_name(fl.dlq_name(), "pulse stream"))
    fail("not a valid dead-letter stream name \"" + fl.dlq_name() + "\"");
  // Two commands: in Redis Cluster the keys may be in different slots.
  auto rs = s.batch({make_command("EXISTS", stream_key(fl.stream)),
                     make_command("EXISTS",
                                  dead_letters::key(fl.dlq_name()))});
  if (rs.size() != 2 || rs[0].is_error() || rs[1].is_error())
    fail("EXISTS failed: "
         + (rs.size() == 2 ? rs[rs[0].is_error() ? 0 : 1].str
                           : std::string{"no reply"}));
  if (rs[0].integer + rs[1].integer == 0)
    fail("unknown stream \"" + fl.stream + "\" (no key "
         + stream_key(fl.stream) + " nor " + dead_letters::key(fl.dlq_name())
         + ")");
}

dead_letter_selection selection(const dl_flags& fl) {
  int n = (fl.all ? 1 : 0) + (fl.ids.empty() ? 0 : 1)
          + (fl.older_than.empty() ? 0 : 1);
  if (n != 1)
    fail("select the dead letters with exactly one of --all, --id ID "
         "(repeatable) or --older-than DURATION");
  if (fl.all)
    return dead_letter_selection::all();
  if (!fl.ids.empty())
    return dead_letter_selection::by_ids(fl.ids);
  auto age = parse_duration(fl.older_than, "--older-than");
  if (age.count() <= 0)
    fail("--older-than must be positive");
  return dead_letter_selection::older_than(age);
}

void list(session& s, const dl_flags& fl) {
  check_exists(s, fl);
  std::vector<dead_letter> xs;
  std::string from = "-";
  // Pages of 500 until `count` entries of the sink (or the end).
  while (xs.size() < fl.count) {
    auto page = dead_letters::list(s.redis(), fl.dlq_name(), 500, from);
    if (!page)
      fail("reading " + fl.dlq_name() + ": " + render(page.error()));
    for (auto& d : *page)
      if ((fl.sink.empty() || d.sink == fl.sink) && xs.size() < fl.count)
        xs.push_back(d);
    if (page->size() < 500)
      break;
    from = "(" + page->back().id;
  }
  auto now = s.now_ms();
  if (s.json()) {
    json out = json::array();
    for (auto& d : xs)
      out.push_back({{"id", d.id},
                     {"dead_lettered_ms", id_ms(d.id)},
                     {"original_id", d.original_id},
                     {"stream", d.stream},
                     {"sink", d.sink},
                     {"deliveries", d.deliveries},
                     {"error", d.error},
                     {"name", d.name},
                     {"topic", d.topic},
                     {"payload", d.payload}});
    print_json(out);
    return;
  }
  table t{{"ID", "AGE", "SINK", "ORIGINAL ID", "DELIVERIES", "NAME", "ERROR",
           "PAYLOAD"}};
  for (auto& d : xs)
    t.add({d.id,
           format_duration(std::chrono::milliseconds{now - id_ms(d.id)}),
           d.sink, d.original_id, std::to_string(d.deliveries),
           printable(d.name, 30), printable(d.error, 50),
           printable(d.payload, 40)});
  t.print(std::cout);
}

void redrive(session& s, const dl_flags& fl) {
  check_exists(s, fl);
  auto which = selection(fl);
  auto max_len = fl.max_len > 0 ? fl.max_len
                                : s.opts().streaming.stream_max_len;
  auto r = dead_letters::redrive(
    s.redis(), fl.dlq_name(), which, max_len,
    dead_letters::redrive_mode_for(s.opts().redis));
  if (!r)
    fail("redrive of " + fl.dlq_name() + " failed: " + render(r.error()));
  if (s.json()) {
    print_json({{"moved", r->moved},
                {"missing", r->missing},
                {"skipped", r->skipped}});
    return;
  }
  std::cout << "moved " << r->moved << " back into their stream, "
            << r->missing << " not found, " << r->skipped
            << " left in place (no valid source stream)\n";
}

void purge(session& s, const dl_flags& fl) {
  check_exists(s, fl);
  auto which = selection(fl);
  auto r = dead_letters::purge(s.redis(), fl.dlq_name(), which);
  if (!r)
    fail("purge of " + fl.dlq_name() + " failed: " + render(r.error()));
  if (s.json())
    print_json({{"deleted", *r}});
  else
    std::cout << "deleted " << *r << " dead letters\n";
}

void add_common(CLI::App* cmd, dl_flags& fl) {
  cmd->add_option("--dead-letter-stream", fl.dlq,
                  "the dead-letter stream (default <stream>:dead-letter)");
}

void add_selection(CLI::App* cmd, dl_flags& fl) {
  cmd->add_option("stream", fl.stream, "source stream name")->required();
  add_common(cmd, fl);
  cmd->add_option("--id", fl.ids, "a dead-letter ID (repeatable)");
  cmd->add_flag("--all", fl.all, "every entry");
  cmd->add_option("--older-than", fl.older_than,
                  "entries dead-lettered longer ago than this (90s, 15m, "
                  "2h, 1d)");
}

} // namespace

void add_dead_letter_commands(CLI::App& app, registry& reg) {
  auto fl = std::make_shared<dl_flags>();
  auto dl = app.add_subcommand(
    "dead-letters", "list a stream's dead letters (with error and delivery "
                    "count); redrive or purge them");
  dl->add_option("stream", fl->stream, "source stream name");
  dl->add_option("--sink", fl->sink, "only entries of this sink");
  dl->add_option("--count,-n", fl->count, "entries to list")
    ->capture_default_str();
  add_common(dl, *fl);
  dl->require_subcommand(0, 1);
  reg.add(dl, [fl](session& s) {
    if (fl->stream.empty())
      fail("dead-letters: missing stream name");
    list(s, *fl);
  });

  auto rf = std::make_shared<dl_flags>();
  auto rd = dl->add_subcommand(
    "redrive", "move dead letters back into their source stream");
  add_selection(rd, *rf);
  rd->add_option("--max-len", rf->max_len,
                 "MAXLEN ~ of the re-added entries (default: "
                 "pulse.streaming.stream-max-len)");
  reg.add(rd, [rf](session& s) { redrive(s, *rf); });

  auto pf = std::make_shared<dl_flags>();
  auto pg = dl->add_subcommand("purge", "delete dead letters");
  add_selection(pg, *pf);
  reg.add(pg, [pf](session& s) { purge(s, *pf); });
}

} // namespace pulse::cli
