#pragma once
// The TLS client of the SMTP probe (RFC 3207 STARTTLS): one OpenSSL context for the whole run, and
// a cache of TLS sessions per MX host, so a second session to a host resumes (RFC 8446 §2.2, RFC
// 5077) instead of paying a full handshake: no certificate chain to parse and check, no signature.
// Postfix's SMTP client does the same with smtp_tls_session_cache_database.
//
// What is kept: the last session (TLS 1.3: the last ticket) each host handed out, under a key
// made of the MX host name and port (the address for an address literal), in a bounded LRU map,
// and offered to every later connection to that host (a copy each: see prepare()). A session past
// its lifetime is dropped when met; one the server no longer accepts costs one full handshake,
// whose new session replaces it.
// What is not reused: anything across host names (a session of mx1.example is never offered to
// mx2.example, even at the same address), nor across TlsClient objects.
//
// Thread-safe: one TlsClient may serve sessions on several event loops (threads) at once; the
// cache is guarded by a mutex, the OpenSSL context is only read after construction.
#include <openssl/ssl.h>

#include <boost/asio/ssl/context.hpp>
#include <cstddef>
#include <cstdint>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

namespace mailsift::smtp {

struct TlsClientOptions {
  // MX hosts whose last session is kept (LRU beyond that); 0 turns resumption off.
  std::size_t session_cache = 10'000;
};

/// Counters of one TlsClient, for tests and benchmarks.
struct TlsCacheStats {
  std::uint64_t offered = 0;  // handshakes that offered a cached session
  std::uint64_t stored = 0;   // sessions (tickets) stored
  std::uint64_t evicted = 0;  // dropped for the size bound
  std::uint64_t expired = 0;  // dropped past their lifetime or no longer resumable
};

class TlsClient {
 public:
  explicit TlsClient(TlsClientOptions options = {});
  ~TlsClient();
  TlsClient(const TlsClient&) = delete;
  TlsClient& operator=(const TlsClient&) = delete;

  /// The context every connection's stream is made from (a client context, the system CA store
  /// loaded once, verification result recorded but never fatal: see Connection::start_tls).
  [[nodiscard]] boost::asio::ssl::context& context() noexcept { return ctx_; }

  /// The cache key of a connection: "host:port", or "[address]:port" when `host` is empty (an
  /// address literal).
  [[nodiscard]] static std::string session_key(std::string_view host, std::string_view address, std::uint16_t port);

  /// Before the handshake of `ssl` (made from context()): offers the cached session of `key`, if
  /// there is a live one, and tags `ssl` so that the sessions the server hands out are stored
  /// under `key`. `key` must outlive `ssl`'s handshake and reads (the connection owns it).
  void prepare(SSL* ssl, const std::string* key);

  [[nodiscard]] std::size_t size() const;
  [[nodiscard]] std::size_t capacity() const noexcept { return opt_.session_cache; }
  [[nodiscard]] TlsCacheStats stats() const;

 private:
  struct SessionFree {
    void operator()(SSL_SESSION* s) const noexcept { SSL_SESSION_free(s); }
  };
  using SessionPtr = std::unique_ptr<SSL_SESSION, SessionFree>;
  struct Entry {
    std::string key;
    SessionPtr session;
  };

  static int on_new_session(SSL* ssl, SSL_SESSION* session);
  void store(const std::string& key, SSL_SESSION* session);

  TlsClientOptions opt_;
  boost::asio::ssl::context ctx_;
  mutable std::mutex mu_;
  std::list<Entry> lru_;  // most recently used first
  std::unordered_map<std::string, std::list<Entry>::iterator> index_;
  TlsCacheStats stats_;
};

}  // namespace mailsift::smtp
