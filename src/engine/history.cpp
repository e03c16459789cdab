#include "engine/history.hpp"

#include <cstdio>
#include <exception>
#include <utility>
#include <vector>

#include "verdict/render.hpp"

namespace mailsift::engine {

namespace {
// Records kept in memory at once; past it the memo starts over (a record is then read again).
constexpr std::size_t kMaxKnown = 1'000'000;
}  // namespace

HistoryBook::HistoryBook(const std::string& path, HistorySettings settings, Clock clock)
    : settings_(settings), history_(path, settings.store, clock), clock_(std::move(clock)) {}

HistoryBook::~HistoryBook() {
  try {
    flush();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "mailsift: history %s: %s\n", history_.path().c_str(), e.what());
  }
}

reputation::ReputationPtr HistoryBook::reputation(std::string_view registrable) {
  const std::int64_t now = clock_();
  auto it = known_.find(registrable);
  if (it != known_.end() && (settings_.refresh_s == 0 || now - it->second.read_at < settings_.refresh_s))
    return it->second.rep;
  auto rep = std::make_shared<reputation::Reputation>();
  if (auto h = history_.domain(registrable)) {
    rep->known = true;
    rep->history = std::move(*h);
    rep->signals = reputation::assess(rep->history, now);
  }
  if (it == known_.end()) {
    if (known_.size() >= kMaxKnown) known_.clear();
    it = known_.emplace(std::string(registrable), Known{}).first;
  }
  it->second = Known{rep, now};
  return rep;
}

void HistoryBook::annotate(Result& r, bool rescore) {
  if (!r.has_facts || r.registrable_domain().empty() || r.flags.address_literal) return;
  reputation::attach(r, reputation(r.registrable_domain()), rescore);
}

void HistoryBook::record(const Result& r) {
  const std::int64_t now = clock_();
  // A held-back address was not asked: nothing was seen (and the back-off must not renew itself).
  if (!r.has_facts || r.registrable_domain().empty() || r.reason == Reason::held_back) return;
  auto it = domains_.find(r.registrable_domain());
  if (it == domains_.end()) it = domains_.emplace(std::string(r.registrable_domain()), store::DomainRecord{}).first;
  if (!reputation::observe(r, now, it->second)) {
    if (it->second.checked == 0) domains_.erase(it);
    return;
  }
  const reputation::HostObservation h = reputation::observe_host(r, now);
  if (h.host.empty()) return;
  auto host = hosts_.find(h.host);  // by view: a string is made only for a host new to this batch
  if (host == hosts_.end()) host = hosts_.emplace(std::string(h.host), store::MxRecord{}).first;
  store::merge_into(host->second, h.delta);
}

std::optional<bool> HistoryBook::catch_all(std::string_view domain) {
  if (settings_.catch_all_ttl_s <= 0) return std::nullopt;
  const reputation::ReputationPtr rep = reputation(domain);
  if (!rep->known || rep->history.catch_all_at == 0) return std::nullopt;
  if (clock_() - rep->history.catch_all_at >= settings_.catch_all_ttl_s) return std::nullopt;
  return rep->history.catch_all_last;
}

bool HistoryBook::held_back(std::string_view registrable) {
  if (settings_.backoff_s <= 0) return false;
  const reputation::ReputationPtr rep = reputation(registrable);
  return rep->known && rep->history.refused_at != 0 && clock_() - rep->history.refused_at < settings_.backoff_s;
}

bool HistoryBook::greylists(std::string_view registrable) {
  const reputation::ReputationPtr rep = reputation(registrable);
  return rep->known && rep->history.greylisted > 0;
}

bool HistoryBook::maybe_flush() {
  if (domains_.empty() && hosts_.empty()) return false;
  if (domains_.size() < settings_.flush_domains &&
      std::chrono::steady_clock::now() - last_flush_ < settings_.flush_every)
    return false;
  flush();
  return true;
}

void HistoryBook::flush() {
  last_flush_ = std::chrono::steady_clock::now();
  if (domains_.empty() && hosts_.empty()) return;
  const std::vector<std::pair<std::string, store::DomainRecord>> d(domains_.begin(), domains_.end());
  const std::vector<std::pair<std::string, store::MxRecord>> h(hosts_.begin(), hosts_.end());
  history_.merge(d, h);  // kept pending if it throws: the next flush tries again
  domains_.clear();
  hosts_.clear();
}

std::string describe(store::History& h, std::string_view name, std::string_view registrable) {
  const std::optional<store::DomainRecord> d = h.domain(registrable);
  const std::optional<store::MxRecord> m = h.mx(name);
  std::string out = "{\"name\":\"";
  render::append_json_string(name, out);
  out += "\",\"registrable_domain\":\"";
  render::append_json_string(registrable, out);
  out += "\",\"domain\":";
  if (d) reputation::append_record_json(&*d, reputation::assess(*d, h.now()), out);
  else out += "null";
  out += ",\"mx_host\":";
  if (m) reputation::append_host_json(*m, out);
  else out += "null";
  out += '}';
  return out;
}

}  // namespace mailsift::engine
