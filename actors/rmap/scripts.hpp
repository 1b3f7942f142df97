#pragma once

/// Lua scripts of replicated maps. Every mutation is one script that
/// updates `map:<m>:content`, bumps `=rev` by exactly 1, sets `=kind` and
/// publishes the Go Pulse v1.6.5 notification on `map:<m>:updates`, all
/// atomically; a script that changes nothing does none of that.
///
/// Calling convention (ours; only the effects are shared with Go Pulse):
///   `KEYS = [map:<m>:content, map:<m>:updates]`
///   `ARGV = [ttl_mode, ttl_ms, <script arguments>...]`
/// with `ttl_mode` "" (none), "abs" (`PEXPIRE ... NX`) or "slide"
/// (`PEXPIRE`), applied inside the same script. `reset` and `destroy` keep
/// the remaining TTL of an absolute TTL instead of restarting it.

#include "pulse/messages/script.hpp"

namespace pulse::rmap_scripts {

/// (key, value) -> [existed 0/1, previous or "", rev]
const script& set();
/// (key, value) -> 1 if written, 0 if the key existed
const script& set_if_not_exists();
/// (key, test, value) -> value before the call, or nil
const script& test_and_set();
/// (key, delta) -> new value as a string (Redis error if not an integer)
const script& incr();
/// (key, items...) -> new JSON list; with no items the value or nil
const script& append();
/// (key, items...) -> new JSON list, or the unchanged value or nil
const script& append_unique();
/// (key, items...) -> [value or nil, 0] | ["", 1] (emptied) | [json, 1]
const script& remove();
/// (key) -> previous value or nil
const script& del();
/// (key, test) -> value before the call, or nil
const script& test_and_delete();
/// () -> nil
const script& reset();
/// () -> nil; leaves the tombstone {=rev, =kind: destroy}
const script& destroy();
/// (n, k1..kn, t1..tn) -> 1 if every key matched and the map was reset
const script& test_and_reset();

/// The hash key of map `name`: `map:<name>:content`.
std::string content_key(const std::string& name);

/// The channel of map `name`: `map:<name>:updates`.
std::string updates_channel(const std::string& name);

} // namespace pulse::rmap_scripts
