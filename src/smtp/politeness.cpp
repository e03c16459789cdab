#include "smtp/politeness.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace mailsift::smtp {

namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;

std::shared_ptr<asio::steady_timer> Semaphore::enter(Priority priority, const asio::any_io_executor& ex) {
  // A newcomer goes behind the waiters of its own priority and above.
  const bool queued_before = !realtime_.empty() || (priority != Priority::realtime && !urgent_.empty()) ||
                             (priority == Priority::normal && !waiters_.empty());
  if (!queued_before && room(priority)) {
    ++used_;
    if (priority != Priority::realtime) ++others_used_;
    return nullptr;
  }
  // Park on a timer that never expires; dispatch() counts the slot as ours and cancels it.
  auto t = std::make_shared<asio::steady_timer>(ex, Clock::time_point::max());
  (priority == Priority::realtime ? realtime_ : priority == Priority::urgent ? urgent_ : waiters_).push_back(t);
  return t;
}

asio::awaitable<void> Semaphore::acquire(Priority priority) {
  if (auto t = enter(priority, co_await asio::this_coro::executor))
    co_await t->async_wait(asio::as_tuple(asio::use_awaitable));
}

void Semaphore::release(Priority priority) {
  if (used_ > 0) --used_;
  if (priority != Priority::realtime && others_used_ > 0) --others_used_;
  dispatch();
}

void Semaphore::dispatch() {
  for (auto [queue, p] : {std::pair{&realtime_, Priority::realtime}, std::pair{&urgent_, Priority::urgent},
                          std::pair{&waiters_, Priority::normal}}) {
    // Within the others (urgent, normal) the reserve applies alike: a normal waiter never
    // overtakes an urgent one, since both stop at the same bound.
    while (!queue->empty() && room(p)) {
      auto t = std::move(queue->front());
      queue->pop_front();
      ++used_;
      if (p != Priority::realtime) ++others_used_;
      if (wake_ == Wake::cancel) {
        t->cancel();
      } else {
        // The waiter's loop may be another thread: a timer is only touched on its own loop. Its
        // coroutine is already suspended on the wait (it queued itself and awaited without
        // yielding in between, and its loop runs on one thread), so the cancel finds the wait.
        const auto ex = t->get_executor();
        asio::post(ex, [t = std::move(t)] { t->cancel(); });
      }
    }
  }
}

LocalGate::Host& LocalGate::host(const std::string& address) {
  auto [it, fresh] = hosts_.try_emplace(address, nullptr);
  if (fresh) it->second = std::make_unique<Host>(opt_.host_concurrency);
  return *it->second;
}

std::chrono::milliseconds LocalGate::backoff_left(const std::string& address) const {
  const std::lock_guard lock(mu_);
  const auto it = hosts_.find(address);
  if (it == hosts_.end()) return std::chrono::milliseconds(0);
  const auto left = it->second->backoff_until - Clock::now();
  // Rounded up: a wait of backoff_left() ends when the back-off has.
  return std::max(std::chrono::milliseconds(0), std::chrono::ceil<std::chrono::milliseconds>(left));
}

asio::awaitable<PolitenessGate::Slot> LocalGate::acquire(const std::string& address, Priority priority) {
  const asio::any_io_executor ex = co_await asio::this_coro::executor;
  Host* h = nullptr;
  std::shared_ptr<asio::steady_timer> wait;
  {
    const std::lock_guard lock(mu_);
    if (hosts_.size() >= sweep_at_) sweep();
    // Hosts are only erased when idle, and from here on this one has a holder or a waiter (us):
    // the pointer stays valid across the suspensions below.
    h = &host(address);
    wait = h->slots.enter(priority, ex);
  }
  if (wait) co_await wait->async_wait(asio::as_tuple(asio::use_awaitable));
  Clock::time_point at;
  const auto now = Clock::now();
  {
    const std::lock_guard lock(mu_);
    peak_ = std::max(peak_, h->slots.in_use());
    at = now;
    if (opt_.host_rate > 0) {
      // Token spacing: connection k may start no sooner than 1/rate after connection k-1.
      const auto spacing =
          std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(1.0 / opt_.host_rate));
      at = std::max(now, h->next_connect);
      h->next_connect = at + spacing;
    }
  }
  // The slot is ours from here: a Slot gives it back even if the rate wait is cut short.
  Slot slot(this, address, priority);
  if (at > now) {
    asio::steady_timer t(ex, at);
    co_await t.async_wait(asio::as_tuple(asio::use_awaitable));
  }
  co_return slot;
}

void LocalGate::back_off(const std::string& address) {
  const std::lock_guard lock(mu_);
  host(address).backoff_until = Clock::now() + opt_.backoff;
}

void LocalGate::for_each_busy(const std::function<void(const std::string&, std::size_t, std::size_t)>& f) const {
  const std::lock_guard lock(mu_);
  for (const auto& [address, h] : hosts_)
    if (!h->slots.idle()) f(address, h->slots.in_use(), h->slots.waiting());
}

std::size_t LocalGate::peak() const {
  const std::lock_guard lock(mu_);
  return peak_;
}

std::size_t LocalGate::hosts() const {
  const std::lock_guard lock(mu_);
  return hosts_.size();
}

void LocalGate::abandon_waiters() {
  const std::lock_guard lock(mu_);
  for (auto& [address, h] : hosts_) h->slots.abandon_waiters();
}

void LocalGate::sweep() {
  const auto now = Clock::now();
  std::erase_if(hosts_, [now](const auto& kv) {
    const Host& h = *kv.second;
    return h.slots.idle() && h.next_connect <= now && h.backoff_until <= now;
  });
  // Amortized: the next sweep comes after the table doubles again.
  sweep_at_ = std::max<std::size_t>(4096, 2 * hosts_.size());
}

void LocalGate::release(const std::string& address, Priority priority) {
  const std::lock_guard lock(mu_);
  const auto it = hosts_.find(address);
  if (it == hosts_.end()) return;
  Host& h = *it->second;
  h.slots.release(priority);
  // Forget idle hosts whose rate and back-off windows have passed: a run over a million domains
  // must not keep a million entries.
  const auto now = Clock::now();
  if (h.slots.idle() && h.next_connect <= now && h.backoff_until <= now) hosts_.erase(it);
}

}  // namespace mailsift::smtp
