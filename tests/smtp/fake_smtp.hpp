#pragma once
// A scripted SMTP server for the SMTP probe's unit tests: TCP on 127.0.0.1, ephemeral port. It runs
// its own io_context on its own thread, so the code under test can run on the test thread's
// io_context (or block) without the two event loops waiting on each other.
//
// What it answers: prefix rules set with on(), else RFC 5321 defaults (see on()). What it records:
// every line and every byte it receives, per connection, as soon as they arrive — even while a
// reply is delayed or withheld — so a test can check what the client sent after a timeout.
// Replies are raw bytes, so a test can send malformed, multi-line or split replies.
//
// Thread-safe: rules may be changed and records read from any thread while it runs.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace mailsift::test {

struct FakeReply {
  enum class Action {
    reply,             // send bytes, go on reading commands
    close,             // close the connection without sending anything
    reply_then_close,  // send bytes, then close
    silent,            // never answer this nor any later command; keep the connection open
    starttls,          // send bytes (e.g. "220 2.0.0 Ready\r\n"), then TLS server handshake (RFC 3207)
  };
  // Implicit on purpose: on("RCPT", "450 4.7.1 later\r\n"), on("RCPT", {"450 …\r\n", "250 …\r\n"}),
  // on("MAIL", {"250 Ok\r\n", 200ms}), on("RCPT", FakeReply::Action::silent).
  FakeReply() = default;
  FakeReply(const char* b, std::chrono::milliseconds d = {}, Action a = Action::reply)
      : bytes(b), delay(d), action(a) {}
  FakeReply(std::string b, std::chrono::milliseconds d = {}, Action a = Action::reply)
      : bytes(std::move(b)), delay(d), action(a) {}
  FakeReply(Action a, std::chrono::milliseconds d = {}) : delay(d), action(a) {}  // close, silent: no bytes

  std::string bytes;                   // sent as is: CRLFs included, may be garbage or several lines
  std::chrono::milliseconds delay{0};  // wait this long before acting (commands still get recorded)
  Action action = Action::reply;
};

class FakeSmtpServer {
 public:
  FakeSmtpServer();   // listening and serving defaults once constructed
  /// The same on `address` (any of 127.0.0.0/8: Linux routes them all to lo) and `port` (0: an
  /// ephemeral one): two servers on one port at different addresses, as one ProbeOptions::port needs.
  explicit FakeSmtpServer(const std::string& address, std::uint16_t port = 0);
  ~FakeSmtpServer();  // stops even with connections open or replies pending
  FakeSmtpServer(const FakeSmtpServer&) = delete;
  FakeSmtpServer& operator=(const FakeSmtpServer&) = delete;

  [[nodiscard]] std::uint16_t port() const;
  [[nodiscard]] static std::string host() { return "127.0.0.1"; }  // of the default constructor
  [[nodiscard]] std::string address() const;                        // the address listened on

  /// Greeting sent on connect. Default "220 fake.test ESMTP\r\n". Action::close drops the
  /// connection at once, Action::silent never greets (see tarpit()).
  void banner(FakeReply reply);
  /// A server that accepts and then never says anything.
  void tarpit() { banner(FakeReply::Action::silent); }

  /// Answer command lines beginning with `prefix` (case-insensitive: "EHLO", "MAIL FROM",
  /// "RCPT TO:<bob@") with `reply`. The longest matching prefix wins; the same prefix again
  /// replaces the rule. Without a matching rule: EHLO → multi-line 250 (PIPELINING, 8BITMIME,
  /// ENHANCEDSTATUSCODES, SMTPUTF8; STARTTLS while enable_tls() and not yet in TLS), HELO 250,
  /// MAIL "250 2.1.0 Ok", RCPT "250 2.1.5 Ok", RSET and NOOP "250 2.0.0 Ok", QUIT "221 2.0.0 Bye"
  /// then close, STARTTLS (when enabled) "220 2.0.0 Ready" then TLS, DATA "554 5.5.1 no DATA in
  /// tests" (a probe never sends DATA), anything else "502 5.5.2 Error".
  void on(std::string prefix, FakeReply reply);
  /// The same with replies used in turn, counted across all connections (greylisting: 450 on the
  /// first try, 250 on the retry, which is usually a new connection); the last one repeats.
  void on(std::string prefix, std::vector<FakeReply> sequence);
  void clear_rules();

  /// Offer STARTTLS (RFC 3207) with the self-signed certificate in tests/smtp/data (CN fake.test).
  /// Closing after TLS skips close_notify, as many real servers do.
  void enable_tls();
  [[nodiscard]] static std::string certificate_file();  // PEM, to trust it in a client

  // --- records; connections are numbered in the order they were accepted ---
  [[nodiscard]] int connections() const;       // accepted so far
  /// Accepted and not yet closed. A connection the server closes after a reply (QUIT's 221)
  /// stops counting before that reply is sent, so a client that reconnects on reading it is
  /// never seen with one connection too many.
  [[nodiscard]] int open_connections() const;
  [[nodiscard]] int max_concurrent() const;  // most connections open at once
  /// Lines received per connection, without their line end (a lone LF ends a line too; a CR
  /// elsewhere is kept). A line over 4096 bytes is recorded as its first 4096 bytes.
  [[nodiscard]] std::vector<std::vector<std::string>> sessions() const;
  [[nodiscard]] std::vector<std::string> lines() const;  // all connections, in order of arrival
  [[nodiscard]] std::vector<bool> tls_used() const;      // per connection: TLS handshake completed
  [[nodiscard]] std::vector<std::string> peers() const;  // per connection: the client's IP address
  /// Bytes received per connection, exactly (after STARTTLS: the decrypted bytes), the first
  /// 1 MiB of each: to assert that a string with a CR or LF in it never reached the server.
  [[nodiscard]] std::vector<std::string> raw() const;
  [[nodiscard]] std::string raw_bytes() const;  // raw() of all connections, concatenated

  /// Blocks until `n` lines in all were received / no connection is open; false on timeout.
  /// For synchronising with the client, not for measuring it.
  bool wait_for_lines(std::size_t n, std::chrono::milliseconds timeout = std::chrono::seconds(10)) const;
  bool wait_until_closed(std::chrono::milliseconds timeout = std::chrono::seconds(10)) const;

 private:
  struct Impl;  // in the .cpp: keeps Asio and OpenSSL out of the tests that include this
  std::unique_ptr<Impl> impl_;
};

/// A loopback port with nothing listening (bound to an ephemeral port, then closed), for
/// connection-refused tests. Another process could take it meanwhile; unlikely within a test.
[[nodiscard]] std::uint16_t closed_port();

}  // namespace mailsift::test
