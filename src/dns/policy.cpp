#include "dns/policy.hpp"

#include <cctype>

namespace mailsift::dns {
namespace {

char lower(char c) { return static_cast<char>(std::tolower(static_cast<unsigned char>(c))); }

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (lower(a[i]) != lower(b[i])) return false;
  return true;
}

bool is_space(char c) { return c == ' ' || c == '\t'; }

std::string_view trim(std::string_view s) {
  while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
  return s;
}

bool is_spf(std::string_view r) {
  return r.size() >= 6 && iequals(r.substr(0, 6), "v=spf1") && (r.size() == 6 || r[6] == ' ');
}

// RFC 7489 §6.4: "v=DMARC1" is the first tag; spaces around '=' and before ';' are allowed.
bool is_dmarc(std::string_view r) {
  const std::size_t semi = r.find(';');
  std::string_view first = trim(r.substr(0, semi));
  const std::size_t eq = first.find('=');
  if (eq == std::string_view::npos) return false;
  return iequals(trim(first.substr(0, eq)), "v") && trim(first.substr(eq + 1)) == "DMARC1";
}

}  // namespace

std::optional<Spf> find_spf(std::span<const std::string> txt) {
  std::optional<Spf> out;
  for (const std::string& r : txt) {
    if (!is_spf(r)) continue;
    if (out) {
      out->multiple = true;
      continue;
    }
    out.emplace();
    out->record = r;
    // Terms are separated by spaces (RFC 7208 §4.6.1); the first `all` ends evaluation.
    std::string_view rest = std::string_view(r).substr(6);
    while (!rest.empty()) {
      while (!rest.empty() && is_space(rest.front())) rest.remove_prefix(1);
      const std::size_t end = rest.find_first_of(" \t");
      std::string_view term = rest.substr(0, end);
      rest = end == std::string_view::npos ? std::string_view{} : rest.substr(end);
      if (term.empty()) continue;
      char q = '+';
      if (term.front() == '+' || term.front() == '-' || term.front() == '~' || term.front() == '?') {
        q = term.front();
        term.remove_prefix(1);
      }
      if (iequals(term, "all")) {
        out->all = q;
        break;
      }
    }
  }
  return out;
}

std::optional<Dmarc> find_dmarc(std::span<const std::string> txt) {
  std::optional<Dmarc> out;
  for (const std::string& r : txt) {
    if (!is_dmarc(r)) continue;
    if (out) {
      out->multiple = true;
      out->policy.clear();
      out->subdomain_policy.clear();
      continue;
    }
    out.emplace();
    out->record = r;
    // Tags are "name=value" separated by ';' (RFC 7489 §6.4); the first p= and sp= count.
    bool have_p = false, have_sp = false;
    std::string_view rest = r;
    while (!rest.empty() && !(have_p && have_sp)) {
      const std::size_t semi = rest.find(';');
      std::string_view tag = trim(rest.substr(0, semi));
      rest = semi == std::string_view::npos ? std::string_view{} : rest.substr(semi + 1);
      const std::size_t eq = tag.find('=');
      if (eq == std::string_view::npos) continue;
      const std::string_view name = trim(tag.substr(0, eq));
      std::string* into = nullptr;
      if (!have_p && iequals(name, "p")) {
        have_p = true;
        into = &out->policy;
      } else if (!have_sp && iequals(name, "sp")) {
        have_sp = true;
        into = &out->subdomain_policy;
      } else {
        continue;
      }
      for (char c : trim(tag.substr(eq + 1))) into->push_back(lower(c));
    }
  }
  return out;
}

void inherit_dmarc(Dmarc& d, std::string_view org_domain) {
  d.inherited = true;
  d.domain = org_domain;
  if (!d.subdomain_policy.empty()) d.policy = d.subdomain_policy;
}

}  // namespace mailsift::dns
