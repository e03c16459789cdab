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

}  // namespace mailsift::cli
