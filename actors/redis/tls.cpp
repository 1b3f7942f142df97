#include "pulse/actors/redis/tls.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/stat.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <set>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "pulse/runtime/errors.hpp"

namespace pulse::detail {

namespace {

using clock_type = std::chrono::steady_clock;

// OpenSSL's socket BIO writes with write(), which raises SIGPIPE on a peer
// that went away; this one sends with MSG_NOSIGNAL instead (everything else
// is the socket BIO's).
int send_nosignal(BIO* b, const char* data, int len) {
  int fd = -1;
  BIO_get_fd(b, &fd);
  errno = 0;
  auto n = ::send(fd, data, static_cast<size_t>(len), MSG_NOSIGNAL);
  BIO_clear_retry_flags(b);
  if (n <= 0 && BIO_sock_should_retry(static_cast<int>(n)))
    BIO_set_retry_write(b);
  return static_cast<int>(n);
}

const BIO_METHOD* nosignal_socket_method() {
  static const BIO_METHOD* method = [] {
    auto base = BIO_s_socket();
    auto m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK
                            | BIO_TYPE_DESCRIPTOR,
                          "pulse socket");
    BIO_meth_set_write(m, send_nosignal);
    BIO_meth_set_read(m, BIO_meth_get_read(base));
    BIO_meth_set_puts(m, BIO_meth_get_puts(base));
    BIO_meth_set_ctrl(m, BIO_meth_get_ctrl(base));
    BIO_meth_set_create(m, BIO_meth_get_create(base));
    BIO_meth_set_destroy(m, BIO_meth_get_destroy(base));
    return m;
  }();
  return method;
}

struct ctx_deleter {
  void operator()(SSL_CTX* x) const { SSL_CTX_free(x); }
};
using ctx_ptr = std::unique_ptr<SSL_CTX, ctx_deleter>;

struct ssl_deleter {
  void operator()(SSL* x) const { SSL_free(x); }
};
using ssl_ptr = std::unique_ptr<SSL, ssl_deleter>;

// The first queued OpenSSL error as text; clears the queue.
std::string queued_error() {
  auto e = ERR_get_error();
  ERR_clear_error();
  if (e == 0)
    return {};
  if (auto reason = ERR_reason_error_string(e))
    return reason;
  char buf[256];
  ERR_error_string_n(e, buf, sizeof(buf));
  return buf;
}

// Why a file given in option `key` could not be used.
caf::error bad_file(const char* key, const std::string& path) {
  std::string cause;
  if (::access(path.c_str(), R_OK) != 0)
    cause = std::strerror(errno);
  auto queued = queued_error();
  if (cause.empty())
    cause = queued.empty() ? "not a PEM file it can use" : queued;
  return make_error(errc::invalid_config, std::string{key} + " \"" + path
                                            + "\": cannot load: " + cause);
}

/// A file's identity for the caches: inode (a file replaced by a rename or
/// a symlink swap), modification time and size
/// (empty when the path is empty or cannot be read: then the context is
/// built again and reports the error).
std::string file_stamp(const std::string& path) {
  if (path.empty())
    return "-";
  struct stat st;
  if (::stat(path.c_str(), &st) != 0)
    return {};
  return std::to_string(st.st_ino) + "/" + std::to_string(st.st_mtim.tv_sec)
         + "." + std::to_string(st.st_mtim.tv_nsec) + "/"
         + std::to_string(st.st_size);
}

// -- session resumption -------------------------------------------------------

/// The last resumable session per endpoint and TLS configuration, so a
/// reconnect, or another connection to the same server, resumes it (an
/// abbreviated handshake: no certificate chain, no key exchange with
/// certificates). Entries hold one reference each and are replaced, never
/// removed but on a failed handshake; a few endpoints per process.
struct session_cache {
  std::mutex mtx;
  std::map<std::string, SSL_SESSION*> by_key;
  std::set<std::string> keys; // stable addresses for SSL ex data
  std::atomic<uint64_t> resumed{0};
};

session_cache& sessions() {
  static session_cache* c = new session_cache; // lives as long as sessions
  return *c;
}

/// The index of the SSL ex data slot that holds the session's cache key.
int key_slot() {
  static int idx = SSL_get_ex_new_index(0, nullptr, nullptr, nullptr,
                                        nullptr);
  return idx;
}

/// The cache key: endpoint, verified name and every file (with its
/// `file_stamp`: a rotated CA never resumes a session verified by the old
/// one) and flag that decides whether a session may be trusted again.
const std::string* intern_key(const redis_options& opts,
                              const std::string& where,
                              const std::string& name) {
  auto k = where + '\n' + name + '\n' + opts.tls_ca_file + '\n'
           + opts.tls_cert_file + '\n' + opts.tls_key_file + '\n'
           + (opts.tls_verify ? "1" : "0") + '\n'
           + file_stamp(opts.tls_ca_file) + '|'
           + file_stamp(opts.tls_cert_file) + '|'
           + file_stamp(opts.tls_key_file);
  auto& c = sessions();
  std::lock_guard<std::mutex> guard{c.mtx};
  return &*c.keys.insert(std::move(k)).first;
}

/// OpenSSL's new-session callback: keeps the session (TLS 1.3 sends it
/// after the handshake, so this runs inside a later read).
int keep_session(SSL* ssl, SSL_SESSION* sess) {
  auto key = static_cast<const std::string*>(SSL_get_ex_data(ssl, key_slot()));
  if (key == nullptr || SSL_SESSION_is_resumable(sess) != 1)
    return 0;
  // A copy: OpenSSL marks the connection's own session not resumable when
  // the connection ends without a TLS shutdown (a killed peer, a lost
  // network), which must not cost the next connection its resumption.
  auto copy = SSL_SESSION_dup(sess);
  if (copy == nullptr)
    return 0;
  auto& c = sessions();
  std::lock_guard<std::mutex> guard{c.mtx};
  auto& slot = c.by_key[*key];
  if (slot != nullptr)
    SSL_SESSION_free(slot);
  slot = copy;
  return 0; // OpenSSL keeps its reference to `sess`
}

/// Offers the cached session for `key`, if any, to `ssl`.
void offer_session(SSL* ssl, const std::string* key) {
  SSL_set_ex_data(ssl, key_slot(), const_cast<std::string*>(key));
  auto& c = sessions();
  std::lock_guard<std::mutex> guard{c.mtx};
  auto i = c.by_key.find(*key);
  if (i != c.by_key.end())
    SSL_set_session(ssl, i->second); // takes a reference of its own
}

/// Drops the cached session for `key` (after a failed handshake).
void forget_session(const std::string* key) {
  auto& c = sessions();
  std::lock_guard<std::mutex> guard{c.mtx};
  auto i = c.by_key.find(*key);
  if (i != c.by_key.end()) {
    SSL_SESSION_free(i->second);
    c.by_key.erase(i);
  }
}

caf::expected<ctx_ptr> make_context(const redis_options& opts) {
  ERR_clear_error();
  ctx_ptr ctx{SSL_CTX_new(TLS_client_method())};
  if (!ctx)
    return make_error(errc::tls_failed,
                      "TLS: cannot create a context: " + queued_error());
  SSL_CTX_set_min_proto_version(ctx.get(), TLS1_2_VERSION);
  // Retried writes may pass a moved buffer (the link swaps buffers) with
  // more bytes behind; partial writes report what went out.
  SSL_CTX_set_mode(ctx.get(), SSL_MODE_ENABLE_PARTIAL_WRITE
                                | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  SSL_CTX_set_session_cache_mode(ctx.get(),
                                 SSL_SESS_CACHE_CLIENT
                                   | SSL_SESS_CACHE_NO_INTERNAL_STORE);
  SSL_CTX_sess_set_new_cb(ctx.get(), keep_session);
  if (opts.tls_verify) {
    SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_PEER, nullptr);
    if (!opts.tls_ca_file.empty()) {
      if (SSL_CTX_load_verify_locations(ctx.get(), opts.tls_ca_file.c_str(),
                                        nullptr)
          != 1)
        return bad_file("pulse.redis.tls-ca-file", opts.tls_ca_file);
    } else if (SSL_CTX_set_default_verify_paths(ctx.get()) != 1) {
      return make_error(errc::invalid_config,
                        "TLS: cannot load the system CA store (set "
                        "pulse.redis.tls-ca-file): "
                          + queued_error());
    }
  }
  if (!opts.tls_cert_file.empty()) {
    if (SSL_CTX_use_certificate_chain_file(ctx.get(),
                                           opts.tls_cert_file.c_str())
        != 1)
      return bad_file("pulse.redis.tls-cert-file", opts.tls_cert_file);
    if (SSL_CTX_use_PrivateKey_file(ctx.get(), opts.tls_key_file.c_str(),
                                    SSL_FILETYPE_PEM)
        != 1)
      return bad_file("pulse.redis.tls-key-file", opts.tls_key_file);
    if (SSL_CTX_check_private_key(ctx.get()) != 1)
      return make_error(errc::invalid_config,
                        "pulse.redis.tls-key-file \"" + opts.tls_key_file
                          + "\" does not match pulse.redis.tls-cert-file: "
                          + queued_error());
  }
  return ctx;
}

// RFC 6066: SNI carries DNS names only, never address literals.
bool is_dns_name(const std::string& name) {
  unsigned char buf[sizeof(in6_addr)];
  return !name.empty() && inet_pton(AF_INET, name.c_str(), buf) != 1
         && inet_pton(AF_INET6, name.c_str(), buf) != 1;
}

// A hint for common causes, appended to the handshake error.
std::string hint(SSL* ssl, const std::string& cause, const std::string& name) {
  switch (SSL_get_verify_result(ssl)) {
    case X509_V_OK:
      break;
    case X509_V_ERR_HOSTNAME_MISMATCH:
    case X509_V_ERR_IP_ADDRESS_MISMATCH:
      return "; the certificate is not for \"" + name
             + "\" (set pulse.redis.tls-server-name to a name it holds)";
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
    case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
    case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
      return "; is pulse.redis.tls-ca-file the CA that signed the server's "
             "certificate?";
    default:
      return {};
  }
  if (cause.find("wrong version number") != std::string::npos
      || cause.find("packet length too long") != std::string::npos)
    return "; does the server speak TLS on this port?";
  if (cause.find("certificate required") != std::string::npos
      || cause.find("handshake failure") != std::string::npos)
    return "; the server may require a client certificate "
           "(pulse.redis.tls-cert-file, pulse.redis.tls-key-file)";
  return {};
}

} // namespace

