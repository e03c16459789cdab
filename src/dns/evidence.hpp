#pragma once
// What the DNS stage found about one mail domain: the `dns` object of a result (docs/schema.md).
// Plain data, shared read-only by every address at the domain.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "dns/policy.hpp"
#include "dns/resolver.hpp"
#include "verdict/reason.hpp"

namespace mailsift::dns {

struct Refused {
  std::string address;
  std::string_view why;  // unsafe_reason() code
};

struct MxHost {
  std::string host;  // lower-case, no trailing dot; the domain itself for an implicit MX
  std::uint16_t preference = 0;
  std::vector<std::string> addresses;  // safe to probe, A before AAAA
  std::vector<Refused> refused;        // resolved but refused by the target-safety rule
  /// The outcome of its A and AAAA queries taken together: ok when either gave an address, else
  /// the transient error if any, else NXDOMAIN when both said so, else NODATA.
  Status status = Status::ok;
  /// The exchange is an IP address written as a name (`MX 10 10.25.0.5.`): RFC 5321 §5.1 wants a
  /// domain name there, so it is not resolved and gives no address (status `error`).
  bool ip_literal_name = false;
};

struct BlocklistHit {
  std::string zone;
  std::string answer;  // the 127.0.0.x A record (RFC 5782 §2.1)
  std::string text;    // its TXT reason, if any
};

struct DomainDns {
  /// The verdict of the DNS stage alone (decide_dns): mx_found, null_mx, no_domain,
  /// no_mail_server, unsafe_target, dns_error, domain_blocklisted or parked_domain.
  Reason reason = Reason::dns_error;
  /// The DNS outcome that made the verdict `dns_error` / `no_domain` (SERVFAIL, TIMEOUT, NXDOMAIN ...).
  std::optional<Status> error;
  bool implicit_mx = false;  // no MX records: the domain's own A/AAAA is the mail server (RFC 5321 §5.1)
  bool null_mx = false;      // "MX 0 ." (RFC 7505)
  bool literal = false;      // an address literal: no lookup, only the target-safety rule
  std::vector<MxHost> mx;    // in the order they would be tried
  std::optional<Spf> spf;
  std::optional<Dmarc> dmarc;
  std::string_view provider;  // identify_provider(); empty when there is no MX host
  std::vector<BlocklistHit> blocklists;
  std::size_t queries = 0;    // DNS questions asked for this domain (cache hits included)

  [[nodiscard]] bool has_target() const noexcept {
    for (const MxHost& m : mx)
      if (!m.addresses.empty()) return true;
    return false;
  }
};

}  // namespace mailsift::dns
