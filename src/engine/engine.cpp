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
#include "broker/gate.hpp"
#include "engine/local.hpp"
#include "engine/rdap.hpp"
#include "engine/remote.hpp"

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

Engine::Engine(const VerifyOptions& o, Role role)
    : knowledge_(o.lists),
      classifier_(knowledge_),
      dns_level_(o.level == "dns" || o.level == "smtp"),
      smtp_level_(o.level == "smtp"),
      batch_size_(smtp_level_  ? kSmtpBatch
                  : dns_level_ ? kDnsBatch
                               : kSyntaxBatch),
      window_rows_(dns_level_ ? std::max(kNetworkWindow, batch_size_) : batch_size_) {
  if (dns_level_) net_ = make_network(o, role, signal_);
  if (!o.history_file.empty()) {
    // The offline level is left as it was: history is what the network said of a domain.
    if (!dns_level_) throw std::invalid_argument("--history needs --level dns or smtp");
    if (role == Role::worker) throw std::invalid_argument("--history is kept by the coordinator, not by workers");
    history_ = std::make_unique<HistoryBook>(o.history_file, history_settings(o));
  }
}

HistorySettings history_settings(const VerifyOptions& o) {
  HistorySettings h;
  h.store.retention_days = static_cast<std::int64_t>(o.history_retention);
  h.store.hash_keys = o.hash_keys;
  h.catch_all_ttl_s = static_cast<std::int64_t>(o.history_catch_all_ttl);
  h.backoff_s = static_cast<std::int64_t>(o.history_backoff);
  return h;
}

Engine::~Engine() { net_.reset(); }

void Engine::remember_catch_all(const std::string& domain, bool catch_all) {
  if (smtp_level_) net_->remember_catch_all(domain, catch_all);
}

std::unordered_map<std::string, bool> Engine::catch_all_answers() {
  if (!smtp_level_) return {};
  return net_->catch_all_answers();
}

std::size_t Engine::add(std::string_view input) {
  open_.push_back(input);
  return open_.size() - 1;
}

std::uint64_t Engine::submit() {
  auto b = std::make_unique<Batch>();
  b->id = next_id_++;
  b->inputs = std::move(open_);
  open_ = Inputs();
  open_.reserve_like(b->inputs);
  in_flight_rows_ += b->inputs.size();
  flight_.push_back(std::move(b));
  if (dns_level_) start(*flight_.back());
  return flight_.back()->id;
}

void Engine::run(const Sink& sink) {
  submit();
  while (deliver(sink, true)) {
  }
}

void Engine::finish(Batch& b, const Sink& sink) {
  for (std::size_t i = 0; i < b.inputs.size(); ++i) {
    Result& r = b.results[i];
    net_->finish(b, i, r);
    if (!b.held.empty() && b.held[i]) {
      r.status = Status::unknown;
      r.reason = Reason::held_back;
    }
    if (history_) {
      history_->annotate(r, true);
      history_->record(r);
    }
    sink(i, r);
  }
  in_flight_rows_ -= b.inputs.size();
  if (history_) history_->maybe_flush();
}

bool Engine::deliver(const Sink& sink, bool wait) {
  if (flight_.empty()) return false;
  Batch& b = *flight_.front();
  if (!dns_level_) {
    for (std::size_t i = 0; i < b.inputs.size(); ++i) {
      classifier_.classify(b.inputs[i], scratch_);
      sink(i, scratch_);
    }
    in_flight_rows_ -= b.inputs.size();
    flight_.pop_front();
    return true;
  }
  if (!b.done()) {
    if (!wait) {
      net_->poll();
      if (!b.done()) return false;
    } else {
      net_->wait_for(b, interrupt_);
    }
  }
  finish(b, sink);
  flight_.pop_front();
  return true;
}

std::size_t Engine::deliver_finished(const std::function<void(std::uint64_t, std::size_t, Result&)>& sink) {
  if (!dns_level_) throw std::logic_error("deliver_finished: network levels only");
  net_->poll();
  std::size_t n = 0;
  for (auto it = flight_.begin(); it != flight_.end();) {
    Batch& b = **it;
    if (!b.done()) {
      ++it;
      continue;
    }
    finish(b, [&sink, id = b.id](std::size_t i, Result& r) { sink(id, i, r); });
    it = flight_.erase(it);
    ++n;
  }
  return n;
}

void Engine::wait_any(std::chrono::milliseconds for_at_most) {
  const std::uint64_t seen = signal_.finished();
  for (const auto& b : flight_)
    if (b->done()) return;
  signal_.wait_any(seen, for_at_most);
}

std::string Engine::dns_stats() { return net_ ? net_->dns_stats() : std::string(); }

std::string Engine::smtp_stats() { return net_ && smtp_level_ ? net_->smtp_stats() : std::string(); }

