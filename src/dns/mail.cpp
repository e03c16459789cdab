#include "dns/mail.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <cctype>

#include "dns/provider.hpp"
#include "dns/target.hpp"

namespace mailsift::dns {
namespace {

bool looks_like_ip(const std::string& host) {
  unsigned char buf[16];
  return inet_pton(AF_INET, host.c_str(), buf) == 1 || inet_pton(AF_INET6, host.c_str(), buf) == 1;
}

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (!s.empty() && s.back() == '.') s.pop_back();
  return s;
}

// RFC 5782 §2.1: a listing is an A record in 127.0.0.0/8; 127.0.0.1 and 127.255.255.0/24 are used
// by lists to signal errors (e.g. "query refused via a public resolver"), not listings.
bool is_listing(const std::string& a) {
  return a.starts_with("127.") && a != "127.0.0.1" && !a.starts_with("127.255.255.");
}

// Combines the A and AAAA outcomes of one host (decide_dns relies on this order).
Status combine(Status s4, Status s6, bool any_address) {
  if (any_address) return Status::ok;
  if (transient(s4)) return s4;
  if (transient(s6)) return s6;
  if (s4 == Status::nxdomain && s6 == Status::nxdomain) return Status::nxdomain;
  return Status::nodata;
}

}  // namespace

struct MailLookup::Job : std::enable_shared_from_this<Job> {
  struct HostWork {
    std::vector<std::string> v4, v6;
    Status s4 = Status::nodata, s6 = Status::nodata;
  };

  MailLookup& owner;
  std::string domain, registrable;
  std::function<void(DomainDnsPtr)> done;
  Lane lane;
  DomainDns d;
  std::vector<HostWork> work;
  int pending = 0;

  Job(MailLookup& o, std::string dom, std::string reg, std::function<void(DomainDnsPtr)> cb, Lane l)
      : owner(o), domain(std::move(dom)), registrable(std::move(reg)), done(std::move(cb)), lane(l) {}

  void ask(const std::string& name, Type t, std::function<void(Job&, const Answer&)> on) {
    ++pending;
    ++d.queries;
    owner.resolver_.query(
        name, t,
        [self = shared_from_this(), on = std::move(on)](const AnswerPtr& a) {
          on(*self, *a);
          if (--self->pending == 0) self->finish();
        },
        lane);
  }

  void start() {
    ++pending;  // held until every first-round question is asked
    ask(domain, Type::mx, [](Job& j, const Answer& a) { j.on_mx(a); });
    ask(domain, Type::txt, [](Job& j, const Answer& a) { j.d.spf = find_spf(a.txt); });
    ask("_dmarc." + domain, Type::txt, [](Job& j, const Answer& a) { j.on_dmarc(a); });
    for (const std::string& zone : owner.opt_.blocklist_zones) {
      const std::string name = domain + "." + zone;
      ask(name, Type::a, [zone, name](Job& j, const Answer& a) {
        for (const std::string& addr : a.addrs) {
          if (!is_listing(addr)) continue;
          const std::size_t i = j.d.blocklists.size();
          j.d.blocklists.push_back(BlocklistHit{zone, addr, {}});
          j.ask(name, Type::txt, [i](Job& jj, const Answer& t) {
            if (!t.txt.empty()) jj.d.blocklists[i].text = t.txt.front();
          });
          break;
        }
      });
    }
    if (--pending == 0) finish();
  }

  // RFC 7489 §6.6.3: no DMARC record at _dmarc.<domain> (NXDOMAIN, NODATA, or TXT records none of
  // which is v=DMARC1) → the organizational domain's record applies, if the domain is not the
  // organizational domain itself. Several records stop the search (none applies); so does a
  // transient error, since the domain may well have a record of its own.
  void on_dmarc(const Answer& a) {
    d.dmarc = find_dmarc(a.txt);
    if (d.dmarc) {
      d.dmarc->domain = domain;
      return;
    }
    if (a.status != Status::ok && a.status != Status::nodata && a.status != Status::nxdomain) return;
    if (registrable.empty() || registrable.size() >= domain.size() || !domain.ends_with(registrable) ||
        domain[domain.size() - registrable.size() - 1] != '.')
      return;
    ask("_dmarc." + registrable, Type::txt, [](Job& j, const Answer& org) {
      j.d.dmarc = find_dmarc(org.txt);
      if (j.d.dmarc) inherit_dmarc(*j.d.dmarc, j.registrable);
    });
  }

