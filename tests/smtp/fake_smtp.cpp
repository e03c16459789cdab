#include "smtp/fake_smtp.hpp"

#include <algorithm>
#include <array>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <cctype>
#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <stdexcept>
#include <string_view>
#include <thread>
#include <utility>

namespace mailsift::test {

namespace {

namespace asio = boost::asio;
using asio::awaitable;
using asio::ip::tcp;
// Errors come back as values: a coroutine of a test server has nobody to throw to.
constexpr auto kTok = asio::as_tuple(asio::use_awaitable);

constexpr std::size_t kMaxLine = 4096;     // recorded per line; the rest of a longer line is dropped
constexpr std::size_t kMaxRaw = 1u << 20;  // raw bytes recorded per connection

std::string upper(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

struct Record {
  std::string peer;  // the client's IP address
  std::vector<std::string> lines;
  std::string raw;
  bool tls = false;
};

struct Rule {
  std::vector<FakeReply> replies;
  std::size_t used = 0;
};

}  // namespace

struct FakeSmtpServer::Impl {
  struct Conn;

  // Shared with the test thread: everything below `mu` up to `io`.
  mutable std::mutex mu;
  mutable std::condition_variable changed;
  FakeReply greeting{"220 fake.test ESMTP\r\n"};
  std::map<std::string, Rule> rules;  // key: upper-cased prefix
  bool tls_offered = false;
  std::vector<Record> records;
  std::vector<std::string> all_lines;
  int open = 0;
  int max_open = 0;

  // Destroyed in reverse order: the io_context first (it destroys the suspended coroutines and so
  // the connections, which still touch `mu`, `records` and `ssl`), the state above last.
  asio::ssl::context ssl{asio::ssl::context::tls_server};
  std::uint16_t port = 0;  // cached: the acceptor belongs to the server thread once it runs
  std::string address;
  asio::io_context io;
  tcp::acceptor acceptor{io};
  std::thread thread;

  FakeReply choose_locked(const std::string& line, bool in_tls);
  awaitable<void> accept_loop();
};

struct FakeSmtpServer::Impl::Conn : std::enable_shared_from_this<Conn> {
  Conn(Impl& server, std::size_t index, tcp::socket s)
      : srv(server), id(index), sock(std::move(s)), wake(sock.get_executor()), delay(sock.get_executor()) {
    wake.expires_at(asio::steady_timer::time_point::max());
  }
  ~Conn() { uncount(); }
  Conn(const Conn&) = delete;
  Conn& operator=(const Conn&) = delete;

  Impl& srv;
  std::size_t id;
  tcp::socket sock;
  std::unique_ptr<asio::ssl::stream<tcp::socket>> tls;  // set at STARTTLS; then owns the socket
  asio::steady_timer wake;      // never expires: cancelled to wake serve() when a command is queued
  asio::steady_timer delay;     // FakeReply::delay; cut short when the client goes away
  std::deque<FakeReply> queue;  // replies chosen for received commands, not yet acted on
  bool eof = false;
  bool counted = true;  // still in srv.open
  std::string partial;  // the line being received (at most kMaxLine bytes kept)

  tcp::socket& socket() { return tls ? tls->next_layer() : sock; }
  // Leaves open_connections(): at destruction, or once the server decided to close (see act()).
  void uncount() {
    const std::lock_guard lock(srv.mu);
    if (!counted) return;
    counted = false;
    --srv.open;
    srv.changed.notify_all();
  }
  void close() {
    boost::system::error_code ec;
    socket().close(ec);
  }

