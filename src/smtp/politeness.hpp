#pragma once
// Politeness: what keeps a verifier from hurting the servers it asks, and with them the operator's
// IP reputation. Entry point: HostGate — per MX address, a cap on concurrent connections, a rate
// of new connections, and a back-off after a 421 ("service not available, closing", RFC 5321
// §3.8). Plus Semaphore, the awaitable counter both the gate and the global session cap use.
//
// Single-threaded: everything runs on one io_context thread, so no locks.
#include <algorithm>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <unordered_map>
#include <utility>

namespace mailsift::smtp {

/// Priority of a wait for a slot. `urgent` goes before every `normal` waiter: a session whose
/// result also waits for a greylisting delay (a retry, or the first try at a domain seen to
/// greylist) should start that clock as early as possible, while an ordinary session loses
/// nothing by going a little later. Urgent work is bounded (greylisted addresses, each retried
/// --greylist-tries times at most), so normal waiters are not starved. `realtime` (a session for
/// Lane::realtime checks: someone waits for the answer) goes before both, and only it may take a
/// Semaphore's reserved slots.
enum class Priority : std::uint8_t { normal, urgent, realtime };

/// An awaitable counting semaphore. Waiters are served in FIFO order within their priority,
/// realtime ones first, then urgent ones; a released slot passes straight to the next waiter.
/// With a reserve, holders other than `realtime` hold at most limit - reserve slots at once: a
/// bulk run at tarpits (each session holding its slot for a whole timeout) cannot take them all.
class Semaphore {
 public:
  /// `reserve` is capped at limit - 1 (the others always keep a slot).
  explicit Semaphore(std::size_t limit, std::size_t reserve = 0)
      : limit_(limit == 0 ? 1 : limit), others_limit_(limit_ - std::min(reserve, limit_ - 1)) {}
  boost::asio::awaitable<void> acquire(Priority priority = Priority::normal);
  /// Gives back a slot taken with `priority` (it says which count the slot leaves).
  void release(Priority priority = Priority::normal);
  [[nodiscard]] std::size_t in_use() const noexcept { return used_; }
  [[nodiscard]] std::size_t waiting() const noexcept { return waiters_.size() + urgent_.size() + realtime_.size(); }
  [[nodiscard]] bool idle() const noexcept { return used_ == 0 && waiting() == 0; }

 private:
  [[nodiscard]] bool room(Priority p) const noexcept {
    return used_ < limit_ && (p == Priority::realtime || others_used_ < others_limit_);
  }
  // Hands free slots to waiters, realtime first, while they may take them.
  void dispatch();

  std::size_t limit_;
  std::size_t others_limit_;
  std::size_t used_ = 0;
  std::size_t others_used_ = 0;  // held by normal and urgent
  std::deque<std::shared_ptr<boost::asio::steady_timer>> waiters_;
  std::deque<std::shared_ptr<boost::asio::steady_timer>> urgent_;
  std::deque<std::shared_ptr<boost::asio::steady_timer>> realtime_;
};

struct PolitenessOptions {
  std::size_t host_concurrency = 5;  // connections at once to one MX address (--host-concurrency)
  double host_rate = 10.0;           // new connections per second to one MX address; 0: no limit
  std::chrono::milliseconds backoff{60'000};  // after a 421, leave the address alone this long
  // Of the global session cap (--smtp-concurrency), the sessions only Priority::realtime ones may
  // hold (Semaphore's reserve). 0: none kept, for runs with no real-time work.
  std::size_t realtime_sessions = 0;
};

class HostGate {
 public:
  HostGate(boost::asio::any_io_executor ex, PolitenessOptions o) : ex_(std::move(ex)), opt_(o) {}

  /// Held while connected to one address; releases the slot when destroyed.
  class Slot {
   public:
    Slot() = default;
    Slot(HostGate* g, std::string a, Priority p) : gate_(g), address_(std::move(a)), priority_(p) {}
    Slot(Slot&& o) noexcept
        : gate_(std::exchange(o.gate_, nullptr)), address_(std::move(o.address_)), priority_(o.priority_) {}
    Slot& operator=(Slot&& o) noexcept {
      if (this != &o) {
        reset();
        gate_ = std::exchange(o.gate_, nullptr);
        address_ = std::move(o.address_);
        priority_ = o.priority_;
      }
      return *this;
    }
    Slot(const Slot&) = delete;
    Slot& operator=(const Slot&) = delete;
    ~Slot() { reset(); }
    void reset();

   private:
    HostGate* gate_ = nullptr;
    std::string address_;
    Priority priority_ = Priority::normal;
  };

  /// True while `address` is in back-off after a 421.
  [[nodiscard]] bool backing_off(const std::string& address) const;
  /// How long the back-off of `address` still lasts (0 when none).
  [[nodiscard]] std::chrono::milliseconds backoff_left(const std::string& address) const;
  /// Waits for a free connection slot at `address` and for its rate limit.
  boost::asio::awaitable<Slot> acquire(const std::string& address, Priority priority = Priority::normal);
  /// The server said 421: no new connections to it for the back-off time.
  void back_off(const std::string& address);

  [[nodiscard]] std::size_t hosts() const noexcept { return hosts_.size(); }
  /// Calls `f(address, connections, waiting)` for every address with a connection or a waiter
  /// (for the server's metrics).
  template <class F>
  void for_each_busy(F&& f) const {
    for (const auto& [address, h] : hosts_)
      if (!h->slots.idle()) f(address, h->slots.in_use(), h->slots.waiting());
  }
  /// Most connections held at once to any one address so far (the per-host cap, observed).
  [[nodiscard]] std::size_t peak() const noexcept { return peak_; }

 private:
  struct Host {
    explicit Host(std::size_t limit) : slots(limit) {}
    Semaphore slots;
    std::chrono::steady_clock::time_point next_connect{};
    std::chrono::steady_clock::time_point backoff_until{};
  };
  void release(const std::string& address, Priority priority);
  void sweep();  // forgets idle hosts whose rate and back-off windows have passed

  boost::asio::any_io_executor ex_;
  PolitenessOptions opt_;
  std::unordered_map<std::string, std::unique_ptr<Host>> hosts_;
  std::size_t peak_ = 0;
  std::size_t sweep_at_ = 4096;
};

}  // namespace mailsift::smtp
