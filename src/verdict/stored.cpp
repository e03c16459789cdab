#include "verdict/stored.hpp"

#include <cmath>
#include <memory>

#include "common/text.hpp"
#include "verdict/render.hpp"

namespace mailsift {
namespace {
// State and cache values: "1" US packed-verdict US dns-json US smtp-json [US reputation-json
// [US registration-json]]. The fourth field (--history) and the fifth (--rdap, docs/rdap.md; the
// fourth is then "null" without a reputation) are written only when there is one, so values without
// them read the same in older versions. The JSON never holds a
// raw control byte (the renderer escapes them), so US (0x1F) separates safely.
constexpr char kSep = '\x1f';

}  // namespace

// The verdict part of a Result in 64 bits: status, reason, score, catch_all, blocklisted, checks.
std::uint64_t pack_verdict(const Result& r) {
  const auto score = static_cast<std::uint64_t>(std::lround(r.score * 100.0));
  const std::uint64_t ca = !r.flags.catch_all ? 0 : (*r.flags.catch_all ? 2 : 1);
  return static_cast<std::uint64_t>(r.status) | static_cast<std::uint64_t>(r.reason) << 2 | score << 10 | ca << 17 |
         static_cast<std::uint64_t>(r.flags.blocklisted) << 19 | static_cast<std::uint64_t>(r.checks & 0xF) << 20 |
         static_cast<std::uint64_t>(r.flags.new_domain) << 24;
}

void unpack_verdict(std::uint64_t v, Result& r) {
  r.status = static_cast<Status>(v & 3);
  r.reason = static_cast<Reason>((v >> 2) & 0xFF);
  r.score = static_cast<double>((v >> 10) & 0x7F) / 100.0;
  const std::uint64_t ca = (v >> 17) & 3;
  r.flags.catch_all = ca == 0 ? std::nullopt : std::optional<bool>(ca == 2);
  r.flags.blocklisted = ((v >> 19) & 1) != 0;
  r.checks = static_cast<std::uint32_t>((v >> 20) & 0xF);
  r.flags.new_domain = ((v >> 24) & 1) != 0;
}


std::string serialize_verdict(const Result& r) {
  std::string v = "1";
  v.push_back(kSep);
  v += std::to_string(pack_verdict(r));
  v.push_back(kSep);
  render::append_dns_json(r, v);
  v.push_back(kSep);
  render::append_smtp_json(r, v);
  // --history: the reputation the result was given, so a job's results, a resumed --state run and
  // a repeated row show the one its score was decided with. A fourth field: older values have three.
  // --rdap: the registration, a fifth field after the reputation's ("null" when there is none).
  const bool registration = r.registration || r.restored_registration;
  if (r.reputation) {
    v.push_back(kSep);
    reputation::append_json(*r.reputation, v);
  } else if (r.restored_reputation) {
    v.push_back(kSep);
    v += *r.restored_reputation;
  } else if (registration) {
    v.push_back(kSep);
    v += "null";
  }
  if (registration) {
    v.push_back(kSep);
    render::append_registration_json(r, v);
  }
  return v;
}

// Applies a stored value to `r` (already classified offline). False when the value is not ours.
bool restore_verdict(std::string_view v, Result& r) {
  const std::size_t a = v.find(kSep), b = v.find(kSep, a + 1), c = v.find(kSep, b + 1);
  if (a == std::string_view::npos || b == std::string_view::npos || c == std::string_view::npos ||
      v.substr(0, a) != "1")
    return false;
  std::uint64_t packed = 0;
  for (const char ch : v.substr(a + 1, b - a - 1)) {
    if (!text::is_ascii_digit(ch)) return false;
    packed = packed * 10 + static_cast<std::uint64_t>(ch - '0');
  }
  unpack_verdict(packed, r);
  const std::size_t d = v.find(kSep, c + 1);
  const std::size_t e = d == std::string_view::npos ? d : v.find(kSep, d + 1);
  const std::string_view dns = v.substr(b + 1, c - b - 1);
  const std::string_view smtp = d == std::string_view::npos ? v.substr(c + 1) : v.substr(c + 1, d - c - 1);
  if (dns != "null") r.restored_dns = std::make_shared<const std::string>(dns);
  if (smtp != "null") r.restored_smtp = std::make_shared<const std::string>(smtp);
  if (d != std::string_view::npos) {
    const std::string_view rep = e == std::string_view::npos ? v.substr(d + 1) : v.substr(d + 1, e - d - 1);
    if (rep != "null") r.restored_reputation = std::make_shared<const std::string>(rep);
  }
  if (e != std::string_view::npos && v.substr(e + 1) != "null")
    r.restored_registration = std::make_shared<const std::string>(v.substr(e + 1));
  return true;
}


}  // namespace mailsift
