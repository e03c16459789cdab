// --broker (engine/remote.hpp) and `mailsift worker` (engine/worker.hpp): a coordinator and its
// workers on a real redis-server started by the test (tests/broker/redis_server.hpp), against the
// scripted fake DNS and SMTP servers on 127.0.0.1. The output must be that of one process without
// a broker, whatever happens to a worker or to the broker; the per-MX cap holds across workers,
// counted by the server.
#include <gtest/gtest.h>

// The scripted replies are aggregates that leave defaulted members out on purpose.
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

#include <atomic>
#include <boost/asio/executor_work_guard.hpp>
#include <chrono>
#include <functional>
#include <future>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "broker/link.hpp"
#include "broker/queue.hpp"
#include "broker/redis_server.hpp"
#include "engine/cluster_lab.hpp"
#include "engine/engine.hpp"
#include "engine/worker.hpp"
#include "smtp/fake_smtp.hpp"
#include "verdict/render.hpp"

namespace mailsift::engine {
namespace {

using namespace mailsift::testing;
using namespace std::chrono_literals;
using mailsift::test::FakeReply;
using mailsift::test::FakeSmtpServer;
using mailsift::test::RedisServer;
using mailsift::test::without_times;
using mailsift::test::Workers;
using Lab = mailsift::test::ClusterLab;
const auto inputs = mailsift::test::cluster_inputs;

// What a worker killed with -9 leaves: `count` chunks taken by consumer `name`, never finished.
broker::Reply take_and_die(const cli::VerifyOptions& o, const std::string& name, int count) {
  broker::Link dead(broker::parse_redis_url(o.broker), {});
  return dead.run(broker::command_of("XREADGROUP", "GROUP", "w", name, "COUNT", std::to_string(count), "STREAMS",
                                     "ms:work", ">"));
}

// The rendered results in delivery order (times set to 0). A watchdog interrupts a run that has not
// ended within a minute: a lost chunk fails the test instead of hanging it.
std::string verify(const cli::VerifyOptions& o, const std::vector<std::string>& in,
                   const std::function<void()>& after_submit = {}, std::size_t batch = 17) {
  Engine e(o);
  std::atomic<bool> late{false};
  e.interrupt_on(&late, 0ms);
  std::atomic<bool> done{false};
  std::thread watchdog([&] {
    for (int i = 0; i < 600 && !done; ++i) std::this_thread::sleep_for(100ms);
    late = true;
  });
  std::string out;
  try {
    for (const std::string& a : in) {
      e.add(a);
      if (e.pending() == batch) e.submit();  // several batches, many chunks
    }
    e.submit();
    if (after_submit) after_submit();
    while (e.deliver([&out](std::size_t, Result& r) {
      render::append_json(r, out);
      out += '\n';
    }, true)) {
    }
  } catch (const Engine::Interrupted&) {
    out += "interrupted: a chunk was lost\n";
  }
  done = true;
  watchdog.join();
  return without_times(out);
}

TEST(Cluster, TwoWorkersGiveTheOutputOfOneProcessAndShareTheHostCap) {
  Lab lab;
  const std::vector<std::string> in = inputs();
  const std::string reference = verify(lab.options(), in);
  EXPECT_EQ(lab.smtp.max_concurrent(), 2);
  ASSERT_NE(reference.find(R"("reason":"mailbox_not_found")"), std::string::npos);

  RedisServer redis;
  cli::VerifyOptions o = lab.options();
  o.broker = redis.url();
  Workers workers(o, 2);
  const std::string clustered = verify(o, in);
  EXPECT_EQ(clustered, reference);
  EXPECT_GT(workers.stop(), 40u);  // at least a chunk per domain
  // Each worker alone would allow 2 connections to the server: the broker's gate keeps it at 2.
  EXPECT_EQ(lab.smtp.max_concurrent(), 2);
}

// Workers outlive runs, but what their stages remember (catch-all answers, the DNS cache) does not
// cross from one run into the next: each run's output is that of a fresh process.
TEST(Cluster, EachRunOnLongLivedWorkersIsAFreshRun) {
  Lab lab;
  const std::vector<std::string> in = inputs();
  cli::VerifyOptions o = lab.options();
  o.no_catch_all = false;
  auto tests = [](const std::string& out) {
    std::size_t n = 0;
    for (std::size_t at = out.find("\"catch_all_test\":{"); at != std::string::npos;
         at = out.find("\"catch_all_test\":{", at + 1))
      ++n;
    return n;
  };
  // One batch: each domain is one chunk, on one worker (two chunks of a domain in flight at once on
  // two workers may both test it: docs/cluster.md).
  const std::size_t alone = tests(verify(o, in, {}, in.size()));
  ASSERT_EQ(alone, 40u);
  RedisServer redis;
  o.broker = redis.url();
  Workers workers(o, 2);
  EXPECT_EQ(tests(verify(o, in, {}, in.size())), alone);
  EXPECT_EQ(tests(verify(o, in, {}, in.size())), alone);  // not answered from the first run's tests
  // The shared answers are there, named by the domain's hash: no domain name among the keys.
  broker::Link admin(broker::parse_redis_url(o.broker), {});
  const broker::Reply keys = admin.run(broker::command_of("KEYS", "*"));
  std::size_t shared = 0;
  for (const broker::Reply& k : keys.elements) {
    EXPECT_EQ(k.str.find("mailsift-fake"), std::string::npos) << k.str;
    if (k.str.starts_with("ms:ca:")) ++shared;
  }
  EXPECT_EQ(shared, 80u);  // 40 domains, two runs
}

TEST(Cluster, ADeadWorkersChunksAreTakenOverAfterItsLease) {
  Lab lab;
  const std::vector<std::string> in = inputs();
  const std::string reference = verify(lab.options(), in);
  RedisServer redis;
  cli::VerifyOptions o = lab.options();
  o.broker = redis.url();
  std::unique_ptr<Workers> workers;
  const std::string clustered = verify(o, in, [&] {
    // A worker that takes 10 chunks and dies (as with kill -9: it never acknowledges nor renews).
    const broker::Reply r = take_and_die(o, "dead", 10);
    ASSERT_EQ(r.type, broker::Reply::Type::array);
    ASSERT_EQ(r.elements.at(0).elements.at(1).elements.size(), 10u);
    workers = std::make_unique<Workers>(o, 1);
  });
  EXPECT_EQ(clustered, reference);
  workers.reset();
  // Nothing is left in the queue.
  broker::Link check(broker::parse_redis_url(o.broker), {});
  EXPECT_EQ(check.run(broker::command_of("XLEN", "ms:work")).integer, 0);
}

// What no worker can use (another version's message, damage, an entry too big to take) goes to the
// dead-letter stream with a message; the worker goes on, and the run's output is unchanged.
TEST(Cluster, MalformedAndOversizedEntriesAreDeadLetteredNotFatal) {
  Lab lab;
  const std::vector<std::string> in = inputs();
  const std::string reference = verify(lab.options(), in);
  RedisServer redis;
  cli::VerifyOptions o = lab.options();
  o.broker = redis.url();
  broker::Link admin(broker::parse_redis_url(o.broker), {});
  auto add = [&admin](std::vector<std::string> fields) {
    std::vector<std::string> c = broker::command_of("XADD", "ms:work", "*");
    c.insert(c.end(), fields.begin(), fields.end());
    ASSERT_EQ(admin.run(std::move(c)).type, broker::Reply::Type::string);
  };
  add(broker::command_of("foo", "bar"));                                                    // not a chunk
  add(broker::command_of("v", "1", "run", "r", "chunk", "1", "level", "smtp", "domain", "d.example", "items", "x y"));
  add(broker::command_of("v", "1", "run", "r", "chunk", "2", "level", "smtp", "domain", "d.example", "items",
                         std::string(2 << 20, 'a')));                                       // over kMaxChunkBytes
  add(broker::command_of("v", "1", "run", "r", "chunk", "3", "level", "smtp", "domain", "d.example", "items",
                         std::string(8 << 20, 'b')));                                       // over the reply bound
  Workers workers(o, 1);  // 4 chunks at once: a reply bound of 6 MiB
  EXPECT_EQ(verify(o, in), reference);
  workers.stop();
  EXPECT_EQ(admin.run(broker::command_of("XLEN", "ms:dead")).integer, 4);
  EXPECT_EQ(admin.run(broker::command_of("XLEN", "ms:work")).integer, 0);
}

// A chunk whose every holder stopped before finishing it (as a crash on some input would do) is not
// handed out forever: at its 5th delivery its rows get check_failed, it goes to the dead-letter
// stream, and every other row of the run is as without a broker.
TEST(Cluster, AChunkThatOutlivesEveryHolderIsGivenUpNotHandedOutForever) {
  Lab lab;
  const std::vector<std::string> in = inputs();
  const std::string reference = verify(lab.options(), in);
  RedisServer redis;
  cli::VerifyOptions o = lab.options();
  o.broker = redis.url();
  std::string domain;
  std::unique_ptr<Workers> workers;
  const std::string clustered = verify(o, in, [&] {
    const broker::Reply r = take_and_die(o, "dead0", 1);
    broker::Link dead(broker::parse_redis_url(o.broker), {});
    ASSERT_EQ(r.type, broker::Reply::Type::array);
    const broker::Reply& entry = r.elements.at(0).elements.at(1).elements.at(0);
    domain = std::string(broker::field_of(entry.elements.at(1), "domain").value_or(""));
    // Three more holders that die with it: delivered 4 times, the worker's takeover is the 5th.
    for (int i = 1; i <= 3; ++i)
      (void)dead.run(broker::command_of("XCLAIM", "ms:work", "w", "dead" + std::to_string(i), "0", entry.elements.at(0).str));
    workers = std::make_unique<Workers>(o, 1);
  });
  ASSERT_FALSE(domain.empty());
  auto lines_of = [](const std::string& text) {
    std::vector<std::string> out;
    for (std::size_t a = 0, b = 0; a < text.size(); a = b + 1) {
      b = text.find('\n', a);
      out.push_back(text.substr(a, b - a));
    }
    return out;
  };
  const std::vector<std::string> want = lines_of(reference), got = lines_of(clustered);
  ASSERT_EQ(got.size(), want.size());
  std::size_t failed = 0;
  for (std::size_t i = 0; i < got.size(); ++i) {
    if (got[i].find("@" + domain + "\"") != std::string::npos) {
      EXPECT_NE(got[i].find(R"("status":"unknown","reason":"check_failed")"), std::string::npos) << got[i];
      ++failed;
    } else {
      EXPECT_EQ(got[i], want[i]);
    }
  }
  EXPECT_GE(failed, 1u);
  workers.reset();
  broker::Link admin(broker::parse_redis_url(o.broker), {});
  EXPECT_EQ(admin.run(broker::command_of("XLEN", "ms:dead")).integer, 1);
  EXPECT_EQ(admin.run(broker::command_of("XLEN", "ms:work")).integer, 0);
}

// kill -9 of the broker in the middle of a run, restarted on its files (AOF) or empty: the run goes
// on and its output is unchanged.
void broker_restart(bool empty) {
  Lab lab;
  const std::vector<std::string> in = inputs();
  const std::string reference = verify(lab.options(), in);
  RedisServer redis;
  cli::VerifyOptions o = lab.options();
  o.broker = redis.url();
  Workers workers(o, 2);
  const std::string clustered = verify(o, in, [&] {
    std::this_thread::sleep_for(300ms);
    redis.kill();
    if (empty) redis.wipe();
    std::this_thread::sleep_for(500ms);
    redis.start();
  });
  EXPECT_EQ(clustered, reference);
}

TEST(Cluster, TheBrokerKilledAndRestartedOnItsFilesLosesNothing) { broker_restart(false); }
TEST(Cluster, TheBrokerKilledAndRestartedEmptyLosesNothing) { broker_restart(true); }

TEST(Cluster, AnUnreachableBrokerIsAClearStartUpError) {
  cli::VerifyOptions o;
  o.level = "dns";
  o.broker = "redis://127.0.0.1:" + std::to_string(mailsift::test::free_tcp_port());
  try {
    Engine e(o);
    FAIL() << "no error";
  } catch (const broker::BrokerError& e) {
    EXPECT_NE(std::string(e.what()).find("127.0.0.1"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace mailsift::engine
