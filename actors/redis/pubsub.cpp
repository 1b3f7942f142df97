#include "pulse/actors/redis/pubsub.hpp"
#include "pulse/actors/redis/inline_unit.hpp"

#include <map>
#include <memory>
#include <atomic>
#include <set>
#include <vector>

#include <caf/actor_system.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/mailbox_element.hpp>
#include <caf/response_promise.hpp>
#include <caf/send.hpp>

#include "pulse/actors/redis/link.hpp"
#include "pulse/runtime/errors.hpp"
#include "pulse/runtime/log.hpp"

namespace pulse {

namespace {

/// Subscriptions of one kind (channels or patterns).
struct topic_table {
  /// `SUBSCRIBE` or `PSUBSCRIBE`.
  const char* sub_cmd;
  /// `UNSUBSCRIBE` or `PUNSUBSCRIBE`.
  const char* unsub_cmd;
  /// Name -> subscribers.
  std::map<std::string, std::set<pubsub_subscriber_actor>> subscribers;
  /// Confirmed on the current connection.
  std::set<std::string> confirmed;
  /// Confirmed on some earlier connection (resub signal after reconnect).
  std::set<std::string> ever_confirmed;
  /// Requests waiting for the confirmation of a name.
  std::map<std::string, std::vector<caf::response_promise>> waiting;
  /// Fast paths of subscribers that registered one.
  std::map<std::string, std::map<pubsub_subscriber_actor, direct_handler>>
    direct;
};

/// Who gets messages of which channel or pattern: a copy-on-write table
/// the reader thread reads to deliver messages without a hop through the
/// pub/sub actor.
struct routes {
  using targets
    = std::vector<std::pair<pubsub_subscriber_actor, direct_handler>>;
  std::map<std::string, targets> channels;
  std::map<std::string, targets> patterns;
};

struct pubsub_state {
  pubsub_state(caf::event_based_actor* self, const redis_options& opts)
    : self(self), conn(self, opts, "pubsub") {
    channels.sub_cmd = "SUBSCRIBE";
    channels.unsub_cmd = "UNSUBSCRIBE";
    patterns.sub_cmd = "PSUBSCRIBE";
    patterns.unsub_cmd = "PUNSUBSCRIBE";
  }

  caf::event_based_actor* self;
  detail::link conn;
  topic_table channels;
  topic_table patterns;
  /// How many subscriptions each monitored actor holds.
  std::map<pubsub_subscriber_actor, size_t> monitored;
  /// Messages received (counted on the reader thread or the actor).
  std::atomic<uint64_t> messages{0};
  /// Connects so far (the first included).
  uint64_t connects = 0;
  /// Whether the connection is up.
  bool up = false;
  /// Published after every change of the subscriber sets.
  std::shared_ptr<const routes> table = std::make_shared<routes>();

  void publish_routes() {
    auto r = std::make_shared<routes>();
    auto fill = [](topic_table& t, std::map<std::string, routes::targets>& out) {
      for (auto& [name, subs] : t.subscribers) {
        auto& targets = out[name];
        auto d = t.direct.find(name);
        for (auto& who : subs) {
          direct_handler fn;
          if (d != t.direct.end()) {
            auto i = d->second.find(who);
            if (i != d->second.end())
              fn = i->second;
          }
          targets.emplace_back(who, std::move(fn));
        }
      }
    };
    fill(channels, r->channels);
    fill(patterns, r->patterns);
    std::atomic_store(&table, std::shared_ptr<const routes>{std::move(r)});
  }

  static void dispatch(const routes::targets& targets,
                       const pubsub_message& msg) {
    // On the reader thread, a subscriber woken by the message runs there
    // (`inline_unit`).
    for (auto& [who, fn] : targets)
      if (!fn || !(*fn)(msg))
        if (auto* dest = caf::actor_cast<caf::abstract_actor*>(who))
          dest->enqueue(caf::make_mailbox_element(nullptr,
                                                  caf::make_message_id(), {},
                                                  msg),
                        detail::inline_unit::current());
  }

  // Runs on the reader thread: delivers messages directly, leaves control
  // replies (confirmations, errors) for the actor.
  caf::error on_reader(std::vector<resp::value>& xs) {
    auto r = std::atomic_load(&table);
    auto keep = xs.begin();
    for (auto& x : xs) {
      if (x.is_array() && x.elements.size() >= 3) {
        auto& e = x.elements;
        auto& kind = e[0].str;
        if (kind == "message") {
          messages.fetch_add(1, std::memory_order_relaxed);
          auto i = r->channels.find(e[1].str);
          if (i != r->channels.end())
            dispatch(i->second, pubsub_message{e[1].str, {}, e[2].str});
          continue;
        }
        if (kind == "pmessage" && e.size() >= 4) {
          messages.fetch_add(1, std::memory_order_relaxed);
          auto i = r->patterns.find(e[1].str);
          if (i != r->patterns.end())
            dispatch(i->second, pubsub_message{e[2].str, e[1].str, e[3].str});
          continue;
        }
      }
      if (&*keep != &x) // no self-move: it would empty the reply
        *keep = std::move(x);
      ++keep;
    }
    xs.erase(keep, xs.end());
    return caf::none;
  }

