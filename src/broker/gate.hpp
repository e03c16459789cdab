#pragma once
// The politeness gate on Redis: per MX address, the connection cap, the connection rate and the
// 421 back-off hold across every process that shares the broker (issue 16), with leases that
// expire, on the broker's clock. The in-process gate (smtp::LocalGate) is the embedded default;
// sessions see only smtp::PolitenessGate. Entry point: RedisGate.
//
// Keys (prefix "ms:" by default), all expiring:
//   <prefix>slots:<address>  sorted set: holder → lease expiry (ms, Redis TIME)
//   <prefix>tat:<address>    the next time a connection may start (--host-rate spacing)
//   <prefix>bo:<address>     present while the address is in back-off after a 421
//   <prefix>waits            hash: address → asks refused (cap full or rate spacing), for
//                            `mailsift cluster status`
// The Redis Functions library `mailsift_v1` (loaded with FUNCTION LOAD REPLACE at start) makes each
// step one atomic call: ms_acquire, ms_renew, ms_release, ms_backoff. Functions survive a Redis
// restart with AOF, unlike EVALSHA scripts.
//
// A held slot is a lease: renewed every lease/3 by this process, so a process killed with -9 holds
// nothing after `lease`. A waiter polls (at most every `poll`, with jitter); the broker's reply says
// how long the rate spacing still lasts, and a back-off found at the broker ends the wait with an
// empty Slot (the session tries the next MX, as with a local back-off).
#include <atomic>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "broker/redis.hpp"
#include "smtp/politeness.hpp"

namespace mailsift::broker {

struct GateOptions {
  smtp::PolitenessOptions polite;            // --host-concurrency, --host-rate, --host-backoff
  std::chrono::milliseconds lease{30'000};   // a slot not renewed for this long frees itself
  std::chrono::milliseconds poll{250};       // the longest a waiter sleeps between asks
  std::string prefix = "ms:";
  std::chrono::milliseconds patience{10'000};  // per call: how long an unreachable broker is retried
};

/// The Lua source of the `mailsift_v1` Functions library.
[[nodiscard]] std::string_view gate_library();

class RedisGate final : public smtp::PolitenessGate {
 public:
  /// Connects and loads the library (bounded by the connect timeout; throws BrokerError). Runs
  /// its broker connection on a thread of its own.
  RedisGate(RedisUrl url, RedisOptions redis, GateOptions options);
  /// Gives back the slots still held (bounded: one second), then stops.
  ~RedisGate() override;

  /// Throws BrokerError when the broker stays unreachable for `patience`.
  boost::asio::awaitable<Slot> acquire(const std::string& address,
                                       smtp::Priority priority = smtp::Priority::normal) override;
  void back_off(const std::string& address) override;
  [[nodiscard]] std::chrono::milliseconds backoff_left(const std::string& address) const override;
  void for_each_busy(const std::function<void(const std::string&, std::size_t, std::size_t)>& f) const override;
  [[nodiscard]] std::size_t peak() const override;
  [[nodiscard]] std::size_t hosts() const override;
  void abandon_waiters() override {}  // waiters sleep on their own loops' timers: nothing held here

  /// Leases found lost at renewal (the broker restarted empty, or this process stalled past the
  /// lease): the connection went on without its slot.
  [[nodiscard]] std::uint64_t leases_lost() const noexcept { return lost_.load(); }
  /// This process's identity in the slot sets (random per gate).
  [[nodiscard]] const std::string& id() const noexcept { return id_; }

 protected:
  void release(const std::string& address, smtp::Priority priority) override;

 private:
  struct Host {
    std::vector<std::string> holders;  // our leases at the address
    std::size_t waiting = 0;
    std::chrono::steady_clock::time_point backoff_until{};
  };
  // Runs `args` on the broker loop, retried for `patience`; throws BrokerError.
  boost::asio::awaitable<Reply> call(std::vector<std::string> args);
  boost::asio::awaitable<Reply> attempts(std::vector<std::string> args);  // on loop_
  boost::asio::awaitable<void> renew_loop();
  void forget_if_idle(const std::string& address);  // under mu_
  [[nodiscard]] std::string key(const char* kind, const std::string& address) const {
    return opt_.prefix + kind + address;
  }

  GateOptions opt_;
  std::string id_;
  std::atomic<std::uint64_t> next_holder_{0};
  std::atomic<std::uint64_t> lost_{0};
  boost::asio::io_context loop_{1};
  std::optional<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>> guard_;
  std::unique_ptr<Redis> redis_;  // used on loop_ only
  std::optional<boost::asio::steady_timer> renew_timer_;  // on loop_
  std::thread thread_;
  std::atomic<bool> stopping_{false};
  mutable std::mutex mu_;
  std::unordered_map<std::string, Host> hosts_;
  std::size_t peak_ = 0;
};

}  // namespace mailsift::broker
