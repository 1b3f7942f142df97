#pragma once

/// Messages of the pub/sub actor (`actors/redis/pubsub.hpp`) and of the
/// actors that subscribe through it.

#include <functional>
#include <memory>
#include <string>

#include <caf/actor.hpp>
#include <caf/allowed_unsafe_message_type.hpp>
#include <caf/atom.hpp>
#include <caf/meta/type_name.hpp>
#include <caf/replies_to.hpp>
#include <caf/typed_actor.hpp>

#include "pulse/messages/redis.hpp" // stats_atom

namespace pulse {

// -- atoms --------------------------------------------------------------------

/// `(sub_atom, channel, subscriber[, direct_handler]) -> bool`: subscribes
/// `subscriber` (a `pubsub_subscriber_actor`) to a channel; the reply comes
/// once Redis confirmed the subscription. Fails with
/// `errc::invalid_argument` for an invalid handle, with the connect error
/// while Redis is unreachable, with `errc::closed` when the pub/sub actor
/// stops first.
using sub_atom = caf::atom_constant<caf::atom("sub")>;

/// `(unsub_atom, channel, subscriber) -> bool`: removes the subscriber;
/// `false` if it was not subscribed to the channel.
using unsub_atom = caf::atom_constant<caf::atom("unsub")>;

/// `(psub_atom, pattern, subscriber) -> bool`: pattern subscription, with
/// the replies and errors of `sub_atom`.
using psub_atom = caf::atom_constant<caf::atom("psub")>;

/// `(punsub_atom, pattern, subscriber) -> bool`: like `unsub_atom`.
using punsub_atom = caf::atom_constant<caf::atom("punsub")>;

/// Sent to subscribers as `(resub_atom, channel_or_pattern)` after the
/// subscription connection was lost and the subscription re-established:
/// messages published in between may have been missed.
using resub_atom = caf::atom_constant<caf::atom("resub")>;

// -- message types ------------------------------------------------------------

/// A message published on a channel, sent to each subscriber.
struct pubsub_message {
  /// The channel it was published on.
  std::string channel;
  /// The matching pattern for pattern subscriptions, empty otherwise.
  std::string pattern;
  /// The payload (binary-safe).
  std::string payload;
};

/// Makes `pubsub_message` serializable for CAF messages.
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, pubsub_message& x) {
  return f(caf::meta::type_name("pubsub_message"), x.channel, x.pattern,
           x.payload);
}

/// Counters of the pub/sub actor (all since spawn).
struct pubsub_stats {
  /// Messages received on subscribed channels and patterns (each counted
  /// once, however many subscribers it went to).
  uint64_t messages = 0;
  /// Successful connects after the first.
  uint64_t reconnects = 0;
  /// Channels subscribed right now.
  uint64_t channels = 0;
  /// Patterns subscribed right now.
  uint64_t patterns = 0;
  /// Whether the subscription connection is up.
  bool connected = false;
};

/// Makes `pubsub_stats` serializable for CAF messages.
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, pubsub_stats& x) {
  return f(caf::meta::type_name("pubsub_stats"), x.messages, x.reconnects,
           x.channels, x.patterns, x.connected);
}

/// Optional fast path of a subscriber: called on the pub/sub connection's
/// reader thread with each message of the channel; returning true means
/// "handled", and the message is not sent to the subscriber actor. Must be
/// thread-safe and quick.
using direct_handler = std::shared_ptr<std::function<bool(const pubsub_message&)>>;

// -- actor interfaces ---------------------------------------------------------

/// The interface every subscriber implements: it receives each message of
/// its channels and patterns as `pubsub_message`, and `(resub_atom,
/// channel_or_pattern)` after a lost connection was re-established. Typed
/// actors with a larger interface convert to it implicitly; an untyped
/// actor needs `caf::actor_cast<pubsub_subscriber_actor>` (it must still
/// handle both messages).
using pubsub_subscriber_actor
  = caf::typed_actor<caf::reacts_to<pubsub_message>,
                     caf::reacts_to<resub_atom, std::string>>;

/// The pub/sub actor (`spawn_pubsub`): owns the subscription connection and
/// fans messages out to `pubsub_subscriber_actor`s; `(stats_atom)` answers
/// its counters.
using pubsub_actor = caf::typed_actor<
  caf::replies_to<sub_atom, std::string, pubsub_subscriber_actor>::with<bool>,
  caf::replies_to<sub_atom, std::string, pubsub_subscriber_actor,
                  direct_handler>::with<bool>,
  caf::replies_to<unsub_atom, std::string, pubsub_subscriber_actor>::with<bool>,
  caf::replies_to<psub_atom, std::string, pubsub_subscriber_actor>::with<bool>,
  caf::replies_to<punsub_atom, std::string,
                  pubsub_subscriber_actor>::with<bool>,
  caf::replies_to<stats_atom>::with<pubsub_stats>>;

} // namespace pulse

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(pulse::direct_handler)
