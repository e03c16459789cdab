#pragma once
// Every option of `mailsift serve` (docs/api.md), as parsed by CLI11 (cli/serve.cpp). Plain data.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "cli/options.hpp"

namespace mailsift::server {

struct ServeOptions {
  cli::VerifyOptions engine;  // --level (the default level of requests), DNS, SMTP and list options
  std::string listen = "127.0.0.1:8080";
  std::string tls_cert, tls_key;
  std::vector<std::string> api_keys;
  std::string api_keys_file;
  double rate_limit = 50, rate_burst = 100;
  std::string db = "mailsift.db";
  double job_retention = 7 * 86400.0;
  std::size_t job_concurrency = 500;
  std::size_t max_running_jobs = 4;
  bool log_addresses = false;
  std::string log_format = "text";  // --log-format text|json (server/log.hpp)
  bool quiet = false;
  bool hash_keys = false;
  std::string cache_file;
  double cache_ttl = 7 * 86400.0;
  std::size_t max_body = std::size_t{64} << 20;
  std::size_t max_job_size = 1'000'000;
  std::size_t max_body_total = std::size_t{256} << 20;  // bodies being read at once, in all
  std::uint64_t max_pending_per_key = 10'000'000;       // addresses of a key's unfinished jobs
  double header_timeout = 10, read_timeout = 30, idle_timeout = 60;
  std::size_t max_connections = 1024;
  std::size_t max_connections_per_client = 64;
  double verify_timeout = 10, max_timeout = 120;
  double drain_timeout = 10;  // --drain-timeout: seconds SIGTERM waits for requests in progress
  double result_ttl = 600;
  std::size_t result_cache_bytes = std::size_t{64} << 20;
  double realtime_reserve = 10;  // percent of DNS query and SMTP session slots kept for /v1/verify
  bool allow_private_callbacks = false;
};

}  // namespace mailsift::server
