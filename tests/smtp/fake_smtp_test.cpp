// The test utilities themselves (fake_smtp.hpp, fake_socks.hpp), driven by a plain blocking Asio
// client on the test thread: what the SMTP probe's tests rely on them to do.
#include "smtp/fake_smtp.hpp"

#include <gtest/gtest.h>
#include <poll.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/write.hpp>
#include <chrono>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "smtp/fake_socks.hpp"
#include "smtp/reply.hpp"

namespace mailsift::test {
namespace {

namespace asio = boost::asio;
using asio::ip::tcp;
using namespace std::chrono_literals;
using A = FakeReply::Action;
using Lines = std::vector<std::string>;

// Only a guard against a hung test: a broken fake must fail the test, not stall the suite.
constexpr int kGuardMs = 10'000;

// Waits until `s` has something to read (data or EOF); throws after kGuardMs.
void wait_readable(tcp::socket& s) {
  pollfd p{s.native_handle(), POLLIN, 0};
  if (::poll(&p, 1, kGuardMs) != 1) throw std::runtime_error("no data from the server within the guard time");
}

// Nothing to read and not closed, right now.
bool quiet(tcp::socket& s) {
  pollfd p{s.native_handle(), POLLIN, 0};
  return ::poll(&p, 1, 0) == 0;
}

// A blocking SMTP client: plain, or TLS after starttls().
class Client {
 public:
  explicit Client(std::uint16_t port) : sock_(io_) { sock_.connect({asio::ip::make_address("127.0.0.1"), port}); }
  explicit Client(tcp::socket&& connected) : sock_(std::move(connected)) {}

  void send(std::string_view bytes) {
    if (tls_)
      asio::write(*tls_, asio::buffer(bytes));
    else
      asio::write(sock_, asio::buffer(bytes));
  }

  // The next reply, or nullopt if the server closed (or sent something malformed) first.
  std::optional<smtp::Reply> reply() {
    while (true) {
      if (auto r = reader_.next()) return r;
      if (reader_.error()) return std::nullopt;
      std::string chunk = read_some();
      if (chunk.empty()) return std::nullopt;
      reader_.feed(chunk);
    }
  }
  int code() {
    auto r = reply();
    return r ? r->code : -1;
  }

  // Bytes until the server closes; empty if it closed without sending anything.
  std::string rest() {
    std::string out;
    for (std::string c = read_some(); !c.empty(); c = read_some()) out += c;
    return out;
  }

  // TLS client handshake, trusting only the fake's certificate and checking its name.
  void starttls() {
    ssl_.set_verify_mode(asio::ssl::verify_peer);
    ssl_.load_verify_file(FakeSmtpServer::certificate_file());
    tls_ = std::make_unique<asio::ssl::stream<tcp::socket&>>(sock_, ssl_);
    tls_->set_verify_callback(asio::ssl::host_name_verification("fake.test"));
    tls_->handshake(asio::ssl::stream_base::client);
  }

  tcp::socket& socket() { return sock_; }

 private:
  std::string read_some() {
    std::array<char, 4096> buf{};
    boost::system::error_code ec;
    std::size_t n = 0;
    if (tls_) {
      if (SSL_pending(tls_->native_handle()) == 0) wait_readable(sock_);
      n = tls_->read_some(asio::buffer(buf), ec);
    } else {
      wait_readable(sock_);
      n = sock_.read_some(asio::buffer(buf), ec);
    }
    return ec ? std::string() : std::string(buf.data(), n);
  }

