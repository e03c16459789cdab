#pragma once
// A finished job's callback: POST the job object to the client's callback_url. Outgoing requests to
// a URL a client chose are a classic way into an internal network (SSRF), so the target-safety rule
// of the DNS stage applies: loopback, private and other special addresses are refused unless the
// operator allows them (--allow-private-callbacks). Bounded: `tries` tries, each within `timeout`.
// The rule is applied twice: at job creation (check_at_submit: the client hears at once that its
// host resolves to a private address) and again to the addresses resolved for each try, since a
// name can resolve differently by then (DNS rebinding). Entry point: CallbackSender::send.
#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ssl/context.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace mailsift::server {

struct CallbackOptions {
  bool allow_private = false;                 // --allow-private-callbacks
  std::chrono::milliseconds timeout{10'000};  // per try: resolve, connect, TLS, request and answer
  int tries = 3;
  std::chrono::milliseconds first_delay{5'000}, second_delay{30'000};  // between tries
  // check_at_submit: how long resolving the host may take, and how many such resolutions may be
  // unfinished at once (a name whose DNS never answers keeps the system resolver busy past our
  // timeout; beyond this bound new checks are refused at once instead of queueing behind them).
  std::chrono::milliseconds submit_resolve_timeout{5'000};
  std::size_t max_submit_resolves = 64;
};

struct Url {
  bool tls = false;
  std::string host;  // a name, or an IP address (IPv6 without brackets)
  std::string port;
  std::string target;  // path and query, at least "/"
};

/// Parses an http:// or https:// URL (no user info, no fragment, at most 2,048 bytes, printable
/// ASCII only). Returns nullopt and sets `error` otherwise.
[[nodiscard]] std::optional<Url> parse_url(std::string_view s, std::string& error);

class CallbackSender {
 public:
  CallbackSender(boost::asio::io_context& io, CallbackOptions options);
  [[nodiscard]] const CallbackOptions& options() const noexcept { return opt_; }

  /// Checks a URL's syntax, and (when its host is an IP address) the target-safety rule, without
  /// waiting. Returns "" when fine, else why not.
  [[nodiscard]] std::string check(std::string_view url) const;
  /// check(), then for a host name: resolves it as the send path does (the system resolver),
  /// within submit_resolve_timeout, and applies the target-safety rule to every address (one unsafe
  /// address refuses it, unless allow_private). A name that does not resolve in time, or not at
  /// all, is refused too. Returns "" when fine, else why not. The send path checks again.
  [[nodiscard]] boost::asio::awaitable<std::string> check_at_submit(std::string url);

  using Done = std::function<void(bool delivered, std::string error, int attempts)>;
  /// POSTs `body` (JSON) to `url`, retrying; `done` runs on the io_context at the end.
  void send(std::string url, std::string body, Done done);

 private:
  boost::asio::io_context& io_;
  CallbackOptions opt_;
  boost::asio::ssl::context tls_;
  // Submit-time resolutions started and not finished (some may outlive their timeout).
  std::shared_ptr<std::size_t> submit_resolves_ = std::make_shared<std::size_t>(0);
};

}  // namespace mailsift::server
