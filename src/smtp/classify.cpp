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

// THE classification table. First match wins, so the order is the policy (docs/smtp.md,
// "Reading replies"). Specific text beats a code, because servers misuse codes: X.2.1 on rate limits
// (Gmail), X.1.1 on full mailboxes and on policy refusals (chkuser, Facebook), 5.7.1 on "User unknown"
// (tests/smtp/corpus, class 4):
//  1. success and protocol-level answers (2xx, 3xx);
//  2. texts about our *sender* (sender checks answer at RCPT: Postfix smtpd_delay_reject, Exim's
//     sender verification, chkuser): before everything else, since they quote "User unknown";
//  3. rate limits, then the few texts that must beat a block-list word (M365's unknown recipient
//     "Access denied", a recipient's own blocked account, a recipient refused by rule);
//  4. texts that say "we refuse YOU" (block lists, reputation, HELO, TLS), relaying, at any stage;
//  5. first-contact deferrals (greylisting without the word), then mailbox texts (RCPT TO only),
//     then RFC 3463 codes (mailbox codes at RCPT, sender codes at MAIL FROM);
//  6. greylisting, the generic X.7.x (security/policy) rule, bad commands, generic rules by class.
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

    // 2. Our envelope sender is refused, at whatever stage the server says so.
    Rule{.id = "sender_text", .stages = kSession, .phrases = P::sender, .reason = sender_rejected,
         .example = "550-Verification failed for <verify@example.org>\r\n550-Response: 550 Unknown user\r\n"
                    "550 Sender verify failed\r\n"},

    //    RFC 3463 §3.2: X.1.7 bad sender's mailbox address syntax, X.1.8 bad sender's system address:
    //    about our sender at any stage, whatever the text.
    Rule{.id = "sender_code", .stages = kSession, .enh_subject = 1, .enh_detail = 8, .reason = sender_rejected,
         .example = "553 5.1.8 <x@example.org>... Domain does not exist\r\n"},
    Rule{.id = "sender_syntax_code", .stages = kSession, .enh_subject = 1, .enh_detail = 7, .reason = sender_rejected,
         .example = "550 5.1.7 No such domain example.org.\r\n"},

    // 3. Limits, and texts a block-list word would otherwise take.
    Rule{.id = "rate_limit", .stages = kSession, .phrases = P::rate_limit, .reason = rate_limited,
         .example = "550-5.2.1 The user you are trying to contact is receiving mail at a rate that\r\n"
                    "550 5.2.1 prevents additional messages from being delivered.\r\n"},
    // Microsoft 365 4.7.850: "Access denied, please try again later" is its throttling of a sending IP.
    Rule{.id = "m365_throttled", .stages = kSession, .code_class = 4, .enh_class = 4, .enh_subject = 7,
         .enh_detail = 850, .reason = rate_limited, .example = "451 4.7.850 Access denied, please try again later\r\n"},
    // RFC 6531 §3.5 / RFC 3463 X.6.7 (RFC 6533 §3): non-ASCII address not permitted.
    Rule{.id = "smtputf8_code", .stages = kSession, .enh_subject = 6, .enh_detail = 7, .reason = smtputf8_unsupported,
         .example = "553 5.6.7 Address not accepted\r\n"},
    Rule{.id = "smtputf8_text", .stages = kSession, .phrases = P::smtputf8, .reason = smtputf8_unsupported,
         .example = "550 SMTPUTF8 is required, but was not offered\r\n"},
    // The server's own look-up failed for now (rblsmtpd "451 temporary RBL lookup error").
    Rule{.id = "local_error", .stages = kSession, .code_class = 4, .phrases = P::local_error,
         .reason = temporary_failure, .example = "451 temporary RBL lookup error\r\n"},
    //    Microsoft 365's directory-based edge blocking: 5.4.1 (or 5.7.504) with its own text. X.4.1
    //    elsewhere is a routing refusal; the same text from Postfix (554 5.7.1) is an access map.
    Rule{.id = "rcpt_m365_unknown", .stages = kRcpt, .code_class = 5, .enh_class = 5, .enh_subject = 4,
         .enh_detail = 1, .phrases = P::m365_unknown, .reason = mailbox_not_found,
         .example = "550 5.4.1 Recipient address rejected: Access denied. AS(201806281)\r\n"},
    Rule{.id = "rcpt_m365_unknown_504", .stages = kRcpt, .code_class = 5, .enh_class = 5, .enh_subject = 7,
         .enh_detail = 504, .phrases = P::m365_unknown, .reason = mailbox_not_found,
         .example = "550 5.7.504 [user@example.com]: Recipient address rejected: Access denied\r\n"},
    Rule{.id = "rcpt_account_blocked", .stages = kRcpt, .code_class = 5, .phrases = P::account_blocked,
         .reason = mailbox_disabled,
         .example = "550 5.5.0 Le compte du destinataire est bloque. The recipient account is blocked.\r\n"},
    Rule{.id = "rcpt_refused_by_rule", .stages = kRcpt, .code_class = 5, .phrases = P::recipient_refused,
         .reason = recipient_rejected, .example = "550 5.7.505 Access denied, banned recipient\r\n"},

    // 4. Relaying (the MX is not this domain's destination: "Relay access denied"), then we are
    //    refused: checked before any mailbox rule and before the generic 5.7.x rule.
    Rule{.id = "relay_denied", .stages = kSession, .phrases = P::relay_denied, .reason = relay_denied,
         .example = "554 5.7.1 <x@example.org>: Relay access denied\r\n"},
    // RFC 3463 X.5.3: too many recipients (the session then starts a new transaction).
    Rule{.id = "too_many_recipients", .stages = kSession, .enh_subject = 5, .enh_detail = 3, .reason = rate_limited,
         .example = "452 4.5.3 Error: recipient count exceeded\r\n"},
    Rule{.id = "blocklist", .stages = kSession, .phrases = P::blocklist, .reason = blocked,
         .example = "554 5.7.1 Service unavailable; Client host [192.0.2.1] blocked using zen.spamhaus.org\r\n"},

    // 5. A new client deferred while the server tests it: greylisting without the word (postscreen,
    //    Outlook.com, security gateways); the prober retries it like greylisting.
    Rule{.id = "first_contact", .stages = kSession, .code_class = 4, .phrases = P::first_contact,
         .reason = greylisted, .example = "450 4.3.2 Service currently unavailable\r\n"},
    Rule{.id = "rcpt_client_rejected", .stages = kRcpt, .code_class = 5, .phrases = P::client_rejected,
         .reason = blocked, .example = "550 5.3.2 Service currently unavailable\r\n"},
    //    Mailbox texts (RCPT TO only), the most specific first: full, disabled, unknown.
    Rule{.id = "rcpt_full_text", .stages = kRcpt, .phrases = P::mailbox_full, .reason = mailbox_full,
         .example = "552 Requested mail action aborted: exceeded storage allocation\r\n"},
    Rule{.id = "rcpt_disabled_text", .stages = kRcpt, .code_class = 5, .phrases = P::mailbox_disabled,
         .reason = mailbox_disabled, .example = "550 5.1.1 <x@icloud.com>: inactive email address\r\n"},
    Rule{.id = "rcpt_unknown_text", .stages = kRcpt, .code_class = 5, .phrases = P::no_such_user,
         .reason = mailbox_not_found, .example = "550 5.2.1 <x@example.jp>... User Unknown\r\n"},
    //    RFC 3463 §3.2: X.1.1 bad destination mailbox address, X.1.0 other address status, X.1.6
    //    mailbox moved without forwarding address; §3.3: X.2.1 mailbox disabled, X.2.2 mailbox full.
    Rule{.id = "rcpt_bad_mailbox", .stages = kRcpt, .code_class = 5, .enh_class = 5, .enh_subject = 1,
         .enh_detail = 1, .reason = mailbox_not_found,
         .example = "550-5.1.1 The email account that you tried to reach is gone.\r\n550 5.1.1 Please try again.\r\n"},
    Rule{.id = "rcpt_address_other", .stages = kRcpt, .code_class = 5, .enh_class = 5, .enh_subject = 1,
         .enh_detail = 0, .reason = mailbox_not_found, .example = "550 #5.1.0 Address refused.\r\n"},
    Rule{.id = "rcpt_mailbox_moved", .stages = kRcpt, .code_class = 5, .enh_class = 5, .enh_subject = 1,
         .enh_detail = 6, .reason = mailbox_not_found, .example = "550 5.1.6 Recipient moved\r\n"},
    Rule{.id = "rcpt_disabled_code", .stages = kRcpt, .code_class = 5, .enh_class = 5, .enh_subject = 2,
         .enh_detail = 1, .reason = mailbox_disabled,
         .example = "550-5.2.1 The email account that you tried to reach is off.\r\n550 5.2.1 Learn more\r\n"},
    Rule{.id = "rcpt_full_code", .stages = kRcpt, .enh_subject = 2, .enh_detail = 2, .reason = mailbox_full,
         .example = "452 4.2.2 <x@example.org>: Try again\r\n"},
    //    At MAIL FROM every X.1.x and every "does not exist" is about our sender.
    Rule{.id = "mail_address_code", .stages = bit(Stage::mail_from), .enh_subject = 1, .reason = sender_rejected,
         .example = "553 5.1.0 neko22nyaan neko.example.com gone\r\n"},
    Rule{.id = "mail_unknown_text", .stages = bit(Stage::mail_from), .phrases = P::no_such_user,
         .reason = sender_rejected, .example = "553 neko.example.com does not exist\r\n"},

    // 6. Greylisting: a temporary refusal that says "come back later" (450/451, RFC 5321 §4.2.2).
    Rule{.id = "greylisted", .stages = kSession, .codes = {450, 451}, .phrases = P::greylist, .reason = greylisted,
         .example = "451 4.7.1 Greylisting in action, please come back later\r\n"},
    Rule{.id = "access_denied", .stages = kSession, .phrases = P::access_denied, .reason = blocked,
         .example = "554 5.7.1 <x@example.org>: Recipient address rejected: Access denied\r\n"},
    Rule{.id = "rcpt_recipient_address", .stages = kRcpt, .code_class = 5, .phrases = P::recipient_address,
         .reason = recipient_rejected,
         .example = "504 5.5.2 <foo@foo>: Recipient address rejected: need fully-qualified address\r\n"},
    //    RFC 3463 §3.8: 5.7.x is a security or policy refusal; without a better text it is about us.
    Rule{.id = "policy", .stages = kSession, .code_class = 5, .enh_class = 5, .enh_subject = 7, .reason = blocked,
         .example = "550 5.7.1 Delivery not authorized, message refused\r\n"},
    // RFC 5321 §4.2.3: command syntax / sequence / parameter errors mean our client is wrong, not the
    // address (555: MAIL FROM/RCPT TO parameters not recognized).
    Rule{.id = "bad_command", .stages = kSession, .codes = {500, 502, 503, 504}, .reason = protocol_error,
         .example = "503 5.5.1 Error: need MAIL command\r\n"},
    Rule{.id = "bad_parameters", .stages = kSession, .codes = {555}, .reason = protocol_error,
         .example = "555 syntax error (#5.5.4)\r\n"},
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

