#pragma once
// Bulk jobs of the HTTP API: created from a list of addresses, stored in the server database
// (store::JobStore) before the client hears of them, verified through the same Verifier as single
// checks, their results stored as they finish. A restart resumes unfinished jobs where they
// stopped. Entry point: JobRunner.
//
// Fair across keys: a key with no job running may always start one (--max-running-jobs caps the
// rest), and addresses are handed to the verifier from the key with the fewest in flight, so one
// key's million-address jobs do not hold up another key's small one.
//
// Results are written behind, in one transaction per tick: what a client is shown (counts, state,
// results) is always committed, so nothing it saw can vanish in a crash. When the database cannot
// be written (a full disk) the server goes on serving: job work pauses with its results kept in
// memory (bounded by --job-concurrency), new jobs get 507 insufficient_storage, the write is
// retried every tick, and work resumes by itself once it succeeds.
#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "server/callback.hpp"
#include "server/log.hpp"
#include "server/metrics.hpp"
#include "server/verifier.hpp"
#include "store/jobs.hpp"

namespace mailsift::server {

struct JobOptions {
  std::size_t concurrency = 500;                   // --job-concurrency: addresses of all jobs in flight at once
  std::size_t max_running = 4;                     // --max-running-jobs (a key with none running may start one more)
  std::chrono::seconds retention{7 * 86400};       // --job-retention
  std::uint64_t max_pending_per_key = 10'000'000;  // --max-pending-per-key
  CallbackOptions callbacks;
};

/// Why a job operation was refused, as the API answers it (status, error code, message).
struct JobRefused {
  unsigned status;
  std::string code;
  std::string message;
};

class JobRunner {
 public:
  JobRunner(boost::asio::io_context& io, store::JobStore& store, Verifier& verifier, JobOptions options,
            const Log& log);

  /// Resumes the unfinished jobs of the database and starts the timers (commit, retention).
  void start();
  /// Stops feeding, commits; in-flight checks finish unrecorded and are done again after a restart.
  void stop();

  /// Stores a new job (committed) and queues it. `job` gives owner, name, level, callback_url. The
  /// addresses are stored in slices, letting the event loop run between them. Throws JobRefused:
  /// 429 quota_exceeded (the owner's unfinished addresses would pass --max-pending-per-key), 507
  /// insufficient_storage (the database cannot be written), 503 shutting_down.
  boost::asio::awaitable<store::JobRecord> create(store::JobRecord job, std::vector<std::string> inputs);
  /// The job as it stands (committed counts for running jobs), if it exists and belongs to `owner`.
  [[nodiscard]] std::optional<store::JobRecord> get(const std::string& id, const std::string& owner);
  /// Stops and deletes a job of `owner`; false when there is none. Throws JobRefused 507.
  bool remove(const std::string& id, const std::string& owner);

  [[nodiscard]] std::uint64_t pending_addresses() const noexcept;
  /// Addresses of `owner`'s unfinished jobs (and of the ones being created).
  [[nodiscard]] std::uint64_t pending_addresses(const std::string& owner) const noexcept;
  /// Jobs queued or running.
  [[nodiscard]] std::size_t active() const noexcept { return active_.size(); }
  [[nodiscard]] std::array<std::uint64_t, 3> count_by_state() { return store_.count_by_state(); }
  [[nodiscard]] store::JobStore& store() noexcept { return store_; }
  [[nodiscard]] CallbackSender& callbacks() noexcept { return callbacks_; }
  /// False while the database cannot be written.
  [[nodiscard]] bool storage_ok() const noexcept { return storage_ok_; }

 private:
  struct Active {
    store::JobRecord rec;  // as committed
    Level level = Level::smtp;
    std::int64_t cursor = 0;  // last position loaded from the database
    std::deque<store::JobStore::Item> buffer;
    std::size_t in_flight = 0;
    std::size_t unsaved = 0;  // results finished, not yet committed
    bool exhausted = false;   // every pending item has been loaded
    bool dirty = false;
  };
  struct Unsaved {
    std::shared_ptr<Active> job;
    std::int64_t pos;
    Status status;
    std::string value;
  };
  void promote();  // starts queued jobs (fair across owners)
  void feed();     // hands addresses to the verifier, fairly across owners
  [[nodiscard]] std::shared_ptr<Active> next_job() const;
  void finished_one(const std::shared_ptr<Active>& a, std::int64_t pos, const Result& r);
  void maybe_finish(const std::shared_ptr<Active>& a);
  void send_callback(const store::JobRecord& job);
  // Writes the unsaved results and dirty job rows in one transaction; false when it failed (kept).
  bool flush();
  void tick();
  void purge_some();
  void expire_old();
  // Runs a store operation; a failure is logged and marks the storage failing. False when it failed.
  template <class F>
  bool guarded(std::string_view doing, F&& fn);
  void storage_failed(std::string_view doing, const std::exception& e);
  void storage_recovered();
  [[nodiscard]] JobRefused storage_refusal() const;

  boost::asio::io_context& io_;
  store::JobStore& store_;
  Verifier& verifier_;
  JobOptions opt_;
  const Log& log_;
  CallbackSender callbacks_;
  std::deque<std::string> queued_;
  std::vector<std::shared_ptr<Active>> running_;
  std::unordered_map<std::string, std::shared_ptr<Active>> active_;  // queued and running, by id
  std::unordered_map<std::string, std::size_t> owner_in_flight_;
  std::unordered_map<std::string, std::uint64_t> creating_;  // addresses of jobs being created, by owner
  std::vector<Unsaved> unsaved_;
  std::vector<std::string> to_abandon_;  // half-created jobs whose clean-up failed: retried
  std::size_t in_flight_ = 0;
  bool stopped_ = false;
  bool purging_ = false;
  bool flush_posted_ = false;
  bool storage_ok_ = true;
  bool disk_full_ = false;
  bool cache_failing_ = false;
  boost::asio::steady_timer timer_;
  std::chrono::steady_clock::time_point next_expire_{};
};

/// Seconds since the Unix epoch.
[[nodiscard]] std::int64_t unix_now();
/// A new job id: 32 lower-case hex digits from the OpenSSL CSPRNG (unguessable: ids are capabilities
/// when no keys are configured).
[[nodiscard]] std::string new_job_id();

}  // namespace mailsift::server
