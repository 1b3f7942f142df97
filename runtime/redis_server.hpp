#pragma once

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <caf/error.hpp>
#include <caf/expected.hpp>

namespace pulse {

/// Options of a private redis-server process.
struct server_options {
  /// The redis-server binary (looked up in PATH).
  std::string binary = "redis-server";
  /// Loopback port; 0 picks a free one.
  uint16_t port = 0;
  /// Enables the append-only file (`appendfsync always`), so a SIGKILL
  /// loses no acknowledged write.
  bool aof = false;
  /// `requirepass` value; empty for none.
  std::string password;
  /// Extra `--name value` arguments, e.g. `{"--maxmemory", "64mb"}`.
  std::vector<std::string> extra_args;
};

/// Returns a loopback TCP port that was free a moment ago.
uint16_t free_loopback_port();

/// A private redis-server bound to 127.0.0.1 in its own temporary directory.
/// The process gets `PR_SET_PDEATHSIG = SIGKILL`, so it never outlives its
/// parent; the destructor stops it and removes the directory.
class redis_server {
public:
  /// Starts a server and waits (up to 10 s) until it answers `PING`.
  /// Errors: `errc::server_failed` with the tail of the server's log.
  static caf::expected<std::unique_ptr<redis_server>> start(server_options);

  ~redis_server();

  redis_server(const redis_server&) = delete;
  redis_server& operator=(const redis_server&) = delete;

  /// The port the server listens on (kept across restarts).
  uint16_t port() const noexcept { return opts_.port; }

  /// PID of the running process, or -1.
  pid_t pid() const noexcept { return pid_; }

  /// The working directory (RDB/AOF files and `redis.log`).
  const std::string& dir() const noexcept { return dir_; }

  /// Returns whether the process is running.
  bool running() const noexcept { return pid_ > 0; }

  /// Stops the server with SIGTERM (SIGKILL after 5 s) and reaps it.
  void stop();

  /// Kills the server with SIGKILL and reaps it (a crash).
  void kill();

  /// Starts the server again on the same port and directory. With AOF on,
  /// the data set survives a `kill()`.
  caf::error restart();

private:
  explicit redis_server(server_options opts);
  caf::error spawn();
  void reap(int signal, int grace_ms);

  server_options opts_;
  std::string dir_;
  pid_t pid_ = -1;
};

} // namespace pulse
