#include "cli/verify.hpp"

#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cerrno>
#include <cstdio>
#include <exception>
#include <map>
#include <stdexcept>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include <memory>

#include "cli/bulk.hpp"
#include "cli/commands.hpp"
#include "cli/config.hpp"
#include "engine/batch.hpp"
#include "engine/engine.hpp"
#include "engine/offline.hpp"
#include "server/serve.hpp"
#include "cli/options.hpp"
#include "common/line_reader.hpp"
#include "common/text.hpp"
#include "domain/knowledge.hpp"
#include "mailsift/version.hpp"
#include "verdict/render.hpp"

namespace mailsift::cli {
namespace {

// Lines longer than this cannot be addresses; their head is kept for the record, the rest skipped.
constexpr std::size_t kMaxLine = 4096;
// Output is written in blocks of about this size: large enough that syscalls cost nothing.
constexpr std::size_t kFlushAt = 1 << 20;
class Output {
 public:
  explicit Output(int fd) : fd_(fd) { buf_.reserve(kFlushAt + std::size_t{64} * 1024); }
  std::string& buf() { return buf_; }
  void maybe_flush() {
    if (buf_.size() >= kFlushAt) flush();
  }
  void flush() {
    put(buf_);
    buf_.clear();
  }
  /// Appends `bytes`; a large piece goes out at once, without a copy through the buffer.
  void write(std::string_view bytes) {
    if (buf_.size() + bytes.size() < kFlushAt) {
      buf_ += bytes;
      return;
    }
    flush();
    put(bytes);
  }

 private:
  void put(std::string_view bytes) {
    std::size_t off = 0;
    while (off < bytes.size()) {
      const ssize_t n = ::write(fd_, bytes.data() + off, bytes.size() - off);
      if (n < 0) {
        if (errno == EINTR) continue;
        throw std::system_error(errno, std::generic_category(), "write");
      }
      off += static_cast<std::size_t>(n);
    }
  }

  int fd_;
  std::string buf_;
};

// The plain output path: results to standard output in one of the four formats.
class Run {
 public:
  Run(const VerifyOptions& o, render::Format f) : engine_(o), format_(f), out_(1), strict_(o.strict), opt_(o) {}

  void begin() {
    if (format_ == render::Format::csv) render::append_csv_header(out_.buf());
    if (format_ == render::Format::table) render::append_table_header(out_.buf());
    if (format_ == render::Format::json) out_.buf() += "[";
  }

  void one(std::string_view input) {
    engine_.add(text::trim_blanks(input));
    if (!engine_.full()) return;
    engine_.submit();
    // Deliver what is done; wait only when the batches in flight fill the window.
    const auto sink = [this](std::size_t, Result& r) { emit(r); };
    while (engine_.in_flight() > 0 && engine_.deliver(sink, engine_.window_full())) {
    }
  }

  int end() {
    engine_.run([this](std::size_t, Result& r) { emit(r); });
    engine_.flush_history();
    if (format_ == render::Format::json) out_.buf() += count_ == 0 ? "]\n" : "\n]\n";
    out_.flush();
    if (opt_.dns_stats) std::fputs(engine_.dns_stats().c_str(), stderr);
    if (opt_.smtp_stats) std::fputs(engine_.smtp_stats().c_str(), stderr);
    return (strict_ && !all_valid_) ? kSomeNotValid : kOk;
  }

 private:
  void emit(const Result& r) {
    all_valid_ &= r.status == Status::valid;
    std::string& b = out_.buf();
    switch (format_) {
      case render::Format::jsonl:
        render::append_json(r, b);
        b.push_back('\n');
        break;
      case render::Format::json:
        b += count_ == 0 ? "\n" : ",\n";
        render::append_json(r, b);
        break;
      case render::Format::csv:
        render::append_csv(r, b, opt_.csv_raw ? render::CsvCells::raw : render::CsvCells::safe);
        break;
      case render::Format::table: render::append_table(r, b); break;
    }
    ++count_;
    out_.maybe_flush();
  }

