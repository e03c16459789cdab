#pragma once
// One SMTP probe session, as one C++20 coroutine on Boost.Asio that reads like RFC 5321 §3:
// connect to the MX addresses in order (next one on refusal, timeout or 421), 220 banner, EHLO
// (HELO if EHLO is refused), STARTTLS when offered, EHLO again, MAIL FROM, RCPT TO for each
// recipient, RCPT TO for a random local part (catch-all test), RSET, QUIT. Never DATA.
// Entry point: run_session(). The scheduling around it (which recipients, retries, caches) is
// smtp/prober.hpp.
#include <boost/asio/awaitable.hpp>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "smtp/politeness.hpp"
#include "smtp/probe.hpp"
#include "smtp/tls.hpp"

namespace mailsift::smtp {

/// One address to connect to, in the order tried.
struct Target {
  std::string host;     // the MX host name, for the record and TLS name checks ("" for a literal)
  std::string address;  // IPv4 or IPv6, textual
};

struct SessionRequest {
  std::vector<Target> targets;
  std::string domain;                   // A-label domain of the recipients (for the random address)
  std::vector<std::string> recipients;  // mailboxes as they go in RCPT TO, without <>
  bool test_catch_all = true;
  // The random address to test with; "" makes a new one. A greylisting retry reuses the first
  // session's, since the greylister deferred that (client, sender, recipient) triple too.
  std::string catch_all_address;
  std::string source;  // local address to connect from; "" takes the next of --source-ip
  // Place in the queues for a connection slot (per MX address, then the global session cap).
  Priority priority = Priority::normal;
};

/// What every session shares: options, the TLS client, politeness, the session cap.
class SessionContext {
 public:
  /// `gate` is the politeness gate the sessions share with other loops (null: one of its own).
  /// `tls` may be shared by several contexts, on several threads (smtp/tls.hpp); null makes one
  /// of this context's own, with ProbeOptions::tls_session_cache.
  SessionContext(ProbeOptions probe, PolitenessOptions polite, std::size_t max_sessions,
                 std::shared_ptr<PolitenessGate> gate = nullptr, std::shared_ptr<TlsClient> tls = nullptr);

  [[nodiscard]] const ProbeOptions& options() const noexcept { return opt_; }
  [[nodiscard]] PolitenessGate& gate() noexcept { return *gate_; }
  [[nodiscard]] Semaphore& sessions() noexcept { return sessions_; }
  [[nodiscard]] TlsClient& tls() noexcept { return *tls_; }
  [[nodiscard]] const std::shared_ptr<TlsClient>& tls_client() const noexcept { return tls_; }
  /// The next --source-ip of the address family of `remote` ("" when none is configured).
  [[nodiscard]] std::string next_source(const std::string& remote);
  /// A local part no real mailbox has: 18 random [a-z0-9] from the OpenSSL CSPRNG, so a server
  /// cannot learn to accept "our" probe address.
  [[nodiscard]] std::string random_local();

 private:
  ProbeOptions opt_;
  std::shared_ptr<PolitenessGate> gate_;
  Semaphore sessions_;
  std::shared_ptr<TlsClient> tls_;
  std::size_t next_source_ = 0;
};

/// Runs one session for `req`. Never throws for anything the network or the server does; every
/// wait is bounded by the options' timeouts and the whole by Timeouts::session.
[[nodiscard]] boost::asio::awaitable<SessionReport> run_session(SessionContext& ctx, SessionRequest req);

/// True when `s` may be sent inside an SMTP command: no CR, LF or NUL (RFC 5321 §2.3.8 — a CR/LF
/// inside an argument would start a command of the sender's choosing), no other control bytes.
[[nodiscard]] bool safe_in_command(std::string_view s) noexcept;

/// True when `s` reads as one path inside "<...>" (RFC 5321 §4.1.2 Mailbox, or "" for the null
/// path): a space, '<', '>' or '"' only inside a leading Quoted-string local part, whose escapes
/// are honoured. False for "x@y> NOTIFY=NEVER", which would end the path and add parameters.
[[nodiscard]] bool one_path_argument(std::string_view s) noexcept;

}  // namespace mailsift::smtp
