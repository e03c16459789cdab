#pragma once
// Domain age and registration status from RDAP (opt-in, `verify --rdap`; docs/rdap.md). Which
// server answers for a TLD comes from an RFC 9224 bootstrap file (IANA's dns.json, or a lab's);
// the query is RFC 9082's `<base>domain/<A-label>`, the answer RFC 9083 JSON: its "registration"
// event and its RFC 8056 status values. Everything in an answer is untrusted: the body, the JSON
// depth and every member are bounded, and a bad answer is an error, never a crash.
//
// Entry point: RdapClient::lookup (one lookup per registrable domain, coalesced and cached; a small
// pool of threads runs the blocking, bounded https_get). The pure parts (parse_bootstrap, query_url,
// parse_answer) are separate so that tests need no server.
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <vector>

namespace mailsift::store {
class Cache;
}

namespace mailsift::domain {

/// Days under which a registration counts as new (the `new_domain` risk signal).
inline constexpr std::int64_t kNewDomainDays = 30;
/// Largest RDAP answer read (real ones are a few KiB; a registrar's with many entities ~50 KiB).
inline constexpr std::size_t kMaxRdapAnswer = std::size_t{256} << 10;
/// Largest bootstrap file read (IANA's dns.json is about 40 KiB).
inline constexpr std::size_t kMaxBootstrap = std::size_t{4} << 20;

/// What RDAP said about one registrable domain. Shared (const) by every row at that domain.
struct Registration {
  std::string domain;              // the registrable domain asked about (A-label)
  std::string source;              // the query URL; empty when no server serves the TLD
  bool found = false;              // the registry knows the domain (200); false for 404 or an error
  std::string created;             // the "registration" event's date as RFC 3339 UTC; empty if none
  std::int64_t created_unix = 0;   // the same in seconds since the epoch (meaningful when created is set)
  std::int64_t age_days = -1;      // whole days since `created` at the time of the verdict; -1 unknown
  std::vector<std::string> status; // RFC 8056 values, lower-case, as the registry gave them
  std::string error;               // non-empty: the lookup failed (timeout, TLS, malformed answer, ...)

  /// Registered less than kNewDomainDays ago.
  [[nodiscard]] bool new_domain() const noexcept { return !created.empty() && age_days < kNewDomainDays; }
  /// A status under which the domain does not receive mail reliably: on hold (removed from the
  /// zone by the registrar or the registry), or expired and about to be deleted.
  [[nodiscard]] bool not_active() const noexcept;
};

/// An RFC 9224 bootstrap registry: TLD (or multi-label suffix) → base URLs (https only).
class Bootstrap {
 public:
  /// The base URL (ending in '/') for `domain` (A-label): the entry with the longest matching
  /// suffix of whole labels. Empty when none serves it.
  [[nodiscard]] std::string base_for(std::string_view domain) const;
  [[nodiscard]] std::size_t size() const noexcept { return bases_.size(); }

