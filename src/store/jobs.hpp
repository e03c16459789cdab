#pragma once
// The server's database (`mailsift serve --db FILE`): bulk jobs and their per-address results, so a
// restart (or a crash) resumes unfinished jobs and finished results outlive the process. One SQLite
// file in WAL mode, locked by the server for as long as it runs (docs/api.md, docs/state-and-cache.md).
// Not thread-safe: the server's one event-loop thread uses it.
#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace mailsift::store {

struct JobRecord {
  std::string id;
  std::string owner;  // the API key's id ("" without keys): a job is visible to its owner only
  std::string name;
  std::string level;                                    // syntax | dns | smtp
  std::string state;                                    // queued | running | finished
  std::int64_t created = 0, started = 0, finished = 0;  // Unix seconds; 0: not yet
  std::uint64_t total = 0, done = 0;
  std::array<std::uint64_t, 4> counts{};  // by Status: valid, invalid, risky, unknown
  std::string callback_url;
  std::string callback_state;  // "" (none or not yet) | pending | delivered | failed
  std::int64_t callback_attempts = 0;
  std::string callback_error;
};

class JobStore {
 public:
  // Opens or creates the database; throws std::runtime_error (locked by another process, not a
  // mailsift server database, unreadable).
  explicit JobStore(const std::string& path);
  ~JobStore();
  JobStore(const JobStore&) = delete;
  JobStore& operator=(const JobStore&) = delete;

  // Stores a new job with its inputs (positions 1..n). Committed before it returns: a job the
  // client was told about survives a crash. `total` is taken from `inputs`.
  void create(const JobRecord& job, const std::vector<std::string>& inputs);
  // The same in steps, for a large job created without holding the caller up for long: each step
  // is a transaction of its own. Until finish_create the job does not exist for any reader; if the
  // process dies before it, the items are purged at the next start; abandon_create purges them now
  // (the next purge() steps). `job.total` must be the number of items added.
  void begin_create(std::string_view id);
  void add_items(std::string_view id, std::int64_t first_pos, std::span<const std::string> inputs);
  void finish_create(const JobRecord& job);
  void abandon_create(std::string_view id);
  [[nodiscard]] std::optional<JobRecord> get(std::string_view id);
  // Jobs not finished (queued or running), oldest first: what a restart resumes.
  [[nodiscard]] std::vector<JobRecord> unfinished();
  // Finished jobs whose callback is still to be sent (the server stopped while sending it).
  [[nodiscard]] std::vector<JobRecord> callbacks_pending();
  // Counts of jobs by state, for the metrics.
  [[nodiscard]] std::array<std::uint64_t, 3> count_by_state();
  // Writes the job's state, times, progress, counts and callback fields (in the open transaction).
  void update(const JobRecord& job);

  struct Item {
    std::int64_t pos = 0;
    std::string input;
  };
  // Up to `limit` unfinished items of `job` after position `after`, in order.
  [[nodiscard]] std::vector<Item> pending(std::string_view job, std::int64_t after, std::size_t limit);
  // Records an item's result (status as a Status number, value a serialized verdict).
  void finish_item(std::string_view job, std::int64_t pos, int status, std::string_view value);
  // Calls `fn(pos, input, value)` for up to `limit` finished items after position `after`, in
  // order; returns the last position seen (or `after` when none).
  std::int64_t finished_items(std::string_view job, std::int64_t after, std::size_t limit,
                              const std::function<void(std::int64_t, std::string_view, std::string_view)>& fn);
  // Recounts a job's finished items by status (a resumed job's counts come from its items).
  void recount(JobRecord& job);

  // Deletes the job at once; its items go in the background through purge().
  void remove(std::string_view id);
  // Deletes at most `limit` items of removed jobs; returns how many (0: nothing left to purge).
  std::uint64_t purge(std::uint64_t limit);
  // Ids of finished jobs that finished at or before `cutoff`.
  [[nodiscard]] std::vector<std::string> finished_before(std::int64_t cutoff);

  // Commits the open transaction, if any. Every write may throw StoreError (store/error.hpp);
  // disk_full() tells a full disk, after which the open transaction should be rolled back and
  // the work kept to be written again later.
  void commit();
  // Rolls back the open transaction, if any.
  void rollback() noexcept;
  // Writes and commits a trivial change: throws StoreError when the file cannot be written (a
  // full disk), so a server paused by one can tell when to go on.
  void check_writable();
  [[nodiscard]] const std::string& path() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace mailsift::store
