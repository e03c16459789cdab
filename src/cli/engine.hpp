#pragma once
// The verification engine behind every output path: inputs in, Results out in input order.
// Offline (--level syntax) each input is classified at once; at --level dns/smtp inputs gather in
// a batch, each distinct domain of the batch is looked up once, each domain's probe starts as soon
// as its lookup ends (one RCPT per distinct address), and the batch's results come out in order.
// One io_context, one thread. Entry points: Engine::add, Engine::run.
#include <atomic>
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "cli/options.hpp"
#include "dns/mail.hpp"
#include "dns/resolver.hpp"
#include "domain/knowledge.hpp"
#include "smtp/prober.hpp"
#include "verdict/classify.hpp"
#include "verdict/result.hpp"

namespace mailsift::cli {

[[nodiscard]] std::chrono::milliseconds seconds_to_ms(double s);
// The SMTP stage's settings from the command line (shared with `mailsift serve`). probe_options
// throws std::invalid_argument for a bad --proxy, --source-ip or --mail-from.
[[nodiscard]] smtp::ProbeOptions probe_options(const VerifyOptions& o);
[[nodiscard]] smtp::PolitenessOptions politeness_options(const VerifyOptions& o);
[[nodiscard]] smtp::RetryOptions retry_options(const VerifyOptions& o);
/// Raises the open-files soft limit so that `sessions` SMTP connections fit.
void raise_open_files_limit(std::size_t sessions);

class Engine {
 public:
  /// Throws std::invalid_argument for bad SMTP options (--proxy, --source-ip, --mail-from, --helo).
  explicit Engine(const VerifyOptions& o);

  /// Queues one input (surrounding blanks already trimmed); returns its position in the batch.
  std::size_t add(std::string_view input);
  /// True when the batch should be run now (its size bounds memory).
  [[nodiscard]] bool full() const noexcept { return batch_.size() >= batch_size_; }
  [[nodiscard]] std::size_t pending() const noexcept { return batch_.size(); }
  /// Verifies the batch and hands each Result to `sink` in input order, then empties the batch.
  void run(const std::function<void(std::size_t position, Result& r)>& sink);

  [[nodiscard]] bool network() const noexcept { return dns_level_; }
  /// The offline verdict alone (syntax and domain knowledge), now.
  void classify_offline(std::string_view input, Result& r) { classifier_.classify(input, r); }
  /// The SMTP prober (null below --level smtp): its catch-all answers feed and come from --cache.
  [[nodiscard]] smtp::Prober* prober() noexcept { return prober_.get(); }
  /// Ctrl-C: once `*flag` is set, run() gives the batch's in-flight lookups and probes `grace`
  /// more, then throws Interrupted (the batch's results are not delivered; with --state a resumed
  /// run does them again).
  void interrupt_on(const std::atomic<bool>* flag, std::chrono::milliseconds grace) {
    interrupt_ = flag;
    grace_ = grace;
  }
  struct Interrupted {};
  /// The counts behind --dns-stats and --smtp-stats, one line each (empty when the level is off).
  [[nodiscard]] std::string dns_stats() const;
  [[nodiscard]] std::string smtp_stats() const;

 private:
  struct Domain {
    std::string name;
    std::string registrable;
    bool literal = false;
    dns::DomainDnsPtr dns;
    std::vector<std::size_t> rows;  // the batch rows at this domain
  };
  void run_network();
  bool probe(std::size_t k);

  domain::Knowledge knowledge_;
  Classifier classifier_;
  bool dns_level_;
  bool smtp_level_;
  std::size_t concurrency_;
  std::size_t batch_size_;
  std::vector<std::string> batch_;
  std::vector<Result> results_;
  std::vector<std::size_t> slot_;
  std::vector<Domain> domains_;
  boost::asio::io_context io_{1};
  std::unique_ptr<dns::Resolver> resolver_;
  std::unique_ptr<dns::MailLookup> mail_;
  std::unique_ptr<smtp::Prober> prober_;
  std::vector<std::optional<smtp::AddressProbe>> probes_;
  std::size_t probing_ = 0;
  const std::atomic<bool>* interrupt_ = nullptr;
  std::chrono::milliseconds grace_{0};
};

}  // namespace mailsift::cli
