#include "server/http.hpp"

#include <openssl/ssl.h>

#include <array>
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
#include <optional>
#include <stdexcept>
#include <type_traits>

#include "mailsift/version.hpp"
#include "server/json.hpp"

namespace mailsift::server {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using asio::ip::tcp;

namespace {

// The largest request header (and, through the read buffer, the largest chunk line and trailer
// section): common servers allow 8-16 KiB (nginx 8 KiB per line, Apache 8 KiB per field).
constexpr std::size_t kHeaderLimit = 16 * 1024;
// Chunk extensions of one request, in all (RFC 9112 §7.1.1: we use none of them).
constexpr std::size_t kChunkExtensionLimit = 16 * 1024;
constexpr auto kTlsShutdown = std::chrono::seconds(2);
// After answering a request whose body we did not read, the rest of the body is read and dropped
// for a moment before the socket closes: closing with unread data sends a reset that can destroy
// our reply before the client has read it. Bounded both ways.
constexpr std::size_t kLingerBytes = 256 * 1024;
constexpr auto kLingerTime = std::chrono::seconds(1);

std::chrono::milliseconds ms(double seconds) {
  return std::chrono::milliseconds(static_cast<std::int64_t>(seconds * 1000.0 + 0.5));
}

template <class S>
beast::tcp_stream& tcp_of(S& s) {
  if constexpr (std::is_same_v<S, beast::tcp_stream>)
    return s;
  else
    return s.next_layer();
}

// A request's share of the body budget, given back when the request is done.
class Charge {
 public:
  explicit Charge(BodyBudget& b) : budget_(b) {}
  ~Charge() { budget_.give(held_); }
  Charge(const Charge&) = delete;
  Charge& operator=(const Charge&) = delete;
  bool grow_to(std::size_t n) {
    if (n <= held_) return true;
    if (!budget_.take(n - held_)) return false;
    held_ = n;
    return true;
  }

 private:
  BodyBudget& budget_;
  std::size_t held_ = 0;
};

Reply error_reply(unsigned status, std::string_view code, std::string_view message) {
  Reply r;
  r.status = status;
  r.body = error_json(code, message);
  return r;
}

Reply busy_reply() {
  Reply r = error_reply(503, "server_busy", "too many request bodies are being received at once: retry shortly");
  r.headers.emplace_back("Retry-After", "1");
  return r;
}

void log_exception(const Log& log, std::string_view where, const std::exception_ptr& e) {
  try {
    std::rethrow_exception(e);
  } catch (const std::exception& x) {
    log.line(std::string("internal error ") + std::string(where) + ": " + x.what());
  } catch (...) {
    log.line(std::string("internal error ") + std::string(where) + ": an unknown exception");
  }
}

}  // namespace

std::string client_group(const asio::ip::address& a) {
  if (a.is_v4()) return a.to_string();
  const asio::ip::address_v6 v6 = a.to_v6();
  if (v6.is_v4_mapped()) return asio::ip::make_address_v4(asio::ip::v4_mapped, v6).to_string();
  asio::ip::address_v6::bytes_type b = v6.to_bytes();
  std::fill(b.begin() + 8, b.end(), 0);
  return asio::ip::address_v6(b).to_string() + "/64";
}

std::size_t run_event_loop(asio::io_context& io, const Log& log) {
  std::size_t caught = 0;
  for (;;) {
    try {
      io.run();
      return caught;
    } catch (...) {
      ++caught;
      log_exception(log, "(the server goes on)", std::current_exception());
    }
  }
}

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
  if (!port.empty() && port.size() <= 5 && port.find_first_not_of("0123456789") == std::string::npos)
    p = std::stoi(port);
  if (p < 0 || p > 65535) throw std::invalid_argument("--listen: bad port '" + port + "'");
  return {addr, static_cast<unsigned short>(p)};
}

// One open connection, as the accept loop sees it.
struct HttpServer::Conn {
  std::string group;
  std::string client;            // the peer's address, for the handler
  bool between_requests = true;  // waiting for a request or reading its header: may be evicted
  tcp::socket* socket = nullptr;
};

