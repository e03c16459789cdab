#include "verdict/reputation.hpp"

#include <algorithm>
#include <array>
#include <utility>
#include <cstdio>
#include <string_view>
#include <vector>

#include "common/flat_map.hpp"
#include "common/text.hpp"
#include "verdict/reason.hpp"
#include "verdict/render.hpp"
#include "verdict/result.hpp"
#include "verdict/score.hpp"

namespace mailsift::reputation {

namespace {

void put_time(std::int64_t t, std::string& out) {
  if (t == 0) {
    out += "null";
    return;
  }
  out += '"';
  out += text::iso8601(t);
  out += '"';
}

void put_count(std::string_view name, std::uint64_t v, std::string& out) {
  out += ",\"";
  out += name;
  out += "\":";
  out += std::to_string(v);
}

bool refusal(Reason r) {
  return r == Reason::blocked || r == Reason::rate_limited || r == Reason::sender_rejected ||
         r == Reason::session_rejected;
}

constexpr std::array<std::pair<std::uint8_t, std::string_view>, 3> kSignalNames = {{
    {kSignalHighInvalidRate, "high_invalid_rate"},
    {kSignalCatchAllHistory, "catch_all_history"},
    {kSignalUnstableMx, "unstable_mx"},
}};

}  // namespace

std::uint8_t assess(const store::DomainRecord& h, std::int64_t now) {
  std::uint8_t s = 0;
  const std::uint64_t definite = h.valid + h.invalid + h.risky;
  if (definite >= kMinObservations &&
      static_cast<double>(h.invalid) >= kHighInvalidRate * static_cast<double>(definite))
    s |= kSignalHighInvalidRate;
  if (h.catch_all_yes >= kMinCatchAll && h.catch_all_yes > h.catch_all_no) s |= kSignalCatchAllHistory;
  if (h.mx_changes >= kUnstableMxChanges && h.mx_changed_at >= now - kUnstableMxDays * 86400) s |= kSignalUnstableMx;
  return s;
}

double penalty(std::uint8_t signals) {
  double p = 0;
  if (signals & kSignalHighInvalidRate) p += score::kHighInvalidRate;
  if (signals & kSignalCatchAllHistory) p += score::kCatchAllHistory;
  if (signals & kSignalUnstableMx) p += score::kUnstableMx;
  return std::min(p, score::kReputation);
}

void attach(Result& r, ReputationPtr rep, bool rescore) {
  if (r.restored_reputation) return;  // a stored verdict with its own: the one its score was decided with
  if (rescore && rep && r.status != Status::invalid) r.score = std::clamp(r.score - penalty(rep->signals), 0.0, 1.0);
  r.reputation = std::move(rep);
}

std::uint64_t mx_set_hash(const Result& r) {
  if (!r.dns || r.dns->mx.empty() || r.dns->implicit_mx) return 0;
  std::vector<std::string_view> hosts;
  hosts.reserve(r.dns->mx.size());
  for (const auto& m : r.dns->mx) hosts.emplace_back(m.host);
  std::sort(hosts.begin(), hosts.end());
  hosts.erase(std::unique(hosts.begin(), hosts.end()), hosts.end());
  std::uint64_t h = 0x9E3779B97F4A7C15ull;
  for (std::string_view s : hosts) h = (h ^ fast_hash(s)) * 0x100000001B3ull;
  return h == 0 ? 1 : h;
}

bool observe(const Result& r, std::int64_t now, store::DomainRecord& d) {
  if (!(r.checks & kCheckDns) || !r.has_facts || r.registrable_domain().empty()) return false;
  if (r.flags.address_literal) return false;
  if (d.first_seen == 0) d.first_seen = now;
  d.last_seen = std::max(d.last_seen, now);
  ++d.checked;
  switch (r.status) {
    case Status::valid: ++d.valid; break;
    case Status::invalid: ++d.invalid; break;
    case Status::risky: ++d.risky; break;
    case Status::unknown: ++d.unknown; break;
  }
  d.count_reason(static_cast<std::uint8_t>(r.reason));
  // Only an answer the session that answered actually tested: one reused from --history or from
  // another session would otherwise renew its own date and never be tested again.
  if (r.smtp && r.smtp->session && r.smtp->session->catch_all) {
    const bool ca = *r.smtp->session->catch_all;
    ++(ca ? d.catch_all_yes : d.catch_all_no);
    d.catch_all_at = now;
    d.catch_all_last = ca;
  }
  bool greylisted = r.reason == Reason::greylisted;
  if (r.smtp)
    for (const auto& e : r.smtp->earlier) greylisted = greylisted || e.retry == smtp::Retry::greylisting;
  if (greylisted) {
    ++d.greylisted;
    d.greylisted_at = now;
  }
  if (refusal(r.reason)) {
    ++d.refused;
    d.refused_at = now;
  }
  if (r.reason == Reason::timeout) ++d.tarpit;
  if (const std::uint64_t h = mx_set_hash(r); h != 0) {
    // Within one batch a domain's MX set is one answer; a change shows when batches are merged.
    d.mx_hash = h;
  }
  return true;
}

HostObservation observe_host(const Result& r, std::int64_t now) {
  HostObservation o;
  if (!r.smtp || !r.smtp->session) return o;
  const smtp::Attempt* a = r.smtp->session->last();
  if (a == nullptr || a->host.empty()) return o;
  o.host = a->host;  // a view: the session outlives the call
  o.delta.first_seen = o.delta.last_seen = now;
  o.delta.probes = 1;
  if (a->failure && refusal(*a->failure)) {
    o.delta.refused = 1;
    o.delta.refused_at = now;
  }
  if (a->failure == Reason::timeout) o.delta.tarpit = 1;
  if (r.reason == Reason::greylisted) o.delta.greylisted = 1;
  return o;
}

void append_record_json(const store::DomainRecord* h, std::uint8_t signals, std::string& out) {
  const store::DomainRecord none;
  const store::DomainRecord& r = h ? *h : none;
  out += "{\"observations\":";
  out += std::to_string(r.checked);
  out += ",\"first_seen\":";
  put_time(r.first_seen, out);
  out += ",\"last_seen\":";
  put_time(r.last_seen, out);
  put_count("valid", r.valid, out);
  put_count("invalid", r.invalid, out);
  put_count("risky", r.risky, out);
  put_count("unknown", r.unknown, out);
  out += ",\"invalid_rate\":";
  const std::uint64_t definite = r.valid + r.invalid + r.risky;
  if (definite == 0) {
    out += "null";
  } else {
    char buf[16];
    std::snprintf(buf, sizeof buf, "%.2f", static_cast<double>(r.invalid) / static_cast<double>(definite));
    out += buf;
  }
  out += ",\"reasons\":{";
  bool first = true;
  for (const auto& [reason, n] : r.reasons) {
    // A number this build has no reason for (a file written by a newer mailsift) is left out.
    if (reason >= all_reasons().size()) continue;
    if (!first) out += ',';
    first = false;
    out += '"';
    out += code(static_cast<Reason>(reason));
    out += "\":";
    out += std::to_string(n);
  }
  out += "},\"catch_all\":{\"accepted\":";
  out += std::to_string(r.catch_all_yes);
  put_count("refused", r.catch_all_no, out);
  out += ",\"last\":";
  out += r.catch_all_at == 0 ? "null" : (r.catch_all_last ? "true" : "false");
  out += ",\"last_at\":";
  put_time(r.catch_all_at, out);
  out += '}';
  put_count("greylisted", r.greylisted, out);
  out += ",\"last_greylisted\":";
  put_time(r.greylisted_at, out);
  put_count("refused_us", r.refused, out);
  out += ",\"last_refused_us\":";
  put_time(r.refused_at, out);
  put_count("timeouts", r.tarpit, out);
  put_count("mx_changes", r.mx_changes, out);
  out += ",\"last_mx_change\":";
  put_time(r.mx_changed_at, out);
  out += ",\"signals\":[";
  first = true;
  for (const auto& [bit, name] : kSignalNames) {
    if (!(signals & bit)) continue;
    if (!first) out += ',';
    first = false;
    out += '"';
    out += name;
    out += '"';
  }
  out += "]}";
}

void append_json(const Reputation& rep, std::string& out) {
  append_record_json(rep.known ? &rep.history : nullptr, rep.signals, out);
}

void append_host_json(const store::MxRecord& h, std::string& out) {
  out += "{\"first_seen\":";
  put_time(h.first_seen, out);
  out += ",\"last_seen\":";
  put_time(h.last_seen, out);
  put_count("probes", h.probes, out);
  put_count("refused_us", h.refused, out);
  out += ",\"last_refused_us\":";
  put_time(h.refused_at, out);
  put_count("greylisted", h.greylisted, out);
  put_count("timeouts", h.tarpit, out);
  out += '}';
}

}  // namespace mailsift::reputation
