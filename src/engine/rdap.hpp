#pragma once
// --rdap (docs/rdap.md): the registration of each row's registrable domain, joined to the verdict.
// A Network around the DNS/SMTP stages (local or a cluster's), so that nothing else knows about it:
// start() hands the batch to the inner stages and asks domain::RdapClient once per distinct
// registrable domain, each answer one more unit of the batch (Batch::open); finish() applies the
// inner stages' output, then the registration. An RDAP answer ends within --rdap-timeout of the
// batch's start however the server behaves, and a failed one only leaves `registration.error`.
#include <memory>

#include "domain/rdap.hpp"
#include "engine/network.hpp"

namespace mailsift::engine {

class RdapStage final : public Network {
 public:
  RdapStage(std::unique_ptr<Network> inner, std::unique_ptr<domain::RdapClient> client, Signal& signal)
      : inner_(std::move(inner)), client_(std::move(client)), signal_(signal) {}
  /// The client first: its threads end (each within --rdap-timeout) while the batches they write to
  /// still exist; then the inner stages.
  ~RdapStage() override { client_.reset(); }

  void start(Batch& b) override;
  void poll() override { inner_->poll(); }
  void wait_for(const Batch& b, Interrupt& in) override { inner_->wait_for(b, in); }
  void finish(Batch& b, std::size_t i, Result& r) override;
  void remember_catch_all(const std::string& domain, bool catch_all) override {
    inner_->remember_catch_all(domain, catch_all);
  }
  [[nodiscard]] std::unordered_map<std::string, bool> catch_all_answers() override {
    return inner_->catch_all_answers();
  }
  [[nodiscard]] std::string dns_stats() override;
  [[nodiscard]] std::string smtp_stats() override { return inner_->smtp_stats(); }
  [[nodiscard]] std::size_t loops() const noexcept override { return inner_->loops(); }
  [[nodiscard]] ClusterView cluster_view() override { return inner_->cluster_view(); }

 private:
  std::unique_ptr<Network> inner_;
  std::unique_ptr<domain::RdapClient> client_;
  Signal& signal_;
};

/// The RdapClient for o's --rdap-* options (throws std::invalid_argument without --rdap-bootstrap,
/// std::runtime_error for an unreadable bootstrap file).
[[nodiscard]] std::unique_ptr<domain::RdapClient> make_rdap_client(const cli::VerifyOptions& o);

}  // namespace mailsift::engine
