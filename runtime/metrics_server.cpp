#include "pulse/runtime/metrics_server.hpp"

#include <algorithm>
#include <chrono>
#include <thread>

#include <sys/socket.h>

#include <httplib.h>

#include "pulse/runtime/dashboard.hpp"
#include "pulse/runtime/errors.hpp"
#include "pulse/runtime/log.hpp"
#include "pulse/runtime/metrics.hpp"
#include "pulse/runtime/prometheus.hpp"
#include "pulse/runtime/runtime.hpp"

namespace pulse {

namespace {

/// `text` as the inside of a JSON string: quotes, backslashes and control
/// characters become `'`.
std::string json_safe(std::string text) {
  for (auto& c : text)
    if (c == '"' || c == '\\' || static_cast<unsigned char>(c) < 0x20)
      c = '\'';
  return text;
}

} // namespace

struct metrics_server::impl {
  runtime& rt;
  metrics_options opts;
  httplib::Server srv;
  std::thread thread;
  uint16_t port = 0;

  impl(runtime& rt, metrics_options opts) : rt(rt), opts(std::move(opts)) {
    // nop
  }

  void routes() {
    srv.Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
      auto snap = collect_metrics(rt, opts.scrape_timeout);
      if (!snap) {
        res.status = 503;
        res.set_content(render(snap.error()) + "\n", "text/plain");
        return;
      }
      // Pool keys in Redis; on failure their series are left out.
      if (auto err = add_pool_keys(rt, *snap, opts.scrape_timeout))
        log::debug("metrics: pool keys left out error=\"{}\"", err);
      res.set_content(render_prometheus(*snap), prometheus::content_type);
    });
    // The dashboard: the page, its state and its actions.
    srv.Get("/", [](const httplib::Request&, httplib::Response& res) {
      res.set_content(dashboard_html(), "text/html; charset=utf-8");
    });
    srv.Get("/api/state",
            [this](const httplib::Request&, httplib::Response& res) {
              auto snap = collect_metrics(rt, opts.scrape_timeout);
              if (!snap) {
                res.status = 503;
                res.set_content("{\"error\":\"timeout\"}",
                                "application/json");
                return;
              }
              res.set_content(dashboard_state(rt, *snap, opts.scrape_timeout),
                              "application/json");
            });
    srv.Post("/api/redrive",
             [this](const httplib::Request& req, httplib::Response& res) {
               auto moved = redrive_dead_letters(
                 rt, req.get_param_value("streams"),
                 std::max(opts.scrape_timeout,
                          caf::timespan{std::chrono::seconds{10}}));
               if (!moved) {
                 // The message as a JSON string: no quotes, backslashes or
                 // control characters inside.
                 res.status = 400;
                 res.set_content("{\"error\":\""
                                   + json_safe(render(moved.error())) + "\"}",
                                 "application/json");
                 return;
               }
               res.set_content("{\"moved\":" + std::to_string(*moved) + "}",
                               "application/json");
             });
    srv.Post("/api/stop",
             [this](const httplib::Request& req, httplib::Response& res) {
               auto key = req.get_param_value("key");
               auto err = stop_pool_job(rt, req.get_param_value("pool"), key,
                                        opts.scrape_timeout);
               if (err) {
                 res.status = code_of(err) == errc::not_found ? 404 : 400;
                 res.set_content("{\"error\":\"" + json_safe(render(err))
                                   + "\"}",
                                 "application/json");
                 return;
               }
               res.set_content("{\"stopped\":\"" + json_safe(key) + "\"}",
                               "application/json");
             });
    // A pool's dead jobs: `key` names one, none means all.
    for (bool purge : {false, true})
      srv.Post(purge ? "/api/dead-jobs/purge" : "/api/dead-jobs/redrive",
               [this, purge](const httplib::Request& req,
                             httplib::Response& res) {
                 auto r = steer_dead_jobs(
                   rt, req.get_param_value("pool"),
                   req.get_param_value("key"), purge,
                   std::max(opts.scrape_timeout,
                            caf::timespan{std::chrono::seconds{10}}));
                 if (!r) {
                   res.status = 400;
                   res.set_content("{\"error\":\""
                                     + json_safe(render(r.error())) + "\"}",
                                   "application/json");
                   return;
                 }
                 res.set_content(std::string{"{\""}
                                   + (purge ? "deleted" : "moved") + "\":"
                                   + std::to_string(r->done) + ",\"left\":"
                                   + std::to_string(r->left) + "}",
                                 "application/json");
               });
  }
};

metrics_server::metrics_server(std::unique_ptr<impl> ptr)
  : impl_(std::move(ptr)) {
  // nop
}

caf::expected<std::unique_ptr<metrics_server>>
metrics_server::start(runtime& rt, const metrics_options& opts) {
  auto p = std::make_unique<impl>(rt, opts);
  // Few threads: scrapes are rare. Short keep-alive and read timeouts bound
  // how long `stop` waits for idle connections.
  p->srv.new_task_queue = [] { return new httplib::ThreadPool(4); };
  p->srv.set_keep_alive_timeout(1);
  p->srv.set_read_timeout(2, 0);
  p->srv.set_write_timeout(5, 0);
  // SO_REUSEADDR only: httplib's default also sets SO_REUSEPORT, which lets
  // a second process bind the same port and silently share the scrapes.
  p->srv.set_socket_options([](socket_t sock) {
    int yes = 1;
    ::setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
  });
  p->routes();
  auto where = opts.bind + ":" + std::to_string(opts.port);
  if (!p->srv.bind_to_port(opts.bind, opts.port))
    return make_error(errc::invalid_config,
                      "pulse.metrics: cannot listen on " + where);
  p->port = opts.port;
  auto* raw = p.get();
  p->thread = std::thread{[raw] {
    log::name_thread("pulse.metrics"); // its request threads inherit it
    raw->srv.listen_after_bind();
  }};
  // `stop` only works once the server runs: wait for it (bounded).
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds{5};
  while (!p->srv.is_running()) {
    if (std::chrono::steady_clock::now() > deadline) {
      p->srv.stop();
      p->thread.join();
      return make_error(errc::invalid_config,
                        "pulse.metrics: server did not start on " + where);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds{1});
  }
  log::info("metrics endpoint listening address={} path=/metrics", where);
  return std::unique_ptr<metrics_server>{new metrics_server(std::move(p))};
}

uint16_t metrics_server::port() const noexcept {
  return impl_ ? impl_->port : 0;
}

void metrics_server::stop() {
  if (!impl_ || !impl_->thread.joinable())
    return;
  impl_->srv.stop();
  impl_->thread.join();
  log::info("metrics endpoint stopped port={}", impl_->port);
}

metrics_server::~metrics_server() {
  stop();
}

} // namespace pulse
