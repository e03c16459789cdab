// Politeness (smtp/politeness.hpp): the awaitable Semaphore, the per-address HostGate (cap, rate,
// back-off) on their own, and their effect on real sessions against the fake server.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <exception>
#include <string>
#include <vector>

#include "smtp/fake_smtp.hpp"
#include "smtp/politeness.hpp"
#include "smtp/session_harness.hpp"

namespace mailsift::test {
namespace {

namespace asio = boost::asio;
using smtp::HostGate;
using smtp::Semaphore;
using Clock = std::chrono::steady_clock;

void rethrow(const std::exception_ptr& e) {
  if (e) std::rethrow_exception(e);
}

// Runs ready handlers until none is left (the waiters stay parked).
void settle(asio::io_context& io) {
  io.restart();
  io.poll();
}

asio::awaitable<void> take(Semaphore* s, std::vector<int>* order, int id,
                           smtp::Priority priority = smtp::Priority::normal) {
  co_await s->acquire(priority);
  order->push_back(id);
}

TEST(Politeness, SemaphoreHandsTheSlotToTheOldestWaiter) {
  asio::io_context io;
  Semaphore sem(1);
  std::vector<int> order;
  for (int id = 0; id < 4; ++id) asio::co_spawn(io, take(&sem, &order, id), rethrow);
  settle(io);
  EXPECT_EQ(order, std::vector<int>{0});
  EXPECT_EQ(sem.in_use(), 1u);
  EXPECT_EQ(sem.waiting(), 3u);

  sem.release();  // to 1, the oldest waiter; the count does not drop in between
  EXPECT_EQ(sem.in_use(), 1u);
  settle(io);
  EXPECT_EQ(order, (std::vector<int>{0, 1}));
  EXPECT_EQ(sem.waiting(), 2u);

  // A newcomer queues behind the waiters, even right after a release.
  asio::co_spawn(io, take(&sem, &order, 4), rethrow);
  sem.release();
  settle(io);
  EXPECT_EQ(order, (std::vector<int>{0, 1, 2}));
  for (int i = 0; i < 2; ++i) {
    sem.release();
    settle(io);
  }
  EXPECT_EQ(order, (std::vector<int>{0, 1, 2, 3, 4}));
  EXPECT_EQ(sem.in_use(), 1u);
  EXPECT_FALSE(sem.idle());
  sem.release();
  EXPECT_TRUE(sem.idle());
  sem.release();  // one too many: no underflow
  EXPECT_EQ(sem.in_use(), 0u);
}

TEST(Politeness, SemaphoreServesUrgentWaitersFirstEachInOrder) {
  asio::io_context io;
  Semaphore sem(1);
  std::vector<int> order;
  asio::co_spawn(io, take(&sem, &order, 0), rethrow);  // holds the slot
  asio::co_spawn(io, take(&sem, &order, 1), rethrow);
  asio::co_spawn(io, take(&sem, &order, 2), rethrow);
  asio::co_spawn(io, take(&sem, &order, 3, smtp::Priority::urgent), rethrow);
  asio::co_spawn(io, take(&sem, &order, 4, smtp::Priority::urgent), rethrow);
  settle(io);
  EXPECT_EQ(order, std::vector<int>{0});
  EXPECT_EQ(sem.waiting(), 4u);
  for (int i = 0; i < 4; ++i) {
    sem.release();
    settle(io);
  }
  // The urgent ones overtake the normal ones that came before them, and keep their own order.
  EXPECT_EQ(order, (std::vector<int>{0, 3, 4, 1, 2}));
  // A free slot goes to an urgent newcomer at once, like to any other.
  sem.release();
  EXPECT_TRUE(sem.idle());
  asio::co_spawn(io, take(&sem, &order, 5, smtp::Priority::urgent), rethrow);
  settle(io);
  EXPECT_EQ(order.back(), 5);
}

TEST(Politeness, SemaphoreLimitZeroMeansOne) {
  asio::io_context io;
  Semaphore sem(0);
  std::vector<int> order;
  for (int id = 0; id < 2; ++id) asio::co_spawn(io, take(&sem, &order, id), rethrow);
  settle(io);
  EXPECT_EQ(order, std::vector<int>{0});
  sem.release();
  settle(io);
  EXPECT_EQ(order, (std::vector<int>{0, 1}));
}

asio::awaitable<void> enter(HostGate* g, std::string address, std::vector<std::string>* got,
                            std::vector<HostGate::Slot>* held, std::vector<Clock::time_point>* at) {
  HostGate::Slot s = co_await g->acquire(address);
  if (at != nullptr) at->push_back(Clock::now());
  got->push_back(address);
  held->push_back(std::move(s));
}

TEST(Politeness, HostGateCapsEachAddressSeparately) {
  asio::io_context io;
  HostGate gate(io.get_executor(), {.host_concurrency = 2, .host_rate = 0, .backoff = std::chrono::seconds(60)});
  std::vector<std::string> got;
  std::vector<HostGate::Slot> held;
  held.reserve(16);
  for (const char* a : {"192.0.2.1", "192.0.2.1", "192.0.2.1", "192.0.2.2"})
    asio::co_spawn(io, enter(&gate, a, &got, &held, nullptr), rethrow);
  settle(io);
  EXPECT_EQ(got, (std::vector<std::string>{"192.0.2.1", "192.0.2.1", "192.0.2.2"}));  // the third .1 waits
  EXPECT_EQ(gate.peak(), 2u);
  EXPECT_EQ(gate.hosts(), 2u);

  held.erase(held.begin());  // one .1 slot freed: the waiter gets it
  settle(io);
  EXPECT_EQ(got.size(), 4u);
  EXPECT_EQ(got.back(), "192.0.2.1");
  EXPECT_EQ(gate.peak(), 2u);

  held.clear();  // idle hosts without back-off or rate window are forgotten
  EXPECT_EQ(gate.hosts(), 0u);
}

TEST(Politeness, HostGateRateSpacesConnections) {
  asio::io_context io;
  HostGate gate(io.get_executor(), {.host_concurrency = 10, .host_rate = 20.0, .backoff = std::chrono::seconds(60)});
  std::vector<std::string> got;
  std::vector<HostGate::Slot> held;
  std::vector<Clock::time_point> at;
  held.reserve(16);
  const auto start = Clock::now();
  for (int i = 0; i < 5; ++i) asio::co_spawn(io, enter(&gate, "192.0.2.1", &got, &held, &at), rethrow);
  asio::co_spawn(io, enter(&gate, "192.0.2.2", &got, &held, &at), rethrow);  // another address: not held up
  io.run_for(kGuard);
  ASSERT_EQ(got.size(), 6u);
  EXPECT_EQ(got[0], "192.0.2.1");
  EXPECT_EQ(got[1], "192.0.2.2");  // granted at once, before .1's second (which waits 50 ms)
  // Five connections at 20/s: the fifth no sooner than 4/20 s after the start (a lower bound).
  EXPECT_GE(at.back() - start, std::chrono::milliseconds(200));
  for (std::size_t i = 1; i < at.size(); ++i) EXPECT_LE(at[i - 1], at[i]);
}

TEST(Politeness, HostGateBackOff) {
  asio::io_context io;
  HostGate gate(io.get_executor(), {.host_concurrency = 2, .host_rate = 0, .backoff = std::chrono::seconds(60)});
  EXPECT_FALSE(gate.backing_off("192.0.2.1"));
  gate.back_off("192.0.2.1");
  EXPECT_TRUE(gate.backing_off("192.0.2.1"));
  EXPECT_FALSE(gate.backing_off("192.0.2.2"));

  HostGate none(io.get_executor(), {.host_concurrency = 2, .host_rate = 0, .backoff = std::chrono::milliseconds(0)});
  none.back_off("192.0.2.1");
  EXPECT_FALSE(none.backing_off("192.0.2.1"));
}

TEST(Politeness, HostConcurrencyCapsSessionsToOneServer) {
  FakeSmtpServer server;
  server.on("RCPT", {"250 2.1.5 Ok\r\n", std::chrono::milliseconds(20)});  // sessions overlap
  auto polite = polite_options();
  polite.host_concurrency = 2;
  Harness h(probe_options(server.port()), polite, 100);
  std::vector<smtp::SessionRequest> reqs;
  for (int i = 0; i < 10; ++i) reqs.push_back(request({"user" + std::to_string(i) + "@example.test"}, false));
  const auto reports = h.run_all(std::move(reqs));
  ASSERT_EQ(reports.size(), 10u);
  for (const auto& r : reports) {
    ASSERT_EQ(r.recipients.size(), 1u);
    EXPECT_EQ(code(r.recipients[0].reason), code(Reason::mailbox_exists));
  }
  EXPECT_EQ(h.ctx.gate().peak(), 2u);
  EXPECT_EQ(server.connections(), 10);
  EXPECT_LE(server.max_concurrent(), 2);
  EXPECT_GE(server.max_concurrent(), 1);
  EXPECT_EQ(h.ctx.gate().hosts(), 0u);  // all released and forgotten
  EXPECT_TRUE(h.ctx.sessions().idle());
}

TEST(Politeness, SessionCapAcrossServers) {
  FakeSmtpServer a;
  FakeSmtpServer b("127.0.0.2", a.port());
  a.on("RCPT", {"250 2.1.5 Ok\r\n", std::chrono::milliseconds(20)});
  b.on("RCPT", {"250 2.1.5 Ok\r\n", std::chrono::milliseconds(20)});
  Harness h(probe_options(a.port()), polite_options(), 1);  // one session at a time, in all
  std::vector<smtp::SessionRequest> reqs;
  for (int i = 0; i < 6; ++i)
    reqs.push_back(request({"user" + std::to_string(i) + "@example.test"}, false,
                           {{"", i % 2 == 0 ? "127.0.0.1" : "127.0.0.2"}}));
  const auto reports = h.run_all(std::move(reqs));
  for (const auto& r : reports) EXPECT_EQ(code(r.recipients.at(0).reason), code(Reason::mailbox_exists));
  EXPECT_EQ(a.connections(), 3);
  EXPECT_EQ(b.connections(), 3);
  EXPECT_EQ(a.max_concurrent(), 1);
  EXPECT_EQ(b.max_concurrent(), 1);
  EXPECT_TRUE(h.ctx.sessions().idle());
}

TEST(Politeness, HostRateSpacesSessions) {
  FakeSmtpServer server;
  auto polite = polite_options();
  polite.host_rate = 20.0;
  Harness h(probe_options(server.port()), polite);
  std::vector<smtp::SessionRequest> reqs;
  for (int i = 0; i < 5; ++i) reqs.push_back(request({"user" + std::to_string(i) + "@example.test"}, false));
  const auto start = Clock::now();
  const auto reports = h.run_all(std::move(reqs));
  const auto took = Clock::now() - start;
  for (const auto& r : reports) EXPECT_EQ(code(r.recipients.at(0).reason), code(Reason::mailbox_exists));
  EXPECT_EQ(server.connections(), 5);
  EXPECT_GE(took, std::chrono::milliseconds(200));  // (5 - 1) / 20 s: a lower bound
}

}  // namespace
}  // namespace mailsift::test
