#pragma once
// --history FILE (issue 17): what mailsift has seen of each registrable domain and each MX host
// over time, kept across runs in one SQLite file (WAL: every committed batch survives kill -9).
// Counters, not rows per check: a domain's record is a fixed set of counts and dates plus its
// reasons' counts, so the file grows with the domains seen, never with the addresses checked
// (about 100 bytes a domain: docs/history.md). Records older than the retention are dropped, and
// past max_domains the least recently seen go first. Keys are the domain or host name, or with
// hashed keys (--hash-keys) the first 16 bytes of its SHA-256: the file then names no domain.
// Entry points: History::domain, History::merge. Not thread-safe; one process at a time (the file
// is locked while open, like the state and cache files).
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace mailsift::store {

/// One registrable domain's history. Times are Unix seconds (0: never).
struct DomainRecord {
  std::int64_t first_seen = 0, last_seen = 0;
  std::uint64_t checked = 0;                     // results recorded (network levels only)
  std::uint64_t valid = 0, invalid = 0, risky = 0, unknown = 0;
  std::vector<std::pair<std::uint8_t, std::uint64_t>> reasons;  // reason number → count, ascending
  // Addresses whose result carried a catch-all answer: the domain accepted a random address (yes)
  // or refused it (no); the newest answer and when it was given.
  std::uint64_t catch_all_yes = 0, catch_all_no = 0;
  std::int64_t catch_all_at = 0;
  bool catch_all_last = false;
  std::uint64_t greylisted = 0;  // results that met greylisting (retried, or left greylisted)
  std::int64_t greylisted_at = 0;
  std::uint64_t refused = 0;     // refusals of us: blocked, rate limited, sender or session rejected
  std::int64_t refused_at = 0;
  std::uint64_t tarpit = 0;      // results that ended in a timeout
  // The MX set: a hash of its sorted host names, how often it changed from one check to the next.
  std::uint64_t mx_hash = 0;
  std::uint64_t mx_changes = 0;
  std::int64_t mx_changed_at = 0;

  void count_reason(std::uint8_t reason, std::uint64_t n = 1);
  [[nodiscard]] std::uint64_t reason_count(std::uint8_t reason) const noexcept;
};

/// One MX host's history (the host that answered, or refused, our sessions).
struct MxRecord {
  std::int64_t first_seen = 0, last_seen = 0;
  std::uint64_t probes = 0;      // addresses asked through it
  std::uint64_t refused = 0;     // refused us at connect, banner, HELO or MAIL FROM
  std::int64_t refused_at = 0;
  std::uint64_t greylisted = 0;
  std::uint64_t tarpit = 0;
};

/// Adds `delta` (this batch's observations) to `stored`: counts add, dates keep the newest (the
/// first seen the oldest), a different MX set counts as a change.
void merge_into(DomainRecord& stored, const DomainRecord& delta);
void merge_into(MxRecord& stored, const MxRecord& delta);

struct HistoryOptions {
  std::int64_t retention_days = 365;       // --history-retention: records not seen since are dropped
  std::uint64_t max_domains = 5'000'000;   // past it, the least recently seen domains go
  bool hash_keys = false;                  // --hash-keys: keys are SHA-256 prefixes, not names
};

class History {
 public:
  using Clock = std::function<std::int64_t()>;
  static std::int64_t system_clock_seconds();

  /// Opens or creates the file, then drops what the retention and the bound say. Throws
  /// std::runtime_error (locked by another process, not a history file, keys hashed differently).
  History(const std::string& path, HistoryOptions options, Clock clock = &History::system_clock_seconds);
  ~History();
  History(const History&) = delete;
  History& operator=(const History&) = delete;

  /// The key a name is stored under (the name, or its SHA-256 prefix with hashed keys).
  [[nodiscard]] std::string key(std::string_view name) const;
  [[nodiscard]] std::optional<DomainRecord> domain(std::string_view name);
  [[nodiscard]] std::optional<MxRecord> mx(std::string_view host);
  /// Merges a batch of observations in one committed transaction.
  void merge(std::span<const std::pair<std::string, DomainRecord>> domains,
             std::span<const std::pair<std::string, MxRecord>> hosts);
  /// Drops records last seen before the retention, then the least recently seen past max_domains.
  /// Returns the records dropped. Runs at open.
  std::uint64_t prune();
  [[nodiscard]] std::uint64_t domain_count();
  [[nodiscard]] std::uint64_t mx_count();
  [[nodiscard]] std::int64_t now() const { return clock_(); }
  [[nodiscard]] const std::string& path() const;

  /// The reasons column's bytes: (reason, LEB128 count) pairs. Exposed for tests.
  [[nodiscard]] static std::string encode_reasons(const DomainRecord& r);
  static bool decode_reasons(std::string_view bytes, DomainRecord& r);

 private:
  // By stored key (key(name)): a merge computes it once per record, not once per read and write.
  [[nodiscard]] std::optional<DomainRecord> read_domain(std::string_view k);
  [[nodiscard]] std::optional<MxRecord> read_mx(std::string_view k);

  struct Impl;
  std::unique_ptr<Impl> impl_;
  HistoryOptions options_;
  Clock clock_;
};

}  // namespace mailsift::store
