#pragma once
// The command-line interface. Entry point: cli::run (main() only forwards to it).
namespace mailsift::cli {

/// Exit codes (documented in the README).
enum Exit : int {
  kOk = 0,            // the run completed (with --strict: and every result is `valid`)
  kSomeNotValid = 1,  // --strict only: at least one result is invalid, risky or unknown
  kUsage = 2,        // bad command line
  kIoError = 3,      // an input, output or list file could not be read or written
  kInternal = 70,    // a bug: please report it
  kInterrupted = 130,  // Ctrl-C / SIGTERM stopped a bulk run (128 + SIGINT, as shells report it)
};

[[nodiscard]] int run(int argc, char** argv);

}  // namespace mailsift::cli
