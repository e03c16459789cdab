// One SMTP probe session (smtp/session.hpp) against the scripted fake server: what the session
// reports (SessionReport) and what the server received, for the dialogue, every RCPT verdict, the
// catch-all test, failures of the transport and of the server, STARTTLS, SOCKS5 and source
// addresses. Each test runs the session on its own io_context; the fake runs on its own thread.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "address/address.hpp"
#include "smtp/fake_smtp.hpp"
#include "smtp/fake_socks.hpp"
#include "smtp/session_harness.hpp"

namespace mailsift::test {
namespace {


using smtp::SessionReport;
using smtp::Stage;
using testing::HasSubstr;
using testing::StartsWith;
using A = FakeReply::Action;
using Lines = std::vector<std::string>;

// Reasons compared by their stable code: a failure message then says "smtp.timeout", not a byte.
std::string_view rc(Reason r) { return code(r); }
std::string_view rc(const std::optional<Reason>& r) { return r ? code(*r) : std::string_view("(none)"); }

std::vector<std::string_view> reasons(const SessionReport& rep) {
  std::vector<std::string_view> out;
  for (const auto& o : rep.recipients) out.push_back(code(o.reason));
  return out;
}
std::vector<std::string_view> all(std::size_t n, Reason r) { return std::vector<std::string_view>(n, code(r)); }

std::vector<Stage> stages(const SessionReport& rep) {
  std::vector<Stage> out;
  for (const auto& s : rep.replies) out.push_back(s.stage);
  return out;
}

std::size_t count_prefix(const Lines& lines, std::string_view prefix) {
  return static_cast<std::size_t>(
      std::count_if(lines.begin(), lines.end(), [&](const std::string& l) { return l.starts_with(prefix); }));
}

// Every CR is followed by LF and every LF preceded by CR: nothing but complete command lines.
bool only_crlf_lines(const std::string& raw) {
  for (std::size_t i = 0; i < raw.size(); ++i) {
    if (raw[i] == '\r' && (i + 1 == raw.size() || raw[i + 1] != '\n')) return false;
    if (raw[i] == '\n' && (i == 0 || raw[i - 1] != '\r')) return false;
  }
  return true;
}

// 18 of [a-z0-9], a letter first, then "@domain" (SessionContext::random_local).
bool random_address_at(const std::string& a, const std::string& domain) {
  if (a.size() != 18 + 1 + domain.size() || a.substr(18) != "@" + domain) return false;
  if (a[0] < 'a' || a[0] > 'z') return false;
  return std::all_of(a.begin(), a.begin() + 18, [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); });
}

// An EHLO reply without PIPELINING (and without STARTTLS and SMTPUTF8).
constexpr const char* kEhloPlain = "250-fake.test\r\n250-8BITMIME\r\n250 ENHANCEDSTATUSCODES\r\n";

const std::string kMail = "MAIL FROM:<verify@probe.test>";
std::string rcpt(const std::string& m) { return "RCPT TO:<" + m + ">"; }

// ---------------------------------------------------------------------------------------------
// The dialogue

TEST(Session, HappyPathPipelined) {
  FakeSmtpServer server;
  Harness h(probe_options(server.port()));
  const SessionReport rep = h.run(request({"alice@example.test", "bob@example.test"}));

  ASSERT_EQ(rep.attempts.size(), 1u);
  const smtp::Attempt& a = rep.attempts[0];
  EXPECT_EQ(rc(a.failure), "(none)") << a.detail;
  EXPECT_EQ(a.address, "127.0.0.1");
  EXPECT_EQ(a.source, "");
  EXPECT_EQ(a.reached, Stage::rcpt_to);
  EXPECT_TRUE(rep.esmtp);
  EXPECT_TRUE(rep.pipelining);
  EXPECT_TRUE(rep.smtputf8);
  EXPECT_FALSE(rep.tls.offered);
  EXPECT_FALSE(rep.tls.used);

  EXPECT_EQ(reasons(rep), all(2, Reason::mailbox_exists));
  for (const auto& o : rep.recipients) {
    ASSERT_TRUE(o.reply);
    EXPECT_EQ(o.reply->code, 250);
    EXPECT_EQ(o.rule, "rcpt_accepted");
    EXPECT_EQ(o.retry, smtp::Retry::none);
  }
  // The random address: 18 of [a-z0-9], a letter first, at the recipients' domain; accepted.
  EXPECT_TRUE(random_address_at(rep.catch_all_address, "example.test")) << rep.catch_all_address;
  EXPECT_EQ(rep.catch_all, true);
  ASSERT_TRUE(rep.catch_all_reply);
  EXPECT_EQ(rep.catch_all_reply->code, 250);
  EXPECT_EQ(stages(rep), (std::vector{Stage::banner, Stage::ehlo, Stage::mail_from, Stage::rcpt_to}));
  EXPECT_EQ(rep.replies[0].reply.lines, Lines{"fake.test ESMTP"});
  EXPECT_TRUE(rep.transcript.empty());  // keep_transcript is off

  ASSERT_TRUE(server.wait_until_closed());
  EXPECT_EQ(server.lines(), (Lines{"EHLO probe.test", kMail, rcpt("alice@example.test"), rcpt("bob@example.test"),
                                   rcpt(rep.catch_all_address), "QUIT"}));
  const std::string raw = server.raw_bytes();
  EXPECT_EQ(raw.find("DATA"), std::string::npos);
  // RFC 2920: MAIL and the RCPTs leave as one batch, in order.
  EXPECT_THAT(raw, HasSubstr(kMail + "\r\n" + rcpt("alice@example.test") + "\r\n" + rcpt("bob@example.test") +
                             "\r\n" + rcpt(rep.catch_all_address) + "\r\n"));
  EXPECT_EQ(server.connections(), 1);
}

TEST(Session, CatchAllAddressIsFreshEachSession) {
  FakeSmtpServer server;
  Harness h(probe_options(server.port()));
  const SessionReport a = h.run(request({"alice@example.test"}));
  const SessionReport b = h.run(request({"alice@example.test"}));
  EXPECT_NE(a.catch_all_address, b.catch_all_address);
}

TEST(Session, PipeliningSendsTheRcptsBeforeTheMailReply) {
  FakeSmtpServer server;
  server.on("MAIL", A::silent);  // MAIL is never answered
  auto o = probe_options(server.port());
  o.timeouts.command = 300ms;
  Harness h(o);
  const SessionReport rep = h.run(request({"alice@example.test", "bob@example.test"}, false));
  EXPECT_EQ(reasons(rep), all(2, Reason::timeout));
  ASSERT_TRUE(server.wait_until_closed());
  // Sent without waiting for the MAIL reply: pipelined.
  EXPECT_EQ(server.lines(), (Lines{"EHLO probe.test", kMail, rcpt("alice@example.test"), rcpt("bob@example.test")}));
}

TEST(Session, WithoutPipeliningOneCommandAtATime) {
  FakeSmtpServer server;
  server.on("EHLO", kEhloPlain);
  server.on("MAIL", A::silent);
  auto o = probe_options(server.port());
  o.timeouts.command = 300ms;
  Harness h(o);
  const SessionReport stuck = h.run(request({"alice@example.test", "bob@example.test"}, false));
  EXPECT_FALSE(stuck.pipelining);
  EXPECT_EQ(reasons(stuck), all(2, Reason::timeout));
  EXPECT_EQ(rc(stuck.attempts.at(0).failure), rc(Reason::timeout));
  ASSERT_TRUE(server.wait_until_closed());
  EXPECT_EQ(server.lines(), (Lines{"EHLO probe.test", kMail}));  // no RCPT before the MAIL reply

  server.on("MAIL", "250 2.1.0 Ok\r\n");
  const SessionReport rep = h.run(request({"alice@example.test", "bob@example.test"}));
  EXPECT_FALSE(rep.pipelining);
  EXPECT_EQ(reasons(rep), all(2, Reason::mailbox_exists));
  EXPECT_EQ(rep.catch_all, true);
  ASSERT_TRUE(server.wait_until_closed());
  ASSERT_EQ(server.sessions().size(), 2u);
  EXPECT_EQ(server.sessions()[1], (Lines{"EHLO probe.test", kMail, rcpt("alice@example.test"), rcpt("bob@example.test"),
                                         rcpt(rep.catch_all_address), "QUIT"}));
}

TEST(Session, TranscriptRecordsBothSides) {
  FakeSmtpServer server;
  auto o = probe_options(server.port());
  o.keep_transcript = true;
  Harness h(o);
  const SessionReport rep = h.run(request({"alice@example.test"}, false));
  std::vector<std::string> text;
  for (const auto& t : rep.transcript) text.push_back((t.client ? "C: " : "S: ") + t.text);
  EXPECT_EQ(text, (Lines{"C: connect 127.0.0.1", "S: 220 fake.test ESMTP", "C: EHLO probe.test", "S: 250-fake.test",
                         "S: 250-PIPELINING", "S: 250-8BITMIME", "S: 250-ENHANCEDSTATUSCODES", "S: 250 SMTPUTF8",
                         "C: " + kMail, "C: " + rcpt("alice@example.test"), "S: 250 2.1.0 Ok", "S: 250 2.1.5 Ok",
                         "C: QUIT", "S: 221 2.0.0 Bye"}));
  for (std::size_t i = 1; i < rep.transcript.size(); ++i)
    EXPECT_LE(rep.transcript[i - 1].at_ms, rep.transcript[i].at_ms);
}

TEST(Session, MultiLineBannerAndLongEhlo) {
  FakeSmtpServer server;
  server.banner("220-mx.example.test ESMTP\r\n220-No UCE\r\n220 Welcome\r\n");
  std::string ehlo = "250-mx.example.test\r\n";
  for (int i = 0; i < 30; ++i) ehlo += "250-X-EXTENSION-" + std::to_string(i) + " some parameters\r\n";
  ehlo += "250-pipelining\r\n250-SIZE 52428800\r\n250 smtputf8\r\n";  // keywords are case-insensitive
  server.on("EHLO", ehlo);
  Harness h(probe_options(server.port()));
  const SessionReport rep = h.run(request({"alice@example.test"}));
  ASSERT_GE(rep.replies.size(), 2u);
  EXPECT_EQ(rep.replies[0].stage, Stage::banner);
  EXPECT_EQ(rep.replies[0].reply.lines, (Lines{"mx.example.test ESMTP", "No UCE", "Welcome"}));
  EXPECT_EQ(rep.replies[1].stage, Stage::ehlo);
  EXPECT_EQ(rep.replies[1].reply.lines.size(), 34u);
  EXPECT_TRUE(rep.pipelining);
  EXPECT_TRUE(rep.smtputf8);
  EXPECT_EQ(reasons(rep), all(1, Reason::mailbox_exists));
}

TEST(Session, EhloRefusedFallsBackToHelo) {
  FakeSmtpServer server;
  server.enable_tls();  // would be offered in an EHLO reply; HELO has none
  server.on("EHLO", "502 5.5.2 Error: command not recognized\r\n");
  Harness h(probe_options(server.port()));
  const SessionReport rep = h.run(request({"alice@example.test"}));
  EXPECT_FALSE(rep.esmtp);
  EXPECT_FALSE(rep.pipelining);
  EXPECT_FALSE(rep.smtputf8);
  EXPECT_FALSE(rep.tls.offered);
  EXPECT_EQ(reasons(rep), all(1, Reason::mailbox_exists));
  EXPECT_EQ(stages(rep), (std::vector{Stage::banner, Stage::ehlo, Stage::helo, Stage::mail_from, Stage::rcpt_to}));
  ASSERT_TRUE(server.wait_until_closed());
  EXPECT_EQ(server.lines(), (Lines{"EHLO probe.test", "HELO probe.test", kMail, rcpt("alice@example.test"),
                                   rcpt(rep.catch_all_address), "QUIT"}));
  EXPECT_EQ(server.tls_used(), std::vector<bool>{false});
}

TEST(Session, HeloWithoutPipeliningWaitsForEachReply) {
  FakeSmtpServer server;
  server.on("EHLO", "500 5.5.1 what?\r\n");
  server.on("MAIL", A::silent);
  auto o = probe_options(server.port());
  o.timeouts.command = 300ms;
  Harness h(o);
  const SessionReport rep = h.run(request({"alice@example.test"}, false));
  EXPECT_EQ(reasons(rep), all(1, Reason::timeout));
  ASSERT_TRUE(server.wait_until_closed());
  EXPECT_EQ(server.lines(), (Lines{"EHLO probe.test", "HELO probe.test", kMail}));
}

TEST(Session, EhloAndHeloRefusedRejectTheSession) {
  FakeSmtpServer server;
  server.on("EHLO", "502 5.5.2 Error\r\n");
  server.on("HELO", "550 No HELO for you\r\n");
  Harness h(probe_options(server.port()));
  const SessionReport rep = h.run(request({"alice@example.test", "bob@example.test"}));
  ASSERT_EQ(rep.attempts.size(), 1u);
  EXPECT_EQ(rc(rep.attempts[0].failure), rc(Reason::session_rejected));
  EXPECT_EQ(rep.attempts[0].reached, Stage::helo);
  EXPECT_EQ(rep.attempts[0].detail, "550 No HELO for you");
  EXPECT_EQ(reasons(rep), all(2, Reason::session_rejected));
  EXPECT_FALSE(rep.catch_all);
  ASSERT_TRUE(server.wait_until_closed());
  EXPECT_EQ(count_prefix(server.lines(), "MAIL"), 0u);
  EXPECT_EQ(count_prefix(server.lines(), "RCPT"), 0u);
}

// ---------------------------------------------------------------------------------------------
// What RCPT replies mean

struct RcptCase {
  std::string local;
  std::string reply;
  Reason reason;
  std::string_view rule;
  std::optional<std::chrono::seconds> retry_after = std::nullopt;  // the stated delay kept (deferrals only)
};

const std::vector<RcptCase>& rcpt_cases() {
  static const std::vector<RcptCase> cases = {
      {"exists", "250 2.1.5 Ok\r\n", Reason::mailbox_exists, "rcpt_accepted"},
      {"unknown", "550 5.1.1 <unknown@example.test>: Recipient address rejected: User unknown\r\n",
       Reason::mailbox_not_found, "rcpt_unknown_text"},
      {"gmailstyle",
       "550-5.1.1 The email account that you tried to reach does not exist. Please try\r\n"
       "550-5.1.1 double-checking the recipient's email address for typos or\r\n"
       "550 5.1.1 unnecessary spaces.\r\n",
       Reason::mailbox_not_found, "rcpt_unknown_text"},
      {"codeonly", "550 5.1.1 <codeonly@example.test>: Recipient address rejected\r\n", Reason::mailbox_not_found,
       "rcpt_bad_mailbox"},
      {"usertext", "550 User unknown\r\n", Reason::mailbox_not_found, "rcpt_unknown_text"},
      {"disabled", "550 5.2.1 The email account that you tried to reach is disabled\r\n", Reason::mailbox_disabled,
       "rcpt_disabled_text"},
      {"full4", "452 4.2.2 <full4@example.test>: Mailbox full\r\n", Reason::mailbox_full, "rcpt_full_text"},
      {"full5", "552 5.2.2 Mailbox full\r\n", Reason::mailbox_full, "rcpt_full_text"},
      {"spamhaus", "554 5.7.1 Service unavailable; Client host [127.0.0.1] blocked using zen.spamhaus.org\r\n",
       Reason::blocked, "blocklist"},
      {"grey", "450 4.7.1 Greylisted, please try again later\r\n", Reason::greylisted, "greylisted"},
      {"greyhint", "450 4.2.0 <greyhint@example.test>: Recipient address rejected: Greylisted for 299 seconds\r\n",
       Reason::greylisted, "greylisted", std::chrono::seconds(299)},
      // A delay stated by anything but a deferral is not kept: nothing retries those. A generic
      // 4xx is retried like greylisting (issue 13, class 5), with the delay it states.
      {"fullhint", "452 4.2.2 Mailbox full, try again in 5 minutes\r\n", Reason::mailbox_full, "rcpt_full_text"},
      {"temphint", "451 4.3.0 Local error, try again in 5 minutes\r\n", Reason::temporary_failure, "temporary",
       std::chrono::seconds(300)},
      {"generic", "550 Rejected\r\n", Reason::recipient_rejected, "rcpt_rejected"},
      {"relay", "554 5.7.1 <relay@example.test>: Relay access denied\r\n", Reason::relay_denied, "relay_denied"},
      {"temp", "451 4.3.0 Local error in processing\r\n", Reason::temporary_failure, "temporary"},
  };
  return cases;
}

void expect_rcpt_verdicts(bool pipelining) {
  SCOPED_TRACE(pipelining ? "pipelining" : "one by one");
  FakeSmtpServer server;
  if (!pipelining) server.on("EHLO", kEhloPlain);
  std::vector<std::string> rcpts;
  for (const RcptCase& c : rcpt_cases()) {
    server.on("RCPT TO:<" + c.local + "@", c.reply);
    rcpts.push_back(c.local + "@example.test");
  }
  Harness h(probe_options(server.port()));
  const SessionReport rep = h.run(request(rcpts));
  EXPECT_EQ(rep.pipelining, pipelining);
  ASSERT_EQ(rep.recipients.size(), rcpt_cases().size());
  EXPECT_EQ(rc(rep.attempts.at(0).failure), "(none)");
  for (std::size_t i = 0; i < rcpts.size(); ++i) {
    const RcptCase& c = rcpt_cases()[i];
    const auto& o = rep.recipients[i];
    SCOPED_TRACE(c.local);
    EXPECT_EQ(rc(o.reason), rc(c.reason));
    EXPECT_EQ(o.rule, c.rule);
    // Every 4xx deferral is asked again like greylisting; a full mailbox is not (an answer).
    const bool deferral = c.reason == Reason::greylisted || c.reason == Reason::temporary_failure;
    EXPECT_EQ(o.retry, deferral ? smtp::Retry::greylisting : smtp::Retry::none);
    EXPECT_EQ(o.retry_after, c.retry_after);
    ASSERT_TRUE(o.reply);
    EXPECT_EQ(o.reply->code, std::stoi(c.reply.substr(0, 3)));
  }
  EXPECT_EQ(rep.catch_all, true);
  // Every recipient asked once, in order, all in one transaction.
  ASSERT_TRUE(server.wait_until_closed());
  Lines want = {"EHLO probe.test", kMail};
  for (const auto& r : rcpts) want.push_back(rcpt(r));
  want.push_back(rcpt(rep.catch_all_address));
  want.push_back("QUIT");  // no RSET first: it would be a NOOP (RFC 5321 §4.1.1.5)
  EXPECT_EQ(server.lines(), want);
}

TEST(Session, RcptVerdictsPipelined) { expect_rcpt_verdicts(true); }
TEST(Session, RcptVerdictsOneByOne) { expect_rcpt_verdicts(false); }

TEST(Session, Rcpt421MovesToTheNextHostWithTheRest) {
  FakeSmtpServer first;
  first.on("RCPT TO:<b@", "421 4.7.0 Too busy, closing connection\r\n");
  FakeSmtpServer second("127.0.0.2", first.port());
  Harness h(probe_options(first.port()));
  const SessionReport rep =
      h.run(request({"a@example.test", "b@example.test", "c@example.test"}, true,
                    {{"mx1.example.test", "127.0.0.1"}, {"mx2.example.test", "127.0.0.2"}}));
  ASSERT_EQ(rep.attempts.size(), 2u);
  EXPECT_EQ(rc(rep.attempts[0].failure), rc(Reason::temporary_failure));
  EXPECT_EQ(rep.attempts[0].detail, "421 Too busy, closing connection");
  EXPECT_EQ(rc(rep.attempts[1].failure), "(none)");
  EXPECT_EQ(reasons(rep), all(3, Reason::mailbox_exists));
  EXPECT_EQ(rep.catch_all, true);
  ASSERT_TRUE(second.wait_until_closed());
  // a was decided by the first server; b, c and the random address go to the second.
  EXPECT_EQ(count_prefix(second.lines(), "RCPT"), 3u);
  EXPECT_EQ(count_prefix(second.lines(), rcpt("a@example.test")), 0u);
}

// ---------------------------------------------------------------------------------------------
// A 4xx that may be greylisting (issue 13, class 5): asked again later (smtp/prober.hpp)

TEST(Session, FirstContact4xxAtRcptIsDeferredLikeGreylisting) {
  // Postfix postscreen's answer to every RCPT of a client it is still testing; Outlook.com's
  // "server busy"; a generic temporary failure with a stated delay.
  FakeSmtpServer server;
  server.on("RCPT TO:<postscreen@", "450 4.3.2 Service currently unavailable\r\n");
  server.on("RCPT TO:<outlook@", "451 4.7.500 Server busy. Please try again later from [192.0.2.2]. (AS761)\r\n");
  server.on("RCPT TO:<hint@", "451 4.3.0 Temporary local problem, retry in 2 minutes\r\n");
  server.on("RCPT TO:<rate@", "450 4.7.1 Error: too many connections from 127.0.0.1\r\n");
  server.on("RCPT TO:<full@", "452 4.2.2 <full@example.test>: Mailbox full\r\n");
  Harness h(probe_options(server.port()));
  const SessionReport rep = h.run(request({"postscreen@example.test", "outlook@example.test", "hint@example.test",
                                           "rate@example.test", "full@example.test"}));
  ASSERT_EQ(rep.recipients.size(), 5u);
  for (std::size_t i = 0; i < 3; ++i) {
    SCOPED_TRACE(i);
    const auto& o = rep.recipients[i];
    // Whatever the classifier calls it (greylisted or temporary_failure), it is asked again.
    EXPECT_THAT(rc(o.reason), testing::AnyOf(rc(Reason::greylisted), rc(Reason::temporary_failure)));
    EXPECT_EQ(o.retry, smtp::Retry::greylisting);
  }
  EXPECT_EQ(rep.recipients[0].retry_after, std::nullopt);
  EXPECT_EQ(rep.recipients[2].retry_after, std::chrono::seconds(120));
  // A rate limit is not asked again sooner, a full mailbox is an answer.
  EXPECT_EQ(rc(rep.recipients[3].reason), rc(Reason::rate_limited));
  EXPECT_EQ(rep.recipients[3].retry, smtp::Retry::none);
  EXPECT_EQ(rc(rep.recipients[4].reason), rc(Reason::mailbox_full));
  EXPECT_EQ(rep.recipients[4].retry, smtp::Retry::none);
}

// The same at MAIL FROM (see deferral() in smtp/session.cpp); a 421 there moves on instead.
TEST(Session, Generic4xxAtMailFromIsDeferredLikeGreylisting) {
  FakeSmtpServer server;
  server.on("MAIL", "451 4.7.700 PFA agent busy, please try again in 30 seconds\r\n");
  Harness h(probe_options(server.port()));
  const SessionReport rep = h.run(request({"a@example.test", "b@example.test"}));
  for (const auto& o : rep.recipients) {
    EXPECT_THAT(rc(o.reason), testing::AnyOf(rc(Reason::greylisted), rc(Reason::temporary_failure)));
    EXPECT_EQ(o.retry, smtp::Retry::greylisting);
    EXPECT_EQ(o.retry_after, std::chrono::seconds(30));
    EXPECT_FALSE(o.reply);  // no RCPT was answered
  }
}

// ---------------------------------------------------------------------------------------------
// A session that breaks before every address is answered (issue 13, class 6)

// The server hangs up at the 3rd of 4 RCPTs, once: the first two keep their answers, the other
// two (and the random address) are asked on a new connection to the same server.
void expect_hang_up_reasked(bool pipelining) {
  SCOPED_TRACE(pipelining ? "pipelining" : "one by one");
  FakeSmtpServer first;
  if (!pipelining) first.on("EHLO", kEhloPlain);
  first.on("RCPT TO:<a@", "250 2.1.5 Ok\r\n");
  first.on("RCPT TO:<b@", "550 5.1.1 <b@example.test>: User unknown\r\n");
  first.on("RCPT TO:<c@", {FakeReply(A::close), FakeReply("250 2.1.5 Ok\r\n")});
  first.on("RCPT TO:<d@", "550 5.1.1 <d@example.test>: User unknown\r\n");
  first.on("RCPT", "550 5.1.1 User unknown\r\n");
  FakeSmtpServer second("127.0.0.2", first.port());  // another MX: the re-ask does not go there
  Harness h(probe_options(first.port()));
  const std::vector<std::string> r = {"a@example.test", "b@example.test", "c@example.test", "d@example.test"};
  const SessionReport rep =
      h.run(request(r, true, {{"mx1.example.test", "127.0.0.1"}, {"mx2.example.test", "127.0.0.2"}}));
  EXPECT_EQ(reasons(rep), (std::vector<std::string_view>{rc(Reason::mailbox_exists), rc(Reason::mailbox_not_found),
                                                         rc(Reason::mailbox_exists), rc(Reason::mailbox_not_found)}));
  for (const auto& o : rep.recipients) EXPECT_EQ(o.retry, smtp::Retry::none);
  EXPECT_EQ(rep.catch_all, false);
  ASSERT_EQ(rep.attempts.size(), 2u);
  EXPECT_EQ(rep.attempts[0].address, "127.0.0.1");
  EXPECT_EQ(rc(rep.attempts[0].failure), rc(Reason::temporary_failure));  // not protocol_error
  EXPECT_THAT(rep.attempts[0].detail, HasSubstr("after 2 RCPT replies"));
  EXPECT_EQ(rep.attempts[1].address, "127.0.0.1");
  EXPECT_EQ(rc(rep.attempts[1].failure), "(none)");
  ASSERT_TRUE(first.wait_until_closed());
  EXPECT_EQ(second.connections(), 0);
  const auto sessions = first.sessions();
  ASSERT_EQ(sessions.size(), 2u);
  // Pipelined, the first connection received the whole batch before it hung up.
  EXPECT_EQ(count_prefix(sessions[0], "RCPT TO:<a@"), 1u);
  EXPECT_EQ(count_prefix(sessions[0], "RCPT TO:<c@"), 1u);
  EXPECT_EQ(sessions[1],
            (Lines{"EHLO probe.test", kMail, rcpt(r[2]), rcpt(r[3]), rcpt(rep.catch_all_address), "QUIT"}));
}

TEST(Session, HangUpMidRcptsReasksTheRestPipelined) {
  expect_hang_up_reasked(true);
}
TEST(Session, HangUpMidRcptsReasksTheRestOneByOne) {
  expect_hang_up_reasked(false);
}

// A 421 after the 2nd of 4 RCPTs, one MX: the server is backed off and not called again within
// the session; the two answered keep their verdicts, the others end temporary_failure, marked
// for a reconnection after the back-off (Prober, ReconnectsAfterThe421BackOff).
TEST(Session, Rcpt421AfterSomeAnswersMarksTheRestForAReconnection) {
  for (const bool pipelining : {true, false}) {
    SCOPED_TRACE(pipelining);
    FakeSmtpServer server;
    if (!pipelining) server.on("EHLO", kEhloPlain);
    server.on("RCPT TO:<c@", FakeReply{"421 4.7.0 mx.example.test closing connection\r\n", 0ms, A::reply_then_close});
    Harness h(probe_options(server.port()));
    const SessionReport rep = h.run(request({"a@example.test", "b@example.test", "c@example.test", "d@example.test"}));
    EXPECT_EQ(reasons(rep),
              (std::vector<std::string_view>{rc(Reason::mailbox_exists), rc(Reason::mailbox_exists),
                                             rc(Reason::temporary_failure), rc(Reason::temporary_failure)}));
    EXPECT_EQ(rep.recipients[0].retry, smtp::Retry::none);
    EXPECT_EQ(rep.recipients[2].retry, smtp::Retry::reconnect);
    EXPECT_EQ(rep.recipients[3].retry, smtp::Retry::reconnect);
    EXPECT_FALSE(rep.recipients[2].reply);
    EXPECT_EQ(rep.catch_all, std::nullopt);
    EXPECT_TRUE(h.ctx.gate().backing_off("127.0.0.1"));
    ASSERT_TRUE(server.wait_until_closed());
    EXPECT_EQ(server.connections(), 1);
  }
}

// A 421 at the first RCPT is a refusal of the session, not a break after progress: no reconnection.
TEST(Session, Rcpt421BeforeAnyAnswerIsNotReasked) {
  FakeSmtpServer server;
  server.on("RCPT", "421 4.7.0 closing connection\r\n");
  Harness h(probe_options(server.port()));
  const SessionReport rep = h.run(request({"a@example.test", "b@example.test"}));
  EXPECT_EQ(reasons(rep), all(2, Reason::temporary_failure));
  for (const auto& o : rep.recipients) EXPECT_EQ(o.retry, smtp::Retry::none);
}

// Every connection breaks again after one answer: at most kMaxReconnects (2) reconnections, no
// loop; the unanswered end with a transport reason, never a mailbox verdict.
TEST(Session, HangUpsAgainAndAgainAreBounded) {
  for (const bool pipelining : {true, false}) {
    SCOPED_TRACE(pipelining);
    FakeSmtpServer server;
    if (!pipelining) server.on("EHLO", kEhloPlain);
    const FakeReply ok = "250 2.1.5 Ok\r\n";
    const FakeReply hang_up = A::close;
    // Connection 1 answers a and hangs up at b, 2 answers b and hangs up at c, 3 answers c and
    // hangs up at d. The fake picks a reply when a line arrives: pipelined, the lines after the
    // hang-up use up a reply of their sequence too.
    server.on("RCPT TO:<b@", {hang_up, ok});
    if (pipelining) {
      server.on("RCPT TO:<c@", {ok, hang_up, ok});
      server.on("RCPT TO:<d@", {ok, ok, hang_up, ok});
    } else {
      server.on("RCPT TO:<c@", {hang_up, ok});
      server.on("RCPT TO:<d@", {hang_up, ok});
    }
    Harness h(probe_options(server.port()));
    const SessionReport rep = h.run(
        request({"a@example.test", "b@example.test", "c@example.test", "d@example.test", "e@example.test"}, false));
    EXPECT_EQ(reasons(rep), (std::vector<std::string_view>{rc(Reason::mailbox_exists), rc(Reason::mailbox_exists),
                                                           rc(Reason::mailbox_exists), rc(Reason::temporary_failure),
                                                           rc(Reason::temporary_failure)}));
    EXPECT_EQ(rep.recipients[3].retry, smtp::Retry::none);
    ASSERT_TRUE(server.wait_until_closed());
    EXPECT_EQ(server.connections(), 3);
    EXPECT_EQ(rep.attempts.size(), 3u);
  }
}

// A server that hangs up at the same RCPT on the reconnection too: that connection answered
// nothing, so it is not called a third time.
TEST(Session, HangUpBeforeAnyAnswerOnTheReconnectionStops) {
  FakeSmtpServer server;
  server.on("RCPT TO:<c@", A::close);
  Harness h(probe_options(server.port()));
  const SessionReport rep = h.run(request({"a@example.test", "b@example.test", "c@example.test", "d@example.test"}));
  EXPECT_EQ(reasons(rep),
            (std::vector<std::string_view>{rc(Reason::mailbox_exists), rc(Reason::mailbox_exists),
                                           rc(Reason::temporary_failure), rc(Reason::temporary_failure)}));
  ASSERT_TRUE(server.wait_until_closed());
  EXPECT_EQ(server.connections(), 2);
}

// ---------------------------------------------------------------------------------------------
// Catch-all

TEST(Session, CatchAllRejectedAsUnknown) {
  FakeSmtpServer server;
  server.on("RCPT", "550 5.1.1 User unknown\r\n");
  server.on("RCPT TO:<alice@", "250 2.1.5 Ok\r\n");
  Harness h(probe_options(server.port()));
  const SessionReport rep = h.run(request({"alice@example.test"}));
  EXPECT_EQ(reasons(rep), all(1, Reason::mailbox_exists));
  EXPECT_EQ(rep.catch_all, false);
  ASSERT_TRUE(rep.catch_all_reply);
  EXPECT_EQ(rep.catch_all_reply->code, 550);
}

TEST(Session, CatchAllInconclusiveOnTemporaryReply) {
  FakeSmtpServer server;
  server.on("RCPT", "450 4.3.0 Try again later\r\n");
  server.on("RCPT TO:<alice@", "250 2.1.5 Ok\r\n");
  Harness h(probe_options(server.port()));
  const SessionReport rep = h.run(request({"alice@example.test"}));
  EXPECT_EQ(rep.catch_all, std::nullopt);
  ASSERT_TRUE(rep.catch_all_reply);
  EXPECT_EQ(rep.catch_all_reply->code, 450);
  EXPECT_FALSE(rep.catch_all_address.empty());
}

TEST(Session, NoCatchAllTestWhenNotAsked) {
  FakeSmtpServer server;
  Harness h(probe_options(server.port()));
  const SessionReport rep = h.run(request({"alice@example.test"}, false));
  EXPECT_EQ(rep.catch_all, std::nullopt);
  EXPECT_FALSE(rep.catch_all_reply);
  EXPECT_EQ(rep.catch_all_address, "");
  ASSERT_TRUE(server.wait_until_closed());
  EXPECT_EQ(server.lines(), (Lines{"EHLO probe.test", kMail, rcpt("alice@example.test"), "QUIT"}));
}

// ---------------------------------------------------------------------------------------------
// Several targets, and what makes the session move on

TEST(Session, Banner421TriesTheNextTargetAndBacksOff) {
  FakeSmtpServer busy;  // 127.0.0.1
  busy.banner("421 4.3.2 Service not available, closing channel\r\n");
  FakeSmtpServer good("127.0.0.2", busy.port());
  auto polite = polite_options();
  polite.backoff = 60s;
  Harness h(probe_options(busy.port()), polite);
  const std::vector<smtp::Target> targets = {{"mx1.example.test", "127.0.0.1"}, {"mx2.example.test", "127.0.0.2"}};

  const SessionReport rep = h.run(request({"alice@example.test"}, true, targets));
  ASSERT_EQ(rep.attempts.size(), 2u);
  EXPECT_EQ(rep.attempts[0].host, "mx1.example.test");
  EXPECT_EQ(rc(rep.attempts[0].failure), rc(Reason::temporary_failure));
  EXPECT_EQ(rep.attempts[0].reached, Stage::banner);
  EXPECT_EQ(rep.attempts[0].detail, "421 Service not available, closing channel");
  EXPECT_EQ(rep.attempts[1].host, "mx2.example.test");
  EXPECT_EQ(rep.attempts[1].address, "127.0.0.2");
  EXPECT_EQ(rc(rep.attempts[1].failure), "(none)");
  EXPECT_EQ(reasons(rep), all(1, Reason::mailbox_exists));
  EXPECT_TRUE(h.ctx.gate().backing_off("127.0.0.1"));
  EXPECT_FALSE(h.ctx.gate().backing_off("127.0.0.2"));

  // The next session leaves the 421 server alone.
  const SessionReport again = h.run(request({"bob@example.test"}, true, targets));
  ASSERT_EQ(again.attempts.size(), 2u);
  EXPECT_EQ(rc(again.attempts[0].failure), rc(Reason::temporary_failure));
  EXPECT_THAT(again.attempts[0].detail, HasSubstr("backing off"));
  EXPECT_EQ(rc(again.attempts[1].failure), "(none)");
  EXPECT_EQ(reasons(again), all(1, Reason::mailbox_exists));
  EXPECT_EQ(busy.connections(), 1);
  EXPECT_EQ(good.connections(), 2);
}

TEST(Session, ConnectionRefusedTriesTheNextTarget) {
  const std::uint16_t port = closed_port();  // nothing on 127.0.0.1:port
  FakeSmtpServer good("127.0.0.2", port);
  Harness h(probe_options(port));
  const SessionReport rep =
      h.run(request({"alice@example.test"}, true, {{"mx1.example.test", "127.0.0.1"}, {"mx2.example.test", "127.0.0.2"}}));
  ASSERT_EQ(rep.attempts.size(), 2u);
  EXPECT_EQ(rc(rep.attempts[0].failure), rc(Reason::connect_failed));
  EXPECT_EQ(rep.attempts[0].reached, Stage::connect);
  EXPECT_THAT(rep.attempts[0].detail, HasSubstr("refused"));
  EXPECT_EQ(rc(rep.attempts[1].failure), "(none)");
  EXPECT_EQ(reasons(rep), all(1, Reason::mailbox_exists));
  EXPECT_EQ(good.connections(), 1);
}

TEST(Session, ConnectionRefusedEverywhere) {
  Harness h(probe_options(closed_port()));
  const SessionReport rep = h.run(request({"alice@example.test", "bob@example.test"}));
  ASSERT_EQ(rep.attempts.size(), 1u);
  EXPECT_EQ(rc(rep.attempts[0].failure), rc(Reason::connect_failed));
  EXPECT_EQ(reasons(rep), all(2, Reason::connect_failed));
  for (const auto& o : rep.recipients) EXPECT_FALSE(o.reply);
  EXPECT_EQ(rep.catch_all, std::nullopt);
}

TEST(Session, MaxAddressesBoundsTheTargetsTried) {
  const std::uint16_t port = closed_port();
  FakeSmtpServer good("127.0.0.4", port);
  auto o = probe_options(port);
  o.max_addresses = 2;
  Harness h(o);
  const SessionReport rep = h.run(
      request({"alice@example.test"}, true, {{"", "127.0.0.1"}, {"", "127.0.0.3"}, {"", "127.0.0.4"}}));
  ASSERT_EQ(rep.attempts.size(), 2u);
  EXPECT_EQ(reasons(rep), all(1, Reason::connect_failed));
  EXPECT_EQ(good.connections(), 0);
}

TEST(Session, NotAnIpAddressIsNotConnected) {
  FakeSmtpServer server;
  Harness h(probe_options(server.port()));
  const SessionReport rep = h.run(request({"alice@example.test"}, true, {{"mx.example.test", "mx.example.test"}}));
  ASSERT_EQ(rep.attempts.size(), 1u);
  EXPECT_EQ(rc(rep.attempts[0].failure), rc(Reason::connect_failed));
  EXPECT_THAT(rep.attempts[0].detail, HasSubstr("not an IP address"));
  EXPECT_EQ(server.connections(), 0);
}

TEST(Session, TarpitTimesOutAtTheBanner) {
  FakeSmtpServer server;
  server.tarpit();
  auto o = probe_options(server.port());
  o.timeouts.banner = 300ms;
  o.timeouts.session = 600s;  // far beyond the guard: only the banner timeout can end this
  Harness h(o);
  const SessionReport rep = h.run(request({"alice@example.test", "bob@example.test"}));
  ASSERT_EQ(rep.attempts.size(), 1u);
  EXPECT_EQ(rc(rep.attempts[0].failure), rc(Reason::timeout));
  EXPECT_EQ(rep.attempts[0].reached, Stage::connect);
  EXPECT_THAT(rep.attempts[0].detail, HasSubstr("timed out"));
  EXPECT_EQ(reasons(rep), all(2, Reason::timeout));
  EXPECT_GE(rep.elapsed_ms, 300u);  // it did wait for the banner (a lower bound)
  ASSERT_TRUE(server.wait_until_closed());
  EXPECT_TRUE(server.lines().empty());  // nothing sent before a greeting
}

TEST(Session, SlowBannerWithinTheTimeoutIsFine) {
  FakeSmtpServer server;
  server.banner({"220 slow.test ESMTP\r\n", 150ms});
  Harness h(probe_options(server.port()));
  const SessionReport rep = h.run(request({"alice@example.test"}));
  EXPECT_EQ(rc(rep.attempts.at(0).failure), "(none)");
  EXPECT_EQ(reasons(rep), all(1, Reason::mailbox_exists));
  ASSERT_FALSE(rep.replies.empty());
  EXPECT_EQ(rep.replies[0].reply.lines, Lines{"slow.test ESMTP"});
}

TEST(Session, ServerClosingAtTheBannerIsConnectFailed) {
  FakeSmtpServer server;
  server.banner(A::close);
  Harness h(probe_options(server.port()));
  const SessionReport rep = h.run(request({"alice@example.test"}));
  EXPECT_EQ(rc(rep.attempts.at(0).failure), rc(Reason::connect_failed));
  EXPECT_THAT(rep.attempts[0].detail, HasSubstr("closed"));
  EXPECT_EQ(reasons(rep), all(1, Reason::connect_failed));
}

TEST(Session, ServerClosingAfterMailIsProtocolError) {
  for (const bool pipelining : {true, false}) {
    SCOPED_TRACE(pipelining);
    FakeSmtpServer server;
    if (!pipelining) server.on("EHLO", kEhloPlain);
    server.on("MAIL", A::close);
    Harness h(probe_options(server.port()));
    const SessionReport rep = h.run(request({"alice@example.test"}));
    ASSERT_EQ(rep.attempts.size(), 1u);
    EXPECT_EQ(rc(rep.attempts[0].failure), rc(smtp::classify_failure(Stage::mail_from, smtp::Failure::closed)));
    EXPECT_EQ(rc(rep.attempts[0].failure), rc(Reason::protocol_error));
    EXPECT_EQ(rep.attempts[0].reached, Stage::ehlo);
    EXPECT_THAT(rep.attempts[0].detail, HasSubstr("closed"));
    EXPECT_EQ(reasons(rep), all(1, Reason::protocol_error));
    EXPECT_EQ(rep.catch_all, std::nullopt);
  }
}

TEST(Session, GarbageReplyIsProtocolError) {
  FakeSmtpServer server;
  server.on("RCPT TO:<bob@", "hello, this is not SMTP\r\n");
  Harness h(probe_options(server.port()));
  const SessionReport rep = h.run(request({"alice@example.test", "bob@example.test", "carol@example.test"}));
  ASSERT_EQ(rep.attempts.size(), 1u);
  EXPECT_EQ(rc(rep.attempts[0].failure), rc(Reason::protocol_error));
  EXPECT_EQ(rep.attempts[0].reached, Stage::rcpt_to);
  EXPECT_THAT(rep.attempts[0].detail, HasSubstr("reply code"));
  // alice was answered before the garbage; the rest cannot be trusted.
  EXPECT_EQ(reasons(rep), (std::vector<std::string_view>{rc(Reason::mailbox_exists), rc(Reason::protocol_error),
                                                         rc(Reason::protocol_error)}));
  EXPECT_EQ(rep.catch_all, std::nullopt);
}

TEST(Session, OversizedReplyLineIsProtocolError) {
  FakeSmtpServer server;
  server.on("EHLO", "250-fake.test\r\n250-" + std::string(3000, 'x') + "\r\n250 PIPELINING\r\n");
  Harness h(probe_options(server.port()));
  const SessionReport rep = h.run(request({"alice@example.test"}));
  ASSERT_EQ(rep.attempts.size(), 1u);
  EXPECT_EQ(rc(rep.attempts[0].failure), rc(Reason::protocol_error));
  EXPECT_THAT(rep.attempts[0].detail, HasSubstr("longer than 2048"));
  EXPECT_EQ(reasons(rep), all(1, Reason::protocol_error));
  ASSERT_TRUE(server.wait_until_closed());
  EXPECT_EQ(server.lines(), Lines{"EHLO probe.test"});
}

TEST(Session, SessionTimeoutBoundsASlowServer) {
  FakeSmtpServer server;
  // Every reply takes 200 ms: each is well within the command timeout, the sum is not within the
  // session's.
  server.banner({"220 fake.test ESMTP\r\n", 200ms});
  server.on("EHLO", {"250-fake.test\r\n250 PIPELINING\r\n", 200ms});
  server.on("MAIL", {"250 2.1.0 Ok\r\n", 200ms});
  server.on("RCPT", {"250 2.1.5 Ok\r\n", 200ms});
  auto o = probe_options(server.port());
  o.timeouts.session = 500ms;
  Harness h(o);
  const SessionReport rep = h.run(request({"alice@example.test", "bob@example.test"}));
  EXPECT_EQ(reasons(rep), all(2, Reason::timeout));
  ASSERT_FALSE(rep.attempts.empty());
  EXPECT_EQ(rc(rep.attempts.back().failure), rc(Reason::timeout));
  EXPECT_GE(rep.elapsed_ms, 500u);
  EXPECT_EQ(rep.catch_all, std::nullopt);
}

// ---------------------------------------------------------------------------------------------
// Transactions

void expect_too_many_recipients(bool pipelining) {
  SCOPED_TRACE(pipelining ? "pipelining" : "one by one");
  FakeSmtpServer server;
  if (!pipelining) server.on("EHLO", kEhloPlain);
  const FakeReply ok = "250 2.1.5 Ok\r\n";
  const FakeReply too_many = "452 4.5.3 Error: too many recipients\r\n";
  // The third RCPT of the first transaction is refused; pipelined, so are all after it in that batch.
  if (pipelining) server.on("RCPT", {ok, ok, too_many, too_many, too_many, too_many, ok});
  else server.on("RCPT", {ok, ok, too_many, ok});
  Harness h(probe_options(server.port()));
  const std::vector<std::string> r = {"r1@example.test", "r2@example.test", "r3@example.test", "r4@example.test",
                                      "r5@example.test"};
  const SessionReport rep = h.run(request(r));
  EXPECT_EQ(reasons(rep), all(5, Reason::mailbox_exists));
  EXPECT_EQ(rep.catch_all, true);
  ASSERT_TRUE(server.wait_until_closed());
  const std::string rnd = rcpt(rep.catch_all_address);
  Lines want = {"EHLO probe.test", kMail, rcpt(r[0]), rcpt(r[1]), rcpt(r[2])};
  if (pipelining) {
    want.insert(want.end(), {rcpt(r[3]), rcpt(r[4]), rnd});
  }
  want.insert(want.end(), {"RSET", kMail, rcpt(r[2]), rcpt(r[3]), rcpt(r[4]), rnd, "QUIT"});
  EXPECT_EQ(server.lines(), want);
}

TEST(Session, TooManyRecipientsStartsANewTransactionPipelined) { expect_too_many_recipients(true); }
TEST(Session, TooManyRecipientsStartsANewTransactionOneByOne) { expect_too_many_recipients(false); }

TEST(Session, TooManyRecipientsAtTheFirstRcptGivesUp) {
  FakeSmtpServer server;
  server.on("RCPT", "452 4.5.3 Error: too many recipients\r\n");
  Harness h(probe_options(server.port()));
  const SessionReport rep = h.run(request({"a@example.test", "b@example.test"}));
  EXPECT_EQ(reasons(rep), all(2, Reason::rate_limited));
  EXPECT_EQ(rep.catch_all, std::nullopt);
  ASSERT_TRUE(server.wait_until_closed());
  EXPECT_EQ(count_prefix(server.lines(), "MAIL"), 1u);  // no endless loop of transactions
}

TEST(Session, MaxRcptsSplitsTransactions) {
  FakeSmtpServer server;
  auto o = probe_options(server.port());
  o.max_rcpts = 2;
  Harness h(o);
  const std::vector<std::string> r = {"r1@example.test", "r2@example.test", "r3@example.test", "r4@example.test",
                                      "r5@example.test"};
  const SessionReport rep = h.run(request(r));
  EXPECT_EQ(reasons(rep), all(5, Reason::mailbox_exists));
  ASSERT_TRUE(server.wait_until_closed());
  EXPECT_EQ(server.lines(),
            (Lines{"EHLO probe.test", kMail, rcpt(r[0]), rcpt(r[1]), "RSET", kMail, rcpt(r[2]), rcpt(r[3]), "RSET",
                   kMail, rcpt(r[4]), rcpt(rep.catch_all_address), "QUIT"}));

  // Exactly full transactions: the random address gets one of its own.
  const SessionReport even = h.run(request({r[0], r[1], r[2], r[3]}));
  ASSERT_TRUE(server.wait_until_closed());
  ASSERT_EQ(server.sessions().size(), 2u);
  EXPECT_EQ(server.sessions()[1],
            (Lines{"EHLO probe.test", kMail, rcpt(r[0]), rcpt(r[1]), "RSET", kMail, rcpt(r[2]), rcpt(r[3]), "RSET",
                   kMail, rcpt(even.catch_all_address), "QUIT"}));
}

// ---------------------------------------------------------------------------------------------
// What is never sent

TEST(Session, ControlCharactersAreNeverSent) {
  FakeSmtpServer server;
  Harness h(probe_options(server.port()));
  const std::vector<std::string> r = {
      "a@example.test\r\nDATA",
      "ok@example.test",
      std::string("nul\0x@example.test", 18),
      "lf@example.test\nRSET",
      "x@example.test> NOTIFY=SUCCESS",
  };
  const SessionReport rep = h.run(request(r));
  EXPECT_EQ(reasons(rep),
            (std::vector<std::string_view>{rc(Reason::syntax_control_character), rc(Reason::mailbox_exists),
                                           rc(Reason::syntax_control_character), rc(Reason::syntax_control_character),
                                           rc(Reason::syntax_invalid_character)}));
  for (std::size_t i : {0u, 2u, 3u, 4u}) EXPECT_FALSE(rep.recipients[i].reply);
  ASSERT_TRUE(server.wait_until_closed());
  const std::string raw = server.raw_bytes();
  EXPECT_EQ(raw.find("DATA"), std::string::npos);
  EXPECT_EQ(raw.find('\0'), std::string::npos);
  EXPECT_EQ(raw.find("NOTIFY"), std::string::npos);
  EXPECT_TRUE(only_crlf_lines(raw));
  EXPECT_EQ(server.lines(), (Lines{"EHLO probe.test", kMail, rcpt("ok@example.test"), rcpt(rep.catch_all_address),
                                   "QUIT"}));
}

// Issue 13 class 7: whatever passes syntax is sendable. The RCPT argument is the parser's
// normalized() form, RFC 5321 §4.1.2 Mailbox: a local part that is no Dot-string goes as a
// Quoted-string ('"' and '\\' escaped), so a space, '@', '<' or '>' inside it is ordinary text.
TEST(Session, QuotedLocalPartsAreSentQuoted) {
  FakeSmtpServer server;  // advertises SMTPUTF8
  Harness h(probe_options(server.port()));
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"\"john doe\"@example.test", "\"john doe\"@example.test"},
      {"\"a\\\"b\"@example.test", "\"a\\\"b\"@example.test"},
      {"\"a@b\"@example.test", "\"a@b\"@example.test"},
      {"\"a<b>\"@example.test", "\"a<b>\"@example.test"},
      {"\"x> NOTIFY=NEVER\"@example.test", "\"x> NOTIFY=NEVER\"@example.test"},
      {"\"john.doe\"@example.test", "john.doe@example.test"},  // a Dot-string: sent plain
      {"Plain.Dot-Atom@Example.TEST", "Plain.Dot-Atom@example.test"},
      {"\"j\xC3\xB6rg d\"@example.test", "\"j\xC3\xB6rg d\"@example.test"},  // RFC 6531 + SMTPUTF8
  };
  std::vector<std::string> mailboxes;
  Lines want = {"EHLO probe.test", kMail + " SMTPUTF8"};
  for (const auto& [input, wire] : cases) {
    address::Address a;
    ASSERT_EQ(code(address::parse(input, a)), code(Reason::well_formed)) << input;
    EXPECT_EQ(a.normalized(), wire) << input;
    mailboxes.emplace_back(a.normalized());
    want.push_back(rcpt(wire));
  }
  want.insert(want.end(), {"QUIT"});
  const SessionReport rep = h.run(request(mailboxes, false));
  EXPECT_EQ(reasons(rep), all(cases.size(), Reason::mailbox_exists));
  ASSERT_TRUE(server.wait_until_closed());
  EXPECT_EQ(server.lines(), want);
  EXPECT_TRUE(only_crlf_lines(server.raw_bytes()));
}

