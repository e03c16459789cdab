#include "broker/gate.hpp"

#include <openssl/rand.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/use_future.hpp>
#include <cstdio>
#include <algorithm>
#include <future>

namespace mailsift::broker {

namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;
using Millis = std::chrono::milliseconds;

std::string_view gate_library() {
  // The broker's clock (TIME), not the workers': leases and spacing mean the same on every machine.
  return R"lua(#!lua name=mailsift_v1
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

-- KEYS: slots, tat, bo, waits. ARGV: holder, cap, lease_ms, interval_ms, address.
-- Returns {1, 0} granted; {0, ms} wait (ms = the rate spacing left, 0 = the cap is full: ask
-- again); {2, ms} the address is in back-off for ms more. A refused ask counts in `waits`
-- (per address, for `mailsift cluster status`).
local function waited(keys, args)
  redis.call('HINCRBY', keys[4], args[5], 1)
  redis.call('PEXPIRE', keys[4], 86400000)
end

redis.register_function('ms_acquire', function(keys, args)
  local now = now_ms()
  local bo = redis.call('PTTL', keys[3])
  if bo > 0 then return {2, bo} end
  redis.call('ZREMRANGEBYSCORE', keys[1], '-inf', now)
  if redis.call('ZCARD', keys[1]) >= tonumber(args[2]) then
    waited(keys, args)
    return {0, 0}
  end
  local interval = tonumber(args[4])
  if interval > 0 then
    local tat = tonumber(redis.call('GET', keys[2]) or '0')
    if tat > now then
      waited(keys, args)
      return {0, tat - now}
    end
    redis.call('SET', keys[2], now + interval, 'PX', interval + 1000)
  end
  local lease = tonumber(args[3])
  redis.call('ZADD', keys[1], now + lease, args[1])
  redis.call('PEXPIRE', keys[1], lease * 2)
  return {1, 0}
end)

-- KEYS: slots. ARGV: holder, lease_ms. 1: renewed; 0: the lease was lost.
redis.register_function('ms_renew', function(keys, args)
  if not redis.call('ZSCORE', keys[1], args[1]) then return 0 end
  local lease = tonumber(args[2])
  redis.call('ZADD', keys[1], now_ms() + lease, args[1])
  redis.call('PEXPIRE', keys[1], lease * 2)
  return 1
end)

-- KEYS: slots. ARGV: holder.
redis.register_function('ms_release', function(keys, args)
  return redis.call('ZREM', keys[1], args[1])
end)

-- KEYS: bo. ARGV: backoff_ms.
redis.register_function('ms_backoff', function(keys, args)
  redis.call('SET', keys[1], '1', 'PX', tonumber(args[1]))
  return 1
end)
)lua";
}

namespace {

// The first integer of an array reply ({code, ms}), else -1.
long long element(const Reply& r, std::size_t i) {
  if (r.type != Reply::Type::array || r.elements.size() <= i || r.elements[i].type != Reply::Type::integer) return -1;
  return r.elements[i].integer;
}

}  // namespace

RedisGate::RedisGate(RedisUrl url, RedisOptions redis, GateOptions options)
    : opt_(std::move(options)), id_(random_id()) {
  redis_ = std::make_unique<Redis>(loop_.get_executor(), std::move(url), std::move(redis));
  guard_.emplace(loop_.get_executor());
  thread_ = std::thread([this] { loop_.run(); });
  // Connect and load the library now: a broker that cannot be used is a start-up error.
  auto ready = asio::co_spawn(
      loop_,
      [this]() -> asio::awaitable<void> {
        const Reply r = co_await redis_->command(command_of("FUNCTION", "LOAD", "REPLACE", gate_library()));
        if (r.error()) throw BrokerError("broker " + redis_->url().redacted() + ": FUNCTION LOAD refused: " + r.str);
      },
      asio::use_future);
  try {
    ready.get();
  } catch (...) {
    guard_.reset();
    loop_.stop();
    thread_.join();
    throw;
  }
  asio::co_spawn(loop_, renew_loop(), asio::detached);
}

