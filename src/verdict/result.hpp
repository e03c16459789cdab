#pragma once
// The result of verifying one address: the one type every stage fills in and every output format
// renders. The JSON schema it maps to is written down once, in docs/schema.md.
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "address/address.hpp"
#include "dns/evidence.hpp"
#include "domain/knowledge.hpp"
#include "smtp/probe.hpp"
#include "verdict/reason.hpp"
#include "verdict/reputation.hpp"

namespace mailsift {
namespace domain {
struct Registration;  // domain/rdap.hpp
}

/// How far verification goes. Each level includes the ones before it.
enum class Level : std::uint8_t { syntax, dns, smtp };

/// Which checks ran, as bits (rendered as the `checks` array).
enum Check : std::uint32_t {
  kCheckSyntax = 1u << 0,
  kCheckDomain = 1u << 1,
  kCheckDns = 1u << 2,
  kCheckSmtp = 1u << 3,
};

struct Flags {
  bool disposable = false;
  bool role = false;
  bool free = false;
  std::optional<bool> catch_all;  // null until an SMTP probe tests it
  bool smtputf8 = false;
  bool quoted_local = false;
  bool address_literal = false;
  bool suspicious = false;
  bool blocklisted = false;  // listed on a --domain-blocklist zone
  bool new_domain = false;   // --rdap: registered less than 30 days ago (docs/rdap.md)
};

struct Result {
  std::string email;  // the input, exactly as given (after trimming surrounding blanks)
  Status status = Status::unknown;
  Reason reason = Reason::syntax_empty;
  double score = 0.0;
  Flags flags;
  std::uint32_t checks = 0;
  bool parsed = false;      // syntax passed: `address` is meaningful
  address::Address address;  // normalized form, when parsed
  // The domain's offline facts, when has_facts (false for syntax failures and literals). Held by
  // value: a Result reused row to row keeps its strings' storage, and nothing is shared between
  // threads or counted per address.
  bool has_facts = false;
  domain::DomainFacts facts;
  std::shared_ptr<const dns::DomainDns> dns;          // set when the dns level ran (kCheckDns)
  std::optional<smtp::AddressProbe> smtp;             // set when the SMTP probe ran (kCheckSmtp)
  /// A verdict restored from a --state or --cache file (bulk runs): the `dns` and `smtp` JSON the
  /// first run wrote, rendered as is (the evidence objects themselves are not kept). Null otherwise.
  std::shared_ptr<const std::string> restored_dns;
  std::shared_ptr<const std::string> restored_smtp;
  /// What --history knew of the registrable domain before this check (verdict/reputation.hpp);
  /// null without --history. Shared by the rows of one domain.
  reputation::ReputationPtr reputation;
  /// The same restored from a stored verdict (verdict/stored.hpp), rendered as is.
  std::shared_ptr<const std::string> restored_reputation;
  /// --rdap: the registrable domain's registration (docs/rdap.md), shared by the rows at the
  /// domain; null when not looked up. From a stored verdict: its JSON, rendered as is.
  std::shared_ptr<const domain::Registration> registration;
  std::shared_ptr<const std::string> restored_registration;

  [[nodiscard]] std::string_view registrable_domain() const noexcept {
    return has_facts ? std::string_view(facts.registrable) : std::string_view{};
  }
  [[nodiscard]] std::string_view suggested_domain() const noexcept {
    return has_facts ? std::string_view(facts.suggestion) : std::string_view{};
  }
};

}  // namespace mailsift