// The path is one argument: a space or <> outside a leading quoted local part is refused (it would
// end the path and add parameters), and so is an unterminated quote.
TEST(Session, OnePathArgument) {
  EXPECT_TRUE(smtp::one_path_argument(""));  // the null path
  EXPECT_TRUE(smtp::one_path_argument("a@b.test"));
  EXPECT_TRUE(smtp::one_path_argument("\"a b<c>\"@b.test"));
  EXPECT_TRUE(smtp::one_path_argument("\"a\\\" b\"@b.test"));
  EXPECT_TRUE(smtp::one_path_argument("a@[IPv6:2001:db8::1]"));
  EXPECT_FALSE(smtp::one_path_argument("a@b.test> NOTIFY=NEVER"));
  EXPECT_FALSE(smtp::one_path_argument("a b@b.test"));
  EXPECT_FALSE(smtp::one_path_argument("\"a\"@b.test> X"));
  EXPECT_FALSE(smtp::one_path_argument("\"a\\\"@b.test> X"));  // the quote is escaped: unterminated
  EXPECT_FALSE(smtp::one_path_argument("\"a\"\"@b.test"));
  EXPECT_FALSE(smtp::one_path_argument("<a@b.test>"));
}

TEST(Session, NothingToAskMeansNoConnection) {
  FakeSmtpServer server;
  Harness h(probe_options(server.port()));
  const SessionReport rep = h.run(request({"a@example.test\r\nQUIT"}, false));
  EXPECT_EQ(reasons(rep), all(1, Reason::syntax_control_character));
  EXPECT_TRUE(rep.attempts.empty());
  EXPECT_EQ(server.connections(), 0);
}

