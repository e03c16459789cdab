#pragma once
// Small, allocation-free text helpers shared by every stage. ASCII only on purpose: anything that
// touches Unicode semantics goes through libidn2 / libunistring in the stage that needs it.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace mailsift::text {

[[nodiscard]] constexpr char ascii_lower(char c) noexcept {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + ('a' - 'A')) : c;
}
[[nodiscard]] constexpr bool is_ascii_digit(char c) noexcept { return c >= '0' && c <= '9'; }
[[nodiscard]] constexpr bool is_ascii_alpha(char c) noexcept {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

[[nodiscard]] std::string to_lower_ascii(std::string_view s);
[[nodiscard]] bool iequals_ascii(std::string_view a, std::string_view b) noexcept;
[[nodiscard]] bool ends_with_label(std::string_view domain, std::string_view suffix) noexcept;

/// Trims ASCII space and tab (not other whitespace: that is the parser's business).
[[nodiscard]] std::string_view trim_blanks(std::string_view s) noexcept;

/// Splits an embedded list (LF separated) into non-empty trimmed lines; for CSV data keeps the
/// first column and drops the header row.
[[nodiscard]] std::vector<std::string_view> list_lines(std::string_view data, bool csv_first_column);

/// Decodes one UTF-8 code point starting at s[i]; advances i. Returns -1 for any ill-formed
/// sequence (overlong forms, surrogates, values above U+10FFFF, truncation), per RFC 3629 §4.
[[nodiscard]] std::int32_t decode_utf8(std::string_view s, std::size_t& i) noexcept;

/// RFC 3986 §2.1 percent-decoding (URL user names and passwords may hold ':' or '@'); nullopt for
/// a '%' not followed by two hex digits. Used by --proxy and --broker.
[[nodiscard]] std::optional<std::string> percent_decode(std::string_view s);

/// "2026-11-23T10:00:00Z" for Unix seconds (UTC).
[[nodiscard]] std::string iso8601(std::int64_t unix_seconds);

}  // namespace mailsift::text
