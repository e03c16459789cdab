#include "store/sqlite.hpp"

#include <fcntl.h>
#include <sqlite3.h>
#include <unistd.h>

#include <cerrno>
#include <stdexcept>
#include <utility>

#include "store/error.hpp"

namespace mailsift::store::sqlite {

namespace {

std::string quoted(const std::string& label, const std::string& path) {
  std::string s = label;
  s += " \"";
  s += path;
  s += '"';
  return s;
}

// SQLite creates a new database file with mode 0644 less the umask, readable by every local user,
// and gives its -wal and -shm files the same mode. Ours hold addresses: a new file is created here
// first, 0640 less the umask, and SQLite opens it (an empty file is a new, empty database).
// Exclusive and without following a symbolic link: an existing file or link is left to SQLite,
// and any error (no such directory, no permission) is SQLite's to report, with its own message.
void create_private(const std::string& path) {
  if (path.empty() || path == ":memory:" || path.starts_with("file:")) return;
  int fd = -1;
  do {
    fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0640);
  } while (fd < 0 && errno == EINTR);
  if (fd >= 0) ::close(fd);
}

}  // namespace

Db::Db(std::string label, std::string path) : label_(std::move(label)), path_(std::move(path)) {
  create_private(path_);
  const int rc =
      sqlite3_open_v2(path_.c_str(), &db_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
  if (rc != SQLITE_OK) {
    const std::string msg = db_ != nullptr ? sqlite3_errmsg(db_) : sqlite3_errstr(rc);
    sqlite3_close_v2(db_);
    db_ = nullptr;
    throw std::runtime_error(quoted(label_, path_) + ": cannot open: " + msg);
  }
  sqlite3_extended_result_codes(db_, 1);
  sqlite3_busy_timeout(db_, kBusyTimeoutMs);
}

Db::~Db() {
  // Statements are finalized before (they are members declared after the Db); an open transaction
  // is rolled back by the close.
  sqlite3_close_v2(db_);
}

void Db::exec(const char* sql, std::string_view doing) {
  const int rc = sqlite3_exec(db_, sql, nullptr, nullptr, nullptr);
  if (rc != SQLITE_OK) fail(doing, rc);
}

std::string Db::query_text(const char* sql, std::string_view doing) {
  Stmt stmt(*this, sql, doing);
  if (!stmt.step(doing)) return {};
  return std::string(stmt.column_blob(0));
}

bool Db::autocommit() const noexcept {
  return sqlite3_get_autocommit(db_) != 0;
}

void Db::fail(std::string_view doing, int rc) const {
  const int primary = rc & 0xff;
  const std::string msg = sqlite3_errmsg(db_);
  if (primary == SQLITE_BUSY || primary == SQLITE_LOCKED) {
    throw std::runtime_error(quoted(label_, path_) +
                             " is locked by another running process (is another mailsift run using it?); wait for "
                             "it to finish or use another file (" +
                             std::string(doing) + ": " + msg + ")");
  }
  // SQLite reports ENOSPC on a write as SQLITE_FULL, and on other calls (fsync, truncate) as an
  // I/O error whose errno it keeps.
  const int err = sqlite3_system_errno(db_);
  const bool full = primary == SQLITE_FULL || (primary == SQLITE_IOERR && (err == ENOSPC || err == EDQUOT));
  throw StoreError(quoted(label_, path_) + ": " + std::string(doing) + ": " + msg, full);
}

void Db::fail_message(std::string_view message) const {
  throw std::runtime_error(quoted(label_, path_) + " " + std::string(message));
}

Stmt::Stmt(Db& db, const char* sql, std::string_view doing) : db_(&db) {
  const int rc = sqlite3_prepare_v3(db.handle(), sql, -1, SQLITE_PREPARE_PERSISTENT, &stmt_, nullptr);
  if (rc != SQLITE_OK) db.fail(doing.empty() ? std::string("preparing ") + sql : std::string(doing), rc);
}

Stmt::~Stmt() {
  sqlite3_finalize(stmt_);
}

void Stmt::bind_blob(int index, std::string_view bytes) {
  // A null pointer would bind SQL NULL; an empty value is an empty blob.
  static const char empty = 0;
  const char* data = bytes.data() != nullptr ? bytes.data() : &empty;
  const int rc = sqlite3_bind_blob64(stmt_, index, data, bytes.size(), SQLITE_STATIC);
  if (rc != SQLITE_OK) db_->fail("binding a value", rc);
}

void Stmt::bind_text(int index, std::string_view text) {
  static const char empty = 0;
  const char* data = text.data() != nullptr ? text.data() : &empty;
  const int rc = sqlite3_bind_text64(stmt_, index, data, text.size(), SQLITE_STATIC, SQLITE_UTF8);
  if (rc != SQLITE_OK) db_->fail("binding a value", rc);
}

void Stmt::bind_int(int index, std::int64_t value) {
  const int rc = sqlite3_bind_int64(stmt_, index, value);
  if (rc != SQLITE_OK) db_->fail("binding a value", rc);
}

bool Stmt::step(std::string_view doing) {
  const int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  db_->fail(doing, rc);
}

std::string_view Stmt::column_blob(int index) const {
  const void* p = sqlite3_column_blob(stmt_, index);
  const int n = sqlite3_column_bytes(stmt_, index);
  if (p == nullptr || n <= 0) return {};
  return {static_cast<const char*>(p), static_cast<std::size_t>(n)};
}

std::int64_t Stmt::column_int(int index) const {
  return sqlite3_column_int64(stmt_, index);
}

void Stmt::reset() noexcept {
  sqlite3_reset(stmt_);
  sqlite3_clear_bindings(stmt_);
}

std::int64_t Stmt::changes() const noexcept {
  return sqlite3_changes64(db_->handle());
}

void configure(Db& db, int cache_kib) {
  // Before WAL: in exclusive locking mode the WAL index is kept in heap memory (no -shm file) and
  // the database file stays locked from the first read until the connection closes, so a second
  // process cannot open it while we run.
  if (db.query_text("PRAGMA locking_mode=EXCLUSIVE", "setting the locking mode") != "exclusive") {
    db.fail_message("could not be put in exclusive locking mode");
  }
  // 16 KiB pages (a new file only; SQLite's default is 4 KiB): a quarter of the WAL frames and
  // write() calls per commit, and shallower trees; measured ~1.7x faster puts.
  db.exec("PRAGMA page_size=16384", "setting the page size");
  // The first read of the file: takes the lock, or fails with "locked" after the busy timeout;
  // a file that is not an SQLite database fails here too.
  const std::string mode = db.query_text("PRAGMA journal_mode=WAL", "opening");
  if (mode != "wal") db.fail_message("could not be switched to WAL journal mode (it is in '" + mode + "' mode)");
  // synchronous=NORMAL in WAL mode: a commit is appended to the WAL file with write() and not
  // fsync()ed; the WAL is fsync()ed at each checkpoint. Every committed transaction survives a
  // crash of the process (kill -9, abort, OOM kill), since its bytes are in the kernel's page cache
  // and the next open replays the WAL. An operating system crash or power loss may lose the
  // transactions committed since the last checkpoint (the file is still consistent: it rolls back
  // to an earlier commit, never to a torn one). For the state file that only means re-probing
  // those addresses; FULL would fsync every commit.
  db.exec("PRAGMA synchronous=NORMAL", "setting synchronous=NORMAL");
  const std::string cache = "PRAGMA cache_size=-" + std::to_string(cache_kib);
  db.exec(cache.c_str(), "setting the page cache size");
  // Checkpoint (copy the WAL back into the database file) when the WAL passes 8000 pages = 125 MiB
  // rather than SQLite's 1000: commits of random keys dirty many index pages, and each checkpoint
  // writes them again; measured ~1.3x faster puts at 10,000 puts per commit.
  db.exec("PRAGMA wal_autocheckpoint=8000", "setting the checkpoint size");
  // A long transaction grows the WAL; after the checkpoint that follows it, truncate the file back
  // to at most 64 MiB rather than keep its high-water size on disk.
  db.exec("PRAGMA journal_size_limit=67108864", "setting the WAL size limit");
}

bool begin_and_check_format(Db& db, std::int32_t application_id, const char* schema, std::string_view kind) {
  db.exec("BEGIN IMMEDIATE", "starting a transaction");
  const std::int64_t app = std::stoll(db.query_text("PRAGMA application_id", "reading the application id"));
  const std::int64_t tables = std::stoll(db.query_text("SELECT count(*) FROM sqlite_schema", "reading the schema"));
  if (app == 0 && tables == 0) {
    db.exec(schema, "creating the tables");
    const std::string pragmas = "PRAGMA application_id=" + std::to_string(application_id) +
                                ";PRAGMA user_version=" + std::to_string(kFormatVersion);
    db.exec(pragmas.c_str(), "writing the format");
    return true;
  }
  if (app != application_id) {
    const std::string want(kind);
    if (app == kStateApplicationId || app == kCacheApplicationId || app == kServerApplicationId) {
      const char* is = app == kStateApplicationId ? "state" : app == kCacheApplicationId ? "cache" : "server database";
      db.fail_message("is a mailsift " + std::string(is) + " file, not a " + want + " file");
    }
    db.fail_message("is not a mailsift " + want +
                    " file (an SQLite database with other contents); remove it or use another");
  }
  const std::int64_t version = std::stoll(db.query_text("PRAGMA user_version", "reading the format version"));
  if (version != kFormatVersion) {
    db.fail_message("has format version " + std::to_string(version) + "; this mailsift reads version " +
                    std::to_string(kFormatVersion));
  }
  return false;
}

}  // namespace mailsift::store::sqlite