TEST(Session, Smtputf8ParameterWhenOffered) {
  FakeSmtpServer server;  // advertises SMTPUTF8
  Harness h(probe_options(server.port()));
  const std::string utf8 = "j\xC3\xB6rg@example.test";
  const SessionReport rep = h.run(request({"ascii@example.test", utf8}, false));
  EXPECT_TRUE(rep.smtputf8);
  EXPECT_EQ(reasons(rep), all(2, Reason::mailbox_exists));
  ASSERT_TRUE(server.wait_until_closed());
  EXPECT_EQ(server.lines(), (Lines{"EHLO probe.test", kMail + " SMTPUTF8", rcpt("ascii@example.test"), rcpt(utf8),
                                   "QUIT"}));
}

TEST(Session, NonAsciiMailboxNotSentWithoutSmtputf8) {
  FakeSmtpServer server;
  server.on("EHLO", "250-fake.test\r\n250 PIPELINING\r\n");
  Harness h(probe_options(server.port()));
  const std::string utf8 = "j\xC3\xB6rg@example.test";
  const SessionReport rep = h.run(request({utf8, "ascii@example.test"}, false));
  EXPECT_FALSE(rep.smtputf8);
  EXPECT_EQ(reasons(rep),
            (std::vector<std::string_view>{rc(Reason::smtputf8_unsupported), rc(Reason::mailbox_exists)}));
  EXPECT_FALSE(rep.recipients[0].reply);
  ASSERT_TRUE(server.wait_until_closed());
  EXPECT_EQ(server.raw_bytes().find("j\xC3\xB6rg"), std::string::npos);
  EXPECT_EQ(server.lines(), (Lines{"EHLO probe.test", kMail, rcpt("ascii@example.test"), "QUIT"}));
}