namespace {
// The server's TLS context from PEM files; throws std::invalid_argument naming the file at fault.
std::shared_ptr<asio::ssl::context> tls_context(const std::string& cert, const std::string& key) {
  auto ctx = std::make_shared<asio::ssl::context>(asio::ssl::context::tls_server);
  ctx->set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                   asio::ssl::context::no_sslv3 | asio::ssl::context::no_tlsv1 | asio::ssl::context::no_tlsv1_1 |
                   asio::ssl::context::single_dh_use);
  // TLS 1.2 at least; OpenSSL negotiates 1.3 whenever the client has it.
  SSL_CTX_set_min_proto_version(ctx->native_handle(), TLS1_2_VERSION);
  boost::system::error_code ec;
  ctx->use_certificate_chain_file(cert, ec);
  if (ec) throw std::invalid_argument("--tls-cert " + cert + ": " + ec.message());
  ctx->use_private_key_file(key, asio::ssl::context::pem, ec);
  if (ec) throw std::invalid_argument("--tls-key " + key + ": " + ec.message());
  if (SSL_CTX_check_private_key(ctx->native_handle()) != 1)
    throw std::invalid_argument("--tls-key does not match --tls-cert");
  return ctx;
}
}  // namespace

void HttpServer::reload_tls() {
  if (tls_) tls_ = tls_context(opt_.tls_cert, opt_.tls_key);
}

HttpServer::HttpServer(asio::io_context& io, const ServeOptions& o, RequestHandler& handler, Metrics& metrics,
                       const Log& log)
    : io_(io), opt_(o), handler_(handler), metrics_(metrics), log_(log), acceptor_(io), bodies_(o.max_body_total) {
  if (o.tls_cert.empty() != o.tls_key.empty()) throw std::invalid_argument("--tls-cert and --tls-key go together");
  if (!o.tls_cert.empty()) tls_ = tls_context(o.tls_cert, o.tls_key);
  if (o.max_connections_per_client == 0) throw std::invalid_argument("--max-connections-per-client must be at least 1");
  const tcp::endpoint ep = parse_listen(o.listen);
  acceptor_.open(ep.protocol());
  acceptor_.set_option(asio::socket_base::reuse_address(true));
  acceptor_.bind(ep);
  acceptor_.listen(asio::socket_base::max_listen_connections);
}

HttpServer::~HttpServer() = default;

void HttpServer::start() {
  asio::co_spawn(io_, accept_loop(), [this](const std::exception_ptr& e) {
    if (e) log_exception(log_, "in the accept loop (no new connections are taken)", e);
  });
}

void HttpServer::stop() {
  stopping_ = true;
  boost::system::error_code ec;
  acceptor_.close(ec);
}

void HttpServer::drain() {
  stop();
  // Idle keep-alive connections (and ones still sending a header: not admitted, nothing lost)
  // close now; the others answer their request, with Connection: close.
  for (auto& [group, conns] : by_client_)
    for (Conn* c : conns)
      if (c->between_requests && c->socket) {
        boost::system::error_code ec;
        c->socket->cancel(ec);
      }
}

std::size_t HttpServer::busy() const {
  std::size_t n = 0;
  for (const auto& [group, conns] : by_client_)
    for (const Conn* c : conns)
      if (!c->between_requests) ++n;
  return n;
}

bool HttpServer::evict_for(const std::string& group) {
  const auto mine = by_client_.find(group);
  const std::size_t have = mine == by_client_.end() ? 0 : mine->second.size();
  Conn* victim = nullptr;
  std::size_t most = have + 1;  // the top client must hold more than the newcomer would
  for (auto& [g, conns] : by_client_) {
    if (conns.size() <= most) continue;
    for (Conn* c : conns) {
      if (c->between_requests && c->socket) {
        victim = c;
        most = conns.size();
        break;
      }
    }
  }
  if (victim == nullptr) return false;
  boost::system::error_code ignored;
  victim->socket->close(ignored);  // its coroutine sees operation_aborted and ends
  victim->socket = nullptr;
  return true;
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
    const auto remote = socket.remote_endpoint(ec);
    std::string group = ec ? std::string("?") : client_group(remote.address());
    const auto it = by_client_.find(group);
    const bool over_client = it != by_client_.end() && it->second.size() >= opt_.max_connections_per_client;
    if (over_client || (connections_ >= opt_.max_connections && !evict_for(group))) {
      metrics_.connection_refused(over_client ? "per_client" : "full");
      boost::system::error_code ignored;
      socket.close(ignored);  // refused at once, nothing read
      continue;
    }
    asio::co_spawn(io_, connection(std::move(socket), std::move(group)), [this](const std::exception_ptr& e) {
      if (e) log_exception(log_, "on a connection (closed; the server goes on)", e);
    });
  }
}

