#include "store/jobs.hpp"

#include <sqlite3.h>

#include "store/sqlite.hpp"

namespace mailsift::store {

namespace {

// Page cache: 32 MiB; the server reads items in pages of a few hundred, in position order.
constexpr int kJobsCacheKib = 32 * 1024;

constexpr const char* kSchema =
    "CREATE TABLE jobs(id TEXT PRIMARY KEY NOT NULL, owner TEXT NOT NULL, name TEXT NOT NULL, level TEXT NOT NULL,"
    " state TEXT NOT NULL, created INTEGER NOT NULL, started INTEGER NOT NULL, finished INTEGER NOT NULL,"
    " total INTEGER NOT NULL, done INTEGER NOT NULL, valid INTEGER NOT NULL, invalid INTEGER NOT NULL,"
    " risky INTEGER NOT NULL, unknown INTEGER NOT NULL, callback_url TEXT NOT NULL, callback_state TEXT NOT NULL,"
    " callback_attempts INTEGER NOT NULL, callback_error TEXT NOT NULL);"
    // Items of one job are stored together, in position order (the primary key is the table's order).
    "CREATE TABLE items(job TEXT NOT NULL, pos INTEGER NOT NULL, input BLOB NOT NULL, status INTEGER,"
    " value BLOB, PRIMARY KEY(job, pos)) WITHOUT ROWID;"
    // Jobs removed whose items are still being deleted (a million rows take a while: in steps).
    "CREATE TABLE removed(id TEXT PRIMARY KEY NOT NULL);";

constexpr const char* kColumns =
    "id, owner, name, level, state, created, started, finished, total, done, valid, invalid, risky, unknown,"
    " callback_url, callback_state, callback_attempts, callback_error";

std::unique_ptr<sqlite::Db> open_jobs(const std::string& path) {
  auto db = std::make_unique<sqlite::Db>("server database", path);
  sqlite::configure(*db, kJobsCacheKib);
  sqlite::begin_and_check_format(*db, sqlite::kServerApplicationId, kSchema, "server database");
  // Jobs being created (their items go in in slices, each its own transaction) are listed here
  // until their job row is committed; a job a crash left half-created is purged at the next start.
  // Added after the format's first version: created when missing.
  db->exec(
      "CREATE TABLE IF NOT EXISTS creating(id TEXT PRIMARY KEY NOT NULL);"
      "INSERT OR IGNORE INTO removed(id) SELECT id FROM creating; DELETE FROM creating;",
      "checking for jobs left half-created");
  db->exec("COMMIT", "creating the server database");
  return db;
}

JobRecord read_job(const sqlite::Stmt& s) {
  JobRecord j;
  j.id = s.column_blob(0);
  j.owner = s.column_blob(1);
  j.name = s.column_blob(2);
  j.level = s.column_blob(3);
  j.state = s.column_blob(4);
  j.created = s.column_int(5);
  j.started = s.column_int(6);
  j.finished = s.column_int(7);
  j.total = static_cast<std::uint64_t>(s.column_int(8));
  j.done = static_cast<std::uint64_t>(s.column_int(9));
  for (int k = 0; k < 4; ++k) j.counts[static_cast<std::size_t>(k)] = static_cast<std::uint64_t>(s.column_int(10 + k));
  j.callback_url = s.column_blob(14);
  j.callback_state = s.column_blob(15);
  j.callback_attempts = s.column_int(16);
  j.callback_error = s.column_blob(17);
  return j;
}

std::string select_jobs(const char* where) {
  return std::string("SELECT ") + kColumns + " FROM jobs " + where;
}

}  // namespace

struct JobStore::Impl {
  std::unique_ptr<sqlite::Db> db;
  sqlite::Stmt begin{*db, "BEGIN"};
  sqlite::Stmt commit{*db, "COMMIT"};
  sqlite::Stmt mark_creating{*db, "INSERT OR IGNORE INTO creating(id) VALUES(?1)"};
  sqlite::Stmt unmark_creating{*db, "DELETE FROM creating WHERE id=?1"};
  sqlite::Stmt insert_job{
      *db, "INSERT INTO jobs VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18)"};
  sqlite::Stmt insert_item{*db, "INSERT INTO items(job, pos, input) VALUES(?1, ?2, ?3)"};
  sqlite::Stmt get_job{*db, select_jobs("WHERE id=?1").c_str()};
  sqlite::Stmt unfinished_jobs{*db, select_jobs("WHERE state != 'finished' ORDER BY created, id").c_str()};
  sqlite::Stmt callbacks{*db,
                         select_jobs("WHERE state='finished' AND callback_state='pending' ORDER BY finished").c_str()};
  sqlite::Stmt by_state{*db, "SELECT state, count(*) FROM jobs GROUP BY state"};
  sqlite::Stmt update_job{*db,
                          "UPDATE jobs SET state=?2, started=?3, finished=?4, done=?5, valid=?6, invalid=?7, risky=?8,"
                          " unknown=?9, callback_state=?10, callback_attempts=?11, callback_error=?12 WHERE id=?1"};
  sqlite::Stmt pending{*db,
                       "SELECT pos, input FROM items WHERE job=?1 AND pos>?2 AND status IS NULL ORDER BY pos LIMIT ?3"};
  sqlite::Stmt finish{*db, "UPDATE items SET status=?3, value=?4 WHERE job=?1 AND pos=?2"};
  sqlite::Stmt finished{
      *db, "SELECT pos, input, value FROM items WHERE job=?1 AND pos>?2 AND status IS NOT NULL ORDER BY pos LIMIT ?3"};
  sqlite::Stmt recount{*db, "SELECT status, count(*) FROM items WHERE job=?1 AND status IS NOT NULL GROUP BY status"};
  sqlite::Stmt delete_job{*db, "DELETE FROM jobs WHERE id=?1"};
  sqlite::Stmt mark_removed{*db, "INSERT OR IGNORE INTO removed(id) VALUES(?1)"};
  sqlite::Stmt first_removed{*db, "SELECT id FROM removed LIMIT 1"};
  sqlite::Stmt unmark_removed{*db, "DELETE FROM removed WHERE id=?1"};
  sqlite::Stmt purge_items{*db,
                           "DELETE FROM items WHERE job=?1 AND pos IN (SELECT pos FROM items WHERE job=?1 LIMIT ?2)"};
  sqlite::Stmt old_jobs{*db, "SELECT id FROM jobs WHERE state='finished' AND finished<=?1 ORDER BY finished"};

