#pragma once
// --cache FILE: verdicts reused across runs while younger than a TTL, and per-domain facts (MX,
// catch-all, greylisting seen) kept apart from per-address verdicts. One SQLite file, one process
// at a time. File format and pragmas: docs/state-and-cache.md.
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace mailsift::store {

// Two tables of key → (value, time stored): addresses and domains. Keys and values are opaque bytes
// (the caller serializes, and puts into the key whatever besides the address changes a verdict,
// such as the level). An entry is fresh while 0 <= now - stored < max_age; a stale entry is never
// returned, whether or not expire() has removed it yet. Writes go into one open transaction;
// commit() makes them durable; the destructor rolls back what is not committed.
//
// The file is locked for as long as the object lives: a second Cache on the same file fails with a
// "locked by another running process" error. Errors are std::runtime_error with the path and
// SQLite's message. Not thread-safe; movable.
class Cache {
 public:
  // Seconds since the Unix epoch; injectable for tests.
  using Clock = std::function<std::int64_t()>;
  static std::int64_t system_clock_seconds();

  // Rows expire() deletes per call unless told otherwise: about a second of work at worst
  // (~100,000 rows/s measured). Anything older is left for the next call (and never returned).
  static constexpr std::uint64_t kExpireLimit = 100'000;

  explicit Cache(const std::string& path, Clock clock = &Cache::system_clock_seconds);
  ~Cache();
  Cache(Cache&&) noexcept;
  Cache& operator=(Cache&&) noexcept;
  Cache(const Cache&) = delete;
  Cache& operator=(const Cache&) = delete;

  std::optional<std::string> get_address(std::string_view key, std::chrono::seconds max_age);
  void put_address(std::string_view key, std::string_view value);
  std::optional<std::string> get_domain(std::string_view domain, std::chrono::seconds max_age);
  void put_domain(std::string_view domain, std::string_view value);
  // Commits the open transaction, if any.
  void commit();
  // Deletes entries (addresses and domains) stored max_age or longer ago, oldest first, at most
  // `limit` rows (work bounded by the rows deleted: an index on the time stored). Called at open
  // with the run's TTL. Part of the open transaction. Returns the rows deleted.
  std::uint64_t expire(std::chrono::seconds max_age, std::uint64_t limit = kExpireLimit);
  // Entries stored (fresh or not): addresses / domains.
  std::uint64_t address_count();
  std::uint64_t domain_count();

  const std::string& path() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace mailsift::store