caf::error check_tls_options(const redis_options& opts) {
  if (!opts.tls)
    return caf::none;
  if (!opts.unix_socket.empty())
    return make_error(errc::invalid_config,
                      "pulse.redis.tls: Redis serves TLS on TCP only, but "
                      "pulse.redis.unix-socket is set (turn tls off or "
                      "connect to host:port)");
  if (opts.tls_cert_file.empty() != opts.tls_key_file.empty())
    return make_error(errc::invalid_config,
                      "pulse.redis.tls-cert-file and pulse.redis.tls-key-file "
                      "must be set together");
  return caf::none;
}

std::string tls_error_text(SSL* ssl, int ret, int code) {
  auto saved_errno = errno;
  std::string text;
  if (code == SSL_ERROR_SSL || code == SSL_ERROR_SYSCALL)
    text = queued_error();
  ERR_clear_error();
  if (!text.empty()) {
    auto v = ssl != nullptr ? SSL_get_verify_result(ssl) : X509_V_OK;
    if (v != X509_V_OK && text.find("certificate verify failed") == 0)
      text += std::string{" ("} + X509_verify_cert_error_string(v) + ")";
    return text;
  }
  if (code == SSL_ERROR_SYSCALL) {
    if (ret < 0 && saved_errno != 0)
      return std::strerror(saved_errno);
    return "unexpected end of file";
  }
  if (code == SSL_ERROR_ZERO_RETURN)
    return "the server closed the TLS session";
  return "TLS error " + std::to_string(code);
}

