#include "cli/verify.hpp"

#include <sys/resource.h>
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
#include <boost/asio/ip/address.hpp>
#include <boost/asio/post.hpp>
#include <deque>
#include <memory>
#include <unordered_map>

#include "common/line_reader.hpp"
#include "dns/mail.hpp"
#include "dns/resolver.hpp"
#include "dns/target.hpp"
#include "smtp/prober.hpp"
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
// At --level smtp a batch also waits for its slowest probe (a tarpit holds it up to the session
// bound), so batches are smaller: output keeps flowing.
constexpr std::size_t kSmtpBatch = std::size_t{16} * 1024;

std::chrono::milliseconds seconds_to_ms(double s) {
  return std::chrono::milliseconds(static_cast<std::int64_t>(s * 1000.0 + 0.5));
}

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
  std::string level = "smtp";
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
  // --level smtp
  std::string helo;
  std::string mail_from;
  std::vector<std::string> source_ips;
  std::string proxy;
  std::uint16_t smtp_port = 25;
  double connect_timeout = 10, banner_timeout = 30, command_timeout = 30, session_timeout = 90;
  double greylist_retry = 60, max_wait = 300;
  int greylist_tries = 3;
  std::size_t smtp_concurrency = 256;
  std::size_t host_concurrency = 5;
  double host_rate = 10;
  double host_backoff = 60;
  std::size_t rcpts_per_session = 50;
  bool no_starttls = false;
  bool no_catch_all = false;
  bool transcript = false;
  bool smtp_stats = false;
};

// Each SMTP session holds a socket: 2,000 in flight need more than the usual soft limit of 1,024
// descriptors. Raise the soft limit to the hard one (what servers like nginx and Postfix do); if the
// hard limit is still too low, sessions past it fail as connect_failed and say why.
void raise_open_files_limit(std::size_t sessions) {
  rlimit rl{};
  if (::getrlimit(RLIMIT_NOFILE, &rl) != 0) return;
  const rlim_t want = static_cast<rlim_t>(sessions) * 2 + 256;
  if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < want && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max == RLIM_INFINITY ? want : std::min(rl.rlim_max, want);
    (void)::setrlimit(RLIMIT_NOFILE, &rl);
  }
}

smtp::ProbeOptions probe_options(const VerifyOptions& o) {
  smtp::ProbeOptions p;
  p.helo = o.helo.empty() ? smtp::default_helo() : o.helo;
  p.mail_from = o.mail_from.empty() ? smtp::default_mail_from(p.helo) : o.mail_from;
  p.source_ips = o.source_ips;
  if (!o.proxy.empty()) {
    std::string error;
    p.proxy = smtp::parse_proxy(o.proxy, &error);
    if (!p.proxy) throw std::invalid_argument("--proxy: " + error);
  }
  for (const std::string& ip : o.source_ips) {
    boost::system::error_code ec;
    (void)boost::asio::ip::make_address(ip, ec);
    if (ec) throw std::invalid_argument("--source-ip: not an IP address: " + ip);
  }
  if (!o.mail_from.empty()) {
    address::Address a;
    if (address::parse(o.mail_from, a) != Reason::well_formed)
      throw std::invalid_argument("--mail-from: not a valid address: " + o.mail_from);
  }
  p.port = o.smtp_port;
  p.timeouts.connect = seconds_to_ms(o.connect_timeout);
  p.timeouts.banner = seconds_to_ms(o.banner_timeout);
  p.timeouts.command = seconds_to_ms(o.command_timeout);
  p.timeouts.session = seconds_to_ms(o.session_timeout);
  p.starttls = !o.no_starttls;
  p.catch_all = !o.no_catch_all;
  p.max_rcpts = o.rcpts_per_session;
  p.keep_transcript = o.transcript;
  return p;
}

