#pragma once
// The subcommands' option definitions (CLI11). `verify` is in cli/verify.cpp, `serve` in
// cli/serve.cpp; both take the engine options.
#include <CLI/CLI.hpp>

#include "cli/options.hpp"
#include "server/options.hpp"

namespace mailsift::cli {

/// --level, the DNS and SMTP options and the list options: how addresses are verified.
void add_engine_options(CLI::App* app, VerifyOptions& o);
/// The `serve` subcommand (docs/api.md).
CLI::App* add_serve_command(CLI::App& app, server::ServeOptions& o);

}  // namespace mailsift::cli
