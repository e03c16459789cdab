// The SMTP reply reader: every rule of RFC 5321 §4.2 it enforces, the RFC 3463 / RFC 2034 enhanced
// codes, the bounds, and feeding in arbitrary pieces.
#include "smtp/reply.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace mailsift::smtp {
namespace {

struct Parsed {
  std::vector<Reply> replies;
  std::string error;  // empty: none
};

// Feeds `input` in pieces of `chunk` bytes (0: all at once) and drains the reader after each.
Parsed read_all(std::string_view input, std::size_t chunk = 0) {
  ReplyReader reader;
  Parsed out;
  if (chunk == 0) chunk = input.size() + 1;
  for (std::size_t i = 0; i < input.size(); i += chunk) {
    reader.feed(input.substr(i, chunk));
    while (auto r = reader.next()) out.replies.push_back(std::move(*r));
  }
  if (reader.error()) out.error = reader.error()->detail;
  return out;
}

Reply one(std::string_view input) {
  std::string err;
  auto r = parse_reply(input, &err);
  EXPECT_TRUE(r.has_value()) << "input " << input << ": " << err;
  return r.value_or(Reply{});
}

std::string error_of(std::string_view input) {
  const Parsed p = read_all(input);
  EXPECT_TRUE(p.replies.empty()) << input;
  EXPECT_FALSE(p.error.empty()) << "no error for " << input;
  return p.error;
}

TEST(SmtpReply, Rfc5321_4_2_SingleLine) {
  const Reply r = one("250 OK\r\n");
  EXPECT_EQ(r.code, 250);
  EXPECT_EQ(r.cls(), 2);
  EXPECT_EQ(r.lines, std::vector<std::string>{"OK"});
  EXPECT_FALSE(r.enhanced);
  EXPECT_FALSE(r.bare_lf);
}

TEST(SmtpReply, Rfc5321_4_2_CodeAloneEndsReply) {
  const Reply r = one("250\r\n");
  EXPECT_EQ(r.code, 250);
  EXPECT_EQ(r.lines, std::vector<std::string>{""});
  EXPECT_EQ(one("250 \r\n").lines, std::vector<std::string>{""});
}

TEST(SmtpReply, Rfc5321_4_2_1_MultiLine) {
  const Reply r = one("250-mx.example.org Hello\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n250 SMTPUTF8\r\n");
  EXPECT_EQ(r.code, 250);
  EXPECT_EQ(r.lines, (std::vector<std::string>{"mx.example.org Hello", "PIPELINING", "SIZE 10240000", "SMTPUTF8"}));
}

TEST(SmtpReply, Rfc5321_4_2_1_CodeMismatchBetweenLinesIsError) {
  EXPECT_EQ(error_of("250-first\r\n251 second\r\n"), "line 2: code 251 differs from 250 of the first line");
}

TEST(SmtpReply, Rfc5321_4_2_MissingSeparatorIsError) {
  EXPECT_EQ(error_of("250OK\r\n"), "line 1: code 250 is not followed by a space or '-'");
  EXPECT_EQ(error_of("2500 OK\r\n"), "line 1: code 250 is not followed by a space or '-'");
}

TEST(SmtpReply, Rfc5321_4_2_CodeGrammar) {
  // Reply-code = %x32-35 %x30-35 %x30-39, but the second digit is taken up to 9 (real servers send
  // 571, 558: issue 13 class 2); the first digit must be 2-5.
  for (const char* bad : {"abc text\r\n", "25 x\r\n", "\r\n", "150 x\r\n", "650 x\r\n", "2a0 x\r\n"}) {
    SCOPED_TRACE(bad);
    EXPECT_EQ(error_of(bad), "line 1: does not start with a reply code (3 digits, 2xx-5xx)");
  }
  EXPECT_EQ(one("559 x\r\n").code, 559);
  EXPECT_FALSE(one("559 x\r\n").odd_code);
}

TEST(SmtpReply, OddCodesAreKeptAndRecorded) {
  const Reply r = one("571 sorry, you are violating our security policies (#5.7.1 - chkuser)\r\n");
  EXPECT_EQ(r.code, 571);
  EXPECT_TRUE(r.odd_code);
  EXPECT_EQ(one("260 x\r\n").code, 260);
  EXPECT_EQ(one("598-a\r\n598 b\r\n").lines.size(), 2U);
}

// qmail/chkuser write the enhanced code at the end, "(#5.1.1 - chkuser)"; some gateways at the start
// with a '#'. Taken when no RFC 2034 code starts the text; the text itself is left as it was.
TEST(SmtpReply, EnhancedCodeInsideTheText) {
  Reply r = one("511 sorry, no mailbox here by that name (#5.1.1 - chkuser)\r\n");
  ASSERT_TRUE(r.enhanced);
  EXPECT_EQ(*r.enhanced, (EnhancedCode{5, 1, 1}));
  EXPECT_TRUE(r.enhanced_in_text);
  EXPECT_EQ(r.lines.at(0), "sorry, no mailbox here by that name (#5.1.1 - chkuser)");
  r = one("550 #5.1.0 Address rejected.\r\n");
  ASSERT_TRUE(r.enhanced);
  EXPECT_EQ(*r.enhanced, (EnhancedCode{5, 1, 0}));
  r = one("553 sorry, your envelope sender is in my badmailfrom list (#5.7.1)\r\n");
  ASSERT_TRUE(r.enhanced);
  EXPECT_EQ(*r.enhanced, (EnhancedCode{5, 7, 1}));
  // Not taken: another class than the reply's, glued to a word, a code at the start wins.
  EXPECT_FALSE(one("550 no (#4.1.1)\r\n").enhanced);
  EXPECT_FALSE(one("550 issue#5.1.1 x\r\n").enhanced);
  r = one("550 5.2.1 x (#5.1.1)\r\n");
  EXPECT_EQ(*r.enhanced, (EnhancedCode{5, 2, 1}));
  EXPECT_FALSE(r.enhanced_in_text);
  EXPECT_FALSE(one("250 ok (#2.0.0)\r\n").enhanced);  // success replies keep their text as is
}

TEST(SmtpReply, Rfc5321_2_3_8_BareLfToleratedAndRecorded) {
  const Reply r = one("250-a\n250 b\n");
  EXPECT_EQ(r.lines, (std::vector<std::string>{"a", "b"}));
  EXPECT_TRUE(r.bare_lf);
}

TEST(SmtpReply, Rfc5321_4_2_SplitFeedsByteByByteGiveTheSameReplies) {
  const std::string input = "220 mx.example.org ESMTP\r\n250-mx\r\n250-PIPELINING\r\n250 8BITMIME\r\n550 5.1.1 No\r\n";
  const Parsed whole = read_all(input);
  ASSERT_EQ(whole.replies.size(), 3U);
  for (std::size_t chunk = 1; chunk <= input.size(); ++chunk) {
    SCOPED_TRACE(chunk);
    const Parsed p = read_all(input, chunk);
    ASSERT_EQ(p.replies.size(), whole.replies.size());
    EXPECT_TRUE(p.error.empty());
    for (std::size_t i = 0; i < p.replies.size(); ++i) {
      EXPECT_EQ(p.replies[i].code, whole.replies[i].code);
      EXPECT_EQ(p.replies[i].lines, whole.replies[i].lines);
      EXPECT_EQ(p.replies[i].enhanced, whole.replies[i].enhanced);
    }
  }
}

TEST(SmtpReply, Rfc2920_PipelinedRepliesInOneFeed) {
  const Parsed p = read_all("250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n550 5.1.1 Unknown\r\n");
  ASSERT_EQ(p.replies.size(), 3U);
  EXPECT_EQ(p.replies[2].code, 550);
}

TEST(SmtpReply, IncompleteReplyWaitsForMore) {
  ReplyReader r;
  r.feed("250-a\r\n250 b\r");
  EXPECT_FALSE(r.next());
  EXPECT_TRUE(r.in_reply());
  EXPECT_FALSE(r.error());
  r.feed("\n");
  auto rep = r.next();
  ASSERT_TRUE(rep);
  EXPECT_EQ(rep->lines.size(), 2U);
  EXPECT_FALSE(rep->bare_lf);  // the CR came in the previous feed
  EXPECT_FALSE(r.in_reply());
}

TEST(SmtpReply, HasUnreadCountsQueuedRepliesToo) {
  ReplyReader r;
  EXPECT_FALSE(r.has_unread());
  r.feed("220 Ready\r\n250 injected\r\n");  // two complete replies, nothing partial
  EXPECT_FALSE(r.in_reply());
  EXPECT_TRUE(r.has_unread());
  ASSERT_TRUE(r.next());
  EXPECT_TRUE(r.has_unread());  // the second one is still queued
  ASSERT_TRUE(r.next());
  EXPECT_FALSE(r.has_unread());
  r.feed("250-par");
  EXPECT_TRUE(r.has_unread());
}

TEST(SmtpReply, Rfc3463_EnhancedCodeParsedAndStripped) {
  const Reply r = one("550-5.1.1 The email account does not exist.\r\n550 5.1.1 https://support.example/x\r\n");
  ASSERT_TRUE(r.enhanced);
  EXPECT_EQ(*r.enhanced, (EnhancedCode{5, 1, 1}));
  EXPECT_EQ(r.lines, (std::vector<std::string>{"The email account does not exist.", "https://support.example/x"}));
  const Reply big = one("452 4.123.999 x\r\n");
  EXPECT_EQ(*big.enhanced, (EnhancedCode{4, 123, 999}));
  EXPECT_EQ(one("250 2.0.0\r\n").lines, std::vector<std::string>{""});
}

TEST(SmtpReply, Rfc3463_EnhancedCodeAbsent) {
  const Reply r = one("554 delivery error: dd This user doesn't have a yahoo.com account\r\n");
  EXPECT_FALSE(r.enhanced);
  EXPECT_EQ(r.lines[0], "delivery error: dd This user doesn't have a yahoo.com account");
}

TEST(SmtpReply, Rfc3463_2_ClassMustMatchReplyCode) {
  // "550 4.1.1": the class differs from the reply's first digit: not an enhanced code, kept as text.
  const Reply r = one("550 4.1.1 User unknown\r\n");
  EXPECT_FALSE(r.enhanced);
  EXPECT_EQ(r.lines[0], "4.1.1 User unknown");
}

TEST(SmtpReply, Rfc3463_2_MalformedEnhancedCodeStaysText) {
  for (const char* t : {"550 5.1 x\r\n", "550 5.1.1234 x\r\n", "550 5.1.1x y\r\n", "550 5..1 x\r\n", "220 2.0.0.0 x\r\n",
                        "354 3.0.0 x\r\n"}) {
    SCOPED_TRACE(t);
    const Reply r = one(t);
    EXPECT_FALSE(r.enhanced);
    EXPECT_EQ(r.lines[0], std::string(t).substr(4, std::string(t).size() - 6));
  }
}

TEST(SmtpReply, Rfc3463_FirstLineWithACodeWins) {
  const Reply r = one("550-No code here\r\n550-5.1.1 first\r\n550 5.2.1 second\r\n");
  EXPECT_EQ(*r.enhanced, (EnhancedCode{5, 1, 1}));
  EXPECT_EQ(r.lines, (std::vector<std::string>{"No code here", "first", "second"}));
}

TEST(SmtpReply, Rfc5321_4_5_3_1_5_LongLinesUpToTheBound) {
  // RFC 5321 allows 512 octets; we accept up to kMaxLineBytes including CRLF.
  const std::string ok = "250 " + std::string(kMaxLineBytes - 6, 'x') + "\r\n";
  ASSERT_EQ(ok.size(), kMaxLineBytes);
  EXPECT_EQ(one(ok).lines[0].size(), kMaxLineBytes - 6);
  const std::string too_long = "250 " + std::string(kMaxLineBytes - 5, 'x') + "\r\n";
  EXPECT_EQ(error_of(too_long), "line 1 longer than 2048 bytes");
  // Bare LF: the same budget.
  EXPECT_EQ(one("250 " + std::string(kMaxLineBytes - 5, 'x') + "\n").lines[0].size(), kMaxLineBytes - 5);
}

TEST(SmtpReply, OverlongLineWithoutEndIsRejectedEarly) {
  ReplyReader r;
  r.feed(std::string(10 * kMaxLineBytes, '5'));  // never buffers more than one line
  ASSERT_TRUE(r.error());
  EXPECT_EQ(r.error()->detail, "line 1 longer than 2048 bytes");
}

TEST(SmtpReply, TooManyLines) {
  std::string input;
  for (std::size_t i = 0; i < kMaxLines - 1; ++i) input += "250-x\r\n";
  EXPECT_EQ(one(input + "250 x\r\n").lines.size(), kMaxLines);
  EXPECT_EQ(error_of(input + "250-x\r\n250 x\r\n"), "reply has more than 100 lines");
}

TEST(SmtpReply, TooManyBytes) {
  std::string input;
  const std::string line = "250-" + std::string(1000, 'y') + "\r\n";
  while (input.size() + line.size() < kMaxReplyBytes) input += line;  // 65 lines: under kMaxLines
  EXPECT_EQ(error_of(input + line + "250 end\r\n"), "reply longer than 65536 bytes");
}

TEST(SmtpReply, ControlBytesInTextAreErrors) {
  EXPECT_EQ(error_of(std::string("250 a\0b\r\n", 9)), "line 1: control byte 0x00 in the text");
  EXPECT_EQ(error_of("250 a\rb\r\n"), "line 1: control byte 0x0d in the text");
  EXPECT_EQ(error_of("250-ok\r\n250 \x1b[31m\r\n"), "line 2: control byte 0x1b in the text");
  EXPECT_EQ(error_of("250 a\x7f\r\n"), "line 1: control byte 0x7f in the text");
  EXPECT_EQ(one("250 a\tb\r\n").lines[0], "a\tb");         // HTAB is allowed
  EXPECT_EQ(one("250 gr\xc3\xbc\xc3\x9f\r\n").code, 250);  // 8-bit text (RFC 6531 servers) is allowed
}

TEST(SmtpReply, GarbageBytes) {
  using namespace std::string_view_literals;
  const Parsed p = read_all("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n"sv);  // a TLS ClientHello
  EXPECT_TRUE(p.replies.empty());
  EXPECT_EQ(p.error, "line 1: does not start with a reply code (3 digits, 2xx-5xx)");
}

TEST(SmtpReply, ErrorIsStickyButEarlierRepliesSurvive) {
  ReplyReader r;
  r.feed("250 ok\r\nxyz\r\n250 later\r\n");
  ASSERT_TRUE(r.error());
  auto first = r.next();
  ASSERT_TRUE(first);
  EXPECT_EQ(first->lines[0], "ok");
  EXPECT_FALSE(r.next());
  r.feed("250 more\r\n");
  EXPECT_FALSE(r.next());
}

TEST(SmtpReply, ParseReplyWantsExactlyOne) {
  std::string err;
  EXPECT_FALSE(parse_reply("250 a\r\n250 b\r\n", &err));
  EXPECT_EQ(err, "more than one reply");
  EXPECT_FALSE(parse_reply("250-a\r\n", &err));
  EXPECT_EQ(err, "incomplete reply");
}

}  // namespace
}  // namespace mailsift::smtp
