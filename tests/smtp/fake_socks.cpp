#include "smtp/fake_socks.hpp"

#include <algorithm>
#include <array>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <map>
#include <mutex>
#include <optional>
#include <thread>
#include <utility>

namespace mailsift::test {

namespace {

namespace asio = boost::asio;
using asio::awaitable;
using asio::ip::tcp;
constexpr auto kTok = asio::as_tuple(asio::use_awaitable);  // errors as values, never thrown

// RFC 1928 §6 reply codes used here.
enum : std::uint8_t {
  kSucceeded = 0x00,
  kGeneralFailure = 0x01,
  kNotAllowed = 0x02,
  kNetUnreachable = 0x03,
  kHostUnreachable = 0x04,
  kRefused = 0x05,
  kCommandNotSupported = 0x07,
  kAddressTypeNotSupported = 0x08
};

bool loopback(const asio::ip::address& a) {
  if (a.is_v6() && a.to_v6().is_v4_mapped())
    return asio::ip::make_address_v4(asio::ip::v4_mapped, a.to_v6()).is_loopback();
  return a.is_loopback();
}

// Both ends of one relay; alive while either direction still pumps.
struct Pair {
  tcp::socket client;
  tcp::socket upstream;
};

awaitable<void> pump(std::shared_ptr<Pair> p, tcp::socket& from, tcp::socket& to) {
  std::array<char, 8192> buf{};
  boost::system::error_code ignored;
  for (;;) {
    auto [ec, n] = co_await from.async_read_some(asio::buffer(buf), kTok);
    if (ec == asio::error::eof) {  // pass the half-close on: the other direction may still carry data
      to.shutdown(tcp::socket::shutdown_send, ignored);
      co_return;
    }
    if (ec) break;
    auto [wec, wn] = co_await asio::async_write(to, asio::buffer(buf.data(), n), kTok);
    if (wec) break;
  }
  p->client.close(ignored);
  p->upstream.close(ignored);
}

}  // namespace

struct FakeSocks5Proxy::Impl {
  mutable std::mutex mu;  // guards everything down to `io`
  std::optional<std::pair<std::string, std::string>> credentials;
  std::map<std::string, asio::ip::address> aliases;
  std::uint8_t fail_code = kSucceeded;
  bool close_after_greeting = false;
  int connections = 0;
  std::vector<std::string> targets;
  std::vector<std::string> usernames;
  int failed_auths = 0;

  // Declared last, destroyed first: the io_context destroys suspended sessions before the state.
  std::uint16_t port = 0;  // cached: the acceptor belongs to the server thread once it runs
  asio::io_context io;
  tcp::acceptor acceptor{io};
  std::thread thread;

  void start() {
    const tcp::endpoint ep(asio::ip::make_address("127.0.0.1"), 0);
    acceptor.open(ep.protocol());
    acceptor.bind(ep);
    acceptor.listen();
    port = acceptor.local_endpoint().port();
    asio::co_spawn(io, accept_loop(), asio::detached);
    thread = std::thread([this] { io.run(); });
  }

  awaitable<void> accept_loop() {
    for (;;) {
      auto [ec, sock] = co_await acceptor.async_accept(kTok);
      if (ec == asio::error::operation_aborted) co_return;
      if (ec) continue;
      sock.set_option(tcp::no_delay(true), ec);  // relay small SMTP lines without Nagle's wait
      {
        const std::lock_guard lock(mu);
        ++connections;
      }
      asio::co_spawn(io, session(std::move(sock)), asio::detached);
    }
  }

