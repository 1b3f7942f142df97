#include "pulse/runtime/metrics_server.hpp"

#include <chrono>
#include <thread>

#include <sys/socket.h>

#include <httplib.h>

#include "pulse/runtime/errors.hpp"
#include "pulse/runtime/log.hpp"
#include "pulse/runtime/metrics.hpp"
#include "pulse/runtime/prometheus.hpp"
#include "pulse/runtime/runtime.hpp"

namespace pulse {

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
      res.set_content(render_prometheus(*snap), prometheus::content_type);
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
  p->thread = std::thread{[raw] { raw->srv.listen_after_bind(); }};
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
