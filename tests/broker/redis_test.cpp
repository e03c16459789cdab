// The broker's Redis client and the politeness gate on Redis (src/broker/), against a real
// redis-server that each test starts on its own loopback port and directory (AOF on), and stops.
// Fails, never skips, when redis-server is missing: scripts/install-deps.sh installs it.
#include <gtest/gtest.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/use_future.hpp>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "broker/gate.hpp"
#include "broker/redis.hpp"
#include "broker/redis_server.hpp"

namespace mailsift::broker {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;

using mailsift::test::RedisServer;
std::uint16_t free_port() { return mailsift::test::free_tcp_port(); }

// Runs `f` (a coroutine) on a fresh io_context to the end and returns its value.
template <class T>
T run(std::function<asio::awaitable<T>(asio::io_context&)> f) {
  asio::io_context io;
  auto fut = asio::co_spawn(io, f(io), asio::use_future);
  io.run_for(20s);
  return fut.get();
}

// Variadic, not an initializer list: GCC 12 rejects braced lists inside co_await expressions.
template <class... Parts>
std::vector<std::string> cmd(Parts... parts) {
  std::vector<std::string> v;
  (v.emplace_back(parts), ...);
  return v;
}

TEST(RedisUrl, Parses) {
  RedisUrl u = parse_redis_url("redis://127.0.0.1:6380/3");
  EXPECT_FALSE(u.tls);
  EXPECT_EQ(u.host, "127.0.0.1");
  EXPECT_EQ(u.port, 6380);
  EXPECT_EQ(u.db, 3);
  EXPECT_EQ(u.password, "");
  u = parse_redis_url("rediss://worker:s%40cret@[::1]:6390");
  EXPECT_TRUE(u.tls);
  EXPECT_EQ(u.host, "::1");
  EXPECT_EQ(u.port, 6390);
  EXPECT_EQ(u.user, "worker");
  EXPECT_EQ(u.password, "s@cret");
  EXPECT_EQ(u.redacted(), "rediss://worker:***@[::1]:6390/0");
  u = parse_redis_url("redis://:pw@broker.example");
  EXPECT_EQ(u.user, "");
  EXPECT_EQ(u.password, "pw");
  EXPECT_EQ(u.port, 6379);
  for (const char* bad : {"http://x", "redis://", "redis://h:0", "redis://h:70000", "redis://h/16", "redis://h/x",
                          "redis://[::1", "redis://a:%zz@h", "redis://h h"})
    EXPECT_THROW((void)parse_redis_url(bad), std::invalid_argument) << bad;
  try {
    (void)parse_redis_url("redis://u:topsecret@h:99999");
  } catch (const std::invalid_argument& e) {
    EXPECT_EQ(std::string(e.what()).find("topsecret"), std::string::npos);
  }
}

TEST(Redis, CommandsAndReplies) {
  RedisServer server;
  const RedisUrl url = parse_redis_url(server.url("", 2));
  const auto replies = run<std::vector<Reply>>([&](asio::io_context& io) -> asio::awaitable<std::vector<Reply>> {
    Redis r(io.get_executor(), url);
    std::vector<Reply> out;
    out.push_back(co_await r.command(cmd("SET", "k", "v\r\n\0binary")));
    out.push_back(co_await r.command(cmd("GET", "k")));
    out.push_back(co_await r.command(cmd("GET", "missing")));
    out.push_back(co_await r.command(cmd("INCRBY", "n", "41")));
    out.push_back(co_await r.command(cmd("RPUSH", "l", "a", "b")));
    out.push_back(co_await r.command(cmd("LRANGE", "l", "0", "-1")));
    out.push_back(co_await r.command(cmd("NOSUCHCOMMAND")));
    out.push_back(co_await r.command(cmd("CLIENT", "INFO")));
    co_return out;
  });
  ASSERT_EQ(replies.size(), 8u);
  EXPECT_EQ(replies[0].type, Reply::Type::status);
  EXPECT_EQ(replies[1].str, std::string("v\r\n"));  // the literal stops at its NUL; CR LF are bytes
  EXPECT_EQ(replies[2].type, Reply::Type::nil);
  EXPECT_EQ(replies[3].integer, 41);
  ASSERT_EQ(replies[5].elements.size(), 2u);
  EXPECT_EQ(replies[5].elements[1].str, "b");
  EXPECT_TRUE(replies[6].error());
  EXPECT_NE(replies[7].str.find("db=2"), std::string::npos) << replies[7].str;  // SELECT 2 was sent
}

TEST(Redis, AuthAndClearErrors) {
  RedisServer server({"--requirepass", "hunter2"});
  const auto ok = run<Reply>([&](asio::io_context& io) -> asio::awaitable<Reply> {
    Redis r(io.get_executor(), parse_redis_url(server.url(":hunter2@")));
    co_return co_await r.command(cmd("PING"));
  });
  EXPECT_EQ(ok.str, "PONG");
  const auto wrong = run<std::string>([&](asio::io_context& io) -> asio::awaitable<std::string> {
    Redis r(io.get_executor(), parse_redis_url(server.url(":wrong@")));
    try {
      (void)co_await r.command(cmd("PING"));
    } catch (const BrokerError& e) {
      co_return e.what();
    }
    co_return "no error";
  });
  EXPECT_NE(wrong.find("AUTH refused"), std::string::npos) << wrong;
  EXPECT_EQ(wrong.find("wrong@"), std::string::npos) << wrong;  // the password is never printed
  EXPECT_NE(wrong.find("***"), std::string::npos) << wrong;
}

TEST(Redis, UnreachableOrSilentBrokersFailWithinTheirTimeouts) {
  // Nothing listens: refused at once.
  const std::uint16_t closed = free_port();
  const auto refused = run<std::string>([&](asio::io_context& io) -> asio::awaitable<std::string> {
    Redis r(io.get_executor(), parse_redis_url("redis://127.0.0.1:" + std::to_string(closed)));
    try {
      (void)co_await r.command(cmd("PING"));
    } catch (const BrokerError& e) {
      co_return e.what();
    }
    co_return "no error";
  });
  EXPECT_NE(refused.find("refused"), std::string::npos) << refused;
  // A listener that never answers (the kernel completes the handshake): the command times out.
  asio::io_context lio;
  asio::ip::tcp::acceptor silent(lio, asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  const auto port = silent.local_endpoint().port();
  const auto start = std::chrono::steady_clock::now();
  const auto timed_out = run<std::string>([&](asio::io_context& io) -> asio::awaitable<std::string> {
    RedisOptions o;
    o.command_timeout = 300ms;
    Redis r(io.get_executor(), parse_redis_url("redis://127.0.0.1:" + std::to_string(port)), o);
    try {
      (void)co_await r.command(cmd("PING"));
    } catch (const BrokerError& e) {
      co_return e.what();
    }
    co_return "no error";
  });
  EXPECT_NE(timed_out.find("timed out"), std::string::npos) << timed_out;
  EXPECT_LT(std::chrono::steady_clock::now() - start, 10s);  // bounded (a hang would hit run's 20 s)
}

// Holds a slot of `gate` at `address` for a moment, counting holders across every gate.
asio::awaitable<void> hold(smtp::PolitenessGate* gate, std::string address, std::atomic<int>* now,
                           std::atomic<int>* most, std::atomic<int>* done) {
  smtp::PolitenessGate::Slot s = co_await gate->acquire(address);
  if (!s) co_return;
  const int n = now->fetch_add(1) + 1;
  int m = most->load();
  while (n > m && !most->compare_exchange_weak(m, n)) {
  }
  asio::steady_timer t(co_await asio::this_coro::executor, 20ms);
  co_await t.async_wait(asio::as_tuple(asio::use_awaitable));
  now->fetch_sub(1);
  done->fetch_add(1);
}

GateOptions gate_options(std::size_t cap, double rate = 0) {
  GateOptions g;
  g.polite.host_concurrency = cap;
  g.polite.host_rate = rate;
  g.polite.backoff = 60s;
  g.lease = 3s;
  g.poll = 10ms;
  return g;
}

TEST(RedisGate, OneCapAcrossProcessesAndLoops) {
  RedisServer server;
  const RedisUrl url = parse_redis_url(server.url());
  // Two gates: two worker processes as far as the broker can tell. Two loops on each.
  RedisGate a(url, {}, gate_options(3)), b(url, {}, gate_options(3));
  std::atomic<int> now{0}, most{0}, done{0};
  std::vector<std::unique_ptr<asio::io_context>> loops;
  for (int i = 0; i < 4; ++i) {
    loops.push_back(std::make_unique<asio::io_context>(1));
    for (int j = 0; j < 6; ++j)
      asio::co_spawn(*loops.back(), hold(i < 2 ? &a : &b, "192.0.2.1", &now, &most, &done), [](std::exception_ptr e) {
        if (e) std::rethrow_exception(e);
      });
  }
  std::vector<std::thread> threads;
  for (auto& io : loops) threads.emplace_back([&io] { io->run_for(30s); });
  for (auto& t : threads) t.join();
  EXPECT_EQ(done.load(), 24);
  EXPECT_EQ(most.load(), 3);  // reached, never passed
  EXPECT_EQ(a.hosts(), 0u);
  EXPECT_EQ(b.hosts(), 0u);
  EXPECT_EQ(a.leases_lost() + b.leases_lost(), 0u);
}

TEST(RedisGate, ADeadHoldersSlotFreesItselfAfterItsLease) {
  RedisServer server;
  const RedisUrl url = parse_redis_url(server.url());
  RedisGate gate(url, {}, gate_options(1));
  // A holder that died (killed -9: nobody renews or releases it) took the only slot, with a 1.5 s
  // lease, straight through the library (long enough that a slow sanitizer build still asks first).
  const Reply taken = run<Reply>([&](asio::io_context& io) -> asio::awaitable<Reply> {
    Redis r(io.get_executor(), url);
    co_return co_await r.command(cmd("FCALL", "ms_acquire", "4", "ms:slots:192.0.2.9", "ms:tat:192.0.2.9",
                                      "ms:bo:192.0.2.9", "ms:waits", "dead:1", "1", "1500", "0", "192.0.2.9"));
  });
  ASSERT_EQ(taken.elements.size(), 2u);
  ASSERT_EQ(taken.elements[0].integer, 1);
  const auto start = std::chrono::steady_clock::now();
  const bool got = run<bool>([&](asio::io_context&) -> asio::awaitable<bool> {
    smtp::PolitenessGate::Slot s = co_await gate.acquire("192.0.2.9");
    co_return static_cast<bool>(s);
  });
  EXPECT_TRUE(got);
  EXPECT_GE(std::chrono::steady_clock::now() - start, 1000ms);  // it did wait for the lease
  // The refused asks meanwhile are counted per address (`mailsift cluster status`).
  const Reply waits = run<Reply>([&](asio::io_context& io) -> asio::awaitable<Reply> {
    Redis r(io.get_executor(), url);
    co_return co_await r.command(cmd("HGET", "ms:waits", "192.0.2.9"));
  });
  EXPECT_GE(std::atoi(waits.str.c_str()), 1) << waits.str;
}

TEST(RedisGate, BackOffAndRateAreShared) {
  RedisServer server;
  const RedisUrl url = parse_redis_url(server.url());
  RedisGate a(url, {}, gate_options(5)), b(url, {}, gate_options(5, 10.0));
  a.back_off("192.0.2.7");
  // b learns of a's 421 from the broker: an empty Slot, and the back-off is known locally after.
  const bool empty = run<bool>([&](asio::io_context& io) -> asio::awaitable<bool> {
    asio::steady_timer t(io, 100ms);  // a's SET is asynchronous
    co_await t.async_wait(asio::use_awaitable);
    smtp::PolitenessGate::Slot s = co_await b.acquire("192.0.2.7");
    co_return !s;
  });
  EXPECT_TRUE(empty);
  EXPECT_TRUE(b.backing_off("192.0.2.7"));
  // --host-rate 10 at the broker: 4 connections to one address take at least 300 ms.
  const auto start = std::chrono::steady_clock::now();
  const int n = run<int>([&](asio::io_context&) -> asio::awaitable<int> {
    int k = 0;
    for (int i = 0; i < 4; ++i) {
      smtp::PolitenessGate::Slot s = co_await b.acquire("192.0.2.8");
      k += s ? 1 : 0;
    }
    co_return k;
  });
  EXPECT_EQ(n, 4);
  EXPECT_GE(std::chrono::steady_clock::now() - start, 300ms);
}

}  // namespace
}  // namespace mailsift::broker
