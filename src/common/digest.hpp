#pragma once
// SHA-256 as lower-case hex (OpenSSL): API keys are kept as their hashes, --hash-keys keys cached
// verdicts by it, and the cluster's shared keys name domains by it (docs/cluster.md).
#include <string>
#include <string_view>

namespace mailsift {

/// Throws std::runtime_error if OpenSSL fails (it does not for SHA-256 short of running out of memory).
[[nodiscard]] std::string sha256_hex(std::string_view data);

}  // namespace mailsift
