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
  /// The policy that applies to the looked-up domain, lower-case ("none", "quarantine", "reject";
  /// "" if absent): the p= tag; for a record inherited from the organizational domain, its sp= tag
  /// when it has one (RFC 7489 §6.3).
  std::string policy;
  std::string subdomain_policy;  // the sp= tag, lower-case; "" if absent
  /// Where the record was found: the looked-up domain itself, or (inherited) its organizational
  /// domain. Empty straight out of find_dmarc().
  std::string domain;
  /// The domain has no DMARC record of its own; this one is its organizational domain's
  /// (RFC 7489 §6.6.3 step 3).
  bool inherited = false;
  bool multiple = false;  // more than one v=DMARC1 record: no policy applies (RFC 7489 §6.6.3)
};

/// The SPF record among the TXT records at a domain: the one starting with "v=spf1" followed by a
/// space or the end (case-insensitive, RFC 7208 §4.5).
[[nodiscard]] std::optional<Spf> find_spf(std::span<const std::string> txt);
/// The DMARC record among the TXT records at _dmarc.<domain>: starts with "v=DMARC1" (RFC 7489 §6.4).
/// `policy` is its p= tag; `domain` and `inherited` are left for the caller.
[[nodiscard]] std::optional<Dmarc> find_dmarc(std::span<const std::string> txt);
/// Marks `d`, found at _dmarc.<org_domain>, as inherited by a subdomain of `org_domain`: its sp=
/// policy, when present, becomes the applicable `policy` (RFC 7489 §6.3, §6.6.3).
void inherit_dmarc(Dmarc& d, std::string_view org_domain);

}  // namespace mailsift::dns
