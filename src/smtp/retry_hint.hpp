#pragma once
// The delay a deferral asks for in its text: many greylisters state how long they want the client to
// wait, and a retry before then is only deferred again. Entry point: retry_after().
//
// Real-server texts it reads (case-insensitive):
//   postgrey --greylist-text "%s"   450 4.2.0 ... Greylisted for 300 seconds, see http://...
//   sqlgrey                         450 Greylisted for 5 minutes
//   milter-greylist                 451 4.7.1 Greylisting in action, please come back in 00:05:00
//   Exim ACLs, greylistd            please try again in 5 minutes / retry after 300 seconds / wait 300s
// Parse tolerantly, take conservatively: a number counts only with a unit (second, minute, hour,
// day; s/sec/min/m/h/hr/d) or as a clock duration (H:MM:SS, M:SS), right after a word that makes it
// a delay: "for", "after", "wait", "retry", and "in" after a word of coming back ("again", "back",
// "retry", "try", "resend", "reconnect", "later"); a few filler words may come between ("at least",
// "another", "the next", ...). A clock time only after "in", "for" or "wait": "after 00:05:00" may
// be a time of day. Enhanced codes (4.2.0), addresses, IP addresses, URLs and paths never give a
// hint: every word of the phrase must stand alone between blanks (a number glued to '.', '/', '@',
// '-' or ':' is not one). When several delays are stated, the first one counts.
//
// Untrusted input: the text is bounded by the reply reader's limits (smtp/reply.hpp), the scan is
// one pass over it, numbers over 9 digits are refused (no overflow).
#include <chrono>
#include <optional>

#include "smtp/reply.hpp"

namespace mailsift::smtp {

/// The longest delay taken from a reply: a greylister that asks for more than a day is not one we
/// will wait for anyway (--max-wait is minutes), and a longer wait cannot be meant as "come back".
inline constexpr std::chrono::seconds kMaxRetryHint{24 * 3600};
/// A stated delay beyond this is not a greylisting delay at all (a counter, an identifier, a quota
/// period): no hint rather than a capped one.
inline constexpr std::chrono::seconds kAbsurdRetryHint{7 * 24 * 3600};

/// The delay `reply`'s text asks for before the next try, capped at kMaxRetryHint; nullopt when it
/// states none clearly, or an absurd one. Looks at the text only: the caller decides whether the
/// reply is a deferral the hint applies to (smtp/classify.hpp: greylisting). Never throws.
[[nodiscard]] std::optional<std::chrono::seconds> retry_after(const Reply& reply) noexcept;

}  // namespace mailsift::smtp
