/// `pulse dead-jobs <p>` (list), `pulse dead-jobs <p> redrive` and `pulse
/// dead-jobs <p> purge`: a pool's dead set, the jobs whose last attempt
/// failed (docs/protocol.md, "Retries and the dead set"). All three go
/// through `actors/pool/dead_set.hpp` (the pool's `dead_jobs`, `redrive`
/// and `purge_dead` scripts), like `pool_node::dead_jobs`, `redrive` and
/// `purge_dead`.

#include <iostream>

#include <CLI/CLI.hpp>

#include "output.hpp"
#include "pool_keys.hpp"
#include "session.hpp"
#include "pulse/actors/pool/dead_set.hpp"
#include "pulse/runtime/errors.hpp"

namespace pulse::cli {

namespace {

using nlohmann::json;
using std::chrono::milliseconds;

struct dead_flags {
  std::string pool;
  size_t limit = 100;
  // redrive and purge
  std::vector<std::string> keys;
  bool all = false;
};

/// The text of a dead job's last failure, or empty.
std::string last_error(const dead_job& d) {
  return d.failures.empty() ? std::string{} : d.failures.back().error;
}

json dead_job_json(const dead_job& d) {
  json failures = json::array();
  for (auto& f : d.failures)
    failures.push_back(
      {{"attempt", f.attempt}, {"at_ms", f.at}, {"error", f.error}});
  return {{"key", d.key},          {"attempts", d.attempts},
          {"died_ms", d.died_at},  {"last_error", last_error(d)},
          {"payload", d.payload},  {"failures", failures}};
}

// -- pulse dead-jobs <p> ------------------------------------------------------

void list_dead(session& s, const dead_flags& fl) {
  auto p = checked_pool_prefix(s, fl.pool);
  auto total = pool_dead_set::count(s.redis(), p);
  if (!total)
    fail("reading the dead set of pool \"" + fl.pool
         + "\": " + render(total.error()));
  auto jobs = pool_dead_set::list(s.redis(), p,
                                  fl.limit == 0 ? *total : fl.limit);
  if (!jobs)
    fail("reading the dead set of pool \"" + fl.pool
         + "\": " + render(jobs.error()));
  if (s.json()) {
    json out = json::array();
    for (auto& d : *jobs)
      out.push_back(dead_job_json(d));
    print_json({{"pool", fl.pool}, {"total", *total}, {"jobs", out}});
    return;
  }
  auto now = s.now_ms();
  std::cout << "pool " << fl.pool << "  dead jobs " << *total;
  if (*total > jobs->size())
    std::cout << " (showing the oldest " << jobs->size() << ", --limit)";
  std::cout << "\n\n";
  if (jobs->empty()) {
    std::cout << "no dead jobs\n";
    return;
  }
  table t{{"KEY", "ATTEMPTS", "DIED AT", "AGE", "LAST ERROR"}};
  for (auto& d : *jobs)
    t.add({printable(d.key, 60), std::to_string(d.attempts),
           format_time(d.died_at),
           format_duration(milliseconds{now - d.died_at}),
           printable(last_error(d), 80)});
  t.print(std::cout);
}

// -- pulse dead-jobs <p> redrive|purge [keys...] ------------------------------

/// The keys to act on (empty: all); throws unless exactly one of keys and
/// `--all` was given.
std::vector<std::string> selection(const dead_flags& parent,
                                   const dead_flags& fl, const char* what) {
  if (parent.pool.empty())
    fail(std::string{"dead-jobs "} + what
         + ": missing pool name (pulse dead-jobs <pool> " + what
         + " <key>... | --all)");
  if (fl.all == !fl.keys.empty())
    fail(std::string{"dead-jobs "} + what
         + ": name the dead jobs by key, or pass --all (not both)");
  return fl.keys;
}

void redrive_dead(session& s, const dead_flags& parent, const dead_flags& fl) {
  auto keys = selection(parent, fl, "redrive");
  auto p = checked_pool_prefix(s, parent.pool);
  auto r = pool_dead_set::redrive(s.redis(), p, keys);
  if (!r)
    fail("redrive in pool \"" + parent.pool + "\" failed: "
         + render(r.error()));
  auto skipped = keys.size() > r->done ? keys.size() - r->done : 0;
  if (s.json()) {
    print_json({{"moved", r->done}, {"skipped", skipped}, {"left", r->left}});
    return;
  }
  std::cout << "moved " << r->done << " dead jobs back into pool "
            << parent.pool << " (due at once, attempts reset)";
  if (!keys.empty())
    std::cout << ", " << skipped
              << " skipped (not dead, or pending, running or delayed)";
  std::cout << "; " << r->left << " left in the dead set\n";
}

void purge_dead(session& s, const dead_flags& parent, const dead_flags& fl) {
  auto keys = selection(parent, fl, "purge");
  auto p = checked_pool_prefix(s, parent.pool);
  auto r = pool_dead_set::purge(s.redis(), p, keys);
  if (!r)
    fail("purge in pool \"" + parent.pool + "\" failed: " + render(r.error()));
  if (s.json()) {
    print_json({{"deleted", r->done}, {"left", r->left}});
    return;
  }
  std::cout << "deleted " << r->done << " dead jobs; " << r->left
            << " left in the dead set\n";
}

void add_selection(CLI::App* cmd, dead_flags& fl) {
  cmd->add_option("keys", fl.keys, "job keys");
  cmd->add_flag("--all", fl.all, "every dead job of the pool");
}

} // namespace

void add_pool_dead_commands(CLI::App& app, registry& reg) {
  auto fl = std::make_shared<dead_flags>();
  auto dj = app.add_subcommand(
    "dead-jobs", "list a pool's dead jobs (attempts, time of death, last "
                 "error); redrive or purge them");
  dj->add_option("pool", fl->pool, "pool name")->required();
  dj->add_option("--limit,-n", fl->limit,
                 "at most this many, oldest first (0: all)")
    ->capture_default_str();
  dj->require_subcommand(0, 1);
  reg.add(dj, [fl](session& s) { list_dead(s, *fl); });

  auto rf = std::make_shared<dead_flags>();
  auto rd = dj->add_subcommand(
    "redrive", "move dead jobs back into the pool: each starts again at "
               "once with its attempts reset");
  add_selection(rd, *rf);
  reg.add(rd, [fl, rf](session& s) { redrive_dead(s, *fl, *rf); });

  auto pf = std::make_shared<dead_flags>();
  auto pg = dj->add_subcommand("purge", "delete dead jobs");
  add_selection(pg, *pf);
  reg.add(pg, [fl, pf](session& s) { purge_dead(s, *fl, *pf); });
}

} // namespace pulse::cli
