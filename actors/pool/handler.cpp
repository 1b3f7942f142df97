#include "pulse/actors/pool/handler.hpp"

#include <caf/scoped_actor.hpp>

#include "pulse/runtime/errors.hpp"
#include "pulse/runtime/log.hpp"

namespace pulse {

caf::error job_handler::handle_notification(const std::string& key,
                                            const std::string&) {
  log::warn("pool handler ignores notification key={} reason=\"handler does "
            "not implement handle_notification\"",
            key);
  return caf::none;
}

bool job_handler::blocks() const {
  return false;
}

namespace {

class actor_handler : public job_handler {
public:
  actor_handler(caf::actor_system& sys, job_actor hdl, caf::timespan timeout)
    : sys_(sys), hdl_(std::move(hdl)), timeout_(timeout) {
    // nop
  }

  caf::error start(const job& j) override {
    return call(job_start_atom::value, j);
  }

  caf::error stop(const std::string& key) override {
    return call(job_stop_atom::value, key);
  }

  caf::error handle_notification(const std::string& key,
                                 const std::string& payload) override {
    return call(job_notify_atom::value, key, payload);
  }

  /// Each call waits for the actor's reply.
  bool blocks() const override {
    return true;
  }

private:
  template <class... Ts>
  caf::error call(Ts&&... xs) {
    caf::scoped_actor self{sys_};
    caf::error result;
    self->request(hdl_, timeout_, std::forward<Ts>(xs)...)
      .receive([](bool) {},
               [&](caf::error& err) {
                 result = code_of(err) == errc::none
                               && err == caf::sec::request_timeout
                            ? make_error(errc::timeout, "job actor")
                            : std::move(err);
               });
    return result;
  }

  caf::actor_system& sys_;
  job_actor hdl_;
  caf::timespan timeout_;
};

} // namespace

job_handler_ptr make_actor_handler(caf::actor_system& sys, job_actor hdl,
                                   caf::timespan timeout) {
  return std::make_shared<actor_handler>(sys, std::move(hdl), timeout);
}

caf::error task_handler::start(const job& j) {
  auto r = run(j);
  return r ? caf::error{} : r.error();
}

caf::error task_handler::stop(const std::string&) {
  return caf::none;
}

bool task_handler::blocks() const {
  return true;
}

} // namespace pulse
