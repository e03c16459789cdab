#include "smtp/classify.hpp"

#include <array>
#include <stdexcept>
#include <vector>

#include "common/text.hpp"
#include "smtp/embedded.hpp"

namespace mailsift::smtp {
namespace {

using enum Reason;
using P = Phrases;

constexpr std::uint16_t bit(Stage s) noexcept { return stage_bit(s); }
constexpr std::uint16_t kBeforeRcpt = bit(Stage::connect) | bit(Stage::banner) | bit(Stage::ehlo) |
                                      bit(Stage::helo) | bit(Stage::starttls) | bit(Stage::mail_from);
constexpr std::uint16_t kRcpt = bit(Stage::rcpt_to);
constexpr std::uint16_t kAfterRcpt = bit(Stage::rset);
// Every stage but QUIT: once we say QUIT the verdict is made, its answer changes nothing.
constexpr std::uint16_t kSession = kBeforeRcpt | kRcpt | kAfterRcpt;

// THE classification table. First match wins, so the order is the policy:
//  1. success and protocol-level answers (2xx, 3xx);
//  2. texts that say "we refuse YOU" (block lists, reputation, relaying, SMTPUTF8, rate limits), at any
//     stage and whatever the code: a block list's 550 5.1.1 is not a statement about the mailbox;
//  3. mailbox verdicts, RCPT TO only: precise RFC 3463 codes first, then texts;
//  4. greylisting, then generic rules by code class, the generic X.7.x (security/policy) rule after
//     every text rule.
// Each row's example must classify to that row at every stage of its set (tests/smtp/classify_test.cpp).
constexpr std::array kRules = {
    // 1. Success, and replies no command of ours expects.
    Rule{.id = "quit_any", .stages = bit(Stage::quit), .reason = std::nullopt, .example = "221 2.0.0 Bye\r\n"},
    Rule{.id = "step_ok", .stages = kBeforeRcpt | kAfterRcpt, .code_class = 2, .reason = std::nullopt,
         .example = "250-mx.example.org\r\n250-PIPELINING\r\n250 8BITMIME\r\n"},
    Rule{.id = "rcpt_accepted", .stages = kRcpt, .code_class = 2, .reason = mailbox_exists,
         .example = "250 2.1.5 Ok\r\n"},
    // 3xx only answers DATA (354) and AUTH (334), which a probe never sends (RFC 5321 §4.3.2).
    Rule{.id = "unexpected_3xx", .stages = kSession, .code_class = 3, .reason = protocol_error,
         .example = "354 End data with <CR><LF>.<CR><LF>\r\n"},

    // 2. We are refused: checked before any mailbox rule and before the generic 5.7.x rule.
    Rule{.id = "blocklist", .stages = kSession, .phrases = P::blocklist, .reason = blocked,
         .example = "554 5.7.1 Service unavailable; Client host [192.0.2.1] blocked using zen.spamhaus.org\r\n"},
    Rule{.id = "relay_denied", .stages = kSession, .phrases = P::relay_denied, .reason = relay_denied,
         .example = "554 5.7.1 <x@example.org>: Relay access denied\r\n"},
    // RFC 6531 §3.5 / RFC 3463 X.6.7 (RFC 6533 §3): non-ASCII address not permitted.
    Rule{.id = "smtputf8_code", .stages = kSession, .enh_subject = 6, .enh_detail = 7, .reason = smtputf8_unsupported,
         .example = "553 5.6.7 Address not accepted\r\n"},
    Rule{.id = "smtputf8_text", .stages = kSession, .phrases = P::smtputf8, .reason = smtputf8_unsupported,
         .example = "550 SMTPUTF8 is required, but was not offered\r\n"},
    Rule{.id = "rate_limit", .stages = kSession, .phrases = P::rate_limit, .reason = rate_limited,
         .example = "452 4.5.3 Error: too many recipients\r\n"},

    // 3. Mailbox verdicts (RCPT TO only). RFC 3463 §3.2: X.1.1 bad destination mailbox address,
    //    X.1.0 other address status, X.1.6 mailbox moved without forwarding address.
    Rule{.id = "rcpt_bad_mailbox", .stages = kRcpt, .code_class = 5, .enh_class = 5, .enh_subject = 1,
         .enh_detail = 1, .reason = mailbox_not_found,
         .example = "550-5.1.1 The email account that you tried to reach does not exist.\r\n550 5.1.1 Please try again.\r\n"},
    Rule{.id = "rcpt_address_other", .stages = kRcpt, .code_class = 5, .enh_class = 5, .enh_subject = 1,
         .enh_detail = 0, .reason = mailbox_not_found, .example = "550 5.1.0 Address rejected\r\n"},
    Rule{.id = "rcpt_mailbox_moved", .stages = kRcpt, .code_class = 5, .enh_class = 5, .enh_subject = 1,
         .enh_detail = 6, .reason = mailbox_not_found, .example = "550 5.1.6 Recipient moved\r\n"},
    // Microsoft 365 directory-based edge blocking answers an unknown recipient with 5.4.1 "Access denied".
    Rule{.id = "rcpt_m365_unknown", .stages = kRcpt, .code_class = 5, .enh_class = 5, .enh_subject = 4,
         .enh_detail = 1, .reason = mailbox_not_found,
         .example = "550 5.4.1 Recipient address rejected: Access denied. AS(201806281)\r\n"},
    // RFC 3463 §3.3: X.2.1 mailbox disabled, X.2.2 mailbox full (4.2.2 or 5.2.2).
    Rule{.id = "rcpt_disabled_code", .stages = kRcpt, .code_class = 5, .enh_class = 5, .enh_subject = 2,
         .enh_detail = 1, .reason = mailbox_disabled,
         .example = "550-5.2.1 The email account that you tried to reach is disabled.\r\n550 5.2.1 Learn more\r\n"},
    Rule{.id = "rcpt_full_code", .stages = kRcpt, .enh_subject = 2, .enh_detail = 2, .reason = mailbox_full,
         .example = "452 4.2.2 <x@example.org>: Mailbox full\r\n"},
    Rule{.id = "rcpt_full_text", .stages = kRcpt, .phrases = P::mailbox_full, .reason = mailbox_full,
         .example = "552 Requested mail action aborted: exceeded storage allocation\r\n"},
    Rule{.id = "rcpt_disabled_text", .stages = kRcpt, .code_class = 5, .phrases = P::mailbox_disabled,
         .reason = mailbox_disabled, .example = "554 delivery error: dd This account has been disabled or discontinued\r\n"},
    Rule{.id = "rcpt_unknown_text", .stages = kRcpt, .code_class = 5, .phrases = P::no_such_user,
         .reason = mailbox_not_found, .example = "550 Requested action not taken: mailbox unavailable\r\n"},

    // 4. Greylisting: a temporary refusal that says "come back later" (450/451, RFC 5321 §4.2.2).
    Rule{.id = "greylisted", .stages = kSession, .codes = {450, 451}, .phrases = P::greylist, .reason = greylisted,
         .example = "451 4.7.1 Greylisting in action, please come back later\r\n"},
    //    RFC 3463 §3.8: 5.7.x is a security or policy refusal; without a better text it is about us.
    Rule{.id = "policy", .stages = kSession, .code_class = 5, .enh_class = 5, .enh_subject = 7, .reason = blocked,
         .example = "550 5.7.1 Delivery not authorized, message refused\r\n"},
    // RFC 5321 §4.2.3: command syntax / sequence errors mean our client is wrong, not the address.
    Rule{.id = "bad_command", .stages = kSession, .codes = {500, 502, 503, 504}, .reason = protocol_error,
         .example = "503 5.5.1 Error: need MAIL command\r\n"},
    Rule{.id = "temporary", .stages = kSession, .code_class = 4, .reason = temporary_failure,
         .example = "421 4.7.0 Try again later, closing connection\r\n"},
    Rule{.id = "rcpt_rejected", .stages = kRcpt, .code_class = 5, .reason = recipient_rejected,
         .example = "550 Rejected\r\n"},
    Rule{.id = "session_rejected", .stages = kBeforeRcpt | kAfterRcpt, .code_class = 5, .reason = session_rejected,
         .example = "554 No SMTP service here\r\n"},
};

constexpr bool is_mailbox_verdict(std::optional<Reason> r) {
  return r && (*r == mailbox_exists || *r == mailbox_not_found || *r == mailbox_disabled || *r == mailbox_full ||
               *r == recipient_rejected || *r == catch_all);
}
constexpr bool mailbox_verdicts_only_at_rcpt() {
  for (const Rule& r : kRules)
    if (is_mailbox_verdict(r.reason) && r.stages != kRcpt) return false;
  return true;
}
static_assert(mailbox_verdicts_only_at_rcpt(), "only RCPT TO may give a mailbox verdict");

constexpr std::size_t kGroups = static_cast<std::size_t>(P::smtputf8) + 1;
using PhraseTable = std::array<std::vector<std::string_view>, kGroups>;

// Parses the embedded data file once. A malformed file is a build defect: it throws at first use,
// and the unit tests use it first.
PhraseTable load_phrases() {
  PhraseTable t;
  for (std::string_view line : text::list_lines(embedded::reply_phrases, false)) {
    if (line.front() == '#') continue;
    const std::size_t tab = line.find('\t');
    if (tab == std::string_view::npos) throw std::logic_error("reply_phrases.txt: no TAB in: " + std::string(line));
    const std::string_view group = line.substr(0, tab);
    const std::string_view phrase = text::trim_blanks(line.substr(tab + 1));
    if (phrase.empty() || phrase != text::to_lower_ascii(phrase))
      throw std::logic_error("reply_phrases.txt: phrase empty or not lower case: " + std::string(line));
    bool known = false;
    for (std::size_t g = 1; g < kGroups; ++g) {
      if (name(static_cast<P>(g)) == group) {
        t[g].push_back(phrase);
        known = true;
      }
    }
    if (!known) throw std::logic_error("reply_phrases.txt: unknown group: " + std::string(group));
  }
  return t;
}

const PhraseTable& phrase_table() {
  static const PhraseTable t = load_phrases();
  return t;
}

bool starts_url(std::string_view s, std::size_t i) {
  if (i > 0 && (text::is_ascii_alpha(s[i - 1]) || text::is_ascii_digit(s[i - 1]))) return false;
  const std::string_view rest = s.substr(i);
  return rest.starts_with("http://") || rest.starts_with("https://") || rest.starts_with("www.");
}

bool code_matches(const Rule& r, int code) {
  if (r.code_class != 0 && code / 100 != r.code_class) return false;
  if (r.codes[0] == 0) return true;
  for (const int c : r.codes)
    if (c == code) return true;
  return false;
}

bool enhanced_matches(const Rule& r, const std::optional<EnhancedCode>& e) {
  if (r.enh_class == 0 && r.enh_subject < 0 && r.enh_detail < 0) return true;
  if (!e) return false;
  return (r.enh_class == 0 || e->cls == r.enh_class) && (r.enh_subject < 0 || e->subject == r.enh_subject) &&
         (r.enh_detail < 0 || e->detail == r.enh_detail);
}

bool phrases_match(Phrases p, std::string_view text) {
  if (p == P::none) return true;
  for (const std::string_view phrase : phrase_table()[static_cast<std::size_t>(p)])
    if (text.find(phrase) != std::string_view::npos) return true;
  return false;
}

}  // namespace

std::string_view name(Stage s) noexcept {
  switch (s) {
    case Stage::connect: return "connect";
    case Stage::banner: return "banner";
    case Stage::ehlo: return "ehlo";
    case Stage::helo: return "helo";
    case Stage::starttls: return "starttls";
    case Stage::mail_from: return "mail_from";
    case Stage::rcpt_to: return "rcpt_to";
    case Stage::rset: return "rset";
    case Stage::quit: return "quit";
  }
  return "?";
}

std::string_view name(Phrases p) noexcept {
  switch (p) {
    case P::none: return "none";
    case P::no_such_user: return "no_such_user";
    case P::mailbox_disabled: return "mailbox_disabled";
    case P::mailbox_full: return "mailbox_full";
    case P::blocklist: return "blocklist";
    case P::greylist: return "greylist";
    case P::rate_limit: return "rate_limit";
    case P::relay_denied: return "relay_denied";
    case P::smtputf8: return "smtputf8";
  }
  return "?";
}

std::span<const Rule> rules() noexcept { return kRules; }

std::span<const std::string_view> phrases(Phrases group) {
  return phrase_table()[static_cast<std::size_t>(group)];
}

std::string match_text(const Reply& reply) {
  std::string joined;
  for (const std::string& l : reply.lines) {
    if (!joined.empty()) joined += ' ';
    joined += text::to_lower_ascii(l);
  }
  std::string out;
  out.reserve(joined.size());
  for (std::size_t i = 0; i < joined.size();) {
    if (!starts_url(joined, i)) {
      out += joined[i++];
      continue;
    }
    while (i < joined.size() && joined[i] != ' ' && joined[i] != '\t') ++i;
    out += ' ';
  }
  return out;
}

Classification classify(Stage stage, const Reply& reply) {
  if (stage == Stage::connect) stage = Stage::banner;  // the first reply after connect is the banner
  const std::string text = match_text(reply);
  for (std::size_t i = 0; i < kRules.size(); ++i) {
    const Rule& r = kRules[i];
    if ((r.stages & stage_bit(stage)) == 0 || !code_matches(r, reply.code) ||
        !enhanced_matches(r, reply.enhanced) || !phrases_match(r.phrases, text))
      continue;
    return {r.reason, i};
  }
  // Unreachable for codes 200-559: the table ends with catch-all rows per class (a test pins it).
  return {protocol_error, kRules.size()};
}

Reason classify_failure(Stage stage, Failure failure) noexcept {
  switch (failure) {
    case Failure::refused: return connect_failed;
    case Failure::timed_out: return timeout;
    case Failure::closed: return stage == Stage::connect || stage == Stage::banner ? connect_failed : protocol_error;
    case Failure::malformed_reply: return protocol_error;
  }
  return protocol_error;
}

}  // namespace mailsift::smtp
