// The pool's Lua scripts carry only the prologue statements they use
// (`pool_scripts::detail::make`): every prologue name a script mentions is
// defined in it, and unused helpers are left out (no server).

#include <boost/test/unit_test.hpp>

#include <cctype>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "pulse/actors/pool/scripts.hpp"
#include "pulse/actors/pool/scripts_prologue.hpp"

using namespace pulse;

namespace {

using script_fn = const script& (*) ();

/// Every script of the pool, by name.
std::vector<std::pair<const char*, script_fn>> all_scripts() {
  namespace ps = pool_scripts;
  return {
    {"join_node", ps::join_node},         {"add_worker", ps::add_worker},
    {"remove_workers", ps::remove_workers}, {"members", ps::members},
    {"dispatch_many", ps::dispatch_many}, {"confirm", ps::confirm},
    {"confirm_many", ps::confirm_many},   {"resync", ps::resync},
    {"intake_drain", ps::intake_drain},   {"move", ps::move},
    {"stop", ps::stop},                   {"notify", ps::notify},
    {"keepalive", ps::keepalive},         {"reap", ps::reap},
    {"begin_shutdown", ps::begin_shutdown}, {"live_nodes", ps::live_nodes},
    {"purge", ps::purge},                 {"schedule_job", ps::schedule_job},
    {"complete", ps::complete},           {"cancel_delayed", ps::cancel_delayed},
    {"due_jobs", ps::due_jobs},           {"promote", ps::promote},
    {"dead_jobs", ps::dead_jobs},         {"redrive", ps::redrive},
    {"purge_dead", ps::purge_dead},       {"ticker_join", ps::ticker_join},
    {"ticker_fire", ps::ticker_fire},
  };
}

/// The identifiers in `src` outside comments and string literals.
std::set<std::string> code_words(const std::string& src) {
  std::set<std::string> out;
  size_t i = 0;
  while (i < src.size()) {
    char c = src[i];
    if (c == '-' && i + 1 < src.size() && src[i + 1] == '-') {
      i = src.find('\n', i);
      if (i == std::string::npos)
        break;
    } else if (c == '\'' || c == '"') {
      for (++i; i < src.size() && src[i] != c; ++i)
        if (src[i] == '\\')
          ++i;
      ++i;
    } else if (std::isalpha(static_cast<unsigned char>(c)) || c == '_') {
      auto j = i;
      while (j < src.size()
             && (std::isalnum(static_cast<unsigned char>(src[j]))
                 || src[j] == '_'))
        ++j;
      // `r.o`, `sl.next`: a field, not a variable.
      if (i == 0 || src[i - 1] != '.' || (i > 1 && src[i - 2] == '.'))
        out.insert(src.substr(i, j - i));
      i = j;
    } else {
      ++i;
    }
  }
  return out;
}

/// Whether `src` defines the local `name` at its top level.
bool defines(const std::string& src, const std::string& name) {
  for (auto def : {"\nlocal " + name + " = ", "\nlocal function " + name + "("})
    if (src.find(def) != std::string::npos || src.rfind(def.substr(1), 0) == 0)
      return true;
  return false;
}

} // namespace

BOOST_AUTO_TEST_SUITE(pool_scripts_prologue)

BOOST_AUTO_TEST_CASE(every_prologue_name_a_script_uses_is_defined_in_it) {
  auto names = pool_scripts::detail::prologue_names();
  BOOST_TEST(names.size() >= 40u);
  for (auto& [label, fn] : all_scripts()) {
    auto& src = fn().source;
    auto used = code_words(src);
    for (auto& n : names)
      if (used.count(n) != 0)
        BOOST_TEST(defines(src, n), label << " uses " << n
                                          << " without defining it");
  }
}

BOOST_AUTO_TEST_CASE(scripts_leave_out_the_helpers_they_do_not_use) {
  auto& drain = pool_scripts::intake_drain().source;
  BOOST_TEST(!defines(drain, "settle_failure"));
  BOOST_TEST(!defines(drain, "slots"));
  BOOST_TEST(!defines(drain, "DEADINFO"));
  // dispatch_many uses the rate limiter, and `slots` uses RATE and RSEQ.
  auto& dispatch = pool_scripts::dispatch_many().source;
  BOOST_TEST(defines(dispatch, "slots"));
  BOOST_TEST(defines(dispatch, "RATE"));
  BOOST_TEST(defines(dispatch, "RSEQ"));
  BOOST_TEST(!defines(dispatch, "settle_failure"));
  // Statements keep the prologue's order: a key name before its helpers.
  BOOST_TEST(dispatch.find("local RATE = ") < dispatch.find("local function slots("));
}

BOOST_AUTO_TEST_SUITE_END()
