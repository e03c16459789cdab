#pragma once
// The network stages on a cluster (--broker, docs/cluster.md): this process is the coordinator.
// Each domain of a batch (split in chunks of at most broker::kChunkItems addresses) is published
// to the broker's work stream; `mailsift worker` processes look it up and probe it and send back
// each row's verdict (verdict/stored.hpp), which is applied here to the row classified offline:
// the output is the same as a run without --broker. The coordinator keeps the first verdict of a
// chunk and drops later ones (a reclaimed chunk can finish twice).
//
// A collector thread reads the results and, every two seconds, keeps the run's key alive and
// audits the chunks still out: a chunk whose stream entry is gone (the broker restarted and lost
// it) is published again. A broker down for longer than --broker-timeout fails the run.
#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "broker/link.hpp"
#include "broker/queue.hpp"
#include "engine/network.hpp"

namespace mailsift::engine {

class RemoteNetwork final : public Network {
 public:
  /// What a broker down for longer than --broker-timeout does: fails the run (`verify`), or is
  /// said on standard error and waited for (a long-lived server, whose jobs wait for it).
  enum class Outage : std::uint8_t { fail, wait };
  /// Connects and checks the broker (throws broker::BrokerError); loads nothing on it.
  RemoteNetwork(const cli::VerifyOptions& o, Signal& signal, Outage outage = Outage::fail);
  ~RemoteNetwork() override;

  void start(Batch& b) override;
  /// start() for several batches, published in one round trip.
  void start_all(const std::vector<Batch*>& batches);
  /// Chunks published and not finished.
  [[nodiscard]] std::size_t chunks_out();
  struct Counts {
    std::uint64_t published = 0, republished = 0, duplicates = 0, malformed = 0;
    bool broker_up = true;
  };
  [[nodiscard]] Counts counts();
  void wait_for(const Batch& b, Interrupt& in) override { signal_.wait(b, in); }
  void finish(Batch& b, std::size_t i, Result& r) override;
  void remember_catch_all(const std::string& domain, bool catch_all) override;
  [[nodiscard]] std::unordered_map<std::string, bool> catch_all_answers() override;
  [[nodiscard]] std::string dns_stats() override;
  [[nodiscard]] std::string smtp_stats() override;
  [[nodiscard]] std::size_t loops() const noexcept override { return 1; }
  [[nodiscard]] ClusterView cluster_view() override { return ClusterView{true, workers_alive_.load(), chunks_out()}; }

 private:
  using Clock = std::chrono::steady_clock;
  struct Out {  // a chunk published and not finished
    Batch* batch = nullptr;
    std::vector<std::size_t> rows;   // the batch rows it holds
    std::vector<std::string> fields;  // its stream entry, to publish it again
    std::string entry;                // its stream entry's id ("" until XADD answered)
    Clock::time_point published{};
  };
  // Adds b's chunks to out_ (under mu_) and returns their numbers.
  std::vector<std::uint64_t> prepare(Batch& b);
  // XADD commands for the chunks `numbers` (under mu_).
  std::vector<std::vector<std::string>> adds_for(const std::vector<std::uint64_t>& numbers);
  void collect();
  void take(const broker::Reply& entry);
  void tend(Clock::time_point now);
  void publish(std::vector<std::uint64_t> numbers);  // under no lock; reads out_ under mu_
  void sleep_for(std::chrono::milliseconds d);
  // The run key outlives a broker restart and a slow keep-alive; a dead coordinator's leftover
  // chunks are skipped by workers once it expires.
  [[nodiscard]] std::chrono::milliseconds run_ttl() const { return std::chrono::seconds(60) + 2 * lease_; }

  Signal& signal_;
  Outage outage_;
  std::atomic<bool> up_{true};
  std::atomic<std::size_t> workers_alive_{0};  // as of the last tend
  cli::VerifyOptions options_;
  broker::Keys keys_;
  std::string run_;
  std::string level_;
  std::chrono::milliseconds lease_;
  std::chrono::milliseconds give_up_;
  broker::Link pub_;  // the caller's thread: publishing
  broker::Link col_;  // the collector's thread
  std::mutex mu_;     // out_, answers_, the counts
  std::unordered_map<std::uint64_t, Out> out_;
  std::uint64_t next_chunk_ = 0;
  std::unordered_map<std::string, bool> answers_;  // catch-all answers seen in results
  std::uint64_t published_ = 0, republished_ = 0, duplicates_ = 0, malformed_ = 0;
  std::optional<Clock::time_point> alone_since_;  // collector: no live worker since
  Clock::time_point warned_{};                    // collector: the last "no worker" warning
  std::atomic<bool> stop_{false};
  std::thread collector_;
};

}  // namespace mailsift::engine
