#include "dns/target.hpp"

#include <arpa/inet.h>

#include <array>
#include <cstdint>
#include <cstring>
#include <functional>
#include <set>
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

// IPv6 forms that carry an IPv4 address. A connection to one ends at that IPv4 host: through a
// NAT64 gateway (RFC 6052), a 6to4 relay (RFC 3056), a Teredo relay (RFC 4380), or the kernel's
// own IPv4 stack for a mapped address on a dual-stack socket. So the IPv4 address's verdict is
// theirs, reported as "<form>_<IPv4 code>" ("nat64_loopback", "6to4_private") to show both.
constexpr std::string_view kForms[] = {"ipv4_mapped", "ipv4_compatible", "nat64", "6to4", "teredo"};

// Every "<form>_<IPv4 code>", built once: unsafe_reason returns views that must outlive the call
// (DomainDns keeps them), so they point into this set.
const std::set<std::string, std::less<>> kEmbedded = [] {
  std::set<std::string, std::less<>> s;
  for (const std::string_view f : kForms)
    for (const Range4& r : kV4) s.insert(std::string(f) + "_" + std::string(r.why));
  return s;
}();

std::string_view embedded(std::string_view form, std::string_view why4) noexcept {
  char key[64];
  if (form.size() + 1 + why4.size() > sizeof key) return form;  // cannot happen: the codes are short
  std::memcpy(key, form.data(), form.size());
  key[form.size()] = '_';
  std::memcpy(key + form.size() + 1, why4.data(), why4.size());
  const auto it = kEmbedded.find(std::string_view(key, form.size() + 1 + why4.size()));
  return it == kEmbedded.end() ? form : std::string_view(*it);
}

std::uint32_t v4_at(const unsigned char* a) {
  return static_cast<std::uint32_t>(a[0]) << 24 | static_cast<std::uint32_t>(a[1]) << 16 |
         static_cast<std::uint32_t>(a[2]) << 8 | static_cast<std::uint32_t>(a[3]);
}

constexpr Range6 kNat64{{0, 0x64, 0xFF, 0x9B}, 96, "nat64"};  // 64:ff9b::/96, RFC 6052 §2.1
constexpr Range6 k6to4{{0x20, 0x02}, 16, "6to4"};             // 2002::/16, RFC 3056 §2
constexpr Range6 kTeredo{{0x20, 0x01, 0, 0}, 32, "teredo"};   // 2001::/32, RFC 4380 §2.6

// The verdict of the IPv4 address inside a tunnelling or translation form, or {} when `a` is none
// of them or its IPv4 addresses are public (real networks reach the internet through NAT64).
std::string_view why_tunnelled(const unsigned char* a) {
  if (in6(a, kNat64)) {
    const std::string_view w = why4(v4_at(a + 12));
    return w.empty() ? w : embedded(kNat64.why, w);
  }
  if (in6(a, k6to4)) {
    const std::string_view w = why4(v4_at(a + 2));
    return w.empty() ? w : embedded(k6to4.why, w);
  }
  if (in6(a, kTeredo)) {
    // Bits 32..63 are the Teredo server's IPv4 address; the last 32 bits the client's, inverted
    // (RFC 4380 §4). A packet goes to both, so either one makes the address unsafe.
    std::string_view w = why4(~v4_at(a + 12));
    if (w.empty()) w = why4(v4_at(a + 4));
    return w.empty() ? w : embedded(kTeredo.why, w);
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
    for (const Range6& r : kV6) {
      if (!in6(v6.s6_addr, r)) continue;
      // Mapped and compatible addresses never belong in DNS or in a mail address (RFC 4291
      // §2.5.5): refused whatever they embed, with the embedded address's code when it has one.
      if (r.why == kForms[0] || r.why == kForms[1]) {
        const std::string_view w = why4(v4_at(v6.s6_addr + 12));
        return w.empty() ? r.why : embedded(r.why, w);
      }
      return r.why;
    }
    return why_tunnelled(v6.s6_addr);
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