  // Records `bytes`, queues a reply per complete line. True once a line started TLS: the reader
  // must stop, since the bytes after it are the TLS handshake.
  bool take(std::string_view bytes) {
    const std::lock_guard lock(srv.mu);
    Record& rec = srv.records[id];
    rec.raw.append(bytes.substr(0, kMaxRaw - std::min(kMaxRaw, rec.raw.size())));
    bool tls_next = false;
    for (const char c : bytes) {
      if (c != '\n') {
        if (partial.size() < kMaxLine + 1) partial.push_back(c);  // +1: a CR before the LF
        continue;
      }
      if (!partial.empty() && partial.back() == '\r') partial.pop_back();
      if (partial.size() > kMaxLine) partial.resize(kMaxLine);
      rec.lines.push_back(partial);
      srv.all_lines.push_back(partial);
      // Lines pipelined behind STARTTLS are recorded but never answered (RFC 3207 §4.2:
      // a server must discard them; answering them is the CVE-2011-0411 injection).
      if (!tls_next) {
        queue.push_back(srv.choose_locked(partial, tls != nullptr));
        tls_next = queue.back().action == FakeReply::Action::starttls && !tls;
      }
      partial.clear();
    }
    if (tls_next) partial.clear();
    srv.changed.notify_all();
    wake.cancel();
    return tls_next;
  }

  template <typename Buffers>
  awaitable<std::tuple<boost::system::error_code, std::size_t>> read_some(const Buffers& b) {
    if (tls) co_return co_await tls->async_read_some(b, kTok);
    co_return co_await sock.async_read_some(b, kTok);
  }
  awaitable<boost::system::error_code> write(const std::string& bytes) {
    if (bytes.empty()) co_return boost::system::error_code{};
    if (tls) {
      auto [ec, n] = co_await asio::async_write(*tls, asio::buffer(bytes), kTok);
      co_return ec;
    }
    auto [ec, n] = co_await asio::async_write(sock, asio::buffer(bytes), kTok);
    co_return ec;
  }

  // Reads and records until EOF, independently of the replies, so that a command sent while a
  // reply is delayed or withheld is recorded at once.
  static awaitable<void> reader(std::shared_ptr<Conn> c) {
    std::array<char, 4096> buf{};
    for (;;) {
      auto [ec, n] = co_await c->read_some(asio::buffer(buf));
      if (ec) break;
      if (c->take(std::string_view(buf.data(), n))) co_return;  // serve() resumes reading after TLS
    }
    c->eof = true;
    c->wake.cancel();
    c->delay.cancel();
  }

  // Acts on one reply; false when the dialogue is over (closed or silent).
  awaitable<bool> act(FakeReply r, bool greeting) {
    if (r.delay.count() > 0 && !eof) {
      delay.expires_after(r.delay);
      co_await delay.async_wait(kTok);
    }
    using A = FakeReply::Action;
    if (r.action == A::close) {
      close();
      co_return false;
    }
    if (r.action == A::silent) co_return false;  // the reader keeps the connection open
    // Closed as far as the records go before the last bytes leave: a client that reconnects as
    // soon as it reads them (221 to QUIT) must not find this connection still counted.
    if (r.action == A::reply_then_close) uncount();
    if (co_await write(r.bytes)) {
      close();
      co_return false;
    }
    if (r.action == A::reply_then_close) {
      close();
      co_return false;
    }
    if (r.action == A::starttls && !greeting && !tls) {  // in TLS already: a plain reply
      tls = std::make_unique<asio::ssl::stream<tcp::socket>>(std::move(sock), srv.ssl);
      auto [ec] = co_await tls->async_handshake(asio::ssl::stream_base::server, kTok);
      if (ec) {
        close();
        co_return false;
      }
      {
        const std::lock_guard lock(srv.mu);
        srv.records[id].tls = true;
      }
      asio::co_spawn(tls->get_executor(), reader(shared_from_this()), asio::detached);
    }
    co_return true;
  }

