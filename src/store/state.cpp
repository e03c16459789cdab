#include "store/state.hpp"

#include "store/sqlite.hpp"
#include "store/table.hpp"

namespace mailsift::store {

namespace {

// Page cache of the state file: 64 MiB, the hash index of ~3.5 million results. See
// docs/state-and-cache.md for the figures behind it.
constexpr int kStateCacheKib = 64 * 1024;

std::string schema() {
  return "CREATE TABLE meta(name TEXT PRIMARY KEY NOT NULL, value BLOB NOT NULL);" + Table::schema("results", false);
}

// Opens the connection, takes the lock and checks (or creates) the format and the fingerprint,
// before any statement is prepared (they need the tables).
std::unique_ptr<sqlite::Db> open_state(const std::string& path, std::string_view fingerprint) {
  auto db = std::make_unique<sqlite::Db>("state file", path);
  sqlite::configure(*db, kStateCacheKib);
  const bool created = sqlite::begin_and_check_format(*db, sqlite::kStateApplicationId, schema().c_str(), "state");
  if (created) {
    sqlite::Stmt insert(*db, "INSERT INTO meta(name, value) VALUES('fingerprint', ?1), ('complete', '0')");
    insert.bind_blob(1, fingerprint);
    insert.step("writing the run's fingerprint");
  } else {
    sqlite::Stmt meta(*db, "SELECT value FROM meta WHERE name='fingerprint'");
    if (!meta.step("reading the run's fingerprint") || meta.column_blob(0) != fingerprint) {
      db->fail_message("belongs to another run (input or options differ); remove it or use another");
    }
  }
  db->exec("COMMIT", "creating the state file");
  return db;
}

}  // namespace

struct State::Impl {
  std::unique_ptr<sqlite::Db> db;
  // Prepared once, reset after each use. Declared after the connection: finalized before it closes.
  sqlite::Stmt begin{*db, "BEGIN"};
  sqlite::Stmt commit{*db, "COMMIT"};
  Table results{*db, "results", false};
  sqlite::Stmt meta_get{*db, "SELECT value FROM meta WHERE name=?1"};
  sqlite::Stmt meta_put{
      *db, "INSERT INTO meta(name, value) VALUES(?1, ?2) ON CONFLICT(name) DO UPDATE SET value=excluded.value"};

  Impl(const std::string& path, std::string_view fingerprint) : db(open_state(path, fingerprint)) {}

  void ensure_transaction() {
    if (!db->autocommit()) return;
    sqlite::Use use(begin);
    use->step("starting a transaction");
  }
};

State::State(const std::string& path, std::string_view fingerprint)
    : impl_(std::make_unique<Impl>(path, fingerprint)) {}
State::~State() = default;
State::State(State&&) noexcept = default;
State& State::operator=(State&&) noexcept = default;

std::optional<std::string> State::get(std::string_view key) {
  impl_->ensure_transaction();  // reads inside the open transaction: no per-read locking work
  auto row = impl_->results.get(key);
  if (!row) return std::nullopt;
  return std::move(row->value);
}

void State::put(std::string_view key, std::string_view value) {
  impl_->ensure_transaction();
  impl_->results.put(key, value);
}

void State::commit() {
  if (impl_->db->autocommit()) return;
  sqlite::Use use(impl_->commit);
  use->step("committing results");
}

std::uint64_t State::size() {
  impl_->ensure_transaction();
  return impl_->results.count();
}

void State::set_complete(bool complete) {
  impl_->ensure_transaction();
  {
    sqlite::Use use(impl_->meta_put);
    use->bind_text(1, "complete");
    use->bind_blob(2, complete ? "1" : "0");
    use->step("marking the run complete");
  }
  commit();
}

bool State::complete() {
  sqlite::Use use(impl_->meta_get);
  use->bind_text(1, "complete");
  return use->step("reading whether the run is complete") && use->column_blob(0) == "1";
}

const std::string& State::path() const {
  return impl_->db->path();
}

}  // namespace mailsift::store
