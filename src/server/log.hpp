#pragma once
// The server's log: one line per event on standard error, UTC timestamps. Addresses are masked
// (`a***@example.com`) unless --log-addresses: logs travel further than databases.
#include <string>
#include <string_view>

namespace mailsift::server {

class Log {
 public:
  Log(bool quiet, bool addresses) : quiet_(quiet), addresses_(addresses) {}
  void line(std::string_view text) const;
  /// The address as it may appear in the log.
  [[nodiscard]] std::string address(std::string_view a) const;
  [[nodiscard]] bool quiet() const noexcept { return quiet_; }

 private:
  bool quiet_;
  bool addresses_;
};

/// `a***@example.com`: the first character of the local part, then the domain (which is what an
/// operator needs to see which mail server is slow). No '@': `***`.
[[nodiscard]] std::string mask_address(std::string_view a);

}  // namespace mailsift::server
