#pragma once
// Politeness: what keeps a verifier from hurting the servers it asks, and with them the operator's
// IP reputation. Entry point: HostGate — per MX address, a cap on concurrent connections, a rate
// of new connections, and a back-off after a 421 ("service not available, closing", RFC 5321
// §3.8). Plus Semaphore, the awaitable counter both the gate and the global session cap use.
//
// Single-threaded: everything runs on one io_context thread, so no locks.
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
/// --greylist-tries times at most), so normal waiters are not starved.
enum class Priority : std::uint8_t { normal, urgent };

/// An awaitable counting semaphore. Waiters are served in FIFO order within their priority, urgent
/// ones first; a released slot passes straight to the next waiter.
class Semaphore {
 public:
  explicit Semaphore(std::size_t limit) : limit_(limit == 0 ? 1 : limit) {}
  boost::asio::awaitable<void> acquire(Priority priority = Priority::normal);
  void release();
  [[nodiscard]] std::size_t in_use() const noexcept { return used_; }
  [[nodiscard]] std::size_t waiting() const noexcept { return waiters_.size() + urgent_.size(); }
  [[nodiscard]] bool idle() const noexcept { return used_ == 0 && waiting() == 0; }

 private:
  std::size_t limit_;
  std::size_t used_ = 0;
  std::deque<std::shared_ptr<boost::asio::steady_timer>> waiters_;
  std::deque<std::shared_ptr<boost::asio::steady_timer>> urgent_;
};

struct PolitenessOptions {
  std::size_t host_concurrency = 5;  // connections at once to one MX address (--host-concurrency)
  double host_rate = 10.0;           // new connections per second to one MX address; 0: no limit
  std::chrono::milliseconds backoff{60'000};  // after a 421, leave the address alone this long
};

class HostGate {
 public:
  HostGate(boost::asio::any_io_executor ex, PolitenessOptions o) : ex_(std::move(ex)), opt_(o) {}

  /// Held while connected to one address; releases the slot when destroyed.
  class Slot {
   public:
    Slot() = default;
    Slot(HostGate* g, std::string a) : gate_(g), address_(std::move(a)) {}
    Slot(Slot&& o) noexcept : gate_(std::exchange(o.gate_, nullptr)), address_(std::move(o.address_)) {}
    Slot& operator=(Slot&& o) noexcept {
      if (this != &o) {
        reset();
        gate_ = std::exchange(o.gate_, nullptr);
        address_ = std::move(o.address_);
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
  };

  /// True while `address` is in back-off after a 421.
  [[nodiscard]] bool backing_off(const std::string& address) const;
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
  void release(const std::string& address);
  void sweep();  // forgets idle hosts whose rate and back-off windows have passed

  boost::asio::any_io_executor ex_;
  PolitenessOptions opt_;
  std::unordered_map<std::string, std::unique_ptr<Host>> hosts_;
  std::size_t peak_ = 0;
  std::size_t sweep_at_ = 4096;
};

}  // namespace mailsift::smtp
