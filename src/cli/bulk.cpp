#include "cli/bulk.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <deque>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "address/address.hpp"
#include "engine/engine.hpp"
#include "engine/offline.hpp"
#include "cli/verify.hpp"
#include "common/flat_map.hpp"
#include "common/text.hpp"
#include "common/u64_map.hpp"
#include "ingest/reader.hpp"
#include "ingest/writer.hpp"
#include "store/cache.hpp"
#include "store/state.hpp"
#include "verdict/stored.hpp"
#include "verdict/render.hpp"

namespace mailsift::cli {
namespace {

using Clock = std::chrono::steady_clock;

// ---- Ctrl-C ---------------------------------------------------------------------------------
// The handler only sets a flag (async-signal-safe); the loop stops reading input, the engine gives
// in-flight probes a grace time. SA_RESETHAND: a second Ctrl-C kills at once.
std::atomic<bool> g_interrupted{false};
extern "C" void on_interrupt(int) { g_interrupted.store(true); }
constexpr auto kGrace = std::chrono::seconds(10);

void install_interrupt_handler() {
  struct sigaction sa{};
  sa.sa_handler = on_interrupt;
  sa.sa_flags = SA_RESETHAND;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
}

// ---- verdicts of addresses seen earlier in the run (deduplication across batches) ------------
// A U64Map from the 64-bit hash of the dedupe key to the verdict packed in 64 bits (offline: the
// key alone, 8 bytes a slot). At load <= 1/2 that is 32 bytes per distinct address at the network
// levels (10 million: 320 MiB), 16 bytes offline. Two different keys sharing a 64-bit hash (odds
// about 3 in a million for 10 million keys) would share a verdict; documented in docs/bulk.md.

// ---- the summary -----------------------------------------------------------------------------
// Top domains: counted exactly for the first kMaxDomains distinct domains; later new domains only
// add to `other_domains` (the big domains of a list show up early; memory stays bounded).
constexpr std::size_t kMaxDomains = 200'000;

// Rows per domain: open addressing over 8-byte slots (hash tag, record), each domain's counter
// and name one record in a byte arena. On a list of many domains the table outgrows the caches;
// the writing thread of --threads gets each block's domains with their hashes and prefetches
// slots and records ahead of their look-up (prefetch), which a table of std::string keys (the
// slot, then the key's heap block) could not.
class DomainCounts {
 public:
  DomainCounts() : slots_(1024) {}
  [[nodiscard]] std::size_t size() const noexcept { return size_; }
  /// Stage 1 of a look-up ahead: the slot.
  void prefetch_slot(std::uint64_t hash) const noexcept { __builtin_prefetch(&slots_[hash & mask()]); }
  /// Stage 2, once the slot is in cache: the record it names, when the tag matches.
  void prefetch_record(std::uint64_t hash) const noexcept {
    const Slot s = slots_[hash & mask()];
    if (s.at != 0 && s.tag == static_cast<std::uint32_t>(hash >> 32)) __builtin_prefetch(arena_.data() + (s.at - 1));
  }
  /// Adds n to `d`'s counter (hash = fast_hash(d)); a domain not there yet is added only with
  /// `may_add`. False when it was neither there nor added.
  bool add(std::string_view d, std::uint64_t hash, std::uint64_t n, bool may_add) {
    const auto tag = static_cast<std::uint32_t>(hash >> 32);
    std::size_t i = hash & mask();
    for (;; i = (i + 1) & mask()) {
      const Slot s = slots_[i];
      if (s.at == 0) break;
      if (s.tag == tag && name(s.at) == d) {
        bump(s.at, n);
        return true;
      }
    }
    if (!may_add) return false;
    if ((size_ + 1) * 2 > slots_.size()) {
      grow();
      for (i = hash & mask(); slots_[i].at != 0; i = (i + 1) & mask()) {
      }
    }
    const std::size_t at = arena_.size();
    const auto len = static_cast<std::uint16_t>(d.size());
    arena_.resize(at + kHeader + d.size());
    std::memset(arena_.data() + at, 0, sizeof(std::uint64_t));
    std::memcpy(arena_.data() + at + sizeof(std::uint64_t), &len, sizeof len);
    std::memcpy(arena_.data() + at + kHeader, d.data(), d.size());
    slots_[i] = Slot{tag, static_cast<std::uint32_t>(at + 1)};
    ++size_;
    bump(static_cast<std::uint32_t>(at + 1), n);
    return true;
  }
  /// Calls f(name, rows) for every domain, in the order they were added.
  template <class F>
  void for_each(F&& f) const {
    for (std::size_t at = 0; at < arena_.size();) {
      const std::string_view d = name(static_cast<std::uint32_t>(at + 1));
      std::uint64_t rows;
      std::memcpy(&rows, arena_.data() + at, sizeof rows);
      f(d, rows);
      at += kHeader + d.size();
    }
  }

 private:
  static constexpr std::size_t kHeader = sizeof(std::uint64_t) + sizeof(std::uint16_t);  // counter, length
  struct Slot {
    std::uint32_t tag = 0;
    std::uint32_t at = 0;  // 1 + the record's offset; 0: empty
  };
  [[nodiscard]] std::size_t mask() const noexcept { return slots_.size() - 1; }
  [[nodiscard]] std::string_view name(std::uint32_t at) const noexcept {
    const char* p = arena_.data() + (at - 1);
    std::uint16_t len;
    std::memcpy(&len, p + sizeof(std::uint64_t), sizeof len);
    return {p + kHeader, len};
  }
  void bump(std::uint32_t at, std::uint64_t n) noexcept {
    char* p = arena_.data() + (at - 1);
    std::uint64_t rows;
    std::memcpy(&rows, p, sizeof rows);
    rows += n;
    std::memcpy(p, &rows, sizeof rows);
  }
  void grow() {
    std::vector<Slot> old(slots_.size() * 2);
    old.swap(slots_);
    for (const Slot& s : old) {
      if (s.at == 0) continue;
      std::size_t i = fast_hash(name(s.at)) & mask();
      while (slots_[i].at != 0) i = (i + 1) & mask();
      slots_[i] = s;
    }
  }
  std::vector<Slot> slots_;
  std::vector<char> arena_;
  std::size_t size_ = 0;
};

struct Summary {
  std::uint64_t rows = 0, duplicates = 0, restored = 0, row_errors = 0;
  std::array<std::uint64_t, 4> by_status{};
  std::vector<std::uint64_t> by_reason = std::vector<std::uint64_t>(all_reasons().size(), 0);
  DomainCounts domains;
  std::uint64_t other_domains = 0;
  Clock::time_point start = Clock::now();

