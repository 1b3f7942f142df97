// Self-test of the deterministic fixture: virtual time, no worker threads.

#include <boost/test/unit_test.hpp>

#include <caf/all.hpp>

#include "tests/support/fixtures.hpp"

using namespace std::chrono_literals;

namespace {

using tock_atom = caf::atom_constant<caf::atom("tock")>;

// Counts timer ticks; re-arms itself every 30 s of (virtual) time.
caf::behavior ticker(caf::stateful_actor<int>* self, std::shared_ptr<int> out) {
  self->delayed_send(self, 30s, tock_atom::value);
  return {
    [=](tock_atom) {
      *out = ++self->state;
      if (self->state < 3)
        self->delayed_send(self, 30s, tock_atom::value);
    },
  };
}

} // namespace

BOOST_FIXTURE_TEST_SUITE(deterministic, pulse::test::deterministic_fixture)

BOOST_AUTO_TEST_CASE(virtual_time_fires_timers_in_order) {
  auto ticks = std::make_shared<int>(0);
  auto t0 = std::chrono::steady_clock::now();
  auto hdl = sys->spawn(ticker, ticks);
  sched().run();
  BOOST_TEST(*ticks == 0);
  sched().advance_time(29s);
  sched().run();
  BOOST_TEST(*ticks == 0);
  sched().advance_time(1s);
  sched().run();
  BOOST_TEST(*ticks == 1);
  sched().advance_time(60s);
  sched().run();
  sched().advance_time(30s);
  sched().run();
  BOOST_TEST(*ticks == 3);
  // 120 s of virtual time took (far) less than a second of real time.
  BOOST_TEST((std::chrono::steady_clock::now() - t0 < 1s));
  caf::anon_send_exit(hdl, caf::exit_reason::user_shutdown);
  sched().run();
}

BOOST_AUTO_TEST_SUITE_END()