asio::awaitable<void> HttpServer::connection(tcp::socket socket, std::string group) {
  Conn conn;
  conn.group = std::move(group);
  boost::system::error_code ec;
  const auto remote = socket.remote_endpoint(ec);
  conn.client = ec ? std::string("?") : remote.address().to_string();
  ++connections_;
  by_client_[conn.group].push_back(&conn);
  struct Unregister {
    HttpServer& s;
    Conn& c;
    ~Unregister() {
      --s.connections_;
      auto it = s.by_client_.find(c.group);
      if (it == s.by_client_.end()) return;
      std::erase(it->second, &c);
      if (it->second.empty()) s.by_client_.erase(it);
    }
  } unregister{*this, conn};

  beast::tcp_stream stream(std::move(socket));
  if (!tls_) {
    conn.socket = &stream.socket();
    co_await serve(stream, conn);
    if (conn.socket == nullptr) co_return;  // evicted: the socket is closed
    stream.socket().shutdown(tcp::socket::shutdown_send, ec);
    // Linger: read and drop what the client still sends (a body we did not want), briefly.
    std::array<char, 16 * 1024> sink{};
    std::size_t dropped = 0;
    stream.expires_after(kLingerTime);
    while (dropped < kLingerBytes) {
      auto [e, n] = co_await stream.async_read_some(asio::buffer(sink), asio::as_tuple(asio::use_awaitable));
      if (e) break;
      dropped += n;
    }
    co_return;
  }
  // The context of the moment, held for this connection's life: a reload (SIGHUP) swaps tls_ for
  // new connections while this one goes on with the certificate it started with.
  const std::shared_ptr<asio::ssl::context> ctx = tls_;
  beast::ssl_stream<beast::tcp_stream> s(std::move(stream), *ctx);
  conn.socket = &s.next_layer().socket();
  s.next_layer().expires_after(ms(opt_.header_timeout));
  std::tie(ec) = co_await s.async_handshake(asio::ssl::stream_base::server, asio::as_tuple(asio::use_awaitable));
  if (ec) co_return;  // not TLS, old TLS, a scanner: nothing to answer
  co_await serve(s, conn);
  if (conn.socket == nullptr) co_return;
  s.next_layer().expires_after(kTlsShutdown);
  std::tie(ec) = co_await s.async_shutdown(asio::as_tuple(asio::use_awaitable));
}

