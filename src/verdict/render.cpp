#include "verdict/render.hpp"

#include <array>
#include <cmath>
#include <cstdint>

#include "common/text.hpp"

namespace mailsift::render {
namespace {

constexpr std::array<bool, 256> make_plain() {
  std::array<bool, 256> t{};
  for (int c = 0x20; c < 0x7F; ++c) t[static_cast<std::size_t>(c)] = c != '"' && c != '\\';
  return t;
}
constexpr auto kPlain = make_plain();

void append_score(double score, std::string& out) {
  const auto hundredths = static_cast<int>(std::lround(score * 100.0));
  if (hundredths >= 100) {
    out += "1.0";
    return;
  }
  out += "0.";
  out.push_back(static_cast<char>('0' + hundredths / 10));
  if (hundredths % 10 != 0) out.push_back(static_cast<char>('0' + hundredths % 10));
}

void append_bool(bool b, std::string& out) { out += b ? "true" : "false"; }

void append_suggestion(const Result& r, std::string& out) {
  out.append(r.address.local());
  out.push_back('@');
  out.append(r.suggested_domain());
}

struct FlagName {
  std::string_view name;
  bool Flags::*member;
};
constexpr std::array kBoolFlags = {
    FlagName{"disposable", &Flags::disposable},     FlagName{"role", &Flags::role},
    FlagName{"free", &Flags::free},                 FlagName{"smtputf8", &Flags::smtputf8},
    FlagName{"quoted_local", &Flags::quoted_local}, FlagName{"address_literal", &Flags::address_literal},
    FlagName{"suspicious", &Flags::suspicious},
};

constexpr std::array<std::pair<std::uint32_t, std::string_view>, 2> kChecks = {{
    {kCheckSyntax, "syntax"},
    {kCheckDomain, "domain"},
}};

void append_csv_field(std::string_view s, std::string& out) {
  bool quote = false;
  for (char c : s) quote |= c == ',' || c == '"' || c == '\n' || c == '\r';
  if (!quote) {
    out.append(s);
    return;
  }
  out.push_back('"');
  for (char c : s) {
    if (c == '"') out.push_back('"');
    out.push_back(c);
  }
  out.push_back('"');
}

}  // namespace

void append_json_string(std::string_view s, std::string& out) {
  std::size_t i = 0;
  while (i < s.size()) {
    std::size_t run = i;
    while (run < s.size() && kPlain[static_cast<unsigned char>(s[run])]) ++run;
    out.append(s.data() + i, run - i);
    i = run;
    if (i == s.size()) break;
    const auto c = static_cast<unsigned char>(s[i]);
    if (c == '"' || c == '\\') {
      out.push_back('\\');
      out.push_back(static_cast<char>(c));
      ++i;
    } else if (c < 0x20 || c == 0x7F) {
      static constexpr char kHex[] = "0123456789abcdef";
      out += "\\u00";
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 0xF]);
      ++i;
    } else {
      const std::size_t start = i;
      if (text::decode_utf8(s, i) < 0) {
        out += "\xEF\xBF\xBD";  // U+FFFD
        i = start + 1;
      } else {
        out.append(s.data() + start, i - start);
      }
    }
  }
}

namespace {
// Text we produced from a parsed address is valid UTF-8 without controls, but a quoted local part
// can hold '"' or '\\'. Escapes out[start..] in place; the common case only scans.
void escape_tail(std::string& out, std::size_t start) {
  bool needs = false;
  for (std::size_t i = start; i < out.size(); ++i) needs |= out[i] == '"' || out[i] == '\\';
  if (!needs) return;
  const std::string raw = out.substr(start);
  out.resize(start);
  append_json_string(raw, out);
}
}  // namespace

void append_json(const Result& r, std::string& out) {
  const auto quoted = [&out](std::string_view s) {
    out.push_back('"');
    append_json_string(s, out);
    out.push_back('"');
  };
  const auto nullable = [&](std::string_view s) {
    if (s.empty()) out += "null";
    else quoted(s);
  };
  const ReasonInfo& ri = info(r.reason);
  out += "{\"email\":";
  quoted(r.email);
  out += ",\"normalized\":";
  nullable(r.parsed ? r.address.normalized() : std::string_view{});
  out += ",\"canonical\":";
  if (r.parsed) {
    out.push_back('"');
    const std::size_t start = out.size();
    address::append_canonical(r.address, out);
    escape_tail(out, start);
    out.push_back('"');
  } else {
    out += "null";
  }
  out += ",\"status\":\"";
  out += name(r.status);
  out += "\",\"reason\":\"";
  out += ri.code;
  out += "\",\"message\":\"";
  out += ri.message;
  out += "\",\"score\":";
  append_score(r.score, out);
  out += ",\"domain\":";
  nullable(r.parsed ? r.address.domain() : std::string_view{});
  out += ",\"registrable_domain\":";
  nullable(r.registrable_domain());
  out += ",\"flags\":{";
  for (const FlagName& f : kBoolFlags) {
    out.push_back('"');
    out += f.name;
    out += "\":";
    append_bool(r.flags.*f.member, out);
    out.push_back(',');
  }
  out += "\"catch_all\":";
  if (r.flags.catch_all) append_bool(*r.flags.catch_all, out);
  else out += "null";
  out += "},\"suggestion\":";
  if (r.parsed && !r.suggested_domain().empty()) {
    out.push_back('"');
    const std::size_t start = out.size();
    append_suggestion(r, out);
    escape_tail(out, start);
    out.push_back('"');
  } else {
    out += "null";
  }
  out += ",\"checks\":[";
  bool first = true;
  for (const auto& [bit, label] : kChecks) {
    if (!(r.checks & bit)) continue;
    if (!first) out.push_back(',');
    first = false;
    out.push_back('"');
    out += label;
    out.push_back('"');
  }
  out += "],\"dns\":null,\"smtp\":null}";
}

