#pragma once

/// Internal to the pool's Lua scripts: the prologue every script starts
/// with (the pool's key names, job records, `assign` and `bump`), defined
/// in `scripts.cpp`. The scripts themselves, by concern:
/// `scripts_membership.cpp` (nodes and workers join, leave, keep alive and
/// are reaped), `scripts_dispatch.cpp` (dispatch, confirm, resync, fail,
/// move), `scripts_control.cpp` (stop, notify, shutdown, purge) and
/// `scripts_ticker.cpp` (tickers).

#include <string>
#include <vector>

#include "pulse/messages/script.hpp"

namespace pulse::pool_scripts::detail {

/// Returns the script made of the statements of the shared prologue that
/// `body` uses (directly or through another statement), followed by `body`.
script make(const char* body);

/// Every name the shared prologue defines (its key names and helpers).
std::vector<std::string> prologue_names();

} // namespace pulse::pool_scripts::detail
