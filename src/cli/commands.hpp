#pragma once
// The subcommands' option definitions (CLI11). `verify` is in cli/verify.cpp, `serve` in
// cli/serve.cpp, `worker` in cli/worker.cpp; all take the engine options.
#include <CLI/CLI.hpp>

#include "cli/options.hpp"
#include "engine/worker.hpp"
#include "server/options.hpp"

namespace mailsift::cli {

/// --level, the DNS and SMTP options and the list options: how addresses are verified.
void add_engine_options(CLI::App* app, VerifyOptions& o);
/// --rdap and its settings (docs/rdap.md): `verify` and `serve`.
void add_rdap_options(CLI::App* app, VerifyOptions& o);
/// --history and its settings (docs/history.md): `verify` and `serve`.
void add_history_options(CLI::App* app, VerifyOptions& o);
/// The `history` subcommand: `history show DOMAIN` (docs/history.md), and running it.
struct HistoryShowOptions {
  std::string file, domain;
  bool hash_keys = false;
};
CLI::App* add_history_command(CLI::App& app, HistoryShowOptions& o);
int history_show(const HistoryShowOptions& o);
/// The `serve` subcommand (docs/api.md).
CLI::App* add_serve_command(CLI::App& app, server::ServeOptions& o);
/// --broker and its settings (`required` for the worker).
void add_broker_options(CLI::App* app, VerifyOptions& o, bool required);
/// The `worker` subcommand (docs/cluster.md), and running it.
CLI::App* add_worker_command(CLI::App& app, engine::WorkerOptions& o);
int worker(const engine::WorkerOptions& o);

struct ClusterOptions {
  std::string broker, broker_ca, prefix = "ms:", format = "text";
};
/// `cluster status` (docs/cluster.md), and running it.
CLI::App* add_cluster_command(CLI::App& app, ClusterOptions& o);
int cluster_status(const ClusterOptions& o);

/// `lists update` and `lists status` (docs/lists.md).
inline constexpr std::string_view kDefaultDisposableSource =
    "https://raw.githubusercontent.com/disposable-email-domains/disposable-email-domains/main/disposable_email_blocklist.conf";
struct ListsOptions {
  std::string dir = "/var/lib/mailsift/lists";
  std::vector<std::string> sources;  // NAME=URL
  std::string ca_file;
  double timeout = 60;
  std::size_t max_bytes = std::size_t{32} << 20;
  bool force = false;
  std::string format = "text";
};
CLI::App* add_lists_command(CLI::App& app, ListsOptions& o);
int lists_update(const ListsOptions& o);
int lists_status(const ListsOptions& o);

}  // namespace mailsift::cli
