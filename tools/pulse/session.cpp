#include "session.hpp"

#include <algorithm>
#include <atomic>
#include <csignal>

#include <CLI/App.hpp>

#include "output.hpp"
#include "pulse/runtime/errors.hpp"

namespace pulse::cli {

namespace {

std::string describe(const command& cmd) {
  return cmd.args.empty() ? std::string{"command"} : cmd.args.front();
}

std::atomic<bool> stop_requested{false};

extern "C" void on_signal(int) {
  stop_requested = true;
}

} // namespace

session::session(caf::actor_system& sys, options opts, global_flags flags)
  : sys_(sys), opts_(std::move(opts)), flags_(flags) {
  if (opts_.redis.use_embedded())
    fail("no Redis configured: set pulse.redis.host, pulse.redis.url or "
         "pulse.redis.unix-socket (caf-application.conf, or "
         "--pulse.redis.host=<host>); the pulse tool never starts an "
         "embedded server");
  auto rt = runtime::start(sys_, opts_);
  if (!rt)
    fail("cannot reach Redis at " + opts_.redis.endpoint() + ": "
         + render(rt.error()));
  rt_ = std::move(*rt);
  client_ = std::make_unique<client>(sys_, rt_->gateway());
}

session::~session() {
  client_.reset();
  rt_.reset();
}

resp::value session::call(command cmd) {
  auto what = describe(cmd);
  auto r = client_->call(std::move(cmd));
  if (!r)
    fail(what + " failed: " + render(r.error()));
  return std::move(*r);
}

std::vector<resp::value> session::batch(std::vector<command> cmds) {
  if (cmds.empty())
    return {};
  auto what = describe(cmds.front());
  auto r = client_->batch(std::move(cmds));
  if (!r)
    fail(what + " failed: " + render(r.error()));
  return std::move(*r);
}

resp::value session::eval(const script& scr, std::vector<std::string> keys,
                          std::vector<std::string> args) {
  auto r = client_->eval(scr, std::move(keys), std::move(args));
  if (!r)
    fail("script failed: " + render(r.error()));
  return std::move(*r);
}

std::vector<std::string> session::scan(const std::string& pattern,
                                       const std::string& type) {
  scan_query q;
  q.pattern = pattern;
  q.type = type;
  auto r = client_->scan(std::move(q));
  if (!r)
    fail("SCAN failed: " + render(r.error()));
  return std::move(r->keys);
}

int64_t session::now_ms() {
  auto r = call(make_command("TIME"));
  if (!r.is_array() || r.elements.size() != 2)
    fail("TIME: unexpected reply " + r.render());
  return to_int(r.elements[0].str) * 1000 + to_int(r.elements[1].str) / 1000;
}

std::map<std::string, resp::value> pairs(const resp::value& reply) {
  std::map<std::string, resp::value> result;
  for (size_t i = 0; i + 1 < reply.elements.size(); i += 2)
    result[reply.elements[i].str] = reply.elements[i + 1];
  return result;
}

void registry::add(CLI::App* app, handler fn) {
  entries_.emplace_back(app, std::move(fn));
}

const handler* registry::selected() const {
  const handler* best = nullptr;
  int best_depth = -1;
  for (auto& [app, fn] : entries_) {
    if (!app->parsed())
      continue;
    int depth = 0;
    for (auto* p = app->get_parent(); p != nullptr; p = p->get_parent())
      ++depth;
    if (depth > best_depth) {
      best = &fn;
      best_depth = depth;
    }
  }
  return best;
}

bool interrupted() {
  return stop_requested.load();
}

void install_signal_handlers() {
  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);
}

} // namespace pulse::cli
