#pragma once
// The server's Prometheus metrics (text exposition format 0.0.4, docs/api.md). Counters and
// histograms are kept here as events happen; gauges are read from the engine when scraped and
// handed in as a Gauges value. Entry point: Metrics::render.
#include <array>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "verdict/reason.hpp"

namespace mailsift::server {

enum class Level : std::uint8_t { syntax, dns, smtp };
[[nodiscard]] std::string_view name(Level l) noexcept;

struct HostGauge {
  std::string host;  // MX address
  std::size_t connections = 0;
  std::size_t waiting = 0;
};

struct Gauges {
  std::size_t sessions_in_flight = 0;
  std::vector<HostGauge> hosts;
  std::uint64_t dns_queries = 0, dns_cache_hits = 0;
  std::array<std::uint64_t, 3> jobs{};  // queued, running, finished
  std::uint64_t job_addresses_pending = 0;
  std::uint64_t checks_in_flight = 0;
  std::size_t http_connections = 0;
  bool storage_ok = true;
  // serve --broker (server/cluster.hpp): the jobs' work out on the cluster
  bool cluster = false;
  std::uint64_t cluster_addresses_out = 0, cluster_chunks_out = 0;
  std::uint64_t cluster_published = 0, cluster_republished = 0, cluster_duplicates = 0, cluster_malformed = 0;
  bool broker_up = true;
};

class Metrics {
 public:
  // Upper bounds of the latency buckets, in seconds (a syntax check takes microseconds, an SMTP
  // check up to the session timeout).
  static constexpr std::array<double, 14> kBuckets = {0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.25,
                                                      0.5,    1,     2.5,   5,    10,   30,  60};

  void verification(Level level, Reason reason, double seconds);
  void http_request(unsigned code) { ++http_[code]; }
  /// A connection closed at accept: "per_client" or "full".
  void connection_refused(std::string_view why) { ++(why == "per_client" ? refused_per_client_ : refused_full_); }
  [[nodiscard]] std::uint64_t verifications() const noexcept { return total_; }

  /// The whole exposition, with the gauges of the moment.
  [[nodiscard]] std::string render(const Gauges& g) const;

 private:
  struct Histogram {
    std::array<std::uint64_t, kBuckets.size()> buckets{};  // not cumulative; summed when rendered
    std::uint64_t count = 0;
    double sum = 0;
  };
  std::array<std::vector<std::uint64_t>, 3> by_reason_;  // [level][reason]
  std::array<Histogram, 3> latency_{};
  std::map<unsigned, std::uint64_t> http_;
  std::uint64_t total_ = 0;
  std::uint64_t refused_per_client_ = 0, refused_full_ = 0;
};

/// A Prometheus label value: backslash, double quote and line feed escaped.
[[nodiscard]] std::string label_value(std::string_view s);

}  // namespace mailsift::server
