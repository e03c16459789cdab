#include "store/table.hpp"

#include <algorithm>
#include <limits>

namespace mailsift::store {

std::int64_t key_hash(std::string_view key) noexcept {
  std::uint64_t h = 0xcbf29ce484222325ull;  // FNV-1a 64
  for (const char c : key) {
    h ^= static_cast<unsigned char>(c);
    h *= 0x100000001b3ull;
  }
  h ^= h >> 30;  // splitmix64 finalizer: every input bit reaches every output bit
  h *= 0xbf58476d1ce4e5b9ull;
  h ^= h >> 27;
  h *= 0x94d049bb133111ebull;
  h ^= h >> 31;
  return static_cast<std::int64_t>(h);
}

std::string Table::schema(const std::string& name, bool timed) {
  std::string s = "CREATE TABLE " + name +
                  "(id INTEGER PRIMARY KEY, hash INTEGER NOT NULL, key BLOB NOT NULL, value BLOB NOT NULL" +
                  (timed ? ", stored_at INTEGER NOT NULL);" : ");");
  s += "CREATE INDEX " + name + "_hash ON " + name + "(hash);";
  if (timed) s += "CREATE INDEX " + name + "_stored_at ON " + name + "(stored_at);";
  return s;
}

Table::Table(sqlite::Db& db, const std::string& name, bool timed)
    : timed_(timed),
      find_(db, ("SELECT id, key, value" + std::string(timed ? ", stored_at" : "") + " FROM " + name + " WHERE hash=?1")
                    .c_str()),
      insert_(db, ("INSERT INTO " + name + "(hash, key, value" +
                   (timed ? ", stored_at) VALUES(?1, ?2, ?3, ?4)" : ") VALUES(?1, ?2, ?3)"))
                      .c_str()),
      update_(db, ("UPDATE " + name + " SET value=?2" + (timed ? ", stored_at=?3" : "") + " WHERE id=?1").c_str()),
      count_(db, ("SELECT count(*) FROM " + name).c_str()) {
  if (timed) {
    expire_.emplace(db, ("DELETE FROM " + name + " WHERE id IN (SELECT id FROM " + name +
                         " WHERE stored_at <= ?1 ORDER BY stored_at LIMIT ?2)")
                            .c_str());
  }
}

void Table::put(std::string_view key, std::string_view value, std::int64_t stored_at) {
  const std::int64_t hash = key_hash(key);
  std::optional<std::int64_t> id;
  {
    sqlite::Use use(find_);
    use->bind_int(1, hash);
    while (use->step("looking up an entry")) {
      if (use->column_blob(1) == key) {
        id = use->column_int(0);
        break;
      }
    }
  }
  if (id) {
    sqlite::Use use(update_);
    use->bind_int(1, *id);
    use->bind_blob(2, value);
    if (timed_) use->bind_int(3, stored_at);
    use->step("writing an entry");
    return;
  }
  sqlite::Use use(insert_);
  use->bind_int(1, hash);
  use->bind_blob(2, key);
  use->bind_blob(3, value);
  if (timed_) use->bind_int(4, stored_at);
  use->step("writing an entry");
}

std::uint64_t Table::count() {
  sqlite::Use use(count_);
  use->step("counting entries");
  return static_cast<std::uint64_t>(use->column_int(0));
}

std::uint64_t Table::expire(std::int64_t cutoff, std::uint64_t limit) {
  if (!expire_ || limit == 0) return 0;
  sqlite::Use use(*expire_);
  use->bind_int(1, cutoff);
  use->bind_int(2, static_cast<std::int64_t>(std::min<std::uint64_t>(limit, std::numeric_limits<std::int64_t>::max())));
  use->step("deleting expired entries");
  return static_cast<std::uint64_t>(use->changes());
}

}  // namespace mailsift::store
