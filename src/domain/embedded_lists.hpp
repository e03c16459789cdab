#pragma once
// The reference lists from data/, compiled in (cmake/EmbedLists.cmake). LF-separated text.
#include <string_view>

namespace mailsift::domain::embedded {
extern const std::string_view disposable_blocklist;    // curated, default on
extern const std::string_view disposable_allowlist;    // real providers: veto
extern const std::string_view disposable_wildcard;     // every subdomain disposable
extern const std::string_view disposable_extended;     // opt-in, contains U-labels
extern const std::string_view disposable_mailchecker;  // opt-in
extern const std::string_view free_providers;
extern const std::string_view popular_domains;
extern const std::string_view role_local_parts;  // CSV, first column
extern const std::string_view typo_tlds;
extern const std::string_view typo_slds;
extern const std::string_view typo_domains;  // CSV, first column
}  // namespace mailsift::domain::embedded
