#include "smtp/connection.hpp"

#include <openssl/x509_vfy.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

namespace mailsift::smtp {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using boost::system::error_code;

namespace {

constexpr auto kTuple = asio::as_tuple(asio::use_awaitable);
// The transcript keeps at most this many server lines per connection: a server that streams
// garbage must not fill memory through --transcript.
constexpr std::size_t kMaxTranscriptLines = 2000;

// RFC 1928 §6 reply codes.
std::string_view socks_reply_text(unsigned char rep) {
  switch (rep) {
    case 1: return "general SOCKS server failure";
    case 2: return "connection not allowed by ruleset";
    case 3: return "network unreachable";
    case 4: return "host unreachable";
    case 5: return "connection refused";
    case 6: return "TTL expired";
    case 7: return "command not supported";
    case 8: return "address type not supported";
    default: return "unknown SOCKS error";
  }
}

}  // namespace

void Connection::set_deadline(Clock::time_point d) {
  deadline_ = d;
  expired_ = false;
  if (!armed_ || d < armed_at_) arm(d);
}

void Connection::arm(Clock::time_point at) {
  armed_ = true;
  armed_at_ = at;
  const std::uint64_t g = ++generation_;
  timer_.expires_at(at);  // cancels a pending wait: its handler sees an old generation
  timer_.async_wait([self = shared_from_this(), g](const error_code&) { self->on_timer(g); });
}

void Connection::on_timer(std::uint64_t generation) {
  if (generation != generation_ || closed_) return;  // superseded, or the session is over
  armed_ = false;
  if (Clock::now() >= deadline_) {
    expired_ = true;
    error_code ignored;
    sock_.cancel(ignored);  // the pending read/write/connect ends with operation_aborted
  } else {
    arm(deadline_);
  }
}

void Connection::close() noexcept {
  if (closed_) return;
  closed_ = true;
  error_code ignored;
  if (tls_ && tls_up_) {
    // No close_notify is sent (the server closes after QUIT, and a broken connection cannot take
    // one), but OpenSSL drops a session from further resumption when an SSL is freed without one
    // (ssl_clear_bad_session). Ending a session this way is normal for SMTP clients; a fatal
    // TLS alert has already made the session non-resumable by itself.
    SSL_set_shutdown(tls_->native_handle(), SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);
  }
  timer_.cancel();
  sock_.close(ignored);
}

Io Connection::failed(const error_code& ec, std::string_view what) const {
  if (expired_) return {Failure::timed_out, std::string(what) + ": timed out"};
  if (ec == asio::error::eof || ec == asio::error::connection_reset || ec == asio::ssl::error::stream_truncated)
    return {Failure::closed, std::string(what) + ": connection closed by the server"};
  if (ec == asio::error::connection_refused || ec == asio::error::host_unreachable ||
      ec == asio::error::network_unreachable)
    return {Failure::refused, std::string(what) + ": " + ec.message()};
  return {Failure::closed, std::string(what) + ": " + ec.message()};
}

asio::awaitable<Io> Connection::connect(const tcp::endpoint& remote, const std::string& source,
                                        const std::optional<Proxy>& proxy, Clock::time_point deadline) {
  error_code ec;
  tcp::endpoint peer = remote;
  if (proxy) {
    const auto ip = asio::ip::make_address(proxy->host, ec);
    if (ec) co_return Io{Failure::refused, "proxy address '" + proxy->host + "' is not an IP address"};
    peer = tcp::endpoint(ip, proxy->port);
  }
  sock_.open(peer.protocol(), ec);
  if (ec) co_return Io{Failure::refused, "socket: " + ec.message()};
  if (!source.empty()) {
    const auto local = asio::ip::make_address(source, ec);
    if (!ec) sock_.bind(tcp::endpoint(local, 0), ec);
    if (ec) co_return Io{Failure::refused, "bind to source address " + source + ": " + ec.message()};
  }
  set_deadline(deadline);
  auto [cec] = co_await sock_.async_connect(peer, kTuple);
  if (cec) co_return failed(cec, proxy ? "connect to proxy" : "connect");
  // Commands are small and each waits for its reply: Nagle's algorithm would only add delay.
  sock_.set_option(tcp::no_delay(true), ec);
  if (proxy) co_return co_await socks5(remote, *proxy);
  co_return Io{};
}

asio::awaitable<Io> Connection::read_exact(char* data, std::size_t n) {
  auto [ec, got] = co_await asio::async_read(sock_, asio::buffer(data, n), kTuple);
  if (ec) co_return failed(ec, "socks5");
  co_return Io{};
}

// RFC 1928 (SOCKS5) CONNECT, with RFC 1929 username/password authentication when configured.
// Runs under the connect deadline already set.
asio::awaitable<Io> Connection::socks5(const tcp::endpoint& remote, const Proxy& proxy) {
  const bool auth = !proxy.user.empty();
  {
    // Greeting: version 5, the methods we offer (0x00 none, 0x02 username/password).
    const unsigned char hello_auth[] = {5, 2, 0, 2};
    const unsigned char hello_none[] = {5, 1, 0};
    auto [ec, n] = auth ? co_await asio::async_write(sock_, asio::buffer(hello_auth), kTuple)
                        : co_await asio::async_write(sock_, asio::buffer(hello_none), kTuple);
    if (ec) co_return failed(ec, "socks5 greeting");
  }
  char choice[2];
  if (Io io = co_await read_exact(choice, 2); !io.ok()) co_return io;
  if (choice[0] != 5) co_return Io{Failure::refused, "socks5: the proxy does not speak SOCKS5"};
  const auto method = static_cast<unsigned char>(choice[1]);
  if (method == 2 && auth) {
    if (proxy.user.size() > 255 || proxy.password.size() > 255)
      co_return Io{Failure::refused, "socks5: user name or password longer than 255 bytes"};
    std::string m;
    m.push_back(1);  // RFC 1929 sub-negotiation version
    m.push_back(static_cast<char>(proxy.user.size()));
    m += proxy.user;
    m.push_back(static_cast<char>(proxy.password.size()));
    m += proxy.password;
    auto [ec, n] = co_await asio::async_write(sock_, asio::buffer(m), kTuple);
    if (ec) co_return failed(ec, "socks5 authentication");
    char status[2];
    if (Io io = co_await read_exact(status, 2); !io.ok()) co_return io;
    if (status[1] != 0) co_return Io{Failure::refused, "socks5: the proxy refused the user name or password"};
  } else if (method != 0) {
    co_return Io{Failure::refused, method == 0xFF ? "socks5: the proxy accepts none of our authentication methods"
                                                   : "socks5: the proxy chose an authentication method we did not offer"};
  }
  // CONNECT to the IP address (never a name: we resolved it ourselves, under our safety rules).
  std::string req = {5, 1, 0};
  if (remote.address().is_v4()) {
    req.push_back(1);
    const auto b = remote.address().to_v4().to_bytes();
    req.append(reinterpret_cast<const char*>(b.data()), b.size());
  } else {
    req.push_back(4);
    const auto b = remote.address().to_v6().to_bytes();
    req.append(reinterpret_cast<const char*>(b.data()), b.size());
  }
  req.push_back(static_cast<char>(remote.port() >> 8));
  req.push_back(static_cast<char>(remote.port() & 0xFF));
  {
    auto [ec, n] = co_await asio::async_write(sock_, asio::buffer(req), kTuple);
    if (ec) co_return failed(ec, "socks5 connect");
  }
  char head[4];
  if (Io io = co_await read_exact(head, 4); !io.ok()) co_return io;
  if (head[0] != 5) co_return Io{Failure::refused, "socks5: malformed reply from the proxy"};
  if (head[1] != 0) {
    co_return Io{Failure::refused,
                 "socks5: the proxy could not connect: " + std::string(socks_reply_text(static_cast<unsigned char>(head[1])))};
  }
  // Skip the bound address (BND.ADDR, BND.PORT) the proxy reports.
  std::size_t rest = 0;
  switch (head[3]) {
    case 1: rest = 4 + 2; break;
    case 4: rest = 16 + 2; break;
    case 3: {
      char len = 0;
      if (Io io = co_await read_exact(&len, 1); !io.ok()) co_return io;
      rest = static_cast<unsigned char>(len) + std::size_t{2};
      break;
    }
    default: co_return Io{Failure::refused, "socks5: malformed address type in the proxy's reply"};
  }
  std::array<char, 260> skip{};
  if (Io io = co_await read_exact(skip.data(), rest); !io.ok()) co_return io;
  co_return Io{};
}

asio::awaitable<Io> Connection::write(std::string_view data, Clock::time_point deadline) {
  set_deadline(deadline);
  auto [ec, n] = tls_ ? co_await asio::async_write(*tls_, asio::buffer(data), kTuple)
                      : co_await asio::async_write(sock_, asio::buffer(data), kTuple);
  if (ec) co_return failed(ec, "write");
  co_return Io{};
}

void Connection::record_lines(std::string_view bytes) {
  for (const char c : bytes) {
    if (c == '\n') {
      if (!partial_.empty() && partial_.back() == '\r') partial_.pop_back();
      if (lines_->size() < kMaxTranscriptLines) {
        lines_->push_back({false, std::move(partial_),
                           static_cast<std::uint32_t>(
                               std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start_).count())});
      }
      partial_.clear();
    } else if (partial_.size() < kMaxLineBytes) {
      partial_.push_back(c);
    }
  }
}

