#pragma once

#include <caf/fwd.hpp>

#include "pulse/messages/pubsub.hpp"
#include "pulse/messages/options.hpp"

namespace pulse {

/// Spawns the pub/sub actor: it owns the subscription connection and fans
/// messages out to subscriber actors. Exit it when done (the runtime does).
///
/// - `(sub_atom, channel, subscriber)` issues `SUBSCRIBE channel` once per
///   channel, however many subscribers, and replies `true` once Redis
///   confirmed it (at once if already confirmed). `psub_atom` does the same
///   for `PSUBSCRIBE` patterns.
/// - `(unsub_atom, channel, subscriber)` removes the subscriber; the last
///   one leaving sends `UNSUBSCRIBE`.
/// - Each published message reaches every subscriber as `pubsub_message`.
/// - Subscribers are monitored: a dead subscriber is dropped.
/// - After the connection is lost and re-established, every channel and
///   pattern is subscribed again and each of their subscribers receives
///   `(resub_atom, channel)`: messages may have been missed in between.
/// - Errors: while Redis is unreachable, a subscribe request fails with the
///   connect error; the subscription stays registered and is established
///   (with a `resub_atom` signal) when Redis is back.
pubsub_actor spawn_pubsub(caf::actor_system& sys, const redis_options& opts);

} // namespace pulse