RedisGate::~RedisGate() {
  stopping_ = true;
  // Give back what is still held, bounded: a lease frees itself anyway.
  std::vector<std::pair<std::string, std::string>> held;
  {
    const std::lock_guard lock(mu_);
    for (const auto& [address, h] : hosts_)
      for (const std::string& holder : h.holders) held.emplace_back(address, holder);
  }
  if (!held.empty()) {
    auto done = asio::co_spawn(
        loop_,
        [this, held]() -> asio::awaitable<void> {
          for (const auto& [address, holder] : held) {
            (void)co_await redis_->command(command_of("FCALL", "ms_release", "1", key("slots:", address), holder));
          }
        },
        asio::use_future);
    (void)done.wait_for(std::chrono::seconds(1));
  }
  // Every coroutine on the loop must end before the connection and the loop go: shut the
  // connection (commands fail at once), stop the renewals, then let the loop run out of work.
  asio::post(loop_, [this] {
    redis_->shut_down();
    if (renew_timer_) renew_timer_->cancel();
  });
  guard_.reset();
  if (thread_.joinable()) thread_.join();
}

asio::awaitable<Reply> RedisGate::call(std::vector<std::string> args) {
  // Not a coroutine itself: the command runs on the broker loop, whichever loop asked, and the
  // answer resumes the caller on its own.
  return asio::co_spawn(loop_, attempts(std::move(args)), asio::use_awaitable);
}

asio::awaitable<Reply> RedisGate::attempts(std::vector<std::string> args) {
  // A broker that restarts comes back within seconds: ask again with back-off (100 ms, 200 ms, …
  // 1 s) for up to `patience`, then fail. One that restarted empty lost the library: load it again.
  const auto give_up = Clock::now() + opt_.patience;
  Millis backoff(100);
  for (;;) {
    try {
      Reply r = co_await redis_->command(args);
      if (!(r.error() && r.str.find("Function not found") != std::string::npos)) co_return r;
      const Reply loaded = co_await redis_->command(command_of("FUNCTION", "LOAD", "REPLACE", gate_library()));
      if (loaded.error() && loaded.str.find("already exists") == std::string::npos)
        throw BrokerError("broker " + redis_->url().redacted() + ": FUNCTION LOAD refused: " + loaded.str);
      continue;
    } catch (const BrokerError&) {
      if (Clock::now() >= give_up || stopping_) throw;
    }
    asio::steady_timer t(loop_, backoff);
    co_await t.async_wait(asio::use_awaitable);
    backoff = std::min(backoff * 2, Millis(1000));
  }
}

asio::awaitable<smtp::PolitenessGate::Slot> RedisGate::acquire(const std::string& address, smtp::Priority priority) {
  const auto ex = co_await asio::this_coro::executor;
  const std::string slots = key("slots:", address), tat = key("tat:", address), bo = key("bo:", address),
                    waits = opt_.prefix + "waits";
  const long long interval_ms =
      opt_.polite.host_rate > 0 ? std::max<long long>(1, static_cast<long long>(1000.0 / opt_.polite.host_rate)) : 0;
  const std::string holder = id_ + ":" + std::to_string(next_holder_++);
  {
    const std::lock_guard lock(mu_);
    ++hosts_[address].waiting;
  }
  struct Waiting {
    RedisGate& g;
    const std::string& a;
    ~Waiting() {
      const std::lock_guard lock(g.mu_);
      --g.hosts_[a].waiting;
      g.forget_if_idle(a);
    }
  } waiting{*this, address};
  for (;;) {
    const Reply r = co_await call(command_of("FCALL", "ms_acquire", "4", slots, tat, bo, waits, holder,
                                             std::to_string(opt_.polite.host_concurrency),
                                             std::to_string(opt_.lease.count()), std::to_string(interval_ms), address));
    if (r.error()) throw BrokerError("broker: ms_acquire: " + r.str);
    const long long code = element(r, 0), ms = element(r, 1);
    if (code == 1) {
      const std::lock_guard lock(mu_);
      Host& h = hosts_[address];
      h.holders.push_back(holder);
      peak_ = std::max(peak_, h.holders.size());
      co_return Slot(this, address, priority);
    }
    if (code == 2) {
      // In back-off at the broker (another process had a 421): no slot; the session moves on.
      const std::lock_guard lock(mu_);
      hosts_[address].backoff_until = Clock::now() + Millis(ms);
      co_return Slot();
    }
    // Full, or the rate spacing: ask again then (a little jitter spreads the askers out).
    unsigned char j = 0;
    (void)RAND_bytes(&j, 1);
    const Millis wait = std::min(opt_.poll, ms > 0 ? Millis(ms) : opt_.poll) + Millis(j % 16);
    asio::steady_timer t(ex, wait);
    co_await t.async_wait(asio::use_awaitable);
  }
}

