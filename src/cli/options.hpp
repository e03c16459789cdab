#pragma once
// Every option of `mailsift verify`, as parsed by CLI11 (cli/verify.cpp). Plain data: the engine
// (engine/engine.hpp) and the output paths read it.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "domain/knowledge.hpp"

namespace mailsift::cli {

struct VerifyOptions {
  std::vector<std::string> addresses;
  std::string level = "smtp";
  std::string format;
  domain::ListOptions lists;
  bool strict = false;
  // --threads: offline workers and network event loops; 0 = the machine's cores
  // (engine::resolve_threads). 1 is the single-threaded path, with no thread of its own.
  std::size_t threads = 0;
  // --level dns
  std::vector<std::string> dns_servers;
  int dns_timeout_ms = 2000;
  bool allow_private_targets = false;
  std::vector<std::string> blocklists;
  std::size_t dns_concurrency = 256;
  bool dns_stats = false;
  // --rdap (docs/rdap.md): registration date and status of each registrable domain
  bool rdap = false;
  std::string rdap_bootstrap;  // --rdap-bootstrap: RFC 9224 file (IANA's dns.json); required with --rdap
  std::string rdap_ca_file;    // --rdap-ca-file: trust this CA (PEM) instead of the system's
  double rdap_timeout = 5;     // --rdap-timeout: seconds from a lookup's request to its answer
  std::size_t rdap_concurrency = 4;  // --rdap-concurrency: lookups in flight
  double rdap_rate = 10;       // --rdap-rate: requests per second to one RDAP server (0: no limit)
  double rdap_cache_days = 3;  // --rdap-cache-days: an answer is reused this long
  std::string rdap_cache;      // --rdap-cache: SQLite file keeping answers across runs
  // --level smtp
  std::string helo;
  std::string mail_from;
  std::vector<std::string> source_ips;
  std::string proxy;
  std::uint16_t smtp_port = 25;
  double connect_timeout = 10, banner_timeout = 30, command_timeout = 30, session_timeout = 90;
  double greylist_retry = 60, max_wait = 300;
  int greylist_tries = 3;
  std::size_t smtp_concurrency = 256;
  std::size_t host_concurrency = 5;
  double host_rate = 10;
  double host_backoff = 60;
  std::size_t rcpts_per_session = 50;
  bool no_starttls = false;
  std::size_t tls_session_cache = 10'000;
  bool no_catch_all = false;
  bool transcript = false;
  bool smtp_stats = false;
  // bulk files (--input)
  std::string input;
  std::string output = "-";
  std::string input_format, output_format;
  std::string column, field;
  std::string split_dir;
  std::string summary_file;
  std::string dedupe = "exact";
  std::string cache_file;
  double cache_ttl = 7 * 86400.0;
  std::string state_file;
  bool quiet = false;
  std::string progress = "auto";
  bool csv_raw = false;  // CSV output (--output, --split, --format csv): no formula neutralisation
  // --broker (docs/cluster.md): the network levels run on `mailsift worker` processes
  std::string broker;            // redis://… or rediss://…; "" = the embedded default
  std::string broker_ca;         // --broker-ca: rediss:// trusts this CA file
  std::string broker_prefix = "ms:";  // --broker-prefix: key names, for clusters sharing a Redis
  double lease = 30;             // --lease: seconds a chunk or slot stays held without renewal
  double broker_timeout = 60;    // --broker-timeout: seconds the broker may stay unreachable
  // --history (docs/history.md): domain reputation kept across runs
  std::string history_file;
  double history_retention = 365;           // --history-retention: days a domain's record is kept
  double history_catch_all_ttl = 7 * 86400.0;  // --history-catch-all-ttl: seconds; 0: always test
  double history_backoff = 3600;            // --history-backoff: seconds a domain that refused us is not asked
  bool hash_keys = false;                   // --hash-keys: history keys are SHA-256, not names
};

}  // namespace mailsift::cli