// ---------------------------------------------------------------------------------------------
// STARTTLS (RFC 3207)

TEST(Session, StartTlsWithASelfSignedCertificate) {
  FakeSmtpServer server;
  server.enable_tls();
  auto o = probe_options(server.port());
  o.keep_transcript = true;
  Harness h(o);
  const SessionReport rep = h.run(request({"alice@example.test"}, true, {{"fake.test", "127.0.0.1"}}));
  ASSERT_EQ(rep.attempts.size(), 1u);
  EXPECT_EQ(rc(rep.attempts[0].failure), "(none)") << rep.attempts[0].detail;
  EXPECT_TRUE(rep.tls.offered);
  EXPECT_TRUE(rep.tls.used);
  EXPECT_THAT(rep.tls.version, StartsWith("TLSv1."));
  EXPECT_FALSE(rep.tls.cipher.empty());
  EXPECT_FALSE(rep.tls.verified);
  EXPECT_THAT(rep.tls.cert_error, HasSubstr("self"));
  EXPECT_EQ(rep.tls.error, "");
  EXPECT_EQ(reasons(rep), all(1, Reason::mailbox_exists));
  EXPECT_EQ(rep.catch_all, true);
  EXPECT_EQ(stages(rep), (std::vector{Stage::banner, Stage::ehlo, Stage::starttls, Stage::ehlo, Stage::mail_from,
                                      Stage::rcpt_to}));
  const bool tls_noted = std::any_of(rep.transcript.begin(), rep.transcript.end(), [](const smtp::TranscriptLine& t) {
    return t.client && t.text.starts_with("(TLS TLSv1.");
  });
  EXPECT_TRUE(tls_noted);
  ASSERT_TRUE(server.wait_until_closed());
  EXPECT_EQ(server.tls_used(), std::vector<bool>{true});
  // EHLO again after the handshake (RFC 3207 §4.2); the second reply no longer offers STARTTLS.
  EXPECT_EQ(server.lines(), (Lines{"EHLO probe.test", "STARTTLS", "EHLO probe.test", kMail, rcpt("alice@example.test"),
                                   rcpt(rep.catch_all_address), "QUIT"}));
}

