#include "store/history.hpp"

#include <algorithm>
#include <chrono>
#include <stdexcept>

#include "common/digest.hpp"
#include "store/sqlite.hpp"

namespace mailsift::store {

namespace {

constexpr std::int32_t kHistoryApplicationId = 0x4D536869;  // 'MShi'
// Page cache: 16 MiB, the B-tree interior of a few million records; a record is read once per
// domain per run, so more buys little.
constexpr int kHistoryCacheKib = 16 * 1024;

// WITHOUT ROWID: the key is the primary key and the row lives in its B-tree, so a record costs its
// bytes once (no separate index of the keys).
constexpr const char* kSchema =
    "CREATE TABLE meta(name TEXT PRIMARY KEY NOT NULL, value BLOB NOT NULL);"
    "CREATE TABLE domains(key BLOB PRIMARY KEY NOT NULL, first_seen INT, last_seen INT, checked INT,"
    " valid INT, invalid INT, risky INT, unknown INT, reasons BLOB, catch_all_yes INT, catch_all_no INT,"
    " catch_all_at INT, catch_all_last INT, greylisted INT, greylisted_at INT, refused INT, refused_at INT,"
    " tarpit INT, mx_hash INT, mx_changes INT, mx_changed_at INT) WITHOUT ROWID;"
    "CREATE TABLE hosts(key BLOB PRIMARY KEY NOT NULL, first_seen INT, last_seen INT, probes INT, refused INT,"
    " refused_at INT, greylisted INT, tarpit INT) WITHOUT ROWID;";

std::int64_t as_int(std::uint64_t v) { return static_cast<std::int64_t>(std::min<std::uint64_t>(v, INT64_MAX)); }
std::uint64_t as_count(std::int64_t v) { return v < 0 ? 0 : static_cast<std::uint64_t>(v); }

void newest(std::int64_t& stored, std::int64_t delta) { stored = std::max(stored, delta); }
void oldest(std::int64_t& stored, std::int64_t delta) {
  if (delta != 0 && (stored == 0 || delta < stored)) stored = delta;
}

}  // namespace

void DomainRecord::count_reason(std::uint8_t reason, std::uint64_t n) {
  auto it = std::lower_bound(reasons.begin(), reasons.end(), reason,
                             [](const auto& p, std::uint8_t r) { return p.first < r; });
  if (it != reasons.end() && it->first == reason) it->second += n;
  else reasons.insert(it, {reason, n});
}

std::uint64_t DomainRecord::reason_count(std::uint8_t reason) const noexcept {
  for (const auto& [r, n] : reasons)
    if (r == reason) return n;
  return 0;
}

void merge_into(DomainRecord& s, const DomainRecord& d) {
  oldest(s.first_seen, d.first_seen);
  newest(s.last_seen, d.last_seen);
  s.checked += d.checked;
  s.valid += d.valid;
  s.invalid += d.invalid;
  s.risky += d.risky;
  s.unknown += d.unknown;
  for (const auto& [r, n] : d.reasons) s.count_reason(r, n);
  s.catch_all_yes += d.catch_all_yes;
  s.catch_all_no += d.catch_all_no;
  if (d.catch_all_at != 0 && d.catch_all_at >= s.catch_all_at) {
    s.catch_all_at = d.catch_all_at;
    s.catch_all_last = d.catch_all_last;
  }
  s.greylisted += d.greylisted;
  newest(s.greylisted_at, d.greylisted_at);
  s.refused += d.refused;
  newest(s.refused_at, d.refused_at);
  s.tarpit += d.tarpit;
  s.mx_changes += d.mx_changes;
  newest(s.mx_changed_at, d.mx_changed_at);
  if (d.mx_hash != 0) {
    if (s.mx_hash != 0 && s.mx_hash != d.mx_hash) {
      ++s.mx_changes;
      newest(s.mx_changed_at, d.last_seen);
    }
    s.mx_hash = d.mx_hash;
  }
}

void merge_into(MxRecord& s, const MxRecord& d) {
  oldest(s.first_seen, d.first_seen);
  newest(s.last_seen, d.last_seen);
  s.probes += d.probes;
  s.refused += d.refused;
  newest(s.refused_at, d.refused_at);
  s.greylisted += d.greylisted;
  s.tarpit += d.tarpit;
}

std::string History::encode_reasons(const DomainRecord& r) {
  std::string out;
  for (const auto& [reason, n] : r.reasons) {
    out.push_back(static_cast<char>(reason));
    std::uint64_t v = n;
    do {
      auto byte = static_cast<std::uint8_t>(v & 0x7F);
      v >>= 7;
      if (v != 0) byte |= 0x80;
      out.push_back(static_cast<char>(byte));
    } while (v != 0);
  }
  return out;
}

bool History::decode_reasons(std::string_view bytes, DomainRecord& r) {
  r.reasons.clear();
  std::size_t i = 0;
  while (i < bytes.size()) {
    const auto reason = static_cast<std::uint8_t>(bytes[i++]);
    std::uint64_t v = 0;
    for (int shift = 0;; shift += 7) {
      if (i == bytes.size() || shift > 63) return false;  // truncated, or more than 64 bits
      const auto byte = static_cast<std::uint8_t>(bytes[i++]);
      v |= std::uint64_t{byte & 0x7Fu} << shift;
      if ((byte & 0x80) == 0) break;
    }
    r.count_reason(reason, v);
  }
  return true;
}

struct History::Impl {
  std::unique_ptr<sqlite::Db> db;
  sqlite::Stmt begin{*db, "BEGIN"};
  sqlite::Stmt commit{*db, "COMMIT"};
  sqlite::Stmt get_domain{*db,
                          "SELECT first_seen, last_seen, checked, valid, invalid, risky, unknown, reasons,"
                          " catch_all_yes, catch_all_no, catch_all_at, catch_all_last, greylisted, greylisted_at,"
                          " refused, refused_at, tarpit, mx_hash, mx_changes, mx_changed_at FROM domains WHERE key=?1"};
  sqlite::Stmt put_domain{*db,
                          "INSERT OR REPLACE INTO domains VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12,"
                          " ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21)"};
  sqlite::Stmt get_host{*db,
                        "SELECT first_seen, last_seen, probes, refused, refused_at, greylisted, tarpit FROM hosts"
                        " WHERE key=?1"};
  sqlite::Stmt put_host{*db, "INSERT OR REPLACE INTO hosts VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"};
  sqlite::Stmt count_domains{*db, "SELECT count(*) FROM domains"};
  sqlite::Stmt count_hosts{*db, "SELECT count(*) FROM hosts"};