  void watch(const pubsub_subscriber_actor& who) {
    if (monitored[who]++ == 0)
      self->monitor(who);
  }

  void unwatch(const pubsub_subscriber_actor& who) {
    auto i = monitored.find(who);
    if (i != monitored.end() && --i->second == 0) {
      self->demonitor(who.address());
      monitored.erase(i);
    }
  }

  void add(topic_table& t, const std::string& name,
           const pubsub_subscriber_actor& who,
           caf::response_promise rp, direct_handler fn = nullptr) {
    if (!who) {
      rp.deliver(make_error(errc::invalid_argument, "invalid subscriber"));
      return;
    }
    auto& subs = t.subscribers[name];
    bool added = subs.insert(who).second;
    if (added)
      watch(who);
    if (fn)
      t.direct[name][who] = std::move(fn);
    if (added || t.direct.count(name) > 0)
      publish_routes();
    if (t.confirmed.count(name) > 0) {
      rp.deliver(true);
      return;
    }
    bool first_waiter = t.waiting[name].empty();
    t.waiting[name].emplace_back(std::move(rp));
    if (conn.connected() && first_waiter && subs.size() == 1) {
      conn.write({t.sub_cmd, name});
      conn.flush_later();
    } else {
      conn.connect();
    }
  }

  bool remove(topic_table& t, const std::string& name,
              const pubsub_subscriber_actor& who) {
    auto i = t.subscribers.find(name);
    if (i == t.subscribers.end() || i->second.erase(who) == 0)
      return false;
    unwatch(who);
    if (auto d = t.direct.find(name); d != t.direct.end()) {
      d->second.erase(who);
      if (d->second.empty())
        t.direct.erase(d);
    }
    publish_routes();
    if (i->second.empty()) {
      t.subscribers.erase(i);
      t.confirmed.erase(name);
      t.ever_confirmed.erase(name);
      if (conn.connected()) {
        conn.write({t.unsub_cmd, name});
        conn.flush_later();
      }
    }
    return true;
  }

  void on_confirm(topic_table& t, const std::string& name) {
    if (t.subscribers.count(name) == 0)
      return; // unsubscribed meanwhile; its UNSUBSCRIBE is on the way
    t.confirmed.insert(name);
    auto w = t.waiting.find(name);
    if (w != t.waiting.end()) {
      for (auto& rp : w->second)
        rp.deliver(true);
      t.waiting.erase(w);
    }
    if (!t.ever_confirmed.insert(name).second) {
      // Subscribed again after a lost connection.
      for (auto& who : t.subscribers[name])
        self->send(who, resub_atom::value, name);
    }
  }

  void deliver(const std::string& channel, const std::string& pattern,
               std::string payload) {
    auto& t = pattern.empty() ? channels : patterns;
    auto i = t.subscribers.find(pattern.empty() ? channel : pattern);
    if (i == t.subscribers.end())
      return;
    pubsub_message msg{channel, pattern, std::move(payload)};
    for (auto& who : i->second)
      self->send(who, msg);
  }

  void on_reply(resp::value&& x) {
    if (!x.is_array() || x.elements.size() < 3) {
      if (x.is_error())
        log::warn("pubsub error reply error=\"{}\"", x.str);
      return;
    }
    auto& e = x.elements;
    auto kind = e[0].as_string().value_or("");
    if (kind == "message") {
      ++messages;
      deliver(e[1].str, {}, std::move(e[2].str));
    } else if (kind == "pmessage" && e.size() >= 4) {
      ++messages;
      deliver(e[2].str, e[1].str, std::move(e[3].str));
    } else if (kind == "subscribe") {
      on_confirm(channels, e[1].str);
    } else if (kind == "psubscribe") {
      on_confirm(patterns, e[1].str);
    }
    // unsubscribe/punsubscribe confirmations need no action.
  }

  void on_up() {
    ++connects;
    up = true;
    for (auto* t : {&channels, &patterns}) {
      t->confirmed.clear();
      if (t->subscribers.empty())
        continue;
      std::vector<std::string> cmd{t->sub_cmd};
      for (auto& kvp : t->subscribers)
        cmd.push_back(kvp.first);
      conn.write(cmd);
    }
    conn.flush_later();
  }

