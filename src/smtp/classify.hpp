#pragma once
// What an SMTP reply means for the verification, as data (STYLE.md §5): one table of rules
// (src/smtp/classify.cpp) maps (stage, reply code, RFC 3463 enhanced code, phrase group) to a reason,
// first match wins, in written order. Phrase groups live in data/smtp/reply_phrases.txt.
// Entry points: classify() for a reply, classify_failure() for a transport failure.
//
// Invariant (checked at compile time): only the RCPT TO stage gives mailbox verdicts. A refusal at
// connect, banner, EHLO/HELO, STARTTLS or MAIL FROM says something about us or the server, never
// about the mailbox.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "smtp/reply.hpp"
#include "verdict/reason.hpp"

namespace mailsift::smtp {

/// The step of the RFC 5321 §3 / §4.1.1 session a reply answers.
enum class Stage : std::uint8_t { connect, banner, ehlo, helo, starttls, mail_from, rcpt_to, rset, quit };
[[nodiscard]] std::string_view name(Stage s) noexcept;

/// The named phrase groups of data/smtp/reply_phrases.txt (`none`: text not looked at).
enum class Phrases : std::uint8_t {
  none,
  no_such_user,
  mailbox_disabled,
  mailbox_full,
  blocklist,
  greylist,
  rate_limit,
  relay_denied,
  smtputf8,
  sender,
  account_blocked,
  local_error,
  first_contact,
  recipient_refused,
  recipient_address,
  client_rejected,
  m365_unknown,
  access_denied,
};
[[nodiscard]] std::string_view name(Phrases p) noexcept;
/// The phrases of one group (lower case), from the embedded data file.
[[nodiscard]] std::span<const std::string_view> phrases(Phrases group);

/// One row of the classification table. A field left at its default matches anything.
struct Rule {
  std::string_view id;     // stable name of the row, for logs and evidence
  std::uint16_t stages;    // bit set of Stage (stage_bit)
  int code_class = 0;      // 2..5: first digit of the code; 0: any
  int codes[4] = {};       // if codes[0] != 0: the code must be one of these (0-terminated)
  int enh_class = 0;       // enhanced code required when any enh_ field is set; 0: any class
  int enh_subject = -1;    // -1: any
  int enh_detail = -1;     // -1: any
  Phrases phrases = Phrases::none;
  std::optional<Reason> reason;  // nullopt: the step succeeded, go on
  std::string_view example;      // a reply this row must classify (walked by a unit test)
};

[[nodiscard]] constexpr std::uint16_t stage_bit(Stage s) noexcept {
  return static_cast<std::uint16_t>(1U << static_cast<unsigned>(s));
}

/// The table, in evaluation order.
[[nodiscard]] std::span<const Rule> rules() noexcept;

struct Classification {
  std::optional<Reason> reason;  // nullopt: the step succeeded and the session goes on
  std::size_t rule = 0;          // index into rules() of the row that matched
};

/// Classifies `reply` to the command of `stage`. Total: the last rows match every reply, so every
/// reply gets an answer (a stage with no reply, connect, classifies as if it were the banner).
[[nodiscard]] Classification classify(Stage stage, const Reply& reply);

/// What went wrong below the reply level.
enum class Failure : std::uint8_t {
  refused,          // TCP connect refused / unreachable / reset
  timed_out,        // a deadline expired (connect, or waiting for a reply)
  closed,           // the server closed the connection where a reply was due
  malformed_reply,  // ReplyReader::error()
};
/// connect_failed for refused (and for closed before or at the banner), timeout for timed_out,
/// protocol_error for malformed replies and closes later in the session. Never a mailbox verdict.
[[nodiscard]] Reason classify_failure(Stage stage, Failure failure) noexcept;

/// The reply text the phrase groups are matched against: lines joined by spaces, ASCII lower
/// case, URLs (http://, https://, www. tokens) replaced by their host name between spaces: a
/// link's path can hold any word ("550", "user-unknown"), but its host names the block list when a
/// DNSBL's whole answer is a URL (rblsmtpd: `553 https://www.spamhaus.org/query/ip/…`).
[[nodiscard]] std::string match_text(const Reply& reply);

}  // namespace mailsift::smtp
