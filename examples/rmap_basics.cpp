// rmap_basics: a replicated map in one process: writes, local reads, lists,
// counters, and a subscriber that sees every change.

#include "examples/common.hpp"
#include "pulse/actors/rmap/rmap.hpp"

int main(int argc, char** argv) {
  example::app app{argc, argv};
  auto& sys = *app.sys;
  auto flags = app.must(pulse::rmap::map::join(*app.rt, "feature-flags"),
                        "join");
  // Print each applied change (key, old and new value).
  auto watcher = sys.spawn([](caf::event_based_actor*) -> caf::behavior {
    return {
      [](pulse::map_changes& xs) {
        for (auto& c : xs.changes)
          std::cout << "  change rev=" << c.rev << " key=" << c.key
                    << " old=" << c.old_value << " new=" << c.new_value
                    << std::endl;
        return true;
      },
    };
  });
  caf::scoped_actor self{sys};
  self->request(flags->replica(), std::chrono::seconds{5},
                pulse::sub_atom::value, caf::actor_cast<pulse::map_changes_subscriber_actor>(watcher))
    .receive([](bool) {}, [](caf::error&) {});
  flags->set_and_wait("new-checkout", "on");
  std::cout << "new-checkout = " << flags->get("new-checkout").value_or("?")
            << " (read locally)" << std::endl;
  flags->append_unique_values("beta-users", {"ada", "alan", "ada"});
  flags->inc("rollout-percent", 10);
  flags->set_and_wait("dark-mode", "off");
  auto users = flags->get_values("beta-users");
  std::cout << "beta-users has " << (users ? users->size() : 0)
            << " entries, map has " << flags->len() << " keys at rev "
            << flags->rev() << std::endl;
  std::this_thread::sleep_for(std::chrono::milliseconds{100});
  self->send_exit(watcher, caf::exit_reason::user_shutdown);
}
