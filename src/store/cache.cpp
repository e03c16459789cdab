#include "store/cache.hpp"

#include <algorithm>
#include <limits>

#include "store/sqlite.hpp"
#include "store/table.hpp"

namespace mailsift::store {

namespace {

// Page cache of the cache file: 32 MiB. See docs/state-and-cache.md.
constexpr int kCacheCacheKib = 32 * 1024;

// Two tables of the same shape (store/table.hpp), with the time each row was stored and an index on
// it, so that expire() finds the oldest rows without scanning.
std::string schema() {
  return Table::schema("address", true) + Table::schema("domain", true);
}

std::unique_ptr<sqlite::Db> open_cache(const std::string& path) {
  auto db = std::make_unique<sqlite::Db>("cache file", path);
  sqlite::configure(*db, kCacheCacheKib);
  sqlite::begin_and_check_format(*db, sqlite::kCacheApplicationId, schema().c_str(), "cache");
  db->exec("COMMIT", "creating the cache file");
  return db;
}

// a - b, saturated to the int64 range.
std::int64_t saturating_sub(std::int64_t a, std::int64_t b) {
  std::int64_t r = 0;
  if (__builtin_sub_overflow(a, b, &r)) {
    return b > 0 ? std::numeric_limits<std::int64_t>::min() : std::numeric_limits<std::int64_t>::max();
  }
  return r;
}

}  // namespace

struct Cache::Impl {
  Clock clock;
  std::unique_ptr<sqlite::Db> db;
  // Declared after the connection: finalized before it closes.
  sqlite::Stmt begin{*db, "BEGIN"};
  sqlite::Stmt commit{*db, "COMMIT"};
  Table address{*db, "address", true};
  Table domain{*db, "domain", true};

  Impl(const std::string& path, Clock c) : clock(std::move(c)), db(open_cache(path)) {}

  void ensure_transaction() {
    if (!db->autocommit()) return;
    sqlite::Use use(begin);
    use->step("starting a transaction");
  }

  std::optional<std::string> get(Table& t, std::string_view key, std::chrono::seconds max_age) {
    const std::int64_t now = clock();
    const std::int64_t oldest = saturating_sub(now, max_age.count());
    ensure_transaction();  // reads inside the open transaction: no per-read locking work
    // Fresh while 0 <= now - stored < max_age. An entry from the future (the clock went back) is
    // not trusted: it is verified again and overwritten.
    auto row = t.get(key, [&](std::int64_t stored) { return stored <= now && stored > oldest; });
    if (!row) return std::nullopt;
    return std::move(row->value);
  }

  void put(Table& t, std::string_view key, std::string_view value) {
    const std::int64_t now = clock();
    ensure_transaction();
    t.put(key, value, now);
  }

  std::uint64_t expire(Table& t, std::int64_t cutoff, std::uint64_t limit) {
    ensure_transaction();
    return t.expire(cutoff, limit);
  }

  std::uint64_t count(Table& t) {
    ensure_transaction();
    return t.count();
  }
};

std::int64_t Cache::system_clock_seconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

Cache::Cache(const std::string& path, Clock clock) : impl_(std::make_unique<Impl>(path, std::move(clock))) {}
Cache::~Cache() = default;
Cache::Cache(Cache&&) noexcept = default;
Cache& Cache::operator=(Cache&&) noexcept = default;

std::optional<std::string> Cache::get_address(std::string_view key, std::chrono::seconds max_age) {
  return impl_->get(impl_->address, key, max_age);
}
void Cache::put_address(std::string_view key, std::string_view value) {
  impl_->put(impl_->address, key, value);
}
std::optional<std::string> Cache::get_domain(std::string_view domain, std::chrono::seconds max_age) {
  return impl_->get(impl_->domain, domain, max_age);
}
void Cache::put_domain(std::string_view domain, std::string_view value) {
  impl_->put(impl_->domain, domain, value);
}

void Cache::commit() {
  if (impl_->db->autocommit()) return;
  sqlite::Use use(impl_->commit);
  use->step("committing entries");
}

std::uint64_t Cache::expire(std::chrono::seconds max_age, std::uint64_t limit) {
  const std::int64_t cutoff = saturating_sub(impl_->clock(), max_age.count());
  // Domains first: few rows, and the facts that gate whole domains.
  const std::uint64_t domains = impl_->expire(impl_->domain, cutoff, limit);
  return domains + impl_->expire(impl_->address, cutoff, limit - domains);
}

std::uint64_t Cache::address_count() {
  return impl_->count(impl_->address);
}
std::uint64_t Cache::domain_count() {
  return impl_->count(impl_->domain);
}

const std::string& Cache::path() const {
  return impl_->db->path();
}

}  // namespace mailsift::store
