#include "engine/engine.hpp"

#include <sys/resource.h>

#include <algorithm>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/post.hpp>
#include <cstdio>
#include <future>
#include <stdexcept>
#include <thread>
#include <unordered_map>

#include "address/address.hpp"

namespace mailsift::engine {
namespace {

// Offline, a batch only amortizes the call: small, so the first results appear at once.
constexpr std::size_t kSyntaxBatch = 4096;
// At --level dns the input is processed in batches of this many lines: results are written in
// input order once their domain's lookup is done, so a batch is what must be held in memory
// (about 0.5 KiB a line). Large enough that most distinct domains are looked up once per run.
constexpr std::size_t kDnsBatch = std::size_t{64} * 1024;
// At --level smtp a batch also waits for its slowest probe (a tarpit holds it up to the session
// bound), so batches are smaller: output keeps flowing.
constexpr std::size_t kSmtpBatch = std::size_t{16} * 1024;
// The rows of all batches in flight (network levels): while the oldest batch waits for its slowest
// lookup or probe (at --level smtp a greylisting retry waits the delay the server states, else
// --greylist-retry, up to --max-wait),
// the later ones go on. This bounds memory (about 2.5 KiB a row with its Result and probe: 244 MiB
// peak RSS for 100,000 rows in flight, scripts/bench-full.sh) and the output's reordering; a list whose every batch
// holds a greylisted address is verified at about this many rows per greylisting wait at worst.
constexpr std::size_t kNetworkWindow = std::size_t{128} * 1024;
constexpr std::size_t kNoSlot = ~std::size_t{0};

}  // namespace

std::chrono::milliseconds seconds_to_ms(double s) {
  return std::chrono::milliseconds(static_cast<std::int64_t>(s * 1000.0 + 0.5));
}

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

dns::ResolverOptions resolver_options(const VerifyOptions& o) {
  dns::ResolverOptions ro;
  ro.servers = o.dns_servers;
  ro.timeout = std::chrono::milliseconds(o.dns_timeout_ms);
  return ro;
}

dns::MailOptions mail_options(const VerifyOptions& o) {
  dns::MailOptions mo;
  mo.allow_private_targets = o.allow_private_targets;
  mo.blocklist_zones = o.blocklists;
  return mo;
}

smtp::PolitenessOptions politeness_options(const VerifyOptions& o) {
  smtp::PolitenessOptions po;
  po.host_concurrency = o.host_concurrency;
  po.host_rate = o.host_rate;
  po.backoff = seconds_to_ms(o.host_backoff);
  return po;
}

smtp::RetryOptions retry_options(const VerifyOptions& o) {
  smtp::RetryOptions retry;
  retry.greylist_retry = seconds_to_ms(o.greylist_retry);
  retry.greylist_tries = o.greylist_tries;
  retry.max_wait = seconds_to_ms(o.max_wait);
  return retry;
}

smtp::ProbeOptions probe_options(const VerifyOptions& o) {
  smtp::ProbeOptions p;
  p.helo = o.helo.empty() ? smtp::default_helo() : o.helo;
  // No --mail-from, or "<>": the null reverse-path (docs/smtp.md, "Who we say we are").
  p.mail_from = smtp::default_mail_from();
  if (!o.mail_from.empty() && o.mail_from != "<>") {
    address::Address a;
    if (address::parse(o.mail_from, a) != Reason::well_formed)
      throw std::invalid_argument("--mail-from: not a valid address: " + o.mail_from);
    p.mail_from = std::string(a.normalized());  // the RFC 5321 Mailbox form, as recipients are sent
  }
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
  p.port = o.smtp_port;
  p.timeouts.connect = seconds_to_ms(o.connect_timeout);
  p.timeouts.banner = seconds_to_ms(o.banner_timeout);
  p.timeouts.command = seconds_to_ms(o.command_timeout);
  p.timeouts.session = seconds_to_ms(o.session_timeout);
  p.starttls = !o.no_starttls;
  p.tls_session_cache = o.tls_session_cache;
  p.catch_all = !o.no_catch_all;
  p.max_rcpts = o.rcpts_per_session;
  p.keep_transcript = o.transcript;
  return p;
}

void check_sender_domain(dns::MailLookup& mail, const std::string& mail_from,
                         std::function<void(std::optional<std::string>)> done) {
  const std::size_t at = mail_from.rfind('@');
  // The null reverse-path has no domain; an address literal has nothing to look up.
  if (mail_from.empty() || at == std::string::npos || mail_from[at + 1] == '[') return done(std::nullopt);
  const std::string domain = mail_from.substr(at + 1);
  mail.lookup(domain, "", [mail_from, domain, done = std::move(done)](const dns::DomainDnsPtr& d) {
    switch (d->reason) {
      case Reason::no_domain:
      case Reason::null_mx:
      case Reason::no_mail_server:
        return done("warning: --mail-from " + mail_from + ": " + domain + " has no MX or address record (" +
                    std::string(code(d->reason)) +
                    "); servers that check the sender domain refuse every RCPT, and such a refusal reads "
                    "like a verdict about the mailbox. Without --mail-from the null reverse-path <> is sent "
                    "(docs/smtp.md, \"Who we say we are\").");
      case Reason::dns_error:
        return done("warning: --mail-from " + mail_from + ": the lookup of " + domain +
                    " failed (DNS error); servers that check the sender domain may refuse it.");
      default:
        return done(std::nullopt);  // it resolves (to private or parked addresses too: a remote check only asks DNS)
    }
  });
}

std::size_t share_of(std::size_t total, std::size_t n, std::size_t i) {
  return std::max<std::size_t>(1, total / n + (i < total % n ? 1 : 0));
}

Engine::Engine(const VerifyOptions& o)
    : knowledge_(o.lists),
      classifier_(knowledge_),
      dns_level_(o.level == "dns" || o.level == "smtp"),
      smtp_level_(o.level == "smtp"),
      batch_size_(smtp_level_  ? kSmtpBatch
                  : dns_level_ ? kDnsBatch
                               : kSyntaxBatch),
      window_rows_(dns_level_ ? std::max(kNetworkWindow, batch_size_) : batch_size_) {
  if (!dns_level_) return;
  // More loops than domains in a batch would idle; more than the DNS budget could not each have
  // a lookup in flight.
  const std::size_t dns_budget = std::max<std::size_t>(1, o.dns_concurrency);
  const std::size_t n = std::min({resolve_threads(o.threads), dns_budget, std::size_t{256}});
  smtp::ProbeOptions probe;
  smtp::PolitenessOptions polite;
  if (smtp_level_) {
    raise_open_files_limit(o.smtp_concurrency);
    probe = probe_options(o);
    polite = politeness_options(o);
    gate_ = std::make_shared<smtp::LocalGate>(polite);
  }
  for (std::size_t i = 0; i < n; ++i) {
    auto sh = std::make_unique<Shard>();
    sh->concurrency = share_of(dns_budget, n, i);
    dns::ResolverOptions ro = resolver_options(o);
    sh->resolver = std::make_unique<dns::Resolver>(sh->io, ro);
    sh->mail = std::make_unique<dns::MailLookup>(*sh->resolver, mail_options(o));
    shards_.push_back(std::move(sh));
  }
  if (smtp_level_) {
    // The identity is checked once, before any probe (nothing else is queued yet).
    Shard& first = *shards_.front();
    bool checked = false;
    check_sender_domain(*first.mail, probe.mail_from, [&checked](std::optional<std::string> warning) {
      if (warning) std::fprintf(stderr, "mailsift: %s\n", warning->c_str());
      checked = true;
    });
    while (!checked && first.io.run_one() != 0) {
    }
    first.io.restart();
    // --smtp-concurrency is the cap in all: each loop holds its share of the sessions. One TLS
    // client for all: one context, one session cache (an MX host's ticket serves every loop).
    const auto tls = std::make_shared<smtp::TlsClient>(smtp::TlsClientOptions{probe.tls_session_cache});
    for (std::size_t i = 0; i < n; ++i)
      shards_[i]->prober = std::make_unique<smtp::Prober>(shards_[i]->io, probe, polite, retry_options(o),
                                                          share_of(o.smtp_concurrency, n, i), gate_, tls);
  }
  threaded_ = n > 1;
  if (!threaded_) return;
  for (const auto& sh : shards_) {
    sh->guard.emplace(sh->io.get_executor());
    sh->thread = std::thread([this, s = sh.get()] {
      try {
        s->io.run();
      } catch (...) {
        // A bug in a handler: the caller's thread rethrows it from deliver(), as a lone loop's
        // io_context::run would have thrown it there.
        const std::lock_guard lock(done_mu_);
        if (!failure_) failure_ = std::current_exception();
        done_cv_.notify_all();
      }
    });
  }
}

Engine::~Engine() {
  stop_shards();
}

void Engine::stop_shards() noexcept {
  for (const auto& sh : shards_) {
    sh->guard.reset();
    sh->io.stop();
  }
  for (const auto& sh : shards_)
    if (sh->thread.joinable()) sh->thread.join();
  // Waiters parked in the shared gate hold timers of the loops: let go of them while the loops
  // still exist. Then the stages, then the loops (and the handlers they still hold).
  if (gate_) gate_->abandon_waiters();
  shards_.clear();
}

Engine::Shard& Engine::shard_of(std::string_view domain) {
  return *shards_[shards_.size() == 1 ? 0 : std::hash<std::string_view>{}(domain) % shards_.size()];
}

void Engine::run_on(Shard& sh, const std::function<void()>& f) {
  if (!threaded_) return f();
  std::promise<void> done;
  boost::asio::post(sh.io, [&f, &done] {
    f();
    done.set_value();
  });
  done.get_future().wait();
}

void Engine::remember_catch_all(const std::string& domain, bool catch_all) {
  if (!smtp_level_) return;
  Shard& sh = shard_of(domain);
  if (!threaded_) return sh.prober->remember_catch_all(domain, catch_all);
  // Queued on the domain's loop ahead of the batch that holds the domain (posted later): it is
  // known before the domain's first probe.
  boost::asio::post(sh.io, [p = sh.prober.get(), domain, catch_all] { p->remember_catch_all(domain, catch_all); });
}

std::unordered_map<std::string, bool> Engine::catch_all_answers() {
  std::unordered_map<std::string, bool> all;
  if (!smtp_level_) return all;
  for (const auto& sh : shards_)
    run_on(*sh, [&all, p = sh->prober.get()] {
      for (const auto& [domain, ca] : p->catch_all_answers()) all[domain] = ca;
    });
  return all;
}

std::size_t Engine::add(std::string_view input) {
  open_.emplace_back(input);
  return open_.size() - 1;
}

void Engine::submit() {
  auto b = std::make_unique<Batch>();
  b->inputs = std::move(open_);
  open_.clear();
  in_flight_rows_ += b->inputs.size();
  flight_.push_back(std::move(b));
  if (dns_level_) start(*flight_.back());
}

void Engine::run(const Sink& sink) {
  submit();
  while (deliver(sink, true)) {
  }
}

bool Engine::deliver(const Sink& sink, bool wait) {
  if (flight_.empty()) return false;
  Batch& b = *flight_.front();
  if (dns_level_ && !b.done()) {
    if (!wait) {
      if (!threaded_) {
        boost::asio::io_context& io = shards_.front()->io;
        if (io.stopped()) io.restart();
        io.poll();
      }
      if (!b.done()) return false;
    } else {
      wait_for(b);
    }
  }
  if (!dns_level_) {
    for (std::size_t i = 0; i < b.inputs.size(); ++i) {
      classifier_.classify(b.inputs[i], scratch_);
      sink(i, scratch_);
    }
  } else {
    for (std::size_t i = 0; i < b.inputs.size(); ++i) {
      Result& r = b.results[i];
      if (b.slot[i] != kNoSlot) apply_dns(r, b.domains[b.slot[i]].dns);
      if (b.probes[i]) apply_smtp(r, std::move(*b.probes[i]));
      sink(i, r);
    }
  }
  in_flight_rows_ -= b.inputs.size();
  flight_.pop_front();
  return true;
}

std::string Engine::dns_stats() {
  if (shards_.empty()) return {};
  dns::ResolverStats st;
  for (const auto& sh : shards_)
    run_on(*sh, [&st, r = sh->resolver.get()] {
      const dns::ResolverStats s = r->stats();
      st.queries_sent += s.queries_sent;
      st.cache_hits += s.cache_hits;
      st.coalesced += s.coalesced;
      st.queued += s.queued;
      st.udp_send_calls += s.udp_send_calls;
      st.udp_receive_calls += s.udp_receive_calls;
      st.udp_send_dropped += s.udp_send_dropped;
    });
  char line[320];
  std::snprintf(line, sizeof line,
                "mailsift: dns: %llu queries sent, %llu cache hits, %llu coalesced, %llu queued, "
                "%llu sendmmsg calls, %llu recvmmsg calls, %llu datagrams dropped at send\n",
                static_cast<unsigned long long>(st.queries_sent), static_cast<unsigned long long>(st.cache_hits),
                static_cast<unsigned long long>(st.coalesced), static_cast<unsigned long long>(st.queued),
                static_cast<unsigned long long>(st.udp_send_calls),
                static_cast<unsigned long long>(st.udp_receive_calls),
                static_cast<unsigned long long>(st.udp_send_dropped));
  return line;
}

std::string Engine::smtp_stats() {
  if (!smtp_level_ || shards_.empty()) return {};
  smtp::ProberStats st;
  for (const auto& sh : shards_)
    run_on(*sh, [&st, p = sh->prober.get()] {
      const smtp::ProberStats& s = p->stats();
      st.sessions += s.sessions;
      st.rcpts += s.rcpts;
      st.catch_all_tests += s.catch_all_tests;
      st.catch_all_cached += s.catch_all_cached;
      st.greylist_retries += s.greylist_retries;
    });
  char line[512];
  std::snprintf(line, sizeof line,
                "mailsift: smtp: %llu sessions, %llu RCPT replies, %llu catch-all tests (%llu domains from cache), "
                "%llu greylist retries, at most %zu connections to one server\n",
                static_cast<unsigned long long>(st.sessions), static_cast<unsigned long long>(st.rcpts),
                static_cast<unsigned long long>(st.catch_all_tests),
                static_cast<unsigned long long>(st.catch_all_cached),
                static_cast<unsigned long long>(st.greylist_retries), gate_->peak());
  return line;
}

// Classifies the batch's inputs, gathers its distinct domains and hands each to its shard.
void Engine::start(Batch& b) {
  const std::size_t n = b.inputs.size();
  b.results.resize(n);
  b.slot.assign(n, kNoSlot);
  b.probes.assign(n, std::nullopt);
  std::unordered_map<std::string_view, std::size_t> index;  // domain → slot in b.domains
  for (std::size_t i = 0; i < n; ++i) {
    Result& r = b.results[i];
    classifier_.classify(b.inputs[i], r);
    if (!r.parsed || r.status == Status::invalid) continue;
    auto [it, fresh] = index.try_emplace(r.address.domain(), b.domains.size());
    if (fresh) {
      b.domains.push_back(Domain{
          std::string(r.address.domain()), std::string(r.registrable_domain()), r.flags.address_literal, nullptr, {}});
    }
    b.domains[it->second].rows.push_back(i);
    b.slot[i] = it->second;
  }
  b.open.store(b.domains.size(), std::memory_order_release);
  if (!threaded_) {
    Shard& sh = *shards_.front();
    for (std::size_t k = 0; k < b.domains.size(); ++k) sh.todo.emplace_back(&b, k);
    launch(sh);
    return;
  }
  std::vector<std::vector<std::size_t>> part(shards_.size());
  for (std::size_t k = 0; k < b.domains.size(); ++k)
    part[std::hash<std::string_view>{}(b.domains[k].name) % shards_.size()].push_back(k);
  for (std::size_t s = 0; s < shards_.size(); ++s) {
    if (part[s].empty()) continue;
    Shard* sh = shards_[s].get();
    // Everything the shard reads of the batch was written above: the post orders it.
    boost::asio::post(sh->io, [this, sh, bp = &b, ks = std::move(part[s])] {
      for (const std::size_t k : ks) sh->todo.emplace_back(bp, k);
      launch(*sh);
    });
  }
}

// Starts lookups on one shard, oldest batch first, until its share of --dns-concurrency is in
// flight; each completion starts its domain's probe and the next lookups. Runs on the shard's loop.
void Engine::launch(Shard& sh) {
  while (!sh.todo.empty() && sh.lookups < sh.concurrency) {
    const auto [bp, k] = sh.todo.front();
    sh.todo.pop_front();
    ++sh.lookups;
    Batch* b = bp;
    const std::size_t d = k;
    auto finished = [this, &sh, b, d](dns::DomainDnsPtr p) {
      b->domains[d].dns = std::move(p);
      --sh.lookups;
      if (!(smtp_level_ && probe(sh, *b, d))) domain_done(*b);
      launch(sh);
    };
    if (b->domains[d].literal) {
      // No query: post, so completions never run inside launch() itself.
      boost::asio::post(sh.io, [&sh, finished, b, d] { finished(sh.mail->literal(b->domains[d].name)); });
    } else {
      sh.mail->lookup(b->domains[d].name, b->domains[d].registrable, finished);
    }
  }
}

// A domain of `b` has its lookup and probe done; the batch's last one wakes the caller's thread.
void Engine::domain_done(Batch& b) {
  if (b.open.fetch_sub(1, std::memory_order_acq_rel) != 1 || !threaded_) return;
  const std::lock_guard lock(done_mu_);
  done_cv_.notify_all();
}

// Waits until `b` is done: with one shard by running its loop here, else by sleeping until a shard
// says a batch finished. Every lookup and probe ends (c-ares bounds each query by its timeout and
// tries, the probe each session by its time limit and the retries by --max-wait), so this does.
void Engine::wait_for(const Batch& b) {
  if (threaded_) {
    std::unique_lock lock(done_mu_);
    while (!b.done()) {
      if (failure_) std::rethrow_exception(failure_);
      if (interrupt_ != nullptr) {
        if (!stop_at_ && interrupt_->load()) stop_at_ = std::chrono::steady_clock::now() + grace_;
        if (stop_at_ && std::chrono::steady_clock::now() >= *stop_at_) throw Interrupted{};
      }
      done_cv_.wait_for(lock, std::chrono::milliseconds(200));
    }
    return;
  }
  boost::asio::io_context& io = shards_.front()->io;
  if (io.stopped()) io.restart();
  while (!b.done()) {
    if (interrupt_ != nullptr) {
      // Wake up often enough to notice Ctrl-C; once it came, in-flight work gets the grace time.
      if (!stop_at_ && interrupt_->load()) stop_at_ = std::chrono::steady_clock::now() + grace_;
      if (stop_at_ && std::chrono::steady_clock::now() >= *stop_at_) throw Interrupted{};
      if (io.run_one_for(std::chrono::milliseconds(200)) == 0 && io.stopped())
        throw std::logic_error("verify: lookups or probes pending with no work left");
      continue;
    }
    // run_one() returning 0 with work unfinished would be a bug; fail loudly rather than spin.
    if (io.run_one() == 0) throw std::logic_error("verify: lookups or probes pending with no work left");
  }
}

// Starts the SMTP probe of domain k of batch b when its DNS verdict leaves a server to ask. One
// RCPT per distinct address: duplicates in the batch share the answer. Runs on the shard's loop.
bool Engine::probe(Shard& sh, Batch& b, std::size_t k) {
  Domain& d = b.domains[k];
  if (!d.dns || !d.dns->has_target()) return false;
  const Status ds = info(d.dns->reason).status;
  if (ds == Status::invalid || ds == Status::unknown) return false;
  auto rows = std::make_shared<std::vector<std::size_t>>();  // row → mailbox index, by position
  std::vector<std::string> mailboxes;
  std::unordered_map<std::string_view, std::size_t> seen;
  for (const std::size_t i : d.rows) {
    const std::string_view m = b.results[i].address.normalized();
    auto [it, fresh] = seen.try_emplace(m, mailboxes.size());
    if (fresh) mailboxes.emplace_back(m);
    rows->push_back(it->second);
  }
  sh.prober->probe(d.name, d.dns, std::move(mailboxes), [this, &b, k, rows](std::vector<smtp::AddressProbe> res) {
    const std::vector<std::size_t>& r = b.domains[k].rows;
    for (std::size_t j = 0; j < r.size(); ++j) b.probes[r[j]] = res[(*rows)[j]];
    domain_done(b);
  });
  return true;
}

}  // namespace mailsift::engine
