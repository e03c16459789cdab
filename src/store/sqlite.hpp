#pragma once
// A small RAII wrapper over SQLite's C API, for the store module only: one connection (Db) and
// prepared statements (Stmt) that are compiled once and reset after every use. Every failure is a
// std::runtime_error naming the file and carrying sqlite3_errmsg. Not thread-safe: one object is
// used by one thread at a time (the connection is opened with SQLITE_OPEN_NOMUTEX).
#include <cstdint>
#include <string>
#include <string_view>

struct sqlite3;
struct sqlite3_stmt;

namespace mailsift::store::sqlite {

class Db {
 public:
  // Opens (creating if missing) `path` for reading and writing. `label` names the file in error
  // messages: "state file", "cache file".
  Db(std::string label, std::string path);
  ~Db();
  Db(const Db&) = delete;
  Db& operator=(const Db&) = delete;

  sqlite3* handle() const noexcept { return db_; }
  const std::string& path() const noexcept { return path_; }

  // Runs one or more statements that return nothing of interest.
  void exec(const char* sql, std::string_view doing);
  // Runs a statement (a PRAGMA, a count) and returns the first column of its first row as text
  // ("" when there is no row).
  std::string query_text(const char* sql, std::string_view doing);
  // True when no transaction is open.
  bool autocommit() const noexcept;

  // Throws `<label> "<path>": <doing>: <sqlite3_errmsg>`; SQLITE_BUSY/LOCKED (another process holds
  // the file) gets its own message.
  [[noreturn]] void fail(std::string_view doing, int rc) const;
  // Throws `<label> "<path>" <message>`.
  [[noreturn]] void fail_message(std::string_view message) const;

 private:
  std::string label_;
  std::string path_;
  sqlite3* db_ = nullptr;
};

class Stmt {
 public:
  // `doing` names the step in an error (default: "preparing <sql>"); preparing is where SQLite
  // first reads the file, so a locked or corrupt file fails here.
  Stmt(Db& db, const char* sql, std::string_view doing = {});
  ~Stmt();
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;

  // Parameters are 1-based. Blobs are bound without copying: the bytes must stay alive until the
  // statement is reset. Strings are stored as BLOBs, so any bytes (NUL included) round-trip.
  void bind_blob(int index, std::string_view bytes);
  void bind_text(int index, std::string_view text);
  void bind_int(int index, std::int64_t value);
  // Steps once: true when a row is ready, false when the statement is done. Throws otherwise.
  bool step(std::string_view doing);
  // Columns of the current row (0-based); a blob view is valid until the next step or reset.
  std::string_view column_blob(int index) const;
  std::int64_t column_int(int index) const;
  // Resets the statement and clears its bindings; never throws.
  void reset() noexcept;
  // Rows changed by the last INSERT/UPDATE/DELETE of this connection.
  std::int64_t changes() const noexcept;

 private:
  Db* db_;
  sqlite3_stmt* stmt_ = nullptr;
};

// Resets a statement when it goes out of scope, so a throw half-way never leaves it running (a
// running statement would hold the transaction open and pin its bound buffers).
class Use {
 public:
  explicit Use(Stmt& stmt) noexcept : stmt_(stmt) {}
  ~Use() { stmt_.reset(); }
  Use(const Use&) = delete;
  Use& operator=(const Use&) = delete;
  Stmt* operator->() const noexcept { return &stmt_; }

 private:
  Stmt& stmt_;
};

// Settings shared by the state and cache files (see docs/state-and-cache.md):
// locking_mode=EXCLUSIVE (before WAL, so the WAL index lives in the process's heap and the file
// stays locked until the connection closes), journal_mode=WAL, synchronous=NORMAL, a bounded page
// cache of `cache_kib` KiB, and a WAL size limit after checkpoints. Reading the file for the first
// time takes the lock: a file held by another process fails here after the busy timeout, with the
// "locked" message.
void configure(Db& db, int cache_kib);

// PRAGMA application_id of the kinds of file ('MSst', 'MSca', 'MSsj'), and their format version
// (PRAGMA user_version).
inline constexpr std::int32_t kStateApplicationId = 0x4D537374;
inline constexpr std::int32_t kCacheApplicationId = 0x4D536361;
inline constexpr std::int32_t kServerApplicationId = 0x4D53736A;  // 'MSsj': mailsift serve's jobs
inline constexpr int kFormatVersion = 1;

// Begins an IMMEDIATE transaction (left open for the caller to commit) and checks that the file is
// a mailsift file of this kind and format; an empty file gets `schema` and the application id and
// format version (returns true). `kind` is "state" or "cache".
bool begin_and_check_format(Db& db, std::int32_t application_id, const char* schema, std::string_view kind);

// The busy timeout of both files: how long an open waits for another process's lock before failing.
inline constexpr int kBusyTimeoutMs = 1000;

}  // namespace mailsift::store::sqlite
