// The classification table (STYLE.md §5, §9): one test walks every row with its example; real
// servers' replies pin what matters in practice; a golden file (§8) shows every behaviour change.
#include "common/golden.hpp"
#include "smtp/classify.hpp"

#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <set>
#include <string>
#include <vector>

#include "smtp/reply.hpp"
#include "smtp/retry_hint.hpp"

namespace mailsift::smtp {
namespace {

constexpr Stage kAllStages[] = {Stage::connect,   Stage::banner,  Stage::ehlo, Stage::helo, Stage::starttls,
                                Stage::mail_from, Stage::rcpt_to, Stage::rset, Stage::quit};

std::string outcome(std::optional<Reason> r) { return r ? std::string(code(*r)) : std::string("proceed"); }

Reply parse(std::string_view text) {
  std::string err;
  auto r = parse_reply(text, &err);
  EXPECT_TRUE(r) << text << ": " << err;
  return r.value_or(Reply{});
}

std::string classify_text(Stage stage, std::string_view reply) { return outcome(classify(stage, parse(reply)).reason); }

// Every row's example must land on that very row (so no row is shadowed by an earlier one) at every
// stage the row covers, with the row's outcome.
TEST(SmtpClassify, EveryRowClassifiesItsExample) {
  const auto rows = rules();
  std::set<std::string_view> ids;
  for (std::size_t i = 0; i < rows.size(); ++i) {
    const Rule& row = rows[i];
    EXPECT_TRUE(ids.insert(row.id).second) << "duplicate row id " << row.id;
    ASSERT_FALSE(row.example.empty()) << row.id;
    const Reply reply = parse(row.example);
    for (const Stage s : kAllStages) {
      if ((row.stages & stage_bit(s)) == 0) continue;
      const Classification got = classify(s, reply);
      const std::string got_id = got.rule < rows.size() ? std::string(rows[got.rule].id) : "none";
      EXPECT_EQ(got_id, row.id) << "stage " << name(s) << ", example " << row.example << ": got row " << got_id
                                << ", want " << row.id;
      EXPECT_EQ(outcome(got.reason), outcome(row.reason)) << row.id << " at " << name(s);
    }
  }
}

// The table is total: every well-formed reply at every stage matches some row.
TEST(SmtpClassify, TableIsTotal) {
  for (const Stage s : kAllStages) {
    for (int code = 200; code <= 559; ++code) {
      if (code % 100 > 59) continue;
      const Reply r{code, std::nullopt, {"x"}, false};
      EXPECT_LT(classify(s, r).rule, rules().size()) << code << " at " << name(s);
    }
  }
}

// Only RCPT TO gives mailbox verdicts (also a static_assert in classify.cpp): a 550 5.1.1 "user
// unknown" at MAIL FROM is about our sender.
TEST(SmtpClassify, PreRcptStagesNeverGiveMailboxVerdicts) {
  const std::set<std::string> mailbox = {"mailbox_exists", "mailbox_not_found", "mailbox_disabled",
                                         "mailbox_full",   "recipient_rejected", "catch_all"};
  for (const Rule& row : rules()) {
    const Reply reply = parse(row.example);
    for (const Stage s : kAllStages) {
      if (s == Stage::rcpt_to) continue;
      const std::string got = outcome(classify(s, reply).reason);
      EXPECT_EQ(mailbox.count(got), 0U) << row.id << " example at " << name(s) << " gave " << got;
    }
  }
  // At MAIL FROM a "User unknown" or an X.1.x code is about our sender (issue 13, class 1).
  EXPECT_EQ(classify_text(Stage::mail_from, "550 5.1.1 User unknown\r\n"), "sender_rejected");
  EXPECT_EQ(classify_text(Stage::mail_from, "553 5.1.8 Sender address rejected: Domain not found\r\n"),
            "sender_rejected");
  EXPECT_EQ(classify_text(Stage::mail_from, "554 5.7.1 Access denied\r\n"), "blocked");
}

struct Case {
  Stage stage;
  const char* reply;
  const char* want;
};

// Replies of real servers, as they are sent.
TEST(SmtpClassify, RealWorldReplies) {
  const Case cases[] = {
      {Stage::rcpt_to,
       "550-5.1.1 The email account that you tried to reach does not exist. Please try\r\n"
       "550-5.1.1 double-checking the recipient's email address for typos or\r\n"
       "550-5.1.1 unnecessary spaces. For more information, go to\r\n"
       "550 5.1.1  https://support.google.com/mail/?p=NoSuchUser d2e1a72fcca58-7 - gsmtp\r\n",
       "mailbox_not_found"},
      {Stage::rcpt_to,
       "550-5.2.1 The email account that you tried to reach is inactive.\r\n"
       "550 5.2.1  https://support.google.com/mail/?p=DisabledUser - gsmtp\r\n",
       "mailbox_disabled"},
      {Stage::rcpt_to,
       "452-4.2.2 The recipient's inbox is out of storage space. Please direct the\r\n"
       "452 4.2.2 recipient to https://support.google.com/mail/?p=OverQuotaTemp - gsmtp\r\n",
       "mailbox_full"},
      {Stage::rcpt_to, "550 5.5.0 Requested action not taken: mailbox unavailable\r\n", "mailbox_not_found"},
      {Stage::rcpt_to,
       "550 5.4.1 Recipient address rejected: Access denied. AS(201806281) "
       "[AM0PR01MB1234.eurprd01.prod.exchangelabs.com]\r\n",
       "mailbox_not_found"},
      {Stage::rcpt_to, "554 delivery error: dd This user doesn't have a yahoo.com account (x@yahoo.com) [0] - mta1\r\n",
       "mailbox_not_found"},
      {Stage::rcpt_to, "554 delivery error: dd This account has been disabled or discontinued [#102]. - mta2\r\n",
       "mailbox_disabled"},
      {Stage::rcpt_to, "550 5.1.1 <x@example.org>: Recipient address rejected: User unknown in virtual mailbox table\r\n",
       "mailbox_not_found"},
      {Stage::rcpt_to, "550 5.1.1 <x@example.org>: Recipient address rejected: User unknown in local recipient table\r\n",
       "mailbox_not_found"},
      {Stage::rcpt_to, "452 4.2.2 Mailbox full\r\n", "mailbox_full"},
      {Stage::rcpt_to, "552 5.2.2 <x@example.org>: Recipient address rejected: Mailbox is full\r\n", "mailbox_full"},
      {Stage::rcpt_to, "550 Unrouteable address\r\n", "mailbox_not_found"},  // Exim
      {Stage::rcpt_to, "250 2.1.5 Ok\r\n", "mailbox_exists"},
      {Stage::rcpt_to, "250 2.1.5 Recipient <x@example.org> OK\r\n", "mailbox_exists"},
      // Block lists: at RCPT, with 5.x codes, still never a mailbox verdict.
      {Stage::rcpt_to,
       "554 5.7.1 Service unavailable; Client host [192.0.2.1] blocked using zen.spamhaus.org; "
       "https://www.spamhaus.org/query/ip/192.0.2.1\r\n",
       "blocked"},
      {Stage::rcpt_to, "550 5.7.606 Access denied, banned sending IP [192.0.2.1]. To request removal from this list "
                       "please visit https://sender.office.com/ and follow the directions.\r\n",
       "blocked"},
      {Stage::banner, "554 5.7.1 Blocked - see https://ipcheck.proofpoint.com/?ip=192.0.2.1\r\n", "blocked"},
      {Stage::rcpt_to, "550 5.7.1 [192.0.2.1] Our system has detected that this message is likely unsolicited mail.\r\n",
       "blocked"},
      // Yahoo's TSS04 names both volume and complaints: a rate limit goes first (a slower retry passes).
      {Stage::banner, "421 4.7.0 [TSS04] Messages from 192.0.2.1 temporarily deferred due to unexpected volume or user "
                      "complaints - 4.16.55.1\r\n",
       "rate_limited"},
      {Stage::rcpt_to, "450 4.7.1 Client host rejected: cannot find your hostname, [192.0.2.1]\r\n", "blocked"},
      {Stage::mail_from, "550 5.7.1 SPF check failed\r\n", "sender_rejected"},
      // Greylisting and temporary failures.
      {Stage::rcpt_to,
       "450 4.2.0 <x@example.org>: Recipient address rejected: Greylisted, see "
       "http://postgrey.schweikert.ch/help/example.org.html\r\n",
       "greylisted"},
      {Stage::rcpt_to, "451 4.7.1 Please try again later\r\n", "greylisted"},
      {Stage::rcpt_to, "451 Temporary local problem - please try later\r\n", "greylisted"},
      {Stage::rcpt_to, "421 4.7.0 Try again later, closing connection\r\n", "temporary_failure"},
      {Stage::banner, "421 4.7.0 Try again later, closing connection\r\n", "temporary_failure"},
      {Stage::rcpt_to, "451 4.3.0 Error: queue file write error\r\n", "temporary_failure"},
      {Stage::banner, "421 4.3.2 Service not available\r\n", "temporary_failure"},
      // Rate limits, relaying, SMTPUTF8.
      {Stage::rcpt_to, "452 4.5.3 Error: too many recipients\r\n", "rate_limited"},
      {Stage::banner, "421 4.7.0 mx.example.org Error: too many connections from 192.0.2.1\r\n", "rate_limited"},
      {Stage::rcpt_to, "550 5.7.1 Unable to relay for x@example.org\r\n", "relay_denied"},
      {Stage::rcpt_to, "554 5.7.1 <x@example.org>: Relay access denied\r\n", "relay_denied"},
      {Stage::rcpt_to, "550 5.7.64 TenantAttribution; Relay Access Denied\r\n", "relay_denied"},
      {Stage::rcpt_to, "553 5.6.7 Non-ASCII addresses not permitted for that recipient\r\n", "smtputf8_unsupported"},
      {Stage::mail_from, "555 5.5.4 SMTPUTF8 not supported\r\n", "smtputf8_unsupported"},
      // Session steps.
      {Stage::banner, "220 mx.example.org ESMTP Postfix\r\n", "proceed"},
      {Stage::banner, "554 5.3.2 mx.example.org No SMTP service here\r\n", "session_rejected"},
      {Stage::ehlo, "502 5.5.2 Error: command not recognized\r\n", "protocol_error"},
      {Stage::rcpt_to, "503 5.5.1 Error: need MAIL command\r\n", "protocol_error"},
      {Stage::rcpt_to, "354 go ahead\r\n", "protocol_error"},
      {Stage::rset, "250 2.0.0 Ok\r\n", "proceed"},
      {Stage::quit, "221 2.0.0 Bye\r\n", "proceed"},
      {Stage::quit, "500 5.5.2 what?\r\n", "proceed"},
      // Generic permanent refusals.
      {Stage::rcpt_to, "550 5.7.1 Delivery not authorized, message refused\r\n", "blocked"},
      {Stage::rcpt_to, "550 Administrative prohibition\r\n", "recipient_rejected"},
      {Stage::rcpt_to, "501 5.1.3 Bad recipient address syntax\r\n", "recipient_rejected"},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(classify_text(c.stage, c.reply), c.want) << "stage " << name(c.stage) << ", reply " << c.reply;
  }
}

// URLs are cut to their host before phrases are matched: a link's path may hold any word (or any
// code), but the host names the block list (rblsmtpd answers with nothing but the DNSBL's URL).
TEST(SmtpClassify, UrlsAreStrippedBeforeMatching) {
  EXPECT_EQ(match_text(parse("550-5.1.1 User Unknown; see HTTPS://Example.org/Blacklist-FAQ?550\r\n550 5.1.1 "
                             "www.example.org/spam and (http://x.example/blocked) ok\r\n")),
            "user unknown; see  example.org   www.example.org  and ( x.example  ok");
  // Without stripping, "blacklist" in the link would make this `blocked`.
  EXPECT_EQ(classify_text(Stage::rcpt_to, "550 5.1.1 User unknown; see https://example.org/blacklist-faq\r\n"),
            "mailbox_not_found");
  EXPECT_EQ(classify_text(Stage::rcpt_to, "550 Rejected, see https://example.org/errors/no-such-user/550\r\n"),
            "recipient_rejected");
  // A word that merely contains "www." is not a URL.
  EXPECT_EQ(match_text(parse("550 awww.x b\r\n")), "awww.x b");
}

// "blocked" about the recipient's own account is a mailbox verdict; about us, or said to us, it is not.
TEST(SmtpClassify, BlockedMeansUsUnlessTheTextSaysTheRecipient) {
  EXPECT_EQ(classify_text(Stage::rcpt_to, "550 5.5.0 The recipient account is blocked.\r\n"), "mailbox_disabled");
  EXPECT_EQ(classify_text(Stage::rcpt_to, "550 Mailbox is frozen.\r\n"), "mailbox_disabled");
  EXPECT_EQ(classify_text(Stage::rcpt_to, "550 5.7.1 Your account is blocked\r\n"), "blocked");
  EXPECT_EQ(classify_text(Stage::rcpt_to, "550 Blocked\r\n"), "blocked");
  EXPECT_EQ(classify_text(Stage::mail_from, "550 5.5.0 The recipient account is blocked.\r\n"), "blocked");
}

// A '*' in a phrase matches any text between its parts, in order.
TEST(SmtpClassify, PhraseWildcards) {
  EXPECT_EQ(classify_text(Stage::mail_from, "554 Mail from x@example.net rejected for policy reasons.\r\n"),
            "sender_rejected");
  // No '@' between "mail from" and "rejected": not a sender address (an IP on a block list).
  EXPECT_EQ(classify_text(Stage::banner, "550 5.7.1 Mail from IP 192.0.2.1 was rejected due to listing in Spamhaus\r\n"),
            "blocked");
  EXPECT_EQ(classify_text(Stage::mail_from, "450 sender <x@example.org> denied\r\n"), "sender_rejected");
}

// The Postfix prefix names the subject of a restriction: "Sender address rejected" is about our
// sender even at RCPT, "Recipient address rejected" about the recipient (without a mailbox reason).
TEST(SmtpClassify, PostfixPrefixNamesTheSubject) {
  EXPECT_EQ(classify_text(Stage::rcpt_to, "550 5.1.0 <v@x.example>: Sender address rejected: User unknown in local "
                                          "recipient table\r\n"),
            "sender_rejected");
  EXPECT_EQ(classify_text(Stage::rcpt_to, "554 5.1.2 <a@x.example>: Recipient address rejected: Domain not found\r\n"),
            "recipient_rejected");
  EXPECT_EQ(classify_text(Stage::rcpt_to, "450 4.7.1 <x>: Helo command rejected: Host not found\r\n"), "blocked");
  EXPECT_EQ(classify_text(Stage::rcpt_to, "554 5.7.1 <x>: Client host rejected: Access denied\r\n"), "blocked");
}

TEST(SmtpClassify, MatchingIsCaseInsensitive) {
  EXPECT_EQ(classify_text(Stage::rcpt_to, "550 USER UNKNOWN\r\n"), "mailbox_not_found");
  EXPECT_EQ(classify_text(Stage::rcpt_to, "450 GreyListed\r\n"), "greylisted");
}

TEST(SmtpClassify, EveryPhraseGroupHasPhrasesAndIsUsed) {
  for (std::uint8_t g = 1; g <= static_cast<std::uint8_t>(Phrases::access_denied); ++g) {
    const auto p = static_cast<Phrases>(g);
    EXPECT_FALSE(phrases(p).empty()) << name(p);
    bool used = false;
    for (const Rule& r : rules()) used = used || r.phrases == p;
    EXPECT_TRUE(used) << name(p) << " is in no rule";
  }
}

TEST(SmtpClassify, TransportFailures) {
  EXPECT_EQ(classify_failure(Stage::connect, Failure::refused), Reason::connect_failed);
  EXPECT_EQ(classify_failure(Stage::connect, Failure::timed_out), Reason::timeout);
  EXPECT_EQ(classify_failure(Stage::rcpt_to, Failure::timed_out), Reason::timeout);
  EXPECT_EQ(classify_failure(Stage::banner, Failure::closed), Reason::connect_failed);
  EXPECT_EQ(classify_failure(Stage::mail_from, Failure::closed), Reason::protocol_error);
  EXPECT_EQ(classify_failure(Stage::ehlo, Failure::malformed_reply), Reason::protocol_error);
  for (const Stage s : kAllStages)
    for (const Failure f : {Failure::refused, Failure::timed_out, Failure::closed, Failure::malformed_reply})
      EXPECT_EQ(info(classify_failure(s, f)).status, Status::unknown);
}

// Golden file (STYLE.md §8): tests/smtp/golden/replies.txt holds one reply per line (stage, TAB,
// reply with "\r\n" written out), expected.tsv what each gives. After an intended change:
// MAILSIFT_UPDATE_GOLDEN=1 mailsift_tests --gtest_filter='SmtpGolden*' rewrites it.
std::string describe(const std::string& line) {
  const std::size_t tab = line.find('\t');
  if (tab == std::string::npos) return "bad golden line";
  const std::string stage_name = line.substr(0, tab);
  std::optional<Stage> stage;
  for (const Stage s : kAllStages)
    if (name(s) == stage_name) stage = s;
  if (!stage) return "unknown stage";
  std::string err;
  const auto reply = parse_reply(mailsift::testing::unescape(line.substr(tab + 1)), &err);
  if (!reply) return "protocol_error\t" + err;
  std::string out = std::to_string(reply->code);
  if (reply->enhanced)
    out += "\t" + std::to_string(reply->enhanced->cls) + "." + std::to_string(reply->enhanced->subject) + "." +
           std::to_string(reply->enhanced->detail);
  else
    out += "\t-";
  const Classification c = classify(*stage, *reply);
  out += "\t" + outcome(c.reason) + "\t" + std::string(rules()[c.rule].id);
  // The delay a greylisting reply states (smtp/retry_hint.hpp): what the retry waits for.
  if (c.reason == Reason::greylisted) {
    const auto hint = retry_after(*reply);
    out += "\tretry_after=" + (hint ? std::to_string(hint->count()) + "s" : std::string("-"));
  }
  return out;
}

TEST(SmtpGolden, RepliesClassifyAsRecorded) {
  mailsift::testing::check_golden(std::string(MAILSIFT_TEST_DATA) + "/smtp/golden/", "replies.txt", "\t=>\t", describe);
}

}  // namespace
}  // namespace mailsift::smtp
