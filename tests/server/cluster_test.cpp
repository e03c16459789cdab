// `mailsift serve --broker` (server/cluster.hpp): the server as a cluster's coordinator, on a real
// redis-server started by the test, with workers on threads of this process, against the scripted
// fake DNS and SMTP servers. Jobs' checks go to the workers and come back with the verdicts the
// server alone gives; real-time checks stay in the server (they answer with no worker at all).
#include <gtest/gtest.h>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "broker/redis_server.hpp"
#include "engine/cluster_lab.hpp"
#include "server/metrics.hpp"
#include "server/verifier.hpp"
#include "verdict/render.hpp"

namespace mailsift::server {
namespace {

using namespace std::chrono_literals;
using mailsift::test::ClusterLab;
using mailsift::test::RedisServer;
using mailsift::test::Workers;

struct Answers {
  std::vector<std::string> rows;  // rendered, times as 0; "" while unanswered
  std::size_t answered = 0;
  std::string metrics;  // /metrics when the checks ended (or the wait did)
};

// Asks `in` at --level smtp as `how` says, runs the server's loop until every check has answered
// or `wait` has passed, and renders the answers in input order. `meanwhile` runs once, after the
// checks are asked.
Answers ask(const cli::VerifyOptions& o, const std::vector<std::string>& in, CheckOptions how,
            std::chrono::milliseconds wait = 60s, const std::function<void()>& meanwhile = {}) {
  boost::asio::io_context io{1};
  auto guard = boost::asio::make_work_guard(io);
  Metrics metrics;
  Verifier v(io, o, VerifierOptions{}, metrics);
  Answers a;
  a.rows.resize(in.size());
  for (std::size_t i = 0; i < in.size(); ++i)
    v.verify(in[i], Level::smtp, how, [&a, i](const std::shared_ptr<const Result>& r) {
      std::string s;
      render::append_json(*r, s);
      a.rows[i] = test::without_times(s);
      ++a.answered;
    });
  if (meanwhile) meanwhile();
  const auto until = std::chrono::steady_clock::now() + wait;
  while (a.answered < in.size() && std::chrono::steady_clock::now() < until) io.run_for(50ms);
  Gauges g;
  v.gauges(g);
  a.metrics = metrics.render(g);
  return a;
}

TEST(ServeCluster, JobsChecksGoToTheWorkersAndComeBackWithTheServersVerdicts) {
  ClusterLab lab;
  const std::vector<std::string> in = test::cluster_inputs();
  const Answers reference = ask(lab.options(), in, kJobItem);
  ASSERT_EQ(reference.answered, in.size());
  EXPECT_EQ(reference.metrics.find("mailsift_cluster_"), std::string::npos);  // no broker, no cluster metrics

  RedisServer redis;
  cli::VerifyOptions o = lab.options();
  o.broker = redis.url();
  Workers workers(o, 2);
  const Answers clustered = ask(o, in, kJobItem);
  ASSERT_EQ(clustered.answered, in.size());
  EXPECT_EQ(clustered.rows, reference.rows);
  EXPECT_GE(workers.stop(), 40u);  // every domain went out (one chunk or more each)
  EXPECT_NE(clustered.metrics.find("mailsift_broker_up 1\n"), std::string::npos) << clustered.metrics;
  EXPECT_NE(clustered.metrics.find("mailsift_cluster_addresses_out 0\n"), std::string::npos) << clustered.metrics;
  EXPECT_EQ(clustered.metrics.find("mailsift_cluster_chunks_published_total 0\n"), std::string::npos);
  // …and present, with every domain's chunk counted.
  const std::size_t at = clustered.metrics.find("\nmailsift_cluster_chunks_published_total ");
  ASSERT_NE(at, std::string::npos) << clustered.metrics;
  EXPECT_GE(std::stoul(clustered.metrics.substr(at + 41)), 40u) << clustered.metrics;
  // The host cap held across the two workers (each alone allows 2).
  EXPECT_EQ(lab.smtp.max_concurrent(), 2);
}

TEST(ServeCluster, RealTimeChecksStayInTheServerAndJobsWaitForAWorker) {
  ClusterLab lab;
  const std::vector<std::string> in = test::cluster_inputs();
  const Answers reference = ask(lab.options(), in, kRealtimeCheck);
  ASSERT_EQ(reference.answered, in.size());

  RedisServer redis;
  cli::VerifyOptions o = lab.options();
  o.broker = redis.url();
  // No worker: the real-time checks are answered all the same, by the server itself.
  const Answers realtime = ask(o, in, kRealtimeCheck);
  ASSERT_EQ(realtime.answered, in.size());
  EXPECT_EQ(realtime.rows, reference.rows);

  // A job's checks that need the network wait for a worker (the offline verdicts come at once)…
  const Answers waiting = ask(o, in, kJobItem, 1500ms);
  EXPECT_EQ(waiting.answered, 4u);  // the rows that are not addresses
  const std::string out = "mailsift_cluster_addresses_out " + std::to_string(in.size() - 4) + "\n";
  EXPECT_NE(waiting.metrics.find(out), std::string::npos) << waiting.metrics;
  // …and are answered once one starts.
  std::unique_ptr<Workers> workers;
  const Answers late = ask(o, in, kJobItem, 60s, [&] { workers = std::make_unique<Workers>(o, 1); });
  ASSERT_EQ(late.answered, in.size());
  EXPECT_EQ(late.rows, reference.rows);
}

}  // namespace
}  // namespace mailsift::server
