// The ordered worker pool behind --threads (engine/ordered.hpp, engine/offline.hpp): blocks come
// back in submission order whatever order the workers finish them in, the blocks in flight stay
// bounded, a worker's exception comes back with its block, and each worker's own state is only
// ever touched by that worker (run under the tsan preset: it would report a race).
#include "engine/ordered.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "domain/knowledge.hpp"
#include "engine/offline.hpp"
#include "verdict/classify.hpp"
#include "verdict/render.hpp"

namespace mailsift::engine {
namespace {

struct Block {
  std::size_t id = 0;
  std::vector<int> in;
  std::vector<int> out;
  std::size_t worker = 0;
  std::size_t reuse = 0;  // times this Block object was submitted
};

// Both ways: workers only, and the owner working while it waits (one more worker index).
// With the owner working: one worker and a window of 8, so the owner finds queued blocks whenever
// the window is full (with 4 workers and 3 blocks in flight it would almost never run one).
void blocks_back_in_order(bool owner_works) {
  const std::size_t workers = owner_works ? 1 : 4, max_flight = owner_works ? 8 : 3;
  constexpr std::size_t kBlocks = 200;
  const std::size_t indices = workers + (owner_works ? 1 : 0);
  std::vector<std::size_t> per_worker(indices, 0);  // per-worker state: no lock, no atomic
  OrderedPool<Block> pool(
      workers, max_flight,
      [&per_worker](std::size_t w, Block& b) {
        // Later blocks often finish first: early ones sleep longer.
        if (b.id % 7 == 0) std::this_thread::sleep_for(std::chrono::microseconds(300));
        b.out.clear();
        for (int v : b.in) b.out.push_back(v * 2);
        b.worker = w;
        ++per_worker.at(w);
      },
      owner_works);
  EXPECT_EQ(pool.workers(), workers);
  EXPECT_EQ(pool.take(false), nullptr);  // nothing in flight
  std::size_t next_expected = 0, submitted = 0, max_seen = 0;
  auto check = [&](std::unique_ptr<Block> b) {
    ASSERT_NE(b, nullptr);
    EXPECT_EQ(b->id, next_expected) << "blocks out of order";
    ASSERT_EQ(b->out.size(), b->in.size());
    for (std::size_t i = 0; i < b->in.size(); ++i) EXPECT_EQ(b->out[i], b->in[i] * 2);
    EXPECT_LT(b->worker, indices);
    ++next_expected;
    pool.release(std::move(b));
  };
  while (submitted < kBlocks) {
    while (pool.full()) check(pool.take(true));
    std::unique_ptr<Block> b = pool.acquire();
    b->id = submitted++;
    ++b->reuse;
    b->in.assign(b->id % 50, static_cast<int>(b->id));  // empty blocks too
    pool.submit(std::move(b));
    max_seen = std::max(max_seen, pool.in_flight());
    while (auto done = pool.take(false)) check(std::move(done));
  }
  while (pool.in_flight() > 0) check(pool.take(true));
  EXPECT_EQ(next_expected, kBlocks);
  EXPECT_LE(max_seen, max_flight);
  std::size_t total = 0;
  for (std::size_t n : per_worker) total += n;
  EXPECT_EQ(total, kBlocks);
  if (owner_works) {
    EXPECT_GT(per_worker.back(), 0u) << "the owner never ran a block";
  }
  // Blocks are recycled: no more Block objects than can be in flight at once, plus the one taken.
  std::size_t objects = 0;
  while (true) {
    std::unique_ptr<Block> b = pool.acquire();
    if (b->reuse == 0) break;
    ++objects;
  }
  EXPECT_LE(objects, max_flight + 1);
}

TEST(OrderedPool, GivesBlocksBackInSubmissionOrder) {
  blocks_back_in_order(false);
}
TEST(OrderedPool, GivesBlocksBackInSubmissionOrderWhenTheOwnerWorks) {
  blocks_back_in_order(true);
}

// With owner_works, take(true) runs the blocks no worker has started on the owner's thread, as
// worker index workers(): here the one worker is held on block 0 until the owner has run blocks 1
// to 3 (a pool whose owner only waited would leave them to the worker once its 10 s hold ran out).
TEST(OrderedPool, TheOwnerRunsQueuedBlocksWhileItWaits) {
  std::atomic<bool> started{false}, go{false};
  OrderedPool<Block> pool(
      1, 4,
      [&](std::size_t w, Block& b) {
        b.worker = w;
        if (b.id == 0) {
          started = true;
          const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
          while (!go.load() && std::chrono::steady_clock::now() < until) std::this_thread::yield();
        }
        if (b.id == 3) go = true;
      },
      /*owner_works=*/true);
  auto first = pool.acquire();
  first->id = 0;
  pool.submit(std::move(first));
  while (!started.load()) std::this_thread::yield();  // the worker holds block 0
  for (std::size_t i = 1; i < 4; ++i) {
    auto b = pool.acquire();
    b->id = i;
    pool.submit(std::move(b));
  }
  for (std::size_t i = 0; i < 4; ++i) {
    std::unique_ptr<Block> b = pool.take(true);
    ASSERT_NE(b, nullptr);
    EXPECT_EQ(b->id, i);
    EXPECT_EQ(b->worker, i == 0 ? 0u : 1u) << "block " << i;
  }
  EXPECT_EQ(pool.in_flight(), 0u);
}

TEST(OrderedPool, SubmitWhileFullIsALogicError) {
  std::atomic<bool> go{false};
  OrderedPool<Block> pool(1, 1, [&go](std::size_t, Block&) {
    while (!go.load()) std::this_thread::yield();
  });
  pool.submit(pool.acquire());
  EXPECT_TRUE(pool.full());
  EXPECT_THROW(pool.submit(pool.acquire()), std::logic_error);
  EXPECT_EQ(pool.take(false), nullptr);  // still working
  go = true;
  EXPECT_NE(pool.take(true), nullptr);
  EXPECT_FALSE(pool.full());
}

TEST(OrderedPool, RethrowsAWorkersExceptionInItsTurn) {
  OrderedPool<Block> pool(3, 8, [](std::size_t, Block& b) {
    if (b.id == 2) throw std::runtime_error("block 2 failed");
    b.out.assign(1, static_cast<int>(b.id));
  });
  for (std::size_t i = 0; i < 5; ++i) {
    auto b = pool.acquire();
    b->id = i;
    pool.submit(std::move(b));
  }
  EXPECT_EQ(pool.take(true)->id, 0u);
  EXPECT_EQ(pool.take(true)->id, 1u);
  EXPECT_THROW((void)pool.take(true), std::runtime_error);
  EXPECT_EQ(pool.take(true)->id, 3u);
  EXPECT_EQ(pool.take(true)->id, 4u);
  EXPECT_EQ(pool.in_flight(), 0u);
}

TEST(OrderedPool, DestroyedWithBlocksInFlight) {
  OrderedPool<Block> pool(2, 16, [](std::size_t, Block& b) { b.out.assign(1000, 1); });
  for (int i = 0; i < 16; ++i) pool.submit(pool.acquire());
  // The destructor stops and joins the workers; ASan/TSan check nothing is left behind.
}

TEST(ResolveThreads, ZeroIsTheMachinesCores) {
  EXPECT_GE(resolve_threads(0), 1u);
  const unsigned cores = std::thread::hardware_concurrency();
  if (cores > 0) {
    EXPECT_EQ(resolve_threads(0), cores);
  }
  EXPECT_EQ(resolve_threads(1), 1u);
  EXPECT_EQ(resolve_threads(3), 3u);
}

// The offline pool over one shared Knowledge: every worker's classifications and renders are the
// same bytes as one Classifier's, in order (and, under tsan, free of races on the shared lists,
// the PSL memo and the IDN cache).
TEST(OfflinePool, SameBytesAsOneClassifier) {
  const domain::Knowledge k;
  std::vector<std::string> inputs;
  const char* domains[] = {"gmail.com",      "mailinator.com", "gmial.com",   "example.com", "bücher.de",
                           "sub.acme.co.uk", "nosuchtld.zzzz", "[127.0.0.1]", "yahoo.co.jp", "xn--80ak6aa92e.com"};
  for (int i = 0; i < 20000; ++i)
    inputs.push_back((i % 13 == 0 ? "info" : "user" + std::to_string(i % 997)) + "@" +
                     (i % 17 == 0 ? std::string("d") + std::to_string(i) + ".com" : domains[i % 10]));
  inputs.emplace_back("bad@@x.com");
  inputs.emplace_back("\xff\xfe@x.com");
  std::string want;
  {
    Classifier c(k);
    Result r;
    for (const std::string& in : inputs) {
      c.classify(in, r);
      render::append_json(r, want);
      want.push_back('\n');
    }
  }
  struct TextBlock {
    std::vector<std::string> in;
    std::string out;
    Result r;
  };
  auto pool = make_offline_pool<TextBlock>(k, 4, [](Classifier& c, TextBlock& b) {
    b.out.clear();
    for (const std::string& in : b.in) {
      c.classify(in, b.r);
      render::append_json(b.r, b.out);
      b.out.push_back('\n');
    }
  });
  std::string got;
  auto write = [&](std::unique_ptr<TextBlock> b) {
    got += b->out;
    pool->release(std::move(b));
  };
  for (std::size_t i = 0; i < inputs.size();) {
    while (pool->full()) write(pool->take(true));
    auto b = pool->acquire();
    b->in.clear();
    for (std::size_t n = 0; n < 333 && i < inputs.size(); ++n) b->in.push_back(inputs[i++]);
    pool->submit(std::move(b));
  }
  while (pool->in_flight() > 0) write(pool->take(true));
  EXPECT_EQ(got.size(), want.size());
  EXPECT_TRUE(got == want);
}

}  // namespace
}  // namespace mailsift::engine
