#pragma once
// The SMTP stage for a set of addresses at one domain: splits them into sessions (many RCPTs per
// session), tests catch-all once per domain, retries greylisted addresses later without holding
// up other work. Entry point: Prober::probe. One session is smtp/session.hpp.
//
// Addresses wait in one queue per domain, whichever probe() call they came from: a session takes
// up to --rcpts-per-session of them when it starts, so a domain whose addresses arrive in several
// batches (a bulk run reads its input in batches) still gets few sessions and one catch-all test.
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "common/lane.hpp"
#include "dns/evidence.hpp"
#include "smtp/politeness.hpp"
#include "smtp/probe.hpp"
#include "smtp/session.hpp"

namespace mailsift::smtp {

struct RetryOptions {
  // Greylisters (postgrey, Postfix's postscreen, Exim's greylistd) accept a retry after 60-300 s.
  // Used when the server does not say how long it wants (smtp/retry_hint.hpp): when it does, the
  // retry waits that long instead, within max_wait.
  std::chrono::milliseconds greylist_retry{60'000};  // --greylist-retry
  int greylist_tries = 3;                            // sessions per address in all, the first included
  std::chrono::milliseconds max_wait{300'000};       // --max-wait: the longest one address may wait
};

struct ProberStats {
  std::uint64_t sessions = 0;
  std::uint64_t rcpts = 0;             // RCPT TO commands answered (the random address included)
  std::uint64_t catch_all_tests = 0;   // sessions that sent the random address
  std::uint64_t greylist_retries = 0;  // sessions that were a retry (smtp::Retry: greylisting, 421)
  std::uint64_t catch_all_cached = 0;  // domains whose catch-all answer came from the cache
  /// Sums the counts of several probers (one per event loop).
  ProberStats& operator+=(const ProberStats& o) noexcept {
    sessions += o.sessions;
    rcpts += o.rcpts;
    catch_all_tests += o.catch_all_tests;
    greylist_retries += o.greylist_retries;
    catch_all_cached += o.catch_all_cached;
    return *this;
  }
};

class Prober {
 public:
  /// `gate`: the politeness gate shared with other loops' probers (null: one of its own). `tls`: a
  /// TLS client shared with other probers (any thread); null: one of its own.
  Prober(boost::asio::io_context& io, ProbeOptions probe, PolitenessOptions polite, RetryOptions retry,
         std::size_t max_sessions, std::shared_ptr<PolitenessGate> gate = nullptr,
         std::shared_ptr<TlsClient> tls = nullptr);
  ~Prober();
  Prober(const Prober&) = delete;
  Prober& operator=(const Prober&) = delete;

  using Done = std::function<void(std::vector<AddressProbe>)>;
  /// Probes `mailboxes` (all at `domain`, an A-label or an address literal) on the mail servers of
  /// `dns` (which must have a target). `done` runs once on the io_context with one AddressProbe
  /// per mailbox, in the same order. An exception inside (a bug) propagates out of io_context::run.
  /// Lane::realtime mailboxes go before the domain's waiting bulk ones, in sessions of their own
  /// that wait as Priority::realtime (smtp/politeness.hpp); the domain's limits (its session cap,
  /// its first catch-all test) still apply to them.
  void probe(std::string domain, std::shared_ptr<const dns::DomainDns> dns, std::vector<std::string> mailboxes,
             Done done, Lane lane = Lane::bulk);

  [[nodiscard]] const ProberStats& stats() const noexcept { return stats_; }
  /// Catch-all answers known so far, by domain (for a --cache file), and a way to seed them.
  [[nodiscard]] const std::unordered_map<std::string, bool>& catch_all_answers() const noexcept { return catch_all_; }
  void remember_catch_all(const std::string& domain, bool catch_all) { catch_all_[domain] = catch_all; }
  /// Forgets the catch-all answers (a long-running server asks again now and then: a domain's
  /// setup changes, and the map must not grow without end).
  void forget_catch_all() {
    catch_all_.clear();
    greylisting_.clear();
  }
  [[nodiscard]] SessionContext& context() noexcept { return ctx_; }

 private:
  struct Job;          // one probe() call: its results and its callback
  struct Item;         // one address of a job, waiting for or in a session
  struct DomainQueue;  // a domain's waiting addresses and running sessions

  // Starts sessions for `domain` while addresses wait and the domain's limits allow.
  void pump(const std::string& domain);
  // One session's addresses: the session, then its greylisting retries.
  boost::asio::awaitable<void> chunk_job(std::string domain, std::vector<Target> targets, std::vector<Item> items,
                                         bool test_catch_all);
  // How long to wait before retrying the deferred addresses of `session`: the longest delay the
  // server stated for them (plus a margin) when it stated one for each, else --greylist-retry;
  // for Retry::reconnect, what is left of the back-off of the servers the session tried.
  [[nodiscard]] std::chrono::milliseconds retry_wait(const SessionReport& session);
  // The first session of a chunk has ended: its place in the domain's limits is free.
  void first_session_done(const std::string& domain, bool tested);
  [[nodiscard]] std::optional<bool> known_catch_all(const std::string& domain) const;
  // Every address of `job` has its final answer: fills in the domain's catch-all answer and calls
  // its callback (posted).
  void finish(Job& job, const std::string& domain);

  boost::asio::io_context& io_;
  RetryOptions retry_;
  // Sessions of one domain running at once (their first try; retries wait aside): the per-host
  // cap, since a domain's sessions all go to its first reachable MX address.
  std::size_t domain_sessions_;
  std::unordered_map<std::string, std::unique_ptr<DomainQueue>> queues_;
  SessionContext ctx_;
  ProberStats stats_;
  // Catch-all answers by domain (true/false only: an inconclusive test is asked again).
  std::unordered_map<std::string, bool> catch_all_;
  // Domains that deferred an address for a retry (greylisting). Their next sessions go first in
  // the connection queues: the sooner a first try is made, the sooner its retry can be.
  std::unordered_set<std::string> greylisting_;
};

/// The connection targets of a domain, in the order a session tries them: MX hosts by preference
/// (the DNS stage already shuffled equal preferences), each host's addresses A before AAAA.
[[nodiscard]] std::vector<Target> targets_of(const dns::DomainDns& d);

}  // namespace mailsift::smtp
