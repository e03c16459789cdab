#pragma once
// The verification engine behind every output path: inputs in, Results out in input order.
// Offline (--level syntax) each input is classified at once; at --level dns/smtp inputs gather in
// a batch, each distinct domain of the batch is looked up once, each domain's probe starts as soon
// as its lookup ends (one RCPT per distinct address), and the batch's results come out in order.
// Several batches are in flight at once (up to a bound in rows): while one waits for its slowest
// probe (a greylisting retry, a tarpit), the next ones are looked up and probed, and results still
// come out in input order. Entry points: Engine::add, Engine::submit, Engine::deliver (or
// Engine::run for one batch at a time).
//
// The network levels run behind one seam, engine/network.hpp: the local stages (engine/local.hpp:
// --threads N event loops in this process, the embedded default) or, with --broker, the workers of
// a cluster (engine/remote.hpp). The caller's thread classifies, groups and delivers either way.
#include <atomic>
#include <chrono>
#include <cstddef>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "cli/options.hpp"
#include "dns/mail.hpp"
#include "domain/knowledge.hpp"
#include "engine/batch.hpp"
#include "engine/history.hpp"
#include "engine/network.hpp"
#include "engine/offline.hpp"
#include "smtp/prober.hpp"
#include "verdict/classify.hpp"
#include "verdict/result.hpp"

namespace mailsift::engine {
using cli::VerifyOptions;

[[nodiscard]] std::chrono::milliseconds seconds_to_ms(double s);
// The DNS and SMTP stages' settings from the command line (shared with `mailsift serve`). probe_options
// throws std::invalid_argument for a bad --proxy, --source-ip or --mail-from.
[[nodiscard]] dns::ResolverOptions resolver_options(const VerifyOptions& o);
[[nodiscard]] dns::MailOptions mail_options(const VerifyOptions& o);
[[nodiscard]] smtp::ProbeOptions probe_options(const VerifyOptions& o);
[[nodiscard]] smtp::PolitenessOptions politeness_options(const VerifyOptions& o);
[[nodiscard]] smtp::RetryOptions retry_options(const VerifyOptions& o);
[[nodiscard]] HistorySettings history_settings(const VerifyOptions& o);
/// The start-up check of the identity (docs/smtp.md, "Who we say we are"): looks up the domain of
/// `mail_from` (ProbeOptions::mail_from; "" is the null reverse-path: nothing to check) and calls
/// `done` on the io_context with a one-line warning when it has no MX or address record or the
/// lookup failed, else with nullopt. Servers with sender checks (Postfix reject_unknown_sender_domain,
/// Exim sender verify) refuse such a sender at RCPT TO, which reads like a verdict on the mailbox.
void check_sender_domain(dns::MailLookup& mail, const std::string& mail_from,
                         std::function<void(std::optional<std::string>)> done);
/// Share i of n of a budget split over n loops (the shares sum to the budget; each at least 1).
[[nodiscard]] std::size_t share_of(std::size_t total, std::size_t n, std::size_t i);
/// Raises the open-files soft limit so that `sessions` SMTP connections fit.
void raise_open_files_limit(std::size_t sessions);

class Engine {
 public:
  using Sink = std::function<void(std::size_t position, Result& r)>;

  /// Throws std::invalid_argument for bad SMTP options (--proxy, --source-ip, --mail-from, --helo)
  /// and broker::BrokerError when --broker cannot be reached.
  explicit Engine(const VerifyOptions& o, Role role = Role::standalone);
  /// Stops the network stages (work in flight is dropped: an interrupted run).
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  /// Queues one input (surrounding blanks already trimmed) in the open batch; returns its position
  /// in that batch.
  std::size_t add(std::string_view input);
  /// True when the open batch should be submitted now (its size bounds the sessions' grouping and
  /// the output's latency).
  [[nodiscard]] bool full() const noexcept { return open_.size() >= batch_size_; }
  [[nodiscard]] std::size_t pending() const noexcept { return open_.size(); }
  [[nodiscard]] std::size_t batch_size() const noexcept { return batch_size_; }