TEST(Session, StartTlsDisabledByOption) {
  FakeSmtpServer server;
  server.enable_tls();
  auto o = probe_options(server.port());
  o.starttls = false;
  Harness h(o);
  const SessionReport rep = h.run(request({"alice@example.test"}, false));
  EXPECT_TRUE(rep.tls.offered);
  EXPECT_FALSE(rep.tls.used);
  EXPECT_EQ(reasons(rep), all(1, Reason::mailbox_exists));
  ASSERT_TRUE(server.wait_until_closed());
  EXPECT_EQ(server.tls_used(), std::vector<bool>{false});
  EXPECT_EQ(count_prefix(server.lines(), "STARTTLS"), 0u);
}

TEST(Session, StartTlsRefusedGoesOnInPlainText) {
  FakeSmtpServer server;
  server.enable_tls();
  server.on("STARTTLS", "454 4.7.0 TLS not available due to local problem\r\n");
  Harness h(probe_options(server.port()));
  const SessionReport rep = h.run(request({"alice@example.test"}, false));
  ASSERT_EQ(rep.attempts.size(), 1u);
  EXPECT_EQ(rc(rep.attempts[0].failure), "(none)");
  EXPECT_TRUE(rep.tls.offered);
  EXPECT_FALSE(rep.tls.used);
  EXPECT_EQ(reasons(rep), all(1, Reason::mailbox_exists));
  ASSERT_TRUE(server.wait_until_closed());
  EXPECT_EQ(server.lines(),
            (Lines{"EHLO probe.test", "STARTTLS", kMail, rcpt("alice@example.test"), "QUIT"}));
}

