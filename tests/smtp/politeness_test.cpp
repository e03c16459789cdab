// Politeness (smtp/politeness.hpp): the awaitable Semaphore, the per-address LocalGate (cap, rate,
// back-off) on their own, and their effect on real sessions against the fake server.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <chrono>
#include <exception>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "smtp/fake_smtp.hpp"
#include "smtp/politeness.hpp"
#include "smtp/session_harness.hpp"

namespace mailsift::test {
namespace {

namespace asio = boost::asio;
using smtp::LocalGate;
using smtp::PolitenessGate;
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

// Lanes (issue 14, #8): realtime waiters go before urgent and normal ones, and with a reserve the
// others hold at most limit - reserve slots, so a slot stays free for a realtime holder even while
// others wait.
TEST(Politeness, SemaphoreKeepsItsReserveForRealtimeHolders) {
  using smtp::Priority;
  asio::io_context io;
  Semaphore sem(4, 1);
  std::vector<int> order;
  for (int id = 0; id < 3; ++id) asio::co_spawn(io, take(&sem, &order, id), rethrow);
  asio::co_spawn(io, take(&sem, &order, 3), rethrow);
  asio::co_spawn(io, take(&sem, &order, 4, Priority::urgent), rethrow);
  settle(io);
  EXPECT_EQ(order, (std::vector<int>{0, 1, 2}));  // 3 and 4 wait although a slot is free: the reserve
  EXPECT_EQ(sem.in_use(), 3u);
  EXPECT_EQ(sem.waiting(), 2u);

  asio::co_spawn(io, take(&sem, &order, 5, Priority::realtime), rethrow);  // takes the reserve at once
  asio::co_spawn(io, take(&sem, &order, 6, Priority::realtime), rethrow);  // full: waits, but first in line
  settle(io);
  EXPECT_EQ(order, (std::vector<int>{0, 1, 2, 5}));
  EXPECT_EQ(sem.in_use(), 4u);

  sem.release(Priority::normal);  // 0 ends: the realtime waiter overtakes the urgent and normal ones
  settle(io);
  EXPECT_EQ(order, (std::vector<int>{0, 1, 2, 5, 6}));
  sem.release(Priority::realtime);  // 5 ends: the others hold 2 of their 3, so the urgent one goes
  settle(io);
  EXPECT_EQ(order, (std::vector<int>{0, 1, 2, 5, 6, 4}));
  sem.release(Priority::realtime);  // 6 ends: a slot is free, but the others are at their bound
  settle(io);
  EXPECT_EQ(order.size(), 6u);
  EXPECT_EQ(sem.in_use(), 3u);
  EXPECT_EQ(sem.waiting(), 1u);
  sem.release(Priority::normal);  // 1 ends: now 3 may go
  settle(io);
  EXPECT_EQ(order, (std::vector<int>{0, 1, 2, 5, 6, 4, 3}));
  for (Priority p : {Priority::normal, Priority::urgent, Priority::normal}) sem.release(p);
  EXPECT_TRUE(sem.idle());
}

// A reserve as large as the limit still leaves the others one slot; without one (the default) they
// may take every slot.
TEST(Politeness, SemaphoreReserveLeavesTheOthersOneSlot) {
  asio::io_context io;
  Semaphore capped(2, 5), open(2);
  std::vector<int> a, b;
  for (int id = 0; id < 3; ++id) {
    asio::co_spawn(io, take(&capped, &a, id), rethrow);
    asio::co_spawn(io, take(&open, &b, id), rethrow);
  }
  settle(io);
  EXPECT_EQ(a, std::vector<int>{0});
  EXPECT_EQ(b, (std::vector<int>{0, 1}));
  capped.release();
  settle(io);
  EXPECT_EQ(a, (std::vector<int>{0, 1}));
}

asio::awaitable<void> enter_as(PolitenessGate* g, std::string address, smtp::Priority priority, int id, std::vector<int>* got,
                               std::vector<PolitenessGate::Slot>* held) {
  PolitenessGate::Slot s = co_await g->acquire(address, priority);
  got->push_back(id);
  held->push_back(std::move(s));
}

// Per address, a realtime session's connection goes before the waiting ones of every other
// priority; the slot it frees goes back to them.
TEST(Politeness, LocalGateServesRealtimeWaitersFirst) {
  using smtp::Priority;
  asio::io_context io;
  LocalGate gate({.host_concurrency = 1, .host_rate = 0, .backoff = std::chrono::seconds(60)});
  std::vector<int> got;
  std::vector<PolitenessGate::Slot> held;
  held.reserve(8);
  asio::co_spawn(io, enter_as(&gate, "192.0.2.1", Priority::normal, 0, &got, &held), rethrow);
  asio::co_spawn(io, enter_as(&gate, "192.0.2.1", Priority::normal, 1, &got, &held), rethrow);
  asio::co_spawn(io, enter_as(&gate, "192.0.2.1", Priority::urgent, 2, &got, &held), rethrow);
  asio::co_spawn(io, enter_as(&gate, "192.0.2.1", Priority::realtime, 3, &got, &held), rethrow);
  settle(io);
  EXPECT_EQ(got, std::vector<int>{0});
  for (std::size_t n = 2; n <= 4; ++n) {
    held.clear();  // the holder ends: the next in line gets the slot
    settle(io);
    ASSERT_EQ(got.size(), n);
  }
  EXPECT_EQ(got, (std::vector<int>{0, 3, 2, 1}));
  held.clear();
  EXPECT_EQ(gate.hosts(), 0u);
}

asio::awaitable<void> enter(PolitenessGate* g, std::string address, std::vector<std::string>* got,
                            std::vector<PolitenessGate::Slot>* held, std::vector<Clock::time_point>* at) {
  PolitenessGate::Slot s = co_await g->acquire(address);
  if (at != nullptr) at->push_back(Clock::now());
  got->push_back(address);
  held->push_back(std::move(s));
}

TEST(Politeness, LocalGateCapsEachAddressSeparately) {
  asio::io_context io;
  LocalGate gate({.host_concurrency = 2, .host_rate = 0, .backoff = std::chrono::seconds(60)});
  std::vector<std::string> got;
  std::vector<PolitenessGate::Slot> held;
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

TEST(Politeness, LocalGateRateSpacesConnections) {
  asio::io_context io;
  LocalGate gate({.host_concurrency = 10, .host_rate = 20.0, .backoff = std::chrono::seconds(60)});
  std::vector<std::string> got;
  std::vector<PolitenessGate::Slot> held;
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

TEST(Politeness, LocalGateBackOff) {
  asio::io_context io;
  LocalGate gate({.host_concurrency = 2, .host_rate = 0, .backoff = std::chrono::seconds(60)});
  EXPECT_FALSE(gate.backing_off("192.0.2.1"));
  gate.back_off("192.0.2.1");
  EXPECT_TRUE(gate.backing_off("192.0.2.1"));
  EXPECT_FALSE(gate.backing_off("192.0.2.2"));

  LocalGate none({.host_concurrency = 2, .host_rate = 0, .backoff = std::chrono::milliseconds(0)});
  none.back_off("192.0.2.1");
  EXPECT_FALSE(none.backing_off("192.0.2.1"));
}

// Several loops on their own threads share one LocalGate (--threads N): the cap on one address
// holds across them, every waiter is woken on its own loop, and nothing is lost.
asio::awaitable<void> hold_briefly(PolitenessGate* g, std::string address, std::atomic<int>* now,
                                   std::atomic<int>* most, std::atomic<int>* done) {
  PolitenessGate::Slot s = co_await g->acquire(address);
  const int n = now->fetch_add(1) + 1;
  int m = most->load();
  while (n > m && !most->compare_exchange_weak(m, n)) {
  }
  asio::steady_timer t(co_await asio::this_coro::executor, std::chrono::microseconds(300));
  co_await t.async_wait(asio::as_tuple(asio::use_awaitable));
  now->fetch_sub(1);
  done->fetch_add(1);
}

TEST(Politeness, LocalGateCapHoldsAcrossLoops) {
  LocalGate gate({.host_concurrency = 3, .host_rate = 0, .backoff = std::chrono::seconds(60)});
  constexpr int kLoops = 4;
  constexpr int kEach = 60;
  std::atomic<int> now{0}, most{0}, done{0}, other_done{0}, other_now{0}, other_most{0};
  std::vector<std::unique_ptr<asio::io_context>> loops;
  for (int i = 0; i < kLoops; ++i) {
    loops.push_back(std::make_unique<asio::io_context>(1));
    for (int j = 0; j < kEach; ++j) {
      asio::co_spawn(*loops.back(), hold_briefly(&gate, "192.0.2.1", &now, &most, &done), rethrow);
      if (j % 10 == 0)  // another address on the same loops: its own cap, not held up by the first
        asio::co_spawn(*loops.back(), hold_briefly(&gate, "192.0.2.2", &other_now, &other_most, &other_done), rethrow);
    }
  }
  std::vector<std::thread> threads;
  for (auto& io : loops) threads.emplace_back([&io] { io->run_for(kGuard); });
  for (auto& t : threads) t.join();
  EXPECT_EQ(done.load(), kLoops * kEach);
  EXPECT_EQ(other_done.load(), kLoops * kEach / 10);
  EXPECT_LE(most.load(), 3);
  EXPECT_GE(most.load(), 2);  // the loops did overlap at the address
  EXPECT_LE(other_most.load(), 3);
  EXPECT_EQ(gate.peak(), 3u);
  EXPECT_EQ(gate.hosts(), 0u);  // every slot given back
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

// The shape at the session level: bulk sessions held by a tarpit (connects, never greets)
// fill their share of the session cap, and a realtime session to a server that answers still
// connects and finishes while every bulk one is still waiting for its banner.
TEST(Politeness, RealtimeSessionFinishesWhileBulkSessionsHangAtATarpit) {
  FakeSmtpServer live;
  std::optional<FakeSmtpServer> tarpit(std::in_place, "127.0.0.2", live.port());
  tarpit->tarpit();
  auto o = probe_options(live.port());
  o.timeouts.banner = 600s;  // far beyond the guard: only the end of the test ends these sessions
  o.timeouts.session = 600s;
  auto polite = polite_options();
  polite.realtime_sessions = 1;
  Harness h(o, polite, 3);  // bulk may hold 2 sessions
  int bulk_done = 0;
  for (int i = 0; i < 4; ++i)
    asio::co_spawn(
        h.io,
        smtp::run_session(h.ctx, request({"u" + std::to_string(i) + "@example.test"}, false, {{"", "127.0.0.2"}})),
        [&](std::exception_ptr, smtp::SessionReport) { ++bulk_done; });
  std::optional<smtp::SessionReport> rt;
  auto req = request({"alice@example.test"}, false);
  req.priority = smtp::Priority::realtime;
  asio::co_spawn(h.io, smtp::run_session(h.ctx, std::move(req)), [&](std::exception_ptr e, smtp::SessionReport r) {
    if (!e) rt = std::move(r);
  });
  const auto guard = Clock::now() + kGuard;
  while (!rt && Clock::now() < guard) h.io.run_one_for(std::chrono::milliseconds(50));
  ASSERT_TRUE(rt.has_value()) << "the realtime session did not finish";
  EXPECT_EQ(code(rt->recipients.at(0).reason), code(Reason::mailbox_exists));
  EXPECT_EQ(bulk_done, 0);
  EXPECT_EQ(h.ctx.sessions().in_use(), 2u);   // the two bulk sessions at the tarpit
  EXPECT_EQ(h.ctx.sessions().waiting(), 2u);  // the other two bulk ones, kept out of the reserve
  EXPECT_EQ(live.connections(), 1);
  // The tarpit goes away (its connections close): every bulk session ends, none is left suspended
  // on a semaphore when the harness goes.
  tarpit.reset();
  while (bulk_done < 4 && Clock::now() < guard) h.io.run_one_for(std::chrono::milliseconds(50));
  EXPECT_EQ(bulk_done, 4);
  EXPECT_TRUE(h.ctx.sessions().idle());
}

}  // namespace
}  // namespace mailsift::test
