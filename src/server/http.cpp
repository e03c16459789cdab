#include "server/http.hpp"

#include <openssl/ssl.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <stdexcept>
#include <type_traits>

#include "mailsift/version.hpp"

namespace mailsift::server {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using asio::ip::tcp;

namespace {

constexpr std::size_t kHeaderLimit = 16 * 1024;
constexpr auto kTlsShutdown = std::chrono::seconds(2);

std::chrono::milliseconds ms(double seconds) {
  return std::chrono::milliseconds(static_cast<std::int64_t>(seconds * 1000.0 + 0.5));
}

template <class S>
beast::tcp_stream& tcp_of(S& s) {
  if constexpr (std::is_same_v<S, beast::tcp_stream>) return s;
  else return s.next_layer();
}

}  // namespace

tcp::endpoint parse_listen(const std::string& s) {
  std::string host, port;
  if (s.starts_with("[")) {
    const std::size_t close = s.find("]:");
    if (close == std::string::npos) throw std::invalid_argument("--listen: expected [IPV6]:PORT, got " + s);
    host = s.substr(1, close - 1);
    port = s.substr(close + 2);
  } else {
    const std::size_t colon = s.rfind(':');
    if (colon == std::string::npos) throw std::invalid_argument("--listen: expected HOST:PORT, got " + s);
    host = s.substr(0, colon);
    port = s.substr(colon + 1);
  }
  if (host == "localhost") host = "127.0.0.1";
  boost::system::error_code ec;
  const auto addr = asio::ip::make_address(host, ec);
  if (ec) throw std::invalid_argument("--listen: " + host + " is not an IP address");
  int p = -1;
  if (!port.empty() && port.size() <= 5 && port.find_first_not_of("0123456789") == std::string::npos) p = std::stoi(port);
  if (p < 0 || p > 65535) throw std::invalid_argument("--listen: bad port '" + port + "'");
  return {addr, static_cast<unsigned short>(p)};
}

HttpServer::HttpServer(asio::io_context& io, const ServeOptions& o, Api& api, Metrics& metrics, const Log& log)
    : io_(io), opt_(o), api_(api), metrics_(metrics), log_(log), acceptor_(io) {
  if (o.tls_cert.empty() != o.tls_key.empty()) throw std::invalid_argument("--tls-cert and --tls-key go together");
  if (!o.tls_cert.empty()) {
    tls_ = std::make_unique<asio::ssl::context>(asio::ssl::context::tls_server);
    tls_->set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                      asio::ssl::context::no_sslv3 | asio::ssl::context::no_tlsv1 | asio::ssl::context::no_tlsv1_1 |
                      asio::ssl::context::single_dh_use);
    // TLS 1.2 at least; OpenSSL negotiates 1.3 whenever the client has it.
    SSL_CTX_set_min_proto_version(tls_->native_handle(), TLS1_2_VERSION);
    boost::system::error_code ec;
    tls_->use_certificate_chain_file(o.tls_cert, ec);
    if (ec) throw std::invalid_argument("--tls-cert " + o.tls_cert + ": " + ec.message());
    tls_->use_private_key_file(o.tls_key, asio::ssl::context::pem, ec);
    if (ec) throw std::invalid_argument("--tls-key " + o.tls_key + ": " + ec.message());
    if (SSL_CTX_check_private_key(tls_->native_handle()) != 1)
      throw std::invalid_argument("--tls-key does not match --tls-cert");
  }
  const tcp::endpoint ep = parse_listen(o.listen);
  acceptor_.open(ep.protocol());
  acceptor_.set_option(asio::socket_base::reuse_address(true));
  acceptor_.bind(ep);
  acceptor_.listen(asio::socket_base::max_listen_connections);
}

void HttpServer::start() {
  asio::co_spawn(io_, accept_loop(), asio::detached);
}

void HttpServer::stop() {
  stopping_ = true;
  boost::system::error_code ec;
  acceptor_.close(ec);
}

asio::awaitable<void> HttpServer::accept_loop() {
  while (!stopping_) {
    auto [ec, socket] = co_await acceptor_.async_accept(asio::as_tuple(asio::use_awaitable));
    if (ec) {
      if (stopping_ || ec == asio::error::operation_aborted) co_return;
      // EMFILE and friends: wait a little rather than spin; the connections in hand go on.
      log_.line("accept: " + ec.message());
      asio::steady_timer t(io_, std::chrono::milliseconds(100));
      co_await t.async_wait(asio::as_tuple(asio::use_awaitable));
      continue;
    }
    if (connections_ >= opt_.max_connections) {
      boost::system::error_code ignored;
      socket.close(ignored);  // over --max-connections: refused at once, nothing read
      continue;
    }
    asio::co_spawn(io_, connection(std::move(socket)), asio::detached);
  }
}

asio::awaitable<void> HttpServer::connection(tcp::socket socket) {
  ++connections_;
  struct Count {
    std::size_t& n;
    ~Count() { --n; }
  } count{connections_};
  boost::system::error_code ec;
  const auto remote = socket.remote_endpoint(ec);
  const std::string client = ec ? std::string("?") : remote.address().to_string();
  beast::tcp_stream stream(std::move(socket));
  if (!tls_) {
    co_await serve(stream, client);
    stream.socket().shutdown(tcp::socket::shutdown_send, ec);
    co_return;
  }
  beast::ssl_stream<beast::tcp_stream> s(std::move(stream), *tls_);
  s.next_layer().expires_after(ms(opt_.read_timeout));
  std::tie(ec) = co_await s.async_handshake(asio::ssl::stream_base::server, asio::as_tuple(asio::use_awaitable));
  if (ec) co_return;  // not TLS, old TLS, a scanner: nothing to answer
  co_await serve(s, client);
  s.next_layer().expires_after(kTlsShutdown);
  std::tie(ec) = co_await s.async_shutdown(asio::as_tuple(asio::use_awaitable));
}

