#pragma once
// The server's log: one line per event on standard error. Addresses are masked
// (`a***@example.com`) unless --log-addresses: logs travel further than databases.
// --log-format text (the default): `2026-12-06T15:31:19Z mailsift: …`, without our time stamp when
// standard error is the journal (which stamps every line itself); json: one object per line,
// {"time":"…","level":"info","message":"…"}, for log shippers.
#include <cstdint>
#include <string>
#include <string_view>

namespace mailsift::server {

enum class LogFormat : std::uint8_t { text, json };

class Log {
 public:
  Log(bool quiet, bool addresses, LogFormat format = LogFormat::text);
  void line(std::string_view text) const;
  /// Always written, even with --quiet (start-up lines that scripts read: "listening on …").
  void always(std::string_view text) const;
  /// The address as it may appear in the log.
  [[nodiscard]] std::string address(std::string_view a) const;
  [[nodiscard]] bool quiet() const noexcept { return quiet_; }

 private:
  void write(std::string_view text) const;

  bool quiet_;
  bool addresses_;
  LogFormat format_;
  bool journal_;  // standard error is the journal: no time stamp of ours
};

/// `a***@example.com`: the first character of the local part, then the domain (which is what an
/// operator needs to see which mail server is slow). No '@': `***`.
[[nodiscard]] std::string mask_address(std::string_view a);

}  // namespace mailsift::server
