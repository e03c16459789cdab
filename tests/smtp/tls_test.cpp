// The TLS client (smtp/tls.hpp): one context, TLS sessions resumed per MX host, a bounded cache,
// shared by several event loops. Against FakeSmtpServer's STARTTLS (OpenSSL's server defaults:
// TLS 1.3 with stateless tickets, handed out after the handshake).
#include "smtp/tls.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "fake_smtp.hpp"
#include "session_harness.hpp"

namespace mailsift::test {
namespace {

using mailsift::Reason;
using smtp::SessionReport;
using smtp::Target;
using smtp::TlsClient;
using ::testing::HasSubstr;

smtp::SessionRequest to(const std::string& host, const std::string& address = "127.0.0.1") {
  return request({"alice@example.test"}, false, {Target{host, address}});
}

// The session ran over TLS to the end and got its answer.
void expect_tls_answer(const SessionReport& rep) {
  ASSERT_FALSE(rep.attempts.empty());
  EXPECT_FALSE(rep.attempts.back().failure) << rep.attempts.back().detail;
  EXPECT_TRUE(rep.tls.used) << rep.tls.error;
  ASSERT_EQ(rep.recipients.size(), 1u);
  EXPECT_EQ(rep.recipients[0].reason, Reason::mailbox_exists);
}

TEST(Tls, SessionKey) {
  EXPECT_EQ(TlsClient::session_key("mx1.example.com", "192.0.2.1", 25), "mx1.example.com:25");
  EXPECT_EQ(TlsClient::session_key("", "192.0.2.1", 25), "[192.0.2.1]:25");
  EXPECT_EQ(TlsClient::session_key("", "2001:db8::1", 587), "[2001:db8::1]:587");
}

TEST(Tls, SecondSessionToTheSameHostIsResumed) {
  FakeSmtpServer server;
  server.enable_tls();
  Harness h(probe_options(server.port()));
  const SessionReport first = h.run(to("fake.test"));
  expect_tls_answer(first);
  EXPECT_FALSE(first.tls.resumed);
  EXPECT_EQ(h.ctx.tls().size(), 1u);
  const SessionReport second = h.run(to("fake.test"));
  expect_tls_answer(second);
  EXPECT_TRUE(second.tls.resumed);
  EXPECT_EQ(second.tls.version, first.tls.version);
  EXPECT_GE(h.ctx.tls().stats().offered, 1u);
  ASSERT_TRUE(server.wait_until_closed());
  EXPECT_EQ(server.tls_used(), (std::vector<bool>{true, true}));
}

TEST(Tls, AnotherHostNameIsNotResumed) {
  // Same address, same server: a session is kept per host name, never offered to another name.
  FakeSmtpServer server;
  server.enable_tls();
  Harness h(probe_options(server.port()));
  EXPECT_FALSE(h.run(to("fake.test")).tls.resumed);
  const SessionReport other = h.run(to("mx2.fake.test"));
  expect_tls_answer(other);
  EXPECT_FALSE(other.tls.resumed);
  EXPECT_EQ(h.ctx.tls().size(), 2u);
  EXPECT_TRUE(h.run(to("fake.test")).tls.resumed);
  EXPECT_TRUE(h.run(to("mx2.fake.test")).tls.resumed);
}

TEST(Tls, AddressLiteralsAreKeyedByAddress) {
  FakeSmtpServer a;
  a.enable_tls();
  FakeSmtpServer b("127.0.0.2", a.port());
  b.enable_tls();
  Harness h(probe_options(a.port()));
  EXPECT_FALSE(h.run(to("", "127.0.0.1")).tls.resumed);
  EXPECT_FALSE(h.run(to("", "127.0.0.2")).tls.resumed);
  EXPECT_TRUE(h.run(to("", "127.0.0.1")).tls.resumed);
}

TEST(Tls, ResumedSessionKeepsTheCertificateFacts) {
  // Unverified (self-signed, not trusted): the same cert_error after resumption.
  {
    FakeSmtpServer server;
    server.enable_tls();
    Harness h(probe_options(server.port()));
    const SessionReport first = h.run(to("fake.test"));
    const SessionReport second = h.run(to("fake.test"));
    ASSERT_TRUE(second.tls.resumed);
    for (const SessionReport* r : {&first, &second}) {
      EXPECT_FALSE(r->tls.verified);
      EXPECT_THAT(r->tls.cert_error, HasSubstr("self"));
    }
  }
  // Trusted, and the name matches: verified, before and after resumption.
  {
    FakeSmtpServer server;
    server.enable_tls();
    auto tls = std::make_shared<TlsClient>();
    tls->context().load_verify_file(FakeSmtpServer::certificate_file());
    Harness h(probe_options(server.port()), polite_options(), 100, tls);
    const SessionReport first = h.run(to("fake.test"));
    const SessionReport second = h.run(to("fake.test"));
    ASSERT_TRUE(second.tls.resumed);
    for (const SessionReport* r : {&first, &second}) {
      EXPECT_TRUE(r->tls.verified) << r->tls.cert_error;
      EXPECT_EQ(r->tls.cert_error, "");
    }
    // Trusted, but under a name the certificate does not carry: a name mismatch, also resumed.
    const SessionReport third = h.run(to("other.test"));
    const SessionReport fourth = h.run(to("other.test"));
    ASSERT_TRUE(fourth.tls.resumed);
    for (const SessionReport* r : {&third, &fourth}) {
      EXPECT_FALSE(r->tls.verified);
      EXPECT_THAT(r->tls.cert_error, HasSubstr("mismatch"));
    }
  }
}

TEST(Tls, TheSystemCaStoreHonoursSslCertFile) {
  // TlsClient loads the CA file and directory itself (not SSL_CTX_set_default_verify_paths):
  // SSL_CERT_FILE must still name the trust anchors, as for every OpenSSL program.
  FakeSmtpServer server;
  server.enable_tls();
  const char* before = std::getenv("SSL_CERT_FILE");
  const std::string saved = before != nullptr ? before : "";
  ::setenv("SSL_CERT_FILE", FakeSmtpServer::certificate_file().c_str(), 1);
  auto tls = std::make_shared<TlsClient>();
  if (before != nullptr) {
    ::setenv("SSL_CERT_FILE", saved.c_str(), 1);
  } else {
    ::unsetenv("SSL_CERT_FILE");
  }
  Harness h(probe_options(server.port()), polite_options(), 100, tls);
  const SessionReport rep = h.run(to("fake.test"));
  expect_tls_answer(rep);
  EXPECT_TRUE(rep.tls.verified) << rep.tls.cert_error;
  // The default store does not trust it.
  Harness plain(probe_options(server.port()));
  const SessionReport untrusted = plain.run(to("fake.test"));
  EXPECT_FALSE(untrusted.tls.verified);
  EXPECT_THAT(untrusted.tls.cert_error, HasSubstr("self"));
}

TEST(Tls, TheCacheBoundEvicts) {
  FakeSmtpServer server;
  server.enable_tls();
  auto o = probe_options(server.port());
  o.tls_session_cache = 2;
  Harness h(o);
  EXPECT_FALSE(h.run(to("a.test")).tls.resumed);
  EXPECT_FALSE(h.run(to("b.test")).tls.resumed);
  EXPECT_TRUE(h.run(to("a.test")).tls.resumed);   // a is now the most recently used
  EXPECT_FALSE(h.run(to("c.test")).tls.resumed);  // evicts b, the least recently used
  EXPECT_EQ(h.ctx.tls().size(), 2u);
  EXPECT_EQ(h.ctx.tls().stats().evicted, 1u);
  EXPECT_FALSE(h.run(to("b.test")).tls.resumed);  // evicts a
  EXPECT_TRUE(h.run(to("c.test")).tls.resumed);
  EXPECT_FALSE(h.run(to("a.test")).tls.resumed);
  EXPECT_EQ(h.ctx.tls().size(), 2u);
}

TEST(Tls, ASessionTheServerNoLongerKnowsCostsOneFullHandshake) {
  // The host restarted with new ticket keys: the offered session is refused, the handshake is a
  // full one, and its new session replaces the old.
  auto tls = std::make_shared<TlsClient>();
  std::uint16_t port = 0;
  {
    FakeSmtpServer before;
    before.enable_tls();
    port = before.port();
    Harness h(probe_options(port), polite_options(), 100, tls);
    EXPECT_FALSE(h.run(to("fake.test")).tls.resumed);
  }
  FakeSmtpServer after("127.0.0.1", port);
  after.enable_tls();
  Harness h(probe_options(port), polite_options(), 100, tls);
  const SessionReport refused = h.run(to("fake.test"));
  expect_tls_answer(refused);
  EXPECT_FALSE(refused.tls.resumed);
  EXPECT_THAT(refused.tls.cert_error, HasSubstr("self"));
  EXPECT_TRUE(h.run(to("fake.test")).tls.resumed);
  EXPECT_EQ(tls->size(), 1u);
}

TEST(Tls, ASessionPastItsLifetimeIsDropped) {
  FakeSmtpServer server;
  server.enable_tls();
  auto tls = std::make_shared<TlsClient>();
  SSL_CTX_set_timeout(tls->context().native_handle(), 1);  // sessions live 1 s (whole seconds)
  Harness h(probe_options(server.port()), polite_options(), 100, tls);
  EXPECT_FALSE(h.run(to("fake.test")).tls.resumed);
  ASSERT_EQ(tls->size(), 1u);
  std::this_thread::sleep_for(1100ms);
  const SessionReport late = h.run(to("fake.test"));
  expect_tls_answer(late);
  EXPECT_FALSE(late.tls.resumed);
  EXPECT_EQ(tls->stats().expired, 1u);
  EXPECT_EQ(tls->size(), 1u);  // the new session of that handshake
}

TEST(Tls, NoCacheNoResumption) {
  FakeSmtpServer server;
  server.enable_tls();
  auto o = probe_options(server.port());
  o.tls_session_cache = 0;
  Harness h(o);
  expect_tls_answer(h.run(to("fake.test")));
  const SessionReport second = h.run(to("fake.test"));
  expect_tls_answer(second);
  EXPECT_FALSE(second.tls.resumed);
  EXPECT_EQ(h.ctx.tls().size(), 0u);
}

TEST(Tls, SharedByEventLoopsOnSeveralThreads) {
  // One TlsClient, two SessionContexts on their own io_contexts and threads, many sessions at
  // once: a session one loop got is resumed by the other (run under ASan/UBSan for the locking).
  FakeSmtpServer server;
  server.enable_tls();
  auto tls = std::make_shared<TlsClient>();
  {
    Harness warm(probe_options(server.port()), polite_options(), 100, tls);
    EXPECT_FALSE(warm.run(to("fake.test")).tls.resumed);
  }
  constexpr int kLoops = 2, kSessions = 8;
  std::vector<std::vector<SessionReport>> got(kLoops);
  std::vector<std::thread> threads;
  for (int t = 0; t < kLoops; ++t) {
    threads.emplace_back([&, t] {
      Harness h(probe_options(server.port()), polite_options(), 100, tls);
      std::vector<smtp::SessionRequest> reqs;
      for (int i = 0; i < kSessions; ++i)
        reqs.push_back(to(i % 2 == 0 ? "fake.test" : "mx" + std::to_string(t) + ".test"));
      got[t] = h.run_all(std::move(reqs));
    });
  }
  for (std::thread& th : threads) th.join();
  for (int t = 0; t < kLoops; ++t) {
    ASSERT_EQ(got[t].size(), static_cast<std::size_t>(kSessions));
    for (int i = 0; i < kSessions; ++i) {
      expect_tls_answer(got[t][i]);
      // fake.test was cached before the threads started: every session to it resumes.
      if (i % 2 == 0) {
        EXPECT_TRUE(got[t][i].tls.resumed) << "loop " << t << " session " << i;
      }
    }
  }
  EXPECT_EQ(tls->size(), 3u);
}

}  // namespace
}  // namespace mailsift::test
