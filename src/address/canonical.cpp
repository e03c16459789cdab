// Provider-aware canonical form, for deduplication only. Rules are per mailbox provider and are
// deliberately conservative: a rule is listed only where the provider documents it.
#include <array>
#include <string>

#include "address/address.hpp"
#include "common/text.hpp"

namespace mailsift::address {
namespace {

struct ProviderRule {
  std::string_view domain;
  std::string_view fold_to;  // domain alias folded into another, or empty
  bool strip_plus;           // "+tag" subaddressing (RFC 5233)
  bool strip_dots;           // dots are not significant
  bool strip_dash_underscore;
};

// Gmail ignores dots and "+tag"; googlemail.com is the same mailbox. Microsoft, Apple, Fastmail,
// Proton, Zoho, Yandex and others document "+tag" subaddressing. Proton also ignores dots, hyphens
// and underscores in its own addresses.
constexpr std::array kRules = {
    ProviderRule{"gmail.com", "", true, true, false},
    ProviderRule{"googlemail.com", "gmail.com", true, true, false},
    ProviderRule{"outlook.com", "", true, false, false},
    ProviderRule{"hotmail.com", "", true, false, false},
    ProviderRule{"live.com", "", true, false, false},
    ProviderRule{"msn.com", "", true, false, false},
    ProviderRule{"icloud.com", "", true, false, false},
    ProviderRule{"me.com", "", true, false, false},
    ProviderRule{"mac.com", "", true, false, false},
    ProviderRule{"fastmail.com", "", true, false, false},
    ProviderRule{"fastmail.fm", "", true, false, false},
    ProviderRule{"proton.me", "", true, true, true},
    ProviderRule{"protonmail.com", "", true, true, true},
    ProviderRule{"pm.me", "", true, true, true},
    ProviderRule{"zoho.com", "", true, false, false},
    ProviderRule{"yandex.ru", "", true, false, false},
    ProviderRule{"yandex.com", "", true, false, false},
    ProviderRule{"tutanota.com", "", true, false, false},
    ProviderRule{"hey.com", "", true, false, false},
};

}  // namespace

std::string canonical(const Address& a) {
  std::string out;
  append_canonical(a, out);
  return out;
}

void append_canonical(const Address& a, std::string& out) {
  std::string_view domain = a.domain();
  const ProviderRule* rule = nullptr;
  for (const auto& r : kRules) {
    // Length and first byte first: this runs for every address of a bulk file, and most domains
    // match no rule.
    if (r.domain.size() == domain.size() && r.domain[0] == domain[0] && r.domain == domain) {
      rule = &r;
      break;
    }
  }
  // Quoted local parts are kept as they are: their content is significant by definition.
  if (a.quoted_local && a.local().starts_with('"')) {
    out.append(a.local());
  } else {
    // Written in place into room for the whole local part (this runs for every address of a bulk
    // file: no per-byte append), then cut to what was kept.
    const std::string_view local = a.local();
    const std::size_t start = out.size();
    out.resize(start + local.size());
    char* p = out.data() + start;
    for (const char c : local) {
      if (rule != nullptr) {
        if (c == '+' && rule->strip_plus) break;
        if (c == '.' && rule->strip_dots) continue;
        if ((c == '-' || c == '_') && rule->strip_dash_underscore) continue;
      }
      // Mail systems treat local parts case-insensitively in practice, though RFC 5321 §2.4 lets
      // them not to; for deduplication that is the right trade.
      *p++ = text::ascii_lower(c);
    }
    out.resize(static_cast<std::size_t>(p - out.data()));
  }
  out.push_back('@');
  out.append(rule != nullptr && !rule->fold_to.empty() ? rule->fold_to : domain);
}

}  // namespace mailsift::address
