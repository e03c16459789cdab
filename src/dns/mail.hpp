#pragma once
// The DNS stage for one mail domain: MX (or implicit MX), their addresses through the
// target-safety rule, SPF, DMARC and domain block lists. Entry point: MailLookup::lookup
// (callback) / async_lookup (any Asio completion token). decide_dns() is the pure verdict.
#include <cstdint>
#include <functional>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "dns/evidence.hpp"
#include "dns/resolver.hpp"

namespace mailsift::dns {

struct MailOptions {
  bool allow_private_targets = false;       // --allow-private-targets
  std::vector<std::string> blocklist_zones;  // --domain-blocklist
  std::uint64_t seed = 0;                    // shuffles equal MX preferences; 0: random
  // At most this many exchanges are resolved: a domain with 1,000 MX records must not cost 2,000
  // queries. Postfix tries 5 addresses (smtp_mx_address_limit); 10 hosts is plenty.
  std::size_t max_exchanges = 10;
};

using DomainDnsPtr = std::shared_ptr<const DomainDns>;

class MailLookup {
 public:
  MailLookup(Resolver& resolver, MailOptions options);

  /// Looks up the mail setup of `domain` (an A-label, lower case) whose registrable domain is
  /// `registrable` (its organizational domain: for provider identification and the DMARC
  /// fallback of RFC 7489 §6.6.3; may be empty). `done` runs on the io_context. Every query of
  /// the lookup goes in `lane` (Resolver::query).
  void lookup(const std::string& domain, const std::string& registrable, std::function<void(DomainDnsPtr)> done,
              Lane lane = Lane::bulk);

  /// The evidence for an address literal ("[192.0.2.1]"): no query, the target-safety rule only.
  [[nodiscard]] DomainDnsPtr literal(std::string_view domain) const;

  template <typename Token>
  auto async_lookup(const std::string& domain, const std::string& registrable, Token&& token) {
    return boost::asio::async_initiate<Token, void(DomainDnsPtr)>(
        [this](auto handler, const std::string& d, const std::string& r) {
          auto h = std::make_shared<decltype(handler)>(std::move(handler));
          lookup(d, r, [h](DomainDnsPtr p) { std::move(*h)(std::move(p)); });
        },
        token, domain, registrable);
  }

 private:
  struct Job;
  Resolver& resolver_;
  MailOptions opt_;
  std::mt19937_64 rng_;
};

/// The DNS stage's verdict from its evidence, by written precedence (first match wins):
///   NXDOMAIN on the domain → no_domain; a transient error on the MX query → dns_error;
///   null MX → null_mx; no host has any address: a transient error on any of them → dns_error,
///   else no_mail_server; every address refused → unsafe_target; listed on a block list →
///   domain_blocklisted; implicit MX and SPF "-all" → parked_domain; else mx_found.
/// Fills d.reason (and d.error when the verdict rests on one).
void decide_dns(DomainDns& d);

}  // namespace mailsift::dns
