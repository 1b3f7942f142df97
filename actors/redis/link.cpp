#include "actors/redis/link.hpp"

#include <caf/actor_system.hpp>
#include <caf/blocking_actor.hpp>
#include <caf/io/receive_policy.hpp>
#include <caf/io/system_messages.hpp>
#include <caf/send.hpp>

#include "runtime/connect.hpp"
#include "runtime/errors.hpp"
#include "runtime/log.hpp"

namespace pulse::detail {

link::link(caf::io::broker* self, redis_options opts, std::string role)
  : self_(self),
    opts_(std::move(opts)),
    role_(std::move(role)),
    backoff_(opts_.reconnect_min, opts_.reconnect_max) {
  // nop
}

void link::callbacks(reply_fn on_reply, up_fn on_up, down_fn on_down) {
  on_reply_ = std::move(on_reply);
  on_up_ = std::move(on_up);
  on_down_ = std::move(on_down);
}

void link::connect() {
  if (connected_ || connecting_ || stopped_)
    return;
  connecting_ = true;
  auto epoch = ++epoch_;
  auto broker = caf::actor_cast<caf::actor>(self_);
  auto opts = opts_;
  // connect_redis blocks: run it on a detached helper, never on the broker.
  self_->system().spawn<caf::detached>(
    [broker, opts, epoch](caf::blocking_actor* helper) {
      auto res = connect_redis(opts);
      if (!res) {
        caf::anon_send(broker, link_fail_atom::value, epoch, res.error());
        return;
      }
      auto fd = res->fd;
      helper->request(broker, caf::infinite, link_up_atom::value, epoch, fd,
                      res->client_id)
        .receive(
          [fd](bool accepted) {
            if (!accepted)
              close_socket(fd);
          },
          [fd](caf::error&) { close_socket(fd); });
    });
}

caf::message_handler link::handlers() {
  return {
    [this](link_up_atom, uint64_t epoch, int fd, int64_t client_id) {
      if (epoch != epoch_ || stopped_ || connected_)
        return false;
      connecting_ = false;
      hdl_ = self_->add_scribe(fd);
      self_->configure_read(hdl_, caf::io::receive_policy::at_most(64 * 1024));
      connected_ = true;
      client_id_ = client_id;
      ++connects_;
      backoff_.reset();
      decoder_.reset();
      log::info("redis connected role={} host={} port={} client_id={}", role_,
                opts_.host, opts_.port, client_id);
      if (on_up_)
        on_up_();
      return true;
    },
    [this](link_fail_atom, uint64_t epoch, const caf::error& err) {
      if (epoch != epoch_ || stopped_)
        return;
      connecting_ = false;
      log::warn("redis connect failed role={} host={} port={} attempt={} "
                "error=\"{}\"",
                role_, opts_.host, opts_.port, backoff_.attempts() + 1, err);
      if (on_down_)
        on_down_(err);
      schedule_retry(false);
    },
    [this](link_retry_atom, uint64_t epoch) {
      if (epoch == epoch_)
        connect();
    },
    [this](const caf::io::new_data_msg& msg) {
      if (connected_ && msg.handle == hdl_)
        on_data(msg.buf);
    },
    [this](const caf::io::connection_closed_msg& msg) {
      if (connected_ && msg.handle == hdl_)
        drop(make_error(errc::disconnected, "connection to "
                                              + opts_.host + ":"
                                              + std::to_string(opts_.port)
                                              + " closed"),
             true);
    },
  };
}

void link::on_data(const std::vector<char>& buf) {
  if (auto err = decoder_.feed(buf.data(), buf.size())) {
    drop(err, true);
    return;
  }
  resp::value reply;
  for (;;) {
    auto got = decoder_.next(reply);
    if (!got) {
      drop(got.error(), true);
      return;
    }
    if (!*got)
      return;
    on_reply_(std::move(reply));
    // The callback may have reset the connection.
    if (!connected_)
      return;
  }
}

void link::write(const std::vector<std::string>& args) {
  resp::encode(self_->wr_buf(hdl_), args);
}

void link::flush() {
  if (connected_)
    self_->flush(hdl_);
}

void link::drop(const caf::error& reason, bool retry_now) {
  if (!connected_)
    return;
  connected_ = false;
  self_->close(hdl_);
  log::warn("redis connection lost role={} host={} port={} reason=\"{}\"",
            role_, opts_.host, opts_.port, reason);
  if (on_down_)
    on_down_(reason);
  schedule_retry(retry_now);
}

void link::reset(const caf::error& reason) {
  drop(reason, true);
}

void link::schedule_retry(bool now) {
  if (stopped_)
    return;
  ++epoch_;
  if (now) {
    connect();
    return;
  }
  self_->delayed_send(self_, backoff_.next(), link_retry_atom::value, epoch_);
}

void link::shutdown() {
  stopped_ = true;
  ++epoch_;
  if (connected_) {
    connected_ = false;
    self_->close(hdl_);
  }
}

} // namespace pulse::detail
