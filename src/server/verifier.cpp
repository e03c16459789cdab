#include "server/verifier.hpp"

#include <algorithm>
#include <boost/asio/post.hpp>
#include <cstdio>
#include <future>
#include <unordered_set>

#include "common/text.hpp"
#include "engine/engine.hpp"
#include "engine/rdap.hpp"
#include "server/auth.hpp"
#include "server/metrics.hpp"
#include "verdict/stored.hpp"

namespace mailsift::server {

namespace {

// The lane as the first letter of a key (checks running, domain queues): each lane has its own.
char lane_letter(Lane lane) {
  return lane == Lane::realtime ? 'r' : 'b';
}

}  // namespace

struct Verifier::Check {
  std::string key;  // of answers_
  std::string run;  // of running_: the lane's letter, then key
  Level level = Level::smtp;
  Lane lane = Lane::realtime;
  bool remember = false;
  bool from_cache = false;  // restored from --cache: not a new observation for --history
  // --rdap: the registration is being looked up; the check ends when it and the network work both have.
  bool rdap_wait = false;
  bool net_done = false;
  std::shared_ptr<const domain::Registration> registration;
  std::shared_ptr<Result> result = std::make_shared<Result>();
  std::vector<Done> waiters;
  std::chrono::steady_clock::time_point start = std::chrono::steady_clock::now();
};

Verifier::Verifier(boost::asio::io_context& io, const cli::VerifyOptions& o, VerifierOptions options, Metrics& metrics)
    : io_(io),
      opt_(std::move(options)),
      metrics_(metrics),
      lists_(o.lists),
      knowledge_(std::make_unique<domain::Knowledge>(o.lists)),
      classifier_(std::make_unique<Classifier>(*knowledge_)),
      answers_(AnswerCache::Limits{opt_.result_ttl, opt_.result_cache_entries, opt_.result_cache_bytes}) {
  const std::size_t n =
      std::min({engine::resolve_threads(o.threads), std::max<std::size_t>(1, o.smtp_concurrency), std::size_t{256}});
  engine::raise_open_files_limit(o.smtp_concurrency);
  const smtp::PolitenessOptions po = engine::politeness_options(o);
  // With --broker the per-MX caps, rates and back-off are the cluster's (kept on the broker).
  gate_ = engine::make_gate(o);
  const smtp::ProbeOptions probe = engine::probe_options(o);
  threaded_ = n > 1;
  // One TLS client for every loop: one context, one session cache per MX host.
  const auto tls = std::make_shared<smtp::TlsClient>(smtp::TlsClientOptions{probe.tls_session_cache});
  for (std::size_t i = 0; i < n; ++i) {
    auto net = std::make_unique<Net>();
    if (threaded_) {
      net->own = std::make_unique<boost::asio::io_context>(1);
      net->io = net->own.get();
    } else {
      net->io = &io_;
    }
    dns::ResolverOptions ro = engine::resolver_options(o);
    ro.realtime_reserve = realtime_reserve(ro.max_inflight, opt_.realtime_reserve);
    net->resolver = std::make_unique<dns::Resolver>(*net->io, std::move(ro));
    net->mail = std::make_unique<dns::MailLookup>(*net->resolver, engine::mail_options(o));
    // --smtp-concurrency is the cap in all: each loop holds its share, with its share of the reserve.
    const std::size_t sessions = engine::share_of(o.smtp_concurrency, n, i);
    smtp::PolitenessOptions mine = po;
    mine.realtime_sessions = realtime_reserve(sessions, opt_.realtime_reserve);
    net->prober = std::make_unique<smtp::Prober>(*net->io, probe, mine, engine::retry_options(o), sessions, gate_, tls);
    net->catch_all_since = std::chrono::steady_clock::now();
    nets_.push_back(std::move(net));
  }
  // The same start-up check of the identity as `verify` (docs/smtp.md, "Who we say we are"); the
  // warning comes once the server runs.
  engine::check_sender_domain(*nets_.front()->mail, probe.mail_from, [](std::optional<std::string> warning) {
    if (warning) std::fprintf(stderr, "mailsift: %s\n", warning->c_str());
  });
  if (threaded_) {
    for (const auto& net : nets_) {
      net->guard.emplace(net->io->get_executor());
      // A handler that throws is a bug: as on the server's own loop, it ends the process.
      net->thread = std::thread([io = net->io] { io->run(); });
    }
  }
  if (!opt_.cache_file.empty()) {
    cache_ = std::make_unique<store::Cache>(opt_.cache_file);
    cache_->expire(opt_.cache_ttl);
    cache_->commit();
  }
  if (!o.broker.empty()) cluster_ = std::make_unique<ClusterChecks>(io_, o, opt_.catch_all_ttl);
  if (o.rdap) rdap_ = engine::make_rdap_client(o);
  if (!o.history_file.empty()) {
    engine::HistorySettings hs = engine::history_settings(o);
    hs.store.hash_keys = opt_.hash_keys;
    hs.refresh_s = 600;  // a long-running server sees what its own checks (and others') added
    history_ = std::make_unique<engine::HistoryBook>(o.history_file, hs);
  }
}

Verifier::~Verifier() {
  rdap_.reset();     // its threads end (each lookup within --rdap-timeout); their answers are dropped
  cluster_.reset();  // no worker's verdict arrives after this
  stop_nets();
  try {
    commit();
  } catch (...) {  // NOLINT(bugprone-empty-catch): a destructor must not throw; the cache is only a cache
  }
  history_.reset();  // writes what is pending (errors go to standard error)
}

void Verifier::stop_nets() noexcept {
  for (const auto& net : nets_) {
    net->guard.reset();
    if (net->own) net->own->stop();
  }
  for (const auto& net : nets_)
    if (net->thread.joinable()) net->thread.join();
  // Waiters parked in the shared gate hold timers of the loops: let go of them while the loops
  // still exist; then the stages, then the loops.
  gate_->abandon_waiters();
  nets_.clear();
}

Verifier::Net& Verifier::net_of(std::string_view domain) {
  return *nets_[nets_.size() == 1 ? 0 : std::hash<std::string_view>{}(domain) % nets_.size()];
}

void Verifier::reload_lists() {
  // Built off to the side: a file that cannot be read leaves the lists in use as they are. Checks
  // in flight were classified already; only the server's loop classifies, so nothing else holds
  // the old ones.
  auto k = std::make_unique<domain::Knowledge>(lists_);
  auto c = std::make_unique<Classifier>(*k);
  classifier_ = std::move(c);
  knowledge_ = std::move(k);
}

void Verifier::commit(bool all) {
  if (cache_) cache_->commit();
  if (!history_) return;
  if (all) history_->flush();
  else history_->maybe_flush();
}

std::string Verifier::domain_history(std::string_view domain) {
  Result r;
  classifier_->classify("postmaster@" + std::string(domain), r);
  if (!r.parsed || r.flags.address_literal) throw std::invalid_argument("not a domain name");
  const std::string_view registrable = r.registrable_domain().empty() ? r.address.domain() : r.registrable_domain();
  history_->flush();  // what this server saw up to now, too
  return engine::describe(history_->store(), r.address.domain(), registrable);
}

std::string Verifier::key_of(std::string_view input, Level level) const {
  const std::string_view a = text::trim_blanks(input);
  std::string k(1, static_cast<char>('0' + static_cast<int>(level)));
  if (opt_.hash_keys)
    k += sha256_hex(a);
  else
    k += a;
  return k;
}

std::string Verifier::cache_key(std::string_view normalized) const {
  return opt_.hash_keys ? sha256_hex(normalized) : std::string(normalized);
}

void Verifier::verify(std::string_view input, Level level, CheckOptions how, Done done) {
  std::string key = key_of(input, level);
  const auto now = std::chrono::steady_clock::now();
  if (std::shared_ptr<const Result> r = answers_.find(key, now)) {
    boost::asio::post(io_, [done = std::move(done), r = std::move(r)] { done(r); });
    return;
  }
  // A real-time check does not join a job's check of the same address: that one waits behind the
  // job's other work. Running both costs at most one more RCPT (DNS queries are shared).
  std::string run = lane_letter(how.lane) + key;
  if (auto it = running_.find(run); it != running_.end()) {
    it->second->waiters.push_back(std::move(done));
    it->second->remember |= how.remember;
    return;
  }
  auto c = std::make_shared<Check>();
  c->key = std::move(key);
  c->run = std::move(run);
  c->level = level;
  c->lane = how.lane;
  c->remember = how.remember;
  c->waiters.push_back(std::move(done));
  running_.emplace(c->run, c);
  Result& r = *c->result;
  classifier_->classify(text::trim_blanks(input), r);
  if (level == Level::syntax || !r.parsed || r.status == Status::invalid) {
    boost::asio::post(io_, [this, c] { finish(c); });
    return;
  }
  // A verdict from the --cache file (SMTP level only: what the network said, younger than its TTL).
  if (cache_ && level == Level::smtp) {
    if (auto v = cache_->get_address(cache_key(r.address.normalized()), opt_.cache_ttl); v && restore_verdict(*v, r)) {
      c->from_cache = true;
      boost::asio::post(io_, [this, c] { finish(c); });
      return;
    }
  }
  // --history: a domain whose servers refused us within the back-off is not asked again yet.
  if (history_ && level == Level::smtp && !r.flags.address_literal && history_->held_back(r.registrable_domain())) {
    r.status = Status::unknown;
    r.reason = Reason::held_back;
    boost::asio::post(io_, [this, c] { finish(c); });
    return;
  }
  // --history: a domain whose catch-all answer is recent is not sent a random RCPT again (the
  // domain's own loop learns it before its probe; a subdomain may have other mail servers).
  if (history_ && level == Level::smtp && !r.flags.address_literal && r.address.domain() == r.registrable_domain()) {
    if (const std::optional<bool> ca = history_->catch_all(r.registrable_domain())) {
      Net& n = net_of(r.address.domain());
      boost::asio::post(*n.io, [p = n.prober.get(), d = std::string(r.address.domain()), v = *ca] {
        p->remember_catch_all(d, v);
      });
    }
  }
  if (rdap_ && !r.flags.address_literal && !r.registrable_domain().empty()) start_rdap(c);
  if (cluster_ && how.lane == Lane::bulk) {
    cluster_->check(text::trim_blanks(input), std::string(r.address.domain()), std::string(name(level)),
                    [this, c](const std::string& verdict) { on_cluster(c, verdict); });
    return;
  }
  run_here(c);
}

void Verifier::on_cluster(const std::shared_ptr<Check>& c, const std::string& verdict) {
  Result& r = *c->result;
  if (!restore_verdict(verdict, r)) {
    // A worker of another version: the check is not lost, it runs here (restore_verdict changes
    // nothing when it fails).
    run_here(c);
    return;
  }
  if (cache_ && c->level == Level::smtp && r.status != Status::unknown && (r.checks & kCheckSmtp)) {
    try {
      cache_->put_address(cache_key(r.address.normalized()), verdict);
    } catch (const std::exception&) {  // NOLINT(bugprone-empty-catch): a cache (see finish)
    }
  }
  finish(c);
}

void Verifier::run_here(const std::shared_ptr<Check>& c) {
  const Result& r = *c->result;
  // From here the check belongs to its domain's network loop until done() hands it back; the
  // server's loop touches only its waiters meanwhile.
  Net& n = net_of(r.address.domain());
  if (r.flags.address_literal) {
    boost::asio::post(*n.io, [this, &n, c] { on_dns(n, c, n.mail->literal(c->result->address.domain())); });
    return;
  }
  if (!threaded_) return lookup(n, c);
  boost::asio::post(*n.io, [this, &n, c] { lookup(n, c); });
}

void Verifier::lookup(Net& n, const std::shared_ptr<Check>& c) {
  const Result& r = *c->result;
  n.mail->lookup(
      std::string(r.address.domain()), std::string(r.registrable_domain()),
      [this, &n, c](dns::DomainDnsPtr d) { on_dns(n, c, std::move(d)); }, c->lane);
}

void Verifier::on_dns(Net& n, const std::shared_ptr<Check>& c, dns::DomainDnsPtr d) {
  Result& r = *c->result;
  apply_dns(r, d);
  const Status ds = info(d->reason).status;
  if (c->level == Level::dns || !d->has_target() || ds == Status::invalid || ds == Status::unknown) {
    done(c);
    return;
  }
  enqueue_probe(n, c, std::move(d));
}

void Verifier::enqueue_probe(Net& n, const std::shared_ptr<Check>& c, dns::DomainDnsPtr d) {
  // A long-running server asks for catch-all answers again now and then.
  const auto now = std::chrono::steady_clock::now();
  if (now - n.catch_all_since > opt_.catch_all_ttl) {
    n.prober->forget_catch_all();
    n.catch_all_since = now;
  }
  const std::string queue = lane_letter(c->lane) + std::string(c->result->address.domain());
  DomainQueue& q = n.domains[queue];
  q.waiting.push_back(c);
  q.dns = std::move(d);
  if (!q.running && !q.scheduled) {
    // Posted, so the checks of this domain that arrive in the same turn of the loop share a session.
    q.scheduled = true;
    boost::asio::post(*n.io, [this, &n, queue] { start_probe(n, queue); });
  }
}

void Verifier::done(const std::shared_ptr<Check>& c) {
  if (!threaded_) return finish(c);
  boost::asio::post(io_, [this, c] { finish(c); });
}

void Verifier::start_probe(Net& n, const std::string& queue) {
  auto& domains = n.domains;
  auto it = domains.find(queue);
  if (it == domains.end()) return;
  DomainQueue& q = it->second;
  q.scheduled = false;
  if (q.waiting.empty()) {
    if (!q.running) domains.erase(it);
    return;
  }
  auto batch = std::make_shared<std::vector<std::shared_ptr<Check>>>(std::move(q.waiting));
  q.waiting.clear();
  q.running = true;
  // One RCPT per distinct mailbox.
  auto index = std::make_shared<std::vector<std::size_t>>();
  std::vector<std::string> mailboxes;
  std::unordered_map<std::string_view, std::size_t> seen;
  for (const auto& c : *batch) {
    const std::string_view m = c->result->address.normalized();
    auto [pos, fresh] = seen.try_emplace(m, mailboxes.size());
    if (fresh) mailboxes.emplace_back(m);
    index->push_back(pos->second);
  }
  const Lane lane = batch->front()->lane;
  auto probed = [this, &n, queue, batch, index](std::vector<smtp::AddressProbe> res) {
    for (std::size_t i = 0; i < batch->size(); ++i) {
      apply_smtp(*(*batch)[i]->result, res[(*index)[i]]);
      done((*batch)[i]);
    }
    auto qi = n.domains.find(queue);
    if (qi == n.domains.end()) return;
    qi->second.running = false;
    if (qi->second.waiting.empty()) {
      if (!qi->second.scheduled) n.domains.erase(qi);
    } else if (!qi->second.scheduled) {
      qi->second.scheduled = true;
      boost::asio::post(*n.io, [this, &n, queue] { start_probe(n, queue); });
    }
  };
  n.prober->probe(queue.substr(1), q.dns, std::move(mailboxes), std::move(probed), lane);
}

void Verifier::start_rdap(const std::shared_ptr<Check>& c) {
  c->rdap_wait = true;
  // The answer comes on the client's thread (or at once from its memory): back to the server's loop.
  rdap_->lookup(std::string(c->result->registrable_domain()),
                [this, c, alive = std::weak_ptr<char>(alive_)](domain::RegistrationPtr reg) {
                  boost::asio::post(io_, [this, c, alive, reg = std::move(reg)] {
                    if (alive.expired()) return;
                    c->registration = reg;
                    c->rdap_wait = false;
                    if (c->net_done) finish(c);
                  });
                });
}

void Verifier::finish(const std::shared_ptr<Check>& c) {
  if (c->rdap_wait) {  // the network work is done; the registration comes (within --rdap-timeout)
    c->net_done = true;
    return;
  }
  if (c->registration) apply_registration(*c->result, c->registration);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - c->start).count();
  metrics_.verification(c->level, c->result->reason, seconds);
  running_.erase(c->run);
  if (history_ && c->level != Level::syntax) {
    history_->annotate(*c->result, !c->from_cache);
    if (!c->from_cache) history_->record(*c->result);
  }
  std::shared_ptr<const Result> r = c->result;
  if (c->remember) answers_.put(c->key, r, std::chrono::steady_clock::now());
  if (cache_ && c->level == Level::smtp && r->status != Status::unknown && (r->checks & kCheckSmtp) &&
      !r->restored_smtp) {
    // The cache is only a cache: a write that fails (a full disk) must not cost the answer. The
    // server's tick logs the failure when it commits (JobRunner::tick).
    try {
      cache_->put_address(cache_key(r->address.normalized()), serialize_verdict(*r));
    } catch (const std::exception&) {  // NOLINT(bugprone-empty-catch): see above
    }
  }
  for (Done& d : c->waiters) boost::asio::post(io_, [d = std::move(d), r] { d(r); });
  c->waiters.clear();
}

