#include "smtp/prober.hpp"

#include <algorithm>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <exception>

namespace mailsift::smtp {

namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;

namespace {

// A bound on the catch-all cache: past it the cache starts over (a run over more domains than this
// tests some of them twice, which costs one RCPT each).
constexpr std::size_t kMaxCatchAllEntries = 1'000'000;

void rethrow(const std::exception_ptr& e) {
  if (e) std::rethrow_exception(e);
}

// Waits until `count` tasks have called done().
class Latch {
 public:
  Latch(asio::any_io_executor ex, std::size_t count) : timer_(std::move(ex), Clock::time_point::max()), left_(count) {}
  void done() {
    if (--left_ == 0) timer_.cancel();
  }
  asio::awaitable<void> wait() {
    if (left_ == 0) co_return;
    co_await timer_.async_wait(asio::as_tuple(asio::use_awaitable));
  }

 private:
  asio::steady_timer timer_;
  std::size_t left_;
};

}  // namespace

std::vector<Target> targets_of(const dns::DomainDns& d) {
  std::vector<Target> t;
  for (const dns::MxHost& h : d.mx)
    for (const std::string& a : h.addresses) t.push_back(Target{d.literal ? std::string() : h.host, a});
  return t;
}

Prober::Prober(asio::io_context& io, ProbeOptions probe, PolitenessOptions polite, RetryOptions retry,
               std::size_t max_sessions)
    : io_(io), retry_(retry), ctx_(io.get_executor(), std::move(probe), polite, max_sessions) {}

void Prober::probe(std::string domain, std::shared_ptr<const dns::DomainDns> dns, std::vector<std::string> mailboxes,
                   Done done) {
  asio::co_spawn(io_, domain_job(std::move(domain), std::move(dns), std::move(mailboxes), std::move(done)), rethrow);
}

asio::awaitable<void> Prober::domain_job(std::string domain, std::shared_ptr<const dns::DomainDns> dns,
                                         std::vector<std::string> mailboxes, Done done) {
  std::vector<AddressProbe> out(mailboxes.size());
  const std::vector<Target> targets = targets_of(*dns);
  const std::size_t per = std::max<std::size_t>(1, ctx_.options().max_rcpts);
  std::vector<std::vector<std::size_t>> chunks;
  for (std::size_t i = 0; i < mailboxes.size(); ++i) {
    if (i % per == 0) chunks.emplace_back();
    chunks.back().push_back(i);
  }
  auto known = [&]() -> std::optional<bool> {
    const auto it = catch_all_.find(domain);
    return it == catch_all_.end() ? std::nullopt : std::optional<bool>(it->second);
  };
  const bool test = ctx_.options().catch_all;
  if (test && known()) ++stats_.catch_all_cached;
  // The first session tests catch-all (unless known); the other chunks start as soon as that
  // session ends (not its greylisting retries), all at once: the per-host limits pace them.
  // 10,000 addresses at one domain cost one random RCPT.
  const auto ex = co_await asio::this_coro::executor;
  Latch first(ex, chunks.empty() ? 0 : 1);
  Latch all(ex, chunks.size());
  auto spawn = [&](std::size_t c, std::function<void()> after_first) {
    asio::co_spawn(io_, chunk_job(domain, targets, mailboxes, chunks[c], test && !known(), out, std::move(after_first)),
                   [&all](const std::exception_ptr& e) {
                     all.done();
                     rethrow(e);
                   });
  };
  if (!chunks.empty()) spawn(0, [&first] { first.done(); });
  co_await first.wait();
  for (std::size_t c = 1; c < chunks.size(); ++c) spawn(c, nullptr);
  co_await all.wait();
  const std::optional<bool> ca = known();
  for (AddressProbe& p : out) {
    if (ca) p.catch_all = ca;
    else if (!p.catch_all && p.session) p.catch_all = p.session->catch_all;
  }
  done(std::move(out));
}

asio::awaitable<void> Prober::chunk_job(const std::string& domain, std::vector<Target> targets,
                                        const std::vector<std::string>& mailboxes, std::vector<std::size_t> indices,
                                        bool test_catch_all, std::vector<AddressProbe>& out,
                                        std::function<void()> after_first) {
  const auto first = Clock::now();
  std::string source;
  std::string random_address;
  for (int tries = 1;; ++tries) {
    SessionRequest req;
    req.targets = targets;
    req.domain = domain;
    req.test_catch_all = test_catch_all;
    req.source = source;
    req.catch_all_address = random_address;
    for (const std::size_t i : indices) req.recipients.push_back(mailboxes[i]);
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
    if (after_first) std::exchange(after_first, nullptr)();
    std::vector<std::size_t> again;
    for (std::size_t k = 0; k < indices.size(); ++k) {
      out[indices[k]] = AddressProbe{session, k, session->catch_all, tries};
      if (session->recipients[k].retry) again.push_back(indices[k]);
    }
    // Greylisting: ask again later, from the same source address, with the same MAIL FROM, first
    // to the same server (greylisters key on client address, sender and recipient). Bounded by
    // the number of tries and by --max-wait; other domains go on meanwhile.
    if (again.empty() || tries >= retry_.greylist_tries) co_return;
    if (Clock::now() + retry_.greylist_retry - first > retry_.max_wait) co_return;
    random_address = session->catch_all_address;
    if (const Attempt* last = session->last()) {
      source = last->source;
      const auto it = std::find_if(targets.begin(), targets.end(),
                                   [&](const Target& t) { return t.address == last->address; });
      if (it != targets.end()) std::rotate(targets.begin(), it, it + 1);
    }
    asio::steady_timer wait(co_await asio::this_coro::executor, retry_.greylist_retry);
    co_await wait.async_wait(asio::as_tuple(asio::use_awaitable));
    indices = std::move(again);
  }
}

}  // namespace mailsift::smtp