template <class Stream>
asio::awaitable<void> HttpServer::serve(Stream& s, const std::string& client) {
  beast::flat_buffer buf;
  bool first = true;
  for (;;) {
    http::request_parser<http::string_body> parser;
    parser.header_limit(kHeaderLimit);
    parser.body_limit(opt_.max_body);
    // The first request must arrive within the read timeout; later ones on a kept-alive
    // connection may take the idle timeout to start. The deadline cancels the read rather than
    // closing the socket (as tcp_stream's own timeout would), so a late client still gets its 408.
    tcp_of(s).expires_never();
    asio::steady_timer deadline(co_await asio::this_coro::executor);
    bool timed_out = false;
    auto arm = [&](double seconds) {
      deadline.expires_after(ms(seconds));
      deadline.async_wait([&timed_out, &s](boost::system::error_code e) {
        if (e) return;
        timed_out = true;
        boost::system::error_code ignored;
        tcp_of(s).socket().cancel(ignored);
      });
    };
    arm(first ? opt_.read_timeout : opt_.idle_timeout);
    auto [ec, n] = co_await http::async_read_header(s, buf, parser, asio::as_tuple(asio::use_awaitable));
    Reply reply;
    bool keep_alive = false;
    bool have_request = false;
    if (!ec) {
      deadline.cancel();
      if (parser.get()[http::field::expect] == "100-continue" && !parser.is_done()) {
        http::response<http::empty_body> cont{http::status::continue_, 11};
        tcp_of(s).expires_after(ms(opt_.read_timeout));
        std::tie(ec, std::ignore) = co_await http::async_write(s, cont, asio::as_tuple(asio::use_awaitable));
        if (ec) co_return;
        tcp_of(s).expires_never();
      }
      if (!parser.is_done()) {
        arm(opt_.read_timeout);
        std::tie(ec, n) = co_await http::async_read(s, buf, parser, asio::as_tuple(asio::use_awaitable));
      }
    }
    deadline.cancel();
    if (ec) {
      if (timed_out) {
        // An idle kept-alive connection that sent nothing is closed quietly; a request that did
        // not arrive in time gets a 408.
        if (!first && buf.size() == 0 && !parser.got_some()) co_return;
        reply = Api::error(408, "request_timeout", "the request did not arrive within the read timeout");
      } else if (ec == http::error::end_of_stream || ec == asio::error::eof || ec == asio::error::connection_reset ||
                 ec == asio::error::operation_aborted) {
        co_return;
      } else if (ec == http::error::body_limit) {
        reply = Api::error(413, "body_too_large", "the body is larger than " + std::to_string(opt_.max_body) + " bytes");
      } else if (ec == http::error::header_limit) {
        reply = Api::error(431, "headers_too_large", "the request headers are larger than 16 KiB");
      } else {
        reply = Api::error(400, "bad_request", "malformed HTTP request: " + ec.message());
      }
    } else {
      have_request = true;
      const HttpRequest& req = parser.get();
      keep_alive = req.keep_alive();
      tcp_of(s).expires_never();  // the handler may wait up to the request's own timeout
      try {
        reply = co_await api_.handle(req, client);
      } catch (const std::exception& e) {
        log_.line(std::string("internal error on ") + std::string(req.method_string()) + " " +
                  std::string(req.target().substr(0, req.target().find('?'))) + ": " + e.what());
        reply = Api::error(500, "internal_error", "the request failed (see the server log); nothing else did");
      }
    }
    metrics_.http_request(reply.status);
    if (stopping_) keep_alive = false;

    http::response<http::string_body> res{static_cast<http::status>(reply.status), 11};
    res.set(http::field::server, std::string("mailsift/") + kVersion);
    res.set(http::field::content_type, reply.content_type);
    res.set(http::field::cache_control, "no-store");
    res.set("X-Content-Type-Options", "nosniff");
    for (const auto& [k, v] : reply.headers) res.set(k, v);
    res.keep_alive(keep_alive);
    // Writes are bounded too: a client that stops reading is cut off.
    tcp_of(s).expires_after(ms(std::max(opt_.read_timeout, 60.0)));
    if (reply.stream) {
      http::response<http::empty_body> head{res.result(), 11};
      for (const auto& field : res) head.set(field.name_string(), field.value());
      head.keep_alive(keep_alive);
      head.chunked(true);
      http::response_serializer<http::empty_body> sr{head};
      std::tie(ec, std::ignore) = co_await http::async_write_header(s, sr, asio::as_tuple(asio::use_awaitable));
      std::string piece;
      while (!ec) {
        piece.clear();
        bool more = false;
        try {
          more = reply.stream(piece);
        } catch (const std::exception& e) {
          log_.line(std::string("internal error while streaming: ") + e.what());
          co_return;  // the client sees a truncated chunked body, never a wrong one
        }
        if (!more) break;
        if (piece.empty()) continue;
        tcp_of(s).expires_after(ms(std::max(opt_.read_timeout, 60.0)));
        std::tie(ec, std::ignore) =
            co_await asio::async_write(s, http::make_chunk(asio::buffer(piece)), asio::as_tuple(asio::use_awaitable));
      }
      if (!ec) std::tie(ec, std::ignore) = co_await asio::async_write(s, http::make_chunk_last(), asio::as_tuple(asio::use_awaitable));
    } else {
      res.body() = std::move(reply.body);
      res.prepare_payload();
      std::tie(ec, std::ignore) = co_await http::async_write(s, res, asio::as_tuple(asio::use_awaitable));
    }
    if (ec || !have_request || !keep_alive) co_return;
    first = false;
  }
}

}  // namespace mailsift::server
