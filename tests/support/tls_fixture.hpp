#pragma once

/// TLS test fixtures: certificates made with the openssl CLI in a temporary
/// directory, and redis-servers that serve them on a TLS port. No Boost:
/// `bench/tls_bench` compiles them too.

#include <cstdint>
#include <memory>
#include <string>

#include "pulse/messages/options.hpp"
#include "pulse/runtime/redis_server.hpp"
#include "tests/support/temp_dir.hpp"

namespace pulse::test {

/// Certificates for TLS tests, made once per object with `openssl` (EC
/// P-256 keys, fast): a CA (`ca.crt`); a server certificate for
/// `localhost` and 127.0.0.1 (`server.crt`, key `server.key`); a client
/// certificate (`client.crt`, `client.key`); and, all for `server.key`, one
/// signed by an unrelated CA (`wrongca-server.crt`), one that expired in
/// 2020 (`expired.crt`) and one for `other.example` only (`othername.crt`).
/// Throws `std::runtime_error` with openssl's output when a step fails.
struct tls_certs {
  tls_certs();

  /// The path of `name` in the directory.
  std::string file(const std::string& name) const {
    return dir.path + "/" + name;
  }

  temp_dir dir;
};

/// A redis-server on 127.0.0.1 with a plain port (`port()`, which the
/// fixture uses to see that the server is up) and a TLS port (`tls_port`)
/// serving `cert` (a file of `certs`, with `server.key`). With
/// `auth_clients`, the server requires a client certificate signed by the
/// test CA (`tls-auth-clients yes`); otherwise it asks for none.
struct tls_redis {
  tls_redis(const tls_certs& certs, const std::string& cert = "server.crt",
            bool auth_clients = true);

  /// The plain-text port.
  uint16_t port() const { return server->port(); }

  /// Test-friendly options for the TLS port: TLS on, the test CA, the
  /// client certificate, host 127.0.0.1.
  redis_options opts() const;

  const tls_certs& certs;
  uint16_t tls_port = 0;
  std::unique_ptr<redis_server> server;
};

} // namespace pulse::test
