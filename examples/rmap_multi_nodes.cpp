// rmap_multi_nodes: two processes share a replicated map; this one watches,
// a second process (this program again, started with PULSE_ROLE=writer)
// writes. With no Redis configured, the watcher's embedded server is used by
// both.

#include <sys/wait.h>
#include <unistd.h>

#include "examples/common.hpp"
#include "pulse/actors/rmap/rmap.hpp"

namespace {

int writer(example::app& app) {
  auto m = app.must(pulse::rmap::map::join(*app.rt, "inventory"), "join");
  for (auto item : {"apples=12", "pears=3", "plums=40"}) {
    std::string kv = item;
    auto eq = kv.find('=');
    m->set(kv.substr(0, eq), kv.substr(eq + 1));
  }
  m->inc("pears", -1);
  m->del("plums");
  return 0;
}

} // namespace

int main(int argc, char** argv) {
  example::app app{argc, argv};
  if (auto role = std::getenv("PULSE_ROLE"); role && std::string{role} == "writer")
    return writer(app);
  auto m = app.must(pulse::rmap::map::join(*app.rt, "inventory"), "join");
  auto& sys = *app.sys;
  caf::scoped_actor self{sys};
  auto printed = std::make_shared<std::atomic<int>>(0);
  auto watcher = sys.spawn([printed](caf::event_based_actor*) -> caf::behavior {
    return {
      [printed](pulse::map_changes& xs) {
        for (auto& c : xs.changes) {
          std::cout << "watcher saw "
                    << (c.kind == pulse::map_event_kind::del ? "delete" : "set")
                    << " " << c.key << " " << c.old_value << " -> "
                    << c.new_value << std::endl;
          ++*printed;
        }
        return true;
      },
    };
  });
  self->request(m->replica(), std::chrono::seconds{5}, pulse::sub_atom::value,
                caf::actor_cast<pulse::map_changes_subscriber_actor>(watcher))
    .receive([](bool) {}, [](caf::error&) {});
  // Start the writer process against the same Redis.
  auto host = "--pulse.redis.host=\"" + app.rt->redis().host + "\"";
  auto port = "--pulse.redis.port=" + std::to_string(app.rt->redis().port);
  pid_t pid = ::fork();
  if (pid == 0) {
    ::setenv("PULSE_ROLE", "writer", 1);
    ::execl("/proc/self/exe", argv[0], host.c_str(), port.c_str(),
            "--pulse.log.level=\"warn\"", static_cast<char*>(nullptr));
    ::_exit(127);
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  for (int i = 0; i < 100 && *printed < 5; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds{10});
  std::cout << "watcher's copy: ";
  for (auto& [k, v] : m->snapshot())
    std::cout << k << "=" << v << " ";
  std::cout << std::endl;
  self->send_exit(watcher, caf::exit_reason::user_shutdown);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
}