TEST(Session, FailedHandshakeIsRetriedWithoutTls) {
  FakeSmtpServer server;
  server.enable_tls();
  server.on("STARTTLS", FakeReply{"220 2.0.0 Ready\r\n", 0ms, A::reply_then_close});  // no handshake after all
  Harness h(probe_options(server.port()));
  const SessionReport rep = h.run(request({"alice@example.test"}));
  ASSERT_EQ(rep.attempts.size(), 2u);
  EXPECT_EQ(rc(rep.attempts[0].failure), rc(Reason::protocol_error));
  EXPECT_THAT(rep.attempts[0].detail, StartsWith("TLS handshake"));
  EXPECT_EQ(rc(rep.attempts[1].failure), "(none)");
  EXPECT_EQ(rep.attempts[1].address, "127.0.0.1");
  EXPECT_FALSE(rep.tls.used);
  EXPECT_FALSE(rep.tls.error.empty());
  EXPECT_EQ(reasons(rep), all(1, Reason::mailbox_exists));
  EXPECT_EQ(rep.catch_all, true);
  ASSERT_TRUE(server.wait_until_closed());
  ASSERT_EQ(server.sessions().size(), 2u);
  EXPECT_EQ(server.sessions()[0], (Lines{"EHLO probe.test", "STARTTLS"}));
  EXPECT_EQ(count_prefix(server.sessions()[1], "STARTTLS"), 0u);
  EXPECT_EQ(count_prefix(server.sessions()[1], "RCPT"), 2u);
}