/// The last SSL context per TLS configuration, reused while its CA,
/// certificate and key files keep their modification time and size; a
/// rotated file builds a new one at the next connect.
caf::expected<ctx_ptr> context_for(const redis_options& opts) {
  struct entry {
    std::string stamps;
    ctx_ptr ctx;
  };
  static std::mutex mtx;
  static auto* cache = new std::map<std::string, entry>;
  auto ca = file_stamp(opts.tls_ca_file);
  auto cert = file_stamp(opts.tls_cert_file);
  auto key = file_stamp(opts.tls_key_file);
  auto stamps = ca + "|" + cert + "|" + key;
  auto name = opts.tls_ca_file + '\n' + opts.tls_cert_file + '\n'
              + opts.tls_key_file + '\n' + (opts.tls_verify ? "1" : "0");
  bool cacheable = !ca.empty() && !cert.empty() && !key.empty();
  if (cacheable) {
    std::lock_guard<std::mutex> guard{mtx};
    auto i = cache->find(name);
    if (i != cache->end() && i->second.stamps == stamps) {
      SSL_CTX_up_ref(i->second.ctx.get());
      return ctx_ptr{i->second.ctx.get()};
    }
  }
  auto ctx = make_context(opts);
  if (!ctx || !cacheable)
    return ctx;
  SSL_CTX_up_ref(ctx->get());
  std::lock_guard<std::mutex> guard{mtx};
  (*cache)[name] = entry{std::move(stamps), ctx_ptr{ctx->get()}};
  return ctx;
}