  /// Closes the open batch (even an empty one) and starts its lookups and probes; it then runs
  /// whenever the engine waits (deliver), alongside the batches submitted before it. Returns the
  /// batch's id (submission order, from 0).
  std::uint64_t submit();
  /// Submitted batches not yet delivered.
  [[nodiscard]] std::size_t in_flight() const noexcept { return flight_.size(); }
  [[nodiscard]] std::size_t in_flight_rows() const noexcept { return in_flight_rows_; }
  /// True when the rows of the batches in flight leave no room for another full batch: the caller
  /// must deliver (waiting) before it submits the next. This bounds memory.
  [[nodiscard]] bool window_full() const noexcept { return in_flight_rows_ + batch_size_ > window_rows_; }
  /// Hands the oldest submitted batch's Results to `sink` in input order and drops the batch. With
  /// `wait`, runs lookups and probes (of every batch in flight) until that batch is done; without,
  /// only runs what is ready now and delivers only if the batch is then done. Returns whether a
  /// batch was delivered.
  bool deliver(const Sink& sink, bool wait);
  /// Out of order (a worker, whose chunks are independent): delivers every finished batch, oldest
  /// first, to `sink(batch id, position, result)`; returns how many. Network levels only.
  std::size_t deliver_finished(const std::function<void(std::uint64_t, std::size_t, Result&)>& sink);
  /// Sleeps until a batch finishes or `for_at_most` passes (network levels, background loops).
  void wait_any(std::chrono::milliseconds for_at_most);
  /// submit(), then every batch delivered in order: the old one-batch-at-a-time call.
  void run(const Sink& sink);

  [[nodiscard]] bool network() const noexcept { return dns_level_; }
  /// The offline verdict alone (syntax and domain knowledge), now.
  void classify_offline(std::string_view input, Result& r) { classifier_.classify(input, r); }
  /// Catch-all answers: seeded from --cache (before the domain's batch is submitted) and read back
  /// at the end. No-ops below --level smtp.
  void remember_catch_all(const std::string& domain, bool catch_all);
  [[nodiscard]] std::unordered_map<std::string, bool> catch_all_answers();
  [[nodiscard]] bool probing() const noexcept { return smtp_level_; }
  /// Event loops of the local network stages (1 for a broker's coordinator).
  [[nodiscard]] std::size_t shards() const noexcept { return net_ ? net_->loops() : 0; }
  /// With --broker: workers alive and chunks out, for the progress line.
  [[nodiscard]] Network::ClusterView cluster_view() { return net_ ? net_->cluster_view() : Network::ClusterView{}; }
  /// The domain knowledge (immutable: the offline pipeline's workers share it, engine/offline.hpp).
  [[nodiscard]] const domain::Knowledge& knowledge() const noexcept { return knowledge_; }
  /// Ctrl-C: once `*flag` is set, deliver() gives the in-flight lookups and probes `grace` more,
  /// then throws Interrupted (the batches in flight are not delivered; with --state a resumed run
  /// does them again).
  void interrupt_on(const std::atomic<bool>* flag, std::chrono::milliseconds grace) {
    interrupt_.flag = flag;
    interrupt_.grace = grace;
  }
  using Interrupted = engine::Interrupted;
  /// --history: a result the engine did not produce (restored from --state/--cache, or a repeat of
  /// an earlier row) gets its domain's reputation too, its score kept as stored.
  void annotate_restored(Result& r) {
    if (history_) history_->annotate(r, false);
  }
  /// --history: merges the observations not yet written (also done as the run goes, and at the end).
  void flush_history() {
    if (history_) history_->flush();
  }
  /// The counts behind --dns-stats and --smtp-stats, one line each (empty when the level is off).
  [[nodiscard]] std::string dns_stats();
  [[nodiscard]] std::string smtp_stats();

 private:
  void start(Batch& b);
  void finish(Batch& b, const Sink& sink);

  domain::Knowledge knowledge_;
  Classifier classifier_;
  bool dns_level_;
  bool smtp_level_;
  std::size_t batch_size_;
  std::size_t window_rows_;
  Inputs open_;
  Result scratch_;  // offline: each input is classified into it and handed over
  std::uint64_t next_id_ = 0;
  // Batches in flight, oldest first (stable addresses: lookups and probes point at them). Declared
  // before the network, so destroyed after it: the handlers that its loops still hold when a run
  // is interrupted go first.
  std::deque<std::unique_ptr<Batch>> flight_;
  std::size_t in_flight_rows_ = 0;
  Signal signal_;
  std::unique_ptr<Network> net_;  // null offline
  std::unique_ptr<HistoryBook> history_;  // --history (network levels); null without
  Interrupt interrupt_;
};

}  // namespace mailsift::engine
