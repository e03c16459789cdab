#pragma once
// The engine behind the HTTP API: one address at a time, asynchronously, on the server's event loop
// (engine::Engine is the batch form for files). A check runs syntax and domain knowledge at once, then
// the DNS stage, then the SMTP probe; checks of the same address and level share one run, checks
// at the same domain that wait for a probe go to the mail server together (many RCPTs in one
// session), and finished answers are kept for a while (--result-ttl) so a repeated request — a form
// submitted twice, a client that timed out — costs the mail server nothing.
// Real-time checks (Lane::realtime) and jobs' checks (Lane::bulk) share the resolver and the SMTP
// session cap, but real-time ones go first in every queue and have a reserve of slots jobs may not
// take (--realtime-reserve), so a job at tarpits cannot make a single check wait for its timeouts.
// Threads (--threads N): the front (requests, the answer cache, --cache, joining checks) stays on
// the server's loop; the DNS and SMTP work runs on N network loops, each on its own thread with its
// own resolver and prober, a domain always on the same one (by a hash of its name), sharing one
// politeness gate (per-MX caps across loops). With N = 1 the network work runs on the server's loop.
// With --broker the server is a cluster's coordinator (server/cluster.hpp): jobs' checks go to the
// workers, real-time ones stay here and pass the cluster's politeness gate on the broker.
// Entry point: Verifier::verify.
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <vector>

#include "cli/options.hpp"
#include "common/lane.hpp"
#include "dns/mail.hpp"
#include "dns/resolver.hpp"
#include "domain/rdap.hpp"
#include "engine/history.hpp"
#include "domain/knowledge.hpp"
#include "server/answers.hpp"
#include "server/cluster.hpp"
#include "server/metrics.hpp"
#include "smtp/prober.hpp"
#include "store/cache.hpp"
#include "verdict/classify.hpp"
#include "verdict/result.hpp"

namespace mailsift::server {

struct VerifierOptions {
  std::chrono::seconds result_ttl{600};  // --result-ttl: finished answers kept in memory
  std::size_t result_cache_entries = 200'000;
  std::size_t result_cache_bytes = std::size_t{64} << 20;  // --result-cache-bytes (an estimate, answers.hpp)
  bool hash_keys = false;                                  // --hash-keys: cache keys are SHA-256 of the address
  std::string cache_file;                                  // --cache: verdicts kept across restarts
  std::chrono::seconds cache_ttl{7 * 86400};
  // Catch-all answers are reused this long, then asked again.
  std::chrono::seconds catch_all_ttl{3600};
  // --realtime-reserve: percent of the DNS queries in flight and of the SMTP sessions
  // (--smtp-concurrency) that only real-time checks may use (at least one of each when > 0).
  double realtime_reserve = 10;
};

/// How a check is asked for.
struct CheckOptions {
  Lane lane = Lane::realtime;
  /// Keep the answer in memory for --result-ttl and answer from there (single checks do; bulk
  /// jobs, which store their results, do not).
  bool remember = true;
};
/// GET /v1/verify: someone waits; the answer is kept for a repeated request.
inline constexpr CheckOptions kRealtimeCheck{Lane::realtime, true};
/// One address of a job: behind real-time checks, not kept in memory (the job stores it).
inline constexpr CheckOptions kJobItem{Lane::bulk, false};

class Verifier {
 public:
  /// Throws std::invalid_argument for bad SMTP options, std::runtime_error for an unusable cache.
  Verifier(boost::asio::io_context& io, const cli::VerifyOptions& engine, VerifierOptions options, Metrics& metrics);
  ~Verifier();
  Verifier(const Verifier&) = delete;
  Verifier& operator=(const Verifier&) = delete;

  using Done = std::function<void(const std::shared_ptr<const Result>&)>;
  /// Verifies `input` at `level` and calls `done` with the result, always later on the io_context
  /// (never inside verify()). A check joins a running one of the same address, level and lane.
  void verify(std::string_view input, Level level, CheckOptions how, Done done);
  /// The form from before lanes: `remember` true is a real-time check, false a job's.
  void verify(std::string_view input, Level level, bool remember, Done done) {
    verify(input, level, remember ? kRealtimeCheck : kJobItem, std::move(done));
  }
  /// The offline verdict of `input` now (syntax and domain knowledge only).
  void classify_offline(std::string_view input, Result& r) { classifier_->classify(input, r); }
  /// SIGHUP: loads the lists again (built-in ones and --list files) and uses them for checks
  /// started from now on. Throws std::runtime_error, keeping the old ones, when a file cannot be read.
  void reload_lists();