  static awaitable<bool> read_n(tcp::socket& s, std::uint8_t* out, std::size_t n) {
    auto [ec, got] = co_await asio::async_read(s, asio::buffer(out, n), kTok);
    co_return !ec;
  }
  static awaitable<void> send(tcp::socket& s, std::vector<std::uint8_t> bytes) {
    co_await asio::async_write(s, asio::buffer(bytes), kTok);
  }
  // The same from a few bytes. Not a braced list at the call: GCC 12 fails on an initializer_list
  // temporary in a co_await expression ("array used as initializer").
  template <typename... Bytes>
  static awaitable<void> send_bytes(tcp::socket& s, Bytes... b) {
    std::vector<std::uint8_t> v{static_cast<std::uint8_t>(b)...};
    co_await send(s, std::move(v));
  }
  // A reply without a meaningful bound address (every failure): BND.ADDR 0.0.0.0, BND.PORT 0.
  static awaitable<void> fail(tcp::socket& s, std::uint8_t code) {
    co_await send_bytes(s, 5, code, 0, 1, 0, 0, 0, 0, 0, 0);
    boost::system::error_code ignored;
    s.close(ignored);
  }

  awaitable<void> session(tcp::socket c) {
    std::array<std::uint8_t, 256> b{};
    // Greeting (RFC 1928 §3): VER NMETHODS METHODS...
    if (!co_await read_n(c, b.data(), 2) || b[0] != 5) co_return;
    const std::size_t nmethods = b[1];
    if (!co_await read_n(c, b.data(), nmethods)) co_return;
    std::optional<std::pair<std::string, std::string>> creds;
    {
      const std::lock_guard lock(mu);
      if (close_after_greeting) co_return;  // `c` closes as the frame ends
      creds = credentials;
    }
    const std::uint8_t want = creds ? 0x02 : 0x00;
    if (std::find(b.begin(), b.begin() + static_cast<long>(nmethods), want) ==
        b.begin() + static_cast<long>(nmethods)) {
      if (creds) {
        const std::lock_guard lock(mu);
        ++failed_auths;
      }
      co_await send_bytes(c, 5, 0xFF);  // no acceptable method
      co_return;
    }
    co_await send_bytes(c, 5, want);

    if (creds) {  // RFC 1929 §2: VER=1 ULEN UNAME PLEN PASSWD
      if (!co_await read_n(c, b.data(), 2) || b[0] != 1) co_return;
      std::string user(b[1], '\0');
      if (!co_await read_n(c, reinterpret_cast<std::uint8_t*>(user.data()), user.size())) co_return;
      if (!co_await read_n(c, b.data(), 1)) co_return;
      std::string pass(b[0], '\0');
      if (!co_await read_n(c, reinterpret_cast<std::uint8_t*>(pass.data()), pass.size())) co_return;
      const bool ok = user == creds->first && pass == creds->second;
      {
        const std::lock_guard lock(mu);
        usernames.push_back(user);
        if (!ok) ++failed_auths;
      }
      co_await send_bytes(c, 1, ok ? 0 : 1);
      if (!ok) co_return;  // RFC 1929: the server must close on failure
    }

    // Request (RFC 1928 §4): VER CMD RSV ATYP DST.ADDR DST.PORT
    if (!co_await read_n(c, b.data(), 4) || b[0] != 5) co_return;
    const std::uint8_t cmd = b[1];
    const std::uint8_t atyp = b[3];
    std::optional<asio::ip::address> addr;
    std::string shown;  // the target as recorded
    std::string name;
    if (atyp == 1) {
      asio::ip::address_v4::bytes_type v4{};
      if (!co_await read_n(c, v4.data(), v4.size())) co_return;
      addr = asio::ip::address_v4(v4);
      shown = addr->to_string();
    } else if (atyp == 4) {
      asio::ip::address_v6::bytes_type v6{};
      if (!co_await read_n(c, v6.data(), v6.size())) co_return;
      addr = asio::ip::address_v6(v6);
      shown = "[" + addr->to_string() + "]";
    } else if (atyp == 3) {
      if (!co_await read_n(c, b.data(), 1)) co_return;
      name.assign(b[0], '\0');
      if (!co_await read_n(c, reinterpret_cast<std::uint8_t*>(name.data()), name.size())) co_return;
      shown = name;
    } else {
      co_await fail(c, kAddressTypeNotSupported);
      co_return;
    }
    std::array<std::uint8_t, 2> pb{};
    if (!co_await read_n(c, pb.data(), 2)) co_return;
    const auto dst_port = static_cast<std::uint16_t>(pb[0] << 8 | pb[1]);

    std::uint8_t forced = kSucceeded;
    {
      const std::lock_guard lock(mu);
      targets.push_back(shown + ":" + std::to_string(dst_port));
      forced = fail_code;
      if (!name.empty()) {  // no DNS: tests stay on the machine
        boost::system::error_code ec;
        if (auto it = aliases.find(name); it != aliases.end())
          addr = it->second;
        else if (name == "localhost")
          addr = asio::ip::make_address("127.0.0.1");
        else if (auto lit = asio::ip::make_address(name, ec); !ec)
          addr = lit;
      }
    }
    if (cmd != 1) {
      co_await fail(c, kCommandNotSupported);
      co_return;
    }
    if (!addr || !loopback(*addr)) {
      co_await fail(c, kNotAllowed);
      co_return;
    }
    if (forced != kSucceeded) {
      co_await fail(c, forced);
      co_return;
    }

    auto pair = std::make_shared<Pair>(Pair{std::move(c), tcp::socket(io)});
    auto [ec] = co_await pair->upstream.async_connect(tcp::endpoint(*addr, dst_port), kTok);
    if (ec) {
      co_await fail(pair->client, ec == asio::error::connection_refused    ? kRefused
                                  : ec == asio::error::network_unreachable ? kNetUnreachable
                                  : ec == asio::error::host_unreachable    ? kHostUnreachable
                                                                           : kGeneralFailure);
      co_return;
    }
    boost::system::error_code lec;
    pair->upstream.set_option(tcp::no_delay(true), lec);
    const tcp::endpoint bound = pair->upstream.local_endpoint(lec);
    std::vector<std::uint8_t> ok{5, kSucceeded, 0};
    if (bound.address().is_v6()) {
      ok.push_back(4);
      for (auto byte : bound.address().to_v6().to_bytes()) ok.push_back(byte);
    } else {
      ok.push_back(1);
      for (auto byte : bound.address().to_v4().to_bytes()) ok.push_back(byte);
    }
    ok.push_back(static_cast<std::uint8_t>(bound.port() >> 8));
    ok.push_back(static_cast<std::uint8_t>(bound.port()));
    co_await send(pair->client, std::move(ok));
    asio::co_spawn(io, pump(pair, pair->client, pair->upstream), asio::detached);
    asio::co_spawn(io, pump(pair, pair->upstream, pair->client), asio::detached);
  }
};

FakeSocks5Proxy::FakeSocks5Proxy() : impl_(std::make_unique<Impl>()) {
  impl_->start();
}

FakeSocks5Proxy::FakeSocks5Proxy(std::string username, std::string password) : impl_(std::make_unique<Impl>()) {
  impl_->credentials.emplace(std::move(username), std::move(password));
  impl_->start();
}

FakeSocks5Proxy::~FakeSocks5Proxy() {
  impl_->io.stop();
  impl_->thread.join();
}

std::uint16_t FakeSocks5Proxy::port() const {
  return impl_->port;
}

void FakeSocks5Proxy::alias(std::string name, std::string loopback_ip) {
  const auto a = asio::ip::make_address(loopback_ip);  // throws on a typo in the test
  const std::lock_guard lock(impl_->mu);
  impl_->aliases[std::move(name)] = a;
}

void FakeSocks5Proxy::fail_connect(std::uint8_t code) {
  const std::lock_guard lock(impl_->mu);
  impl_->fail_code = code;
}

void FakeSocks5Proxy::close_after_greeting(bool on) {
  const std::lock_guard lock(impl_->mu);
  impl_->close_after_greeting = on;
}

int FakeSocks5Proxy::connections() const {
  const std::lock_guard lock(impl_->mu);
  return impl_->connections;
}
std::vector<std::string> FakeSocks5Proxy::targets() const {
  const std::lock_guard lock(impl_->mu);
  return impl_->targets;
}
std::vector<std::string> FakeSocks5Proxy::usernames() const {
  const std::lock_guard lock(impl_->mu);
  return impl_->usernames;
}
int FakeSocks5Proxy::failed_auths() const {
  const std::lock_guard lock(impl_->mu);
  return impl_->failed_auths;
}

}  // namespace mailsift::test
