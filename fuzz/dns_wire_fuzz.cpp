// Fuzzes the raw DNS response reader the resolver uses for cache TTLs (untrusted bytes from the
// network). Properties: no crash, no out-of-bounds read (ASan), no UB, and a TTL is only reported
// together with its has_ flag.
#include <cstddef>
#include <cstdint>

#include "dns/resolver.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const mailsift::dns::WireTtls t = mailsift::dns::wire_ttls(data, size);
  if (!t.has_answer_ttl && t.answer_ttl != 0) __builtin_trap();
  if (!t.has_negative_ttl && t.negative_ttl != 0) __builtin_trap();
  return 0;
}