  static awaitable<void> serve(std::shared_ptr<Conn> c) {
    asio::co_spawn(c->sock.get_executor(), reader(c), asio::detached);
    FakeReply greeting;
    {
      const std::lock_guard lock(c->srv.mu);
      greeting = c->srv.greeting;
    }
    if (!co_await c->act(std::move(greeting), true)) co_return;
    for (;;) {
      while (c->queue.empty() && !c->eof) co_await c->wake.async_wait(kTok);
      if (c->queue.empty()) break;
      FakeReply r = std::move(c->queue.front());
      c->queue.pop_front();
      if (!co_await c->act(std::move(r), false)) co_return;
    }
    c->close();
  }
};

FakeReply FakeSmtpServer::Impl::choose_locked(const std::string& line, bool in_tls) {
  const std::string up = upper(line);
  Rule* best = nullptr;
  std::size_t best_len = 0;
  for (auto& [prefix, rule] : rules) {
    if (up.starts_with(prefix) && (best == nullptr || prefix.size() > best_len)) {
      best = &rule;
      best_len = prefix.size();
    }
  }
  if (best != nullptr) return best->replies[std::min(best->used++, best->replies.size() - 1)];

  const std::string verb = up.substr(0, up.find(' '));
  using A = FakeReply::Action;
  if (verb == "EHLO") {
    std::string r = "250-fake.test\r\n250-PIPELINING\r\n250-8BITMIME\r\n250-ENHANCEDSTATUSCODES\r\n";
    if (tls_offered && !in_tls) r += "250-STARTTLS\r\n";
    return {r + "250 SMTPUTF8\r\n"};
  }
  if (verb == "HELO") return {"250 fake.test\r\n"};
  if (verb == "MAIL") return {"250 2.1.0 Ok\r\n"};
  if (verb == "RCPT") return {"250 2.1.5 Ok\r\n"};
  if (verb == "RSET" || verb == "NOOP") return {"250 2.0.0 Ok\r\n"};
  if (verb == "QUIT") return {"221 2.0.0 Bye\r\n", {}, A::reply_then_close};
  if (verb == "DATA") return {"554 5.5.1 no DATA in tests\r\n"};
  if (verb == "STARTTLS" && tls_offered && !in_tls) return {"220 2.0.0 Ready\r\n", {}, A::starttls};
  return {"502 5.5.2 Error\r\n"};
}

awaitable<void> FakeSmtpServer::Impl::accept_loop() {
  for (;;) {
    auto [ec, sock] = co_await acceptor.async_accept(kTok);
    if (ec == asio::error::operation_aborted) co_return;
    if (ec) continue;
    // Replies written one after another would otherwise wait for the client's delayed ACK (Nagle).
    sock.set_option(tcp::no_delay(true), ec);
    std::size_t id = 0;
    const auto peer = sock.remote_endpoint(ec);
    {
      const std::lock_guard lock(mu);
      id = records.size();
      records.emplace_back().peer = ec ? std::string() : peer.address().to_string();
      max_open = std::max(max_open, ++open);
      changed.notify_all();
    }
    asio::co_spawn(io, Conn::serve(std::make_shared<Conn>(*this, id, std::move(sock))), asio::detached);
  }
}

FakeSmtpServer::FakeSmtpServer() : FakeSmtpServer("127.0.0.1") {}

FakeSmtpServer::FakeSmtpServer(const std::string& address, std::uint16_t port) : impl_(std::make_unique<Impl>()) {
  Impl& s = *impl_;
  s.ssl.use_certificate_chain_file(certificate_file());
  s.ssl.use_private_key_file(std::string(MAILSIFT_FAKE_SMTP_DATA) + "/key.pem", asio::ssl::context::pem);
  const tcp::endpoint ep(asio::ip::make_address(address), port);
  s.acceptor.open(ep.protocol());
  // A fixed port may still have TIME_WAIT connections (a server closing after QUIT) of an earlier
  // test at this address: they must not make bind() fail.
  s.acceptor.set_option(tcp::acceptor::reuse_address(true));
  s.acceptor.bind(ep);
  s.acceptor.listen();
  s.port = s.acceptor.local_endpoint().port();
  s.address = address;
  asio::co_spawn(s.io, s.accept_loop(), asio::detached);
  s.thread = std::thread([&s] { s.io.run(); });
}

FakeSmtpServer::~FakeSmtpServer() {
  impl_->io.stop();
  impl_->thread.join();
}

std::uint16_t FakeSmtpServer::port() const {
  return impl_->port;
}
std::string FakeSmtpServer::address() const {
  return impl_->address;
}

void FakeSmtpServer::banner(FakeReply reply) {
  const std::lock_guard lock(impl_->mu);
  impl_->greeting = std::move(reply);
}

void FakeSmtpServer::on(std::string prefix, FakeReply reply) {
  on(std::move(prefix), std::vector{std::move(reply)});
}

void FakeSmtpServer::on(std::string prefix, std::vector<FakeReply> sequence) {
  if (sequence.empty()) throw std::invalid_argument("FakeSmtpServer::on: empty reply sequence");
  const std::lock_guard lock(impl_->mu);
  impl_->rules[upper(prefix)] = Rule{std::move(sequence), 0};
}

void FakeSmtpServer::clear_rules() {
  const std::lock_guard lock(impl_->mu);
  impl_->rules.clear();
}

void FakeSmtpServer::enable_tls() {
  const std::lock_guard lock(impl_->mu);
  impl_->tls_offered = true;
}

std::string FakeSmtpServer::certificate_file() {
  return std::string(MAILSIFT_FAKE_SMTP_DATA) + "/cert.pem";
}

int FakeSmtpServer::connections() const {
  const std::lock_guard lock(impl_->mu);
  return static_cast<int>(impl_->records.size());
}
int FakeSmtpServer::open_connections() const {
  const std::lock_guard lock(impl_->mu);
  return impl_->open;
}
int FakeSmtpServer::max_concurrent() const {
  const std::lock_guard lock(impl_->mu);
  return impl_->max_open;
}

std::vector<std::vector<std::string>> FakeSmtpServer::sessions() const {
  const std::lock_guard lock(impl_->mu);
  std::vector<std::vector<std::string>> out;
  for (const Record& r : impl_->records) out.push_back(r.lines);
  return out;
}
std::vector<std::string> FakeSmtpServer::lines() const {
  const std::lock_guard lock(impl_->mu);
  return impl_->all_lines;
}
std::vector<bool> FakeSmtpServer::tls_used() const {
  const std::lock_guard lock(impl_->mu);
  std::vector<bool> out;
  for (const Record& r : impl_->records) out.push_back(r.tls);
  return out;
}
std::vector<std::string> FakeSmtpServer::peers() const {
  const std::lock_guard lock(impl_->mu);
  std::vector<std::string> out;
  for (const Record& r : impl_->records) out.push_back(r.peer);
  return out;
}
std::vector<std::string> FakeSmtpServer::raw() const {
  const std::lock_guard lock(impl_->mu);
  std::vector<std::string> out;
  for (const Record& r : impl_->records) out.push_back(r.raw);
  return out;
}
std::string FakeSmtpServer::raw_bytes() const {
  std::string out;
  for (const std::string& r : raw()) out += r;
  return out;
}

bool FakeSmtpServer::wait_for_lines(std::size_t n, std::chrono::milliseconds timeout) const {
  std::unique_lock lock(impl_->mu);
  return impl_->changed.wait_for(lock, timeout, [&] { return impl_->all_lines.size() >= n; });
}
bool FakeSmtpServer::wait_until_closed(std::chrono::milliseconds timeout) const {
  std::unique_lock lock(impl_->mu);
  return impl_->changed.wait_for(lock, timeout, [&] { return impl_->open == 0; });
}

std::uint16_t closed_port() {
  asio::io_context io;
  tcp::acceptor a(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  return a.local_endpoint().port();  // closed when `a` goes out of scope
}

}  // namespace mailsift::test
