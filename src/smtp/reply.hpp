#pragma once
// SMTP replies, parsed once into a typed value (STYLE.md §3). Follows RFC 5321 §4.2 (reply syntax:
// `ddd-text` continues a reply, `ddd text` or a bare `ddd` ends it, every line carries the same
// code), RFC 3463 (enhanced status codes `class.subject.detail`) and RFC 2034 §4 (where they sit:
// at the start of each line's text). Entry point: ReplyReader — feed it bytes as they arrive, take
// complete replies out. Untrusted input: every size is bounded, anything malformed becomes an
// error value (never an exception, never a partial reply).
//
// Real-server quirks tolerated: bare LF line ends (recorded in Reply::bare_lf), lines up to 2048
// bytes (RFC 5321 says 512), a missing or class-mismatched enhanced code (left in the text), reply
// codes whose second digit is 6-9 (571, 558: qmail's chkuser, rblsmtpd, Exim ACLs send them; kept and
// recorded in Reply::odd_code, classified by first digit and text), and an enhanced code written
// inside the text instead of at its start, qmail style `(#5.1.1 - chkuser)` or `#5.1.0 Address
// rejected` (taken as the reply's enhanced code, recorded in Reply::enhanced_in_text).
#include <cstddef>
#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace mailsift::smtp {

// RFC 5321 §4.5.3.1.5 limits a reply line to 512 octets including CRLF, but real servers exceed it
// (long policy texts, URLs): 4× that tolerates them while still bounding memory per line.
inline constexpr std::size_t kMaxLineBytes = 2048;  // one line, its CRLF included
// Multi-line replies seen in practice have a few lines (EHLO: one per extension, ~20); 100 leaves
// room for verbose servers and stops a server that never ends its reply.
inline constexpr std::size_t kMaxLines = 100;
// 100 × 2048 would be 200 KiB; no honest reply comes close to 64 KiB, so cap the whole reply too.
inline constexpr std::size_t kMaxReplyBytes = 64 * 1024;

/// RFC 3463 §2 enhanced status code: class (2, 4 or 5) . subject (0–999) . detail (0–999).
struct EnhancedCode {
  int cls = 0;
  int subject = 0;
  int detail = 0;
  friend bool operator==(const EnhancedCode&, const EnhancedCode&) = default;
};

struct Reply {
  int code = 0;                          // 200–599 (RFC 5321 §4.2 grammar allows 200–559; see odd_code)
  std::optional<EnhancedCode> enhanced;  // from the first line that carries one
  std::vector<std::string> lines;        // text of each line, enhanced code and separator removed
  bool bare_lf = false;                  // some line ended in LF without CR (RFC 5321 §2.3.8 says CRLF)
  bool odd_code = false;                 // second digit 6-9: outside RFC 5321's grammar, sent anyway
  bool enhanced_in_text = false;         // `enhanced` came from a "#c.s.d" inside the text (qmail)

  [[nodiscard]] int cls() const noexcept { return code / 100; }  // 2, 3, 4 or 5
};

/// Why a reply could not be read: the stream is out of step and must be closed. `detail` is
/// precise enough for a log line ("line 3: code 451 differs from 450 of the first line").
struct ProtocolError {
  std::string detail;
};

/// Incremental, bounded reader of replies from one SMTP connection. Bytes may be split anywhere
/// (mid-line, mid-CRLF); several replies may arrive in one feed (pipelining, RFC 2920).
/// After the first error the reader stays failed and ignores further bytes: an SMTP stream
/// cannot be resynchronised once a reply is malformed.
class ReplyReader {
 public:
  /// Consumes all of `bytes`. Complete replies queue up for next(); memory held is at most one
  /// partial reply plus the replies not yet taken.
  void feed(std::string_view bytes);

  /// The oldest complete reply not yet taken, or nullopt (need more bytes, or failed).
  [[nodiscard]] std::optional<Reply> next();

  /// Set once the input was malformed; replies completed before the error are still given by next().
  [[nodiscard]] const std::optional<ProtocolError>& error() const noexcept { return error_; }

  /// True while a reply has started but not ended (EOF now would cut it short).
  [[nodiscard]] bool in_reply() const noexcept { return !line_.empty() || !current_.lines.empty(); }
  /// True while any byte fed has not been taken out by next(): a partial reply, or complete ones queued.
  [[nodiscard]] bool has_unread() const noexcept { return in_reply() || !ready_.empty(); }

 private:
  void end_line();
  void fail(std::string detail);

  std::string line_;  // the line being received, without its LF (a CR may be its last byte)
  Reply current_;     // the reply being assembled
  std::size_t reply_bytes_ = 0;
  std::deque<Reply> ready_;
  std::optional<ProtocolError> error_;
};

/// Parses one complete reply held in `text` (tests, examples): the reply, or the error it
/// causes; also an error if `text` holds less or more than exactly one reply.
[[nodiscard]] std::optional<Reply> parse_reply(std::string_view text, std::string* error = nullptr);

}  // namespace mailsift::smtp