TEST(Session, TlsFactsDescribeTheLastAttempt) {
  // The first MX does TLS and then drops the connection; the second has no STARTTLS: the report
  // must not claim the answers came over TLS.
  FakeSmtpServer first;
  first.enable_tls();
  first.on("MAIL", A::close);
  FakeSmtpServer second("127.0.0.2", first.port());
  Harness h(probe_options(first.port()));
  const SessionReport rep =
      h.run(request({"alice@example.test"}, true, {{"fake.test", "127.0.0.1"}, {"mx2.example.test", "127.0.0.2"}}));
  ASSERT_EQ(rep.attempts.size(), 2u);
  EXPECT_EQ(rc(rep.attempts[0].failure), rc(Reason::protocol_error));
  EXPECT_EQ(rc(rep.attempts[1].failure), "(none)");
  EXPECT_EQ(reasons(rep), all(1, Reason::mailbox_exists));
  ASSERT_TRUE(first.wait_until_closed());
  EXPECT_EQ(first.tls_used(), std::vector<bool>{true});
  EXPECT_EQ(second.tls_used(), std::vector<bool>{false});
  EXPECT_FALSE(rep.tls.offered);
  EXPECT_FALSE(rep.tls.used);
  EXPECT_EQ(rep.tls.version, "");
  EXPECT_EQ(rep.tls.cipher, "");
  EXPECT_EQ(rep.tls.cert_error, "");
}

