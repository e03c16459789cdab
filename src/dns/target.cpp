#include "dns/target.hpp"

#include <arpa/inet.h>

#include <array>
#include <cstdint>
#include <cstring>
#include <string>

namespace mailsift::dns {
namespace {

struct Range4 {
  std::uint32_t net;
  int bits;
  std::string_view why;
};
// First match wins, so the more specific ranges come first.
constexpr Range4 kV4[] = {
    {0xFFFFFFFF, 32, "broadcast"},       // 255.255.255.255, RFC 919 / RFC 8190
    {0x00000000, 8, "this_network"},     // 0.0.0.0/8, RFC 1122 §3.2.1.3
    {0x0A000000, 8, "private"},          // 10/8, RFC 1918
    {0x64400000, 10, "shared_address"},  // 100.64/10 (CGNAT), RFC 6598
    {0x7F000000, 8, "loopback"},         // 127/8, RFC 1122 §3.2.1.3
    {0xA9FE0000, 16, "link_local"},      // 169.254/16, RFC 3927
    {0xAC100000, 12, "private"},         // 172.16/12, RFC 1918
    {0xC0000000, 24, "ietf_protocol"},   // 192.0.0/24, RFC 6890
    {0xC0000200, 24, "documentation"},   // 192.0.2/24 TEST-NET-1, RFC 5737
    {0xC0586300, 24, "reserved"},        // 192.88.99/24 6to4 relay anycast, deprecated by RFC 7526
    {0xC0A80000, 16, "private"},         // 192.168/16, RFC 1918
    {0xC6120000, 15, "benchmarking"},    // 198.18/15, RFC 2544
    {0xC6336400, 24, "documentation"},   // 198.51.100/24 TEST-NET-2, RFC 5737
    {0xCB007100, 24, "documentation"},   // 203.0.113/24 TEST-NET-3, RFC 5737
    {0xE0000000, 4, "multicast"},        // 224/4, RFC 5771
    {0xF0000000, 4, "reserved"},         // 240/4, RFC 1112 §4
};

struct Range6 {
  std::array<std::uint8_t, 16> net;
  int bits;
  std::string_view why;
};
constexpr Range6 kV6[] = {
    {{}, 128, "unspecified"},                                                     // ::/128, RFC 4291 §2.5.2
    {{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}, 128, "loopback"},           // ::1/128, RFC 4291 §2.5.3
    {{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF}, 96, "ipv4_mapped"},               // ::ffff:0:0/96, RFC 4291 §2.5.5.2
    {{}, 96, "ipv4_compatible"},                                                   // ::/96, deprecated, RFC 4291 §2.5.5.1
    {{0, 0x64, 0xFF, 0x9B, 0, 1}, 48, "nat64_local"},                              // 64:ff9b:1::/48, RFC 8215
    {{0x01, 0x00, 0, 0, 0, 0, 0, 0}, 64, "discard"},                               // 100::/64, RFC 6666
    {{0x20, 0x01, 0x0D, 0xB8}, 32, "documentation"},                               // 2001:db8::/32, RFC 3849
    {{0x3F, 0xFF, 0x00}, 20, "documentation"},                                     // 3fff::/20, RFC 9637
    {{0x20, 0x01, 0x00, 0x02, 0, 0}, 48, "benchmarking"},                          // 2001:2::/48, RFC 5180
    {{0xFC}, 7, "unique_local"},                                                   // fc00::/7, RFC 4193
    {{0xFE, 0x80}, 10, "link_local"},                                              // fe80::/10, RFC 4291 §2.5.6
    {{0xFE, 0xC0}, 10, "site_local"},                                              // fec0::/10, deprecated, RFC 3879
    {{0xFF}, 8, "multicast"},                                                      // ff00::/8, RFC 4291 §2.7
};

bool in6(const unsigned char* a, const Range6& r) {
  const int full = r.bits / 8, rest = r.bits % 8;
  if (std::memcmp(a, r.net.data(), static_cast<std::size_t>(full)) != 0) return false;
  if (rest == 0) return true;
  const auto mask = static_cast<unsigned char>(0xFF << (8 - rest));
  return (a[full] & mask) == (r.net[static_cast<std::size_t>(full)] & mask);
}

std::string_view why4(std::uint32_t a) {
  for (const Range4& r : kV4) {
    const std::uint32_t mask = r.bits == 0 ? 0 : 0xFFFFFFFFu << (32 - r.bits);
    if ((a & mask) == r.net) return r.why;
  }
  return {};
}

}  // namespace

std::string_view unsafe_reason(std::string_view ip) noexcept {
  if (ip.empty() || ip.size() >= 64) return "not_an_address";
  char buf[64];
  std::memcpy(buf, ip.data(), ip.size());
  buf[ip.size()] = '\0';
  in_addr v4{};
  if (inet_pton(AF_INET, buf, &v4) == 1) return why4(ntohl(v4.s_addr));
  in6_addr v6{};
  if (inet_pton(AF_INET6, buf, &v6) == 1) {
    for (const Range6& r : kV6)
      if (in6(v6.s6_addr, r)) return r.why;
    return {};
  }
  return "not_an_address";
}

std::string_view literal_ip(std::string_view d) noexcept {
  if (d.size() < 3 || d.front() != '[' || d.back() != ']') return {};
  d = d.substr(1, d.size() - 2);
  if (d.size() > 5 && (d.substr(0, 5) == "IPv6:" || d.substr(0, 5) == "ipv6:")) d.remove_prefix(5);
  return d;
}

}  // namespace mailsift::dns
