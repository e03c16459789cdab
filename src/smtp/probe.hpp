#pragma once
// The SMTP probe's vocabulary: its options and the evidence one session leaves. Plain data, shared
// by the session (smtp/session.hpp), the scheduler (smtp/prober.hpp), the verdict and the renderers.
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "smtp/classify.hpp"
#include "smtp/reply.hpp"
#include "verdict/reason.hpp"

namespace mailsift::smtp {

using Millis = std::chrono::milliseconds;

/// Every wait of a session is bounded (a tarpit must not hold a probe). RFC 5321 §4.5.3.2 asks a
/// mail *sender* to wait minutes (5 for the banner, MAIL and RCPT); a verifier gives up sooner:
/// real servers answer in well under a second, and the session bound caps the sum.
struct Timeouts {
  Millis connect{10'000};   // TCP connect (through the proxy: connect + SOCKS5 handshake)
  Millis banner{30'000};    // the 220 greeting; greet-pause tarpits wait 5-30 s
  Millis command{30'000};   // each reply after a command
  Millis session{90'000};   // one whole session, every host tried included
};

/// A SOCKS5 proxy (RFC 1928), with RFC 1929 username/password authentication when `user` is set.
struct Proxy {
  std::string host;  // IP address (names are not resolved: the proxy setting must not leak DNS)
  std::uint16_t port = 1080;
  std::string user;
  std::string password;
};
/// Parses "socks5://[user:pass@]host:port" (IPv6 hosts in brackets; user and password
/// percent-decoded). nullopt and `error` set when malformed.
[[nodiscard]] std::optional<Proxy> parse_proxy(std::string_view url, std::string* error);

struct ProbeOptions {
  std::string helo;       // EHLO/HELO name (--helo); the machine's own name by default
  std::string mail_from;  // reverse-path (--mail-from), RFC 5321 Mailbox form; "" sends the null path <>
  std::vector<std::string> source_ips;  // local addresses to connect from, rotated (--source-ip)
  std::optional<Proxy> proxy;           // --proxy
  std::uint16_t port = 25;              // --smtp-port (labs; the internet uses 25)
  Timeouts timeouts;
  bool starttls = true;   // use STARTTLS when the server offers it
  // MX hosts whose TLS session is kept for resumption (--tls-session-cache; 0: none). Used when
  // the SessionContext makes its own TlsClient (smtp/tls.hpp).
  std::size_t tls_session_cache = 10'000;
  bool catch_all = true;  // test a random local part after the targets
  // MX addresses tried per session before giving up: Postfix tries 5 (smtp_mx_address_limit).
  std::size_t max_addresses = 5;
  // RCPT TO commands per transaction before a new MAIL FROM: RFC 5321 §4.5.3.1.8 lets a server
  // limit a transaction to 100 recipients; 50 stays well below what busy servers start refusing.
  std::size_t max_rcpts = 50;
  bool keep_transcript = false;  // record every command and reply (--transcript)
};

/// The machine's own host name (gethostname), lower case; "localhost.localdomain" if that fails.
[[nodiscard]] std::string default_helo();
/// The reverse-path when --mail-from is not given: "" (MAIL FROM:<>), the null reverse-path that
/// every server must accept (RFC 5321 §4.5.5) and that sender-domain checks and sender callouts
/// let through; `verify@<host name>` did not resolve on most machines and was refused at RCPT
/// TO. Measured in the lab: docs/smtp.md, "Who we say we are".
[[nodiscard]] std::string default_mail_from();

/// One line of the dialogue, in order (--transcript).
struct TranscriptLine {
  bool client = false;  // true: we sent it ("C:"), false: the server did ("S:")
  std::string text;     // without CRLF; a reply line keeps its code ("250-PIPELINING")
  std::uint32_t at_ms = 0;  // since the session started
};

/// A reply the session received, with the command it answered.
struct StepReply {
  Stage stage = Stage::banner;
  Reply reply;
  std::uint32_t rtt_ms = 0;  // command sent → reply complete (banner: connected → greeting)
};

struct TlsFacts {
  bool offered = false;  // STARTTLS in the EHLO reply
  bool used = false;     // the handshake succeeded and the session went on encrypted
  std::string version;   // "TLSv1.3"
  std::string cipher;
  bool verified = false;    // the certificate chain and name checked out
  std::string cert_error;   // why not, e.g. "self-signed certificate" (recorded, not fatal)
  bool resumed = false;     // an earlier session with this MX host was resumed (no full handshake)
  std::string error;        // the handshake failed (the session then went on without TLS)
};

/// One connection attempt, to one address of one MX host.
struct Attempt {
  std::string host;     // MX host name ("" for an address literal)
  std::string address;  // IP address connected (or tried)
  std::string source;   // local address it was bound to ("" = the system's choice)
  Stage reached = Stage::connect;            // the last stage answered
  std::optional<Reason> failure;             // why we moved on or stopped; nullopt: it ran to the end
  std::string detail;                        // the error text ("Connection refused", "421 4.3.2 ...")
  std::uint32_t connect_ms = 0;
};

/// Why a recipient is asked again in a later session (smtp/prober.hpp), bounded by
/// --greylist-tries and --max-wait, from the same source address.
enum class Retry : std::uint8_t {
  none,
  // A 4xx that may be greylisting: the classifier's `greylisted`, or a generic `temporary_failure`
  // (postscreen's "450 4.3.2 Service currently unavailable", Outlook.com's "451 4.7.500 Server
  // busy", the gateways' "try again later") at RCPT TO or MAIL FROM. Never a 421 (the server
  // closes: next MX, back-off), a rate limit (asking again sooner makes it worse), a full mailbox
  // (an answer about the mailbox) or a refusal of us or our sender (the same from the same source).
  greylisting,
  // Never answered: the server said 421 after answering other RCPTs of the connection, and no
  // other MX answered instead. Asked again once the server's back-off has passed.
  reconnect,
};
[[nodiscard]] std::string_view name(Retry r) noexcept;

/// What the session found out about one recipient.
struct RecipientOutcome {
  Reason reason = Reason::connect_failed;  // a mailbox verdict, or why the session could not tell
  std::optional<Reply> reply;              // its RCPT TO reply, when one came
  std::string_view rule;                   // classification row id ("rcpt_bad_mailbox"), "" if none
  Retry retry = Retry::none;               // worth asking again later, and why
  // Retry::greylisting only: the delay its reply asked for ("Greylisted for 300 seconds",
  // smtp/retry_hint.hpp); nullopt when it stated none or the answer is not a deferral.
  std::optional<std::chrono::seconds> retry_after;
};

/// Everything one session left: shared (read-only) by the results of all its recipients.
struct SessionReport {
  std::vector<Attempt> attempts;   // every connection tried, in order; the last one is "the" session
  bool esmtp = false;              // EHLO accepted (else HELO)
  bool pipelining = false;
  bool smtputf8 = false;           // SMTPUTF8 advertised (RFC 6531)
  TlsFacts tls;
  /// The random-address test: true when the server accepted a local part that cannot exist,
  /// false when it rejected it as unknown, nullopt when not tested or inconclusive.
  std::optional<bool> catch_all;
  std::optional<Reply> catch_all_reply;
  std::string catch_all_address;
  std::vector<StepReply> replies;       // banner, EHLO/HELO, STARTTLS, MAIL FROM, ... (not RCPT)
  std::vector<RecipientOutcome> recipients;  // one per recipient asked, same order
  std::vector<TranscriptLine> transcript;    // when keep_transcript
  std::uint32_t elapsed_ms = 0;

  [[nodiscard]] const Attempt* last() const noexcept { return attempts.empty() ? nullptr : &attempts.back(); }
};
using SessionPtr = std::shared_ptr<const SessionReport>;

/// The probe's answer for one address: its session's evidence and its own outcome.
struct AddressProbe {
  SessionPtr session;     // the session that gave the final answer
  std::size_t index = 0;  // this address in session->recipients
  std::optional<bool> catch_all;  // the domain's catch-all status (possibly from another session)
  int tries = 1;                  // sessions that asked about this address (greylisting retries)
  // The answers of the earlier sessions that asked (tries - 1 of them, oldest first): each one's
  // `retry` says why it was asked again.
  std::vector<RecipientOutcome> earlier;

  [[nodiscard]] const RecipientOutcome& outcome() const { return session->recipients.at(index); }
};

}  // namespace mailsift::smtp