void append_csv_header(std::string& out) {
  out += "email,normalized,canonical,status,reason,score,domain,registrable_domain";
  for (const FlagName& f : kBoolFlags) {
    out.push_back(',');
    out += f.name;
  }
  out += ",catch_all,suggestion,checks\n";
}

void append_csv(const Result& r, std::string& out) {
  std::string tmp;
  append_csv_field(r.email, out);
  out.push_back(',');
  if (r.parsed) {
    append_csv_field(r.address.normalized(), out);
    out.push_back(',');
    address::append_canonical(r.address, tmp);
    append_csv_field(tmp, out);
  } else {
    out.push_back(',');
  }
  out.push_back(',');
  out += name(r.status);
  out.push_back(',');
  out += code(r.reason);
  out.push_back(',');
  append_score(r.score, out);
  out.push_back(',');
  if (r.parsed) append_csv_field(r.address.domain(), out);
  out.push_back(',');
  out += r.registrable_domain();
  for (const FlagName& f : kBoolFlags) {
    out.push_back(',');
    append_bool(r.flags.*f.member, out);
  }
  out.push_back(',');
  if (r.flags.catch_all) append_bool(*r.flags.catch_all, out);
  out.push_back(',');
  if (r.parsed && !r.suggested_domain().empty()) {
    tmp.clear();
    append_suggestion(r, tmp);
    append_csv_field(tmp, out);
  }
  out.push_back(',');
  bool first = true;
  for (const auto& [bit, label] : kChecks) {
    if (!(r.checks & bit)) continue;
    if (!first) out.push_back(';');
    first = false;
    out += label;
  }
  out.push_back('\n');
}

namespace {
constexpr std::size_t kEmailWidth = 36;
constexpr std::size_t kStatusWidth = 8;
constexpr std::size_t kReasonWidth = 34;

void pad(std::string& out, std::size_t written, std::size_t width) {
  out.append(written < width ? width - written : 1, ' ');
}

// Display width in code points (good enough for a terminal table; no East Asian width tables).
std::size_t columns(std::string_view s) {
  std::size_t n = 0;
  for (char c : s) n += (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  return n;
}
}  // namespace

void append_table_header(std::string& out) {
  out += "EMAIL";
  pad(out, 5, kEmailWidth);
  out += "STATUS";
  pad(out, 6, kStatusWidth);
  out += "REASON";
  pad(out, 6, kReasonWidth);
  out += "SCORE  FLAGS / SUGGESTION\n";
}

void append_table(const Result& r, std::string& out) {
  // Control characters and ill-formed UTF-8 are shown escaped: they must not reach the terminal.
  std::string shown;
  for (std::size_t i = 0; i < r.email.size();) {
    const auto c = static_cast<unsigned char>(r.email[i]);
    const std::size_t start = i;
    if (c >= 0x20 && c < 0x7F) {
      shown.push_back(static_cast<char>(c));
      ++i;
    } else if (c >= 0x80 && text::decode_utf8(r.email, i) >= 0xA0) {
      shown.append(r.email, start, i - start);
    } else {
      static constexpr char kHex[] = "0123456789abcdef";
      i = start + 1;
      shown += "\\x";
      shown.push_back(kHex[c >> 4]);
      shown.push_back(kHex[c & 0xF]);
    }
  }
  out += shown;
  pad(out, columns(shown), kEmailWidth);
  out += name(r.status);
  pad(out, name(r.status).size(), kStatusWidth);
  out += code(r.reason);
  pad(out, code(r.reason).size(), kReasonWidth);
  const std::size_t before = out.size();
  append_score(r.score, out);
  pad(out, out.size() - before, 7);
  bool any = false;
  for (const FlagName& f : kBoolFlags) {
    if (!(r.flags.*f.member)) continue;
    if (any) out.push_back(',');
    any = true;
    out += f.name;
  }
  if (r.parsed && !r.suggested_domain().empty()) {
    out += any ? " " : "";
    out += "did you mean ";
    append_suggestion(r, out);
    out += '?';
  }
  out.push_back('\n');
}

}  // namespace mailsift::render