 private:
  friend Bootstrap parse_bootstrap(std::string_view json);
  std::unordered_map<std::string, std::string> bases_;  // lower-case suffix → first https base
};

/// Parses a bootstrap file's text. Throws std::runtime_error saying what is wrong.
[[nodiscard]] Bootstrap parse_bootstrap(std::string_view json);
/// Reads and parses a bootstrap file (at most kMaxBootstrap bytes). Throws std::runtime_error.
[[nodiscard]] Bootstrap load_bootstrap(const std::string& path);

/// `<base>domain/<domain as lower-case A-label>` (RFC 9082 §3.1.3); a base without a trailing '/'
/// gets one. A U-label domain is converted (IDNA2008). Throws std::invalid_argument for a domain
/// that has no A-label form or holds characters no domain name has.
[[nodiscard]] std::string query_url(std::string_view base, std::string_view domain);

/// Parses an RFC 9083 domain answer (the body of a 200) into `out` (found, created, status).
/// Throws std::runtime_error for anything that is not one: too large, not JSON, too deep, not an
/// object, a wrong objectClassName, an unreadable registration date, a status that is not a string.
void parse_answer(std::string_view body, Registration& out);

/// Parses an RFC 3339 date-time ("2026-11-20T00:00:00Z", fractions and offsets allowed) into
/// seconds since the epoch. False when it is not one.
[[nodiscard]] bool parse_rfc3339(std::string_view s, std::int64_t& unix_seconds);

using RegistrationPtr = std::shared_ptr<const Registration>;

struct RdapOptions {
  std::string bootstrap_file;  // --rdap-bootstrap
  std::string ca_file;         // --rdap-ca-file: trust this CA instead of the system's
  std::chrono::milliseconds timeout{5000};  // --rdap-timeout: from the request's start to its answer
  std::size_t concurrency = 4;              // --rdap-concurrency: lookups in flight
  double rate = 10;                         // --rdap-rate: requests per second to one RDAP server (0: no limit)
  std::chrono::seconds backoff{60};         // after a 429 from a server, nothing sent to it for this long
  std::chrono::hours ttl{24 * 3};           // an answer (found or not) is reused this long
  std::chrono::minutes error_ttl{10};       // a failed lookup is not repeated for this long
  std::string cache_file;  // --rdap-cache: answers kept across runs (SQLite, store/cache.hpp); "" = none
};

/// An answer as stored in --rdap-cache (JSON: found, created, status, source) and read back; false
/// when the text is not one (the entry is then ignored and looked up again).
[[nodiscard]] std::string serialize_registration(const Registration& r);
[[nodiscard]] bool parse_registration(std::string_view text, Registration& out);

/// Runs lookups on `concurrency` threads of its own, one per distinct registrable domain at a time
/// (callers asking for a domain in flight wait for the same answer), cached in memory. Every
/// lookup ends within `timeout` of being asked for, queueing included: one that waited its whole
/// budget in the queue fails without being sent, so RDAP never holds a verdict up longer. With a
/// cache file, answers (found or 404, never failures) younger than `ttl` are read from it first and
/// every new one is written to it.
class RdapClient {
 public:
  using Done = std::function<void(RegistrationPtr)>;
  /// Loads the bootstrap file; throws std::runtime_error when it cannot.
  explicit RdapClient(RdapOptions o);
  /// For tests: a bootstrap already parsed.
  RdapClient(RdapOptions o, Bootstrap b);
  ~RdapClient();
  RdapClient(const RdapClient&) = delete;
  RdapClient& operator=(const RdapClient&) = delete;

  /// Calls `done` once with the answer for `registrable` (A-label), on this thread when cached,
  /// else on one of the client's threads. Never throws for a bad answer: it is in `error`.
  void lookup(const std::string& registrable, Done done);

  struct Stats {
    std::uint64_t queries = 0, cache_hits = 0, coalesced = 0, errors = 0, disk_hits = 0;
  };
  [[nodiscard]] Stats stats();

 private:
  struct Entry {
    std::shared_ptr<const Registration> answer;  // null while in flight
    std::chrono::steady_clock::time_point expires{};
    std::vector<Done> waiters;
  };
  struct Job {
    std::string domain;
    std::chrono::steady_clock::time_point deadline;
  };
  void run();
  Registration fetch(const std::string& domain, std::chrono::steady_clock::time_point deadline);
  // --rdap-rate: the time this request to `base` may be sent, reserved; false (nothing reserved)
  // when that is past `deadline`.
  bool reserve(const std::string& base, std::chrono::steady_clock::time_point deadline,
               std::chrono::steady_clock::time_point& when);
  [[nodiscard]] static RegistrationPtr aged(const Registration& r);
  [[nodiscard]] std::shared_ptr<const Registration> disk_get(const std::string& domain);
  void disk_put(const Registration& r);

  RdapOptions opt_;
  Bootstrap bootstrap_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::unordered_map<std::string, Entry> cache_;
  std::deque<Job> queue_;
  std::unordered_map<std::string, std::chrono::steady_clock::time_point> next_send_;  // per base URL
  bool stopping_ = false;
  Stats stats_;
  std::unique_ptr<store::Cache> disk_;  // under mu_
  std::vector<std::thread> threads_;
};

}  // namespace mailsift::domain
