#include "verdict/classify.hpp"

#include <algorithm>

#include "verdict/score.hpp"

namespace mailsift {

void Classifier::classify(std::string_view input, Result& out) {
  out.email.assign(input);
  out.flags = Flags{};
  out.checks = kCheckSyntax;
  const Reason syntax = address::parse(input, out.address);
  out.parsed = syntax == Reason::well_formed;
  if (!out.parsed) {
    out.facts.reset();
    out.reason = syntax;
    decide(out);
    return;
  }
  const address::Address& a = out.address;
  out.flags.smtputf8 = a.smtputf8;
  out.flags.quoted_local = a.quoted_local;
  out.flags.address_literal = a.literal != address::Literal::none;
  if (!a.quoted_local) {
    out.flags.role = knowledge_.is_role(a.local());
    out.flags.suspicious = knowledge_.is_suspicious(a.local());
  }
  if (out.flags.address_literal) {
    out.facts.reset();
  } else {
    out.checks |= kCheckDomain;
    // Same pointer, no reference-count traffic: lists repeat their domains.
    if (const auto& facts = cache_.get(a.domain()); out.facts != facts) out.facts = facts;
    out.flags.disposable = out.facts->disposable;
    out.flags.free = out.facts->free;
  }
  out.reason = Reason::well_formed;
  decide(out);
}

void decide(Result& r) {
  if (!r.parsed) {
    r.status = Status::invalid;
    r.score = 0.0;
    return;
  }
  // Precedence, first match wins: a domain that cannot exist beats every risk signal, and a
  // disposable domain beats a typo (gmial.com is both a typo-squat and a throwaway service).
  if (r.flags.address_literal) {
    r.reason = Reason::address_literal;
  } else if (r.facts && r.facts->reason != Reason::well_formed) {
    r.reason = r.facts->reason;
  } else if (r.flags.disposable) {
    r.reason = Reason::disposable;
  } else if (r.facts && !r.facts->suggestion.empty()) {
    r.reason = Reason::possible_typo;
  } else {
    r.reason = Reason::well_formed;
  }
  r.status = info(r.reason).status;
  if (r.status == Status::invalid) {
    r.score = 0.0;
    return;
  }
  double s = score::kSyntax;
  if (r.checks & kCheckDomain) s += score::kDomain;
  if (r.flags.disposable) s -= score::kDisposable;
  if (r.reason == Reason::possible_typo) s -= score::kPossibleTypo;
  if (r.flags.address_literal) s -= score::kAddressLiteral;
  if (r.flags.suspicious) s -= score::kSuspicious;
  if (r.flags.role) s -= score::kRole;
  if (r.flags.quoted_local) s -= score::kQuotedLocal;
  r.score = std::clamp(s, 0.0, 1.0);
}

}  // namespace mailsift