  engine::Engine engine_;
  render::Format format_;
  Output out_;
  bool strict_;
  const VerifyOptions& opt_;
  std::size_t count_ = 0;
  bool all_valid_ = true;
};

// The plain output path at the offline level on several threads (--threads N > 1): inputs are
// gathered here in blocks, classified and rendered on N threads (N - 1 workers, and this one while
// it waits: engine/offline.hpp), and each block's bytes written here in input order: the same
// bytes as Run.
class ParallelRun {
 public:
  ParallelRun(const VerifyOptions& o, render::Format f, std::size_t threads)
      : engine_(o), format_(f), out_(1), strict_(o.strict),
        cells_(o.csv_raw ? render::CsvCells::raw : render::CsvCells::safe) {
    const render::Format format = format_;
    const render::CsvCells cells = cells_;
    pool_ = engine::make_offline_pool<Block>(engine_.knowledge(), threads, [format, cells](Classifier& c, Block& b) {
      work(c, b, format, cells);
    });
    open_ = pool_->acquire();
  }

  void begin() {
    if (format_ == render::Format::csv) render::append_csv_header(out_.buf());
    if (format_ == render::Format::table) render::append_table_header(out_.buf());
    if (format_ == render::Format::json) out_.buf() += "[";
  }

  void one(std::string_view input) {
    Block& b = *open_;
    b.inputs.push_back(text::trim_blanks(input));
    if (b.inputs.size() == engine::kOfflineBlockRows) submit();
  }

  int end() {
    if (!open_->inputs.empty()) submit();
    while (pool_->in_flight() > 0) write(pool_->take(true));
    if (format_ == render::Format::json) out_.buf() += count_ == 0 ? "]\n" : "\n]\n";
    out_.flush();
    return (strict_ && !all_valid_) ? kSomeNotValid : kOk;
  }

 private:
  struct Block {
    engine::Inputs inputs;
    std::string out;
    bool all_valid = true;
    Result scratch;
  };

  // On a worker: the block's rows rendered as Run::emit does, except that every JSON row gets the
  // ",\n" separator (the writer drops the very first one's comma).
  static void work(Classifier& c, Block& b, render::Format format, render::CsvCells cells) {
    b.out.clear();
    b.all_valid = true;
    Result& r = b.scratch;
    for (std::size_t i = 0; i < b.inputs.size(); ++i) {
      c.classify(b.inputs[i], r);
      b.all_valid &= r.status == Status::valid;
      switch (format) {
        case render::Format::jsonl:
          render::append_json(r, b.out);
          b.out.push_back('\n');
          break;
        case render::Format::json:
          b.out += ",\n";
          render::append_json(r, b.out);
          break;
        case render::Format::csv: render::append_csv(r, b.out, cells); break;
        case render::Format::table: render::append_table(r, b.out); break;
      }
    }
  }

  void submit() {
    while (pool_->full()) write(pool_->take(true));
    pool_->submit(std::move(open_));
    while (auto done = pool_->take(false)) write(std::move(done));
    open_ = pool_->acquire();
    open_->inputs.clear();
  }

  void write(std::unique_ptr<Block> b) {
    std::string_view bytes = b->out;
    if (format_ == render::Format::json && count_ == 0 && !b->inputs.empty()) bytes.remove_prefix(1);  // "\n", not ",\n"
    out_.write(bytes);
    count_ += b->inputs.size();
    all_valid_ &= b->all_valid;
    pool_->release(std::move(b));
  }

