#include "server/metrics.hpp"

#include <fmt/format.h>

namespace mailsift::server {

std::string_view name(Level l) noexcept {
  switch (l) {
    case Level::syntax: return "syntax";
    case Level::dns: return "dns";
    case Level::smtp: return "smtp";
  }
  return "smtp";
}

std::string label_value(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (const char c : s) {
    if (c == '\\')
      out += "\\\\";
    else if (c == '"')
      out += "\\\"";
    else if (c == '\n')
      out += "\\n";
    else
      out.push_back(c);
  }
  return out;
}

void Metrics::verification(Level level, Reason reason, double seconds) {
  auto& v = by_reason_[static_cast<std::size_t>(level)];
  if (v.empty()) v.assign(all_reasons().size(), 0);
  ++v[static_cast<std::size_t>(reason)];
  Histogram& h = latency_[static_cast<std::size_t>(level)];
  std::size_t b = 0;
  while (b < kBuckets.size() && seconds > kBuckets[b]) ++b;
  if (b < kBuckets.size()) ++h.buckets[b];
  ++h.count;
  h.sum += seconds;
  ++total_;
}

std::string Metrics::render(const Gauges& g) const {
  std::string o;
  auto out = std::back_inserter(o);
  o += "# HELP mailsift_verifications_total Verifications finished, by level, status and reason.\n"
       "# TYPE mailsift_verifications_total counter\n";
  for (std::size_t l = 0; l < 3; ++l) {
    const auto& v = by_reason_[l];
    for (std::size_t r = 0; r < v.size(); ++r) {
      if (v[r] == 0) continue;
      const ReasonInfo& ri = all_reasons()[r];
      fmt::format_to(out, "mailsift_verifications_total{{level=\"{}\",status=\"{}\",reason=\"{}\"}} {}\n",
                     name(static_cast<Level>(l)), name(ri.status), ri.code, v[r]);
    }
  }
  o += "# HELP mailsift_verification_duration_seconds Time from request to verdict, by level.\n"
       "# TYPE mailsift_verification_duration_seconds histogram\n";
  for (std::size_t l = 0; l < 3; ++l) {
    const Histogram& h = latency_[l];
    const std::string_view ln = name(static_cast<Level>(l));
    std::uint64_t cum = 0;
    for (std::size_t b = 0; b < kBuckets.size(); ++b) {
      cum += h.buckets[b];
      fmt::format_to(out, "mailsift_verification_duration_seconds_bucket{{level=\"{}\",le=\"{}\"}} {}\n", ln,
                     kBuckets[b], cum);
    }
    fmt::format_to(out, "mailsift_verification_duration_seconds_bucket{{level=\"{}\",le=\"+Inf\"}} {}\n", ln, h.count);
    fmt::format_to(out, "mailsift_verification_duration_seconds_sum{{level=\"{}\"}} {}\n", ln, h.sum);
    fmt::format_to(out, "mailsift_verification_duration_seconds_count{{level=\"{}\"}} {}\n", ln, h.count);
  }
  o += "# HELP mailsift_http_requests_total HTTP requests answered, by status code.\n"
       "# TYPE mailsift_http_requests_total counter\n";
  for (const auto& [code, n] : http_) fmt::format_to(out, "mailsift_http_requests_total{{code=\"{}\"}} {}\n", code, n);
  o += "# HELP mailsift_http_connections_refused_total Connections closed at accept: per_client (over "
       "--max-connections-per-client) or full (over --max-connections, no idle connection to reclaim).\n"
       "# TYPE mailsift_http_connections_refused_total counter\n";
  fmt::format_to(out, "mailsift_http_connections_refused_total{{reason=\"per_client\"}} {}\n", refused_per_client_);
  fmt::format_to(out, "mailsift_http_connections_refused_total{{reason=\"full\"}} {}\n", refused_full_);
  o += "# HELP mailsift_http_connections Client connections open.\n"
       "# TYPE mailsift_http_connections gauge\n";
  fmt::format_to(out, "mailsift_http_connections {}\n", g.http_connections);
  o += "# HELP mailsift_jobs_storage_ok 0 while job results cannot be written (disk full or failing): job work is "
       "paused and new jobs get 507.\n"
       "# TYPE mailsift_jobs_storage_ok gauge\n";
  fmt::format_to(out, "mailsift_jobs_storage_ok {}\n", g.storage_ok ? 1 : 0);
  o += "# HELP mailsift_checks_in_flight Verifications started and not finished (single checks and jobs).\n"
       "# TYPE mailsift_checks_in_flight gauge\n";
  fmt::format_to(out, "mailsift_checks_in_flight {}\n", g.checks_in_flight);
  o += "# HELP mailsift_smtp_sessions_in_flight SMTP sessions holding a connection slot.\n"
       "# TYPE mailsift_smtp_sessions_in_flight gauge\n";
  fmt::format_to(out, "mailsift_smtp_sessions_in_flight {}\n", g.sessions_in_flight);
  o += "# HELP mailsift_smtp_host_connections Connections open to one MX address.\n"
       "# TYPE mailsift_smtp_host_connections gauge\n";
  for (const HostGauge& h : g.hosts)
    fmt::format_to(out, "mailsift_smtp_host_connections{{host=\"{}\"}} {}\n", label_value(h.host), h.connections);
  o += "# HELP mailsift_smtp_host_queue_depth Sessions waiting for one MX address's connection limits.\n"
       "# TYPE mailsift_smtp_host_queue_depth gauge\n";
  for (const HostGauge& h : g.hosts)
    fmt::format_to(out, "mailsift_smtp_host_queue_depth{{host=\"{}\"}} {}\n", label_value(h.host), h.waiting);
  o += "# HELP mailsift_dns_queries_total DNS lookups asked of the resolver's cache (hits included).\n"
       "# TYPE mailsift_dns_queries_total counter\n";
  fmt::format_to(out, "mailsift_dns_queries_total {}\n", g.dns_queries + g.dns_cache_hits);
  o += "# HELP mailsift_dns_cache_hits_total DNS lookups answered from the cache.\n"
       "# TYPE mailsift_dns_cache_hits_total counter\n";
  fmt::format_to(out, "mailsift_dns_cache_hits_total {}\n", g.dns_cache_hits);
  o += "# HELP mailsift_dns_cache_hit_ratio Share of DNS lookups answered from the cache.\n"
       "# TYPE mailsift_dns_cache_hit_ratio gauge\n";
  const std::uint64_t asked = g.dns_queries + g.dns_cache_hits;
  fmt::format_to(out, "mailsift_dns_cache_hit_ratio {}\n",
                 asked == 0 ? 0.0 : static_cast<double>(g.dns_cache_hits) / static_cast<double>(asked));
  o += "# HELP mailsift_jobs Bulk jobs in the database, by state.\n# TYPE mailsift_jobs gauge\n";
  static constexpr std::array<const char*, 3> kStates = {"queued", "running", "finished"};
  for (std::size_t s = 0; s < 3; ++s) fmt::format_to(out, "mailsift_jobs{{state=\"{}\"}} {}\n", kStates[s], g.jobs[s]);
  o += "# HELP mailsift_job_addresses_pending Addresses of unfinished jobs not yet verified.\n"
       "# TYPE mailsift_job_addresses_pending gauge\n";
  fmt::format_to(out, "mailsift_job_addresses_pending {}\n", g.job_addresses_pending);
  if (g.cluster) {  // serve --broker (docs/cluster.md)
    auto one = [&](std::string_view metric, std::string_view type, std::string_view help, std::uint64_t value) {
      fmt::format_to(out, "# HELP {} {}\n# TYPE {} {}\n{} {}\n", metric, help, metric, type, metric, value);
    };
    one("mailsift_broker_up", "gauge",
        "0 while the broker is unreachable (jobs' addresses on the cluster wait for it).", g.broker_up ? 1 : 0);
    one("mailsift_cluster_addresses_out", "gauge", "Jobs' addresses sent to the cluster's workers, verdict not yet back.",
        g.cluster_addresses_out);
    one("mailsift_cluster_chunks_out", "gauge", "Chunks (one domain's addresses) published and not finished.",
        g.cluster_chunks_out);
    one("mailsift_cluster_chunks_published_total", "counter", "Chunks published to the work stream (first time).",
        g.cluster_published);
    one("mailsift_cluster_chunks_republished_total", "counter",
        "Chunks published again (lost by the broker, or a malformed verdict).", g.cluster_republished);
    o += "# HELP mailsift_cluster_results_dropped_total Verdicts not used: duplicate (a chunk finished twice) or "
         "malformed.\n"
         "# TYPE mailsift_cluster_results_dropped_total counter\n";
    fmt::format_to(out, "mailsift_cluster_results_dropped_total{{reason=\"duplicate\"}} {}\n", g.cluster_duplicates);
    fmt::format_to(out, "mailsift_cluster_results_dropped_total{{reason=\"malformed\"}} {}\n", g.cluster_malformed);
  }
  return o;
}

}  // namespace mailsift::server
