#pragma once
// Mailbox provider identification from MX host names. Entry point: identify_provider().
#include <span>
#include <string>
#include <string_view>

namespace mailsift::dns {

struct ProviderSuffix {
  std::string_view suffix;    // matched against the end of the MX host, on a label boundary
  std::string_view provider;  // stable id: "google", "microsoft", ...
};
/// The table (provider.cpp), for tests and docs.
[[nodiscard]] std::span<const ProviderSuffix> provider_table() noexcept;

/// The provider of the first MX host (in preference order) that the table knows; else
/// "self_hosted" when an MX host lies inside `registrable_domain` (mx.example.org for
/// example.org); else "unknown". Host names are lower-case, without the trailing dot.
[[nodiscard]] std::string_view identify_provider(std::span<const std::string> mx_hosts,
                                                 std::string_view registrable_domain) noexcept;

}  // namespace mailsift::dns
