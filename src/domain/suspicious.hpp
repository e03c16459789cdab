#pragma once
// Local parts that are probably not a real person's mailbox: keyboard walks, placeholder names,
// machine-generated strings. A hint for list hygiene, never a verdict: such addresses can exist.
#include <cstdint>
#include <string_view>

namespace mailsift::domain::suspicious {

enum class Kind : std::uint8_t {
  none,
  placeholder,    // test, test123, fake, nobody, foo.bar, test.user ...
  keyboard_walk,  // qwerty, asdfgh, 123456, abcdef, aaaa: at least 4 characters and 70% of the text
  random,         // 14+ characters that look machine-made: xk7q9zt2mw8rpl4v
};

/// Classifies a local part (case-insensitive; a "+tag" is ignored). ASCII rules: non-ASCII
/// characters never count towards a walk or a placeholder. Local parts longer than 64 octets
/// (RFC 5321 §4.5.3.1.1) are not classified. No allocation; at most two passes over 64 bytes.
[[nodiscard]] Kind classify(std::string_view local) noexcept;

[[nodiscard]] inline bool is_suspicious(std::string_view local) noexcept {
  return classify(local) != Kind::none;
}

}  // namespace mailsift::domain::suspicious
