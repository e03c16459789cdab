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
#include <vector>

#include <boost/asio/io_context.hpp>
#include <deque>
#include <memory>
#include <unordered_map>

#include "common/line_reader.hpp"
#include "dns/mail.hpp"
#include "dns/resolver.hpp"
#include "dns/target.hpp"
#include "common/text.hpp"
#include "domain/knowledge.hpp"
#include "mailsift/version.hpp"
#include "verdict/classify.hpp"
#include "verdict/render.hpp"

namespace mailsift::cli {
namespace {

// Lines longer than this cannot be addresses; their head is kept for the record, the rest skipped.
constexpr std::size_t kMaxLine = 4096;
// Output is written in blocks of about this size: large enough that syscalls cost nothing.
constexpr std::size_t kFlushAt = 1 << 20;
// At --level dns the input is processed in batches of this many lines: results are written in
// input order once their domain's lookup is done, so a batch is what must be held in memory
// (about 0.5 KiB a line). Large enough that most distinct domains are looked up once per run.
constexpr std::size_t kDnsBatch = std::size_t{64} * 1024;

class Output {
 public:
  explicit Output(int fd) : fd_(fd) { buf_.reserve(kFlushAt + std::size_t{64} * 1024); }
  std::string& buf() { return buf_; }
  void maybe_flush() {
    if (buf_.size() >= kFlushAt) flush();
  }
  void flush() {
    std::size_t off = 0;
    while (off < buf_.size()) {
      const ssize_t n = ::write(fd_, buf_.data() + off, buf_.size() - off);
      if (n < 0) {
        if (errno == EINTR) continue;
        throw std::system_error(errno, std::generic_category(), "write");
      }
      off += static_cast<std::size_t>(n);
    }
    buf_.clear();
  }

 private:
  int fd_;
  std::string buf_;
};

struct VerifyOptions {
  std::vector<std::string> addresses;
  std::string level = "syntax";
  std::string format;
  domain::ListOptions lists;
  bool strict = false;
  // --level dns
  std::vector<std::string> dns_servers;
  int dns_timeout_ms = 2000;
  bool allow_private_targets = false;
  std::vector<std::string> blocklists;
  std::size_t dns_concurrency = 256;
  bool dns_stats = false;
};

class Run {
 public:
  Run(const VerifyOptions& o, render::Format f)
      : knowledge_(o.lists), classifier_(knowledge_), format_(f), out_(1), strict_(o.strict),
        dns_level_(o.level == "dns"), dns_stats_(o.dns_stats),
        concurrency_(std::max<std::size_t>(1, o.dns_concurrency)) {
    if (!dns_level_) return;
    dns::ResolverOptions ro;
    ro.servers = o.dns_servers;
    ro.timeout = std::chrono::milliseconds(o.dns_timeout_ms);
    resolver_ = std::make_unique<dns::Resolver>(io_, std::move(ro));
    dns::MailOptions mo;
    mo.allow_private_targets = o.allow_private_targets;
    mo.blocklist_zones = o.blocklists;
    mail_ = std::make_unique<dns::MailLookup>(*resolver_, std::move(mo));
  }

  void begin() {
    if (format_ == render::Format::csv) render::append_csv_header(out_.buf());
    if (format_ == render::Format::table) render::append_table_header(out_.buf());
    if (format_ == render::Format::json) out_.buf() += "[";
  }

  void one(std::string_view input) {
    if (dns_level_) {
      batch_.emplace_back(text::trim_blanks(input));
      if (batch_.size() >= kDnsBatch) run_batch();
      return;
    }
    classifier_.classify(text::trim_blanks(input), result_);
    emit(result_);
  }

  int end() {
    if (dns_level_) run_batch();
    if (dns_stats_ && resolver_) {
      const dns::ResolverStats& st = resolver_->stats();
      std::fprintf(stderr, "mailsift: dns: %llu queries sent, %llu cache hits, %llu coalesced, %llu queued\n",
                   static_cast<unsigned long long>(st.queries_sent), static_cast<unsigned long long>(st.cache_hits),
                   static_cast<unsigned long long>(st.coalesced), static_cast<unsigned long long>(st.queued));
    }
    if (format_ == render::Format::json) out_.buf() += count_ == 0 ? "]\n" : "\n]\n";
    out_.flush();
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
      case render::Format::csv: render::append_csv(r, b); break;
      case render::Format::table: render::append_table(r, b); break;
    }
    ++count_;
    out_.maybe_flush();
  }

