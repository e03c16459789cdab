#include "verdict/reason.hpp"

#include <array>
#include <cstddef>

namespace mailsift {
namespace {

using enum Reason;
constexpr Status V = Status::valid;
constexpr Status I = Status::invalid;
constexpr Status R = Status::risky;
constexpr Status U = Status::unknown;

// Order must follow the enum: a static_assert below and a unit test pin it.
constexpr std::array kReasons = {
    ReasonInfo{well_formed, "well_formed", V, "well-formed address at a plausible domain"},
    ReasonInfo{mx_found, "mx_found", V, "well-formed address at a domain whose mail servers were found in DNS"},
    ReasonInfo{mailbox_exists, "mailbox_exists", V, "the mail server accepted the mailbox at RCPT TO"},
    ReasonInfo{disposable, "disposable", R, "domain belongs to a disposable (throwaway) mail service"},
    ReasonInfo{possible_typo, "possible_typo", R, "domain looks like a misspelling of a major mailbox provider"},
    ReasonInfo{address_literal, "address_literal", R, "address uses an IP address literal instead of a domain; public servers rarely accept it"},
    ReasonInfo{domain_blocklisted, "domain_blocklisted", R, "domain is listed on a domain block list (RHSBL)"},
    ReasonInfo{parked_domain, "parked_domain", R, "domain has no MX and its SPF record says it sends no mail (v=spf1 -all): likely parked"},
    ReasonInfo{mailbox_full, "mailbox_full", R, "the mailbox exists but is over its quota; mail to it bounces until it is emptied"},
    ReasonInfo{catch_all, "catch_all", R, "the domain accepts mail for any address, so acceptance proves nothing about this one"},
    ReasonInfo{row_unreadable, "row_unreadable", I, "the input row could not be read: malformed CSV or JSON, too long, or no address in it"},
    ReasonInfo{reserved_domain, "reserved_domain", I, "domain is reserved or special-use and cannot receive mail on the internet"},
    ReasonInfo{unknown_tld, "unknown_tld", I, "top-level domain does not exist in the public suffix list"},
    ReasonInfo{no_domain, "no_domain", I, "domain does not exist in DNS (NXDOMAIN)"},
    ReasonInfo{null_mx, "null_mx", I, "domain publishes a null MX (RFC 7505): it accepts no mail"},
    ReasonInfo{no_mail_server, "no_mail_server", I, "domain has no MX record and no address, or none of its MX hosts has an address"},
    ReasonInfo{unsafe_target, "unsafe_target", I, "every mail server address is loopback, private or otherwise not on the public internet"},
    ReasonInfo{mailbox_not_found, "mailbox_not_found", I, "the mail server says the mailbox does not exist"},
    ReasonInfo{mailbox_disabled, "mailbox_disabled", I, "the mail server says the mailbox is disabled or inactive"},
    ReasonInfo{recipient_rejected, "recipient_rejected", I, "the mail server permanently refused the recipient without saying why"},
    ReasonInfo{dns_error, "dns_error", U, "DNS lookup failed (SERVFAIL, REFUSED or timeout); try again later"},
    ReasonInfo{blocked, "blocked", U, "the mail server refused us (block list, reputation or policy); the mailbox was not checked"},
    ReasonInfo{greylisted, "greylisted", U, "the mail server deferred us (greylisting); try again later"},
    ReasonInfo{rate_limited, "rate_limited", U, "the mail server limits our rate (connections, messages or recipients); try again later"},
    ReasonInfo{relay_denied, "relay_denied", U, "the mail server does not accept mail for this domain (relay denied); the mailbox was not checked"},
    ReasonInfo{smtputf8_unsupported, "smtputf8_unsupported", U, "the address needs SMTPUTF8, which the mail server does not offer"},
    ReasonInfo{temporary_failure, "temporary_failure", U, "the mail server failed temporarily (4xx); try again later"},
    ReasonInfo{session_rejected, "session_rejected", U, "the mail server refused the session before the recipient was asked"},
    ReasonInfo{protocol_error, "protocol_error", U, "the mail server broke the SMTP protocol (malformed or unexpected reply)"},
    ReasonInfo{connect_failed, "connect_failed", U, "no mail server could be reached (connection refused, unreachable or closed)"},
    ReasonInfo{timeout, "timeout", U, "the mail server did not answer in time"},
    ReasonInfo{syntax_empty, "syntax.empty", I, "input is empty"},
    ReasonInfo{syntax_missing_at, "syntax.missing_at", I, "no @ separating local part and domain"},
    ReasonInfo{syntax_fullwidth_at, "syntax.fullwidth_at", I, "uses a full-width or small @ look-alike instead of @"},
    ReasonInfo{syntax_multiple_at, "syntax.multiple_at", I, "more than one @ outside a quoted local part"},
    ReasonInfo{syntax_display_name, "syntax.display_name", I, "contains a display name or angle brackets; give the bare address"},
    ReasonInfo{syntax_comment, "syntax.comment", I, "contains an RFC 5322 comment, which cannot be used in SMTP"},
    ReasonInfo{syntax_whitespace, "syntax.whitespace", I, "contains whitespace outside a quoted local part"},
    ReasonInfo{syntax_control_character, "syntax.control_character", I, "contains a control character (CR, LF, NUL, ...)"},
    ReasonInfo{syntax_invalid_utf8, "syntax.invalid_utf8", I, "contains bytes that are not well-formed UTF-8"},
    ReasonInfo{syntax_unsafe_unicode, "syntax.unsafe_unicode", I, "contains unassigned, private-use, bidi-control or invisible Unicode characters"},
    ReasonInfo{syntax_empty_local, "syntax.empty_local", I, "local part before the @ is empty"},
    ReasonInfo{syntax_leading_dot, "syntax.leading_dot", I, "local part starts with a dot"},
    ReasonInfo{syntax_trailing_dot, "syntax.trailing_dot", I, "local part ends with a dot"},
    ReasonInfo{syntax_consecutive_dots, "syntax.consecutive_dots", I, "two dots in a row"},
    ReasonInfo{syntax_invalid_character, "syntax.invalid_character", I, "local part contains a character not allowed outside quotes"},
    ReasonInfo{syntax_unterminated_quote, "syntax.unterminated_quote", I, "quoted local part has no closing quote"},
    ReasonInfo{syntax_bad_quoted_string, "syntax.bad_quoted_string", I, "quoted local part is malformed or is followed by more text"},
    ReasonInfo{syntax_local_too_long, "syntax.local_too_long", I, "local part is longer than 64 octets"},
    ReasonInfo{syntax_address_too_long, "syntax.address_too_long", I, "address is longer than 254 octets"},
    ReasonInfo{syntax_empty_domain, "syntax.empty_domain", I, "domain after the @ is empty"},
    ReasonInfo{syntax_domain_leading_dot, "syntax.domain_leading_dot", I, "domain starts with a dot"},
    ReasonInfo{syntax_domain_trailing_dot, "syntax.domain_trailing_dot", I, "domain ends with a dot"},
    ReasonInfo{syntax_label_too_long, "syntax.label_too_long", I, "a domain label is longer than 63 octets"},
    ReasonInfo{syntax_domain_too_long, "syntax.domain_too_long", I, "domain is longer than 253 octets"},
    ReasonInfo{syntax_label_hyphen, "syntax.label_hyphen", I, "a domain label starts or ends with a hyphen"},
    ReasonInfo{syntax_invalid_domain_character, "syntax.invalid_domain_character", I, "domain contains a character other than letters, digits, hyphens and dots"},
    ReasonInfo{syntax_single_label_domain, "syntax.single_label_domain", I, "domain has a single label; internet domains have at least two"},
    ReasonInfo{syntax_numeric_tld, "syntax.numeric_tld", I, "top-level domain is all digits"},
    ReasonInfo{syntax_bad_idn, "syntax.bad_idn", I, "internationalized domain name is not valid under IDNA2008/UTS #46"},
    ReasonInfo{syntax_bad_address_literal, "syntax.bad_address_literal", I, "address literal is not a valid [IPv4] or [IPv6:...] address"},
    ReasonInfo{check_pending, "check_pending", U, "the check did not finish within the request's timeout; it goes on: ask again shortly"},
    ReasonInfo{sender_rejected, "sender_rejected", U, "the mail server refused our envelope sender (MAIL FROM): nothing was learnt about the mailbox"},
    ReasonInfo{syntax_reserved_label, "syntax.reserved_label", I, "a domain label has '--' in positions 3-4 but is not a valid xn-- A-label (RFC 5890 §2.3.1)"},
    ReasonInfo{check_failed, "check_failed", U, "the check could not be finished: every cluster worker that took it stopped (see the dead-letter stream)"},
    ReasonInfo{held_back, "held_back", U, "not asked: this domain's mail servers refused us recently (--history); asked again after --history-backoff"},
    ReasonInfo{domain_not_active, "domain_not_active", R, "the domain's registration is on hold, in its redemption period or pending delete (RDAP): mail to it is not received reliably"},
};

constexpr bool in_enum_order() {
  for (std::size_t i = 0; i < kReasons.size(); ++i)
    if (static_cast<std::size_t>(kReasons[i].reason) != i) return false;
  return true;
}
static_assert(in_enum_order(), "kReasons must list reasons in enum order");
static_assert(kReasons.size() == static_cast<std::size_t>(domain_not_active) + 1);

}  // namespace

const ReasonInfo& info(Reason r) noexcept { return kReasons[static_cast<std::size_t>(r)]; }

std::span<const ReasonInfo> all_reasons() noexcept { return kReasons; }

std::string_view name(Status s) noexcept {
  switch (s) {
    case Status::valid: return "valid";
    case Status::invalid: return "invalid";
    case Status::risky: return "risky";
    case Status::unknown: return "unknown";
  }
  return "unknown";
}

}  // namespace mailsift
