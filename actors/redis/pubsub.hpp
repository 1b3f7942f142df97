#pragma once

#include <caf/fwd.hpp>

#include "pulse/messages/pubsub.hpp"
#include "pulse/messages/options.hpp"

namespace pulse {

/// Spawns the pub/sub actor: it owns the subscription connection and fans
/// messages out to subscribers, typed `pubsub_subscriber_actor` handles
/// (`messages/pubsub.hpp`). Exit it when done (the runtime does).
///
/// - `(sub_atom, channel, subscriber)` issues `SUBSCRIBE channel` once per
///   channel, however many subscribers, and replies `true` once Redis
///   confirmed it (at once if already confirmed). `psub_atom` does the same
///   for `PSUBSCRIBE` patterns. `(sub_atom, channel, subscriber,
///   direct_handler)` also registers the subscriber's fast path, called on
///   the reader thread before a message is sent to the actor.
/// - `(unsub_atom, channel, subscriber)` removes the subscriber (`false` if
///   it was not subscribed); the last one leaving sends `UNSUBSCRIBE`.
///   `punsub_atom` does the same for patterns.
/// - Each published message reaches every subscriber as `pubsub_message`.
/// - Subscribers are monitored: a dead subscriber is dropped.
/// - After the connection is lost and re-established, every channel and
///   pattern is subscribed again and each of their subscribers receives
///   `(resub_atom, channel)`: messages may have been missed in between.
/// - Errors: an invalid (null) subscriber handle fails with
///   `errc::invalid_argument`; while Redis is unreachable, a subscribe
///   request fails with the connect error; the subscription stays
///   registered and is established (with a `resub_atom` signal) when Redis
///   is back; requests still waiting when the actor stops fail with
///   `errc::closed`.
pubsub_actor spawn_pubsub(caf::actor_system& sys, const redis_options& opts);

} // namespace pulse