  void add(const Result& r, bool duplicate) { add(r, duplicate, r.parsed ? fast_hash(r.address.domain()) : 0); }
  // The same with domain_hash = fast_hash(r.address.domain()) computed (and prefetched) before.
  void add(const Result& r, bool duplicate, std::uint64_t domain_hash) {
    count(r, duplicate);
    if (r.parsed) add_domain_rows(r.address.domain(), domain_hash, 1);
  }

  // Everything add() counts but the row's domain.
  void count(const Result& r, bool duplicate) { count(r.status, r.reason, duplicate); }
  void count(Status status, Reason reason, bool duplicate) {
    ++rows;
    duplicates += duplicate ? 1 : 0;
    ++by_status[static_cast<std::size_t>(status)];
    ++by_reason[static_cast<std::size_t>(reason)];
  }
  // `n` rows at domain `d` (parsed addresses; hash = fast_hash(d)), as `n` add() calls for them
  // would count them when no row at a domain first seen after d's first row was counted before
  // them: a block's domains in the order of their first row give the same table as add() row by
  // row (--threads).
  void add_domain_rows(std::string_view d, std::uint64_t hash, std::uint64_t n) {
    if (!domains.add(d, hash, n, domains.size() < kMaxDomains)) other_domains += n;  // new past kMaxDomains: for good
  }

  [[nodiscard]] std::vector<std::pair<std::string, std::uint64_t>> top(std::size_t n) const {
    std::vector<std::pair<std::string, std::uint64_t>> v;
    v.reserve(domains.size());
    domains.for_each([&v](std::string_view d, std::uint64_t rows_at) { v.emplace_back(d, rows_at); });
    const std::size_t k = std::min(n, v.size());
    std::partial_sort(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(k), v.end(),
                      [](const auto& x, const auto& y) { return x.second > y.second || (x.second == y.second && x.first < y.first); });
    v.resize(k);
    return v;
  }

  [[nodiscard]] double seconds() const { return std::chrono::duration<double>(Clock::now() - start).count(); }

  [[nodiscard]] std::string json(bool interrupted) const {
    std::string j = "{\"rows\":" + std::to_string(rows) + ",\"duplicates\":" + std::to_string(duplicates) +
                    ",\"restored\":" + std::to_string(restored) + ",\"row_errors\":" + std::to_string(row_errors) +
                    ",\"by_status\":{";
    for (std::size_t s = 0; s < 4; ++s) {
      if (s) j += ',';
      j += "\"" + std::string(name(static_cast<Status>(s))) + "\":" + std::to_string(by_status[s]);
    }
    j += "},\"by_reason\":{";
    bool first = true;
    for (std::size_t i = 0; i < by_reason.size(); ++i) {
      if (by_reason[i] == 0) continue;
      if (!first) j += ',';
      first = false;
      j += "\"" + std::string(all_reasons()[i].code) + "\":" + std::to_string(by_reason[i]);
    }
    j += "},\"top_domains\":[";
    first = true;
    for (const auto& [d, n] : top(20)) {
      if (!first) j += ',';
      first = false;
      j += "{\"domain\":\"";
      render::append_json_string(d, j);
      j += "\",\"rows\":" + std::to_string(n) + "}";
    }
    char tail[160];
    std::snprintf(tail, sizeof tail, "],\"other_domains_rows\":%llu,\"seconds\":%.3f,\"rows_per_second\":%.1f,",
                  static_cast<unsigned long long>(other_domains), seconds(), seconds() > 0 ? static_cast<double>(rows) / seconds() : 0.0);
    j += tail;
    j += "\"interrupted\":";
    j += interrupted ? "true" : "false";
    j += "}\n";
    return j;
  }

  void print(FILE* f) const {
    std::fprintf(f, "mailsift: %llu rows in %.1f s (%.0f rows/s): %llu valid, %llu invalid, %llu risky, %llu unknown; "
                    "%llu duplicates",
                 static_cast<unsigned long long>(rows), seconds(), seconds() > 0 ? static_cast<double>(rows) / seconds() : 0.0,
                 static_cast<unsigned long long>(by_status[0]), static_cast<unsigned long long>(by_status[1]),
                 static_cast<unsigned long long>(by_status[2]), static_cast<unsigned long long>(by_status[3]),
                 static_cast<unsigned long long>(duplicates));
    if (restored) std::fprintf(f, ", %llu restored from --state/--cache", static_cast<unsigned long long>(restored));
    if (row_errors) std::fprintf(f, ", %llu unreadable rows", static_cast<unsigned long long>(row_errors));
    std::fprintf(f, "\nmailsift: reasons:");
    for (std::size_t i = 0; i < by_reason.size(); ++i)
      if (by_reason[i]) std::fprintf(f, " %s %llu", std::string(all_reasons()[i].code).c_str(), static_cast<unsigned long long>(by_reason[i]));
    std::fprintf(f, "\nmailsift: top domains:");
    for (const auto& [d, n] : top(5)) std::fprintf(f, " %s %llu", d.c_str(), static_cast<unsigned long long>(n));
    std::fprintf(f, "\n");
  }
};

// ---- progress --------------------------------------------------------------------------------
class Progress {
 public:
  enum class Mode { none, bar, jsonl };
  Progress(Mode m, const ingest::Reader& in) : mode_(m), in_(in) {}
  /// --broker: the cluster's workers alive and chunks out, shown on each line.
  std::function<engine::Network::ClusterView()> cluster;