  asio::io_context io_;
  tcp::socket sock_;
  asio::ssl::context ssl_{asio::ssl::context::tls_client};
  std::unique_ptr<asio::ssl::stream<tcp::socket&>> tls_;
  smtp::ReplyReader reader_;
};

TEST(FakeSmtp, DefaultDialogue) {
  FakeSmtpServer server;
  Client c(server.port());
  auto banner = c.reply();
  ASSERT_TRUE(banner);
  EXPECT_EQ(banner->code, 220);
  EXPECT_EQ(banner->lines, Lines{"fake.test ESMTP"});

  c.send("EHLO probe.test\r\n");
  auto ehlo = c.reply();
  ASSERT_TRUE(ehlo);
  EXPECT_EQ(ehlo->code, 250);
  EXPECT_EQ(ehlo->lines, (Lines{"fake.test", "PIPELINING", "8BITMIME", "ENHANCEDSTATUSCODES", "SMTPUTF8"}));

  c.send("MAIL FROM:<>\r\n");
  auto mail = c.reply();
  ASSERT_TRUE(mail && mail->enhanced);
  EXPECT_EQ(mail->code, 250);
  EXPECT_EQ(*mail->enhanced, (smtp::EnhancedCode{2, 1, 0}));
  c.send("RCPT TO:<bob@example.test>\r\n");
  auto rcpt = c.reply();
  ASSERT_TRUE(rcpt && rcpt->enhanced);
  EXPECT_EQ(*rcpt->enhanced, (smtp::EnhancedCode{2, 1, 5}));
  for (const char* cmd : {"RSET\r\n", "NOOP\r\n", "HELO probe.test\r\n"}) {
    c.send(cmd);
    EXPECT_EQ(c.code(), 250) << cmd;
  }
  c.send("DATA\r\n");
  EXPECT_EQ(c.code(), 554);
  c.send("VRFY bob\r\n");
  EXPECT_EQ(c.code(), 502);
  c.send("STARTTLS\r\n");  // not offered without enable_tls()
  EXPECT_EQ(c.code(), 502);
  c.send("quit\r\n");
  EXPECT_EQ(c.code(), 221);
  EXPECT_EQ(c.rest(), "");  // closed after 221

  EXPECT_EQ(server.connections(), 1);
  const Lines sent{"EHLO probe.test",
                   "MAIL FROM:<>",
                   "RCPT TO:<bob@example.test>",
                   "RSET",
                   "NOOP",
                   "HELO probe.test",
                   "DATA",
                   "VRFY bob",
                   "STARTTLS",
                   "quit"};
  EXPECT_EQ(server.sessions(), std::vector<Lines>{sent});
  EXPECT_EQ(server.lines(), sent);
  EXPECT_EQ(server.tls_used(), std::vector<bool>{false});
  EXPECT_TRUE(server.wait_until_closed());
}

TEST(FakeSmtp, LongestPrefixWinsCaseInsensitively) {
  FakeSmtpServer server;
  server.on("RCPT TO:", FakeReply{"550 5.1.1 no such user\r\n"});
  server.on("rcpt to:<bob@", FakeReply{"250 2.1.5 bob\r\n"});
  server.on("EHLO", FakeReply{"250 tiny\r\n"});
  Client c(server.port());
  c.reply();
  c.send("ehlo x\r\n");
  EXPECT_EQ(c.reply()->lines, Lines{"tiny"});
  c.send("Rcpt To:<BOB@example.test>\r\n");
  EXPECT_EQ(c.reply()->lines, Lines{"bob"});
  c.send("RCPT TO:<alice@example.test>\r\n");
  EXPECT_EQ(c.code(), 550);
  server.on("RCPT TO:", FakeReply{"451 4.3.0 replaced\r\n"});  // same prefix: replaces the rule
  c.send("RCPT TO:<alice@example.test>\r\n");
  EXPECT_EQ(c.code(), 451);
  server.clear_rules();
  c.send("RCPT TO:<bob@example.test>\r\n");
  EXPECT_EQ(c.code(), 250);
}

TEST(FakeSmtp, SequenceCountsAcrossConnectionsAndRepeatsTheLast) {
  FakeSmtpServer server;
  server.on("RCPT", {"450 4.7.1 greylisted\r\n", "250 2.1.5 Ok\r\n"});
  {
    Client c(server.port());
    c.reply();
    c.send("RCPT TO:<a@b.test>\r\n");
    EXPECT_EQ(c.code(), 450);
  }
  Client c(server.port());
  c.reply();
  c.send("RCPT TO:<a@b.test>\r\n");
  EXPECT_EQ(c.code(), 250);
  c.send("RCPT TO:<a@b.test>\r\n");
  EXPECT_EQ(c.code(), 250);
  EXPECT_EQ(server.connections(), 2);
}

TEST(FakeSmtp, DelayHoldsTheReplyButNotTheRecording) {
  FakeSmtpServer server;
  server.on("RCPT", FakeReply{"250 2.1.5 late\r\n", 50ms});
  Client c(server.port());
  c.reply();
  const auto start = std::chrono::steady_clock::now();
  c.send("RCPT TO:<a@b.test>\r\nNOOP\r\n");  // pipelined
  // Both commands are recorded while the first reply is still held back.
  ASSERT_TRUE(server.wait_for_lines(2));
  EXPECT_EQ(server.lines(), (Lines{"RCPT TO:<a@b.test>", "NOOP"}));
  EXPECT_EQ(c.reply()->lines, Lines{"late"});
  EXPECT_GE(std::chrono::steady_clock::now() - start, 50ms);  // a lower bound only: cannot flake
  EXPECT_EQ(c.code(), 250);
}

TEST(FakeSmtp, CloseAndReplyThenClose) {
  FakeSmtpServer server;
  server.on("MAIL", A::close);
  server.on("RCPT", FakeReply{"421 4.4.2 bye\r\n", 0ms, A::reply_then_close});
  {
    Client c(server.port());
    c.reply();
    c.send("MAIL FROM:<>\r\n");
    EXPECT_EQ(c.rest(), "");
  }
  Client c(server.port());
  c.reply();
  c.send("RCPT TO:<a@b.test>\r\n");
  EXPECT_EQ(c.rest(), "421 4.4.2 bye\r\n");
  EXPECT_TRUE(server.wait_until_closed());
}

TEST(FakeSmtp, BannerVariants) {
  FakeSmtpServer server;
  server.banner({"220-fake.test first\r\n220-second\r\n220 third\r\n"});
  {
    Client c(server.port());
    EXPECT_EQ(c.reply()->lines, (Lines{"fake.test first", "second", "third"}));
  }
  server.banner({"554 5.7.1 go away\r\n", 0ms, A::reply_then_close});
  {
    Client c(server.port());
    EXPECT_EQ(c.rest(), "554 5.7.1 go away\r\n");
  }
  server.banner(A::close);
  Client c(server.port());
  EXPECT_EQ(c.rest(), "");
}

TEST(FakeSmtp, RawBytesAreSentAsIs) {
  FakeSmtpServer server;
  server.on("EHLO", FakeReply{"250-a\n250 b\r\n"});  // bare LF
  server.on("HELO", FakeReply{"hello there\r\n"});   // not SMTP at all
  Client c(server.port());
  c.reply();
  c.send("EHLO x\r\n");
  auto r = c.reply();
  ASSERT_TRUE(r);
  EXPECT_TRUE(r->bare_lf);
  EXPECT_EQ(r->lines, (Lines{"a", "b"}));
  c.send("HELO x\r\n");
  EXPECT_FALSE(c.reply());  // the reader refuses it
}

TEST(FakeSmtp, SilentKeepsTheConnectionOpen) {
  FakeSmtpServer server;
  server.on("RCPT", A::silent);
  Client c(server.port());
  c.reply();
  c.send("RCPT TO:<a@b.test>\r\nQUIT\r\n");
  ASSERT_TRUE(server.wait_for_lines(2));  // still reading and recording, never answering
  EXPECT_TRUE(quiet(c.socket()));
  EXPECT_EQ(server.open_connections(), 1);
}

TEST(FakeSmtp, TarpitNeverGreets) {
  FakeSmtpServer server;
  server.tarpit();
  Client c(server.port());
  c.send("EHLO early.talker\r\n");
  ASSERT_TRUE(server.wait_for_lines(1));
  EXPECT_TRUE(quiet(c.socket()));
  EXPECT_EQ(server.lines(), Lines{"EHLO early.talker"});
}

TEST(FakeSmtp, ClosedPortRefuses) {
  asio::io_context io;
  tcp::socket s(io);
  boost::system::error_code ec;
  s.connect({asio::ip::make_address("127.0.0.1"), closed_port()}, ec);
  EXPECT_EQ(ec, asio::error::connection_refused);
}

TEST(FakeSmtp, LongLinesAreTruncatedAndReadingGoesOn) {
  FakeSmtpServer server;
  Client c(server.port());
  c.reply();
  c.send("RCPT TO:<" + std::string(100'000, 'a') + ">\r\nNOOP\r\n");
  EXPECT_EQ(c.code(), 250);  // a (truncated) RCPT still gets the RCPT default
  EXPECT_EQ(c.code(), 250);
  const Lines got = server.sessions().at(0);
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].size(), 4096u);
  EXPECT_EQ(got[1], "NOOP");
}

TEST(FakeSmtp, RecordsStrayCrAndBareLfExactly) {
  FakeSmtpServer server;
  Client c(server.port());
  c.reply();
  c.send("MAIL FROM:<a\rb@c.test>\r\nNOOP\n");
  c.reply();
  c.reply();
  EXPECT_EQ(server.lines(), (Lines{"MAIL FROM:<a\rb@c.test>", "NOOP"}));
  EXPECT_EQ(server.raw_bytes(), "MAIL FROM:<a\rb@c.test>\r\nNOOP\n");
  EXPECT_NE(server.raw_bytes().find("\r\nNOOP"), std::string::npos);
}

TEST(FakeSmtp, ManyConnectionsAtOnce) {
  FakeSmtpServer server;
  {
    std::vector<std::unique_ptr<Client>> clients;
    for (int i = 0; i < 4; ++i) {
      clients.push_back(std::make_unique<Client>(server.port()));
      EXPECT_EQ(clients.back()->code(), 220);  // accepted and greeted: counted as open
    }
    for (std::size_t i = 0; i < clients.size(); ++i) {
      clients[i]->send("HELO c" + std::to_string(i) + "\r\n");
      EXPECT_EQ(clients[i]->code(), 250);
    }
    EXPECT_EQ(server.max_concurrent(), 4);
    EXPECT_EQ(server.open_connections(), 4);
  }
  EXPECT_TRUE(server.wait_until_closed());
  EXPECT_EQ(server.connections(), 4);
  EXPECT_EQ(server.sessions().at(3), Lines{"HELO c3"});
}

TEST(FakeSmtp, StartTls) {
  FakeSmtpServer server;
  server.enable_tls();
  Client c(server.port());
  c.reply();
  c.send("EHLO probe.test\r\n");
  EXPECT_EQ(c.reply()->lines,
            (Lines{"fake.test", "PIPELINING", "8BITMIME", "ENHANCEDSTATUSCODES", "STARTTLS", "SMTPUTF8"}));
  c.send("STARTTLS\r\n");
  auto ready = c.reply();
  ASSERT_TRUE(ready);
  EXPECT_EQ(ready->code, 220);
  c.starttls();  // verifies the chain and the name fake.test
  c.send("EHLO probe.test\r\n");
  EXPECT_EQ(c.reply()->lines, (Lines{"fake.test", "PIPELINING", "8BITMIME", "ENHANCEDSTATUSCODES", "SMTPUTF8"}));
  c.send("RCPT TO:<a@b.test>\r\n");
  EXPECT_EQ(c.code(), 250);
  c.send("QUIT\r\n");
  EXPECT_EQ(c.code(), 221);
  EXPECT_EQ(server.tls_used(), std::vector<bool>{true});
  EXPECT_EQ(server.lines(), (Lines{"EHLO probe.test", "STARTTLS", "EHLO probe.test", "RCPT TO:<a@b.test>", "QUIT"}));
  EXPECT_EQ(server.raw_bytes().find("\x16\x03"), std::string::npos);  // handshake bytes are not "received"
}

TEST(FakeSmtp, StartTlsIgnoresCommandsPipelinedBehindIt) {
  FakeSmtpServer server;
  server.enable_tls();
  Client c(server.port());
  c.reply();
  c.send("STARTTLS\r\nRSET\r\n");  // RFC 3207 §4.2: RSET must be discarded, not answered after TLS
  EXPECT_EQ(c.code(), 220);
  c.starttls();
  c.send("NOOP\r\n");
  auto r = c.reply();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->code, 250);
  EXPECT_EQ(server.lines(), (Lines{"STARTTLS", "RSET", "NOOP"}));  // recorded all the same
}

TEST(FakeSmtp, StartTlsRuleAndFailedHandshake) {
  FakeSmtpServer server;
  server.on("STARTTLS", FakeReply{"220 go ahead\r\n", 0ms, A::starttls});  // even without enable_tls()
  Client c(server.port());
  c.reply();
  c.send("STARTTLS\r\n");
  EXPECT_EQ(c.code(), 220);
  c.send("this is not a ClientHello\r\n");
  c.rest();  // the server gives up on the handshake and closes
  EXPECT_TRUE(server.wait_until_closed());
  EXPECT_EQ(server.tls_used(), std::vector<bool>{false});
}

TEST(FakeSmtp, StopsWithConnectionsOpenAndRepliesPending) {
  auto server = std::make_unique<FakeSmtpServer>();
  server->on("RCPT", {"250 never\r\n", std::chrono::hours(1)});
  Client waiting(server->port());
  waiting.reply();
  waiting.send("RCPT TO:<a@b.test>\r\n");
  ASSERT_TRUE(server->wait_for_lines(1));
  Client idle(server->port());
  EXPECT_EQ(idle.code(), 220);
  server.reset();  // must wait neither for the hour nor for the clients
  EXPECT_EQ(waiting.rest(), "");
  EXPECT_EQ(idle.rest(), "");
}

// --- SOCKS5 ---

std::string read_exact(tcp::socket& s, std::size_t n) {
  std::string out(n, '\0');
  std::size_t got = 0;
  while (got < n) {
    wait_readable(s);
    boost::system::error_code ec;
    got += s.read_some(asio::buffer(out.data() + got, n - got), ec);
    if (ec) return out.substr(0, got);
  }
  return out;
}

std::string bytes(std::initializer_list<int> b) {
  std::string s;
  for (int x : b) s.push_back(static_cast<char>(x));
  return s;
}

std::string port_bytes(std::uint16_t port) {
  return bytes({port >> 8, port & 0xFF});
}

// CONNECT request for an IPv4 literal, an IPv6 literal or (otherwise) a domain name.
std::string connect_request(const std::string& host, std::uint16_t port) {
  boost::system::error_code ec;
  const auto a = asio::ip::make_address(host, ec);
  std::string r = bytes({5, 1, 0});
  if (!ec && a.is_v4()) {
    r += bytes({1});
    for (auto x : a.to_v4().to_bytes()) r.push_back(static_cast<char>(x));
  } else if (!ec) {
    r += bytes({4});
    for (auto x : a.to_v6().to_bytes()) r.push_back(static_cast<char>(x));
  } else {
    r += bytes({3, static_cast<int>(host.size())}) + host;
  }
  return r + port_bytes(port);
}

// Greets with "no auth" (or user/pass when given), sends CONNECT; returns REP, or -1 if closed.
int socks_connect(tcp::socket& s, std::uint16_t proxy_port, const std::string& host, std::uint16_t port,
                  const std::optional<std::pair<std::string, std::string>>& auth = std::nullopt) {
  s.connect({asio::ip::make_address("127.0.0.1"), proxy_port});
  asio::write(s, asio::buffer(auth ? bytes({5, 1, 2}) : bytes({5, 1, 0})));
  if (read_exact(s, 2) != (auth ? bytes({5, 2}) : bytes({5, 0}))) return -1;
  if (auth) {
    asio::write(s, asio::buffer(bytes({1, static_cast<int>(auth->first.size())}) + auth->first +
                                bytes({static_cast<int>(auth->second.size())}) + auth->second));
    if (read_exact(s, 2) != bytes({1, 0})) return -1;
  }
  asio::write(s, asio::buffer(connect_request(host, port)));
  const std::string head = read_exact(s, 4);
  if (head.size() < 4) return -1;
  const int atyp = head[3];
  read_exact(s, (atyp == 4 ? 16 : 4) + 2);  // BND.ADDR BND.PORT
  return static_cast<unsigned char>(head[1]);
}

TEST(FakeSocks, NoAuthRelaysToTheFakeSmtpServer) {
  FakeSmtpServer smtp;
  FakeSocks5Proxy proxy;
  asio::io_context io;
  tcp::socket s(io);
  ASSERT_EQ(socks_connect(s, proxy.port(), "127.0.0.1", smtp.port()), 0);
  Client c(std::move(s));
  EXPECT_EQ(c.code(), 220);
  c.send("EHLO probe.test\r\n");
  EXPECT_EQ(c.code(), 250);
  c.send("QUIT\r\n");
  EXPECT_EQ(c.code(), 221);
  EXPECT_EQ(c.rest(), "");  // the server's close comes through the relay
  EXPECT_EQ(proxy.connections(), 1);
  EXPECT_EQ(proxy.targets(), Lines{"127.0.0.1:" + std::to_string(smtp.port())});
  EXPECT_EQ(smtp.lines(), (Lines{"EHLO probe.test", "QUIT"}));
  EXPECT_TRUE(proxy.usernames().empty());
}

TEST(FakeSocks, UsernamePasswordThenDomainTarget) {
  FakeSmtpServer smtp;
  FakeSocks5Proxy proxy("probe", "s3cret");
  proxy.alias("mx.example.test", "127.0.0.1");
  asio::io_context io;
  tcp::socket s(io);
  ASSERT_EQ(socks_connect(s, proxy.port(), "mx.example.test", smtp.port(), std::pair{"probe", "s3cret"}), 0);
  Client c(std::move(s));
  EXPECT_EQ(c.code(), 220);
  tcp::socket s2(io);
  ASSERT_EQ(socks_connect(s2, proxy.port(), "localhost", smtp.port(), std::pair{"probe", "s3cret"}), 0);
  EXPECT_EQ(proxy.usernames(), (Lines{"probe", "probe"}));
  EXPECT_EQ(proxy.targets(),
            (Lines{"mx.example.test:" + std::to_string(smtp.port()), "localhost:" + std::to_string(smtp.port())}));
  EXPECT_EQ(proxy.failed_auths(), 0);
}

TEST(FakeSocks, AuthFailures) {
  FakeSocks5Proxy proxy("probe", "s3cret");
  asio::io_context io;
  tcp::socket s(io);
  EXPECT_EQ(socks_connect(s, proxy.port(), "127.0.0.1", 25, std::pair{"probe", "wrong"}), -1);
  tcp::socket s2(io);
  s2.connect({asio::ip::make_address("127.0.0.1"), proxy.port()});
  asio::write(s2, asio::buffer(bytes({5, 1, 0})));  // offers only "no auth"
  EXPECT_EQ(read_exact(s2, 2), bytes({5, 0xFF}));
  EXPECT_EQ(proxy.failed_auths(), 2);
  EXPECT_EQ(proxy.usernames(), Lines{"probe"});
  EXPECT_TRUE(proxy.targets().empty());
}

TEST(FakeSocks, OnlyLoopbackTargets) {
  FakeSocks5Proxy proxy;
  asio::io_context io;
  for (const char* host : {"192.0.2.1", "2001:db8::1", "example.com"}) {
    tcp::socket s(io);
    EXPECT_EQ(socks_connect(s, proxy.port(), host, 25), 0x02) << host;
  }
  tcp::socket s(io);
  const std::uint16_t nobody = closed_port();
  const int rep = socks_connect(s, proxy.port(), "::1", nobody);  // allowed, but nothing listens
  EXPECT_NE(rep, 0x00);
  EXPECT_NE(rep, 0x02);
  EXPECT_EQ(proxy.targets(),
            (Lines{"192.0.2.1:25", "[2001:db8::1]:25", "example.com:25", "[::1]:" + std::to_string(nobody)}));
}

TEST(FakeSocks, FailureModes) {
  FakeSmtpServer smtp;
  FakeSocks5Proxy proxy;
  asio::io_context io;
  proxy.fail_connect(0x05);
  tcp::socket s(io);
  EXPECT_EQ(socks_connect(s, proxy.port(), "127.0.0.1", smtp.port()), 0x05);
  EXPECT_EQ(proxy.targets().size(), 1u);
  proxy.fail_connect(0x00);
  proxy.close_after_greeting();
  tcp::socket s2(io);
  EXPECT_EQ(socks_connect(s2, proxy.port(), "127.0.0.1", smtp.port()), -1);
  EXPECT_EQ(smtp.connections(), 0);
  tcp::socket s3(io);
  EXPECT_EQ(socks_connect(s3, proxy.port(), "127.0.0.1", closed_port()), -1);
  proxy.close_after_greeting(false);
  tcp::socket s4(io);
  EXPECT_EQ(socks_connect(s4, proxy.port(), "127.0.0.1", closed_port()), 0x05);  // a real refusal
  EXPECT_EQ(proxy.connections(), 4);
}

}  // namespace
}  // namespace mailsift::test
