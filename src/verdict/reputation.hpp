#pragma once
// Domain reputation from history (issue 17): what earlier checks saw of an address's registrable
// domain (store/history.hpp), the risk signals read from it with their thresholds, and how a
// result carries it. Pure logic: the engine's HistoryBook (engine/history.hpp) reads and writes the
// file. Thresholds and weights: docs/scoring.md, "Reputation". Entry points: assess, observe.
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "store/history.hpp"

namespace mailsift {
struct Result;
}

namespace mailsift::reputation {

// Evidence only counts with enough of it: a rate needs kMinObservations definite results (valid,
// invalid or risky; `unknown` says nothing about the domain's mailboxes).
inline constexpr std::uint64_t kMinObservations = 20;
// high_invalid_rate: at least half of the definite results were invalid (a scraped or abandoned
// domain: its addresses mostly bounce).
inline constexpr double kHighInvalidRate = 0.5;
// catch_all_history: at least kMinCatchAll answers to the random-address test, most of them "accepted".
inline constexpr std::uint64_t kMinCatchAll = 2;
// unstable_mx: the MX set changed at least this often between checks, the last time within
// kUnstableMxDays (a domain moving between providers, or one whose DNS is being hijacked or parked).
inline constexpr std::uint64_t kUnstableMxChanges = 3;
inline constexpr std::int64_t kUnstableMxDays = 90;

enum Signal : std::uint8_t {
  kSignalHighInvalidRate = 1u << 0,
  kSignalCatchAllHistory = 1u << 1,
  kSignalUnstableMx = 1u << 2,
};

/// An address's domain as history knew it before this check.
struct Reputation {
  bool known = false;              // the history had a record of the domain
  store::DomainRecord history;     // zeros when not known
  std::uint8_t signals = 0;        // Signal bits
};
using ReputationPtr = std::shared_ptr<const Reputation>;

/// The signals a record shows at time `now` (Unix seconds).
[[nodiscard]] std::uint8_t assess(const store::DomainRecord& h, std::int64_t now);
/// The score the signals take away (score.hpp: at most score::kReputation in all).
[[nodiscard]] double penalty(std::uint8_t signals);
/// Attaches `rep` to `r`; with `rescore` its penalty is taken from the score (a result whose score
/// came from a stored verdict keeps it: that score was decided when it was stored).
void attach(Result& r, ReputationPtr rep, bool rescore);

/// Adds what a finished result shows of its domain to `delta` (this batch's observations), at time
/// `now`. Only results of the network levels count (an offline verdict says nothing about the
/// domain's behaviour). Returns false when the result says nothing to record.
bool observe(const Result& r, std::int64_t now, store::DomainRecord& delta);
/// The MX host of the session that answered, with what it did (empty host: none). `host` views the
/// result's session: valid while the result is.
struct HostObservation {
  std::string_view host;
  store::MxRecord delta;
};
[[nodiscard]] HostObservation observe_host(const Result& r, std::int64_t now);
/// Hash of a result's MX host names, sorted (0 when it has none).
[[nodiscard]] std::uint64_t mx_set_hash(const Result& r);

/// The `reputation` object of the result JSON (docs/schema.md).
void append_json(const Reputation& rep, std::string& out);
/// A record as JSON, for `mailsift history show` and GET /v1/domains/{domain} (null record: never seen).
void append_record_json(const store::DomainRecord* h, std::uint8_t signals, std::string& out);
void append_host_json(const store::MxRecord& h, std::string& out);

}  // namespace mailsift::reputation
