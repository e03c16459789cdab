#pragma once
// One TCP connection to a mail server, plain or (after STARTTLS) TLS, optionally through a SOCKS5
// proxy, with a deadline on every operation. Internal to the session (smtp/session.cpp); its own
// header so the unit tests can drive it against a fake server.
//
// Deadlines: one lazily re-armed timer per connection (a watchdog). Each operation only moves the
// deadline; the timer wakes at the old deadline, sees the new one and sleeps again, so a session
// of ten commands costs one or two timer waits instead of ten arm/cancel pairs. When a deadline
// passes, the watchdog cancels the socket and the pending operation ends with `timed_out`.
#include <openssl/ssl.h>

#include <array>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <memory>
#include <optional>
#include <string>

#include "smtp/classify.hpp"
#include "smtp/probe.hpp"
#include "smtp/reply.hpp"
#include "smtp/tls.hpp"

namespace mailsift::smtp {

using Clock = std::chrono::steady_clock;

/// The outcome of one I/O step: ok, or a Failure with a human detail.
struct Io {
  std::optional<Failure> failure;
  std::string detail;
  [[nodiscard]] bool ok() const noexcept { return !failure; }
};

struct ReadResult {
  std::optional<Reply> reply;  // set when ok
  Io io;
};

class Connection : public std::enable_shared_from_this<Connection> {
 public:
  explicit Connection(boost::asio::any_io_executor ex) : sock_(ex), timer_(std::move(ex)) {}
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  /// Connects to `remote` (directly, or through `proxy` with a SOCKS5 CONNECT to it), from the
  /// local address `source` when not empty.
  boost::asio::awaitable<Io> connect(const boost::asio::ip::tcp::endpoint& remote, const std::string& source,
                                     const std::optional<Proxy>& proxy, Clock::time_point deadline);
  /// Writes `data` (one or more complete command lines, CRLF included).
  boost::asio::awaitable<Io> write(std::string_view data, Clock::time_point deadline);
  /// Reads the next complete reply.
  boost::asio::awaitable<ReadResult> read_reply(Clock::time_point deadline);
  /// RFC 3207 handshake after `220` to STARTTLS. `name` is sent as SNI and checked against the
  /// certificate; a bad certificate is recorded in `facts`, never fatal. A failed handshake is.
  /// `key` (TlsClient::session_key) names the host in `tls`'s session cache: its cached session is
  /// offered, and the sessions this server hands out are kept under it.
  boost::asio::awaitable<Io> start_tls(TlsClient& tls, const std::string& name, std::string key,
                                       Clock::time_point deadline, TlsFacts& facts);
  /// True when bytes the server sent are waiting unread (after a STARTTLS 220 that means a
  /// plaintext injection attempt, CVE-2011-0411: the session must not go on).
  [[nodiscard]] bool has_buffered_input() const noexcept { return reader_.has_unread(); }

  /// Every raw line the server sent (for --transcript), when enabled before connect().
  void keep_lines(std::vector<TranscriptLine>* sink, Clock::time_point start) {
    lines_ = sink;
    start_ = start;
  }
  void close() noexcept;
  ~Connection() { close(); }

 private:
  void set_deadline(Clock::time_point d);
  void arm(Clock::time_point at);
  void on_timer(std::uint64_t generation);
  Io failed(const boost::system::error_code& ec, std::string_view what) const;
  boost::asio::awaitable<Io> socks5(const boost::asio::ip::tcp::endpoint& remote, const Proxy& proxy);
  boost::asio::awaitable<Io> read_exact(char* data, std::size_t n);
  void record_lines(std::string_view bytes);

  boost::asio::ip::tcp::socket sock_;
  std::string tls_key_;  // the session cache key of tls_ (its SSL points to it: declared before, freed after)
  std::optional<boost::asio::ssl::stream<boost::asio::ip::tcp::socket&>> tls_;
  bool tls_up_ = false;  // the handshake completed
  boost::asio::steady_timer timer_;
  Clock::time_point deadline_{};
  Clock::time_point armed_at_{};
  std::uint64_t generation_ = 0;
  bool armed_ = false;
  bool expired_ = false;
  bool closed_ = false;
  ReplyReader reader_;
  std::array<char, 4096> buf_{};
  std::vector<TranscriptLine>* lines_ = nullptr;
  Clock::time_point start_{};
  std::string partial_;  // an incomplete line for the transcript
};

}  // namespace mailsift::smtp