caf::expected<SSL*> tls_connect(int fd, const redis_options& opts,
                                const std::string& host,
                                const std::string& where,
                                clock_type::time_point until) {
  auto ctx = context_for(opts);
  if (!ctx)
    return ctx.error();
  ssl_ptr ssl{SSL_new(ctx->get())};
  auto bio = BIO_new(nosignal_socket_method());
  if (!ssl || bio == nullptr) {
    BIO_free(bio);
    return make_error(errc::tls_failed,
                      "TLS: cannot create a session: " + queued_error());
  }
  BIO_set_fd(bio, fd, BIO_NOCLOSE);
  SSL_set_bio(ssl.get(), bio, bio); // the session owns the BIO now
  ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL, 0) | O_NONBLOCK);
  auto name = opts.tls_server_name.empty() ? host : opts.tls_server_name;
  if (is_dns_name(name))
    SSL_set_tlsext_host_name(ssl.get(), name.c_str());
  if (opts.tls_verify) {
    SSL_set_hostflags(ssl.get(), X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    if (SSL_set1_host(ssl.get(), name.c_str()) != 1)
      return make_error(errc::invalid_config,
                        "pulse.redis.tls-server-name \"" + name
                          + "\" is not a usable host name");
  }
  auto key = intern_key(opts, where, name);
  offer_session(ssl.get(), key);
  for (;;) {
    ERR_clear_error();
    errno = 0;
    int ret = SSL_connect(ssl.get());
    if (ret == 1) {
      if (SSL_session_reused(ssl.get()) == 1)
        ++sessions().resumed;
      return ssl.release();
    }
    int code = SSL_get_error(ssl.get(), ret);
    if (code == SSL_ERROR_WANT_READ || code == SSL_ERROR_WANT_WRITE) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                    until - clock_type::now())
                    .count();
      pollfd p{fd, static_cast<short>(code == SSL_ERROR_WANT_READ ? POLLIN
                                                                  : POLLOUT),
               0};
      int n = left > 0 ? ::poll(&p, 1, static_cast<int>(left)) : 0;
      if (n == 0) {
        forget_session(key);
        return make_error(errc::connect_failed,
                          "TLS handshake with " + where + " timed out");
      }
      continue; // EINTR, ready, or an error SSL_connect reports
    }
    forget_session(key);
    auto cause = tls_error_text(ssl.get(), ret, code);
    auto msg = "TLS handshake with " + where + " failed: " + cause
               + hint(ssl.get(), cause, name);
    return make_error(code == SSL_ERROR_SSL ? errc::tls_failed
                                            : errc::connect_failed,
                      std::move(msg));
  }
}

uint64_t tls_sessions_resumed() {
  return sessions().resumed.load();
}

void tls_forget_sessions() {
  auto& c = sessions();
  std::lock_guard<std::mutex> guard{c.mtx};
  for (auto& kv : c.by_key)
    SSL_SESSION_free(kv.second);
  c.by_key.clear();
}

} // namespace pulse::detail
