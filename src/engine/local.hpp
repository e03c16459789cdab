#pragma once
// The network stages in this process (the embedded default, and each `mailsift worker`): N shards,
// each an event loop with its own resolver, MX lookups and prober. A domain always goes to the
// same shard (a hash of its name), so its session queue, catch-all answer and greylisting state
// stay on one loop; what an MX address serves across domains (connection cap, rate, 421 back-off)
// is one PolitenessGate shared by every shard (a LocalGate, or the broker's RedisGate in a worker).
// With one shard and no `background`, the caller's thread runs the loop (no thread of its own).
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <deque>
#include <functional>
#include <memory>
#include <thread>
#include <utility>
#include <vector>

#include "dns/mail.hpp"
#include "dns/resolver.hpp"
#include "engine/network.hpp"
#include "smtp/politeness.hpp"
#include "smtp/prober.hpp"

namespace mailsift::engine {

class LocalNetwork final : public Network {
 public:
  /// `gate`: null for a LocalGate of o's --host-* settings. `background`: loops on threads of their
  /// own even with one shard (a worker's caller thread talks to the broker meanwhile).
  LocalNetwork(const cli::VerifyOptions& o, Signal& signal, std::shared_ptr<smtp::PolitenessGate> gate,
               bool background);
  ~LocalNetwork() override;

  void start(Batch& b) override;
  void poll() override;
  void wait_for(const Batch& b, Interrupt& in) override;
  void finish(Batch& b, std::size_t i, Result& r) override;
  void remember_catch_all(const std::string& domain, bool catch_all) override;
  [[nodiscard]] std::unordered_map<std::string, bool> catch_all_answers() override;
  [[nodiscard]] std::string dns_stats() override;
  [[nodiscard]] std::string smtp_stats() override;
  [[nodiscard]] std::size_t loops() const noexcept override { return shards_.size(); }

 private:
  // One event loop with its DNS and SMTP stages. Members in this order: the stages go before the
  // loop that their pending handlers belong to.
  struct Shard {
    boost::asio::io_context io{1};
    std::unique_ptr<dns::Resolver> resolver;
    std::unique_ptr<dns::MailLookup> mail;
    std::unique_ptr<smtp::Prober> prober;
    std::deque<std::pair<Batch*, std::size_t>> todo;  // domains waiting for a lookup slot, oldest first
    std::size_t lookups = 0;                          // lookups in flight (at most `concurrency`)
    std::size_t concurrency = 1;
    std::optional<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>> guard;
    std::thread thread;  // none when the caller's thread runs `io`
  };
  void launch(Shard& sh);
  bool probe(Shard& sh, Batch& b, std::size_t k);
  [[nodiscard]] Shard& shard_of(std::string_view domain);
  // Runs `f` on the shard's loop and waits for it (directly when the caller runs the loop).
  void run_on(Shard& sh, const std::function<void()>& f);
  void stop() noexcept;

  Signal& signal_;
  bool smtp_level_;
  std::shared_ptr<smtp::PolitenessGate> gate_;  // shared by every shard's prober
  std::vector<std::unique_ptr<Shard>> shards_;
  bool threaded_ = false;  // each shard runs on its own thread
};

}  // namespace mailsift::engine