  void update(const Summary& s, bool final = false) {
    if (mode_ == Mode::none) return;
    const auto now = Clock::now();
    if (!final && now - last_ < (mode_ == Mode::bar ? std::chrono::milliseconds(200) : std::chrono::seconds(1))) return;
    last_ = now;
    const double secs = s.seconds();
    const double rate = secs > 0 ? static_cast<double>(s.rows) / secs : 0.0;
    const std::uint64_t done = in_.bytes_read(), total = in_.total_bytes();
    const double frac = total > 0 ? std::min(1.0, static_cast<double>(done) / static_cast<double>(total)) : -1.0;
    const double eta = frac > 0.0 && frac < 1.0 ? secs * (1.0 - frac) / frac : 0.0;
    const engine::Network::ClusterView cv = cluster ? cluster() : engine::Network::ClusterView{};
    const bool in_cluster = cv.cluster;
    const std::size_t workers = cv.workers, chunks_out = cv.chunks_out;
    char extra[96] = "";
    if (mode_ == Mode::jsonl) {
      if (in_cluster) std::snprintf(extra, sizeof extra, ",\"workers\":%zu,\"chunks_out\":%zu", workers, chunks_out);
      std::fprintf(stderr,
                   "{\"rows\":%llu,\"bytes\":%llu,\"total_bytes\":%llu,\"fraction\":%.4f,\"rate\":%.1f,\"eta_seconds\":%.0f,"
                   "\"valid\":%llu,\"invalid\":%llu,\"risky\":%llu,\"unknown\":%llu,\"duplicates\":%llu%s,\"final\":%s}\n",
                   static_cast<unsigned long long>(s.rows), static_cast<unsigned long long>(done),
                   static_cast<unsigned long long>(total), frac < 0 ? 0.0 : frac, rate, eta,
                   static_cast<unsigned long long>(s.by_status[0]), static_cast<unsigned long long>(s.by_status[1]),
                   static_cast<unsigned long long>(s.by_status[2]), static_cast<unsigned long long>(s.by_status[3]),
                   static_cast<unsigned long long>(s.duplicates), extra, final ? "true" : "false");
      std::fflush(stderr);
      return;
    }
    char bar[32];
    const int width = 24;
    const int filled = frac < 0 ? 0 : static_cast<int>(frac * width);
    for (int i = 0; i < width; ++i) bar[i] = i < filled ? '#' : '.';
    bar[width] = '\0';
    char pct[16] = "";
    if (frac >= 0) std::snprintf(pct, sizeof pct, "%3.0f%%", frac * 100.0);
    if (in_cluster) std::snprintf(extra, sizeof extra, "  workers %zu, chunks out %zu", workers, chunks_out);
    std::fprintf(stderr, "\r[%s] %s %llu rows  %.0f/s  ETA %02d:%02d:%02d  valid %llu invalid %llu risky %llu unknown %llu%s%s",
                 bar, pct, static_cast<unsigned long long>(s.rows), rate, static_cast<int>(eta) / 3600,
                 static_cast<int>(eta) / 60 % 60, static_cast<int>(eta) % 60,
                 static_cast<unsigned long long>(s.by_status[0]), static_cast<unsigned long long>(s.by_status[1]),
                 static_cast<unsigned long long>(s.by_status[2]), static_cast<unsigned long long>(s.by_status[3]), extra,
                 final ? "\n" : "\033[K");
    std::fflush(stderr);
  }

 private:
  Mode mode_;
  const ingest::Reader& in_;
  Clock::time_point last_{};
};

// ---- files -----------------------------------------------------------------------------------
// Output goes to PATH.partial and is renamed to PATH when complete, so a file at PATH is always a
// finished output (a crash leaves only the .partial, which a resumed run rewrites from the start:
// it never reopens one). The .partial is created new (Writer::Open::create: never through a
// symbolic link planted there, mode 0640 less the umask).
class OutputFile {
 public:
  OutputFile(const std::string& path, const ingest::OutputOptions& o, const ingest::Reader* in)
      : path_(path), tmp_(direct(path) ? path : path + ".partial") {
    if (tmp_ != path_) remove_stale(tmp_);
    writer_ = ingest::Writer::open(tmp_, o, in,
                                   tmp_ == path_ ? ingest::Writer::Open::existing : ingest::Writer::Open::create);
  }
  ingest::Writer& writer() { return *writer_; }
  // A .partial left by a crashed or interrupted run is ours to replace: a regular file owned by
  // this user. Anything else there (a symbolic link, a directory, another user's file) was not
  // made by mailsift, so the run stops before writing rather than delete or follow it. Unlinking
  // never follows a link, and the O_EXCL create after it fails if something appears meanwhile.
  static void remove_stale(const std::string& tmp) {
    struct stat st {};
    if (::lstat(tmp.c_str(), &st) != 0) {
      if (errno == ENOENT) return;
      throw std::runtime_error("cannot check " + tmp + ": " + std::strerror(errno));
    }
    const char* why = S_ISLNK(st.st_mode)        ? "is a symbolic link (not followed)"
                      : !S_ISREG(st.st_mode)     ? "is not a regular file"
                      : st.st_uid != ::geteuid() ? "belongs to another user"
                                                 : nullptr;
    if (why != nullptr)
      throw std::runtime_error(tmp + " " + why +
                               "; mailsift writes its output there: remove it, or choose another --output");
    if (::unlink(tmp.c_str()) != 0 && errno != ENOENT)
      throw std::runtime_error("cannot remove the stale " + tmp + ": " + std::strerror(errno));
  }
  // Standard output, /dev/null, a FIFO: written in place (there is nothing to rename).
  static bool direct(const std::string& path) {
    struct stat st{};
    return path == "-" || (::stat(path.c_str(), &st) == 0 && !S_ISREG(st.st_mode));
  }
  void finish() {
    writer_->close();
    if (tmp_ != path_ && std::rename(tmp_.c_str(), path_.c_str()) != 0)
      throw std::runtime_error("rename " + tmp_ + " → " + path_ + ": " + std::strerror(errno));
  }

