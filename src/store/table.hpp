#pragma once
// One key → value table of a state or cache file. Rows are found through an index on a 64-bit hash
// of the key rather than on the key itself: the index is then about 16 bytes per row whatever the
// keys look like (addresses are ~30 bytes), so three times more of it stays in the page cache and
// the random inserts that keys in input order cause dirty three times fewer pages per commit. The
// key is stored in the row and compared, so a hash collision costs a second row read, never a
// wrong answer. Format: docs/state-and-cache.md.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "store/sqlite.hpp"

namespace mailsift::store {

// The key hash stored in the files: FNV-1a 64 with the splitmix64 finalizer. Part of the file
// format: it must never change (a changed hash would make every stored key unfindable).
std::int64_t key_hash(std::string_view key) noexcept;

class Table {
 public:
  // `timed`: rows carry the time they were stored (the cache), with an index to expire them.
  static std::string schema(const std::string& name, bool timed);

  Table(sqlite::Db& db, const std::string& name, bool timed);

  struct Row {
    std::string value;
    std::int64_t stored_at = 0;
  };
  // The row for `key`. `want_value(stored_at)` decides whether the value is copied out (a stale
  // cache entry is not); without a value the result is nullopt too.
  template <class Want>
  std::optional<Row> get(std::string_view key, Want&& want_value);
  std::optional<Row> get(std::string_view key) {
    return get(key, [](std::int64_t) { return true; });
  }
  // Inserts or replaces the row for `key`.
  void put(std::string_view key, std::string_view value, std::int64_t stored_at = 0);
  std::uint64_t count();
  // Deletes at most `limit` rows stored at or before `cutoff`, oldest first (timed tables only).
  std::uint64_t expire(std::int64_t cutoff, std::uint64_t limit);

 private:
  bool timed_;
  sqlite::Stmt find_;
  sqlite::Stmt insert_;
  sqlite::Stmt update_;
  sqlite::Stmt count_;
  std::optional<sqlite::Stmt> expire_;
};

template <class Want>
std::optional<Table::Row> Table::get(std::string_view key, Want&& want_value) {
  sqlite::Use use(find_);
  use->bind_int(1, key_hash(key));
  while (use->step("reading an entry")) {
    if (use->column_blob(1) != key) continue;  // another key with the same hash
    const std::int64_t stored_at = timed_ ? use->column_int(3) : 0;
    if (!want_value(stored_at)) return std::nullopt;
    return Row{std::string(use->column_blob(2)), stored_at};
  }
  return std::nullopt;
}

}  // namespace mailsift::store
