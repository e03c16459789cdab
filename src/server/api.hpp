#pragma once
// The HTTP API's routes (docs/api.md): from a parsed request to a reply. Transport-free: the HTTP
// layer (server/http.hpp) reads requests and writes replies; everything between — keys, rate
// limits, parameters, the verifier and the jobs — is here. Entry points: Api::admit (from the
// request header: route, method, key, rate limits) and Api::handle (the whole request).
#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <functional>
#include <optional>
#include <string>

#include "server/auth.hpp"
#include "server/handler.hpp"
#include "server/jobs.hpp"
#include "server/log.hpp"
#include "server/metrics.hpp"
#include "server/options.hpp"
#include "server/verifier.hpp"

namespace mailsift::server {

class Api : public RequestHandler {
 public:
  Api(const ServeOptions& o, Verifier& verifier, JobRunner& jobs, Metrics& metrics, const Keys& keys, const Log& log);

  std::optional<Reply> admit(const HttpRequest& header, const std::string& client, Caller& who) override;
  boost::asio::awaitable<Reply> handle(const HttpRequest& req, const std::string& client, const Caller& who) override;
  /// An error reply with the JSON error body.
  [[nodiscard]] static Reply error(unsigned status, std::string_view code, std::string_view message);
  void shutting_down() { shutting_down_ = true; }
  /// Where the metrics read the number of open client connections from.
  void connections_gauge(std::function<std::size_t()> f) { connections_ = std::move(f); }

 private:
  boost::asio::awaitable<Reply> verify(const HttpRequest& req, const std::string& query);
  boost::asio::awaitable<Reply> create_job(const HttpRequest& req, const std::string& query, const Caller& who);
  Reply job_results(const store::JobRecord& job, const std::string& query);
  Reply metrics();
  Reply healthz();

  const ServeOptions& opt_;
  Verifier& verifier_;
  JobRunner& jobs_;
  Metrics& metrics_;
  const Keys& keys_;
  const Log& log_;
  RateLimiter limiter_;
  // Wrong keys per client address: a few, then 429 for a while (guessing keys is slowed to a crawl).
  RateLimiter auth_failures_;
  std::function<std::size_t()> connections_;
  std::chrono::steady_clock::time_point started_ = std::chrono::steady_clock::now();
  bool shutting_down_ = false;
};

}  // namespace mailsift::server
