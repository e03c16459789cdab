#include "smtp/prober.hpp"

#include <algorithm>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <deque>
#include <exception>
#include <iterator>

namespace mailsift::smtp {

namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;

namespace {

// A bound on the catch-all cache (and on the set of greylisting domains): past it the cache starts
// over (a run over more domains than this tests some of them twice, which costs one RCPT each).
constexpr std::size_t kMaxCatchAllEntries = 1'000'000;
// Added to a delay the server stated, and to a back-off (see retry_wait).
constexpr std::chrono::milliseconds kHintMargin{500};

void rethrow(const std::exception_ptr& e) {
  if (e) std::rethrow_exception(e);
}

}  // namespace

std::vector<Target> targets_of(const dns::DomainDns& d) {
  std::vector<Target> t;
  for (const dns::MxHost& h : d.mx)
    for (const std::string& a : h.addresses) t.push_back(Target{d.literal ? std::string() : h.host, a});
  return t;
}

struct Prober::Job {
  std::vector<AddressProbe> out;
  std::size_t left = 0;
  Done done;
  Lane lane = Lane::bulk;
};

struct Prober::Item {
  std::shared_ptr<Job> job;
  std::size_t index = 0;  // in job->out
  std::string mailbox;
  std::vector<RecipientOutcome> earlier;  // AddressProbe::earlier
};

struct Prober::DomainQueue {
  std::shared_ptr<const dns::DomainDns> dns;  // the newest answer given for the domain
  std::deque<Item> waiting;
  std::size_t running = 0;  // chunks in their first session
  // The first catch-all test: until it has ended no other session starts, so that a domain costs
  // one random RCPT. After it, sessions run side by side (each tests again while the answer is
  // unknown: the first test was inconclusive, e.g. greylisted).
  bool testing = false;
  bool tested = false;
  // pump() is running for this queue. A session that needs no I/O (every recipient refused before
  // a command is sent, no catch-all test) runs to its end inside co_spawn, since co_spawn
  // dispatches: first_session_done then calls pump() again from within pump(). The inner call
  // returns at once (the outer loop sees the freed place when it checks its condition again), and
  // only the outer call may erase the queue, whose reference it holds. Without this the inner call
  // erased the queue under the outer loop (use-after-free, issue 14), and a domain's sessions
  // without I/O nested one call deeper each.
  bool pumping = false;
};

Prober::Prober(asio::io_context& io, ProbeOptions probe, PolitenessOptions polite, RetryOptions retry,
               std::size_t max_sessions, std::shared_ptr<PolitenessGate> gate, std::shared_ptr<TlsClient> tls)
    : io_(io),
      retry_(retry),
      domain_sessions_(std::max<std::size_t>(1, polite.host_concurrency)),
      ctx_(std::move(probe), polite, max_sessions, std::move(gate), std::move(tls)) {}

Prober::~Prober() = default;

std::optional<bool> Prober::known_catch_all(const std::string& domain) const {
  const auto it = catch_all_.find(domain);
  return it == catch_all_.end() ? std::nullopt : std::optional<bool>(it->second);
}

void Prober::probe(std::string domain, std::shared_ptr<const dns::DomainDns> dns, std::vector<std::string> mailboxes,
                   Done done, Lane lane) {
  auto job = std::make_shared<Job>();
  job->lane = lane;
  job->out.resize(mailboxes.size());
  job->left = mailboxes.size();
  job->done = std::move(done);
  if (mailboxes.empty()) {
    asio::post(io_, [job] { job->done({}); });
    return;
  }
  if (ctx_.options().catch_all && known_catch_all(domain)) ++stats_.catch_all_cached;
  std::unique_ptr<DomainQueue>& q = queues_[domain];
  if (!q) q = std::make_unique<DomainQueue>();
  q->dns = std::move(dns);
  // Real-time addresses go before the bulk ones waiting (behind earlier real-time ones).
  const auto at = lane == Lane::realtime ? std::find_if(q->waiting.begin(), q->waiting.end(),
                                                        [](const Item& i) { return i.job->lane == Lane::bulk; })
                                         : q->waiting.end();
  std::vector<Item> items;
  for (std::size_t i = 0; i < mailboxes.size(); ++i) items.push_back(Item{job, i, std::move(mailboxes[i]), {}});
  q->waiting.insert(at, std::make_move_iterator(items.begin()), std::make_move_iterator(items.end()));
  pump(domain);
}

void Prober::pump(const std::string& domain) {
  const auto it = queues_.find(domain);
  if (it == queues_.end()) return;
  DomainQueue& q = *it->second;
  if (q.pumping) return;  // re-entered from a session that ended inside co_spawn: see DomainQueue
  q.pumping = true;
  const std::size_t per = std::max<std::size_t>(1, ctx_.options().max_rcpts);
  while (!q.waiting.empty() && !q.testing && q.running < domain_sessions_) {
    const bool test = ctx_.options().catch_all && !known_catch_all(domain);
    if (test && !q.tested) q.testing = true;
    std::vector<Item> items;
    // One lane per session: a bulk address must not ride on (and lengthen) a real-time session.
    while (!q.waiting.empty() && items.size() < per &&
           (items.empty() || q.waiting.front().job->lane == items.front().job->lane)) {
      items.push_back(std::move(q.waiting.front()));
      q.waiting.pop_front();
    }
    ++q.running;
    asio::co_spawn(io_, chunk_job(domain, targets_of(*q.dns), std::move(items), test), rethrow);
  }
  q.pumping = false;
  // Found again rather than through `it`: only probe() inserts (never from inside a session), but
  // an iterator need not survive what ran inside co_spawn; `q` itself is stable (unique_ptr).
  if (q.waiting.empty() && q.running == 0) queues_.erase(queues_.find(domain));
}

void Prober::first_session_done(const std::string& domain, bool tested) {
  const auto it = queues_.find(domain);
  if (it == queues_.end()) return;  // cannot happen: a running chunk keeps its queue
  DomainQueue& q = *it->second;
  --q.running;
  if (tested && q.testing) {
    q.testing = false;
    q.tested = true;
  }
  pump(domain);
}

asio::awaitable<void> Prober::chunk_job(std::string domain, std::vector<Target> targets, std::vector<Item> items,
                                        bool test_catch_all) {
  const auto first = Clock::now();
  const bool tester = test_catch_all;
  std::string source;
  std::string random_address;
  for (int tries = 1;; ++tries) {
    SessionRequest req;
    req.targets = targets;
    req.domain = domain;
    req.test_catch_all = test_catch_all;
    req.source = source;
    req.catch_all_address = random_address;
    // A retry, or a first try at a domain known to greylist, waits for a greylisting delay after
    // this session: it goes before sessions that will be done when they end.
    req.priority = items.front().job->lane == Lane::realtime    ? Priority::realtime
                   : tries > 1 || greylisting_.contains(domain) ? Priority::urgent
                                                                : Priority::normal;
    for (const Item& item : items) req.recipients.push_back(item.mailbox);
    auto report = std::make_shared<SessionReport>(co_await run_session(ctx_, std::move(req)));
    ++stats_.sessions;
    if (tries > 1) ++stats_.greylist_retries;
    if (!report->catch_all_address.empty() && report->catch_all_reply) ++stats_.catch_all_tests;
    for (const RecipientOutcome& o : report->recipients) stats_.rcpts += o.reply ? 1 : 0;
    if (report->catch_all_reply) ++stats_.rcpts;
    if (report->catch_all) {
      if (catch_all_.size() >= kMaxCatchAllEntries) catch_all_.clear();
      catch_all_[domain] = *report->catch_all;
      test_catch_all = false;
    }
    const SessionPtr session = std::move(report);
    if (tries == 1) first_session_done(domain, tester);
    const bool deferred = std::any_of(session->recipients.begin(), session->recipients.end(),
                                      [](const RecipientOutcome& o) { return o.retry != Retry::none; });
    if (std::any_of(session->recipients.begin(), session->recipients.end(),
                    [](const RecipientOutcome& o) { return o.retry == Retry::greylisting; })) {
      if (greylisting_.size() >= kMaxCatchAllEntries) greylisting_.clear();
      greylisting_.insert(domain);
    }
    // Greylisting (or a 4xx that may be greylisting), or a session a 421 broke off: ask again
    // later, from the same source address, with the same MAIL FROM, first to the same server
    // (greylisters key on client address, sender and recipient). Bounded by the number of tries
    // and by --max-wait; other domains go on meanwhile. A wait that would end past --max-wait is
    // not started: the answer would come too late to be used.
    const Millis wait = deferred ? retry_wait(*session) : Millis(0);
    const bool retry = deferred && tries < retry_.greylist_tries && Clock::now() + wait - first <= retry_.max_wait;
    std::vector<Item> again;
    for (std::size_t k = 0; k < items.size(); ++k) {
      Job& job = *items[k].job;
      job.out[items[k].index] = AddressProbe{session, k, session->catch_all, tries, items[k].earlier};
      if (retry && session->recipients[k].retry != Retry::none) {
        items[k].earlier.push_back(session->recipients[k]);
        again.push_back(std::move(items[k]));
      } else if (--job.left == 0) {
        finish(job, domain);  // the address has its final answer
      }
    }
    if (!retry) co_return;
    random_address = session->catch_all_address;
    if (const Attempt* last = session->last()) {
      source = last->source;
      const auto it = std::find_if(targets.begin(), targets.end(),
                                   [&](const Target& t) { return t.address == last->address; });
      if (it != targets.end()) std::rotate(targets.begin(), it, it + 1);
    }
    asio::steady_timer timer(co_await asio::this_coro::executor, wait);
    co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
    items = std::move(again);
  }
}

Millis Prober::retry_wait(const SessionReport& session) {
  // Retried together, the addresses wait for the longest of their waits. A reconnection after a
  // 421 waits out the back-off of every server the session was turned away from (the retry starts
  // with the last one), no more: it was no greylisting.
  Millis wait{0};
  bool greylisting = false, reconnect = false, stated = true;
  std::chrono::seconds longest{0};
  for (const RecipientOutcome& o : session.recipients) {
    reconnect = reconnect || o.retry == Retry::reconnect;
    if (o.retry != Retry::greylisting) continue;
    greylisting = true;
    if (!o.retry_after)
      stated = false;
    else
      longest = std::max(longest, *o.retry_after);
  }
  if (reconnect) {
    for (const Attempt& a : session.attempts) {
      const Millis left = ctx_.gate().backoff_left(a.address);
      if (left > Millis(0)) wait = std::max(wait, left + kHintMargin);
    }
  }
  if (!greylisting) return wait;
  // The server's own word beats our guess, but only when every deferred address of the session
  // has one; otherwise --greylist-retry.
  if (!stated) return std::max(wait, retry_.greylist_retry);
  // postgrey (and the greylisters like it) count whole seconds from the first try: it states
  // delay - (now - first) with `now` taken as it decided, before its reply left, and accepts a
  // retry once now' - first >= delay, again in whole seconds. So a retry `hint` seconds after we
  // received the reply is already at least `hint` whole seconds after its `now`: late enough.
  // The margin only absorbs timer and scheduling jitter on either side, and a server that
  // rounds its count differently; it is small next to any hint, so it costs nothing.
  return std::max(wait, std::chrono::duration_cast<Millis>(longest) + kHintMargin);
}

void Prober::finish(Job& job, const std::string& domain) {
  // The domain's catch-all answer may have come from another session (or a later retry) than an
  // address's own.
  const std::optional<bool> ca = known_catch_all(domain);
  for (AddressProbe& p : job.out) {
    if (ca) p.catch_all = ca;
    else if (!p.catch_all && p.session) p.catch_all = p.session->catch_all;
  }
  // Posted: the callback may call probe() again, which must not change queues_ under pump().
  asio::post(io_, [out = std::move(job.out), done = std::move(job.done)]() mutable { done(std::move(out)); });
}

}  // namespace mailsift::smtp
