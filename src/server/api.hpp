#pragma once
// The HTTP API's routes (docs/api.md): from a parsed request to a reply. Transport-free: the HTTP
// layer (server/http.hpp) reads requests and writes replies; everything between — keys, rate
// limits, parameters, the verifier and the jobs — is here. Entry point: Api::handle.
#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>
#include <chrono>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "server/auth.hpp"
#include "server/jobs.hpp"
#include "server/log.hpp"
#include "server/metrics.hpp"
#include "server/options.hpp"
#include "server/verifier.hpp"

namespace mailsift::server {

using HttpRequest = boost::beast::http::request<boost::beast::http::string_body>;

struct Reply {
  unsigned status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
  /// A body too large to build at once (job results): called until it returns false, each call
  /// appending the next piece to its argument; sent with chunked transfer encoding.
  std::function<bool(std::string&)> stream;
};

class Api {
 public:
  Api(const ServeOptions& o, Verifier& verifier, JobRunner& jobs, Metrics& metrics,
      const Keys& keys, const Log& log);

  boost::asio::awaitable<Reply> handle(const HttpRequest& req, const std::string& client);
  /// An error reply with the JSON error body.
  [[nodiscard]] static Reply error(unsigned status, std::string_view code, std::string_view message);
  void shutting_down() { shutting_down_ = true; }

 private:
  struct Caller {
    const Key* key = nullptr;
    std::string owner;  // the key's id, or "" without keys
  };
  boost::asio::awaitable<Reply> verify(const HttpRequest& req, const std::string& query);
  Reply create_job(const HttpRequest& req, const std::string& query, const Caller& who);
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
  std::chrono::steady_clock::time_point started_ = std::chrono::steady_clock::now();
  bool shutting_down_ = false;
};

}  // namespace mailsift::server