void RedisGate::release(const std::string& address, smtp::Priority /*priority*/) {
  std::string holder;
  {
    const std::lock_guard lock(mu_);
    const auto it = hosts_.find(address);
    if (it == hosts_.end() || it->second.holders.empty()) return;
    holder = std::move(it->second.holders.back());
    it->second.holders.pop_back();
    forget_if_idle(address);
  }
  if (stopping_) return;
  asio::co_spawn(
      loop_,
      [this, k = key("slots:", address), holder]() -> asio::awaitable<void> {
        try {
          (void)co_await redis_->command(command_of("FCALL", "ms_release", "1", k, holder));
        } catch (const BrokerError&) {  // NOLINT(bugprone-empty-catch): the lease expires by itself
        }
      },
      asio::detached);
}

void RedisGate::back_off(const std::string& address) {
  {
    const std::lock_guard lock(mu_);
    hosts_[address].backoff_until = Clock::now() + opt_.polite.backoff;
  }
  if (opt_.polite.backoff.count() <= 0) return;
  asio::co_spawn(
      loop_,
      [this, k = key("bo:", address)]() -> asio::awaitable<void> {
        try {
          (void)co_await redis_->command(
              command_of("FCALL", "ms_backoff", "1", k, std::to_string(opt_.polite.backoff.count())));
        } catch (const BrokerError&) {  // NOLINT(bugprone-empty-catch): the local back-off still holds here
        }
      },
      asio::detached);
}

std::chrono::milliseconds RedisGate::backoff_left(const std::string& address) const {
  const std::lock_guard lock(mu_);
  const auto it = hosts_.find(address);
  if (it == hosts_.end()) return Millis(0);
  return std::max(Millis(0), std::chrono::ceil<Millis>(it->second.backoff_until - Clock::now()));
}

void RedisGate::for_each_busy(const std::function<void(const std::string&, std::size_t, std::size_t)>& f) const {
  const std::lock_guard lock(mu_);
  for (const auto& [address, h] : hosts_)
    if (!h.holders.empty() || h.waiting > 0) f(address, h.holders.size(), h.waiting);
}

std::size_t RedisGate::peak() const {
  const std::lock_guard lock(mu_);
  return peak_;
}

std::size_t RedisGate::hosts() const {
  const std::lock_guard lock(mu_);
  return hosts_.size();
}

void RedisGate::forget_if_idle(const std::string& address) {
  const auto it = hosts_.find(address);
  if (it != hosts_.end() && it->second.holders.empty() && it->second.waiting == 0 &&
      it->second.backoff_until <= Clock::now())
    hosts_.erase(it);
}

asio::awaitable<void> RedisGate::renew_loop() {
  renew_timer_.emplace(loop_);
  while (!stopping_) {
    renew_timer_->expires_after(std::max(Millis(10), opt_.lease / 3));
    auto [ec] = co_await renew_timer_->async_wait(asio::as_tuple(asio::use_awaitable));
    if (ec || stopping_) break;
    std::vector<std::pair<std::string, std::string>> held;
    {
      const std::lock_guard lock(mu_);
      for (const auto& [address, h] : hosts_)
        for (const std::string& holder : h.holders) held.emplace_back(address, holder);
    }
    for (const auto& [address, holder] : held) {
      try {
        const Reply r = co_await redis_->command(
            command_of("FCALL", "ms_renew", "1", key("slots:", address), holder, std::to_string(opt_.lease.count())));
        if (!r.error() && r.type == Reply::Type::integer && r.integer == 0) {
          // Released meanwhile (the slot left our list after the copy), or lost at the broker.
          const std::lock_guard lock(mu_);
          const auto it = hosts_.find(address);
          if (it != hosts_.end() && std::find(it->second.holders.begin(), it->second.holders.end(), holder) !=
                                        it->second.holders.end())
            ++lost_;
        }
      } catch (const BrokerError&) {  // NOLINT(bugprone-empty-catch): the next round tries again
      }
    }
  }
}

}  // namespace mailsift::broker