  engine::Engine engine_;  // its Knowledge is what the workers share
  render::Format format_;
  Output out_;
  bool strict_;
  render::CsvCells cells_;
  std::unique_ptr<engine::OrderedPool<Block>> pool_;
  std::unique_ptr<Block> open_;
  std::size_t count_ = 0;
  bool all_valid_ = true;
};

// The path a verify without --input takes: reads the inputs and hands each to `run`.
template <class R>
int verify_plain(const VerifyOptions& o, R& run) {
  run.begin();
  const bool from_stdin = o.addresses.empty() || (o.addresses.size() == 1 && o.addresses[0] == "-");
  if (from_stdin) {
    LineReader reader(0, kMaxLine);
    LineReader::Line line;
    bool first = true;
    while (reader.next(line)) {
      // UTF-16/32 would give one garbage address per line (NULs between the letters): refused
      // with the way out. --input - transcodes it (docs/bulk.md); this path reads lines as bytes.
      if (std::exchange(first, false) && (line.text.starts_with("\xFF\xFE") || line.text.starts_with("\xFE\xFF") ||
                                          line.text.starts_with(std::string_view("\0\0\xFE\xFF", 4))))
        throw std::invalid_argument(
            "standard input is UTF-16 or UTF-32 (it starts with that byte order mark): read it with --input - "
            "(which converts it), or convert it first: iconv -f UTF-16 -t UTF-8");
      run.one(line.text);
    }
  } else {
    for (const std::string& a : o.addresses) run.one(a);
  }
  return run.end();
}

int verify(const VerifyOptions& o) {
  // RDAP rides on the network stages (engine/rdap.hpp); offline there is no network at all.
  if (o.rdap && o.level == "syntax")
    throw std::invalid_argument("--rdap needs a network level: --level dns or --level smtp (docs/rdap.md)");
  if (!o.input.empty()) {
    if (!o.addresses.empty()) throw std::invalid_argument("--input and addresses on the command line exclude each other");
    if (!o.format.empty()) throw std::invalid_argument("--format is for the plain path; with --input use --output-format");
    return verify_bulk(o);
  }
  if (o.output != "-" || !o.split_dir.empty() || !o.summary_file.empty() || !o.state_file.empty() || !o.cache_file.empty())
    throw std::invalid_argument("--output, --split, --summary, --state and --cache need --input");
  static const std::map<std::string, render::Format> kFormats = {
      {"jsonl", render::Format::jsonl}, {"json", render::Format::json},
      {"csv", render::Format::csv},     {"table", render::Format::table}};
  render::Format format = ::isatty(1) ? render::Format::table : render::Format::jsonl;
  if (!o.format.empty()) format = kFormats.at(o.format);

  // Offline on several threads: the parallel path; --threads 1 (and the network levels, whose
  // engine has its own threads) the single-threaded one.
  const std::size_t threads = engine::resolve_threads(o.threads);
  if (o.level == "syntax" && threads > 1) {
    ParallelRun run(o, format, threads);
    return verify_plain(o, run);
  }
  Run run(o, format);
  return verify_plain(o, run);
}

}  // namespace

void add_history_options(CLI::App* v, VerifyOptions& o) {
  v->add_option("--history", o.history_file,
                "SQLite file of what earlier checks saw of each domain and MX host: the results' reputation, and "
                "catch-all answers reused (--level dns/smtp; docs/history.md)");
  v->add_option("--history-retention", o.history_retention, "Days a domain's --history record is kept after it was last seen")
      ->check(CLI::Range(1.0, 36500.0))
      ->capture_default_str();
  v->add_option("--history-catch-all-ttl", o.history_catch_all_ttl,
                "Seconds a catch-all answer in --history is reused instead of testing the domain again (0: always test)")
      ->check(CLI::Range(0.0, 3.2e8))
      ->capture_default_str();
  v->add_option("--history-backoff", o.history_backoff,
                "Seconds a domain whose servers refused us (blocked, rate limited, sender or session rejected) is not "
                "asked again: its addresses get held_back (0: always ask)")
      ->check(CLI::Range(0.0, 3.2e8))
      ->capture_default_str();
}

void add_engine_options(CLI::App* v, VerifyOptions& o) {
  v->add_option("--level", o.level,
                "How far to go: syntax (offline: syntax and domain knowledge), dns (+ MX, null MX, SPF, DMARC) or "
                "smtp (+ ask the mail server about the mailbox, without sending mail)")
      ->check(CLI::IsMember({"syntax", "dns", "smtp"}))
      ->capture_default_str();
  v->add_option("--threads", o.threads,
                "Threads (default 0: one per core; 1: the single-threaded path). Offline: threads that classify, "
                "the reading one among them; network "
                "levels: event loops, each domain on one of them, per-server limits shared")
      ->check(CLI::Range(0, 1024))
      ->capture_default_str();
  v->add_option("--dns-server", o.dns_servers,
                "DNS server HOST[:PORT] or [IPV6]:PORT to use instead of the system's (repeatable)")
      ->allow_extra_args(false);
  v->add_option("--dns-timeout", o.dns_timeout_ms, "DNS timeout per try in milliseconds (2 tries)")
      ->check(CLI::Range(10, 60000))
      ->capture_default_str();
  v->add_option("--dns-concurrency", o.dns_concurrency, "Domains looked up at once at --level dns")
      ->check(CLI::Range(1, 65536))
      ->capture_default_str();
  v->add_flag("--allow-private-targets", o.allow_private_targets,
              "Accept mail servers at loopback, private, link-local and other non-public addresses (labs, intranets)");
  v->add_option("--domain-blocklist", o.blocklists, "Domain block list (RHSBL) zone to query at --level dns (repeatable)")
      ->allow_extra_args(false);
  v->add_option("--helo", o.helo, "Name to give in EHLO/HELO (default: this machine's host name)");
  v->add_option("--mail-from", o.mail_from,
                "Envelope sender for MAIL FROM; its domain should have MX or A records (checked at start-up). "
                "Default, or '<>': the null reverse-path");
  v->add_option("--source-ip", o.source_ips, "Local address to connect from (repeatable: rotated per connection)")
      ->allow_extra_args(false);
  v->add_option("--proxy", o.proxy, "Connect through a SOCKS5 proxy: socks5://[user:password@]IP:PORT");
  v->add_option("--smtp-port", o.smtp_port, "TCP port of the mail servers (labs; the internet uses 25)")
      ->check(CLI::Range(1, 65535))
      ->capture_default_str();
  v->add_option("--connect-timeout", o.connect_timeout, "Seconds to wait for a TCP connection (and the proxy)")
      ->check(CLI::Range(0.01, 3600.0))
      ->capture_default_str();
  v->add_option("--banner-timeout", o.banner_timeout, "Seconds to wait for the server's 220 greeting")
      ->check(CLI::Range(0.01, 3600.0))
      ->capture_default_str();
  v->add_option("--command-timeout", o.command_timeout, "Seconds to wait for the reply to each command")
      ->check(CLI::Range(0.01, 3600.0))
      ->capture_default_str();
  v->add_option("--session-timeout", o.session_timeout, "Seconds one whole SMTP session may take, every MX host tried included")
      ->check(CLI::Range(0.01, 3600.0))
      ->capture_default_str();
  v->add_option("--greylist-retry", o.greylist_retry, "Seconds to wait before asking again after greylisting, when the server states no delay of its own")
      ->check(CLI::Range(0.0, 3600.0))
      ->capture_default_str();
  v->add_option("--greylist-tries", o.greylist_tries, "Sessions per greylisted address in all, the first included")
      ->check(CLI::Range(1, 10))
      ->capture_default_str();
  v->add_option("--max-wait", o.max_wait, "Longest time in seconds one address may wait for greylisting retries (0: no retry)")
      ->check(CLI::Range(0.0, 86400.0))
      ->capture_default_str();
  v->add_option("--smtp-concurrency", o.smtp_concurrency, "SMTP sessions connected at once, in all")
      ->check(CLI::Range(1, 100000))
      ->capture_default_str();
  v->add_option("--host-concurrency", o.host_concurrency, "SMTP connections at once to one mail server address")
      ->check(CLI::Range(1, 10000))
      ->capture_default_str();
  v->add_option("--host-rate", o.host_rate, "New connections per second to one mail server address (0: no limit)")
      ->check(CLI::Range(0.0, 1e6))
      ->capture_default_str();
  v->add_option("--host-backoff", o.host_backoff, "Seconds to leave a mail server alone after it answers 421")
      ->check(CLI::Range(0.0, 86400.0))
      ->capture_default_str();
  v->add_option("--rcpts-per-session", o.rcpts_per_session, "Addresses of one domain asked in one SMTP transaction (RCPT TO each)")
      ->check(CLI::Range(1, 100))
      ->capture_default_str();
  v->add_flag("--no-starttls", o.no_starttls, "Do not use STARTTLS even when the server offers it");
  v->add_option("--tls-session-cache", o.tls_session_cache,
                "MX hosts whose TLS session is kept for resumption (0: every STARTTLS is a full handshake)")
      ->check(CLI::Range(std::size_t{0}, std::size_t{1'000'000}))
      ->capture_default_str();
  v->add_flag("--no-catch-all", o.no_catch_all, "Do not test a random address for catch-all domains");
  v->add_flag("--transcript", o.transcript, "Include the whole SMTP dialogue in the output (smtp.transcript; table: under each row)");
  v->add_option("--disposable-file", o.lists.disposable_files, "Extra disposable domains, one per line (repeatable)")
      ->allow_extra_args(false);
  v->add_option("--disposable-domain", o.lists.disposable_domains, "An extra disposable domain (repeatable)")
      ->allow_extra_args(false);
  v->add_option("--allow-file", o.lists.allow_files, "Domains never treated as disposable, one per line (repeatable)")
      ->allow_extra_args(false);
  v->add_option("--allow-domain", o.lists.allow_domains, "A domain never treated as disposable (repeatable)")
      ->allow_extra_args(false);
  v->add_option("--lists-dir", o.lists.lists_dir,
                "Also use the lists `mailsift lists update` installed in DIR (disposable, allow, free, role); "
                "see docs/lists.md");
  v->add_option("--free-file", o.lists.free_files, "Extra free-provider domains, one per line (repeatable)")
      ->allow_extra_args(false);
  v->add_option("--role-file", o.lists.role_files, "Extra role-account local parts, one per line (repeatable)")
      ->allow_extra_args(false);
  v->add_flag("--extended-disposable", o.lists.extended_disposable,
              "Also use the large community disposable lists (more coverage, more false positives)");
  v->add_flag_callback("--no-builtin-lists", [&o] { o.lists.builtin = false; },
                       "Use only the list files and domains given on the command line");
}

// `verify` and `serve`; a cluster's workers leave RDAP to the coordinator (docs/rdap.md).
void add_rdap_options(CLI::App* v, VerifyOptions& o) {
  v->add_flag("--rdap", o.rdap,
              "At --level dns/smtp: look up each registrable domain's registration date and status over RDAP "
              "(new_domain signal, domain_not_active reason; needs --rdap-bootstrap; docs/rdap.md)");
  v->add_option("--rdap-bootstrap", o.rdap_bootstrap,
                "RFC 9224 bootstrap file naming the RDAP server of each TLD (e.g. IANA's dns.json, fetched beforehand)");
  v->add_option("--rdap-ca-file", o.rdap_ca_file, "RDAP: trust this CA file (PEM) instead of the system's");
  v->add_option("--rdap-timeout", o.rdap_timeout,
                "RDAP: seconds a lookup may take from its request (queueing included); past it the result has no "
                "registration data")
      ->check(CLI::Range(0.1, 300.0))
      ->capture_default_str();
  v->add_option("--rdap-concurrency", o.rdap_concurrency, "RDAP: lookups in flight at once")
      ->check(CLI::Range(1, 64))
      ->capture_default_str();
  v->add_option("--rdap-rate", o.rdap_rate,
                "RDAP: requests per second to one RDAP server (0: no limit); after a 429 it is left alone for a minute")
      ->check(CLI::Range(0.0, 1000.0))
      ->capture_default_str();
  v->add_option("--rdap-cache-days", o.rdap_cache_days, "RDAP: days an answer is reused for the same domain")
      ->check(CLI::Range(0.0, 365.0))
      ->capture_default_str();
  v->add_option("--rdap-cache", o.rdap_cache,
                "RDAP: SQLite file keeping answers across runs (younger than --rdap-cache-days; not the --cache file)");
}

int run(int argc, char** argv) {
  CLI::App app{"mailsift: tells whether mail to an address would be delivered, without sending any"};
  app.set_version_flag("--version", std::string("mailsift ") + kVersion);
  app.require_subcommand(1);

  VerifyOptions o;
  CLI::App* v = app.add_subcommand("verify", "Verify addresses given as arguments, or one per line on standard input");
  v->add_option("addresses", o.addresses, "Addresses to verify; none or '-' reads standard input, one per line");
  add_engine_options(v, o);
  add_rdap_options(v, o);
  v->add_flag("--dns-stats", o.dns_stats, "At --level dns, print DNS query counts to standard error at the end");
  v->add_flag("--smtp-stats", o.smtp_stats, "At --level smtp, print session and RCPT counts to standard error at the end");
  v->add_option("--input", o.input, "Bulk: read addresses from FILE (TXT, CSV or JSONL, .gz too; '-' = standard input); see docs/bulk.md");
  v->add_option("--output", o.output, "Bulk: write every input row with its result appended to FILE ('-' = standard output)")
      ->capture_default_str();
  v->add_option("--input-format", o.input_format, "Bulk: txt, csv or jsonl (default: from the --input extension)")
      ->check(CLI::IsMember({"txt", "csv", "jsonl"}));
  v->add_option("--output-format", o.output_format, "Bulk: csv or jsonl (default: from the --output extension, else the input's)")
      ->check(CLI::IsMember({"csv", "jsonl"}));
  v->add_option("--column", o.column, "Bulk CSV: the column holding the address, by header name or 1-based index (default: detected)");
  v->add_option("--field", o.field, "Bulk JSONL: the member holding the address (default: detected)");
  v->add_option("--split", o.split_dir, "Bulk: also write one file per status (valid, invalid, risky, unknown) into DIR");
  v->add_option("--summary", o.summary_file, "Bulk: write the run's summary (counts by status and reason, top domains, rate) as JSON to FILE");
  v->add_option("--dedupe", o.dedupe, "Bulk: exact (same normalized address) or canonical (provider-aware: dots, +tags)")
      ->check(CLI::IsMember({"exact", "canonical"}))
      ->capture_default_str();
  v->add_option("--cache", o.cache_file, "Bulk: SQLite file of verdicts reused across runs while younger than --cache-ttl");
  v->add_option("--cache-ttl", o.cache_ttl, "Bulk: seconds a --cache verdict stays usable")
      ->check(CLI::Range(0.0, 3.2e8))
      ->capture_default_str();
  v->add_option("--state", o.state_file, "Bulk: SQLite file recording finished results; after a crash the same command continues");
  v->add_flag("--quiet", o.quiet, "Bulk: no progress, summary or per-row messages on standard error");
  add_history_options(v, o);
  v->add_flag("--hash-keys", o.hash_keys, "--history keys domains and hosts by a SHA-256, not by name");
  v->add_option("--progress", o.progress, "Bulk: auto (a bar on a terminal), bar, jsonl (one line a second on standard error) or none")
      ->check(CLI::IsMember({"auto", "bar", "jsonl", "none"}))
      ->capture_default_str();
  v->add_option("--format", o.format, "Output format: jsonl, json, csv or table (default: table on a terminal, else jsonl)")
      ->check(CLI::IsMember({"jsonl", "json", "csv", "table"}));
  v->add_flag("--csv-raw", o.csv_raw,
              "CSV output: write fields as they are, without the \"'\" that keeps spreadsheets from taking a field "
              "starting with = + - @ for a formula");
  v->add_flag("--strict", o.strict, "Exit with status 1 unless every result is valid (for scripts checking one address)");
  add_broker_options(v, o, false);
  server::ServeOptions so;
  CLI::App* serve = add_serve_command(app, so);
  engine::WorkerOptions wo;
  CLI::App* work = add_worker_command(app, wo);
  ClusterOptions co;
  CLI::App* cluster = add_cluster_command(app, co);
  ListsOptions lo;
  CLI::App* lists = add_lists_command(app, lo);
  HistoryShowOptions ho;
  CLI::App* history = add_history_command(app, ho);
  std::string config_verify, config_serve, config_worker;
  add_config_option(v, config_verify);
  add_config_option(serve, config_serve);
  add_config_option(work, config_worker);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int rc = app.exit(e);
    return rc == 0 ? kOk : kUsage;
  }
  try {
    // --config: the file's values for what the command line left unset (cli/config.hpp).
    if (!config_verify.empty() && v->parsed()) apply_config(config_verify, app, *v);
    if (!config_serve.empty() && serve->parsed()) apply_config(config_serve, app, *serve);
    if (!config_worker.empty() && work->parsed()) apply_config(config_worker, app, *work);
    if (work->parsed() && wo.verify.broker.empty())
      throw std::invalid_argument("mailsift worker needs --broker URL (on the command line or in --config)");
    if (serve->parsed()) server::serve(so);
    if (work->parsed()) return worker(wo);
    if (cluster->parsed()) return cluster_status(co);
    if (history->parsed()) return history_show(ho);
    if (lists->parsed()) {
      for (CLI::App* sub : lists->get_subcommands())
        return sub->get_name() == "update" ? lists_update(lo) : lists_status(lo);
    }
    return verify(o);
  } catch (const std::invalid_argument& e) {
    std::fprintf(stderr, "mailsift: %s\n", e.what());
    return kUsage;
  } catch (const std::system_error& e) {
    std::fprintf(stderr, "mailsift: %s\n", e.what());
    return kIoError;
  } catch (const std::runtime_error& e) {
    std::fprintf(stderr, "mailsift: %s\n", e.what());
    return kIoError;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "mailsift: internal error: %s\n", e.what());
    return kInternal;
  }
}

}  // namespace mailsift::cli