  // --level dns: classify the batch offline, look up each distinct domain that is still possible
  // once (bounded concurrency, one io_context), then write the results in input order.
  void run_batch() {
    if (batch_.empty()) return;
    results_.resize(batch_.size());
    std::unordered_map<std::string_view, std::size_t> index;  // domain → slot in answers_
    std::vector<std::pair<std::string, std::string>> todo;    // (domain, registrable)
    slot_.assign(batch_.size(), kNoSlot);
    for (std::size_t i = 0; i < batch_.size(); ++i) {
      Result& r = results_[i];
      classifier_.classify(batch_[i], r);
      if (!r.parsed || r.status == Status::invalid) continue;
      if (r.flags.address_literal) {
        apply_dns(r, mail_->literal(r.address.domain()));
        continue;
      }
      auto [it, fresh] = index.try_emplace(r.address.domain(), todo.size());
      if (fresh) todo.emplace_back(std::string(r.address.domain()), std::string(r.registrable_domain()));
      slot_[i] = it->second;
    }
    answers_.assign(todo.size(), nullptr);
    std::size_t next = 0, done = 0;
    // Starts lookups until `concurrency_` are in flight; each completion starts the next.
    std::function<void()> launch = [&] {
      while (next < todo.size() && next - done < concurrency_) {
        const std::size_t k = next++;
        mail_->lookup(todo[k].first, todo[k].second, [&, k](dns::DomainDnsPtr p) {
          answers_[k] = std::move(p);
          ++done;
          launch();
        });
      }
    };
    launch();
    // Every lookup ends (c-ares bounds each query by its timeout and tries), so this loop does.
    io_.restart();
    while (done < todo.size()) {
      // run_one() returning 0 with lookups unfinished would be a resolver bug; fail loudly rather
      // than spin.
      if (io_.run_one() == 0) throw std::logic_error("dns: lookups pending with no work left");
    }
    for (std::size_t i = 0; i < batch_.size(); ++i) {
      if (slot_[i] != kNoSlot) apply_dns(results_[i], answers_[slot_[i]]);
      emit(results_[i]);
    }
    batch_.clear();
  }

  static constexpr std::size_t kNoSlot = ~std::size_t{0};
  domain::Knowledge knowledge_;
  Classifier classifier_;
  render::Format format_;
  Output out_;
  bool strict_;
  bool dns_level_;
  bool dns_stats_;
  std::size_t concurrency_;
  Result result_;
  std::size_t count_ = 0;
  bool all_valid_ = true;
  // --level dns
  boost::asio::io_context io_{1};
  std::unique_ptr<dns::Resolver> resolver_;
  std::unique_ptr<dns::MailLookup> mail_;
  std::vector<std::string> batch_;
  std::vector<Result> results_;
  std::vector<std::size_t> slot_;
  std::vector<dns::DomainDnsPtr> answers_;
};

int verify(const VerifyOptions& o) {
  static const std::map<std::string, render::Format> kFormats = {
      {"jsonl", render::Format::jsonl}, {"json", render::Format::json},
      {"csv", render::Format::csv},     {"table", render::Format::table}};
  render::Format format = ::isatty(1) ? render::Format::table : render::Format::jsonl;
  if (!o.format.empty()) format = kFormats.at(o.format);

  Run run(o, format);
  run.begin();
  const bool from_stdin = o.addresses.empty() || (o.addresses.size() == 1 && o.addresses[0] == "-");
  if (from_stdin) {
    LineReader reader(0, kMaxLine);
    LineReader::Line line;
    while (reader.next(line)) run.one(line.text);
  } else {
    for (const std::string& a : o.addresses) run.one(a);
  }
  return run.end();
}

}  // namespace

int run(int argc, char** argv) {
  CLI::App app{"mailsift: tells whether mail to an address would be delivered, without sending any"};
  app.set_version_flag("--version", std::string("mailsift ") + kVersion);
  app.require_subcommand(1);

  VerifyOptions o;
  CLI::App* v = app.add_subcommand("verify", "Verify addresses given as arguments, or one per line on standard input");
  v->add_option("addresses", o.addresses, "Addresses to verify; none or '-' reads standard input, one per line");
  v->add_option("--level", o.level,
                "How far to go: syntax (offline: syntax and domain knowledge) or dns (+ MX, null MX, SPF, DMARC)")
      ->check(CLI::IsMember({"syntax", "dns"}))
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
  v->add_flag("--dns-stats", o.dns_stats, "At --level dns, print DNS query counts to standard error at the end");
  v->add_flag("--allow-private-targets", o.allow_private_targets,
              "Accept mail servers at loopback, private, link-local and other non-public addresses (labs, intranets)");
  v->add_option("--domain-blocklist", o.blocklists, "Domain block list (RHSBL) zone to query at --level dns (repeatable)")
      ->allow_extra_args(false);
  v->add_option("--format", o.format, "Output format: jsonl, json, csv or table (default: table on a terminal, else jsonl)")
      ->check(CLI::IsMember({"jsonl", "json", "csv", "table"}));
  v->add_option("--disposable-file", o.lists.disposable_files, "Extra disposable domains, one per line (repeatable)")
      ->allow_extra_args(false);
  v->add_option("--disposable-domain", o.lists.disposable_domains, "An extra disposable domain (repeatable)")
      ->allow_extra_args(false);
  v->add_option("--allow-file", o.lists.allow_files, "Domains never treated as disposable, one per line (repeatable)")
      ->allow_extra_args(false);
  v->add_option("--allow-domain", o.lists.allow_domains, "A domain never treated as disposable (repeatable)")
      ->allow_extra_args(false);
  v->add_option("--free-file", o.lists.free_files, "Extra free-provider domains, one per line (repeatable)")
      ->allow_extra_args(false);
  v->add_option("--role-file", o.lists.role_files, "Extra role-account local parts, one per line (repeatable)")
      ->allow_extra_args(false);
  v->add_flag("--extended-disposable", o.lists.extended_disposable,
              "Also use the large community disposable lists (more coverage, more false positives)");
  v->add_flag("--strict", o.strict, "Exit with status 1 unless every result is valid (for scripts checking one address)");
  v->add_flag_callback("--no-builtin-lists", [&o] { o.lists.builtin = false; },
                       "Use only the list files and domains given on the command line");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int rc = app.exit(e);
    return rc == 0 ? kOk : kUsage;
  }
  try {
    return verify(o);
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
