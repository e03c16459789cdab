#pragma once
// `--config FILE` (docs/config.md): the long flags of `verify`, `serve` and `worker` in a file,
// as a service reads them (/etc/mailsift/mailsift.conf in the Debian package):
//
//   # comment
//   [serve]
//   listen = 0.0.0.0:8080
//   api-keys-file = /etc/mailsift/keys
//   dns-server = 127.0.0.1        (a repeatable flag: one line per value)
//   log-addresses = false          (a flag: true or false)
//
// A key is a long flag's name without its dashes, under the section of its subcommand. A flag on
// the command line wins over the file (a repeatable one: the command line's values replace the
// file's). Every section's keys are checked, not only the running subcommand's: an unknown key, a
// bad value or a key given twice is an error naming the file and line, and nothing runs.
// CLI11's own config reader is not used: it reports no line numbers and ignores unknown keys.
// Entry points: add_config_option, apply_config.
#include <CLI/CLI.hpp>
#include <string>

namespace mailsift::cli {

/// Adds --config FILE to a subcommand.
void add_config_option(CLI::App* sub, std::string& path);
/// After parsing: reads `path` and applies its [section] of the subcommand `sub` to the options
/// the command line left unset, running their checks. Throws std::invalid_argument
/// ("FILE:LINE: …") for anything wrong in the file, std::runtime_error when it cannot be read.
void apply_config(const std::string& path, CLI::App& app, CLI::App& sub);

}  // namespace mailsift::cli
