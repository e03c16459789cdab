#pragma once
// --state FILE: the finished results of one bulk run, kept in an SQLite file so that after kill -9
// the same command continues where it stopped. The embedded default: one process, no server.
// File format, pragmas and durability: docs/state-and-cache.md.
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace mailsift::store {

// One run's finished results: key (an address key) → value (a serialized result). Keys and values
// are opaque bytes (NUL included). Puts are buffered in one open transaction; commit() makes them
// durable. What is not committed when the object is destroyed, or when the process dies, is not
// in the file afterwards (the destructor rolls back, it does not commit).
//
// The file is locked for as long as the object lives: a second State on the same file, in this
// process or another, fails with a "locked by another running process" error.
// Errors (cannot open, not a state file, locked, disk full, corrupt) are std::runtime_error with
// the path and SQLite's message. Not thread-safe; movable.
class State {
 public:
  // Opens or creates the state file. `fingerprint` identifies the run (input file identity and the
  // options that change results); a file made by a run with another fingerprint throws
  // std::runtime_error ("state file X belongs to another run (input or options differ); remove it
  // or use another"), and is left untouched.
  State(const std::string& path, std::string_view fingerprint);
  ~State();
  State(State&&) noexcept;
  State& operator=(State&&) noexcept;
  State(const State&) = delete;
  State& operator=(const State&) = delete;

  // The stored value for `key`, if it was finished before (committed, or put in the open transaction).
  std::optional<std::string> get(std::string_view key);
  // Records a finished result (replacing an earlier value for the same key) in the open transaction.
  void put(std::string_view key, std::string_view value);
  // Commits the open transaction, if any (the caller calls it every N results or every second,
  // and at the end).
  void commit();
  // Finished results stored (committed and in the open transaction). Counts the key index: O(n),
  // under 1 ms per million results once cached; for the start of a run and progress lines.
  std::uint64_t size();
  // Marks the run complete (or not) and commits, so that a later run with the same fingerprint can
  // tell it has nothing left to do.
  void set_complete(bool complete);
  bool complete();

  const std::string& path() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace mailsift::store
