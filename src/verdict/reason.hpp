#pragma once
// The vocabulary of results: every status and reason code any stage can produce, in one table
// (verdict/reasons.cpp). Codes are part of the public interface (users' scripts match on them):
// never rename one; docs/reasons.md documents each and a test checks that it does.
#include <cstdint>
#include <span>
#include <string_view>

namespace mailsift {

enum class Status : std::uint8_t { valid, invalid, risky, unknown };

enum class Reason : std::uint8_t {
  // valid
  well_formed,
  mx_found,
  mailbox_exists,
  // risky
  disposable,
  possible_typo,
  address_literal,
  domain_blocklisted,
  parked_domain,
  mailbox_full,
  catch_all,
  // invalid: the input row itself (bulk files)
  row_unreadable,
  // invalid: domain knowledge
  reserved_domain,
  unknown_tld,
  // invalid: DNS
  no_domain,
  null_mx,
  no_mail_server,
  unsafe_target,
  // invalid: SMTP
  mailbox_not_found,
  mailbox_disabled,
  recipient_rejected,
  // unknown: DNS
  dns_error,
  // unknown: SMTP (never a statement about the mailbox)
  blocked,
  greylisted,
  rate_limited,
  relay_denied,
  smtputf8_unsupported,
  temporary_failure,
  session_rejected,
  protocol_error,
  connect_failed,
  timeout,
  // invalid: syntax (RFC 5321 §4.1.2 / RFC 6531 / IDNA2008)
  syntax_empty,
  syntax_missing_at,
  syntax_fullwidth_at,
  syntax_multiple_at,
  syntax_display_name,
  syntax_comment,
  syntax_whitespace,
  syntax_control_character,
  syntax_invalid_utf8,
  syntax_unsafe_unicode,
  syntax_empty_local,
  syntax_leading_dot,
  syntax_trailing_dot,
  syntax_consecutive_dots,
  syntax_invalid_character,
  syntax_unterminated_quote,
  syntax_bad_quoted_string,
  syntax_local_too_long,
  syntax_address_too_long,
  syntax_empty_domain,
  syntax_domain_leading_dot,
  syntax_domain_trailing_dot,
  syntax_label_too_long,
  syntax_domain_too_long,
  syntax_label_hyphen,
  syntax_invalid_domain_character,
  syntax_single_label_domain,
  syntax_numeric_tld,
  syntax_bad_idn,
  syntax_bad_address_literal,
  // unknown: the HTTP API (appended last: stored verdicts keep the numbers of the older reasons)
  check_pending,
  // unknown: SMTP, a refusal of our envelope sender (issue 13; appended, numbers of older reasons kept)
  sender_rejected,
  // invalid: syntax, a reserved LDH label ("ab--cd": RFC 5890 §2.3.1) that is not a valid A-label
  syntax_reserved_label,
  // unknown: a cluster could not finish the check (every worker that took it stopped; appended)
  check_failed,
  // unknown: not asked, --history says the domain's servers refused us within --history-backoff (appended)
  held_back,
  // risky: RDAP says the domain is on hold, in its redemption period or pending delete (--rdap; appended)
  domain_not_active,
};

struct ReasonInfo {
  Reason reason;
  std::string_view code;     // stable machine code, e.g. "syntax.missing_at"
  Status status;             // the status this reason implies
  std::string_view message;  // short human explanation
};

[[nodiscard]] const ReasonInfo& info(Reason r) noexcept;
[[nodiscard]] inline std::string_view code(Reason r) noexcept { return info(r).code; }
[[nodiscard]] std::string_view name(Status s) noexcept;
/// Every reason, in declaration order (for docs checks and tests).
[[nodiscard]] std::span<const ReasonInfo> all_reasons() noexcept;

}  // namespace mailsift
