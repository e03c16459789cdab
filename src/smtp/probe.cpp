#include "smtp/probe.hpp"

#include <unistd.h>

#include <array>
#include <boost/asio/ip/address.hpp>
#include <charconv>

#include "common/text.hpp"

namespace mailsift::smtp {

std::string_view name(Retry r) noexcept {
  switch (r) {
    case Retry::none: return "none";
    case Retry::greylisting: return "greylisting";
    case Retry::reconnect: return "reconnect";
  }
  return "none";
}

std::optional<Proxy> parse_proxy(std::string_view url, std::string* error) {
  auto bad = [&](std::string why) -> std::optional<Proxy> {
    if (error != nullptr) *error = std::move(why);
    return std::nullopt;
  };
  constexpr std::string_view kScheme = "socks5://";
  if (url.size() < kScheme.size() || !text::iequals_ascii(url.substr(0, kScheme.size()), kScheme))
    return bad("only socks5://[user:password@]host:port is supported");
  std::string_view rest = url.substr(kScheme.size());
  if (!rest.empty() && rest.back() == '/') rest.remove_suffix(1);
  Proxy p;
  if (const std::size_t at = rest.rfind('@'); at != std::string_view::npos) {
    const std::string_view cred = rest.substr(0, at);
    rest = rest.substr(at + 1);
    const std::size_t colon = cred.find(':');
    auto user = text::percent_decode(cred.substr(0, colon));
    auto pass = text::percent_decode(colon == std::string_view::npos ? std::string_view{} : cred.substr(colon + 1));
    if (!user || !pass) return bad("bad percent-escape in the proxy credentials");
    if (user->empty()) return bad("empty proxy user name");
    if (user->size() > 255 || pass->size() > 255) return bad("proxy user name or password over 255 bytes (RFC 1929)");
    p.user = std::move(*user);
    p.password = std::move(*pass);
  }
  std::string_view host, port;
  if (!rest.empty() && rest.front() == '[') {
    const std::size_t close = rest.find(']');
    if (close == std::string_view::npos) return bad("unterminated [IPv6] proxy address");
    host = rest.substr(1, close - 1);
    rest = rest.substr(close + 1);
    if (!rest.starts_with(":")) return bad("the proxy needs a port: socks5://[IPv6]:PORT");
    port = rest.substr(1);
  } else {
    const std::size_t colon = rest.rfind(':');
    if (colon == std::string_view::npos) return bad("the proxy needs a port: socks5://HOST:PORT");
    host = rest.substr(0, colon);
    port = rest.substr(colon + 1);
  }
  boost::system::error_code ec;
  (void)boost::asio::ip::make_address(std::string(host), ec);
  if (ec) return bad("the proxy host must be an IP address (a name would be resolved outside our safety rules)");
  unsigned value = 0;
  const auto [ptr, err] = std::from_chars(port.data(), port.data() + port.size(), value);
  if (err != std::errc{} || ptr != port.data() + port.size() || value == 0 || value > 65535)
    return bad("bad proxy port '" + std::string(port) + "'");
  p.host = std::string(host);
  p.port = static_cast<std::uint16_t>(value);
  return p;
}

std::string default_helo() {
  std::array<char, 256> name{};
  if (::gethostname(name.data(), name.size() - 1) != 0 || name[0] == '\0') return "localhost.localdomain";
  std::string s = text::to_lower_ascii(name.data());
  // A single-label name is not a valid EHLO argument (RFC 5321 §4.1.1.1 wants the FQDN).
  if (s.find('.') == std::string::npos) s += ".localdomain";
  return s;
}

std::string default_mail_from() {
  return {};
}

}  // namespace mailsift::smtp
