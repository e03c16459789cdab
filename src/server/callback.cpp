#include "server/callback.hpp"

#include <openssl/ssl.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <boost/beast/version.hpp>

#include "dns/target.hpp"
#include "mailsift/version.hpp"

namespace mailsift::server {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using asio::ip::tcp;

std::optional<Url> parse_url(std::string_view s, std::string& error) {
  if (s.size() > 2048) {
    error = "callback_url is longer than 2,048 bytes";
    return std::nullopt;
  }
  for (const char c : s) {
    if (static_cast<unsigned char>(c) <= 0x20 || static_cast<unsigned char>(c) >= 0x7F) {
      error = "callback_url holds a space, a control or a non-ASCII byte";
      return std::nullopt;
    }
  }
  Url u;
  std::string_view rest;
  if (s.starts_with("http://")) {
    rest = s.substr(7);
  } else if (s.starts_with("https://")) {
    u.tls = true;
    rest = s.substr(8);
  } else {
    error = "callback_url must start with http:// or https://";
    return std::nullopt;
  }
  if (rest.find('#') != std::string_view::npos) {
    error = "callback_url must not have a fragment";
    return std::nullopt;
  }
  const std::size_t slash = rest.find_first_of("/?");
  std::string_view authority = rest.substr(0, slash);
  u.target = slash == std::string_view::npos ? "/" : std::string(rest.substr(slash));
  if (u.target.front() == '?') u.target.insert(0, "/");
  if (authority.find('@') != std::string_view::npos) {
    error = "callback_url must not hold user info";
    return std::nullopt;
  }
  std::string_view port;
  if (authority.starts_with("[")) {
    const std::size_t close = authority.find(']');
    if (close == std::string_view::npos) {
      error = "callback_url has an unclosed [";
      return std::nullopt;
    }
    u.host = authority.substr(1, close - 1);
    const std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') {
        error = "callback_url: bad text after ]";
        return std::nullopt;
      }
      port = after.substr(1);
    }
  } else {
    const std::size_t colon = authority.rfind(':');
    u.host = authority.substr(0, colon);
    if (colon != std::string_view::npos) port = authority.substr(colon + 1);
  }
  if (u.host.empty()) {
    error = "callback_url has no host";
    return std::nullopt;
  }
  if (port.empty()) {
    u.port = u.tls ? "443" : "80";
  } else {
    int p = 0;
    for (const char c : port) {
      if (c < '0' || c > '9' || p > 65535) {
        error = "callback_url has a bad port";
        return std::nullopt;
      }
      p = p * 10 + (c - '0');
    }
    if (p < 1 || p > 65535) {
      error = "callback_url has a bad port";
      return std::nullopt;
    }
    u.port = std::string(port);
  }
  return u;
}

CallbackSender::CallbackSender(asio::io_context& io, CallbackOptions options)
    : io_(io), opt_(options), tls_(asio::ssl::context::tls_client) {
  tls_.set_default_verify_paths();
  tls_.set_verify_mode(asio::ssl::verify_peer);
  SSL_CTX_set_min_proto_version(tls_.native_handle(), TLS1_2_VERSION);
}

namespace {

struct Resolved {
  std::string error;  // "" when `endpoints` holds the answer
  std::vector<tcp::endpoint> endpoints;
};

// Resolves host:port with the system resolver, within `timeout`. asio runs getaddrinfo on a
// thread of its own and cannot interrupt it (cancel() only drops a query not yet started), so we
// wait on a timer instead and leave a late answer to a state the resolver's handler still owns.
// `outstanding` counts the resolutions not finished yet, abandoned ones included.
asio::awaitable<Resolved> resolve_within(const std::string& host, const std::string& port,
                                         std::chrono::milliseconds timeout,
                                         std::shared_ptr<std::size_t> outstanding = nullptr) {
  auto ex = co_await asio::this_coro::executor;
  struct State {
    explicit State(const asio::any_io_executor& e) : resolver(e), timer(e) {}
    tcp::resolver resolver;
    asio::steady_timer timer;
    bool done = false;
    Resolved out;
  };
  auto st = std::make_shared<State>(ex);
  if (outstanding) ++*outstanding;
  st->resolver.async_resolve(
      host, port,
      [st, outstanding, host](const boost::system::error_code& ec, const tcp::resolver::results_type& results) {
        if (outstanding) --*outstanding;
        if (st->done) return;  // timed out meanwhile
        st->done = true;
        if (ec) {
          st->out.error = "resolving " + host + ": " + ec.message();
        } else {
          for (const auto& e : results) st->out.endpoints.push_back(e.endpoint());
          if (st->out.endpoints.empty()) st->out.error = "resolving " + host + ": no address";
        }
        st->timer.cancel();
      });
  st->timer.expires_after(timeout);
  co_await st->timer.async_wait(asio::as_tuple(asio::use_awaitable));
  if (!st->done) {
    st->done = true;
    st->resolver.cancel();  // drops it if it has not started; else its late answer is ignored
    co_return Resolved{"resolving " + host + " timed out", {}};
  }
  co_return std::move(st->out);
}

}  // namespace

std::string CallbackSender::check(std::string_view url) const {
  std::string error;
  auto u = parse_url(url, error);
  if (!u) return error;
  boost::system::error_code ec;
  const auto ip = asio::ip::make_address(u->host, ec);
  if (!ec && !opt_.allow_private) {
    const std::string_view why = dns::unsafe_reason(ip.to_string());
    if (!why.empty())
      return "callback_url points at a " + std::string(why) +
             " address (the server refuses those unless started with --allow-private-callbacks)";
  }
  return {};
}

