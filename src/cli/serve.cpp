// `mailsift serve`: its options (docs/api.md). The server itself is src/server/.
#include "cli/commands.hpp"

namespace mailsift::cli {

CLI::App* add_serve_command(CLI::App& app, server::ServeOptions& o) {
  CLI::App* s = app.add_subcommand("serve", "Run the HTTP API: real-time checks and bulk jobs (docs/api.md)");
  add_engine_options(s, o.engine);
  // --broker: jobs' DNS and SMTP work on a cluster's workers (docs/cluster.md)
  add_broker_options(s, o.engine, false);
  s->add_option("--listen", o.listen, "HOST:PORT or [IPV6]:PORT to listen on (a non-loopback address needs an API key)")
      ->capture_default_str();
  s->add_option("--tls-cert", o.tls_cert, "PEM certificate chain: serve HTTPS (TLS 1.2+, 1.3 preferred)");
  s->add_option("--tls-key", o.tls_key, "PEM private key of --tls-cert");
  s->add_option("--api-key", o.api_keys, "An API key clients send as 'Authorization: Bearer KEY' (repeatable)")
      ->allow_extra_args(false);
  s->add_option("--api-keys-file", o.api_keys_file,
                "File of API keys as SHA-256 hex hashes, one per line, optionally 'name=NAME rate=N'");
  s->add_option("--rate-limit", o.rate_limit,
                "Requests per second per API key (per client address without keys); 0: no limit")
      ->check(CLI::Range(0.0, 1e9))
      ->capture_default_str();
  s->add_option("--rate-burst", o.rate_burst, "Requests a key may send at once before --rate-limit applies")
      ->check(CLI::Range(1.0, 1e9))
      ->capture_default_str();
  s->add_option("--db", o.db, "SQLite database of jobs and their results (created if missing)")->capture_default_str();
  s->add_option("--job-retention", o.job_retention, "Seconds a finished job and its results are kept")
      ->check(CLI::Range(0.0, 3.2e8))
      ->capture_default_str();
  s->add_option("--job-concurrency", o.job_concurrency, "Addresses of bulk jobs being verified at once, in all")
      ->check(CLI::Range(1, 100000))
      ->capture_default_str();
  s->add_option("--max-running-jobs", o.max_running_jobs, "Jobs verified at once (round-robin); later ones wait queued")
      ->check(CLI::Range(1, 1000))
      ->capture_default_str();
  s->add_option("--max-job-size", o.max_job_size, "Most addresses in one job")
      ->check(CLI::Range(1, 100000000))
      ->capture_default_str();
  s->add_option("--max-body", o.max_body, "Largest request body in bytes")
      ->check(CLI::Range(1024, 1 << 30))
      ->capture_default_str();
  s->add_option(
       "--max-body-total", o.max_body_total,
       "Bytes of request bodies being received at once, all connections together; beyond it a request gets 503")
      ->check(CLI::Range(std::size_t{1024}, std::size_t{1} << 40))
      ->capture_default_str();
  s->add_option("--max-pending-per-key", o.max_pending_per_key,
                "Addresses one API key may have in unfinished jobs; a job beyond it gets 429 quota_exceeded")
      ->check(CLI::Range(std::uint64_t{1}, std::uint64_t{1} << 40))
      ->capture_default_str();
  s->add_option(
       "--header-timeout", o.header_timeout,
       "Seconds a client has to send a whole request header once it has started it (a trickle cannot extend it)")
      ->check(CLI::Range(0.1, 3600.0))
      ->capture_default_str();
  s->add_option("--read-timeout", o.read_timeout, "Seconds a client has to send a request body once its header is in")
      ->check(CLI::Range(0.1, 3600.0))
      ->capture_default_str();
  s->add_option("--idle-timeout", o.idle_timeout, "Seconds an idle keep-alive connection is kept open")
      ->check(CLI::Range(0.1, 3600.0))
      ->capture_default_str();
  s->add_option("--max-connections", o.max_connections,
                "Client connections at once; when full, a newcomer takes an idle connection's place from the client "
                "holding the most, or is closed at once")
      ->check(CLI::Range(1, 1000000))
      ->capture_default_str();
  s->add_option("--max-connections-per-client", o.max_connections_per_client,
                "Connections at once from one client address (an IPv6 client: its /64); more are closed at once")
      ->check(CLI::Range(1, 1000000))
      ->capture_default_str();
  s->add_option("--verify-timeout", o.verify_timeout, "Default seconds /v1/verify waits before answering check_pending")
      ->check(CLI::Range(0.1, 3600.0))
      ->capture_default_str();
  s->add_option("--max-timeout", o.max_timeout, "Largest 'timeout' a /v1/verify request may ask for")
      ->check(CLI::Range(0.1, 3600.0))
      ->capture_default_str();
  s->add_option("--drain-timeout", o.drain_timeout,
                "Seconds SIGTERM waits for the requests being answered (new ones are refused) before stopping")
      ->check(CLI::Range(0.0, 3600.0))
      ->capture_default_str();
  s->add_option("--result-ttl", o.result_ttl, "Seconds a finished single-check answer is kept in memory and reused")
      ->check(CLI::Range(0.0, 86400.0))
      ->capture_default_str();
  s->add_option("--result-cache-bytes", o.result_cache_bytes,
                "Bytes (estimated) the --result-ttl answers may take in memory; the oldest go first")
      ->check(CLI::Range(std::size_t{0}, std::size_t{1} << 40))
      ->capture_default_str();
  s->add_option("--realtime-reserve", o.realtime_reserve,
                "Percent of DNS queries in flight and of --smtp-concurrency sessions that bulk jobs may not use "
                "(kept for /v1/verify; at least one of each when > 0)")
      ->check(CLI::Range(0.0, 90.0))
      ->capture_default_str();
  s->add_option("--cache", o.cache_file, "SQLite file of SMTP verdicts kept across restarts (younger than --cache-ttl)");
  s->add_option("--cache-ttl", o.cache_ttl, "Seconds a --cache verdict stays usable")
      ->check(CLI::Range(0.0, 3.2e8))
      ->capture_default_str();
  s->add_flag("--hash-keys", o.hash_keys,
              "Key cached verdicts by a SHA-256 of the address, and --history records by a SHA-256 of the domain");
  add_history_options(s, o.engine);
  add_rdap_options(s, o.engine);
  s->add_option("--log-format", o.log_format,
                "text (plain lines; no time stamp of ours when writing to the journal) or json (one object per line)")
      ->check(CLI::IsMember({"text", "json"}))
      ->capture_default_str();
  s->add_flag("--log-addresses", o.log_addresses, "Write full addresses to the log (default: a***@domain)");
  s->add_flag("--quiet", o.quiet, "No log lines (the 'listening on' line and errors still go to standard error)");
  s->add_flag("--allow-private-callbacks", o.allow_private_callbacks,
              "Let job callback_url point at loopback and private addresses (labs, intranets)");
  return s;
}

}  // namespace mailsift::cli