  [[nodiscard]] std::size_t in_flight() const noexcept { return running_.size(); }
  /// Adds the engine's gauges (sessions, per-host queues, DNS cache) to `g`. On the server's loop.
  void gauges(Gauges& g);
  /// Commits the --cache file and writes --history's pending observations (the server calls it
  /// on a timer, when due, and at exit with `all`: everything pending).
  void commit(bool all = false);
  /// --history kept (serve --history FILE)?
  [[nodiscard]] bool keeps_history() const noexcept { return history_ != nullptr; }
  /// GET /v1/domains/{domain}: the domain's history as JSON (engine::describe). Throws
  /// std::invalid_argument for a name that is not a domain. keeps_history() only.
  [[nodiscard]] std::string domain_history(std::string_view domain);

 private:
  struct Check;
  // The checks of one lane waiting for an SMTP probe at one domain: sent together when the
  // domain's current probe in that lane (if any) ends. One queue per lane, so a real-time check
  // never waits here for a job's probe (a tarpit holds one up to the session bound); in the
  // prober it still waits for the domain's first catch-all test and within its session cap.
  struct DomainQueue {
    std::vector<std::shared_ptr<Check>> waiting;
    dns::DomainDnsPtr dns;
    bool running = false;
    bool scheduled = false;
  };
  // One network loop: DNS and SMTP for the domains hashed to it. Everything here is touched only
  // on `io` (the server's own loop when there is one Net).
  struct Net {
    boost::asio::io_context* io = nullptr;
    std::unique_ptr<boost::asio::io_context> own;  // with several Nets: this one's loop
    std::unique_ptr<dns::Resolver> resolver;
    std::unique_ptr<dns::MailLookup> mail;
    std::unique_ptr<smtp::Prober> prober;
    std::unordered_map<std::string, DomainQueue> domains;
    std::chrono::steady_clock::time_point catch_all_since;
    std::optional<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>> guard;
    std::thread thread;
  };
  [[nodiscard]] std::string key_of(std::string_view input, Level level) const;
  [[nodiscard]] std::string cache_key(std::string_view normalized) const;
  [[nodiscard]] Net& net_of(std::string_view domain);
  // On the Net's loop: the lookup, then (on_dns) the probe; the check goes back to the server's
  // loop (done) when its network work ends.
  void lookup(Net& n, const std::shared_ptr<Check>& c);
  void on_dns(Net& n, const std::shared_ptr<Check>& c, dns::DomainDnsPtr d);
  void enqueue_probe(Net& n, const std::shared_ptr<Check>& c, dns::DomainDnsPtr d);
  // `queue` is a domains key: the lane's letter, then the domain.
  void start_probe(Net& n, const std::string& queue);
  void done(const std::shared_ptr<Check>& c);  // from a Net's loop: finish on the server's
  // A worker's verdict (--broker): applied, or the check runs here when it cannot be read.
  void on_cluster(const std::shared_ptr<Check>& c, const std::string& verdict);
  void run_here(const std::shared_ptr<Check>& c);
  void finish(const std::shared_ptr<Check>& c);
  void stop_nets() noexcept;

  boost::asio::io_context& io_;
  VerifierOptions opt_;
  Metrics& metrics_;
  domain::ListOptions lists_;
  std::unique_ptr<domain::Knowledge> knowledge_;  // replaced by reload_lists (the server's loop only)
  std::unique_ptr<Classifier> classifier_;
  std::shared_ptr<smtp::PolitenessGate> gate_;
  std::vector<std::unique_ptr<Net>> nets_;
  bool threaded_ = false;
  std::unique_ptr<store::Cache> cache_;
  std::unique_ptr<engine::HistoryBook> history_;  // --history; on the server's loop only
  // --rdap: a check's registration is looked up beside its DNS and SMTP work and joined in finish().
  std::unique_ptr<domain::RdapClient> rdap_;
  std::shared_ptr<char> alive_ = std::make_shared<char>();  // RDAP answers posted after we are gone: dropped
  void start_rdap(const std::shared_ptr<Check>& c);
  std::unique_ptr<ClusterChecks> cluster_;  // --broker: where jobs' checks go
  std::unordered_map<std::string, std::shared_ptr<Check>> running_;
  AnswerCache answers_;
};

}  // namespace mailsift::server