constexpr std::size_t kGroups = static_cast<std::size_t>(P::access_denied) + 1;
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

// A phrase with '*' matches when its parts appear in order ("mail from * rejected").
bool phrase_in(std::string_view text, std::string_view phrase) {
  std::size_t from = 0;
  for (;;) {
    const std::size_t star = phrase.find('*');
    const std::string_view part = phrase.substr(0, star);
    const std::size_t at = text.find(part, from);
    if (at == std::string_view::npos) return false;
    if (star == std::string_view::npos) return true;
    from = at + part.size();
    phrase.remove_prefix(star + 1);
  }
}

bool phrases_match(Phrases p, std::string_view text) {
  if (p == P::none) return true;
  for (const std::string_view phrase : phrase_table()[static_cast<std::size_t>(p)])
    if (phrase_in(text, phrase)) return true;
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
    case P::sender: return "sender";
    case P::account_blocked: return "account_blocked";
    case P::local_error: return "local_error";
    case P::first_contact: return "first_contact";
    case P::recipient_refused: return "recipient_refused";
    case P::recipient_address: return "recipient_address";
    case P::client_rejected: return "client_rejected";
    case P::m365_unknown: return "m365_unknown";
    case P::access_denied: return "access_denied";
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
    // Keep the host (it names the block list), drop the scheme and the path.
    const std::size_t end = joined.find_first_of(" \t", i);
    std::string_view url = std::string_view(joined).substr(i, end == std::string::npos ? std::string::npos : end - i);
    if (const std::size_t scheme = url.find("://"); scheme != std::string_view::npos) url.remove_prefix(scheme + 3);
    url = url.substr(0, url.find_first_of("/?#"));
    out += ' ';
    out += url;
    out += ' ';
    i = end == std::string::npos ? joined.size() : end;
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