  explicit Impl(const std::string& path) : db(open_jobs(path)) {}

  void ensure_transaction() {
    if (!db->autocommit()) return;
    sqlite::Use use(begin);
    use->step("starting a transaction");
  }
  void do_commit() {
    if (db->autocommit()) return;
    sqlite::Use use(commit);
    use->step("committing");
  }
  void do_rollback() noexcept {
    if (db->autocommit()) return;
    // A failed ROLLBACK leaves nothing better to do; SQLite rolls back at the next BEGIN anyway.
    sqlite3_exec(db->handle(), "ROLLBACK", nullptr, nullptr, nullptr);
  }
  // Runs `fn` in a transaction of its own, committed; rolled back when it throws.
  template <class F>
  void in_transaction(F&& fn) {
    do_rollback();
    try {
      ensure_transaction();
      fn();
      do_commit();
    } catch (...) {
      do_rollback();
      throw;
    }
  }
};

JobStore::JobStore(const std::string& path) : impl_(std::make_unique<Impl>(path)) {}
JobStore::~JobStore() {
  // What is not committed is lost on purpose when the process dies; on an orderly exit keep it.
  try {
    impl_->do_commit();
  } catch (...) {  // NOLINT(bugprone-empty-catch): a destructor must not throw; the data is re-done
  }
}

const std::string& JobStore::path() const {
  return impl_->db->path();
}

void JobStore::create(const JobRecord& j, const std::vector<std::string>& inputs) {
  JobRecord r = j;
  r.total = inputs.size();
  begin_create(r.id);
  add_items(r.id, 1, inputs);
  finish_create(r);
}

void JobStore::begin_create(std::string_view id) {
  impl_->in_transaction([&] {
    sqlite::Use use(impl_->mark_creating);
    use->bind_text(1, id);
    use->step("starting a job");
  });
}

void JobStore::add_items(std::string_view id, std::int64_t first, std::span<const std::string> inputs) {
  impl_->in_transaction([&] {
    std::int64_t pos = first;
    for (const std::string& in : inputs) {
      sqlite::Use use(impl_->insert_item);
      use->bind_text(1, id);
      use->bind_int(2, pos++);
      use->bind_blob(3, in);
      use->step("storing a job's addresses");
    }
  });
}

void JobStore::finish_create(const JobRecord& j) {
  impl_->in_transaction([&] {
    {
      sqlite::Use use(impl_->insert_job);
      use->bind_text(1, j.id);
      use->bind_text(2, j.owner);
      use->bind_text(3, j.name);
      use->bind_text(4, j.level);
      use->bind_text(5, j.state);
      use->bind_int(6, j.created);
      use->bind_int(7, j.started);
      use->bind_int(8, j.finished);
      use->bind_int(9, static_cast<std::int64_t>(j.total));
      use->bind_int(10, 0);
      for (int k = 0; k < 4; ++k) use->bind_int(11 + k, 0);
      use->bind_text(15, j.callback_url);
      use->bind_text(16, j.callback_state);
      use->bind_int(17, 0);
      use->bind_text(18, "");
      use->step("storing a job");
    }
    sqlite::Use use(impl_->unmark_creating);
    use->bind_text(1, j.id);
    use->step("storing a job");
  });
}

void JobStore::abandon_create(std::string_view id) {
  impl_->in_transaction([&] {
    {
      sqlite::Use use(impl_->unmark_creating);
      use->bind_text(1, id);
      use->step("abandoning a job");
    }
    sqlite::Use use(impl_->mark_removed);
    use->bind_text(1, id);
    use->step("abandoning a job");
  });
}

std::optional<JobRecord> JobStore::get(std::string_view id) {
  sqlite::Use use(impl_->get_job);
  use->bind_text(1, id);
  if (!use->step("reading a job")) return std::nullopt;
  return read_job(impl_->get_job);
}

std::vector<JobRecord> JobStore::unfinished() {
  std::vector<JobRecord> out;
  sqlite::Use use(impl_->unfinished_jobs);
  while (use->step("reading unfinished jobs")) out.push_back(read_job(impl_->unfinished_jobs));
  return out;
}

std::vector<JobRecord> JobStore::callbacks_pending() {
  std::vector<JobRecord> out;
  sqlite::Use use(impl_->callbacks);
  while (use->step("reading pending callbacks")) out.push_back(read_job(impl_->callbacks));
  return out;
}

std::array<std::uint64_t, 3> JobStore::count_by_state() {
  std::array<std::uint64_t, 3> n{};
  sqlite::Use use(impl_->by_state);
  while (use->step("counting jobs")) {
    const std::string_view s = use->column_blob(0);
    const auto c = static_cast<std::uint64_t>(use->column_int(1));
    if (s == "queued")
      n[0] = c;
    else if (s == "running")
      n[1] = c;
    else if (s == "finished")
      n[2] = c;
  }
  return n;
}

void JobStore::update(const JobRecord& j) {
  impl_->ensure_transaction();
  sqlite::Use use(impl_->update_job);
  use->bind_text(1, j.id);
  use->bind_text(2, j.state);
  use->bind_int(3, j.started);
  use->bind_int(4, j.finished);
  use->bind_int(5, static_cast<std::int64_t>(j.done));
  for (int k = 0; k < 4; ++k) use->bind_int(6 + k, static_cast<std::int64_t>(j.counts[static_cast<std::size_t>(k)]));
  use->bind_text(10, j.callback_state);
  use->bind_int(11, j.callback_attempts);
  use->bind_text(12, j.callback_error);
  use->step("updating a job");
}

std::vector<JobStore::Item> JobStore::pending(std::string_view job, std::int64_t after, std::size_t limit) {
  std::vector<Item> out;
  sqlite::Use use(impl_->pending);
  use->bind_text(1, job);
  use->bind_int(2, after);
  use->bind_int(3, static_cast<std::int64_t>(limit));
  while (use->step("reading a job's addresses"))
    out.push_back(Item{use->column_int(0), std::string(use->column_blob(1))});
  return out;
}

void JobStore::finish_item(std::string_view job, std::int64_t pos, int status, std::string_view value) {
  impl_->ensure_transaction();
  sqlite::Use use(impl_->finish);
  use->bind_text(1, job);
  use->bind_int(2, pos);
  use->bind_int(3, status);
  use->bind_blob(4, value);
  use->step("storing a result");
}

std::int64_t JobStore::finished_items(std::string_view job, std::int64_t after, std::size_t limit,
                                      const std::function<void(std::int64_t, std::string_view, std::string_view)>& fn) {
  sqlite::Use use(impl_->finished);
  use->bind_text(1, job);
  use->bind_int(2, after);
  use->bind_int(3, static_cast<std::int64_t>(limit));
  std::int64_t last = after;
  while (use->step("reading results")) {
    last = use->column_int(0);
    fn(last, use->column_blob(1), use->column_blob(2));
  }
  return last;
}

void JobStore::recount(JobRecord& j) {
  j.counts = {};
  j.done = 0;
  sqlite::Use use(impl_->recount);
  use->bind_text(1, j.id);
  while (use->step("counting results")) {
    const std::int64_t s = use->column_int(0);
    const auto c = static_cast<std::uint64_t>(use->column_int(1));
    if (s >= 0 && s < 4) j.counts[static_cast<std::size_t>(s)] += c;
    j.done += c;
  }
}

void JobStore::remove(std::string_view id) {
  impl_->ensure_transaction();
  {
    sqlite::Use use(impl_->delete_job);
    use->bind_text(1, id);
    use->step("deleting a job");
  }
  sqlite::Use use(impl_->mark_removed);
  use->bind_text(1, id);
  use->step("deleting a job");
}

std::uint64_t JobStore::purge(std::uint64_t limit) {
  std::string id;
  {
    sqlite::Use use(impl_->first_removed);
    if (!use->step("reading removed jobs")) return 0;
    id = use->column_blob(0);
  }
  impl_->ensure_transaction();
  std::int64_t n = 0;
  {
    sqlite::Use use(impl_->purge_items);
    use->bind_text(1, id);
    use->bind_int(2, static_cast<std::int64_t>(limit));
    use->step("deleting a removed job's results");
    n = use->changes();
  }
  if (static_cast<std::uint64_t>(n) < limit) {
    sqlite::Use use(impl_->unmark_removed);
    use->bind_text(1, id);
    use->step("deleting a removed job");
  }
  impl_->do_commit();
  return n == 0 ? 1 : static_cast<std::uint64_t>(n);  // a job with no items left still counted as work done
}

std::vector<std::string> JobStore::finished_before(std::int64_t cutoff) {
  std::vector<std::string> out;
  sqlite::Use use(impl_->old_jobs);
  use->bind_int(1, cutoff);
  while (use->step("reading old jobs")) out.emplace_back(use->column_blob(0));
  return out;
}

void JobStore::commit() {
  impl_->do_commit();
}

void JobStore::rollback() noexcept {
  impl_->do_rollback();
}

void JobStore::check_writable() {
  impl_->in_transaction([&] {
    {
      sqlite::Use use(impl_->mark_creating);
      use->bind_text(1, "");
      use->step("checking the database is writable");
    }
    sqlite::Use use(impl_->unmark_creating);
    use->bind_text(1, "");
    use->step("checking the database is writable");
  });
}

}  // namespace mailsift::store
