// The rmap package used the way a CAF program composes it: an event-based
// actor joins a map through the runtime actor, watches it with its own
// subscriber, writes with `map_write` messages (every kind of Go Pulse
// write), reads the local copy by message and stops the replica: no
// scoped_actor and no blocking call on its side.

#include <boost/test/unit_test.hpp>

#include <future>

#include <caf/event_based_actor.hpp>

#include "pulse/messages/runtime.hpp"
#include "pulse/actors/rmap/rmap.hpp"
#include "pulse/runtime/errors.hpp"
#include "tests/support/log_capture.hpp"
#include "tests/support/actor_report.hpp"
#include "tests/support/fixtures.hpp"

using namespace pulse;
using namespace pulse::test;
using namespace std::chrono_literals;

namespace {

using step_atom = caf::atom_constant<caf::atom("t_step")>;

struct report {
  std::string error;
  std::vector<map_write_result> results; // in the order of `writes()`
  caf::error invalid;                    // the write with an empty key
  std::vector<std::string> watched;      // "set k v", "del k", ... as seen
  caf::optional<std::string> local_n;    // map_get of "n" at the end
  bool replica_down = false;
  bool finishing = false;
};

std::vector<map_write> writes() {
  return {
    {map_op::set, "k", {"v1"}},
    {map_op::set_if_not_exists, "k", {"other"}},
    {map_op::test_and_set, "k", {"v1", "v2"}},
    {map_op::inc, "n", {"5"}},
    {map_op::append_values, "l", {"a", "b"}},
    {map_op::append_unique_values, "l", {"b", "c"}},
    {map_op::remove_values, "l", {"a"}},
    {map_op::test_and_delete, "k", {"nope"}},
    {map_op::del, "k", {}},
  };
}

std::string describe_change(const map_change& c) {
  switch (c.kind) {
    case map_event_kind::change:
      return "set " + c.key + " " + c.new_value;
    case map_event_kind::del:
      return "del " + c.key;
    default:
      return "reset";
  }
}

// Forwards every change to `owner` as strings and answers `true`.
caf::behavior watcher(caf::event_based_actor* self, caf::actor owner) {
  return {
    [=](const map_changes& xs) {
      for (auto& c : xs.changes)
        self->send(owner, describe_change(c));
      return true;
    },
  };
}

caf::behavior app(caf::event_based_actor* self, runtime_actor rt,
                  std::shared_ptr<std::promise<report>> out) {
  auto r = std::make_shared<report>();
  auto replica = std::make_shared<replica_actor>();
  auto fail = failing(self, out);
  map_options opts;
  opts.dedicated_thread = false; // a replica on the scheduler's threads
  self->request(rt, 10s, spawn_map_atom::value, std::string{"app-map"}, opts)
    .then(
      [=](replica_actor rep) {
        *replica = rep;
        self->monitor(rep);
        auto w = self->spawn(watcher, caf::actor{self});
        self->request(rep, 5s, sub_atom::value, caf::actor_cast<pulse::map_changes_subscriber_actor>(w))
          .then([=](bool) { self->send(self, step_atom::value, size_t{0}); },
                [=](caf::error& e) { fail("subscribe", e); });
      },
      [=](caf::error& e) { fail("join", e); });
  self->set_down_handler([=](const caf::down_msg& msg) {
    if (msg.source != replica->address())
      return;
    r->replica_down = true;
    out->set_value(*r);
    self->quit();
  });
  // Ends once the watcher saw the last change and the invalid write failed.
  auto finish = [=] {
    if (r->finishing || r->watched.empty() || r->watched.back() != "del k"
        || !r->invalid)
      return;
    r->finishing = true;
    self->request(*replica, 5s, map_get_atom::value, std::string{"n"})
        .then(
          [=](const caf::optional<std::string>& v) {
            r->local_n = v;
            self->send_exit(*replica, caf::exit_reason::user_shutdown);
          },
          [=](caf::error& e) { fail("map_get", e); });
  };
  return {
    // Runs the writes one after the other, then one with an invalid key.
    [=](step_atom, size_t i) {
      auto ws = writes();
      if (i == ws.size()) {
        self->request(*replica, 5s, map_write_atom::value,
                      map_write{map_op::set, "", {"x"}})
          .then(
            [=](const map_write_result&) {
              fail("invalid write", make_error(errc::protocol_error, "succeeded"));
            },
            [=](caf::error& e) {
              r->invalid = e;
              finish();
            });
        return;
      }
      self->request(*replica, 5s, map_write_atom::value, ws[i])
        .then(
          [=](map_write_result& res) {
            r->results.push_back(std::move(res));
            self->send(self, step_atom::value, i + 1);
          },
          [=](caf::error& e) { fail("write", e); });
    },
    [=](const std::string& change) {
      r->watched.push_back(change);
      finish();
    },
  };
}

} // namespace

