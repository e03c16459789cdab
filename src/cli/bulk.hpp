#pragma once
// The bulk path: `mailsift verify --input FILE --output FILE`. Streams any size of TXT/CSV/JSONL
// (gzip too) through the engine in bounded memory, deduplicates before any network work, keeps
// every input row in the output (in input order) with the result appended, and with --state resumes
// after a crash without probing finished addresses again. Entry point: verify_bulk().
#include "cli/options.hpp"

namespace mailsift::cli {

/// Runs the bulk path; returns an Exit code. Throws std::invalid_argument for bad options,
/// std::runtime_error for files that cannot be read or written.
[[nodiscard]] int verify_bulk(const VerifyOptions& o);

}  // namespace mailsift::cli