  void on_down(const caf::error& reason) {
    up = false;
    for (auto* t : {&channels, &patterns}) {
      t->confirmed.clear();
      auto code = code_of(reason);
      if (code == errc::connect_failed || code == errc::auth_failed
          || code == errc::tls_failed || code == errc::invalid_config) {
        for (auto& kvp : t->waiting)
          for (auto& rp : kvp.second)
            rp.deliver(reason);
        t->waiting.clear();
      }
    }
  }

  void on_subscriber_down(const caf::actor_addr& addr) {
    auto drop = [&](topic_table& t) {
      for (auto d = t.direct.begin(); d != t.direct.end();) {
        for (auto j = d->second.begin(); j != d->second.end();)
          j = j->first.address() == addr ? d->second.erase(j) : std::next(j);
        d = d->second.empty() ? t.direct.erase(d) : std::next(d);
      }
      for (auto i = t.subscribers.begin(); i != t.subscribers.end();) {
        auto& subs = i->second;
        for (auto j = subs.begin(); j != subs.end();) {
          if (j->address() == addr)
            j = subs.erase(j);
          else
            ++j;
        }
        if (subs.empty()) {
          if (conn.connected()) {
            conn.write({t.unsub_cmd, i->first});
            conn.flush_later();
          }
          t.confirmed.erase(i->first);
          t.ever_confirmed.erase(i->first);
          i = t.subscribers.erase(i);
        } else {
          ++i;
        }
      }
    };
    drop(channels);
    drop(patterns);
    publish_routes();
    for (auto i = monitored.begin(); i != monitored.end();) {
      if (i->first.address() == addr)
        i = monitored.erase(i);
      else
        ++i;
    }
  }

  void close_all() {
    auto err = make_error(errc::closed, "pubsub actor is shutting down");
    for (auto* t : {&channels, &patterns}) {
      for (auto& kvp : t->waiting)
        for (auto& rp : kvp.second)
          rp.deliver(err);
      t->waiting.clear();
      t->subscribers.clear();
      t->direct.clear();
    }
    monitored.clear();
    conn.shutdown();
    publish_routes();
  }
};

caf::behavior pubsub_impl(caf::event_based_actor* self, redis_options opts) {
  auto st = std::make_shared<pubsub_state>(self, opts);
  auto raw = st.get();
  st->conn.callbacks([raw](resp::value&& x) { raw->on_reply(std::move(x)); },
                     [raw] { raw->on_up(); },
                     [raw](const caf::error& e) { raw->on_down(e); });
  st->conn.on_reader_thread(
    [raw](std::vector<resp::value>& xs) { return raw->on_reader(xs); });
  self->set_exit_handler([self, st](const caf::exit_msg& msg) {
    st->close_all();
    self->quit(msg.reason);
  });
  self->set_down_handler([st](const caf::down_msg& msg) {
    st->on_subscriber_down(msg.source);
  });
  st->conn.connect();
  using subscriber = pubsub_subscriber_actor;
  auto own = caf::message_handler{
    [self, st](sub_atom, const std::string& ch, const subscriber& who) {
      st->add(st->channels, ch, who, self->make_response_promise());
    },
    [self, st](sub_atom, const std::string& ch, const subscriber& who,
               direct_handler& fn) {
      st->add(st->channels, ch, who, self->make_response_promise(),
              std::move(fn));
    },
    [self, st](psub_atom, const std::string& pat, const subscriber& who) {
      st->add(st->patterns, pat, who, self->make_response_promise());
    },
    [st](unsub_atom, const std::string& ch, const subscriber& who) {
      return st->remove(st->channels, ch, who);
    },
    [st](punsub_atom, const std::string& pat, const subscriber& who) {
      return st->remove(st->patterns, pat, who);
    },
    [st](stats_atom) {
      pubsub_stats r;
      r.messages = st->messages.load();
      r.reconnects = st->connects > 0 ? st->connects - 1 : 0;
      r.channels = st->channels.subscribers.size();
      r.patterns = st->patterns.subscribers.size();
      r.connected = st->up;
      return r;
    },
  };
  return caf::behavior{own.or_else(st->conn.handlers())};
}

} // namespace

pubsub_actor spawn_pubsub(caf::actor_system& sys, const redis_options& opts) {
  auto hdl = sys.spawn<caf::detached>(pubsub_impl, opts);
  return caf::actor_cast<pubsub_actor>(hdl);
}

} // namespace pulse
