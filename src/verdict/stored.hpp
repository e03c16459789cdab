#pragma once
// A finished verdict as stored in a file (bulk --state/--cache, the server's jobs): the verdict in
// 64 bits and the DNS/SMTP evidence as JSON. What is not stored (the address, its syntax facts,
// flags from domain knowledge) is recomputed offline from the address when it is read back, so a
// stored value holds only what the network said. Entry points: serialize_verdict, restore_verdict.
#include <cstdint>
#include <string>
#include <string_view>

#include "verdict/result.hpp"

namespace mailsift {

/// The verdict part of a Result in 64 bits: status, reason, score, catch_all, blocklisted, checks, new_domain.
[[nodiscard]] std::uint64_t pack_verdict(const Result& r);
/// Applies a packed verdict to `r` (already classified offline).
void unpack_verdict(std::uint64_t v, Result& r);
/// "1" US packed-verdict US dns-json US smtp-json [US reputation-json [US registration-json]].
[[nodiscard]] std::string serialize_verdict(const Result& r);
/// Applies a stored value to `r` (already classified offline). False when the value is not ours.
[[nodiscard]] bool restore_verdict(std::string_view v, Result& r);

}  // namespace mailsift
