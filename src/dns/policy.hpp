#pragma once
// SPF and DMARC records: pure parsers of TXT strings. Entry points: find_spf(), find_dmarc().
// Only what the verdict uses is extracted; mailsift never evaluates SPF for a sender.
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace mailsift::dns {

struct Spf {
  std::string record;
  /// Qualifier of the `all` mechanism: '+', '-', '~', '?' (RFC 7208 §4.6.2, §5.1); 0 when the
  /// record has no `all` (or only a redirect=, which we do not follow).
  char all = 0;
  bool multiple = false;  // more than one v=spf1 record: a permerror (RFC 7208 §4.5)
};

struct Dmarc {
  std::string record;
  std::string policy;  // the p= tag, lower-case: "none", "quarantine", "reject"; "" if absent
  bool multiple = false;  // more than one v=DMARC1 record: no policy applies (RFC 7489 §6.6.3)
};

/// The SPF record among the TXT records at a domain: the one starting with "v=spf1" followed by a
/// space or the end (case-insensitive, RFC 7208 §4.5).
[[nodiscard]] std::optional<Spf> find_spf(std::span<const std::string> txt);
/// The DMARC record among the TXT records at _dmarc.<domain>: starts with "v=DMARC1" (RFC 7489 §6.4).
[[nodiscard]] std::optional<Dmarc> find_dmarc(std::span<const std::string> txt);

}  // namespace mailsift::dns