class Run {
 public:
  Run(const VerifyOptions& o, render::Format f)
      : knowledge_(o.lists), classifier_(knowledge_), format_(f), out_(1), strict_(o.strict),
        dns_level_(o.level == "dns" || o.level == "smtp"), smtp_level_(o.level == "smtp"), dns_stats_(o.dns_stats),
        smtp_stats_(o.smtp_stats), concurrency_(std::max<std::size_t>(1, o.dns_concurrency)),
        batch_size_(smtp_level_ ? kSmtpBatch : kDnsBatch) {
    if (!dns_level_) return;
    dns::ResolverOptions ro;
    ro.servers = o.dns_servers;
    ro.timeout = std::chrono::milliseconds(o.dns_timeout_ms);
    resolver_ = std::make_unique<dns::Resolver>(io_, std::move(ro));
    dns::MailOptions mo;
    mo.allow_private_targets = o.allow_private_targets;
    mo.blocklist_zones = o.blocklists;
    mail_ = std::make_unique<dns::MailLookup>(*resolver_, std::move(mo));
    if (!smtp_level_) return;
    smtp::PolitenessOptions po;
    po.host_concurrency = o.host_concurrency;
    po.host_rate = o.host_rate;
    po.backoff = seconds_to_ms(o.host_backoff);
    smtp::RetryOptions retry;
    retry.greylist_retry = seconds_to_ms(o.greylist_retry);
    retry.greylist_tries = o.greylist_tries;
    retry.max_wait = seconds_to_ms(o.max_wait);
    raise_open_files_limit(o.smtp_concurrency);
    prober_ = std::make_unique<smtp::Prober>(io_, probe_options(o), po, retry, o.smtp_concurrency);
  }

  void begin() {
    if (format_ == render::Format::csv) render::append_csv_header(out_.buf());
    if (format_ == render::Format::table) render::append_table_header(out_.buf());
    if (format_ == render::Format::json) out_.buf() += "[";
  }

  void one(std::string_view input) {
    if (dns_level_) {
      batch_.emplace_back(text::trim_blanks(input));
      if (batch_.size() >= batch_size_) run_batch();
      return;
    }
    classifier_.classify(text::trim_blanks(input), result_);
    emit(result_);
  }