asio::awaitable<ReadResult> Connection::read_reply(Clock::time_point deadline) {
  for (;;) {
    if (auto r = reader_.next()) co_return ReadResult{std::move(r), {}};
    if (reader_.error()) co_return ReadResult{std::nullopt, {Failure::malformed_reply, reader_.error()->detail}};
    set_deadline(deadline);
    auto [ec, n] = tls_ ? co_await tls_->async_read_some(asio::buffer(buf_), kTuple)
                        : co_await sock_.async_read_some(asio::buffer(buf_), kTuple);
    if (n > 0) {
      const std::string_view got(buf_.data(), n);
      if (lines_ != nullptr) record_lines(got);
      reader_.feed(got);
      continue;  // a reply may have completed even if the read also reported an error
    }
    if (ec) co_return ReadResult{std::nullopt, failed(ec, "read")};
  }
}

asio::awaitable<Io> Connection::start_tls(TlsClient& tls, const std::string& name, std::string key,
                                          Clock::time_point deadline, TlsFacts& facts) {
  tls_.emplace(sock_, tls.context());
  SSL* ssl = tls_->native_handle();
  tls_key_ = std::move(key);
  tls.prepare(ssl, &tls_key_);
  if (!name.empty()) {
    // SNI, and the name the certificate must carry. Verification runs (its result is read below)
    // but never stops the handshake: most MX certificates do not match, and the probe goes on.
    SSL_set_tlsext_host_name(ssl, name.c_str());
    SSL_set1_host(ssl, name.c_str());
  }
  tls_->set_verify_mode(asio::ssl::verify_none);
  set_deadline(deadline);
  auto [ec] = co_await tls_->async_handshake(asio::ssl::stream_base::client, kTuple);
  if (ec) {
    Io io = failed(ec, "TLS handshake");
    if (!expired_) io.detail = "TLS handshake: " + ec.message();
    facts.error = io.detail;
    co_return io;
  }
  tls_up_ = true;
  facts.used = true;
  facts.resumed = SSL_session_reused(ssl) == 1;
  facts.version = SSL_get_version(ssl);
  if (const char* c = SSL_get_cipher_name(ssl)) facts.cipher = c;
  // On a resumed session both come from the session: OpenSSL keeps the verification result and
  // the peer's certificate in it (tested: Tls.ResumedSessionKeepsTheCertificateFacts).
  const long v = SSL_get_verify_result(ssl);
  facts.verified = v == X509_V_OK && SSL_get0_peer_certificate(ssl) != nullptr;
  if (!facts.verified)
    facts.cert_error = v == X509_V_OK ? "no certificate" : X509_verify_cert_error_string(v);
  co_return Io{};
}

}  // namespace mailsift::smtp
