#include "tests/support/tls_fixture.hpp"

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include "pulse/runtime/errors.hpp"

namespace pulse::test {

namespace {

// The recipe of docs/operations.md ("TLS"), with EC keys. Runs in the
// certificate directory; output goes to openssl.log.
constexpr const char* make_certs = R"(set -e
exec > openssl.log 2>&1
key="-newkey ec -pkeyopt ec_paramgen_curve:prime256v1"
openssl req -x509 -new -nodes $key -keyout ca.key -out ca.crt -days 3650 \
  -subj "/CN=Pulse Test CA"
openssl req -new -nodes $key -keyout server.key -out server.csr \
  -subj "/CN=localhost"
printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n' > server.ext
openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial \
  -out server.crt -days 365 -extfile server.ext
openssl req -new -nodes $key -keyout client.key -out client.csr \
  -subj "/CN=pulse-test-client"
printf 'extendedKeyUsage=clientAuth\n' > client.ext
openssl x509 -req -in client.csr -CA ca.crt -CAkey ca.key -CAcreateserial \
  -out client.crt -days 365 -extfile client.ext
openssl req -x509 -new -nodes $key -keyout wrongca.key -out wrongca.crt \
  -days 3650 -subj "/CN=Other CA"
openssl x509 -req -in server.csr -CA wrongca.crt -CAkey wrongca.key \
  -CAcreateserial -out wrongca-server.crt -days 365 -extfile server.ext
printf 'subjectAltName=DNS:other.example\nextendedKeyUsage=serverAuth\n' > other.ext
openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial \
  -out othername.crt -days 365 -extfile other.ext
mkdir -p ca.db && : > ca.db/index.txt && echo 1000 > ca.db/serial
cat > ca.cnf <<'EOF'
[ ca ]
default_ca = testca
[ testca ]
database = ca.db/index.txt
serial = ca.db/serial
new_certs_dir = ca.db
certificate = ca.crt
private_key = ca.key
default_md = sha256
policy = any
copy_extensions = none
[ any ]
commonName = supplied
[ server_ext ]
subjectAltName = DNS:localhost,IP:127.0.0.1
extendedKeyUsage = serverAuth
EOF
openssl ca -batch -config ca.cnf -extensions server_ext \
  -startdate 20200101000000Z -enddate 20200102000000Z \
  -in server.csr -out expired.crt
)";

std::string read_file(const std::string& path) {
  std::ifstream in{path};
  std::stringstream out;
  out << in.rdbuf();
  return out.str();
}

} // namespace

tls_certs::tls_certs() {
  auto script = dir.write("make-certs.sh", make_certs);
  auto cmd = "cd '" + dir.path + "' && bash '" + script + "'";
  if (std::system(cmd.c_str()) != 0)
    throw std::runtime_error("making test certificates failed:\n"
                             + read_file(file("openssl.log")));
}

tls_redis::tls_redis(const tls_certs& certs, const std::string& cert,
                     bool auth_clients)
  : certs(certs), tls_port(free_loopback_port()) {
  server_options so;
  so.extra_args = {"--tls-port",         std::to_string(tls_port),
                   "--tls-cert-file",    certs.file(cert),
                   "--tls-key-file",     certs.file("server.key"),
                   "--tls-ca-cert-file", certs.file("ca.crt"),
                   "--tls-auth-clients", auth_clients ? "yes" : "no"};
  auto srv = redis_server::start(so);
  if (!srv)
    throw std::runtime_error("cannot start a TLS redis-server: "
                             + render(srv.error()));
  server = std::move(*srv);
}

redis_options tls_redis::opts() const {
  // As test_redis_options (fixtures.hpp), which benchmarks do not link.
  redis_options o;
  o.host = "127.0.0.1";
  o.port = tls_port;
  o.connect_timeout = std::chrono::seconds{1};
  o.command_timeout = std::chrono::seconds{2};
  o.reconnect_min = std::chrono::milliseconds{20};
  o.reconnect_max = std::chrono::milliseconds{200};
  o.tls = true;
  o.tls_ca_file = certs.file("ca.crt");
  o.tls_cert_file = certs.file("client.crt");
  o.tls_key_file = certs.file("client.key");
  return o;
}

} // namespace pulse::test
