#include "engine/rdap.hpp"

#include <cstdio>
#include <stdexcept>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "engine/engine.hpp"
#include "verdict/classify.hpp"

namespace mailsift::engine {

void RdapStage::start(Batch& b) {
  // One lookup per distinct registrable domain (a.example.com and b.example.com share one).
  std::unordered_map<std::string, std::vector<std::size_t>> by;
  for (std::size_t k = 0; k < b.domains.size(); ++k) {
    const Domain& d = b.domains[k];
    if (!d.literal && !d.registrable.empty()) by[d.registrable].push_back(k);
  }
  b.registration.assign(b.domains.size(), nullptr);
  // Counted before anything can end: the batch is not done until every lookup answered.
  b.open.fetch_add(by.size(), std::memory_order_acq_rel);
  inner_->start(b);
  for (auto& [name, slots] : by) {
    client_->lookup(name, [this, bp = &b, ks = std::move(slots)](domain::RegistrationPtr r) {
      for (const std::size_t k : ks) bp->registration[k] = r;
      signal_.unit_done(*bp);
    });
  }
}

void RdapStage::finish(Batch& b, std::size_t i, Result& r) {
  inner_->finish(b, i, r);
  if (b.slot[i] != kNoSlot && b.slot[i] < b.registration.size() && b.registration[b.slot[i]])
    apply_registration(r, b.registration[b.slot[i]]);
}

std::string RdapStage::dns_stats() {
  std::string s = inner_->dns_stats();
  const domain::RdapClient::Stats st = client_->stats();
  char line[240];
  std::snprintf(line, sizeof line,
                "mailsift: rdap: %llu queries, %llu cache hits, %llu coalesced, %llu failed, %llu from --rdap-cache\n",
                static_cast<unsigned long long>(st.queries), static_cast<unsigned long long>(st.cache_hits),
                static_cast<unsigned long long>(st.coalesced), static_cast<unsigned long long>(st.errors),
                static_cast<unsigned long long>(st.disk_hits));
  return s + line;
}

std::unique_ptr<domain::RdapClient> make_rdap_client(const cli::VerifyOptions& o) {
  if (o.rdap_bootstrap.empty())
    throw std::invalid_argument(
        "--rdap needs --rdap-bootstrap FILE: an RFC 9224 bootstrap file such as IANA's "
        "https://data.iana.org/rdap/dns.json (docs/rdap.md)");
  domain::RdapOptions ro;
  ro.bootstrap_file = o.rdap_bootstrap;
  ro.ca_file = o.rdap_ca_file;
  ro.timeout = seconds_to_ms(o.rdap_timeout);
  ro.concurrency = o.rdap_concurrency;
  ro.cache_file = o.rdap_cache;
  ro.rate = o.rdap_rate;
  ro.ttl = std::chrono::hours(static_cast<std::int64_t>(o.rdap_cache_days * 24.0 + 0.5));
  return std::make_unique<domain::RdapClient>(ro);
}

}  // namespace mailsift::engine