  int end() {
    if (dns_level_) run_batch();
    if (format_ == render::Format::json) out_.buf() += count_ == 0 ? "]\n" : "\n]\n";
    out_.flush();
    if (dns_stats_ && resolver_) {
      const dns::ResolverStats& st = resolver_->stats();
      std::fprintf(stderr, "mailsift: dns: %llu queries sent, %llu cache hits, %llu coalesced, %llu queued\n",
                   static_cast<unsigned long long>(st.queries_sent), static_cast<unsigned long long>(st.cache_hits),
                   static_cast<unsigned long long>(st.coalesced), static_cast<unsigned long long>(st.queued));
    }
    if (smtp_stats_ && prober_) {
      const smtp::ProberStats& st = prober_->stats();
      std::fprintf(stderr,
                   "mailsift: smtp: %llu sessions, %llu RCPT replies, %llu catch-all tests (%llu domains from cache), "
                   "%llu greylist retries, at most %zu connections to one server\n",
                   static_cast<unsigned long long>(st.sessions), static_cast<unsigned long long>(st.rcpts),
                   static_cast<unsigned long long>(st.catch_all_tests),
                   static_cast<unsigned long long>(st.catch_all_cached),
                   static_cast<unsigned long long>(st.greylist_retries), prober_->context().gate().peak());
    }
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

  // --level dns/smtp: classify the batch offline, look up each distinct domain that is still
  // possible once (bounded concurrency, one io_context); at --level smtp a domain's probe starts as
  // soon as its lookup ends, with one RCPT per distinct address. Results are written in input order.
  void run_batch() {
    if (batch_.empty()) return;
    results_.resize(batch_.size());
    std::unordered_map<std::string_view, std::size_t> index;  // domain → slot in domains_
    domains_.clear();
    slot_.assign(batch_.size(), kNoSlot);
    probes_.assign(batch_.size(), std::nullopt);
    for (std::size_t i = 0; i < batch_.size(); ++i) {
      Result& r = results_[i];
      classifier_.classify(batch_[i], r);
      if (!r.parsed || r.status == Status::invalid) continue;
      auto [it, fresh] = index.try_emplace(r.address.domain(), domains_.size());
      if (fresh) {
        domains_.push_back(Domain{std::string(r.address.domain()), std::string(r.registrable_domain()),
                                  r.flags.address_literal, nullptr, {}});
      }
      domains_[it->second].rows.push_back(i);
      slot_[i] = it->second;
    }
    std::size_t next = 0, done = 0, probing = 0;
    // Starts lookups until `concurrency_` are in flight; each completion starts the next.
    std::function<void()> launch = [&] {
      while (next < domains_.size() && next - done < concurrency_) {
        const std::size_t k = next++;
        auto finished = [&, k](dns::DomainDnsPtr p) {
          domains_[k].dns = std::move(p);
          ++done;
          if (smtp_level_ && probe(k)) ++probing;
          launch();
        };
        if (domains_[k].literal) {
          // No query: post, so completions never run inside launch() itself.
          boost::asio::post(io_, [this, finished, k] { finished(mail_->literal(domains_[k].name)); });
        } else {
          mail_->lookup(domains_[k].name, domains_[k].registrable, finished);
        }
      }
    };
    on_probed_ = [&] { --probing; };
    launch();
    // Every lookup and probe ends (c-ares bounds each query by its timeout and tries, the probe
    // each session by its time limit and the retries by --max-wait), so this loop does.
    io_.restart();
    while (done < domains_.size() || probing > 0) {
      // run_one() returning 0 with work unfinished would be a bug; fail loudly rather than spin.
      if (io_.run_one() == 0) throw std::logic_error("verify: lookups or probes pending with no work left");
    }
    for (std::size_t i = 0; i < batch_.size(); ++i) {
      if (slot_[i] != kNoSlot) apply_dns(results_[i], domains_[slot_[i]].dns);
      if (probes_[i]) apply_smtp(results_[i], std::move(*probes_[i]));
      emit(results_[i]);
    }
    batch_.clear();
  }

  // Starts the SMTP probe of domain k when its DNS verdict leaves a server to ask. One RCPT per
  // distinct address: duplicates in the batch share the answer.
  bool probe(std::size_t k) {
    Domain& d = domains_[k];
    if (!d.dns || !d.dns->has_target()) return false;
    const Status ds = info(d.dns->reason).status;
    if (ds == Status::invalid || ds == Status::unknown) return false;
    auto rows = std::make_shared<std::vector<std::size_t>>();  // row → mailbox index, by position
    std::vector<std::string> mailboxes;
    std::unordered_map<std::string_view, std::size_t> seen;
    for (const std::size_t i : d.rows) {
      const std::string_view m = results_[i].address.normalized();
      auto [it, fresh] = seen.try_emplace(m, mailboxes.size());
      if (fresh) mailboxes.emplace_back(m);
      rows->push_back(it->second);
    }
    prober_->probe(d.name, d.dns, std::move(mailboxes), [this, k, rows](std::vector<smtp::AddressProbe> res) {
      const std::vector<std::size_t>& r = domains_[k].rows;
      for (std::size_t j = 0; j < r.size(); ++j) probes_[r[j]] = res[(*rows)[j]];
      on_probed_();
    });
    return true;
  }

  static constexpr std::size_t kNoSlot = ~std::size_t{0};
  domain::Knowledge knowledge_;
  Classifier classifier_;
  render::Format format_;
  Output out_;
  bool strict_;
  bool dns_level_;
  bool smtp_level_;
  bool dns_stats_;
  bool smtp_stats_;
  std::size_t concurrency_;
  std::size_t batch_size_;
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
  struct Domain {
    std::string name;
    std::string registrable;
    bool literal = false;
    dns::DomainDnsPtr dns;
    std::vector<std::size_t> rows;  // the batch rows at this domain
  };
  std::vector<Domain> domains_;
  // --level smtp
  std::unique_ptr<smtp::Prober> prober_;
  std::vector<std::optional<smtp::AddressProbe>> probes_;
  std::function<void()> on_probed_;
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
                "How far to go: syntax (offline: syntax and domain knowledge), dns (+ MX, null MX, SPF, DMARC) or "
                "smtp (+ ask the mail server about the mailbox, without sending mail)")
      ->check(CLI::IsMember({"syntax", "dns", "smtp"}))
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
  v->add_option("--helo", o.helo, "Name to give in EHLO/HELO (default: this machine's host name)");
  v->add_option("--mail-from", o.mail_from, "Envelope sender for MAIL FROM (default: verify@<helo name>)");
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
  v->add_option("--greylist-retry", o.greylist_retry, "Seconds to wait before asking again after greylisting")
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
  v->add_flag("--no-catch-all", o.no_catch_all, "Do not test a random address for catch-all domains");
  v->add_flag("--transcript", o.transcript, "Include the whole SMTP dialogue in the output (smtp.transcript; table: under each row)");
  v->add_flag("--smtp-stats", o.smtp_stats, "At --level smtp, print session and RCPT counts to standard error at the end");
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
