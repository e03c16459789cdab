#pragma once
// A finished job's callback: POST the job object to the client's callback_url. Outgoing requests to
// a URL a client chose are a classic way into an internal network (SSRF), so the target-safety rule
// of the DNS stage applies: loopback, private and other special addresses are refused unless the
// operator allows them (--allow-private-callbacks). Bounded: `tries` tries, each within `timeout`.
// Entry point: CallbackSender::send.
#include <boost/asio/io_context.hpp>
#include <boost/asio/ssl/context.hpp>
#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

namespace mailsift::server {

struct CallbackOptions {
  bool allow_private = false;                 // --allow-private-callbacks
  std::chrono::milliseconds timeout{10'000};  // per try: resolve, connect, TLS, request and answer
  int tries = 3;
  std::chrono::milliseconds first_delay{5'000}, second_delay{30'000};  // between tries
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

  /// Checks a URL at job creation: its syntax, and (when its host is an IP address) the
  /// target-safety rule. Host names are checked when the call is made. Returns "" when fine.
  [[nodiscard]] std::string check(std::string_view url) const;

  using Done = std::function<void(bool delivered, std::string error, int attempts)>;
  /// POSTs `body` (JSON) to `url`, retrying; `done` runs on the io_context at the end.
  void send(std::string url, std::string body, Done done);

 private:
  boost::asio::io_context& io_;
  CallbackOptions opt_;
  boost::asio::ssl::context tls_;
};

}  // namespace mailsift::server
