#include "common/https.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <stdexcept>

#include "mailsift/version.hpp"

namespace mailsift {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;

namespace {
struct Url {
  std::string host, port = "443", target = "/";
};

Url parse(const std::string& url) {
  constexpr std::string_view kScheme = "https://";
  if (!url.starts_with(kScheme)) throw std::runtime_error(url + ": only https:// URLs are fetched");
  Url u;
  std::string_view rest = std::string_view(url).substr(kScheme.size());
  const std::size_t slash = rest.find('/');
  std::string_view authority = rest.substr(0, slash);
  if (slash != std::string_view::npos) u.target = std::string(rest.substr(slash));
  if (authority.find('@') != std::string_view::npos) throw std::runtime_error(url + ": no user information in a list URL");
  if (authority.starts_with('[')) {  // [IPv6]:port
    const std::size_t close = authority.find(']');
    if (close == std::string_view::npos) throw std::runtime_error(url + ": bad IPv6 address");
    u.host = std::string(authority.substr(1, close - 1));
    if (close + 1 < authority.size() && authority[close + 1] == ':') u.port = std::string(authority.substr(close + 2));
  } else {
    const std::size_t colon = authority.rfind(':');
    u.host = std::string(authority.substr(0, colon));
    if (colon != std::string_view::npos) u.port = std::string(authority.substr(colon + 1));
  }
  if (u.host.empty() || u.port.empty()) throw std::runtime_error(url + ": no host");
  for (const char c : u.target)
    if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f) throw std::runtime_error(url + ": a control or blank in the path");
  return u;
}
}  // namespace

std::string https_get(const std::string& url, const HttpsOptions& o) {
  const Url u = parse(url);
  asio::io_context io;
  asio::ssl::context ctx(asio::ssl::context::tls_client);
  ctx.set_verify_mode(asio::ssl::verify_peer);
  boost::system::error_code ec;
  if (o.ca_file.empty())
    ctx.set_default_verify_paths(ec);
  else
    ctx.load_verify_file(o.ca_file, ec);
  if (ec) throw std::runtime_error("CA " + (o.ca_file.empty() ? std::string("store") : o.ca_file) + ": " + ec.message());
  SSL_CTX_set_min_proto_version(ctx.native_handle(), TLS1_2_VERSION);

  beast::ssl_stream<beast::tcp_stream> s(io, ctx);
  const auto deadline = std::chrono::steady_clock::now() + o.timeout;
  auto left = [&] {
    const auto d = deadline - std::chrono::steady_clock::now();
    if (d <= std::chrono::milliseconds(0)) throw std::runtime_error(url + ": no answer within the time limit");
    return std::chrono::duration_cast<std::chrono::milliseconds>(d);
  };
  const std::string where = url + ": ";
  // Host name checked against the certificate (an IP address against its IP SANs); SNI for names.
  s.set_verify_callback(asio::ssl::host_name_verification(u.host));
  boost::system::error_code parse_ec;
  (void)asio::ip::make_address(u.host, parse_ec);
  if (parse_ec && SSL_set_tlsext_host_name(s.native_handle(), u.host.c_str()) != 1)
    throw std::runtime_error(where + "cannot set the TLS server name");

  {  // resolve and connect, under the same deadline (the resolver's own has none)
    std::exception_ptr failure;
    asio::ip::tcp::resolver resolver(io);
    beast::get_lowest_layer(s).expires_after(left());
    bool done = false;
    resolver.async_resolve(u.host, u.port, [&](boost::system::error_code e, asio::ip::tcp::resolver::results_type r) {
      if (e) {
        failure = std::make_exception_ptr(std::runtime_error(where + "cannot resolve " + u.host + ": " + e.message()));
        return;
      }
      beast::get_lowest_layer(s).async_connect(r, [&](boost::system::error_code e2, const asio::ip::tcp::endpoint&) {
        if (e2 == beast::error::timeout) return;  // the deadline: reported below as such
        if (e2) {
          failure = std::make_exception_ptr(std::runtime_error(where + "cannot connect: " + e2.message()));
          return;
        }
        done = true;
      });
    });
    io.run_for(left());
    io.restart();
    if (failure) std::rethrow_exception(failure);
    if (!done) throw std::runtime_error(where + "no connection within the time limit");
  }
  auto step = [&](auto&& op, const char* what) {
    beast::get_lowest_layer(s).expires_after(left());
    boost::system::error_code e;
    bool finished = false;
    op([&](boost::system::error_code r, std::size_t = 0) {
      e = r;
      finished = true;
    });
    io.run_for(left());
    io.restart();
    // The stream's timer and run_for share the deadline, so either may end the step first: both
    // are the same event and say the same thing.
    if (!finished || e == beast::error::timeout)
      throw std::runtime_error(where + what + ": no answer within the time limit");
    if (e == http::error::body_limit)
      throw std::runtime_error(where + "larger than " + std::to_string(o.max_bytes) + " bytes (--max-bytes)");
    if (e) throw std::runtime_error(where + what + ": " + e.message());
  };
  step([&](auto h) { s.async_handshake(asio::ssl::stream_base::client, [h](boost::system::error_code e) { h(e); }); },
       "TLS handshake");
  http::request<http::empty_body> req{http::verb::get, u.target, 11};
  req.set(http::field::host, u.host);
  req.set(http::field::user_agent, std::string("mailsift/") + kVersion);
  req.set(http::field::accept_encoding, "identity");
  req.set(http::field::connection, "close");
  step([&](auto h) { http::async_write(s, req, h); }, "sending the request");
  beast::flat_buffer buf;
  http::response_parser<http::string_body> parser;
  parser.header_limit(16 * 1024);
  parser.body_limit(o.max_bytes);
  step([&](auto h) { http::async_read(s, buf, parser, h); }, "reading the answer");
  const auto& res = parser.get();
  if (res.result() != http::status::ok)
    throw HttpsStatus(where + "answered " + std::to_string(res.result_int()) + " " + std::string(res.reason()),
                      static_cast<int>(res.result_int()));
  return std::move(parser.release().body());
}

}  // namespace mailsift