// CVE-2011-0411: whatever follows the 220 to STARTTLS before the handshake was not sent by the
// server we are about to authenticate. A partial line and a complete reply are both injections.
void expect_injection_refused(const std::string& bytes_after_220) {
  SCOPED_TRACE(bytes_after_220);
  FakeSmtpServer server;
  server.enable_tls();
  server.on("STARTTLS", FakeReply{"220 2.0.0 Ready\r\n" + bytes_after_220, 0ms, A::starttls});
  Harness h(probe_options(server.port()));
  const SessionReport rep = h.run(request({"alice@example.test"}, true, {{"fake.test", "127.0.0.1"}}));
  ASSERT_EQ(rep.attempts.size(), 1u);
  EXPECT_EQ(rc(rep.attempts[0].failure), rc(Reason::protocol_error));
  EXPECT_THAT(rep.attempts[0].detail, HasSubstr("injection"));
  EXPECT_FALSE(rep.tls.used);
  EXPECT_EQ(reasons(rep), all(1, Reason::protocol_error));
  EXPECT_EQ(rep.catch_all, std::nullopt);
  ASSERT_TRUE(server.wait_until_closed());
  EXPECT_EQ(server.lines(), (Lines{"EHLO probe.test", "STARTTLS"}));
}

TEST(Session, BytesAfterStartTls220AreAnInjectionPartialLine) { expect_injection_refused("250-inj"); }
TEST(Session, BytesAfterStartTls220AreAnInjectionCompleteReply) {
  expect_injection_refused("250-injected\r\n250 PIPELINING\r\n");
}

// ---------------------------------------------------------------------------------------------
// SOCKS5 (RFC 1928, RFC 1929) and source addresses

TEST(Session, ThroughSocks5WithoutAuthentication) {
  FakeSmtpServer server;
  FakeSocks5Proxy proxy;
  auto o = probe_options(server.port());
  o.proxy = smtp::Proxy{FakeSocks5Proxy::host(), proxy.port(), "", ""};
  Harness h(o);
  const SessionReport rep = h.run(request({"alice@example.test"}));
  EXPECT_EQ(rc(rep.attempts.at(0).failure), "(none)") << rep.attempts[0].detail;
  EXPECT_EQ(reasons(rep), all(1, Reason::mailbox_exists));
  EXPECT_EQ(proxy.targets(), Lines{"127.0.0.1:" + std::to_string(server.port())});
  EXPECT_TRUE(proxy.usernames().empty());
  ASSERT_TRUE(server.wait_until_closed());
  EXPECT_EQ(count_prefix(server.lines(), "RCPT"), 2u);
}

TEST(Session, ThroughSocks5WithUsernameAndPassword) {
  FakeSmtpServer server;
  FakeSocks5Proxy proxy("probe", "s3cret");
  auto o = probe_options(server.port());
  o.proxy = smtp::Proxy{FakeSocks5Proxy::host(), proxy.port(), "probe", "s3cret"};
  Harness h(o);
  const SessionReport rep = h.run(request({"alice@example.test"}));
  EXPECT_EQ(rc(rep.attempts.at(0).failure), "(none)") << rep.attempts[0].detail;
  EXPECT_EQ(reasons(rep), all(1, Reason::mailbox_exists));
  EXPECT_EQ(proxy.targets(), Lines{"127.0.0.1:" + std::to_string(server.port())});
  EXPECT_EQ(proxy.usernames(), Lines{"probe"});
  EXPECT_EQ(proxy.failed_auths(), 0);
}

TEST(Session, Socks5WrongPasswordIsConnectFailed) {
  FakeSmtpServer server;
  FakeSocks5Proxy proxy("probe", "s3cret");
  auto o = probe_options(server.port());
  o.proxy = smtp::Proxy{FakeSocks5Proxy::host(), proxy.port(), "probe", "wrong"};
  Harness h(o);
  const SessionReport rep = h.run(request({"alice@example.test"}));
  ASSERT_EQ(rep.attempts.size(), 1u);
  EXPECT_EQ(rc(rep.attempts[0].failure), rc(Reason::connect_failed));
  EXPECT_THAT(rep.attempts[0].detail, HasSubstr("socks5"));
  EXPECT_EQ(reasons(rep), all(1, Reason::connect_failed));
  EXPECT_EQ(proxy.failed_auths(), 1);
  EXPECT_TRUE(proxy.targets().empty());
  EXPECT_EQ(server.connections(), 0);
}

TEST(Session, Socks5WithoutCredentialsWhenTheProxyWantsThem) {
  FakeSmtpServer server;
  FakeSocks5Proxy proxy("probe", "s3cret");
  auto o = probe_options(server.port());
  o.proxy = smtp::Proxy{FakeSocks5Proxy::host(), proxy.port(), "", ""};
  Harness h(o);
  const SessionReport rep = h.run(request({"alice@example.test"}));
  EXPECT_EQ(rc(rep.attempts.at(0).failure), rc(Reason::connect_failed));
  EXPECT_THAT(rep.attempts[0].detail, HasSubstr("socks5"));
  EXPECT_EQ(server.connections(), 0);
}

TEST(Session, Socks5ConnectRefusedByTheProxy) {
  FakeSmtpServer server;
  FakeSocks5Proxy proxy;
  proxy.fail_connect(0x05);
  auto o = probe_options(server.port());
  o.proxy = smtp::Proxy{FakeSocks5Proxy::host(), proxy.port(), "", ""};
  Harness h(o);
  const SessionReport rep = h.run(request({"alice@example.test"}));
  ASSERT_EQ(rep.attempts.size(), 1u);
  EXPECT_EQ(rc(rep.attempts[0].failure), rc(Reason::connect_failed));
  EXPECT_THAT(rep.attempts[0].detail, HasSubstr("socks5"));
  EXPECT_THAT(rep.attempts[0].detail, HasSubstr("connection refused"));
  EXPECT_EQ(proxy.targets().size(), 1u);
  EXPECT_EQ(server.connections(), 0);
}

TEST(Session, Socks5ProxyNotListening) {
  FakeSmtpServer server;
  auto o = probe_options(server.port());
  o.proxy = smtp::Proxy{"127.0.0.1", closed_port(), "", ""};
  Harness h(o);
  const SessionReport rep = h.run(request({"alice@example.test"}));
  EXPECT_EQ(rc(rep.attempts.at(0).failure), rc(Reason::connect_failed));
  EXPECT_THAT(rep.attempts[0].detail, HasSubstr("proxy"));
  EXPECT_EQ(server.connections(), 0);
}

TEST(Session, ConnectsFromTheSourceAddress) {
  FakeSmtpServer server;
  auto o = probe_options(server.port());
  o.source_ips = {"::1", "127.0.0.3", "127.0.0.4"};  // the IPv6 one is skipped for an IPv4 target
  Harness h(o);
  const SessionReport first = h.run(request({"alice@example.test"}, false));
  const SessionReport second = h.run(request({"alice@example.test"}, false));
  auto pinned = request({"alice@example.test"}, false);
  pinned.source = "127.0.0.5";
  const SessionReport third = h.run(pinned);
  EXPECT_EQ(first.attempts.at(0).source, "127.0.0.3");
  EXPECT_EQ(second.attempts.at(0).source, "127.0.0.4");
  EXPECT_EQ(third.attempts.at(0).source, "127.0.0.5");
  for (const auto* r : {&first, &second, &third}) EXPECT_EQ(reasons(*r), all(1, Reason::mailbox_exists));
  EXPECT_EQ(server.peers(), (Lines{"127.0.0.3", "127.0.0.4", "127.0.0.5"}));
}

TEST(Session, UnusableSourceAddressIsConnectFailed) {
  FakeSmtpServer server;
  auto o = probe_options(server.port());
  o.source_ips = {"192.0.2.1"};  // TEST-NET-1: not an address of this machine
  Harness h(o);
  const SessionReport rep = h.run(request({"alice@example.test"}));
  EXPECT_EQ(rc(rep.attempts.at(0).failure), rc(Reason::connect_failed));
  EXPECT_THAT(rep.attempts[0].detail, HasSubstr("192.0.2.1"));
  EXPECT_EQ(server.connections(), 0);
}

}  // namespace
}  // namespace mailsift::test