  void on_mx(const Answer& a) {
    switch (a.status) {
      case Status::ok: break;
      case Status::nodata:
        // RFC 5321 §5.1: no MX records → the domain itself is the implicit MX, preference 0.
        d.implicit_mx = true;
        d.mx.push_back(MxHost{domain, 0, {}, {}, Status::ok, false});
        resolve_hosts();
        return;
      default:
        d.error = a.status;  // nxdomain or transient
        return;
    }
    std::vector<Mx> records = a.mx;
    const bool all_null = std::all_of(records.begin(), records.end(), [](const Mx& m) { return m.exchange.empty(); });
    if (all_null) {  // RFC 7505 §3: "MX 0 ." — the domain accepts no mail at all
      d.null_mx = true;
      return;
    }
    // A "." among real exchanges is a misconfiguration (RFC 7505 §3 forbids mixing): ignore it.
    std::erase_if(records, [](const Mx& m) { return m.exchange.empty(); });
    std::sort(records.begin(), records.end(), [](const Mx& x, const Mx& y) { return x.preference < y.preference; });
    // RFC 5321 §5.1: hosts of equal preference MUST be tried in random order to spread the load.
    for (auto first = records.begin(); first != records.end();) {
      auto last = std::find_if(first, records.end(), [&](const Mx& m) { return m.preference != first->preference; });
      std::shuffle(first, last, owner.rng_);
      first = last;
    }
    if (records.size() > owner.opt_.max_exchanges) records.resize(owner.opt_.max_exchanges);
    for (const Mx& m : records) d.mx.push_back(MxHost{lower(m.exchange), m.preference, {}, {}, Status::ok, false});
    resolve_hosts();
  }

  void resolve_hosts() {
    work.resize(d.mx.size());
    for (std::size_t i = 0; i < d.mx.size(); ++i) {
      if (looks_like_ip(d.mx[i].host)) {
        d.mx[i].ip_literal_name = true;
        work[i].s4 = work[i].s6 = Status::error;
        continue;
      }
      ask(d.mx[i].host, Type::a, [i](Job& j, const Answer& r) {
        j.work[i].s4 = r.status;
        j.work[i].v4 = r.addrs;
      });
      ask(d.mx[i].host, Type::aaaa, [i](Job& j, const Answer& r) {
        j.work[i].s6 = r.status;
        j.work[i].v6 = r.addrs;
      });
    }
  }

  void finish() {
    std::vector<std::string> names;
    for (std::size_t i = 0; i < d.mx.size(); ++i) {
      MxHost& m = d.mx[i];
      HostWork& w = work[i];
      for (auto* list : {&w.v4, &w.v6})
        for (std::string& addr : *list) {
          const std::string_view why = owner.opt_.allow_private_targets ? std::string_view{} : unsafe_reason(addr);
          if (why.empty()) m.addresses.push_back(std::move(addr));
          else m.refused.push_back(Refused{std::move(addr), why});
        }
      m.status = m.ip_literal_name ? Status::error
                                   : combine(w.s4, w.s6, !m.addresses.empty() || !m.refused.empty());
      names.push_back(m.host);
    }
    if (!names.empty()) d.provider = identify_provider(names, registrable);
    decide_dns(d);
    done(std::make_shared<const DomainDns>(std::move(d)));
  }
};

MailLookup::MailLookup(Resolver& resolver, MailOptions options)
    : resolver_(resolver), opt_(std::move(options)), rng_(opt_.seed ? opt_.seed : std::random_device{}()) {}

void MailLookup::lookup(const std::string& domain, const std::string& registrable,
                        std::function<void(DomainDnsPtr)> done, Lane lane) {
  std::make_shared<Job>(*this, domain, registrable, std::move(done), lane)->start();
}

DomainDnsPtr MailLookup::literal(std::string_view domain) const {
  auto d = std::make_shared<DomainDns>();
  d->literal = true;
  MxHost h{std::string(domain), 0, {}, {}, Status::ok, false};
  const std::string ip(literal_ip(domain));
  const std::string_view why = opt_.allow_private_targets ? std::string_view{} : unsafe_reason(ip);
  if (why.empty()) h.addresses.push_back(ip);
  else h.refused.push_back(Refused{ip, why});
  d->mx.push_back(std::move(h));
  decide_dns(*d);
  return d;
}

void decide_dns(DomainDns& d) {
  auto set = [&](Reason r) { d.reason = r; };
  if (d.error) {
    set(*d.error == Status::nxdomain ? Reason::no_domain : Reason::dns_error);
    return;
  }
  if (d.null_mx) return set(Reason::null_mx);
  bool any_resolved = false, any_transient = false;
  for (const MxHost& m : d.mx) {
    any_resolved |= !m.addresses.empty() || !m.refused.empty();
    any_transient |= transient(m.status) && !m.ip_literal_name;
  }
  if (!any_resolved) {
    // Only a definite "no address" for every host proves there is no mail server; a host we
    // could not resolve (SERVFAIL, timeout) might be the one that works.
    if (any_transient) {
      for (const MxHost& m : d.mx)
        if (transient(m.status) && !m.ip_literal_name) {
          d.error = m.status;
          break;
        }
      return set(Reason::dns_error);
    }
    return set(Reason::no_mail_server);
  }
  if (!d.has_target()) return set(Reason::unsafe_target);
  if (!d.blocklists.empty()) return set(Reason::domain_blocklisted);
  if (d.implicit_mx && d.spf && d.spf->all == '-') return set(Reason::parked_domain);
  set(Reason::mx_found);
}

}  // namespace mailsift::dns
