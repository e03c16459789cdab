// The delay a deferral's text asks for (smtp/retry_hint.hpp): a table of real-world-looking replies,
// "got X, want Y" (STYLE.md §9), the cases that must give no hint as many as those that must.
#include "smtp/retry_hint.hpp"

#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <vector>

#include "smtp/reply.hpp"

namespace mailsift::smtp {
namespace {

constexpr long kNone = -1;

struct Case {
  std::string reply;  // a whole reply, CRLFs included
  long want;          // seconds, or kNone
};

std::string show(std::optional<std::chrono::seconds> s) {
  return s ? std::to_string(s->count()) + " s" : "no hint";
}

void expect_table(const std::vector<Case>& cases) {
  for (const Case& c : cases) {
    std::string err;
    const auto reply = parse_reply(c.reply, &err);
    ASSERT_TRUE(reply) << c.reply << ": " << err;
    const auto got = retry_after(*reply);
    const auto want = c.want == kNone ? std::nullopt : std::optional(std::chrono::seconds(c.want));
    EXPECT_EQ(got, want) << c.reply << "got " << show(got) << ", want " << show(want);
  }
}

TEST(RetryHint, StatedDelays) {
  expect_table({
      // postgrey --greylist-text="Greylisted for %s seconds, see http://postgrey.schweikert.ch/help/%r.html"
      {"450 4.2.0 <a@example.com>: Recipient address rejected: Greylisted for 300 seconds, see "
       "http://postgrey.schweikert.ch/help/example.com.html\r\n",
       300},
      {"450 4.2.0 Greylisted for 1 seconds\r\n", 1},
      {"450 4.2.0 <a@example.com>: Recipient address rejected: Greylisted for 47 seconds\r\n", 47},
      // sqlgrey
      {"450 Greylisted for 5 minutes\r\n", 300},
      {"451 4.7.1 Greylisted for 5 minutes (reconnect)\r\n", 300},
      // milter-greylist: the remaining time as a clock
      {"451 4.7.1 Greylisting in action, please come back in 00:05:00\r\n", 300},
      {"451 4.7.1 Greylisting in action, please come back in 01:02:03\r\n", 3723},
      {"451 4.7.1 Greylisting in action, please come back in 4:30\r\n", 270},
      // Exim ACLs, greylistd and others
      {"451 4.7.1 Greylisted, please try again in 5 minutes\r\n", 300},
      {"451 Temporarily deferred (greylisting), retry after 300 seconds\r\n", 300},
      {"451 4.7.1 Greylisted: wait 300s\r\n", 300},
      {"451 4.7.1 Greylisted: wait 300s.\r\n", 300},
      {"450 4.7.1 Greylisted, please retry in 60 secs\r\n", 60},
      {"450 4.7.1 Greylisted (try again in 2 min)\r\n", 120},
      {"450 4.7.1 Greylisted, wait 1 hour\r\n", 3600},
      {"450 4.7.1 Greylisted, please retry after 1h30m\r\n", 5400},
      {"450 4.7.1 Greylisted, please try again in 1 hour 30 minutes\r\n", 5400},
      {"450 4.7.1 Greylisted, please try again in 1 minute and 30 seconds\r\n", 90},
      {"450 4.7.1 Greylisted for 5 minutes, 30 seconds\r\n", 330},
      {"450 4.7.1 Greylisted, please wait 5m\r\n", 300},
      {"450 4.7.1 Greylisted for at least 300 seconds\r\n", 300},
      {"450 4.7.1 You are greylisted for the next 2 minutes\r\n", 120},
      {"450 4.7.1 GREYLISTED FOR 300 SECONDS\r\n", 300},
      {"450 4.7.1 Greylisted For 5 Min.\r\n", 300},
      {"450 4.7.1 Greylisted for 0 seconds\r\n", 0},
      // A later line, and the first of two delays.
      {"450-4.7.1 Greylisted\r\n450 4.7.1 please retry in 60 seconds\r\n", 60},
      {"450 4.7.1 Greylisted for 300 seconds, or retry after 600 seconds\r\n", 300},
      // Units in decreasing order only: the larger unit after a smaller one ends the delay.
      {"450 4.7.1 Greylisted for 30 seconds 5 minutes\r\n", 30},
  });
}

TEST(RetryHint, CappedAtADayAbsurdRefused) {
  expect_table({
      {"450 4.7.1 Greylisted for 86400 seconds\r\n", 86'400},
      {"450 4.7.1 Greylisted for 86401 seconds\r\n", 86'400},
      {"450 4.7.1 Greylisted for 2 days\r\n", 86'400},
      {"450 4.7.1 Greylisted for 48:00:00\r\n", 86'400},
      {"450 4.7.1 Greylisted for 8 days\r\n", kNone},
      {"450 4.7.1 Greylisted for 100000 hours\r\n", kNone},
      {"450 4.7.1 Greylisted for 999999999 days\r\n", kNone},
      {"450 4.7.1 Greylisted for 9999999999 seconds\r\n", kNone},  // ten digits
      {"450 4.7.1 Greylisted for 99999999999999999999999999 seconds\r\n", kNone},
  });
}

TEST(RetryHint, NoDelayStated) {
  expect_table({
      // postgrey's default text: a number only in the URL (with and without a scheme).
      {"450 4.2.0 <a@example.com>: Recipient address rejected: Greylisted, see "
       "http://postgrey.schweikert.ch/help/example.com.html\r\n",
       kNone},
      {"450 4.2.0 Greylisted, see postgrey.schweikert.ch/help/example5.com.html\r\n", kNone},
      {"450 4.7.1 Greylisted, see https://example.org/retry-in-5-minutes.html\r\n", kNone},
      {"450 4.7.1 Greylisted, see example.org/retry-in-5-minutes.html\r\n", kNone},
      {"450 4.7.1 Greylisted, see http://example.org/?wait=300s\r\n", kNone},
      // postgrey with %s not substituted, and nothing at all.
      {"450 4.2.0 Greylisted for %s seconds\r\n", kNone},
      {"450 4.7.1 Greylisted, please try again later\r\n", kNone},
      {"451 4.7.1 Greylisting in action, please come back later\r\n", kNone},
      // Status codes, addresses, IP addresses, networks.
      {"450 4.2.0 Greylisted for 4.2.0 seconds\r\n", kNone},
      {"450 4.7.1 Greylisted: retry 4.2.0\r\n", kNone},
      {"450 4.7.1 Greylisted for 192.0.2.1\r\n", kNone},
      {"450 4.7.1 Greylisted for 192.0.2.1 seconds\r\n", kNone},
      {"450 4.7.1 Greylisted for 10.0.0.0/24 (wait)\r\n", kNone},
      {"450 4.7.1 Greylisted for [2001:db8::1]\r\n", kNone},
      {"450 4.7.1 Greylisted for fe80::1:30\r\n", kNone},
      {"450 4.7.1 <wait5min@example.org> greylisted\r\n", kNone},
      {"450 4.7.1 Greylisted for <300s@example.org>\r\n", kNone},
      {"450 4.7.1 Greylisted for 300s@example.org\r\n", kNone},
      // Numbers that are not delays, or not clearly.
      {"450 4.7.1 Greylisted for 5\r\n", kNone},
      {"450 4.7.1 Greylisted for 1.5 minutes\r\n", kNone},
      {"450 4.7.1 Greylisted for 5-minutes\r\n", kNone},
      {"450 4.7.1 Greylisted for 5 (minutes)\r\n", kNone},
      {"450 4.7.1 Greylisted for 5. Minutes later\r\n", kNone},
      {"450 4.7.1 Greylisted: wait 5 more minutes\r\n", kNone},
      {"450 4.7.1 Greylisted 300 seconds\r\n", kNone},  // no word making it a delay
      {"452 4.2.2 Mailbox over quota: 100 messages in 60 minutes\r\n", kNone},
      {"450 4.7.1 Greylisted: 3 recipients in 5 minutes\r\n", kNone},
      // A clock after "after" or "at" may be a time of day.
      {"450 4.7.1 Greylisted, retry after 14:05:00\r\n", kNone},
      {"450 4.7.1 Greylisted, retry at 12:30\r\n", kNone},
      {"450 4.7.1 Greylisted for 12:3\r\n", kNone},
      {"450 4.7.1 Greylisted for 12:30:75\r\n", kNone},
      {"450 4.7.1 Greylisted for 1:2:3:4\r\n", kNone},
      {"450 4.7.1 Greylisted for 123:00\r\n", kNone},
      // A trigger word at the very end, or glued to punctuation.
      {"450 4.7.1 Greylisted, please wait\r\n", kNone},
      {"450 4.7.1 Greylisted, please wait, 5 minutes\r\n", kNone},
  });
}

TEST(RetryHint, ArbitraryBytesNeverThrowAndStayBounded) {
  // Every byte value, long runs of digits and units, many triggers: an answer, in bounds.
  std::string junk;
  for (int i = 0; i < 256; ++i) junk.push_back(static_cast<char>(i == '\r' || i == '\n' ? ' ' : i));
  std::string triggers;
  while (triggers.size() < 1900) triggers += "for in again in wait 1 ";
  for (const std::string& text :
       {junk, std::string(1000, '9') + " seconds", "for " + std::string(1900, '1') + "s", triggers}) {
    Reply r{450, EnhancedCode{4, 7, 1}, {text}, false};
    const auto got = retry_after(r);
    if (got) {
      EXPECT_GE(got->count(), 0);
      EXPECT_LE(*got, kMaxRetryHint);
    }
  }
}

}  // namespace
}  // namespace mailsift::smtp