 private:
  std::string path_, tmp_;
  std::unique_ptr<ingest::Writer> writer_;
};

// Refuses a run that would write over its own input: --output (or its .partial), a --split file,
// --summary, --state or --cache naming the input file, by the same path or another one (a hard
// link, a symbolic link, another spelling): device and inode decide. The input would be truncated
// while being read. Checked before anything is created.
void refuse_writing_over_input(const VerifyOptions& o, const std::string& split_ext) {
  struct stat in {};
  if (o.input == "-" || ::stat(o.input.c_str(), &in) != 0 || !S_ISREG(in.st_mode)) return;
  const auto check = [&](const std::string& option, const std::string& path) {
    struct stat st {};
    if (path.empty() || path == "-" || ::stat(path.c_str(), &st) != 0) return;
    if (st.st_dev == in.st_dev && st.st_ino == in.st_ino)
      throw std::invalid_argument(option + " " + path + " is the --input file " + o.input +
                                  ": the run would overwrite what it reads; write the results elsewhere");
  };
  check("--output", o.output);
  if (o.output != "-") check("--output", o.output + ".partial");
  if (!o.split_dir.empty())
    for (const char* s : {"valid", "invalid", "risky", "unknown"})
      for (const char* suffix : {"", ".partial"})
        check("--split", (std::filesystem::path(o.split_dir) / (s + split_ext + suffix)).string());
  check("--summary", o.summary_file);
  check("--state", o.state_file);
  check("--cache", o.cache_file);
  check("--rdap-cache", o.rdap_cache);
}

std::string dedupe_key(std::string_view email, bool canonical, address::Address& scratch) {
  if (address::parse(email, scratch) != Reason::well_formed) return "\x01" + std::string(email);  // never probed
  return canonical ? address::canonical(scratch) : std::string(scratch.normalized());
}

// What identifies a run for --state: the input file and every option that changes results.
std::string fingerprint(const VerifyOptions& o) {
  std::string f = "mailsift-state-1|";
  struct stat st{};
  std::error_code ec;
  const auto abs = o.input == "-" ? std::filesystem::path("-") : std::filesystem::absolute(o.input, ec);
  f += abs.string();
  if (o.input != "-" && ::stat(o.input.c_str(), &st) == 0) {
    f += "|" + std::to_string(st.st_size) + "|" + std::to_string(st.st_mtim.tv_sec);
  }
  f += "|level=" + o.level + "|dedupe=" + o.dedupe + "|column=" + o.column + "|field=" + o.field +
       "|in=" + o.input_format + "|allow_private=" + (o.allow_private_targets ? "1" : "0") +
       "|catch_all=" + (o.no_catch_all ? "0" : "1") + "|helo=" + o.helo +
       // The reverse-path sent: no --mail-from is "<>" (it was verify@<host name> before issue 13, so
       // a state file of that default does not resume under the new one).
       "|from=" + (o.mail_from.empty() ? std::string("<>") : o.mail_from) + "|port=" + std::to_string(o.smtp_port) +
       "|lists=" + (o.lists.builtin ? "1" : "0") + (o.lists.extended_disposable ? "x" : "");
  for (const auto* v : {&o.blocklists, &o.lists.disposable_files, &o.lists.disposable_domains, &o.lists.allow_files,
                        &o.lists.allow_domains, &o.lists.free_files, &o.lists.role_files})
    for (const std::string& s : *v) f += "|" + s;
  return f;
}

struct Row {
  // seen: a repeat of a row of an earlier batch (delivered, or still in flight: its result is in
  // the seen table by the time this row's batch is written, batches being written in order).
  enum class Kind : std::uint8_t { engine, same_as, seen, restored, unreadable };
  ingest::Record rec;
  Kind kind = Kind::engine;
  std::size_t pos = 0;  // engine position (engine) or the first row in the batch (same_as)
  std::uint64_t seen = 0;  // seen: the key's hash
  std::string key;
  std::string value;  // restored
  bool duplicate = false;
};

}  // namespace

int verify_bulk(const VerifyOptions& o) {
  ingest::InputOptions in_opt;
  if (!o.input_format.empty()) in_opt.format = ingest::parse_format(o.input_format);
  in_opt.column = o.column;
  in_opt.field = o.field;
  auto reader = ingest::Reader::open(o.input, in_opt);

  ingest::OutputOptions out_opt;
  {
    const ingest::FileKind k = ingest::kind_of(o.output);
    out_opt.gzip = k.gzip;
    // Default output format: the output's extension; for "-" or an unknown extension, the input's.
    const ingest::FileKind ik = ingest::kind_of(o.input);
    out_opt.format = o.output == "-" || ingest::kind_of(o.output).format == ingest::Format::txt
                         ? (in_opt.format ? *in_opt.format : ik.format)
                         : k.format;
    if (!o.output_format.empty()) out_opt.format = *ingest::parse_format(o.output_format);
    if (out_opt.format == ingest::Format::txt) out_opt.format = ingest::Format::jsonl;  // a result needs columns
    out_opt.cells = o.csv_raw ? render::CsvCells::raw : render::CsvCells::safe;
  }

  const std::string split_ext =
      std::string(out_opt.format == ingest::Format::csv ? ".csv" : ".jsonl") + (out_opt.gzip ? ".gz" : "");
  refuse_writing_over_input(o, split_ext);

  engine::Engine engine(o);
  const bool network = engine.network();
  std::unique_ptr<store::State> state;
  std::unique_ptr<store::Cache> cache;
  const auto ttl = std::chrono::seconds(static_cast<std::int64_t>(o.cache_ttl));
  if (!o.state_file.empty() && network) state = std::make_unique<store::State>(o.state_file, fingerprint(o));
  if (!o.cache_file.empty() && network) {
    cache = std::make_unique<store::Cache>(o.cache_file);
    cache->expire(ttl);
  }
  OutputFile out(o.output, out_opt, reader.get());
  std::array<std::unique_ptr<OutputFile>, 4> split;
  if (!o.split_dir.empty()) std::filesystem::create_directories(o.split_dir);

  const Progress::Mode pm = o.quiet || o.progress == "none" ? Progress::Mode::none
                            : o.progress == "jsonl"          ? Progress::Mode::jsonl
                            : (o.progress == "bar" || ::isatty(2)) ? Progress::Mode::bar
                                                                   : Progress::Mode::none;
  Progress progress(pm, *reader);
  if (!o.broker.empty()) progress.cluster = [&engine] { return engine.cluster_view(); };
  Summary summary;
  install_interrupt_handler();
  engine.interrupt_on(&g_interrupted, kGrace);

  const bool canonical = o.dedupe == "canonical";
  U64Map seen(/*values=*/network);  // offline, a repeat is only marked: no verdict to keep
  address::Address scratch;
  // Batches read but not yet written (network levels): the engine verifies several at once, and
  // they are written in input order as each oldest one is done.
  struct Pending {
    std::vector<Row> rows;
    std::vector<Result> engine_results;
  };
  std::deque<Pending> pending;
  std::vector<Result> results;
  std::unordered_map<std::string, std::size_t> first_in_batch;
  // Hashes of the first occurrences in the batches still in flight (a repeat of one is `seen`).
  std::unordered_map<std::uint64_t, std::uint32_t> in_flight;
  std::unordered_set<std::string> primed;  // domains whose catch-all answer was looked up in --cache
  // Rows per batch: the engine's batch (what is grouped into sessions per domain). The engine
  // bounds the rows in flight; Ctrl-C may cost those.
  const std::size_t batch = engine.batch_size();
  bool interrupted = false;
  std::uint64_t reported_errors = 0;

  auto write_hashed = [&](Row& row, const Result& r, std::uint64_t domain_hash) {
    out.writer().write(row.rec, r, row.duplicate);
    if (!o.split_dir.empty()) {
      auto& f = split[static_cast<std::size_t>(r.status)];
      if (!f) {
        f = std::make_unique<OutputFile>(
            (std::filesystem::path(o.split_dir) / (std::string(name(r.status)) + split_ext)).string(), out_opt, reader.get());
      }
      f->writer().write(row.rec, r, row.duplicate);
    }
    summary.add(r, row.duplicate, domain_hash);
  };
  auto write = [&](Row& row, const Result& r) {
    write_hashed(row, r, r.parsed ? fast_hash(r.address.domain()) : 0);
  };

  try {
    ingest::Record rec;
    // Offline: nothing to wait for, so no batches: each record is classified straight into its
    // output row (the offline verdict is deterministic, so a repeat's result is the first one's;
    // it is only marked).
    // Offline on several threads (--threads N > 1, engine/offline.hpp): records are read here in
    // blocks (CSV records only found here, Reader::next_raw; the workers decode their fields); the
    // workers classify each row, hash its dedupe key and render its output row as not a
    // repeat; here, in input order, each hash goes through `seen`, a repeat's duplicate field turns
    // to true, and the rows are written, split and counted as below: the same bytes and the same
    // summary as one thread (a repeat's result is its first occurrence's: the offline verdict is
    // deterministic). --state and --cache are for the network levels only.
    const std::size_t threads = engine::resolve_threads(o.threads);
    if (!network && threads > 1) {
      struct Block {
        std::vector<ingest::Record> recs;  // the first `size` are this block's
        std::size_t size = 0;
        // The undecoded records' bytes, end to end in row order (Reader::next_raw), and where
        // row i's bytes end; a decoded row has none. One buffer, not a string per record: the
        // reading thread appends in sequence and the worker on the other core reads in sequence,
        // so the hardware prefetcher fetches ahead of both (docs/benchmarks.md).
        std::string bytes;
        std::vector<std::size_t> bytes_end;
        std::vector<std::uint8_t> unreadable;  // an unreadable record, not deduplicated (set by the worker)
        std::vector<std::uint64_t> hash;  // fast_hash of the row's dedupe_key()
        std::vector<std::size_t> end;     // where row i's bytes end in `out`
        std::vector<std::size_t> dup_at;  // where its duplicate field ("false") is, or npos
        // Row i's status and reason, in arrays of their own: the writing thread reads these in
        // sequence instead of a cache line of each Result (written on another core).
        std::vector<Status> status;
        std::vector<Reason> reason;
        std::string out;
        std::string key;
        // One Result and one decoded record for every row of the block, in turn: a few KiB that
        // stay in the worker's cache, where a Result and a decoded record per row (about 1 MiB a
        // block) were written to memory and read back cold (docs/benchmarks.md).
        Result result;
        ingest::Record decoded;
        // The block's domains (of parsed addresses) in the order of their first row, with their
        // rows: the summary's domain counts, made here rather than row by row on the writing thread.
        // The names are copied into domain_text, reserved for the block's worst case up front so
        // that the views into it stay valid; the hash lets the writing thread prefetch.
        struct DomainRows {
          std::string_view name;
          std::uint64_t hash;
          std::uint64_t rows;
        };
        std::string domain_text;
        std::vector<DomainRows> domain_rows;
      };
      const ingest::Writer& layout = out.writer();
      const ingest::Reader& decoder = *reader;
      auto pool = engine::make_offline_pool<Block>(
          engine.knowledge(), threads, [&layout, &decoder, canonical](Classifier& c, Block& b) {
            if (b.hash.size() < b.size) {
              b.hash.resize(b.size);
              b.end.resize(b.size);
              b.dup_at.resize(b.size);
              b.status.resize(b.size);
              b.reason.resize(b.size);
            }
            b.out.clear();
            b.domain_rows.clear();
            // The block's domain -> its entry in domain_rows. Per worker thread, not per block: it
            // stays in this core's cache (a block goes to either worker).
            thread_local FlatMap<std::string_view, std::size_t> domain_index{engine::kOfflineBlockRows};
            domain_index.clear();
            b.domain_text.clear();
            b.domain_text.reserve(b.size * address::kMaxAddress);  // a domain is shorter than its address
            Result& r = b.result;
            const std::string_view bytes = b.bytes;
            for (std::size_t i = 0; i < b.size; ++i) {
              ingest::Record& got = b.recs[i];
              const ingest::Record* fields_of = &got;
              if (got.undecoded) {
                // The reading thread only found the record; its fields are decoded here, by the
                // thread that classifies and renders them, into the block's one decoded record.
                ingest::Record& d = b.decoded;
                d.number = got.number;
                d.line = got.line;
                d.email.clear();
                d.undecoded = true;
                const std::size_t from = i == 0 ? 0 : b.bytes_end[i - 1];
                decoder.decode(d, bytes.substr(from, b.bytes_end[i] - from));
                fields_of = &d;
              }
              b.unreadable[i] = !fields_of->error.empty() && text::trim_blanks(fields_of->email).empty() ? 1 : 0;
              if (b.unreadable[i]) {
                if (fields_of != &got) got.error = fields_of->error;  // the writing thread reports it
                c.classify("", r);
                r.reason = Reason::row_unreadable;
                decide(r);
              } else {
                const std::string_view email = text::trim_blanks(fields_of->email);
                c.classify(email, r);
                // The hash of dedupe_key(), as the one-thread loop below computes it.
                if (!r.parsed) {
                  b.key.assign(1, '\x01');
                  b.key.append(email);
                  b.hash[i] = fast_hash(b.key);
                } else if (canonical) {
                  b.key.clear();
                  address::append_canonical(r.address, b.key);
                  b.hash[i] = fast_hash(b.key);
                } else {
                  b.hash[i] = fast_hash(r.address.normalized());
                }
              }
              b.dup_at[i] = layout.render(*fields_of, r, b.out);
              b.end[i] = b.out.size();
              b.status[i] = r.status;
              b.reason[i] = r.reason;
              if (r.parsed) {
                const std::string_view d = r.address.domain();
                const std::size_t* k = domain_index.find(d);
                if (k == nullptr) {
                  const std::size_t at = b.domain_text.size();
                  if (at + d.size() > b.domain_text.capacity()) throw std::logic_error("bulk: a domain longer than its address");
                  b.domain_text += d;  // within the reserved room: no view moves
                  const std::string_view kept = std::string_view(b.domain_text).substr(at);
                  k = &domain_index.insert(kept, b.domain_rows.size());
                  b.domain_rows.push_back({kept, fast_hash(kept), 0});
                }
                ++b.domain_rows[*k].rows;
              }
            }
          });
      std::string patched;
      auto write_block = [&](std::unique_ptr<Block> b) {
        constexpr std::size_t kAhead = 32;  // `seen` slots prefetched ahead of their look-up
        const std::string_view all = b->out;
        std::size_t start = 0;
        std::size_t unwritten = 0;  // rows from here on are not in the output yet (written in runs)
        for (std::size_t i = 0; i < b->size; ++i) {
          if (b->unreadable[i]) {
            const ingest::Record& got = b->recs[i];
            if (reported_errors++ < 20 && !o.quiet)
              std::fprintf(stderr, "mailsift: %s: record %llu (line %llu): %s\n", o.input.c_str(),
                           static_cast<unsigned long long>(got.number), static_cast<unsigned long long>(got.line),
                           got.error.c_str());
            ++summary.row_errors;
          }
          if (i + kAhead < b->size && !b->unreadable[i + kAhead]) seen.prefetch(b->hash[i + kAhead]);
          const bool duplicate = !b->unreadable[i] && !seen.put(b->hash[i]);
          const Status status = b->status[i];
          std::string_view bytes = all.substr(start, b->end[i] - start);
          if (duplicate && b->dup_at[i] != std::string::npos) {
            const std::size_t at = b->dup_at[i] - start;
            patched.assign(bytes.substr(0, at));
            patched += "true";
            patched += bytes.substr(at + 5);  // after "false"
            bytes = patched;
            out.writer().write_rendered(all.substr(unwritten, start - unwritten));
            out.writer().write_rendered(bytes);
            unwritten = b->end[i];
          }
          if (!o.split_dir.empty()) {
            auto& f = split[static_cast<std::size_t>(status)];
            if (!f) {
              f = std::make_unique<OutputFile>(
                  (std::filesystem::path(o.split_dir) / (std::string(name(status)) + split_ext)).string(), out_opt,
                  reader.get());
            }
            f->writer().write_rendered(bytes);
          }
          summary.count(status, b->reason[i], duplicate);
          if ((summary.rows & 0xFFF) == 0) progress.update(summary);
          start = b->end[i];
        }
        // Two stages ahead: the slot, then (once the slot is in cache) the record it names.
        const auto& dr = b->domain_rows;
        for (std::size_t k = 0; k < dr.size(); ++k) {
          if (k + 16 < dr.size()) summary.domains.prefetch_slot(dr[k + 16].hash);
          if (k + 8 < dr.size()) summary.domains.prefetch_record(dr[k + 8].hash);
          summary.add_domain_rows(dr[k].name, dr[k].hash, dr[k].rows);
        }
        out.writer().write_rendered(all.substr(unwritten));
        pool->release(std::move(b));
      };
      std::unique_ptr<Block> open = pool->acquire();
      auto submit = [&] {
        while (pool->full()) write_block(pool->take(true));
        pool->submit(std::move(open));
        while (auto done = pool->take(false)) write_block(std::move(done));
        open = pool->acquire();
        open->size = 0;
        open->bytes.clear();
      };
      for (;;) {
        Block& b = *open;
        if (b.recs.size() == b.size) {
          b.recs.emplace_back();
          b.unreadable.emplace_back();
          b.bytes_end.emplace_back();
        }
        if (g_interrupted.load() || !reader->next_raw(b.recs[b.size], b.bytes)) break;
        b.bytes_end[b.size] = b.bytes.size();
        // A block ends at its row count or once its bytes pass kOfflineBlockBytes (long records:
        // memory in flight stays bounded by bytes too, not only by rows).
        if (++b.size == engine::kOfflineBlockRows || b.bytes.size() >= engine::kOfflineBlockBytes) submit();
      }
      if (open->size > 0) submit();
      while (pool->in_flight() > 0) write_block(pool->take(true));
      interrupted = g_interrupted.load();
    } else if (!network) {
      // Rows in flight: row i is read and classified and its dedupe slot prefetched before row
      // i - kInFlight + 1 is looked up and written, so the lookup's cache miss (the table is far
      // larger than the caches) overlaps the classification of the rows in between instead of
      // stalling the loop. Lookups and writes stay in input order.
      constexpr std::size_t kInFlight = 4;
      // The summary's row count per domain is a table as large as the dedupe table, looked up
      // the same way: its slot is prefetched as the row comes in, the record the slot names two
      // rows later, and both are in cache when the row is written (it was 12% of a one-thread run
      // on the realistic corpus, two cache misses a row).
      struct InFlight {
        Row row;
        Result r;
        std::uint64_t hash = 0;
        std::uint64_t domain_hash = 0;  // fast_hash of the parsed address's domain
        bool keyed = false;  // false: an unreadable record, not deduplicated
      };
      std::array<InFlight, kInFlight> ring;
      std::string key;
      std::size_t next = 0, held = 0;  // the slot to fill next; rows classified, not yet written
      auto finish = [&](InFlight& p) {
        p.row.duplicate = p.keyed && !seen.put(p.hash);
        write_hashed(p.row, p.r, p.domain_hash);
        if ((summary.rows & 0xFFF) == 0) progress.update(summary);
      };
      while (!g_interrupted.load() && reader->next(ring[next].row.rec)) {
        InFlight& p = ring[next];
        Row& row = p.row;
        Result& r = p.r;
        const std::string_view email = text::trim_blanks(row.rec.email);
        p.keyed = false;
        if (!row.rec.error.empty() && email.empty()) {
          if (reported_errors++ < 20 && !o.quiet)
            std::fprintf(stderr, "mailsift: %s: record %llu (line %llu): %s\n", o.input.c_str(),
                         static_cast<unsigned long long>(row.rec.number), static_cast<unsigned long long>(row.rec.line),
                         row.rec.error.c_str());
          engine.classify_offline("", r);
          r.reason = Reason::row_unreadable;
          decide(r);
          ++summary.row_errors;
        } else {
          engine.classify_offline(email, r);
          // The hash of dedupe_key(), without building the key for the usual (exact) case.
          if (!r.parsed) {
            key.assign(1, '\x01');
            key.append(email);
            p.hash = fast_hash(key);
          } else if (canonical) {
            key.clear();
            address::append_canonical(r.address, key);
            p.hash = fast_hash(key);
          } else {
            p.hash = fast_hash(r.address.normalized());
          }
          p.keyed = true;
          seen.prefetch(p.hash);
        }
        if (r.parsed) {
          p.domain_hash = fast_hash(r.address.domain());
          summary.domains.prefetch_slot(p.domain_hash);
        }
        if (held >= 2) {
          const InFlight& earlier = ring[(next + kInFlight - 2) % kInFlight];
          if (earlier.r.parsed) summary.domains.prefetch_record(earlier.domain_hash);
        }
        next = (next + 1) % kInFlight;
        // The ring is full: its oldest row is the slot the next record goes into.
        if (++held == kInFlight) {
          finish(ring[next]);
          --held;
        }
      }
      for (; held > 0; --held) finish(ring[(next + kInFlight - held) % kInFlight]);
      interrupted = g_interrupted.load();
    }
    auto forget = [&](const std::string& key) {
      const auto it = in_flight.find(fast_hash(key));
      if (it != in_flight.end() && --it->second == 0) in_flight.erase(it);
    };
    // Writes the oldest pending batch, whose engine results are in.
    auto write_batch = [&] {
      Pending& p = pending.front();
      std::vector<Row>& rows = p.rows;
      std::vector<Result>& engine_results = p.engine_results;
      results.resize(rows.size());
      for (std::size_t i = 0; i < rows.size(); ++i) {
        Row& row = rows[i];
        Result& r = results[i];
        switch (row.kind) {
          case Row::Kind::engine:
            r = std::move(engine_results[row.pos]);
            forget(row.key);
            seen.put(fast_hash(row.key), pack_verdict(r));
            if (state || (cache && r.status != Status::unknown && (r.checks & kCheckSmtp))) {
              const std::string v = serialize_verdict(r);
              if (state) state->put(row.key, v);
              if (cache && r.status != Status::unknown && (r.checks & kCheckSmtp)) cache->put_address(r.address.normalized(), v);
            }
            break;
          case Row::Kind::same_as: r = results[row.pos]; break;
          case Row::Kind::seen: {
            engine.classify_offline(text::trim_blanks(row.rec.email), r);
            const auto v = seen.find(row.seen);
            if (!v) throw std::logic_error("bulk: a repeated row's first occurrence has no result");
            unpack_verdict(*v, r);
            engine.annotate_restored(r);
            break;
          }
          case Row::Kind::restored:
            engine.classify_offline(text::trim_blanks(row.rec.email), r);
            if (!restore_verdict(row.value, r)) throw std::runtime_error("a --state/--cache value is not readable: remove the file");
            engine.annotate_restored(r);
            forget(row.key);
            seen.put(fast_hash(row.key), pack_verdict(r));
            ++summary.restored;
            break;
          case Row::Kind::unreadable:
            engine.classify_offline("", r);
            r.reason = Reason::row_unreadable;
            decide(r);
            ++summary.row_errors;
            break;
        }
        write(row, r);
      }
      if (state) state->commit();
      if (cache) cache->commit();
      progress.update(summary);
      pending.pop_front();
    };
    const engine::Engine::Sink to_pending = [&](std::size_t pos, Result& r) { pending.front().engine_results[pos] = r; };
    // Writes every pending batch that is done; with `wait`, first waits for the window to have
    // room for another batch (all: for every batch).
    auto drain = [&](bool all) {
      while (engine.in_flight() > 0 && engine.deliver(to_pending, all || engine.window_full())) write_batch();
    };
    for (; network;) {
      std::vector<Row>& rows = pending.emplace_back().rows;
      first_in_batch.clear();
      // Intake: a batch of records, each sorted out before any network work.
      while (rows.size() < batch && !g_interrupted.load() && reader->next(rec)) {
        Row& row = rows.emplace_back();
        row.rec = std::move(rec);
        rec = {};
        const std::string_view email = text::trim_blanks(row.rec.email);
        if (!row.rec.error.empty() && email.empty()) {
          row.kind = Row::Kind::unreadable;
          if (reported_errors++ < 20 && !o.quiet)
            std::fprintf(stderr, "mailsift: %s: record %llu (line %llu): %s\n", o.input.c_str(),
                         static_cast<unsigned long long>(row.rec.number), static_cast<unsigned long long>(row.rec.line),
                         row.rec.error.c_str());
          continue;
        }
        row.key = dedupe_key(email, canonical, scratch);
        if (auto it = first_in_batch.find(row.key); it != first_in_batch.end()) {
          row.kind = Row::Kind::same_as;
          row.pos = it->second;
          row.duplicate = true;
          continue;
        }
        const std::uint64_t h = fast_hash(row.key);
        if (in_flight.contains(h) || seen.find(h)) {
          row.kind = Row::Kind::seen;
          row.seen = h;
          row.duplicate = true;
          continue;
        }
        first_in_batch.emplace(row.key, rows.size() - 1);
        ++in_flight[h];
        if (network && row.key.front() != '\x01') {
          if (state) {
            if (auto v = state->get(row.key)) {
              row.kind = Row::Kind::restored;
              row.value = std::move(*v);
              continue;
            }
          }
          if (cache) {
            if (auto v = cache->get_address(scratch.normalized(), ttl)) {
              row.kind = Row::Kind::restored;
              row.value = std::move(*v);
              continue;
            }
          }
        }
        row.kind = Row::Kind::engine;
        row.pos = engine.add(email);
        // --cache: the domain's catch-all answer from an earlier run spares its random RCPT.
        if (cache && engine.probing() && row.key.front() != '\x01' && scratch.literal == address::Literal::none) {
          std::string domain(scratch.domain());
          if (primed.size() >= 1'000'000) primed.clear();
          if (primed.insert(domain).second) {
            if (auto v = cache->get_domain(domain, ttl); v && (*v == "0" || *v == "1"))
              engine.remember_catch_all(domain, *v == "1");
          }
        }
      }
      if (rows.empty()) {
        pending.pop_back();
        drain(true);
        break;
      }
      // The network work of the batch starts; what is done is written (in order).
      pending.back().engine_results.resize(engine.pending());
      engine.submit();
      if (g_interrupted.load()) {
        // Ctrl-C: the batches in flight get the engine's grace time (then it throws Interrupted);
        // those done by then are written.
        drain(true);
        interrupted = true;
        break;
      }
      drain(false);
    }
  } catch (const engine::Engine::Interrupted&) {
    interrupted = true;
  }
  if (cache && engine.probing()) {
    for (const auto& [domain, ca] : engine.catch_all_answers()) cache->put_domain(domain, ca ? "1" : "0");
    cache->commit();
  }
  engine.flush_history();  // interrupted too: what was checked was seen
  progress.update(summary, true);
  if (interrupted) {
    // Everything finished is written and (with --state) recorded; the output stays .partial.
    out.writer().close();
    for (auto& f : split)
      if (f) f->writer().close();
    if (state) state->commit();
    if (!o.quiet) {
      std::fprintf(stderr, "mailsift: interrupted after %llu rows%s\n", static_cast<unsigned long long>(summary.rows),
                   state ? "; run the same command again to continue" : "");
    }
  } else {
    out.finish();
    for (auto& f : split)
      if (f) f->finish();
    if (state) state->set_complete(true);
  }
  if (!o.summary_file.empty()) {
    std::ofstream f(o.summary_file, std::ios::trunc);
    f << summary.json(interrupted);
    if (!f) throw std::runtime_error("cannot write --summary file " + o.summary_file);
  }
  if (!o.quiet) summary.print(stderr);
  if (interrupted) return kInterrupted;
  return (o.strict && summary.by_status[0] != summary.rows) ? kSomeNotValid : kOk;
}

}  // namespace mailsift::cli
