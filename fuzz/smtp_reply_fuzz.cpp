// Fuzzes the SMTP reply reader and the classifier (untrusted bytes from any mail server). The input
// is fed in pieces whose sizes come from the input itself, so splits land anywhere (mid-line,
// mid-CRLF). Properties: no crash, no UB, no leak (sanitizers); every reply has a code 200-599 (a
// second digit over 5 flagged odd_code), at
// most kMaxLines lines, each within kMaxLineBytes and free of CR/LF; every reply classifies to a
// row of the table at every stage, and only RCPT TO gives mailbox verdicts; a retry delay read from
// its text (smtp/retry_hint.hpp) is within 0..kMaxRetryHint.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "smtp/classify.hpp"
#include "smtp/reply.hpp"
#include "smtp/retry_hint.hpp"

namespace {

using mailsift::Reason;
using namespace mailsift::smtp;

constexpr Stage kStages[] = {Stage::connect,   Stage::banner,  Stage::ehlo, Stage::helo, Stage::starttls,
                             Stage::mail_from, Stage::rcpt_to, Stage::rset, Stage::quit};

bool mailbox_verdict(std::optional<Reason> r) {
  return r && (*r == Reason::mailbox_exists || *r == Reason::mailbox_not_found || *r == Reason::mailbox_disabled ||
               *r == Reason::mailbox_full || *r == Reason::recipient_rejected || *r == Reason::catch_all);
}

void check(const Reply& r) {
  if (r.code < 200 || r.code > 599) __builtin_trap();
  if (r.odd_code != (r.code % 100 / 10 > 5)) __builtin_trap();
  if (r.enhanced_in_text && !r.enhanced) __builtin_trap();
  if (r.lines.empty() || r.lines.size() > kMaxLines) __builtin_trap();
  for (const std::string& l : r.lines) {
    if (l.size() > kMaxLineBytes - 5) __builtin_trap();  // "ddd " + text + LF (CRLF: one less)
    if (l.find_first_of("\r\n") != std::string::npos) __builtin_trap();
  }
  if (r.enhanced && r.enhanced->cls != r.cls()) __builtin_trap();
  for (const Stage s : kStages) {
    const Classification c = classify(s, r);
    if (c.rule >= rules().size()) __builtin_trap();
    if (s != Stage::rcpt_to && mailbox_verdict(c.reason)) __builtin_trap();
  }
  if (const auto hint = retry_after(r); hint && (hint->count() < 0 || *hint > kMaxRetryHint)) __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  // The first byte seeds the piece sizes: 1..16 bytes, varied by a tiny LCG so one input explores
  // many splits of the rest.
  std::uint32_t state = data[0];
  const std::string_view input(reinterpret_cast<const char*>(data) + 1, size - 1);
  ReplyReader reader;
  for (std::size_t i = 0; i < input.size();) {
    state = state * 1103515245U + 12345U;
    const std::size_t piece = 1 + (state >> 16) % 16;
    reader.feed(input.substr(i, piece));
    i += piece;
    while (auto r = reader.next()) check(*r);
  }
  if (reader.error() && reader.error()->detail.empty()) __builtin_trap();
  return 0;
}
