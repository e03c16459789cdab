#include "smtp/tls.hpp"

#include <openssl/err.h>
#include <openssl/x509.h>

#include <cstdlib>
#include <ctime>
#include <stdexcept>

namespace mailsift::smtp {

namespace asio = boost::asio;

namespace {

// ex_data slots: the TlsClient of a context, the cache key of a connection. Asio uses the app
// data of both the SSL_CTX and the SSL (its verify callback), so they are not ours to take.
int ctx_index() {
  static const int i = SSL_CTX_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
  return i;
}
int ssl_index() {
  static const int i = SSL_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
  return i;
}

// A session worth offering: resumable (OpenSSL marks one that ended in a fatal alert as not) and
// within its lifetime (for TLS 1.3, OpenSSL sets the timeout from the ticket's lifetime hint).
bool live(const SSL_SESSION* s, std::time_t now) {
  if (SSL_SESSION_is_resumable(s) != 1) return false;
  const long t = SSL_SESSION_get_time(s);
  const long timeout = SSL_SESSION_get_timeout(s);
  return static_cast<long>(now) < t + timeout;
}

// The system CA store, found as SSL_CTX_set_default_verify_paths finds it (SSL_CERT_FILE and
// SSL_CERT_DIR, else OpenSSL's defaults: on Debian /usr/lib/ssl/cert.pem, the whole bundle, and
// /usr/lib/ssl/certs), but without the third look-up OpenSSL 3 adds there, an OSSL_STORE on the
// same directory: that one reads the whole directory (getdents, ~300 entries on Debian) on every
// issuer look-up that misses, i.e. in every full handshake with a self-signed certificate or an
// incomplete chain, which is most MX hosts (docs/benchmarks.md, "TLS"). The bundle is parsed
// once here; the hashed directory costs one stat() per miss. No CA store at all is no harm:
// every certificate is then "unverified", which is recorded, never fatal.
void load_system_cas(SSL_CTX* c) {
  const char* file = std::getenv(X509_get_default_cert_file_env());
  const char* dir = std::getenv(X509_get_default_cert_dir_env());
  if (file == nullptr) file = X509_get_default_cert_file();
  if (dir == nullptr) dir = X509_get_default_cert_dir();
  if (SSL_CTX_load_verify_file(c, file) != 1) ERR_clear_error();  // a missing file is allowed
  if (SSL_CTX_load_verify_dir(c, dir) != 1) ERR_clear_error();
}

}  // namespace

TlsClient::TlsClient(TlsClientOptions options) : opt_(options), ctx_(asio::ssl::context::tls_client) {
  if (ctx_index() < 0 || ssl_index() < 0) throw std::runtime_error("OpenSSL: no ex_data index");
  ctx_.set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                   asio::ssl::context::no_sslv3);
  SSL_CTX* c = ctx_.native_handle();
  load_system_cas(c);
  // The same TLS 1.3 suites as OpenSSL's default, AES-128 first: its SHA-256 key schedule and
  // transcript hash cost less than AES-256's SHA-384, and most servers follow the client's order
  // (Postfix: tls_preempt_cipherlist = no). Nothing is left out.
  SSL_CTX_set_ciphersuites(c, "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256");
  SSL_CTX_set_ex_data(c, ctx_index(), this);
  if (opt_.session_cache > 0) {
    // Client-side caching through the callback only: OpenSSL's own cache is keyed by session ID
    // (useless to a client) and would grow to 20,480 entries behind its own lock.
    SSL_CTX_set_session_cache_mode(c, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL);
    SSL_CTX_sess_set_new_cb(c, &TlsClient::on_new_session);
  } else {
    SSL_CTX_set_session_cache_mode(c, SSL_SESS_CACHE_OFF);
    SSL_CTX_set_options(c, SSL_OP_NO_TICKET);  // no session will be offered: ask for no ticket
  }
}

TlsClient::~TlsClient() = default;

std::string TlsClient::session_key(std::string_view host, std::string_view address, std::uint16_t port) {
  std::string k;
  if (host.empty()) {
    k.reserve(address.size() + 8);
    k += '[';
    k += address;
    k += ']';
  } else {
    k = host;
  }
  k += ':';
  k += std::to_string(port);
  return k;
}

void TlsClient::prepare(SSL* ssl, const std::string* key) {
  if (opt_.session_cache == 0) return;
  SSL_set_ex_data(ssl, ssl_index(), const_cast<std::string*>(key));
  const std::time_t now = std::time(nullptr);
  std::lock_guard lock(mu_);
  const auto it = index_.find(*key);
  if (it == index_.end()) return;
  SSL_SESSION* s = it->second->session.get();
  if (!live(s, now)) {
    lru_.erase(it->second);
    index_.erase(it);
    ++stats_.expired;
    return;
  }
  lru_.splice(lru_.begin(), lru_, it->second);
  // A copy, not the cached object: OpenSSL treats a TLS 1.3 session as single-use and marks the
  // object not resumable once a handshake has resumed it (tls_finish_handshake), which would
  // spoil it for the other connections to the host (several at once, on several threads). Like
  // Postfix's client, whose cache holds serialized sessions, we offer one ticket to every
  // connection until the host hands out a newer one. (RFC 8446 §C.4 advises against reusing a
  // ticket because it links connections; a prober's connections are linked by its address.)
  const SessionPtr copy(SSL_SESSION_dup(s));
  if (copy && SSL_set_session(ssl, copy.get()) == 1) ++stats_.offered;
}

int TlsClient::on_new_session(SSL* ssl, SSL_SESSION* session) {
  auto* self = static_cast<TlsClient*>(SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), ctx_index()));
  const auto* key = static_cast<const std::string*>(SSL_get_ex_data(ssl, ssl_index()));
  if (self == nullptr || key == nullptr || SSL_SESSION_is_resumable(session) != 1) return 0;
  self->store(*key, session);
  return 1;  // the reference is ours now
}

void TlsClient::store(const std::string& key, SSL_SESSION* session) {
  SessionPtr s(session);
  SessionPtr old;  // freed outside the lock
  std::lock_guard lock(mu_);
  ++stats_.stored;
  if (const auto it = index_.find(key); it != index_.end()) {
    old = std::move(it->second->session);
    it->second->session = std::move(s);
    lru_.splice(lru_.begin(), lru_, it->second);
    return;
  }
  lru_.push_front(Entry{key, std::move(s)});
  index_.emplace(lru_.front().key, lru_.begin());
  while (lru_.size() > opt_.session_cache) {
    index_.erase(lru_.back().key);
    lru_.pop_back();
    ++stats_.evicted;
  }
}

std::size_t TlsClient::size() const {
  std::lock_guard lock(mu_);
  return lru_.size();
}

TlsCacheStats TlsClient::stats() const {
  std::lock_guard lock(mu_);
  return stats_;
}

}  // namespace mailsift::smtp
