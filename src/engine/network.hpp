#pragma once
// The seam between the engine and its network stages (DNS and SMTP): the engine classifies a
// batch offline and groups its rows by domain; a Network looks the domains up and probes them, and
// says when each is done. Two implementations: LocalNetwork (engine/local.hpp: event loops in this
// process, the embedded default) and RemoteNetwork (engine/remote.hpp: per-domain chunks handed to
// `mailsift worker` processes through a broker). make_network picks one; nothing else branches.
#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>

#include "cli/options.hpp"
#include "engine/batch.hpp"
#include "smtp/politeness.hpp"

namespace mailsift::engine {

class Network {
 public:
  virtual ~Network() = default;
  /// Starts the batch's domains (b.open already counts them; a Network that splits a domain in
  /// several units adds to it first). Each unit's end calls signal.unit_done(b), on any thread.
  virtual void start(Batch& b) = 0;
  /// Runs what is ready now without blocking (for a Network that runs on the caller's thread).
  virtual void poll() {}
  /// Waits until `b` is done; throws Interrupted (Ctrl-C past its grace) or a stage's failure.
  virtual void wait_for(const Batch& b, Interrupt& in) = 0;
  /// Applies row i's network output to its Result (classified offline at submit).
  virtual void finish(Batch& b, std::size_t i, Result& r) = 0;
  /// Catch-all answers: seeded from --cache, read back at the end (no-ops below --level smtp).
  virtual void remember_catch_all(const std::string& domain, bool catch_all) = 0;
  [[nodiscard]] virtual std::unordered_map<std::string, bool> catch_all_answers() = 0;
  /// The lines behind --dns-stats and --smtp-stats (empty when the level is off).
  [[nodiscard]] virtual std::string dns_stats() = 0;
  [[nodiscard]] virtual std::string smtp_stats() = 0;
  [[nodiscard]] virtual std::size_t loops() const noexcept = 0;
  /// A cluster's state for the progress line (RemoteNetwork); `cluster` false for the local stages.
  /// (No std::optional: GCC 12 warns -Wmaybe-uninitialized on its members where it is read.)
  struct ClusterView {
    bool cluster = false;
    std::size_t workers = 0;     // alive (a heartbeat younger than 3 × --lease)
    std::size_t chunks_out = 0;  // published, verdicts not yet back
  };
  [[nodiscard]] virtual ClusterView cluster_view() { return {}; }
};

/// Who runs the engine: `verify` and `serve` (the embedded default, or a broker's coordinator
/// with --broker) or `mailsift worker` (local stages; the politeness gate on the broker).
enum class Role : std::uint8_t { standalone, worker };

/// The politeness gate for `o`'s SMTP sessions: this process's own (smtp::LocalGate), or with
/// --broker the cluster's, kept on the broker (broker::RedisGate: caps, rates and back-off across
/// every process that probes). Throws broker::BrokerError when the broker cannot be reached.
[[nodiscard]] std::shared_ptr<smtp::PolitenessGate> make_gate(const cli::VerifyOptions& o);

/// The network stages for `o` (o.level dns or smtp). Throws std::invalid_argument for bad SMTP
/// options and broker::BrokerError when the broker cannot be reached.
[[nodiscard]] std::unique_ptr<Network> make_network(const cli::VerifyOptions& o, Role role, Signal& signal);

}  // namespace mailsift::engine