namespace {

// The target-safety rule over every address `host` resolved to: "" when all are fine.
std::string unsafe_endpoint(const std::string& host, const std::vector<tcp::endpoint>& eps) {
  for (const tcp::endpoint& e : eps) {
    const std::string_view why = dns::unsafe_reason(e.address().to_string());
    if (!why.empty()) return host + " resolves to a " + std::string(why) + " address (refused)";
  }
  return {};
}

// One try: resolve, check every address (again: the name may resolve elsewhere than when the job
// was accepted, DNS rebinding), connect, TLS, POST, read the answer. Returns "" when the server
// answered 2xx, else what went wrong.
asio::awaitable<std::string> post_once(asio::ssl::context& tls, const Url& u, const std::string& body,
                                       const CallbackOptions& opt) {
  auto ex = co_await asio::this_coro::executor;
  Resolved r = co_await resolve_within(u.host, u.port, opt.timeout);
  if (!r.error.empty()) co_return r.error;
  if (!opt.allow_private) {
    if (std::string why = unsafe_endpoint(u.host, r.endpoints); !why.empty()) co_return why;
  }
  const std::vector<tcp::endpoint>& eps = r.endpoints;

  http::request<http::string_body> req{http::verb::post, u.target, 11};
  req.set(http::field::host, u.host);
  req.set(http::field::user_agent, std::string("mailsift/") + kVersion);
  req.set(http::field::content_type, "application/json");
  req.body() = body;
  req.prepare_payload();
  beast::flat_buffer buf;
  http::response_parser<http::string_body> res;
  res.body_limit(64 * 1024);
  res.header_limit(16 * 1024);
  beast::tcp_stream stream(ex);
  stream.expires_after(opt.timeout);
  auto [cec, ep] = co_await stream.async_connect(eps, asio::as_tuple(asio::use_awaitable));
  (void)ep;
  if (cec) co_return "connecting to " + u.host + ": " + cec.message();
  boost::system::error_code ec;
  if (u.tls) {
    beast::ssl_stream<beast::tcp_stream> s(std::move(stream), tls);
    SSL_set_tlsext_host_name(s.native_handle(), u.host.c_str());
    s.set_verify_callback(asio::ssl::host_name_verification(u.host));
    std::tie(ec) = co_await s.async_handshake(asio::ssl::stream_base::client, asio::as_tuple(asio::use_awaitable));
    if (ec) co_return "TLS with " + u.host + ": " + ec.message();
    std::tie(ec, std::ignore) = co_await http::async_write(s, req, asio::as_tuple(asio::use_awaitable));
    if (!ec) std::tie(ec, std::ignore) = co_await http::async_read(s, buf, res, asio::as_tuple(asio::use_awaitable));
  } else {
    std::tie(ec, std::ignore) = co_await http::async_write(stream, req, asio::as_tuple(asio::use_awaitable));
    if (!ec)
      std::tie(ec, std::ignore) = co_await http::async_read(stream, buf, res, asio::as_tuple(asio::use_awaitable));
  }
  if (ec) co_return "POST to " + u.host + ": " + ec.message();
  const unsigned code = res.get().result_int();
  if (code < 200 || code > 299) co_return "POST to " + u.host + " answered " + std::to_string(code);
  co_return std::string();
}

}  // namespace

asio::awaitable<std::string> CallbackSender::check_at_submit(std::string url) {
  if (std::string why = check(url); !why.empty()) co_return why;
  std::string error;
  const std::optional<Url> u = parse_url(url, error);
  boost::system::error_code ec;
  (void)asio::ip::make_address(u->host, ec);
  if (!ec) co_return std::string();  // an IP address: check() has applied the rule
  if (*submit_resolves_ >= opt_.max_submit_resolves)
    co_return "callback_url: too many host names being resolved at once; try again later";
  Resolved r = co_await resolve_within(u->host, u->port, opt_.submit_resolve_timeout, submit_resolves_);
  if (!r.error.empty()) co_return "callback_url: " + r.error;
  if (opt_.allow_private) co_return std::string();
  if (std::string why = unsafe_endpoint(u->host, r.endpoints); !why.empty())
    co_return "callback_url: " + why + " (the server refuses those unless started with --allow-private-callbacks)";
  co_return std::string();
}

void CallbackSender::send(std::string url, std::string body, Done done) {
  asio::co_spawn(
      io_,
      [this, url = std::move(url), body = std::move(body), done]() -> asio::awaitable<void> {
        std::string error;
        auto u = parse_url(url, error);
        int attempts = 0;
        if (u) {
          asio::steady_timer wait(co_await asio::this_coro::executor);
          for (int t = 0; t < opt_.tries; ++t) {
            if (t > 0) {
              wait.expires_after(t == 1 ? opt_.first_delay : opt_.second_delay);
              co_await wait.async_wait(asio::as_tuple(asio::use_awaitable));
            }
            ++attempts;
            error = co_await post_once(tls_, *u, body, opt_);
            if (error.empty()) break;
          }
        }
        done(error.empty(), error, attempts);
      },
      [](const std::exception_ptr& e) {
        if (e) std::rethrow_exception(e);
      });
}

}  // namespace mailsift::server
