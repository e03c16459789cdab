#pragma once
// --history FILE behind the engine (issue 17): the one place results meet the history store. The
// engine (verify) and the server's Verifier (serve) hand it each finished result: annotate() gives
// the result what the history knew of its registrable domain (read once per domain, then kept in
// memory), record() adds the result to this batch's observations, and flush() merges those into
// the file in one transaction: a domain's record is written once per flush whatever the number of
// its addresses, and never per address. catch_all() tells a recent catch-all answer, so a domain
// tested lately is not sent a random RCPT again. Not thread-safe: one owner thread.
// Entry point: HistoryBook.
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "common/flat_map.hpp"
#include "store/history.hpp"
#include "verdict/reputation.hpp"
#include "verdict/result.hpp"

namespace mailsift::engine {

struct HistorySettings {
  store::HistoryOptions store;
  // A catch-all answer younger than this is reused instead of testing again (0: always test).
  std::int64_t catch_all_ttl_s = 7 * 86400;
  // A domain whose servers refused us less than this ago is not asked (0: always ask).
  std::int64_t backoff_s = 3600;
  // How long a domain's record read from the file is used before it is read again. 0: for the
  // whole run (verify: a run's verdicts use the history as it stood when the run began, so a
  // run's output does not depend on how its batches happened to interleave). The server re-reads.
  std::int64_t refresh_s = 0;
  // Pending observations are merged into the file at least this often, and when this many
  // domains wait.
  std::chrono::milliseconds flush_every{1000};
  std::size_t flush_domains = 20'000;
};

class HistoryBook {
 public:
  using Clock = store::History::Clock;
  HistoryBook(const std::string& path, HistorySettings settings, Clock clock = &store::History::system_clock_seconds);
  /// Merges what is pending; errors are written to stderr (a destructor does not throw).
  ~HistoryBook();
  HistoryBook(const HistoryBook&) = delete;
  HistoryBook& operator=(const HistoryBook&) = delete;

  /// The reputation of `registrable` as the history knew it.
  [[nodiscard]] reputation::ReputationPtr reputation(std::string_view registrable);
  /// Attaches the reputation of r's registrable domain (nothing without one); with `rescore` its
  /// signals' penalty comes off the score (reputation::attach).
  void annotate(Result& r, bool rescore);
  /// Adds a finished result to the observations to write.
  void record(const Result& r);
  /// The newest catch-all answer for `domain` (a registrable domain) when younger than the TTL.
  [[nodiscard]] std::optional<bool> catch_all(std::string_view domain);
  /// True when `registrable`'s servers refused us less than the back-off ago: its addresses are not
  /// asked (Reason::held_back).
  [[nodiscard]] bool held_back(std::string_view registrable);
  /// True when the domain met greylisting before: its probe is started first, so the greylisting
  /// delay runs while the rest of the batch is checked.
  [[nodiscard]] bool greylists(std::string_view registrable);
  /// Merges pending observations when due (time or count); returns whether it did.
  bool maybe_flush();
  /// Merges pending observations now. Throws std::runtime_error when the file cannot be written.
  void flush();
  [[nodiscard]] store::History& store() { return history_; }
  [[nodiscard]] std::size_t pending() const noexcept { return domains_.size(); }

 private:
  struct Known {
    reputation::ReputationPtr rep;
    std::int64_t read_at = 0;
  };
  HistorySettings settings_;
  store::History history_;
  Clock clock_;
  std::unordered_map<std::string, Known, StringHash, std::equal_to<>> known_;
  std::unordered_map<std::string, store::DomainRecord, StringHash, std::equal_to<>> domains_;
  std::unordered_map<std::string, store::MxRecord, StringHash, std::equal_to<>> hosts_;
  std::chrono::steady_clock::time_point last_flush_ = std::chrono::steady_clock::now();
};

/// The answer of `mailsift history show` and GET /v1/domains/{domain}: `name`'s registrable
/// domain's record (with its signals now) and the MX host record of `name`, as one JSON object.
[[nodiscard]] std::string describe(store::History& h, std::string_view name, std::string_view registrable);

}  // namespace mailsift::engine