void Verifier::gauges(Gauges& g) {
  g.checks_in_flight = running_.size();
  if (cluster_) {
    const ClusterChecks::Stats st = cluster_->stats();
    g.cluster = true;
    g.cluster_addresses_out = st.addresses_out;
    g.cluster_chunks_out = st.chunks_out;
    g.cluster_published = st.published;
    g.cluster_republished = st.republished;
    g.cluster_duplicates = st.duplicates;
    g.cluster_malformed = st.malformed;
    g.broker_up = st.broker_up;
  }
  for (const auto& net : nets_) {
    // Read on the network loop that owns the counters; the server's loop waits the moment it takes.
    auto read = [&g, &n = *net] {
      smtp::SessionContext& ctx = n.prober->context();
      g.sessions_in_flight += ctx.sessions().in_use();
      const dns::ResolverStats st = n.resolver->stats();
      g.dns_queries += st.queries_sent + st.coalesced;
      g.dns_cache_hits += st.cache_hits;
    };
    if (!threaded_) {
      read();
    } else {
      std::promise<void> ready;
      boost::asio::post(*net->io, [&read, &ready] {
        read();
        ready.set_value();
      });
      ready.get_future().wait();
    }
  }
  // The gate is shared and locked: read here.
  gate_->for_each_busy([&](const std::string& host, std::size_t conns, std::size_t waiting) {
    g.hosts.push_back(HostGauge{host, conns, waiting});
  });
}

}  // namespace mailsift::server
