#include "smtp/politeness.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace mailsift::smtp {

namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;

asio::awaitable<void> Semaphore::acquire(Priority priority) {
  // A newcomer goes behind the waiters of its own priority and above.
  const bool queued_before = !realtime_.empty() || (priority != Priority::realtime && !urgent_.empty()) ||
                             (priority == Priority::normal && !waiters_.empty());
  if (!queued_before && room(priority)) {
    ++used_;
    if (priority != Priority::realtime) ++others_used_;
    co_return;
  }
  // Park on a timer that never expires; dispatch() counts the slot as ours and cancels it.
  auto t = std::make_shared<asio::steady_timer>(co_await asio::this_coro::executor, Clock::time_point::max());
  (priority == Priority::realtime ? realtime_ : priority == Priority::urgent ? urgent_ : waiters_).push_back(t);
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
      t->cancel();
    }
  }
}

void HostGate::Slot::reset() {
  if (gate_ != nullptr) std::exchange(gate_, nullptr)->release(address_, priority_);
}

bool HostGate::backing_off(const std::string& address) const {
  const auto it = hosts_.find(address);
  return it != hosts_.end() && it->second->backoff_until > Clock::now();
}

std::chrono::milliseconds HostGate::backoff_left(const std::string& address) const {
  const auto it = hosts_.find(address);
  if (it == hosts_.end()) return std::chrono::milliseconds(0);
  const auto left = it->second->backoff_until - Clock::now();
  // Rounded up: a wait of backoff_left() ends when the back-off has.
  return std::max(std::chrono::milliseconds(0), std::chrono::ceil<std::chrono::milliseconds>(left));
}

asio::awaitable<HostGate::Slot> HostGate::acquire(const std::string& address, Priority priority) {
  if (hosts_.size() >= sweep_at_) sweep();
  auto [it, fresh] = hosts_.try_emplace(address, nullptr);
  if (fresh) it->second = std::make_unique<Host>(opt_.host_concurrency);
  // Hosts are only erased when idle, and we are about to use this one: the pointer stays valid
  // across the suspensions below.
  Host* h = it->second.get();
  co_await h->slots.acquire(priority);
  peak_ = std::max(peak_, h->slots.in_use());
  if (opt_.host_rate > 0) {
    // Token spacing: connection k may start no sooner than 1/rate after connection k-1.
    const auto spacing = std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(1.0 / opt_.host_rate));
    const auto now = Clock::now();
    const auto at = std::max(now, h->next_connect);
    h->next_connect = at + spacing;
    if (at > now) {
      asio::steady_timer t(co_await asio::this_coro::executor, at);
      co_await t.async_wait(asio::as_tuple(asio::use_awaitable));
    }
  }
  co_return Slot(this, address, priority);
}

void HostGate::back_off(const std::string& address) {
  auto [it, fresh] = hosts_.try_emplace(address, nullptr);
  if (fresh) it->second = std::make_unique<Host>(opt_.host_concurrency);
  it->second->backoff_until = Clock::now() + opt_.backoff;
}

void HostGate::sweep() {
  const auto now = Clock::now();
  std::erase_if(hosts_, [now](const auto& kv) {
    const Host& h = *kv.second;
    return h.slots.idle() && h.next_connect <= now && h.backoff_until <= now;
  });
  // Amortized: the next sweep comes after the table doubles again.
  sweep_at_ = std::max<std::size_t>(4096, 2 * hosts_.size());
}

void HostGate::release(const std::string& address, Priority priority) {
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
