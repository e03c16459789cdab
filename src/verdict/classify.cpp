#include "verdict/classify.hpp"

#include <algorithm>

#include "domain/rdap.hpp"
#include "verdict/score.hpp"

namespace mailsift {

void Classifier::classify(std::string_view input, Result& out) {
  out.email.assign(input);
  out.flags = Flags{};
  out.dns.reset();
  out.smtp.reset();
  out.restored_dns.reset();
  out.restored_smtp.reset();
  out.reputation.reset();
  out.restored_reputation.reset();
  out.registration.reset();
  out.restored_registration.reset();
  out.checks = kCheckSyntax;
  const Reason syntax = address::parse(input, out.address);
  out.parsed = syntax == Reason::well_formed;
  if (!out.parsed) {
    out.has_facts = false;
    out.reason = syntax;
    decide(out);
    return;
  }
  const address::Address& a = out.address;
  out.flags.smtputf8 = a.smtputf8;
  out.flags.quoted_local = a.quoted_local;
  out.flags.address_literal = a.literal != address::Literal::none;
  // The domain's cache slot is loaded while the local part is looked at: on a list of many
  // domains it is usually a miss to memory, which the role and suspicious-name checks overlap.
  const std::uint64_t domain_hash = out.flags.address_literal ? 0 : fast_hash(a.domain());
  if (!out.flags.address_literal) cache_.prefetch(domain_hash);
  if (!a.quoted_local) {
    out.flags.role = knowledge_.is_role(a.local());
    out.flags.suspicious = knowledge_.is_suspicious(a.local());
  }
  if (out.flags.address_literal) {
    out.has_facts = false;
  } else {
    out.checks |= kCheckDomain;
    const domain::FactsView f = cache_.get(a.domain(), domain_hash);
    out.has_facts = true;
    out.facts.reason = f.reason;
    out.facts.disposable = f.disposable;
    out.facts.free = f.free;
    out.facts.registrable.assign(f.registrable);
    out.facts.suggestion.assign(f.suggestion);
    out.flags.disposable = f.disposable;
    out.flags.free = f.free;
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
  // With DNS evidence: an offline `invalid` stands (DNS is not even asked); then a DNS `invalid`
  // (no_domain, null_mx, ...) or `unknown` (dns_error) beats the offline risk signals, which beat
  // the DNS risk signals (domain_blocklisted, parked_domain), which beat `mx_found`.
  Reason offline;
  if (r.flags.address_literal) {
    offline = Reason::address_literal;
  } else if (r.has_facts && r.facts.reason != Reason::well_formed) {
    offline = r.facts.reason;
  } else if (r.flags.disposable) {
    offline = Reason::disposable;
  } else if (r.has_facts && !r.facts.suggestion.empty()) {
    offline = Reason::possible_typo;
  } else {
    offline = Reason::well_formed;
  }
  r.reason = offline;
  const dns::DomainDns* d = (r.checks & kCheckDns) ? r.dns.get() : nullptr;
  if (d && info(offline).status != Status::invalid) {
    const Status ds = info(d->reason).status;
    // A DNS failure beats offline risk signals; a DNS risk signal or mx_found only replaces a clean
    // offline verdict.
    if (ds == Status::invalid || ds == Status::unknown || offline == Reason::well_formed) r.reason = d->reason;
  }
  // The SMTP answer, when the probe ran (only after a DNS verdict that left a server to ask): a
  // mailbox that does not exist, or a probe that could not tell, beats every risk signal; a risky
  // answer (catch-all, mailbox full) or `mailbox_exists` only replaces a clean verdict.
  const smtp::AddressProbe* p = (r.checks & kCheckSmtp) && r.smtp && r.smtp->session ? &*r.smtp : nullptr;
  std::optional<Reason> sr;
  if (p && info(r.reason).status != Status::invalid && info(r.reason).status != Status::unknown) {
    sr = smtp_reason(*p);
    const Status ss = info(*sr).status;
    if (ss == Status::invalid || ss == Status::unknown || r.reason == Reason::well_formed ||
        r.reason == Reason::mx_found)
      r.reason = *sr;
  }
  // --rdap: a domain on hold or about to be deleted does not receive mail reliably, whatever
  // DNS or the server said a moment ago; it only replaces a valid verdict.
  if (r.registration && r.registration->not_active() && info(r.reason).status == Status::valid)
    r.reason = Reason::domain_not_active;
  r.status = info(r.reason).status;
  if (r.status == Status::invalid) {
    r.score = 0.0;
    return;
  }
  double s = score::kSyntax;
  if (r.checks & kCheckDomain) s += score::kDomain;
  if (d && r.status != Status::unknown) {
    if (d->has_target()) s += score::kMailServers;
    if (d->spf) s += score::kSpf;
    if (d->dmarc) s += score::kDmarc;
    if (!d->blocklists.empty()) s -= score::kBlocklisted;
    if (d->reason == Reason::parked_domain) s -= score::kParked;
  }
  if (sr && r.status != Status::unknown) {
    if (*sr == Reason::mailbox_exists) s += score::kMailboxAccepted;
    else if (*sr == Reason::catch_all) s += score::kCatchAllAccepted;
    else if (*sr == Reason::mailbox_full) s += score::kMailboxFull;
  }
  if (r.flags.disposable) s -= score::kDisposable;
  if (r.reason == Reason::possible_typo) s -= score::kPossibleTypo;
  if (r.flags.address_literal) s -= score::kAddressLiteral;
  if (r.flags.suspicious) s -= score::kSuspicious;
  if (r.flags.role) s -= score::kRole;
  if (r.flags.quoted_local) s -= score::kQuotedLocal;
  if (r.flags.new_domain) s -= score::kNewDomain;
  if (r.reason == Reason::domain_not_active) s -= score::kDomainNotActive;
  r.score = std::clamp(s, 0.0, 1.0);
}

void apply_dns(Result& r, std::shared_ptr<const dns::DomainDns> d) {
  r.dns = std::move(d);
  r.checks |= kCheckDns;
  r.flags.blocklisted = r.dns && !r.dns->blocklists.empty();
  decide(r);
}

Reason smtp_reason(const smtp::AddressProbe& p) {
  const Reason r = p.outcome().reason;
  return r == Reason::mailbox_exists && p.catch_all == true ? Reason::catch_all : r;
}

void apply_registration(Result& r, std::shared_ptr<const domain::Registration> reg) {
  r.registration = std::move(reg);
  r.flags.new_domain = r.registration && r.registration->new_domain();
  // Live evidence: decide from it all again.
  const bool restored = ((r.checks & kCheckDns) && !r.dns) || ((r.checks & kCheckSmtp) && !r.smtp);
  if (!restored) return decide(r);
  // A verdict restored from a worker (engine/remote.hpp): the same rules, applied to it as it is.
  if (r.status == Status::invalid) return;
  double s = r.score;
  if (r.registration && r.registration->not_active() && r.status == Status::valid) {
    r.reason = Reason::domain_not_active;
    r.status = info(r.reason).status;
    s -= score::kDomainNotActive;
  }
  if (r.flags.new_domain) s -= score::kNewDomain;
  r.score = std::clamp(s, 0.0, 1.0);
}

void apply_smtp(Result& r, smtp::AddressProbe p) {
  r.flags.catch_all = p.catch_all;
  r.smtp = std::move(p);
  r.checks |= kCheckSmtp;
  decide(r);
}

}  // namespace mailsift
