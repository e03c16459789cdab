#pragma once
// Target safety: which IP addresses the SMTP stage may connect to. Entry point: unsafe_reason().
//
// A hostile domain can point its MX (or an address literal) at anything: loopback, the LAN, a
// cloud metadata service. By default mailsift refuses every address that is not globally
// reachable unicast (RFC 6890 special-purpose registries); --allow-private-targets lifts that
// for labs and intranets. The table with the RFC of each range is in target.cpp.
#include <string_view>

namespace mailsift::dns {

/// Why `ip` (textual IPv4 or IPv6, as inet_pton takes it) must not be probed: a short stable code
/// ("loopback", "private", "link_local", ...), or "" when it is a public unicast address.
/// An IPv6 address that embeds an IPv4 one (NAT64, 6to4, Teredo, mapped, compatible) gets the
/// embedded address's code behind its form's ("nat64_loopback", "6to4_private"): see target.cpp.
/// A string that is not an IP address gives "not_an_address". The view stays valid for the
/// program's lifetime.
[[nodiscard]] std::string_view unsafe_reason(std::string_view ip) noexcept;

/// The address inside an address-literal domain ("[192.0.2.1]" → "192.0.2.1",
/// "[IPv6:2001:db8::1]" → "2001:db8::1"); "" when `domain` is not a literal.
[[nodiscard]] std::string_view literal_ip(std::string_view domain) noexcept;

}  // namespace mailsift::dns
