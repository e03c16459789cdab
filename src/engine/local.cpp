#include "engine/local.hpp"

#include <boost/asio/post.hpp>
#include <cstdio>
#include <future>
#include <stdexcept>
#include <unordered_map>

#include "engine/engine.hpp"
#include "verdict/classify.hpp"

namespace mailsift::engine {

LocalNetwork::LocalNetwork(const cli::VerifyOptions& o, Signal& signal, std::shared_ptr<smtp::PolitenessGate> gate,
                           bool background)
    : signal_(signal), smtp_level_(o.level == "smtp"), gate_(std::move(gate)) {
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
    if (!gate_) gate_ = std::make_shared<smtp::LocalGate>(polite);
  }
  for (std::size_t i = 0; i < n; ++i) {
    auto sh = std::make_unique<Shard>();
    sh->concurrency = share_of(dns_budget, n, i);
    sh->resolver = std::make_unique<dns::Resolver>(sh->io, resolver_options(o));
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
  threaded_ = n > 1 || background;
  if (!threaded_) return;
  for (const auto& sh : shards_) {
    sh->guard.emplace(sh->io.get_executor());
    sh->thread = std::thread([this, s = sh.get()] {
      try {
        s->io.run();
      } catch (...) {
        // A bug in a handler: the caller's thread rethrows it from its wait, as a lone loop's
        // io_context::run would have thrown it there.
        signal_.fail(std::current_exception());
      }
    });
  }
}

LocalNetwork::~LocalNetwork() { stop(); }

void LocalNetwork::stop() noexcept {
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

LocalNetwork::Shard& LocalNetwork::shard_of(std::string_view domain) {
  return *shards_[shards_.size() == 1 ? 0 : std::hash<std::string_view>{}(domain) % shards_.size()];
}

void LocalNetwork::run_on(Shard& sh, const std::function<void()>& f) {
  if (!threaded_) return f();
  std::promise<void> done;
  boost::asio::post(sh.io, [&f, &done] {
    f();
    done.set_value();
  });
  done.get_future().wait();
}

void LocalNetwork::remember_catch_all(const std::string& domain, bool catch_all) {
  if (!smtp_level_) return;
  Shard& sh = shard_of(domain);
  if (!threaded_) return sh.prober->remember_catch_all(domain, catch_all);
  // Queued on the domain's loop ahead of the batch that holds the domain (posted later): it is
  // known before the domain's first probe.
  boost::asio::post(sh.io, [p = sh.prober.get(), domain, catch_all] { p->remember_catch_all(domain, catch_all); });
}

std::unordered_map<std::string, bool> LocalNetwork::catch_all_answers() {
  std::unordered_map<std::string, bool> all;
  if (!smtp_level_) return all;
  for (const auto& sh : shards_)
    run_on(*sh, [&all, p = sh->prober.get()] {
      for (const auto& [domain, ca] : p->catch_all_answers()) all[domain] = ca;
    });
  return all;
}

void LocalNetwork::finish(Batch& b, std::size_t i, Result& r) {
  if (b.slot[i] != kNoSlot) apply_dns(r, b.domains[b.slot[i]].dns);
  if (b.probes[i]) apply_smtp(r, std::move(*b.probes[i]));
}

void LocalNetwork::poll() {
  if (threaded_) return;
  boost::asio::io_context& io = shards_.front()->io;
  if (io.stopped()) io.restart();
  io.poll();
}

std::string LocalNetwork::dns_stats() {
  dns::ResolverStats st;
  for (const auto& sh : shards_) run_on(*sh, [&st, r = sh->resolver.get()] { st += r->stats(); });
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

std::string LocalNetwork::smtp_stats() {
  if (!smtp_level_) return {};
  smtp::ProberStats st;
  for (const auto& sh : shards_) run_on(*sh, [&st, p = sh->prober.get()] { st += p->stats(); });
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

// Hands each of the batch's domains to its shard.
void LocalNetwork::start(Batch& b) {
  if (!threaded_ || shards_.size() == 1) {
    Shard& sh = *shards_.front();
    if (!threaded_) {
      for (std::size_t k = 0; k < b.domains.size(); ++k) sh.todo.emplace_back(&b, k);
      launch(sh);
      return;
    }
  }
  std::vector<std::vector<std::size_t>> part(shards_.size());
  for (std::size_t k = 0; k < b.domains.size(); ++k)
    part[shards_.size() == 1 ? 0 : std::hash<std::string_view>{}(b.domains[k].name) % shards_.size()].push_back(k);
  for (std::size_t s = 0; s < shards_.size(); ++s) {
    if (part[s].empty()) continue;
    Shard* sh = shards_[s].get();
    // Everything the shard reads of the batch was written before: the post orders it.
    boost::asio::post(sh->io, [this, sh, bp = &b, ks = std::move(part[s])] {
      for (const std::size_t k : ks) sh->todo.emplace_back(bp, k);
      launch(*sh);
    });
  }
}

// Starts lookups on one shard, oldest batch first, until its share of --dns-concurrency is in
// flight; each completion starts its domain's probe and the next lookups. Runs on the shard's loop.
void LocalNetwork::launch(Shard& sh) {
  while (!sh.todo.empty() && sh.lookups < sh.concurrency) {
    const auto [bp, k] = sh.todo.front();
    sh.todo.pop_front();
    ++sh.lookups;
    Batch* b = bp;
    const std::size_t d = k;
    auto finished = [this, &sh, b, d](dns::DomainDnsPtr p) {
      b->domains[d].dns = std::move(p);
      --sh.lookups;
      if (!(smtp_level_ && probe(sh, *b, d))) signal_.unit_done(*b);
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

// Waits until `b` is done: on the caller's thread by running the loop, else by sleeping until a
// shard says a batch finished. Every lookup and probe ends (c-ares bounds each query by its timeout
// and tries, the probe each session by its time limit and the retries by --max-wait), so this does.
void LocalNetwork::wait_for(const Batch& b, Interrupt& in) {
  if (threaded_) return signal_.wait(b, in);
  boost::asio::io_context& io = shards_.front()->io;
  if (io.stopped()) io.restart();
  while (!b.done()) {
    if (in.flag != nullptr) {
      // Wake up often enough to notice Ctrl-C; once it came, in-flight work gets the grace time.
      if (in.due()) throw Interrupted{};
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
bool LocalNetwork::probe(Shard& sh, Batch& b, std::size_t k) {
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
    signal_.unit_done(b);
  });
  return true;
}

}  // namespace mailsift::engine
