// The SMTP stage for one domain (smtp/prober.hpp) against the fake server: sessions per batch of
// addresses, one catch-all test per domain, results in input order, greylisting retries.
#include "smtp/prober.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <chrono>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "dns/evidence.hpp"
#include "smtp/fake_smtp.hpp"
#include "smtp/session_harness.hpp"

namespace mailsift::test {
namespace {

namespace asio = boost::asio;
using smtp::AddressProbe;
using Lines = std::vector<std::string>;

std::shared_ptr<const dns::DomainDns> mx_at(std::vector<std::string> addresses) {
  auto d = std::make_shared<dns::DomainDns>();
  d->reason = Reason::mx_found;
  dns::MxHost h;
  h.host = "mx.example.test";
  h.preference = 10;
  h.addresses = std::move(addresses);
  d->mx.push_back(std::move(h));
  return d;
}

struct Outcome {
  std::vector<AddressProbe> out;
  smtp::ProberStats stats;
};

Outcome probe(smtp::ProbeOptions o, smtp::RetryOptions retry, std::vector<std::string> mailboxes,
              std::vector<std::string> addresses = {"127.0.0.1"}, smtp::PolitenessOptions polite = polite_options()) {
  asio::io_context io;
  smtp::Prober prober(io, std::move(o), polite, retry, 100);
  std::optional<std::vector<AddressProbe>> out;
  int calls = 0;
  prober.probe("example.test", mx_at(std::move(addresses)), std::move(mailboxes), [&](std::vector<AddressProbe> r) {
    ++calls;
    out = std::move(r);
  });
  io.run_for(kGuard);
  if (!out) throw std::runtime_error("the prober did not finish within the guard time");
  EXPECT_EQ(calls, 1);
  return {std::move(*out), prober.stats()};
}

// The same, with probe() called from inside io_context::run, as the CLI and the server call it
// (from a DNS answer's completion handler). There co_spawn runs a session inline up to its first
// suspension, so a session that needs no I/O ends inside the call that started it.
Outcome probe_from_the_loop(smtp::ProbeOptions o, smtp::RetryOptions retry,
                            std::vector<std::vector<std::string>> calls) {
  asio::io_context io;
  smtp::Prober prober(io, std::move(o), polite_options(), retry, 100);
  std::vector<std::optional<std::vector<AddressProbe>>> results(calls.size());
  asio::post(io, [&] {
    for (std::size_t c = 0; c < calls.size(); ++c)
      prober.probe("example.test", mx_at({"127.0.0.1"}), calls[c], [&results, c](std::vector<AddressProbe> r) {
        if (results[c]) throw std::logic_error("callback called twice");
        results[c] = std::move(r);
      });
  });
  io.run_for(kGuard);
  Outcome all;
  for (std::size_t c = 0; c < calls.size(); ++c) {
    if (!results[c]) throw std::runtime_error("the prober did not finish call " + std::to_string(c));
    if (results[c]->size() != calls[c].size()) throw std::logic_error("a result per mailbox expected");
    for (AddressProbe& p : *results[c]) all.out.push_back(std::move(p));
  }
  all.stats = prober.stats();
  return all;
}

bool ours(const std::string& line) {
  return line.starts_with("RCPT TO:<user") || line.starts_with("RCPT TO:<nobody") ||
         line.starts_with("RCPT TO:<grey") || line.starts_with("RCPT TO:<ok@");
}

TEST(Prober, SplitsIntoSessionsTestsCatchAllOnceKeepsOrder) {
  FakeSmtpServer server;
  std::vector<std::string> mailboxes;
  for (int i = 0; i < 120; ++i) {
    const std::string local = (i % 7 == 3 ? "nobody" : "user") + std::to_string(i);
    mailboxes.push_back(local + "@example.test");
    // Each address gets its own reply text, so the result can be matched to its address.
    if (i % 7 == 3) server.on("RCPT TO:<" + local + "@", "550 5.1.1 <" + local + "> unknown\r\n");
    else server.on("RCPT TO:<" + local + "@", "250 2.1.5 <" + local + "> ok\r\n");
  }
  auto o = probe_options(server.port());
  o.max_rcpts = 50;
  const Outcome run = probe(o, {}, mailboxes);

  ASSERT_EQ(run.out.size(), 120u);
  for (std::size_t i = 0; i < 120; ++i) {
    SCOPED_TRACE(mailboxes[i]);
    const AddressProbe& p = run.out[i];
    ASSERT_TRUE(p.session);
    const auto& o2 = p.outcome();
    const std::string local = mailboxes[i].substr(0, mailboxes[i].find('@'));
    ASSERT_TRUE(o2.reply);
    EXPECT_EQ(o2.reply->lines, Lines{"<" + local + "> " + (i % 7 == 3 ? "unknown" : "ok")});
    EXPECT_EQ(code(o2.reason), code(i % 7 == 3 ? Reason::mailbox_not_found : Reason::mailbox_exists));
    EXPECT_EQ(p.catch_all, true);  // tested by the first session, known to all
    EXPECT_EQ(p.tries, 1);
  }
  // 50 + 50 + 20 per session.
  EXPECT_EQ(run.out[0].session->recipients.size(), 50u);
  EXPECT_EQ(run.out[119].session->recipients.size(), 20u);
  EXPECT_EQ(run.out[119].index, 19u);
  EXPECT_EQ(run.stats.sessions, 3u);
  EXPECT_EQ(run.stats.catch_all_tests, 1u);
  EXPECT_EQ(run.stats.rcpts, 121u);

  ASSERT_TRUE(server.wait_until_closed());
  EXPECT_EQ(server.connections(), 3);
  const Lines lines = server.lines();
  // The first session's 50 fill a transaction (max_rcpts): the random address takes a second one.
  EXPECT_EQ(std::count_if(lines.begin(), lines.end(), [](const std::string& l) { return l.starts_with("MAIL"); }), 4);
  // One RSET, between the first session's two transactions; each session ends with QUIT alone.
  EXPECT_EQ(std::count_if(lines.begin(), lines.end(), [](const std::string& l) { return l.starts_with("RSET"); }), 1);
  EXPECT_EQ(std::count_if(lines.begin(), lines.end(), [](const std::string& l) { return l == "QUIT"; }), 3);
  EXPECT_EQ(std::count_if(lines.begin(), lines.end(), [](const std::string& l) { return l.starts_with("RCPT"); }), 121);
  EXPECT_EQ(std::count_if(lines.begin(), lines.end(),
                          [](const std::string& l) { return l.starts_with("RCPT") && !ours(l); }),
            1);  // the random address, once for the domain
}

TEST(Prober, AddressesOfOneDomainFromSeveralCallsShareSessionsAndOneCatchAllTest) {
  // A bulk run hands the prober a domain's addresses batch by batch. Those that arrive while the
  // first session runs wait for the next one, whichever call they came from.
  FakeSmtpServer server;
  for (int i = 0; i < 30; ++i) {
    const std::string local = (i % 3 == 1 ? "nobody" : "user") + std::to_string(i);
    server.on("RCPT TO:<" + local + "@", i % 3 == 1 ? "550 5.1.1 <" + local + "> unknown\r\n"
                                                     : "250 2.1.5 <" + local + "> ok\r\n");
  }
  asio::io_context io;
  auto o = probe_options(server.port());
  o.max_rcpts = 50;
  smtp::Prober prober(io, o, polite_options(), {}, 100);
  std::vector<std::optional<std::vector<AddressProbe>>> results(3);
  std::vector<std::vector<std::string>> calls(3);
  for (int c = 0; c < 3; ++c) {
    for (int i = c * 10; i < c * 10 + 10; ++i)
      calls[c].push_back((i % 3 == 1 ? "nobody" : "user") + std::to_string(i) + "@example.test");
    prober.probe("example.test", mx_at({"127.0.0.1"}), calls[c], [&results, c](std::vector<AddressProbe> r) {
      ASSERT_FALSE(results[c]) << "callback called twice";
      results[c] = std::move(r);
    });
  }
  io.run_for(kGuard);
  for (int c = 0; c < 3; ++c) {
    ASSERT_TRUE(results[c]) << "call " << c << " did not finish";
    ASSERT_EQ(results[c]->size(), 10u);
    for (std::size_t j = 0; j < 10; ++j) {
      const AddressProbe& p = (*results[c])[j];
      const std::string& mailbox = calls[c][j];
      SCOPED_TRACE(mailbox);
      ASSERT_TRUE(p.session);
      EXPECT_EQ(p.session->recipients.size(), c == 0 ? 10u : 20u);
      ASSERT_TRUE(p.outcome().reply);
      const std::string local = mailbox.substr(0, mailbox.find('@'));
      EXPECT_EQ(p.outcome().reply->lines, Lines{"<" + local + "> " + (local[0] == 'n' ? "unknown" : "ok")});
      EXPECT_EQ(p.catch_all, true);
    }
  }
  // The first call's session tested catch-all alone; the other two calls' 20 went together.
  EXPECT_EQ(prober.stats().sessions, 2u);
  EXPECT_EQ(prober.stats().catch_all_tests, 1u);
  EXPECT_EQ(prober.stats().rcpts, 31u);
  ASSERT_TRUE(server.wait_until_closed());
  EXPECT_EQ(server.connections(), 2);
}

TEST(Prober, NoAddressesFinishesAtOnceWithoutASession) {
  FakeSmtpServer server;
  const Outcome run = probe(probe_options(server.port()), {}, {});
  EXPECT_TRUE(run.out.empty());
  EXPECT_EQ(run.stats.sessions, 0u);
  EXPECT_EQ(server.connections(), 0);
}

TEST(Prober, CatchAllOptionOffSendsNoRandomAddress) {
  FakeSmtpServer server;
  auto o = probe_options(server.port());
  o.catch_all = false;
  const Outcome run = probe(o, {}, {"user1@example.test", "user2@example.test"});
  ASSERT_EQ(run.out.size(), 2u);
  EXPECT_EQ(run.out[0].catch_all, std::nullopt);
  EXPECT_EQ(run.stats.catch_all_tests, 0u);
  ASSERT_TRUE(server.wait_until_closed());
  const Lines lines = server.lines();
  EXPECT_EQ(std::count_if(lines.begin(), lines.end(), [](const std::string& l) { return l.starts_with("RCPT"); }), 2);
}

TEST(Prober, GreylistedAddressIsAskedAgainFromTheSameSource) {
  FakeSmtpServer server;
  server.on("RCPT TO:<grey@", {"450 4.7.1 Greylisted, please try again later\r\n", "250 2.1.5 Ok\r\n"});
  auto o = probe_options(server.port());
  o.source_ips = {"127.0.0.3", "127.0.0.4"};  // a second session would take .4 unless pinned
  const Outcome run = probe(o, {.greylist_retry = std::chrono::milliseconds(100), .greylist_tries = 3,
                            .max_wait = std::chrono::seconds(5)},
                        {"ok@example.test", "grey@example.test"});
  ASSERT_EQ(run.out.size(), 2u);
  EXPECT_EQ(code(run.out[0].outcome().reason), code(Reason::mailbox_exists));
  EXPECT_EQ(run.out[0].tries, 1);
  EXPECT_EQ(code(run.out[1].outcome().reason), code(Reason::mailbox_exists));
  EXPECT_EQ(run.out[1].tries, 2);
  EXPECT_NE(run.out[0].session, run.out[1].session);
  EXPECT_EQ(run.out[1].catch_all, true);
  EXPECT_EQ(run.stats.sessions, 2u);
  EXPECT_EQ(run.stats.greylist_retries, 1u);

  ASSERT_TRUE(server.wait_until_closed());
  EXPECT_EQ(server.peers(), (Lines{"127.0.0.3", "127.0.0.3"}));
  const auto sessions = server.sessions();
  ASSERT_EQ(sessions.size(), 2u);
  // The retry asks only the greylisted address, with the same sender, and no random address (known).
  EXPECT_EQ(sessions[1], (Lines{"EHLO probe.test", "MAIL FROM:<verify@probe.test>", "RCPT TO:<grey@example.test>",
                                "QUIT"}));
  EXPECT_EQ(sessions[0][1], sessions[1][1]);
}

TEST(Prober, GreylistingWithoutTimeToWaitStaysGreylisted) {
  FakeSmtpServer server;
  server.on("RCPT TO:<grey@", {"450 4.7.1 Greylisted, please try again later\r\n", "250 2.1.5 Ok\r\n"});
  const Outcome run = probe(probe_options(server.port()),
                        {.greylist_retry = std::chrono::milliseconds(100), .greylist_tries = 3,
                         .max_wait = std::chrono::milliseconds(0)},
                        {"grey@example.test"});
  ASSERT_EQ(run.out.size(), 1u);
  EXPECT_EQ(code(run.out[0].outcome().reason), code(Reason::greylisted));
  EXPECT_EQ(run.out[0].outcome().retry, smtp::Retry::greylisting);
  EXPECT_EQ(run.out[0].tries, 1);
  EXPECT_EQ(server.connections(), 1);
}

TEST(Prober, GreylistingRetriesAreBoundedByTries) {
  FakeSmtpServer server;
  server.on("RCPT TO:<grey@", "450 4.7.1 Greylisted, please try again later\r\n");
  const Outcome run = probe(probe_options(server.port()),
                        {.greylist_retry = std::chrono::milliseconds(50), .greylist_tries = 3,
                         .max_wait = std::chrono::seconds(5)},
                        {"grey@example.test"});
  ASSERT_EQ(run.out.size(), 1u);
  EXPECT_EQ(code(run.out[0].outcome().reason), code(Reason::greylisted));
  EXPECT_EQ(run.out[0].tries, 3);
  EXPECT_EQ(server.connections(), 3);
  EXPECT_EQ(run.stats.greylist_retries, 2u);
}

// The server's stated delay replaces --greylist-retry: with a 600 s --greylist-retry and 60 s of
// --max-wait the retry would never be made, so a retry at all shows the 1 s hint was used.
TEST(Prober, GreylistRetryWaitsTheDelayTheServerStates) {
  FakeSmtpServer server;
  server.on("RCPT TO:<grey@", {"450 4.2.0 Greylisted for 1 seconds\r\n", "250 2.1.5 Ok\r\n"});
  const Outcome run = probe(probe_options(server.port()),
                            {.greylist_retry = std::chrono::seconds(600), .greylist_tries = 3,
                             .max_wait = std::chrono::seconds(60)},
                            {"grey@example.test"});
  ASSERT_EQ(run.out.size(), 1u);
  EXPECT_EQ(code(run.out[0].outcome().reason), code(Reason::mailbox_exists));
  EXPECT_EQ(run.out[0].tries, 2);
  EXPECT_EQ(run.out[0].outcome().retry_after, std::nullopt);  // the final answer is the 250
  EXPECT_EQ(run.stats.greylist_retries, 1u);
  EXPECT_EQ(server.connections(), 2);
}

// A stated delay beyond what --max-wait leaves: no pointless wait, one session, still greylisted
// (a 100 ms --greylist-retry would have retried and got the 250).
TEST(Prober, StatedDelayBeyondMaxWaitIsNotWaitedFor) {
  FakeSmtpServer server;
  server.on("RCPT TO:<grey@", {"450 4.2.0 Greylisted for 300 seconds\r\n", "250 2.1.5 Ok\r\n"});
  const Outcome run = probe(probe_options(server.port()),
                            {.greylist_retry = std::chrono::milliseconds(100), .greylist_tries = 3,
                             .max_wait = std::chrono::seconds(5)},
                            {"grey@example.test"});
  ASSERT_EQ(run.out.size(), 1u);
  EXPECT_EQ(code(run.out[0].outcome().reason), code(Reason::greylisted));
  EXPECT_EQ(run.out[0].outcome().retry_after, std::chrono::seconds(300));
  EXPECT_EQ(run.out[0].tries, 1);
  EXPECT_EQ(run.stats.sessions, 1u);
  EXPECT_EQ(run.stats.greylist_retries, 0u);
  EXPECT_EQ(server.connections(), 1);
}

// Retried together, the addresses of a session wait for the one without a stated delay: the
// --greylist-retry (100 ms) rather than the other's 300 s, which would be beyond --max-wait.
TEST(Prober, StatedDelayIsUsedOnlyWhenEveryDeferredAddressHasOne) {
  FakeSmtpServer server;
  server.on("RCPT TO:<grey1@", {"450 4.2.0 Greylisted for 300 seconds\r\n", "250 2.1.5 Ok\r\n"});
  server.on("RCPT TO:<grey2@", {"450 4.7.1 Greylisted, please try again later\r\n", "250 2.1.5 Ok\r\n"});
  const Outcome run = probe(probe_options(server.port()),
                            {.greylist_retry = std::chrono::milliseconds(100), .greylist_tries = 3,
                             .max_wait = std::chrono::seconds(5)},
                            {"grey1@example.test", "grey2@example.test"});
  ASSERT_EQ(run.out.size(), 2u);
  for (const AddressProbe& p : run.out) {
    EXPECT_EQ(code(p.outcome().reason), code(Reason::mailbox_exists));
    EXPECT_EQ(p.tries, 2);
  }
  EXPECT_EQ(run.stats.greylist_retries, 1u);
}

// A retry still too early gets another stated delay and waits again, within --greylist-tries.
TEST(Prober, TooEarlyRetryWaitsTheNewlyStatedDelay) {
  FakeSmtpServer server;
  server.on("RCPT TO:<grey@", {"451 4.7.1 Greylisting in action, please come back in 00:00:00\r\n",
                               "450 4.2.0 Greylisted for 0 seconds\r\n", "250 2.1.5 Ok\r\n"});
  const Outcome run = probe(probe_options(server.port()),
                            {.greylist_retry = std::chrono::seconds(600), .greylist_tries = 3,
                             .max_wait = std::chrono::seconds(60)},
                            {"grey@example.test"});
  ASSERT_EQ(run.out.size(), 1u);
  EXPECT_EQ(code(run.out[0].outcome().reason), code(Reason::mailbox_exists));
  EXPECT_EQ(run.out[0].tries, 3);
  EXPECT_EQ(run.stats.greylist_retries, 2u);
  EXPECT_EQ(server.connections(), 3);
}

TEST(Prober, GreylistRetryGoesFirstToTheServerThatGreylisted) {
  // Two MX addresses; the first refuses connections, so the greylisting came from the second.
  // The retry starts there instead of trying the dead one again.
  const std::uint16_t port = closed_port();
  FakeSmtpServer second("127.0.0.2", port);
  second.on("RCPT TO:<grey@", {"450 4.7.1 Greylisted, please try again later\r\n", "250 2.1.5 Ok\r\n"});
  auto o = probe_options(port);
  const Outcome run = probe(o, {.greylist_retry = std::chrono::milliseconds(50), .greylist_tries = 3,
                            .max_wait = std::chrono::seconds(5)},
                        {"grey@example.test"}, {"127.0.0.1", "127.0.0.2"});
  ASSERT_EQ(run.out.size(), 1u);
  EXPECT_EQ(code(run.out[0].outcome().reason), code(Reason::mailbox_exists));
  EXPECT_EQ(run.out[0].tries, 2);
  ASSERT_EQ(run.out[0].session->attempts.size(), 1u);
  EXPECT_EQ(run.out[0].session->attempts[0].address, "127.0.0.2");
}

// Issue 13, class 5: postscreen's first-contact deferral says nothing of greylisting; it is asked
// again like greylisting, from the same source, and the evidence keeps the deferral.
TEST(Prober, GenericFirstContact4xxIsRetriedLikeGreylisting) {
  FakeSmtpServer server;
  server.on("RCPT TO:<grey@", {"450 4.3.2 Service currently unavailable\r\n", "250 2.1.5 Ok\r\n"});
  auto o = probe_options(server.port());
  o.source_ips = {"127.0.0.3", "127.0.0.4"};  // a second session would take .4 unless pinned
  const Outcome run = probe(
      o, {.greylist_retry = std::chrono::milliseconds(100), .greylist_tries = 3, .max_wait = std::chrono::seconds(5)},
      {"ok@example.test", "grey@example.test"});
  ASSERT_EQ(run.out.size(), 2u);
  EXPECT_EQ(code(run.out[0].outcome().reason), code(Reason::mailbox_exists));
  EXPECT_EQ(run.out[0].tries, 1);
  EXPECT_TRUE(run.out[0].earlier.empty());
  const AddressProbe& grey = run.out[1];
  EXPECT_EQ(code(grey.outcome().reason), code(Reason::mailbox_exists));
  EXPECT_EQ(grey.tries, 2);
  ASSERT_EQ(grey.earlier.size(), 1u);
  EXPECT_EQ(grey.earlier[0].retry, smtp::Retry::greylisting);
  ASSERT_TRUE(grey.earlier[0].reply);
  EXPECT_EQ(grey.earlier[0].reply->code, 450);
  EXPECT_EQ(run.stats.greylist_retries, 1u);
  ASSERT_TRUE(server.wait_until_closed());
  EXPECT_EQ(server.peers(), (Lines{"127.0.0.3", "127.0.0.3"}));
  ASSERT_EQ(server.sessions().size(), 2u);
  EXPECT_EQ(server.sessions()[1],
            (Lines{"EHLO probe.test", "MAIL FROM:<verify@probe.test>", "RCPT TO:<grey@example.test>", "QUIT"}));
}

// Still deferred after --greylist-tries: the final reason is the classifier's (temporary_failure
// for a generic text), every try counted and kept.
TEST(Prober, Persistent4xxEndsAsTemporaryFailureAfterTheTries) {
  FakeSmtpServer server;
  server.on("RCPT TO:<temp@", "451 4.3.0 Local error in processing\r\n");
  const Outcome run =
      probe(probe_options(server.port()),
            {.greylist_retry = std::chrono::milliseconds(50), .greylist_tries = 3, .max_wait = std::chrono::seconds(5)},
            {"temp@example.test"});
  ASSERT_EQ(run.out.size(), 1u);
  EXPECT_EQ(code(run.out[0].outcome().reason), code(Reason::temporary_failure));
  EXPECT_EQ(run.out[0].outcome().retry, smtp::Retry::greylisting);
  EXPECT_EQ(run.out[0].tries, 3);
  ASSERT_EQ(run.out[0].earlier.size(), 2u);
  for (const auto& e : run.out[0].earlier) EXPECT_EQ(code(e.reason), code(Reason::temporary_failure));
  EXPECT_EQ(run.stats.greylist_retries, 2u);
  EXPECT_EQ(server.connections(), 3);
}

// ... and within --max-wait: with 150 ms between tries and 400 ms to wait in all, a fourth try
// would start at 450 ms at the earliest, so there are 2 or 3 tries (not the 10 allowed).
TEST(Prober, Persistent4xxRetriesStayWithinMaxWait) {
  FakeSmtpServer server;
  server.on("RCPT TO:<temp@", "451 4.3.0 Local error in processing\r\n");
  const auto started = std::chrono::steady_clock::now();
  const Outcome run = probe(probe_options(server.port()),
                            {.greylist_retry = std::chrono::milliseconds(150),
                             .greylist_tries = 10,
                             .max_wait = std::chrono::milliseconds(400)},
                            {"temp@example.test"});
  ASSERT_EQ(run.out.size(), 1u);
  EXPECT_EQ(code(run.out[0].outcome().reason), code(Reason::temporary_failure));
  EXPECT_GE(run.out[0].tries, 2);
  EXPECT_LE(run.out[0].tries, 3);
  EXPECT_EQ(server.connections(), run.out[0].tries);
  EXPECT_GE(std::chrono::steady_clock::now() - started, std::chrono::milliseconds(150));
}

// A rate limit is not asked again sooner: one session, rate_limited (the 250 is never asked for).
TEST(Prober, RateLimitIsNotRetried) {
  FakeSmtpServer server;
  server.on("RCPT TO:<busy@", {"450 4.7.1 Error: too many connections from 127.0.0.1\r\n", "250 2.1.5 Ok\r\n"});
  const Outcome run =
      probe(probe_options(server.port()),
            {.greylist_retry = std::chrono::milliseconds(50), .greylist_tries = 3, .max_wait = std::chrono::seconds(5)},
            {"busy@example.test"});
  ASSERT_EQ(run.out.size(), 1u);
  EXPECT_EQ(code(run.out[0].outcome().reason), code(Reason::rate_limited));
  EXPECT_EQ(run.out[0].outcome().retry, smtp::Retry::none);
  EXPECT_EQ(run.out[0].tries, 1);
  EXPECT_EQ(run.stats.greylist_retries, 0u);
  EXPECT_EQ(server.connections(), 1);
}

// Issue 13, class 6: a 421 after the 2nd of 4 RCPTs at the only MX. The server is backed off; the
// two unanswered addresses are asked on a new connection once the back-off has passed, from the
// same source, with the catch-all test the first session could not finish.
TEST(Prober, ReconnectsAfterThe421BackOff) {
  FakeSmtpServer server;
  server.on("RCPT TO:<c@", {FakeReply{"421 4.7.0 closing connection\r\n", std::chrono::milliseconds(0),
                                      FakeReply::Action::reply_then_close},
                            FakeReply{"250 2.1.5 Ok\r\n"}});
  server.on("RCPT TO:<d@", "550 5.1.1 User unknown\r\n");
  auto o = probe_options(server.port());
  o.source_ips = {"127.0.0.3", "127.0.0.4"};
  auto polite = polite_options();
  polite.backoff = std::chrono::milliseconds(300);
  const auto started = std::chrono::steady_clock::now();
  const Outcome run =
      probe(o, {.greylist_retry = std::chrono::seconds(60), .greylist_tries = 3, .max_wait = std::chrono::seconds(5)},
            {"a@example.test", "b@example.test", "c@example.test", "d@example.test"}, {"127.0.0.1"}, polite);
  ASSERT_EQ(run.out.size(), 4u);
  // Waited the back-off (300 ms), not --greylist-retry (60 s: the guard would have failed).
  EXPECT_GE(std::chrono::steady_clock::now() - started, std::chrono::milliseconds(300));
  EXPECT_EQ(code(run.out[0].outcome().reason), code(Reason::mailbox_exists));
  EXPECT_EQ(run.out[0].tries, 1);
  EXPECT_EQ(code(run.out[1].outcome().reason), code(Reason::mailbox_exists));
  EXPECT_EQ(code(run.out[2].outcome().reason), code(Reason::mailbox_exists));
  EXPECT_EQ(code(run.out[3].outcome().reason), code(Reason::mailbox_not_found));
  for (std::size_t i = 2; i < 4; ++i) {
    EXPECT_EQ(run.out[i].tries, 2);
    ASSERT_EQ(run.out[i].earlier.size(), 1u);
    EXPECT_EQ(run.out[i].earlier[0].retry, smtp::Retry::reconnect);
    EXPECT_EQ(code(run.out[i].earlier[0].reason), code(Reason::temporary_failure));
    EXPECT_EQ(run.out[i].catch_all, true);
  }
  ASSERT_TRUE(server.wait_until_closed());
  EXPECT_EQ(server.peers(), (Lines{"127.0.0.3", "127.0.0.3"}));
  const auto sessions = server.sessions();
  ASSERT_EQ(sessions.size(), 2u);
  EXPECT_EQ(std::count_if(sessions[1].begin(), sessions[1].end(),
                          [](const std::string& l) {
                            return l.starts_with("RCPT") && !l.starts_with("RCPT TO:<a@") &&
                                   !l.starts_with("RCPT TO:<b@");
                          }),
            3);  // c, d and the random address; a and b kept their answers
}

// The reconnection is refused at once (421 before any answer): no further try, no loop; the
// final reason is a transport one. A back-off beyond --max-wait: no reconnection at all.
TEST(Prober, ReconnectionAfterA421IsBounded) {
  for (const bool in_time : {true, false}) {
    SCOPED_TRACE(in_time);
    FakeSmtpServer server;
    server.on("RCPT TO:<c@", FakeReply{"421 4.7.0 closing connection\r\n", std::chrono::milliseconds(0),
                                       FakeReply::Action::reply_then_close});
    auto polite = polite_options();
    polite.backoff = in_time ? std::chrono::milliseconds(100) : std::chrono::seconds(30);
    const Outcome run = probe(
        probe_options(server.port()),
        {.greylist_retry = std::chrono::milliseconds(50), .greylist_tries = 3, .max_wait = std::chrono::seconds(5)},
        {"a@example.test", "b@example.test", "c@example.test", "d@example.test"}, {"127.0.0.1"}, polite);
    ASSERT_EQ(run.out.size(), 4u);
    for (std::size_t i = 2; i < 4; ++i) {
      EXPECT_EQ(code(run.out[i].outcome().reason), code(Reason::temporary_failure));
      EXPECT_EQ(run.out[i].tries, in_time ? 2 : 1);
    }
    ASSERT_TRUE(server.wait_until_closed());
    EXPECT_EQ(server.connections(), in_time ? 2 : 1);
  }
}

// Regression (issue 14): a session that ends without any I/O (every recipient refused before a
// command is sent, no catch-all test) used to re-enter Prober::pump through first_session_done;
// the inner call erased the domain's queue that the outer loop still used (heap use-after-free,
// SIGSEGV in release). These run under the asan preset too. The recipients hold a tab, a control
// byte the session refuses (a quoted space is sendable since issue 13 class 7).
TEST(Prober, SessionWithoutIoFromTheLoopDoesNotReenterThePump) {
  FakeSmtpServer server;
  auto o = probe_options(server.port());
  o.catch_all = false;
  const Outcome run = probe_from_the_loop(o, {}, {{"\"a\tb\"@example.test"}});
  ASSERT_EQ(run.out.size(), 1u);
  ASSERT_TRUE(run.out[0].session);
  EXPECT_EQ(code(run.out[0].outcome().reason), code(Reason::syntax_control_character));
  EXPECT_EQ(run.out[0].catch_all, std::nullopt);
  EXPECT_EQ(run.stats.sessions, 1u);
  EXPECT_EQ(run.stats.rcpts, 0u);
  EXPECT_EQ(server.connections(), 0);  // refused before any connection
}

// Several sessions in a row that need no I/O (one recipient each): before the fix each one
// started the next from inside the previous one's pump, and the innermost erased the queue.
TEST(Prober, ManySessionsWithoutIoOneRcptEach) {
  FakeSmtpServer server;
  auto o = probe_options(server.port());
  o.catch_all = false;
  o.max_rcpts = 1;
  std::vector<std::string> mailboxes;
  for (int i = 0; i < 20; ++i) mailboxes.push_back("\"a\t" + std::to_string(i) + "\"@example.test");
  // Started outside the loop (the first session is posted) and from inside it (run inline).
  for (const bool from_loop : {false, true}) {
    SCOPED_TRACE(from_loop ? "from the loop" : "before run");
    const Outcome run = from_loop ? probe_from_the_loop(o, {}, {mailboxes}) : probe(o, {}, mailboxes);
    ASSERT_EQ(run.out.size(), mailboxes.size());
    for (const AddressProbe& p : run.out) {
      ASSERT_TRUE(p.session);
      EXPECT_EQ(p.session->recipients.size(), 1u);
      EXPECT_EQ(code(p.outcome().reason), code(Reason::syntax_control_character));
    }
    EXPECT_EQ(run.stats.sessions, mailboxes.size());
  }
  EXPECT_EQ(server.connections(), 0);
}

// The bulk shape (--rcpts-per-session 1), in batches as a bulk run hands them over: the first
// address tests catch-all alone while a batch of addresses that need no I/O waits behind it; when
// the test ends they all run inside its pump (before the fix: the innermost call erased the queue,
// use-after-free). The next batch, sent when the first is done, mixes sessions with and without
// I/O. The fix must keep the scheduling: one catch-all test for the domain, at most
// --host-concurrency sessions at once, every answer in its place.
TEST(Prober, OneRcptPerSessionMixingSessionsWithAndWithoutIo) {
  FakeSmtpServer server;
  const auto address = [](int i) {
    return (i % 3 == 1 ? "\"u\t" + std::to_string(i) + "\"" : "user" + std::to_string(i)) + "@example.test";
  };
  std::vector<std::vector<std::string>> calls(3);
  calls[0] = {address(0)};
  for (int i = 0; i < 20; ++i) calls[1].push_back("\"q\t" + std::to_string(i) + "\"@example.test");
  for (int i = 1; i < 60; ++i) calls[2].push_back(address(i));
  int normal = 0;
  for (const auto& call : calls)
    for (const std::string& a : call) {
      if (a[0] == '"') continue;
      ++normal;
      const std::string local = a.substr(0, a.find('@'));
      server.on("RCPT TO:<" + local + "@", "250 2.1.5 <" + local + "> ok\r\n");
    }
  asio::io_context io;
  auto o = probe_options(server.port());
  o.max_rcpts = 1;
  smtp::Prober prober(io, o, polite_options(), {}, 100);
  std::vector<std::optional<std::vector<AddressProbe>>> results(3);
  const auto keep = [&results](std::size_t c) {
    return [&results, c](std::vector<AddressProbe> r) {
      if (results[c]) throw std::logic_error("callback called twice");
      results[c] = std::move(r);
    };
  };
  asio::post(io, [&] {
    prober.probe("example.test", mx_at({"127.0.0.1"}), calls[0], [&](std::vector<AddressProbe> r) {
      keep(0)(std::move(r));
      prober.probe("example.test", mx_at({"127.0.0.1"}), calls[2], keep(2));
    });
    prober.probe("example.test", mx_at({"127.0.0.1"}), calls[1], keep(1));
  });
  io.run_for(kGuard);
  for (std::size_t c = 0; c < calls.size(); ++c) {
    ASSERT_TRUE(results[c]) << "call " << c << " did not finish";
    ASSERT_EQ(results[c]->size(), calls[c].size());
    for (std::size_t i = 0; i < calls[c].size(); ++i) {
      const std::string& a = calls[c][i];
      SCOPED_TRACE(a);
      const AddressProbe& p = (*results[c])[i];
      ASSERT_TRUE(p.session);
      EXPECT_EQ(p.session->recipients.size(), 1u);
      EXPECT_EQ(p.catch_all, true);  // the domain's answer, from the one test
      if (a[0] == '"') {
        EXPECT_EQ(code(p.outcome().reason), code(Reason::syntax_control_character));
      } else {
        ASSERT_TRUE(p.outcome().reply);
        const std::string local = a.substr(0, a.find('@'));
        EXPECT_EQ(p.outcome().reply->lines, Lines{"<" + local + "> ok"});
      }
    }
  }
  EXPECT_EQ(prober.stats().sessions, 80u);
  EXPECT_EQ(prober.stats().catch_all_tests, 1u);
  ASSERT_TRUE(server.wait_until_closed());
  EXPECT_EQ(server.connections(), normal);  // the catch-all test went with the first address
  EXPECT_LE(server.max_concurrent(), static_cast<int>(polite_options().host_concurrency));
  EXPECT_GE(server.max_concurrent(), 2);  // the mixed batch's sessions did run side by side
  const Lines lines = server.lines();
  EXPECT_EQ(
      std::count_if(lines.begin(), lines.end(), [](const std::string& l) { return l.starts_with("RCPT") && !ours(l); }),
      1);  // the random address, once for the domain
}

TEST(Prober, TargetsOfListsMxHostsInOrder) {
  dns::DomainDns d;
  dns::MxHost a;
  a.host = "mx1.example.test";
  a.addresses = {"192.0.2.1", "2001:db8::1"};
  dns::MxHost b;
  b.host = "mx2.example.test";
  b.addresses = {"192.0.2.2"};
  d.mx = {a, b};
  const auto t = smtp::targets_of(d);
  ASSERT_EQ(t.size(), 3u);
  EXPECT_EQ(t[0].host, "mx1.example.test");
  EXPECT_EQ(t[1].address, "2001:db8::1");
  EXPECT_EQ(t[2].address, "192.0.2.2");
  d.literal = true;
  EXPECT_EQ(smtp::targets_of(d)[0].host, "");  // an address literal has no host name to check
}

}  // namespace
}  // namespace mailsift::test