  explicit Impl(std::unique_ptr<sqlite::Db> d) : db(std::move(d)) {}

  void ensure_transaction() {
    if (!db->autocommit()) return;
    sqlite::Use use(begin);
    use->step("starting a transaction");
  }
  void commit_now() {
    if (db->autocommit()) return;
    sqlite::Use use(commit);
    use->step("committing the history");
  }
};

namespace {

std::unique_ptr<sqlite::Db> open_history(const std::string& path, bool hash_keys) {
  auto db = std::make_unique<sqlite::Db>("history file", path);
  sqlite::configure(*db, kHistoryCacheKib);
  const bool created = sqlite::begin_and_check_format(*db, kHistoryApplicationId, kSchema, "history");
  const char* mode = hash_keys ? "sha256" : "name";
  if (created) {
    sqlite::Stmt insert(*db, "INSERT INTO meta(name, value) VALUES('keys', ?1)");
    insert.bind_blob(1, mode);
    insert.step("writing the key mode");
  } else {
    sqlite::Stmt meta(*db, "SELECT value FROM meta WHERE name='keys'");
    if (!meta.step("reading the key mode")) db->fail_message("has no key mode: not a history file");
    if (meta.column_blob(0) != mode) {
      db->fail_message(hash_keys ? "keeps domain names; it cannot be used with --hash-keys (use another file)"
                                 : "keeps hashed keys (--hash-keys); give --hash-keys to use it");
    }
  }
  db->exec("COMMIT", "creating the history file");
  return db;
}

}  // namespace

std::int64_t History::system_clock_seconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

History::History(const std::string& path, HistoryOptions options, Clock clock)
    : impl_(std::make_unique<Impl>(open_history(path, options.hash_keys))),
      options_(options),
      clock_(std::move(clock)) {
  prune();
}

History::~History() = default;

const std::string& History::path() const { return impl_->db->path(); }

std::string History::key(std::string_view name) const {
  if (!options_.hash_keys) return std::string(name);
  return sha256_hex(name).substr(0, 32);
}

std::optional<DomainRecord> History::domain(std::string_view name) { return read_domain(key(name)); }

std::optional<MxRecord> History::mx(std::string_view host) { return read_mx(key(host)); }

std::optional<DomainRecord> History::read_domain(std::string_view k) {
  sqlite::Use use(impl_->get_domain);
  use->bind_blob(1, k);
  if (!use->step("reading a domain's history")) return std::nullopt;
  DomainRecord r;
  int c = 0;
  r.first_seen = use->column_int(c++);
  r.last_seen = use->column_int(c++);
  r.checked = as_count(use->column_int(c++));
  r.valid = as_count(use->column_int(c++));
  r.invalid = as_count(use->column_int(c++));
  r.risky = as_count(use->column_int(c++));
  r.unknown = as_count(use->column_int(c++));
  if (!decode_reasons(use->column_blob(c++), r)) impl_->db->fail_message("has an unreadable record (reasons)");
  r.catch_all_yes = as_count(use->column_int(c++));
  r.catch_all_no = as_count(use->column_int(c++));
  r.catch_all_at = use->column_int(c++);
  r.catch_all_last = use->column_int(c++) != 0;
  r.greylisted = as_count(use->column_int(c++));
  r.greylisted_at = use->column_int(c++);
  r.refused = as_count(use->column_int(c++));
  r.refused_at = use->column_int(c++);
  r.tarpit = as_count(use->column_int(c++));
  r.mx_hash = static_cast<std::uint64_t>(use->column_int(c++));
  r.mx_changes = as_count(use->column_int(c++));
  r.mx_changed_at = use->column_int(c++);
  return r;
}

std::optional<MxRecord> History::read_mx(std::string_view k) {
  sqlite::Use use(impl_->get_host);
  use->bind_blob(1, k);
  if (!use->step("reading an MX host's history")) return std::nullopt;
  MxRecord r;
  r.first_seen = use->column_int(0);
  r.last_seen = use->column_int(1);
  r.probes = as_count(use->column_int(2));
  r.refused = as_count(use->column_int(3));
  r.refused_at = use->column_int(4);
  r.greylisted = as_count(use->column_int(5));
  r.tarpit = as_count(use->column_int(6));
  return r;
}

void History::merge(std::span<const std::pair<std::string, DomainRecord>> domains,
                    std::span<const std::pair<std::string, MxRecord>> hosts) {
  impl_->ensure_transaction();
  try {
    for (const auto& [name, delta] : domains) {
      const std::string k = key(name);
      DomainRecord r = read_domain(k).value_or(DomainRecord{});
      merge_into(r, delta);
      const std::string reasons = encode_reasons(r);
      sqlite::Use use(impl_->put_domain);
      int i = 1;
      use->bind_blob(i++, k);
      use->bind_int(i++, r.first_seen);
      use->bind_int(i++, r.last_seen);
      use->bind_int(i++, as_int(r.checked));
      use->bind_int(i++, as_int(r.valid));
      use->bind_int(i++, as_int(r.invalid));
      use->bind_int(i++, as_int(r.risky));
      use->bind_int(i++, as_int(r.unknown));
      use->bind_blob(i++, reasons);
      use->bind_int(i++, as_int(r.catch_all_yes));
      use->bind_int(i++, as_int(r.catch_all_no));
      use->bind_int(i++, r.catch_all_at);
      use->bind_int(i++, r.catch_all_last ? 1 : 0);
      use->bind_int(i++, as_int(r.greylisted));
      use->bind_int(i++, r.greylisted_at);
      use->bind_int(i++, as_int(r.refused));
      use->bind_int(i++, r.refused_at);
      use->bind_int(i++, as_int(r.tarpit));
      use->bind_int(i++, static_cast<std::int64_t>(r.mx_hash));
      use->bind_int(i++, as_int(r.mx_changes));
      use->bind_int(i++, r.mx_changed_at);
      use->step("writing a domain's history");
    }
    for (const auto& [host, delta] : hosts) {
      const std::string k = key(host);
      MxRecord r = read_mx(k).value_or(MxRecord{});
      merge_into(r, delta);
      sqlite::Use use(impl_->put_host);
      use->bind_blob(1, k);
      use->bind_int(2, r.first_seen);
      use->bind_int(3, r.last_seen);
      use->bind_int(4, as_int(r.probes));
      use->bind_int(5, as_int(r.refused));
      use->bind_int(6, r.refused_at);
      use->bind_int(7, as_int(r.greylisted));
      use->bind_int(8, as_int(r.tarpit));
      use->step("writing an MX host's history");
    }
    impl_->commit_now();
  } catch (...) {
    impl_->db->exec("ROLLBACK", "rolling back the history");
    throw;
  }
}

std::uint64_t History::prune() {
  impl_->ensure_transaction();
  const std::int64_t cutoff = clock_() - options_.retention_days * 86400;
  std::uint64_t dropped = 0;
  for (const char* table : {"domains", "hosts"}) {
    sqlite::Stmt del(*impl_->db, (std::string("DELETE FROM ") + table + " WHERE last_seen < ?1").c_str());
    del.bind_int(1, cutoff);
    del.step("dropping records past the retention");
    dropped += static_cast<std::uint64_t>(del.changes());
  }
  const std::uint64_t n = domain_count();
  if (n > options_.max_domains) {
    // Down to 90% of the bound at once, so a full file is not pruned again at every open.
    const std::uint64_t excess = n - options_.max_domains * 9 / 10;
    sqlite::Stmt del(*impl_->db,
                     "DELETE FROM domains WHERE key IN (SELECT key FROM domains ORDER BY last_seen LIMIT ?1)");
    del.bind_int(1, as_int(excess));
    del.step("dropping the least recently seen domains");
    dropped += static_cast<std::uint64_t>(del.changes());
  }
  impl_->commit_now();
  return dropped;
}

std::uint64_t History::domain_count() {
  sqlite::Use use(impl_->count_domains);
  use->step("counting domains");
  return as_count(use->column_int(0));
}

std::uint64_t History::mx_count() {
  sqlite::Use use(impl_->count_hosts);
  use->step("counting MX hosts");
  return as_count(use->column_int(0));
}

}  // namespace mailsift::store
