#pragma once
// Address syntax: the one entry point is address::parse().
//
// The rule (docs/syntax.md): an input is a valid address exactly when it can be written in
// `RCPT TO:<...>` on the public internet — RFC 5321 §4.1.2 `Mailbox`, extended by RFC 6531 (UTF-8
// local parts, U-label domains). RFC 5322 comments, folding whitespace, display names and
// obsolete forms are not part of that and are rejected with their own reason.
#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include "verdict/reason.hpp"

namespace mailsift::address {

// RFC 5321 §4.5.3.1.1-3 and the RFC 3696 erratum 1690 path limit: what goes on the wire.
inline constexpr std::size_t kMaxLocal = 64;
inline constexpr std::size_t kMaxDomain = 253;
inline constexpr std::size_t kMaxLabel = 63;
inline constexpr std::size_t kMaxAddress = 254;
// Inputs longer than this are rejected before any Unicode work, so hostile input costs O(1) extra.
// Generous because a U-label domain or an escaped quoted local part can shrink when normalized.
inline constexpr std::size_t kMaxInput = 1024;

enum class Literal : std::uint8_t { none, ipv4, ipv6 };

/// A parsed, normalized address. Holds its text inline (no allocation): local part in Unicode NFC
/// (minimal quoting when quoted), '@', domain as lower-case A-label or the address literal.
class Address {
 public:
  [[nodiscard]] std::string_view normalized() const noexcept { return {buf_.data(), len_}; }
  [[nodiscard]] std::string_view local() const noexcept { return {buf_.data(), local_len_}; }
  [[nodiscard]] std::string_view domain() const noexcept {
    return {buf_.data() + local_len_ + 1, len_ - local_len_ - 1};
  }
  /// True when the local part holds non-ASCII text: sending it needs the SMTPUTF8 extension.
  bool smtputf8 = false;
  /// True when the input used the quoted-string form of the local part.
  bool quoted_local = false;
  Literal literal = Literal::none;

 private:
  friend class Parser;
  std::array<char, kMaxAddress + 2> buf_{};
  std::size_t len_ = 0;
  std::size_t local_len_ = 0;
};

/// Parses `input` (one address, nothing around it). Returns Reason::well_formed and fills `out`,
/// or the syntax reason (a Reason whose code starts with "syntax.") that rejects it; `out` is then
/// unspecified. Never throws, never allocates for ASCII input; work is bounded by kMaxInput.
[[nodiscard]] Reason parse(std::string_view input, Address& out) noexcept;

/// Empties the caches of IDN conversions that parse() keeps (libidn2 costs microseconds a call):
/// the process's shared one and this thread's. Results never depend on them: for benchmarks that
/// measure a cold pass over a list, and only while no other thread parses.
void forget_idn_cache() noexcept;

namespace detail {
/// Whether the A-label form of the U-label domain `d` (valid UTF-8) may hold an "xn--" label that
/// was typed as such rather than made by libidn2 from a U-label: true when `d` holds two code
/// points that UTS #46 maps to '-'. parse() checks such a domain's A-labels by a round trip
/// (RFC 5891 §5.4). Declared here for its unit test.
[[nodiscard]] bool may_hold_given_alabel(std::string_view d) noexcept;
}  // namespace detail

/// Provider-aware form for deduplication only (never probed): lower-cased local part, "+tag"
/// removed where the provider supports subaddressing, dots removed for Gmail, googlemail.com
/// folded into gmail.com. See docs/syntax.md.
[[nodiscard]] std::string canonical(const Address& a);
/// Same, appended to `out` (no allocation when `out` has room).
void append_canonical(const Address& a, std::string& out);

}  // namespace mailsift::address
