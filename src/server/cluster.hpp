#pragma once
// The server as a cluster's coordinator (`mailsift serve --broker URL`, docs/cluster.md): the DNS
// and SMTP work of bulk jobs goes to `mailsift worker` processes as per-domain chunks, through
// engine::RemoteNetwork, the coordinator side that `verify --broker` uses too; each address's
// verdict comes back as a stored verdict (verdict/stored.hpp) for the Verifier to apply.
// Real-time checks stay in the server (a person waits; a queue behind a job's million addresses
// is no place for them), with the cluster's politeness gate.
//
// Threads: check() and every callback run on the server's loop. The broker's connections block,
// so they live on a thread of this class's own (publishing, starting and retiring runs); the
// collector of each run has its own (engine/remote.hpp). A job's addresses that arrive within
// kGather of each other at one domain go out as one chunk, so they share SMTP sessions.
//
// A run (one RemoteNetwork) per level; it is retired after VerifierOptions::catch_all_ttl (1 h) and
// a new one takes new work, so that the workers' per-run catch-all answers are asked again, as a
// long-running server does without a broker. A broker down for longer than --broker-timeout is
// logged and waited for: the jobs wait, their addresses are not lost or failed.
// Entry point: ClusterChecks::check.
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <vector>

#include "cli/options.hpp"
#include "engine/batch.hpp"

namespace mailsift::engine {
class RemoteNetwork;
}

namespace mailsift::server {

class ClusterChecks {
 public:
  /// Connects to the broker at once: throws broker::BrokerError when it cannot be used.
  ClusterChecks(boost::asio::io_context& io, const cli::VerifyOptions& o, std::chrono::seconds run_life);
  ~ClusterChecks();
  ClusterChecks(const ClusterChecks&) = delete;
  ClusterChecks& operator=(const ClusterChecks&) = delete;

  /// The worker's stored verdict of `input` (trimmed, classified offline as parseable; its domain
  /// is `domain`) at `level` ("dns" or "smtp"), handed to `done` later on the io_context.
  using Done = std::function<void(const std::string& verdict)>;
  void check(std::string_view input, std::string domain, const std::string& level, Done done);

  struct Stats {  // counts since start (for /metrics)
    std::uint64_t addresses_out = 0;  // sent to the cluster, verdict not yet back
    std::uint64_t chunks_out = 0;
    std::uint64_t published = 0, republished = 0, duplicates = 0, malformed = 0;
    bool broker_up = true;
  };
  /// On the server's loop.
  [[nodiscard]] Stats stats();

 private:
  // Addresses of one job lane at one domain waiting for kGather to pass.
  struct Waiting {
    engine::Inputs inputs;
    std::vector<Done> done;
  };
  struct Flight {  // a batch out: its callbacks (the server's loop only)
    std::unique_ptr<engine::Batch> batch;
    std::vector<Done> done;
  };
  struct Run;
  void flush();
  void finished(engine::Batch* b);  // on the server's loop
  void publisher();                 // the broker's thread
  Run& run_for(const std::string& level, std::chrono::steady_clock::time_point now);  // the broker's thread

  boost::asio::io_context& io_;
  cli::VerifyOptions options_;
  std::chrono::seconds run_life_;
  // The server's loop only:
  std::map<std::pair<std::string, std::string>, Waiting> waiting_;  // (level, domain)
  boost::asio::steady_timer gather_;
  bool armed_ = false;
  std::unordered_map<engine::Batch*, Flight> flight_;
  std::uint64_t addresses_out_ = 0;
  // Handed to the broker's thread:
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::pair<std::string, engine::Batch*>> ready_;  // (level, batch) to publish
  bool stop_ = false;
  // Written by the broker's thread under mu_ (read by stats()); a level's current run is its
  // youngest, the others are retired and go once their last batch is back.
  std::vector<std::unique_ptr<Run>> runs_;
  Stats gone_;  // the counts of runs retired and gone
  std::shared_ptr<int> alive_ = std::make_shared<int>(0);  // posted callbacks outliving this skip
  std::thread thread_;
};

}  // namespace mailsift::server
