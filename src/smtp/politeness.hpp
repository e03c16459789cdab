#pragma once
// Politeness: what keeps a verifier from hurting the servers it asks, and with them the operator's
// IP reputation. Entry point: PolitenessGate (LocalGate in process) — per MX address, a cap on concurrent connections,
// a rate of new connections, and a back-off after a 421 ("service not available, closing", RFC 5321 §3.8). Plus
// Semaphore, the awaitable counter both the gate and the global session cap use.
//
// Semaphore is single-threaded (one loop, no locks); LocalGate is shared by several loops.
#include <algorithm>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
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
  /// How a waiter is woken: `cancel` its timer at once (every user on one loop), or `post` the
  /// cancel to the timer's own executor (users on several loops; the caller serializes the calls).
  enum class Wake : std::uint8_t { cancel, post };
  /// `reserve` is capped at limit - 1 (the others always keep a slot).
  explicit Semaphore(std::size_t limit, std::size_t reserve = 0, Wake wake = Wake::cancel)
      : limit_(limit == 0 ? 1 : limit), others_limit_(limit_ - std::min(reserve, limit_ - 1)), wake_(wake) {}
  boost::asio::awaitable<void> acquire(Priority priority = Priority::normal);
  /// The synchronous half of acquire: takes a slot now (returns null) or queues a waiter and
  /// returns the timer to wait on (on `ex`); the slot is the waiter's once the wait ends.
  std::shared_ptr<boost::asio::steady_timer> enter(Priority priority, const boost::asio::any_io_executor& ex);
  /// Gives back a slot taken with `priority` (it says which count the slot leaves).
  void release(Priority priority = Priority::normal);
  [[nodiscard]] std::size_t in_use() const noexcept { return used_; }
  [[nodiscard]] std::size_t waiting() const noexcept { return waiters_.size() + urgent_.size() + realtime_.size(); }
  [[nodiscard]] bool idle() const noexcept { return used_ == 0 && waiting() == 0; }
  /// Forgets every waiter without waking it (shutdown).
  void abandon_waiters() {
    waiters_.clear();
    urgent_.clear();
    realtime_.clear();
  }

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
  Wake wake_;
  std::deque<std::shared_ptr<boost::asio::steady_timer>> waiters_;
  std::deque<std::shared_ptr<boost::asio::steady_timer>> urgent_;
  std::deque<std::shared_ptr<boost::asio::steady_timer>> realtime_;
};

struct PolitenessOptions {
  std::size_t host_concurrency = 5;           // connections at once to one MX address (--host-concurrency)
  double host_rate = 10.0;                    // new connections per second to one MX address; 0: no limit
  std::chrono::milliseconds backoff{60'000};  // after a 421, leave the address alone this long
  // Of the global session cap (--smtp-concurrency), the sessions only Priority::realtime ones may
  // hold (Semaphore's reserve). 0: none kept, for runs with no real-time work.
  std::size_t realtime_sessions = 0;
};

/// The politeness gate: per MX address, a cap on concurrent connections, a rate of new connections
/// and the 421 back-off. An interface, because the address's budget may be shared wider than one
/// event loop: LocalGate serves every loop of one process (the embedded default, and --threads N);
/// a broker-backed gate (issue 16) serves a cluster. Sessions only see this interface.
class PolitenessGate {
 public:
  virtual ~PolitenessGate() = default;

  /// Held while connected to one address; gives the slot back when destroyed. Must be destroyed on
  /// the loop that acquired it (or after every loop stopped), before the gate.
  class Slot {
   public:
    Slot() = default;
    Slot(PolitenessGate* g, std::string a, Priority p) : gate_(g), address_(std::move(a)), priority_(p) {}
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
    /// False for an empty Slot: acquire() found the address in back-off (a shared gate learns of
    /// another process's 421 only when it asks).
    explicit operator bool() const noexcept { return gate_ != nullptr; }
    void reset() {
      if (gate_ != nullptr) std::exchange(gate_, nullptr)->release(address_, priority_);
    }

   private:
    PolitenessGate* gate_ = nullptr;
    std::string address_;
    Priority priority_ = Priority::normal;
  };

  /// Waits (on the calling coroutine's executor) for a free connection slot at `address` and for
  /// its rate limit. An empty Slot: the address is in back-off; try another.
  virtual boost::asio::awaitable<Slot> acquire(const std::string& address, Priority priority = Priority::normal) = 0;
  /// The server said 421: no new connections to it for the back-off time.
  virtual void back_off(const std::string& address) = 0;
  /// How long the back-off of `address` still lasts (0 when none).
  [[nodiscard]] virtual std::chrono::milliseconds backoff_left(const std::string& address) const = 0;
  /// True while `address` is in back-off after a 421.
  [[nodiscard]] bool backing_off(const std::string& address) const {
    return backoff_left(address) > std::chrono::milliseconds(0);
  }
  /// Calls `f(address, connections, waiting)` for every address with a connection or a waiter
  /// (for the server's metrics).
  virtual void for_each_busy(const std::function<void(const std::string&, std::size_t, std::size_t)>& f) const = 0;
  /// Most connections held at once to any one address so far (the per-host cap, observed).
  [[nodiscard]] virtual std::size_t peak() const = 0;
  /// Addresses with state kept (connections, waiters, a rate or back-off window still open).
  [[nodiscard]] virtual std::size_t hosts() const = 0;
  /// Drops every waiter without waking it. For shutdown only: called once the loops have stopped,
  /// before they are destroyed (a waiter's timer must not outlive its loop).
  virtual void abandon_waiters() = 0;

 protected:
  virtual void release(const std::string& address, Priority priority) = 0;
};

/// The in-process gate: one table under a mutex, shared by any number of event loops (each run by
/// one thread). A freed slot passes straight to the next waiter, which is woken on its own loop.
/// The lock is held for table updates only, never across a wait: one look-up per connection.
class LocalGate final : public PolitenessGate {
 public:
  explicit LocalGate(PolitenessOptions o) : opt_(o) {}

  boost::asio::awaitable<Slot> acquire(const std::string& address, Priority priority = Priority::normal) override;
  void back_off(const std::string& address) override;
  [[nodiscard]] std::chrono::milliseconds backoff_left(const std::string& address) const override;
  void for_each_busy(const std::function<void(const std::string&, std::size_t, std::size_t)>& f) const override;
  [[nodiscard]] std::size_t peak() const override;
  [[nodiscard]] std::size_t hosts() const override;
  void abandon_waiters() override;

 protected:
  void release(const std::string& address, Priority priority) override;

 private:
  struct Host {
    explicit Host(std::size_t limit) : slots(limit, 0, Semaphore::Wake::post) {}
    Semaphore slots;
    std::chrono::steady_clock::time_point next_connect{};
    std::chrono::steady_clock::time_point backoff_until{};
  };
  Host& host(const std::string& address);  // under mu_
  void sweep();                            // under mu_: forgets idle hosts whose windows have passed

  PolitenessOptions opt_;
  mutable std::mutex mu_;
  std::unordered_map<std::string, std::unique_ptr<Host>> hosts_;
  std::size_t peak_ = 0;
  std::size_t sweep_at_ = 4096;
};

}  // namespace mailsift::smtp