// Classifies the batch's inputs, gathers its distinct domains and hands them to the network stages.
namespace {

// Puts b's domains in `order` (a permutation of their indexes) and points the rows at their new slots.
void reorder_domains(Batch& b, const std::vector<std::size_t>& order) {
  std::vector<std::size_t> moved_to(order.size());
  std::vector<Domain> domains;
  domains.reserve(order.size());
  for (std::size_t k = 0; k < order.size(); ++k) {
    moved_to[order[k]] = k;
    domains.push_back(std::move(b.domains[order[k]]));
  }
  b.domains = std::move(domains);
  for (std::size_t& s : b.slot)
    if (s != kNoSlot) s = moved_to[s];
}

}  // namespace

void Engine::start(Batch& b) {
  const std::size_t n = b.inputs.size();
  b.results.resize(n);
  b.slot.assign(n, kNoSlot);
  b.probes.assign(n, std::nullopt);
  std::unordered_map<std::string_view, std::size_t> index;  // domain → slot in b.domains
  const bool history = history_ && smtp_level_;
  b.held.assign(history ? n : 0, 0);
  for (std::size_t i = 0; i < n; ++i) {
    Result& r = b.results[i];
    classifier_.classify(b.inputs[i], r);
    if (!r.parsed || r.status == Status::invalid) continue;
    // --history: a domain whose servers refused us within the back-off is not asked again yet.
    if (history && !r.flags.address_literal && history_->held_back(r.registrable_domain())) {
      b.held[i] = 1;
      continue;
    }
    auto [it, fresh] = index.try_emplace(r.address.domain(), b.domains.size());
    if (fresh) {
      b.domains.push_back(Domain{
          std::string(r.address.domain()), std::string(r.registrable_domain()), r.flags.address_literal, nullptr, {}});
    }
    b.domains[it->second].rows.push_back(i);
    b.slot[i] = it->second;
  }
  if (history) {
    // --history: a domain whose catch-all answer is recent is not sent a random RCPT again. Only a
    // domain that is its own registrable domain: a subdomain may have other mail servers.
    for (const Domain& d : b.domains)
      if (!d.literal && d.name == d.registrable)
        if (const std::optional<bool> ca = history_->catch_all(d.name)) net_->remember_catch_all(d.name, *ca);
    // Domains known to greylist go first: their first session (and so the greylisting delay)
    // starts before the rest of the batch is looked up and asked, instead of after it.
    std::vector<std::size_t> order(b.domains.size());
    for (std::size_t k = 0; k < order.size(); ++k) order[k] = k;
    const auto first = std::stable_partition(order.begin(), order.end(), [&](std::size_t k) {
      return !b.domains[k].literal && history_->greylists(b.domains[k].registrable);
    });
    if (first != order.begin()) reorder_domains(b, order);
  }
  b.open.store(b.domains.size(), std::memory_order_release);
  net_->start(b);
}

std::shared_ptr<smtp::PolitenessGate> make_gate(const cli::VerifyOptions& o) {
  if (o.broker.empty()) return std::make_shared<smtp::LocalGate>(politeness_options(o));
  broker::RedisOptions ro;
  ro.ca_file = o.broker_ca;
  broker::GateOptions go;
  go.polite = politeness_options(o);
  go.lease = seconds_to_ms(o.lease);
  go.prefix = o.broker_prefix;
  go.patience = seconds_to_ms(o.broker_timeout);
  return std::make_shared<broker::RedisGate>(broker::parse_redis_url(o.broker), ro, go);
}

std::unique_ptr<Network> make_network(const cli::VerifyOptions& o, Role role, Signal& signal) {
  if (role == Role::worker) {
    // A worker's sessions count against the cluster's per-MX budget, kept by the broker.
    std::shared_ptr<smtp::PolitenessGate> gate;
    if (o.level == "smtp") gate = make_gate(o);
    return std::make_unique<LocalNetwork>(o, signal, std::move(gate), true);
  }
  // --rdap: the registration lookups go around either stage (a cluster's workers never do them:
  // the coordinator does). Their answers end units on threads of their own, so the local loops run
  // on theirs too (a caller's thread running a lone loop would find no work left while they wait).
  if (o.rdap) {
    auto client = make_rdap_client(o);
    std::unique_ptr<Network> inner;
    if (!o.broker.empty()) inner = std::make_unique<RemoteNetwork>(o, signal);
    else inner = std::make_unique<LocalNetwork>(o, signal, nullptr, true);
    return std::make_unique<RdapStage>(std::move(inner), std::move(client), signal);
  }
  if (!o.broker.empty()) return std::make_unique<RemoteNetwork>(o, signal);
  return std::make_unique<LocalNetwork>(o, signal, nullptr, false);
}

}  // namespace mailsift::engine
