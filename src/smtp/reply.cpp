#include "smtp/reply.hpp"

#include <fmt/format.h>

#include <utility>

namespace mailsift::smtp {
namespace {

bool digit(char c) noexcept { return c >= '0' && c <= '9'; }

// RFC 5321 §4.2: Reply-code = %x32-35 %x30-35 %x30-39. The second digit is taken up to 9: real
// servers send 571 and 558 (the first digit is what the protocol runs on, RFC 5321 §4.2.1).
bool reply_code(std::string_view s, int& code) noexcept {
  if (s.size() < 3 || s[0] < '2' || s[0] > '5' || !digit(s[1]) || !digit(s[2])) return false;
  code = (s[0] - '0') * 100 + (s[1] - '0') * 10 + (s[2] - '0');
  return true;
}

// 1*3digit (RFC 3463 §2 subject and detail). Advances i past the digits.
bool one_to_three_digits(std::string_view s, std::size_t& i, int& out) noexcept {
  const std::size_t start = i;
  out = 0;
  while (i < s.size() && digit(s[i]) && i - start < 3) out = out * 10 + (s[i++] - '0');
  return i > start && (i == s.size() || !digit(s[i]));
}

// RFC 3463 §2 / RFC 2034 §4: `class "." subject "." detail` then SP (or the end of the text), at the
// start of the text, with the class equal to the reply's first digit (RFC 3463 §2: "the class
// ... must match the first digit of the reply code"). Returns the text after it, or nullopt.
std::optional<std::string_view> strip_enhanced(std::string_view text, int reply_class, EnhancedCode& out) {
  if (text.size() < 5 || text[0] != static_cast<char>('0' + reply_class) || text[1] != '.') return std::nullopt;
  if (reply_class != 2 && reply_class != 4 && reply_class != 5) return std::nullopt;
  std::size_t i = 2;
  EnhancedCode e{reply_class, 0, 0};
  if (!one_to_three_digits(text, i, e.subject) || i >= text.size() || text[i] != '.') return std::nullopt;
  ++i;
  if (!one_to_three_digits(text, i, e.detail)) return std::nullopt;
  if (i < text.size() && text[i] != ' ' && text[i] != '\t') return std::nullopt;
  while (i < text.size() && (text[i] == ' ' || text[i] == '\t')) ++i;
  out = e;
  return text.substr(i);
}

// qmail and its patches (chkuser) put the enhanced code at the end, "(#5.1.1 - chkuser)", some
// gateways at the start with a '#': "#5.1.0 Address rejected". Finds the first "#c.s.d" with the
// reply's class, standing alone (after '(' or a blank or at the start).
std::optional<EnhancedCode> enhanced_in_text(std::string_view text, int reply_class) {
  for (std::size_t at = text.find('#'); at != std::string_view::npos; at = text.find('#', at + 1)) {
    if (at > 0 && text[at - 1] != '(' && text[at - 1] != ' ' && text[at - 1] != '\t') continue;
    std::string_view rest = text.substr(at + 1);
    if (rest.size() < 5 || rest[0] != static_cast<char>('0' + reply_class) || rest[1] != '.') continue;
    std::size_t i = 2;
    EnhancedCode e{reply_class, 0, 0};
    if (!one_to_three_digits(rest, i, e.subject) || i >= rest.size() || rest[i] != '.') continue;
    ++i;
    if (!one_to_three_digits(rest, i, e.detail)) continue;
    if (i < rest.size() && rest[i] != ' ' && rest[i] != ')' && rest[i] != '\t' && rest[i] != '.') continue;
    return e;
  }
  return std::nullopt;
}

}  // namespace

void ReplyReader::feed(std::string_view bytes) {
  for (const char c : bytes) {
    if (error_) return;
    if (++reply_bytes_ > kMaxReplyBytes) {
      fail(fmt::format("reply longer than {} bytes", kMaxReplyBytes));
      return;
    }
    if (c == '\n') {
      end_line();
      continue;
    }
    // The line so far plus this byte plus the LF still to come must fit.
    if (line_.size() + 2 > kMaxLineBytes) {
      fail(fmt::format("line {} longer than {} bytes", current_.lines.size() + 1, kMaxLineBytes));
      return;
    }
    line_.push_back(c);
  }
}

void ReplyReader::end_line() {
  const std::size_t n = current_.lines.size() + 1;  // 1-based, for messages
  std::string_view line = line_;
  if (!line.empty() && line.back() == '\r') {
    line.remove_suffix(1);
  } else {
    current_.bare_lf = true;  // RFC 5321 §2.3.8 requires CRLF; many test servers send LF
  }
  int code = 0;
  if (!reply_code(line, code))
    return fail(fmt::format("line {}: does not start with a reply code (3 digits, 2xx-5xx)", n));
  bool last = true;
  if (line.size() > 3) {
    if (line[3] == '-') {
      last = false;
    } else if (line[3] != ' ') {
      return fail(fmt::format("line {}: code {} is not followed by a space or '-'", n, code));
    }
  }
  if (n > 1 && code != current_.code)  // RFC 5321 §4.2.1: every line of a reply has the same code
    return fail(fmt::format("line {}: code {} differs from {} of the first line", n, code, current_.code));
  if (n > kMaxLines) return fail(fmt::format("reply has more than {} lines", kMaxLines));
  std::string_view text = line.size() > 4 ? line.substr(4) : std::string_view{};
  for (const char ch : text) {
    const auto b = static_cast<unsigned char>(ch);
    if ((b < 0x20 && b != '\t') || b == 0x7f)  // CR, NUL, ESC …: never part of reply text
      return fail(fmt::format("line {}: control byte 0x{:02x} in the text", n, b));
  }
  current_.code = code;
  EnhancedCode e;
  if (auto rest = strip_enhanced(text, code / 100, e)) {
    text = *rest;
    if (!current_.enhanced) current_.enhanced = e;
  }
  current_.lines.emplace_back(text);
  line_.clear();
  if (!last) return;
  current_.odd_code = current_.code % 100 / 10 > 5;
  if (!current_.enhanced && (code / 100 == 4 || code / 100 == 5)) {
    for (const std::string& l : current_.lines) {
      if (auto found = enhanced_in_text(l, code / 100)) {
        current_.enhanced = found;
        current_.enhanced_in_text = true;
        break;
      }
    }
  }
  ready_.push_back(std::move(current_));
  current_ = Reply{};
  reply_bytes_ = 0;
}

void ReplyReader::fail(std::string detail) {
  error_ = ProtocolError{std::move(detail)};
  line_.clear();
  current_ = Reply{};
}

std::optional<Reply> ReplyReader::next() {
  if (ready_.empty()) return std::nullopt;
  Reply r = std::move(ready_.front());
  ready_.pop_front();
  return r;
}

std::optional<Reply> parse_reply(std::string_view text, std::string* error) {
  ReplyReader reader;
  reader.feed(text);
  auto set = [&](std::string e) {
    if (error != nullptr) *error = std::move(e);
    return std::nullopt;
  };
  auto r = reader.next();
  if (reader.error() && !r) return set(reader.error()->detail);
  if (!r) return set("incomplete reply");
  if (reader.error() || reader.in_reply() || reader.next()) return set("more than one reply");
  return r;
}

}  // namespace mailsift::smtp