BOOST_FIXTURE_TEST_SUITE(rmap_actor_api, actor_fixture)

BOOST_AUTO_TEST_CASE(an_actor_joins_writes_watches_and_stops_a_map) {
  auto reported = run_app<report>(*sys, 20s, app, rt->actor());
  BOOST_REQUIRE(reported);
  auto& r = *reported;
  BOOST_REQUIRE_MESSAGE(r.error.empty(), r.error);
  BOOST_TEST(r.replica_down);
  BOOST_REQUIRE(r.results.size() == writes().size());
  auto& res = r.results;
  BOOST_TEST(!res[0].prev);            // set k v1
  BOOST_TEST(res[0].rev > 0u);
  BOOST_TEST(!res[1].done);            // set_if_not_exists: k exists
  BOOST_TEST(res[2].done);             // test_and_set v1 -> v2
  BOOST_TEST(*res[2].prev == "v1");
  BOOST_TEST(res[3].number == 5);      // inc n 5
  BOOST_TEST(res[4].values == (std::vector<std::string>{"a", "b"}));
  BOOST_TEST(res[5].values == (std::vector<std::string>{"a", "b", "c"}));
  BOOST_TEST(res[6].done);             // remove a
  BOOST_TEST(res[6].present);
  BOOST_TEST(res[6].values == (std::vector<std::string>{"b", "c"}));
  BOOST_TEST(!res[7].done);            // test_and_delete with a wrong test
  BOOST_TEST(*res[7].prev == "v2");
  BOOST_TEST(res[8].done);             // del k
  BOOST_TEST(*res[8].prev == "v2");
  BOOST_TEST(code_of(r.invalid) == errc::invalid_argument);
  BOOST_REQUIRE(!r.watched.empty());
  BOOST_TEST(r.watched.front() == "set k v1");
  BOOST_TEST(r.watched.back() == "del k");
  BOOST_REQUIRE(r.local_n);
  BOOST_TEST(*r.local_n == "5");
  // The writes reached the Redis hash that Go Pulse reads.
  auto n = redis().call(make_command("HGET", "map:app-map:content", "n"));
  BOOST_REQUIRE_MESSAGE(n, describe(n));
  BOOST_TEST(n->str == "5");
}

BOOST_AUTO_TEST_CASE(subscribers_answering_badly_or_not_at_all_are_logged) {
  log_capture logs;
  rmap::options o;
  o.slow_subscriber = 100ms;
  auto m = rmap::map::join(*rt, "badsubs", o);
  BOOST_REQUIRE_MESSAGE(m, describe(m));
  auto odd = sys->spawn([](caf::event_based_actor*) -> caf::behavior {
    return {[](map_event_atom, const std::string&, map_event_kind) {
      return std::string{"not a bool"};
    }};
  });
  auto held = std::make_shared<std::vector<caf::response_promise>>();
  auto mute = sys->spawn([held](caf::event_based_actor* s) -> caf::behavior {
    return {[=](const map_changes&) {
      held->push_back(s->make_response_promise());
    }};
  });
  (*self)->request((*m)->replica(), 5s, sub_atom::value,
                   caf::actor_cast<map_event_subscriber_actor>(odd))
    .receive([](bool) {}, [](caf::error&) {});
  (*self)->request((*m)->replica(), 5s, sub_atom::value,
                   caf::actor_cast<map_changes_subscriber_actor>(mute))
    .receive([](bool) {}, [](caf::error&) {});
  BOOST_REQUIRE((*m)->set("k", "v"));
  BOOST_TEST(wait_until([&] {
    return logs.contains("map subscriber dropped")
           && logs.contains("map subscriber has not answered");
  }));
  replica_stats st;
  (*self)->request((*m)->replica(), 5s, stats_atom::value)
    .receive([&](const replica_stats& x) { st = x; }, [](caf::error&) {});
  BOOST_TEST(st.subscribers == 1u); // the mute one stays, the odd one went
  (*self)->send_exit(odd, caf::exit_reason::user_shutdown);
  (*self)->send_exit(mute, caf::exit_reason::user_shutdown);
}

BOOST_AUTO_TEST_SUITE_END()
