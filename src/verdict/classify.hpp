#pragma once
// The offline verifier: syntax + domain knowledge → Result. Entry point: Classifier::classify.
#include <memory>
#include <string_view>

#include "domain/knowledge.hpp"
#include "verdict/result.hpp"

namespace mailsift {

/// One per worker thread (it owns a domain facts cache); the Knowledge it reads is shared.
class Classifier {
 public:
  explicit Classifier(const domain::Knowledge& k) : knowledge_(k), cache_(k) {}
  /// The same over `shared`, the one facts cache of all the workers of a run (engine/offline.hpp),
  /// which must outlive this Classifier.
  Classifier(const domain::Knowledge& k, domain::SharedFacts* shared) : knowledge_(k), cache_(k, shared) {}

  /// Fills `out` (reusing its storage) with the verdict for one input. Never throws for bad input.
  void classify(std::string_view input, Result& out);

 private:
  const domain::Knowledge& knowledge_;
  domain::FactsCache cache_;
};

/// The status/reason precedence and the score, from the facts gathered so far. Pure: a table test
/// pins the order. Fills status, reason and score.
void decide(Result& r);

/// Adds the DNS stage's evidence for the address's domain to an offline result and decides again.
void apply_dns(Result& r, std::shared_ptr<const dns::DomainDns> d);

/// Adds the SMTP probe's answer for the address and decides again.
void apply_smtp(Result& r, smtp::AddressProbe p);

/// Adds the --rdap answer for the address's registrable domain (docs/rdap.md): the `new_domain`
/// flag and penalty, and `domain_not_active` over a valid verdict. A live result is decided again;
/// one restored from a stored verdict (its evidence is JSON text) is adjusted in place.
void apply_registration(Result& r, std::shared_ptr<const domain::Registration> reg);

/// The SMTP stage's own verdict for the address: its RCPT outcome, with an accepted address at a
/// catch-all domain turned into `catch_all` (acceptance proves nothing there).
[[nodiscard]] Reason smtp_reason(const smtp::AddressProbe& p);

}  // namespace mailsift
