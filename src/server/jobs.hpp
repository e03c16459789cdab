#pragma once
// Bulk jobs of the HTTP API: created from a list of addresses, stored in the server database
// (store::JobStore) before the client hears of them, verified through the same Verifier as single
// checks, their results stored as they finish. A restart resumes unfinished jobs where they
// stopped. Up to max_running jobs run at once, each getting its turn in round-robin, so a small job
// is not stuck behind a million-address one. Entry point: JobRunner.
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
#include "server/metrics.hpp"
#include "server/verifier.hpp"
#include "store/jobs.hpp"

namespace mailsift::server {

struct JobOptions {
  std::size_t concurrency = 500;  // --job-concurrency: addresses of all jobs in flight at once
  std::size_t max_running = 4;    // jobs running at once
  std::chrono::seconds retention{7 * 86400};  // --job-retention
  CallbackOptions callbacks;
};

class JobRunner {
 public:
  JobRunner(boost::asio::io_context& io, store::JobStore& store, Verifier& verifier, JobOptions options);

  /// Resumes the unfinished jobs of the database and starts the timers (commit, retention).
  void start();
  /// Stops feeding, commits; in-flight checks finish unrecorded and are done again after a restart.
  void stop();

  /// Stores a new job (committed) and queues it. `job` gives owner, name, level, callback_url.
  store::JobRecord create(store::JobRecord job, const std::vector<std::string>& inputs);
  /// The job as it stands (live counts for running jobs), if it exists and belongs to `owner`.
  [[nodiscard]] std::optional<store::JobRecord> get(const std::string& id, const std::string& owner);
  /// Stops and deletes a job of `owner`; false when there is none.
  bool remove(const std::string& id, const std::string& owner);

  [[nodiscard]] std::uint64_t pending_addresses() const noexcept;
  /// Jobs queued or running.
  [[nodiscard]] std::size_t active() const noexcept { return active_.size(); }
  [[nodiscard]] std::array<std::uint64_t, 3> count_by_state() { return store_.count_by_state(); }
  [[nodiscard]] store::JobStore& store() noexcept { return store_; }
  [[nodiscard]] CallbackSender& callbacks() noexcept { return callbacks_; }

 private:
  struct Active {
    store::JobRecord rec;
    Level level = Level::smtp;
    std::int64_t cursor = 0;  // last position loaded from the database
    std::deque<store::JobStore::Item> buffer;
    std::size_t in_flight = 0;
    bool exhausted = false;  // every pending item has been loaded
    bool dirty = false;
  };
  void promote();  // starts queued jobs while fewer than max_running run
  void feed();     // hands addresses to the verifier, round-robin over running jobs
  void finished_one(const std::shared_ptr<Active>& a, std::int64_t pos, const Result& r);
  void maybe_finish(const std::shared_ptr<Active>& a);
  void send_callback(const store::JobRecord& job);
  void flush();
  void tick();
  void purge_some();
  void expire_old();

  boost::asio::io_context& io_;
  store::JobStore& store_;
  Verifier& verifier_;
  JobOptions opt_;
  CallbackSender callbacks_;
  std::deque<std::string> queued_;
  std::vector<std::shared_ptr<Active>> running_;
  std::unordered_map<std::string, std::shared_ptr<Active>> active_;  // queued and running, by id
  std::size_t next_ = 0;  // round-robin position in running_
  std::size_t in_flight_ = 0;
  bool stopped_ = false;
  bool purging_ = false;
  boost::asio::steady_timer timer_;
  std::chrono::steady_clock::time_point next_expire_{};
};

/// Seconds since the Unix epoch.
[[nodiscard]] std::int64_t unix_now();
/// A new job id: 32 lower-case hex digits from the OpenSSL CSPRNG (unguessable: ids are capabilities
/// when no keys are configured).
[[nodiscard]] std::string new_job_id();

}  // namespace mailsift::server