template <class Stream>
asio::awaitable<void> HttpServer::serve(Stream& s, Conn& conn) {
  // One buffer per connection, bounded: it holds a whole request header, and later a whole chunk
  // line or trailer section, so all of those are bounded by it (an overflow is a 431).
  beast::flat_buffer buf(kHeaderLimit);
  bool first = true;
  asio::steady_timer deadline(co_await asio::this_coro::executor);
  bool timed_out = false;
  // The deadline cancels the read rather than closing the socket (as tcp_stream's own timeout
  // would), so a late client still gets its 408. Armed once per phase: bytes arriving do not
  // extend it.
  auto arm = [&](double seconds) {
    timed_out = false;
    deadline.expires_after(ms(seconds));
    deadline.async_wait([&timed_out, &s](boost::system::error_code e) {
      if (e) return;
      timed_out = true;
      boost::system::error_code ignored;
      tcp_of(s).socket().cancel(ignored);
    });
  };
  for (;;) {
    conn.between_requests = true;
    tcp_of(s).expires_never();
    http::request_parser<http::string_body> parser;
    parser.header_limit(kHeaderLimit);
    parser.body_limit(opt_.max_body);
    std::size_t extensions = 0;
    auto on_chunk = [&extensions](std::uint64_t, std::string_view ext, boost::system::error_code& e) {
      extensions += ext.size();
      if (extensions > kChunkExtensionLimit) e = http::error::bad_chunk_extension;
    };
    parser.on_chunk_header(on_chunk);

    // Phase 1: the first byte of a request. A new connection has --header-timeout for its whole
    // first header; a kept-alive one may stay idle for --idle-timeout before the next starts.
    boost::system::error_code ec;
    std::size_t n = 0;
    if (buf.size() == 0) {
      arm(first ? opt_.header_timeout : opt_.idle_timeout);
      std::tie(ec, n) = co_await s.async_read_some(buf.prepare(kHeaderLimit), asio::as_tuple(asio::use_awaitable));
      deadline.cancel();
      if (ec) co_return;  // gone, idle too long, evicted, or never said anything: nothing to answer
      buf.commit(n);
    }
    // Phase 2: the rest of the header, within --header-timeout of its first byte.
    arm(opt_.header_timeout);
    std::tie(ec, n) = co_await http::async_read_header(s, buf, parser, asio::as_tuple(asio::use_awaitable));
    deadline.cancel();
    if (conn.socket == nullptr) co_return;  // evicted
    conn.between_requests = false;
    Reply reply;
    bool keep_alive = false;
    bool have_request = false;
    bool head = false;
    std::optional<Reply> refused;
    Caller who;
    Charge charge(bodies_);
    if (!ec) {
      head = parser.get().method() == http::verb::head;
      try {
        refused = handler_.admit(parser.get(), conn.client, who);
      } catch (const std::exception& e) {
        log_.line(std::string("internal error admitting a request: ") + e.what());
        refused = error_reply(500, "internal_error", "the request failed (see the server log); nothing else did");
      }
      if (refused) {
        // Answered from the header alone: the body is never read. Without a body the connection
        // may go on; with one, it closes after the reply.
        reply = std::move(*refused);
        keep_alive = parser.is_done() && parser.get().keep_alive();
        have_request = true;
      } else if (!parser.is_done()) {
        const auto length = parser.content_length();
        if (length && !charge.grow_to(static_cast<std::size_t>(*length))) {
          reply = busy_reply();
          have_request = true;
        } else {
          if (parser.get()[http::field::expect] == "100-continue") {
            http::response<http::empty_body> cont{http::status::continue_, 11};
            tcp_of(s).expires_after(ms(opt_.read_timeout));
            std::tie(ec, std::ignore) = co_await http::async_write(s, cont, asio::as_tuple(asio::use_awaitable));
            if (ec) co_return;
            tcp_of(s).expires_never();
          }
          // Trailer fields would be merged into the header by the parser: keep the header as it
          // came and ignore them (RFC 9110 §6.5.1 allows it; nothing we do needs them).
          std::optional<http::request_header<>> header;
          if (parser.chunked()) header = parser.get().base();
          arm(opt_.read_timeout);
          while (!parser.is_done()) {
            std::tie(ec, n) = co_await http::async_read_some(s, buf, parser, asio::as_tuple(asio::use_awaitable));
            if (ec) break;
            if (!charge.grow_to(parser.get().body().size())) {
              reply = busy_reply();
              have_request = true;
              break;
            }
          }
          deadline.cancel();
          if (header && !ec) static_cast<http::request_header<>&>(parser.get()) = std::move(*header);
        }
      }
    }
    if (conn.socket == nullptr) co_return;  // evicted
    if (have_request) {
      // answered already (refused, or over the body budget)
    } else if (ec) {
      if (timed_out) {
        // An idle kept-alive connection that sent nothing is closed quietly; a request that did
        // not arrive in time gets a 408.
        if (!first && buf.size() == 0 && !parser.got_some()) co_return;
        reply = error_reply(408, "request_timeout", "the request did not arrive within the time allowed");
      } else if (ec == http::error::end_of_stream || ec == asio::error::eof || ec == asio::error::connection_reset ||
                 ec == asio::error::operation_aborted || ec == asio::error::bad_descriptor) {
        co_return;
      } else if (ec == http::error::body_limit) {
        reply =
            error_reply(413, "body_too_large", "the body is larger than " + std::to_string(opt_.max_body) + " bytes");
      } else if (ec == http::error::header_limit || ec == http::error::buffer_overflow) {
        reply = error_reply(431, "headers_too_large",
                            "the request header, a chunk line or the trailers are larger than 16 KiB");
      } else if (ec == http::error::bad_chunk_extension) {
        reply = error_reply(400, "bad_request", "chunk extensions are malformed or longer than 16 KiB in all");
      } else {
        reply = error_reply(400, "bad_request", "malformed HTTP request: " + ec.message());
      }
    } else {
      have_request = true;
      const HttpRequest& req = parser.get();
      keep_alive = req.keep_alive();
      tcp_of(s).expires_never();  // the handler may wait up to the request's own timeout
      try {
        reply = co_await handler_.handle(req, conn.client, who);
      } catch (const std::exception& e) {
        log_.line(std::string("internal error on ") + std::string(req.method_string()) + " " +
                  std::string(req.target().substr(0, req.target().find('?'))) + ": " + e.what());
        reply = error_reply(500, "internal_error", "the request failed (see the server log); nothing else did");
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
    if (head) {
      // HEAD (RFC 9110 §9.3.2): the header a GET would get, no body.
      http::response<http::empty_body> h{res.result(), 11};
      for (const auto& field : res) h.set(field.name_string(), field.value());
      if (!reply.stream) h.content_length(reply.body.size());
      h.keep_alive(keep_alive);
      http::response_serializer<http::empty_body> sr{h};
      std::tie(ec, std::ignore) = co_await http::async_write_header(s, sr, asio::as_tuple(asio::use_awaitable));
    } else if (reply.stream) {
      http::response<http::empty_body> h{res.result(), 11};
      for (const auto& field : res) h.set(field.name_string(), field.value());
      h.keep_alive(keep_alive);
      h.chunked(true);
      http::response_serializer<http::empty_body> sr{h};
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
      if (!ec)
        std::tie(ec, std::ignore) =
            co_await asio::async_write(s, http::make_chunk_last(), asio::as_tuple(asio::use_awaitable));
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
