#include "verdict/render.hpp"

#include <array>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "common/text.hpp"
#include "domain/rdap.hpp"

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
    FlagName{"suspicious", &Flags::suspicious},     FlagName{"blocklisted", &Flags::blocklisted},
};

constexpr std::array<std::pair<std::uint32_t, std::string_view>, 4> kChecks = {{
    {kCheckSyntax, "syntax"},
    {kCheckDomain, "domain"},
    {kCheckDns, "dns"},
    {kCheckSmtp, "smtp"},
}};

}  // namespace

namespace {

// True when a CSV field must be quoted: it holds the delimiter, '"', CR or LF. Every field of every
// row of a bulk file goes through here, so 16 bytes a step where SSE2 is there (all of x86-64).
bool csv_needs_quotes(std::string_view s, char d) noexcept {
  const char* p = s.data();
  std::size_t n = s.size();
#if defined(__SSE2__)
  const __m128i vd = _mm_set1_epi8(d), vq = _mm_set1_epi8('"'), vn = _mm_set1_epi8('\n'), vr = _mm_set1_epi8('\r');
  const auto hits = [&](const char* at) {
    const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(at));
    const __m128i m = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, vd), _mm_cmpeq_epi8(v, vq)),
                                   _mm_or_si128(_mm_cmpeq_epi8(v, vn), _mm_cmpeq_epi8(v, vr)));
    return static_cast<unsigned>(_mm_movemask_epi8(m));
  };
  if (n >= 16) {
    for (std::size_t i = 0; i + 16 <= n; i += 16)
      if (hits(p + i)) return true;
    return (n % 16) != 0 && hits(p + n - 16) != 0;  // the last 16 bytes, overlapping
  }
  if (n == 0) return false;
  char tail[16] = {};
  std::memcpy(tail, p, n);
  return (hits(tail) & ((1u << n) - 1)) != 0;  // only the n real bytes count
#else
  for (; n > 0; ++p, --n)
    if (*p == d || *p == '"' || *p == '\n' || *p == '\r') return true;
  return false;
#endif
}

char* put(char* p, std::string_view s) noexcept {
  if (!s.empty()) std::memcpy(p, s.data(), s.size());
  return p + s.size();
}

char* put_bool(char* p, bool b) noexcept { return put(p, b ? std::string_view("true") : std::string_view("false")); }

char* put_score(char* p, double score) noexcept {
  const auto hundredths = static_cast<int>(std::lround(score * 100.0));
  if (hundredths >= 100) return put(p, "1.0");
  *p++ = '0';
  *p++ = '.';
  *p++ = static_cast<char>('0' + hundredths / 10);
  if (hundredths % 10 != 0) *p++ = static_cast<char>('0' + hundredths % 10);
  return p;
}

// Room for n more bytes at the end of `out`; the caller writes them and resizes to its end.
char* grow(std::string& out, std::size_t n) {
  const std::size_t old = out.size();
  out.resize(old + n);
  return out.data() + old;
}

void shrink_to(std::string& out, const char* end) { out.resize(static_cast<std::size_t>(end - out.data())); }

}  // namespace

namespace {
// OWASP's list: what a spreadsheet takes for the start of a formula (render.hpp, CsvCells).
bool formula_like(std::string_view s) noexcept {
  if (s.empty()) return false;
  const char c = s.front();
  return c == '=' || c == '+' || c == '-' || c == '@' || c == '\t' || c == '\r';
}
}  // namespace

namespace {
// A field starting like a byte order mark (UTF-8's EF BB BF; UTF-16's and UTF-32's start with 00,
// FE or FF, never the first byte of UTF-8 text) is quoted: at the start of a file, a reader (ours
// included: ingest/source.hpp) would take it for the file's encoding, not for data.
bool bom_like(std::string_view s) noexcept {
  if (s.empty()) return false;
  const auto c = static_cast<unsigned char>(s.front());
  return c == 0x00 || c == 0xFE || c == 0xFF || s.starts_with("\xEF\xBB\xBF");
}
}  // namespace

char* write_csv_field(std::string_view s, char* p, char delimiter, CsvCells cells) noexcept {
  const bool neutralise = cells == CsvCells::safe && formula_like(s);
  if (!neutralise && !bom_like(s) && !csv_needs_quotes(s, delimiter)) return put(p, s);
  *p++ = '"';
  if (neutralise) *p++ = '\'';  // the one byte csv_field_bound allows beyond quoting
  for (;;) {
    const auto* q = static_cast<const char*>(std::memchr(s.data(), '"', s.size()));
    if (q == nullptr) break;
    const auto k = static_cast<std::size_t>(q - s.data()) + 1;
    p = put(p, s.substr(0, k));  // through the quote, which is then doubled
    *p++ = '"';
    s.remove_prefix(k);
  }
  p = put(p, s);
  *p++ = '"';
  return p;
}

void append_csv_field(std::string_view s, std::string& out, char delimiter, CsvCells cells) {
  shrink_to(out, write_csv_field(s, grow(out, csv_field_bound(s.size())), delimiter, cells));
}

namespace {

// Writes into a scratch buffer sized up front for the worst case, so the hot loop is plain stores
// with no capacity checks; the record is then appended to the caller's buffer in one copy.
class Writer {
 public:
  explicit Writer(std::size_t worst_case) {
    thread_local std::vector<char> scratch;
    if (scratch.size() < worst_case) scratch.resize(worst_case);
    begin_ = p_ = scratch.data();
  }
  void put(char c) { *p_++ = c; }
  void put(std::string_view s) {
    std::memcpy(p_, s.data(), s.size());
    p_ += s.size();
  }
  // JSON string body; at most 6 output bytes per input byte.
  void json(std::string_view s) {
    std::size_t i = 0;
    while (i < s.size()) {
      const std::size_t start = i;
      while (i < s.size() && kPlain[static_cast<unsigned char>(s[i])]) ++i;
      put(s.substr(start, i - start));
      if (i == s.size()) break;
      const auto c = static_cast<unsigned char>(s[i]);
      if (c == '"' || c == '\\') {
        put('\\');
        put(static_cast<char>(c));
        ++i;
      } else if (c < 0x20 || c == 0x7F) {
        static constexpr char kHex[] = "0123456789abcdef";
        put("\\u00");
        put(kHex[c >> 4]);
        put(kHex[c & 0xF]);
        ++i;
      } else {
        const std::size_t cp_start = i;
        if (text::decode_utf8(s, i) < 0) {
          put("\xEF\xBF\xBD");  // U+FFFD for ill-formed UTF-8
          i = cp_start + 1;
        } else {
          put(s.substr(cp_start, i - cp_start));
        }
      }
    }
  }
  void quoted(std::string_view s) {
    put('"');
    json(s);
    put('"');
  }
  void nullable(std::string_view s) {
    if (s.empty()) put("null");
    else quoted(s);
  }
  void boolean(bool b) { put(b ? std::string_view("true") : std::string_view("false")); }
  void score(double v) {
    const auto hundredths = static_cast<int>(std::lround(v * 100.0));
    if (hundredths >= 100) {
      put("1.0");
      return;
    }
    put("0.");
    put(static_cast<char>('0' + hundredths / 10));
    if (hundredths % 10 != 0) put(static_cast<char>('0' + hundredths % 10));
  }
  void flush_to(std::string& out) const { out.append(begin_, static_cast<std::size_t>(p_ - begin_)); }

 private:
  char* begin_;
  char* p_;
};

}  // namespace

void append_json_string(std::string_view s, std::string& out) {
  Writer w(s.size() * 6 + 8);
  w.json(s);
  w.flush_to(out);
}

namespace {

void quoted(std::string_view s, std::string& out) {
  out.push_back('"');
  append_json_string(s, out);
  out.push_back('"');
}

// The `dns` object (docs/schema.md). Built before the record's Writer: it shares the scratch.
void append_dns(const dns::DomainDns& d, std::string& out) {
  out += "{\"mx\":[";
  for (std::size_t i = 0; i < d.mx.size(); ++i) {
    const dns::MxHost& m = d.mx[i];
    if (i) out.push_back(',');
    out += "{\"host\":";
    quoted(m.host, out);
    out += ",\"preference\":";
    out += std::to_string(m.preference);
    out += ",\"addresses\":[";
    for (std::size_t k = 0; k < m.addresses.size(); ++k) {
      if (k) out.push_back(',');
      quoted(m.addresses[k], out);
    }
    out += "],\"refused\":[";
    for (std::size_t k = 0; k < m.refused.size(); ++k) {
      if (k) out.push_back(',');
      out += "{\"address\":";
      quoted(m.refused[k].address, out);
      out += ",\"reason\":";
      quoted(m.refused[k].why, out);
      out.push_back('}');
    }
    out += "],\"error\":";
    if (m.ip_literal_name) out += "\"IP_LITERAL_NAME\"";
    else if (m.status == dns::Status::ok) out += "null";
    else quoted(dns::name(m.status), out);
    out.push_back('}');
  }
  out += "],\"implicit_mx\":";
  out += d.implicit_mx ? "true" : "false";
  out += ",\"null_mx\":";
  out += d.null_mx ? "true" : "false";
  out += ",\"spf\":";
  if (d.spf) {
    out += "{\"record\":";
    quoted(d.spf->record, out);
    out += ",\"all\":";
    if (d.spf->all) quoted(std::string_view(&d.spf->all, 1), out);
    else out += "null";
    out += ",\"multiple\":";
    out += d.spf->multiple ? "true" : "false";
    out.push_back('}');
  } else {
    out += "null";
  }
  out += ",\"dmarc\":";
  if (d.dmarc) {
    out += "{\"record\":";
    quoted(d.dmarc->record, out);
    out += ",\"policy\":";
    if (d.dmarc->policy.empty()) out += "null";
    else quoted(d.dmarc->policy, out);
    out += ",\"subdomain_policy\":";
    if (d.dmarc->subdomain_policy.empty()) out += "null";
    else quoted(d.dmarc->subdomain_policy, out);
    out += ",\"multiple\":";
    out += d.dmarc->multiple ? "true" : "false";
    out += ",\"inherited\":";
    out += d.dmarc->inherited ? "true" : "false";
    out += ",\"domain\":";
    quoted(d.dmarc->domain, out);
    out.push_back('}');
  } else {
    out += "null";
  }
  out += ",\"provider\":";
  if (d.provider.empty()) out += "null";
  else quoted(d.provider, out);
  out += ",\"blocklists\":[";
  for (std::size_t i = 0; i < d.blocklists.size(); ++i) {
    if (i) out.push_back(',');
    out += "{\"zone\":";
    quoted(d.blocklists[i].zone, out);
    out += ",\"answer\":";
    quoted(d.blocklists[i].answer, out);
    out += ",\"text\":";
    if (d.blocklists[i].text.empty()) out += "null";
    else quoted(d.blocklists[i].text, out);
    out.push_back('}');
  }
  out += "],\"error\":";
  if (d.error) quoted(dns::name(*d.error), out);
  else out += "null";
  out.push_back('}');
}

void null_or_quoted(std::string_view s, std::string& out) {
  if (s.empty()) out += "null";
  else quoted(s, out);
}

// {"stage":…,"code":…,"enhanced":…,"lines":[…]} (docs/schema.md, `smtp`).
void append_reply(smtp::Stage stage, const smtp::Reply& r, std::string& out) {
  out += "{\"stage\":";
  quoted(smtp::name(stage), out);
  out += ",\"code\":";
  out += std::to_string(r.code);
  out += ",\"enhanced\":";
  if (r.enhanced) {
    quoted(std::to_string(r.enhanced->cls) + "." + std::to_string(r.enhanced->subject) + "." +
               std::to_string(r.enhanced->detail),
           out);
  } else {
    out += "null";
  }
  out += ",\"lines\":[";
  for (std::size_t i = 0; i < r.lines.size(); ++i) {
    if (i) out.push_back(',');
    quoted(r.lines[i], out);
  }
  out += ']';
  // Oddities of real servers (smtp/reply.hpp), present only when seen.
  if (r.odd_code) out += ",\"odd_code\":true";
  if (r.enhanced_in_text) out += ",\"enhanced_in_text\":true";
  out += '}';
}

// The `smtp` object: what the probe did and heard, for this address.
void append_smtp(const smtp::AddressProbe& p, std::string& out) {
  const smtp::SessionReport& s = *p.session;
  const smtp::RecipientOutcome& o = p.outcome();
  const smtp::Attempt* last = s.last();
  out += "{\"host\":";
  null_or_quoted(last ? std::string_view(last->host) : std::string_view{}, out);
  out += ",\"address\":";
  null_or_quoted(last ? std::string_view(last->address) : std::string_view{}, out);
  out += ",\"stage\":";
  if (last) quoted(smtp::name(last->reached), out);
  else out += "null";
  out += ",\"reason\":";
  quoted(code(o.reason), out);
  out += ",\"reply\":";
  if (o.reply) append_reply(smtp::Stage::rcpt_to, *o.reply, out);
  else out += "null";
  out += ",\"rule\":";
  null_or_quoted(o.rule, out);
  out += ",\"retry_after_ms\":";
  if (o.retry_after) out += std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(*o.retry_after).count());
  else out += "null";
  out += ",\"catch_all_test\":";
  if (!s.catch_all_address.empty() && s.catch_all_reply) {
    out += "{\"address\":";
    quoted(s.catch_all_address, out);
    out += ",\"reply\":";
    append_reply(smtp::Stage::rcpt_to, *s.catch_all_reply, out);
    out.push_back('}');
  } else {
    out += "null";
  }
  out += ",\"esmtp\":";
  append_bool(s.esmtp, out);
  out += ",\"pipelining\":";
  append_bool(s.pipelining, out);
  out += ",\"smtputf8\":";
  append_bool(s.smtputf8, out);
  out += ",\"tls\":{\"offered\":";
  append_bool(s.tls.offered, out);
  out += ",\"used\":";
  append_bool(s.tls.used, out);
  out += ",\"resumed\":";
  append_bool(s.tls.resumed, out);
  out += ",\"version\":";
  null_or_quoted(s.tls.version, out);
  out += ",\"cipher\":";
  null_or_quoted(s.tls.cipher, out);
  out += ",\"verified\":";
  append_bool(s.tls.verified, out);
  out += ",\"cert_error\":";
  null_or_quoted(s.tls.cert_error, out);
  out += ",\"error\":";
  null_or_quoted(s.tls.error, out);
  out += "},\"replies\":[";
  for (std::size_t i = 0; i < s.replies.size(); ++i) {
    if (i) out.push_back(',');
    append_reply(s.replies[i].stage, s.replies[i].reply, out);
    out.pop_back();
    out += ",\"ms\":";
    out += std::to_string(s.replies[i].rtt_ms);
    out.push_back('}');
  }
  out += "],\"attempts\":[";
  for (std::size_t i = 0; i < s.attempts.size(); ++i) {
    const smtp::Attempt& a = s.attempts[i];
    if (i) out.push_back(',');
    out += "{\"host\":";
    null_or_quoted(a.host, out);
    out += ",\"address\":";
    null_or_quoted(a.address, out);
    out += ",\"source\":";
    null_or_quoted(a.source, out);
    out += ",\"stage\":";
    quoted(smtp::name(a.reached), out);
    out += ",\"failure\":";
    if (a.failure) quoted(code(*a.failure), out);
    else out += "null";
    out += ",\"detail\":";
    null_or_quoted(a.detail, out);
    out += ",\"connect_ms\":";
    out += std::to_string(a.connect_ms);
    out.push_back('}');
  }
  out += "],\"tries\":";
  out += std::to_string(p.tries);
  // The answers of the earlier sessions, and why each was asked again (smtp::Retry).
  out += ",\"earlier_tries\":[";
  for (std::size_t i = 0; i < p.earlier.size(); ++i) {
    const smtp::RecipientOutcome& e = p.earlier[i];
    if (i) out.push_back(',');
    out += "{\"reason\":";
    quoted(code(e.reason), out);
    out += ",\"reply\":";
    if (e.reply)
      append_reply(smtp::Stage::rcpt_to, *e.reply, out);
    else
      out += "null";
    out += ",\"rule\":";
    null_or_quoted(e.rule, out);
    out += ",\"retry_after_ms\":";
    if (e.retry_after)
      out += std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(*e.retry_after).count());
    else
      out += "null";
    out += ",\"retried_as\":";
    quoted(smtp::name(e.retry), out);
    out.push_back('}');
  }
  out.push_back(']');
  out += ",\"elapsed_ms\":";
  out += std::to_string(s.elapsed_ms);
  if (!s.transcript.empty()) {
    out += ",\"transcript\":[";
    for (std::size_t i = 0; i < s.transcript.size(); ++i) {
      if (i) out.push_back(',');
      quoted(std::string(s.transcript[i].client ? "C: " : "S: ") + s.transcript[i].text, out);
    }
    out.push_back(']');
  }
  out.push_back('}');
}

}  // namespace

void append_dns_json(const Result& r, std::string& out) {
  if ((r.checks & kCheckDns) && r.dns) append_dns(*r.dns, out);
  else if (r.restored_dns) out += *r.restored_dns;
  else out += "null";
}

void append_smtp_json(const Result& r, std::string& out) {
  if ((r.checks & kCheckSmtp) && r.smtp && r.smtp->session) append_smtp(*r.smtp, out);
  else if (r.restored_smtp) out += *r.restored_smtp;
  else out += "null";
}

void append_registration_json(const Result& r, std::string& out) {
  if (!r.registration) {
    out += r.restored_registration ? std::string_view(*r.restored_registration) : std::string_view("null");
    return;
  }
  const domain::Registration& g = *r.registration;
  auto quoted = [&out](std::string_view v) {
    out.push_back('"');
    append_json_string(v, out);
    out.push_back('"');
  };
  auto nullable = [&out, &quoted](std::string_view v) {
    if (v.empty()) out += "null";
    else quoted(v);
  };
  out += "{\"domain\":";
  quoted(g.domain);
  out += ",\"found\":";
  out += g.found ? "true" : "false";
  out += ",\"created\":";
  nullable(g.created);
  out += ",\"age_days\":";
  out += g.created.empty() ? std::string("null") : std::to_string(g.age_days);
  out += ",\"status\":[";
  for (std::size_t i = 0; i < g.status.size(); ++i) {
    if (i) out.push_back(',');
    quoted(g.status[i]);
  }
  out += "],\"source\":";
  nullable(g.source);
  out += ",\"error\":";
  nullable(g.error);
  out.push_back('}');
}

void append_json(const Result& r, std::string& out) {
  thread_local std::string canonical;
  thread_local std::string suggestion;
  thread_local std::string dns_json;
  thread_local std::string smtp_json;
  thread_local std::string registration_json;
  registration_json.clear();
  append_registration_json(r, registration_json);
  canonical.clear();
  smtp_json.clear();
  if ((r.checks & kCheckSmtp) && r.smtp && r.smtp->session) append_smtp(*r.smtp, smtp_json);
  else if (r.restored_smtp) smtp_json = *r.restored_smtp;
  else smtp_json = "null";
  suggestion.clear();
  dns_json.clear();
  if ((r.checks & kCheckDns) && r.dns) append_dns(*r.dns, dns_json);
  else if (r.restored_dns) dns_json = *r.restored_dns;
  else dns_json = "null";
  if (r.parsed) address::append_canonical(r.address, canonical);
  if (r.parsed && !r.suggested_domain().empty()) append_suggestion(r, suggestion);

  std::string reputation_json;
  if (r.reputation) reputation::append_json(*r.reputation, reputation_json);
  else if (r.restored_reputation) reputation_json = *r.restored_reputation;
  const ReasonInfo& ri = info(r.reason);
  // Escaping grows text at most 6x; the fixed part of a record is well under 1 KiB.
  Writer w(6 * (r.email.size() + r.address.normalized().size() + canonical.size() + suggestion.size()) +
           ri.message.size() + r.registrable_domain().size() + dns_json.size() + smtp_json.size() +
           reputation_json.size() + registration_json.size() + 1024);
  w.put("{\"email\":");
  w.quoted(r.email);
  w.put(",\"normalized\":");
  w.nullable(r.parsed ? r.address.normalized() : std::string_view{});
  w.put(",\"canonical\":");
  w.nullable(canonical);
  w.put(",\"status\":\"");
  w.put(name(r.status));
  w.put("\",\"reason\":\"");
  w.put(ri.code);
  w.put("\",\"message\":\"");
  w.put(ri.message);
  w.put("\",\"score\":");
  w.score(r.score);
  w.put(",\"domain\":");
  w.nullable(r.parsed ? r.address.domain() : std::string_view{});
  w.put(",\"registrable_domain\":");
  w.nullable(r.registrable_domain());
  w.put(",\"flags\":{");
  for (const FlagName& f : kBoolFlags) {
    w.put('"');
    w.put(f.name);
    w.put("\":");
    w.boolean(r.flags.*f.member);
    w.put(',');
  }
  // JSON only (CSV columns stay as they were): --rdap's signal (docs/rdap.md).
  w.put("\"new_domain\":");
  w.boolean(r.flags.new_domain);
  w.put(',');
  w.put("\"catch_all\":");
  if (r.flags.catch_all) w.boolean(*r.flags.catch_all);
  else w.put("null");
  w.put("},\"suggestion\":");
  w.nullable(suggestion);
  w.put(",\"checks\":[");
  bool first = true;
  for (const auto& [bit, label] : kChecks) {
    if (!(r.checks & bit)) continue;
    if (!first) w.put(',');
    first = false;
    w.put('"');
    w.put(label);
    w.put('"');
  }
  w.put("],\"dns\":");
  w.put(dns_json);
  w.put(",\"smtp\":");
  w.put(smtp_json);
  // Only with --history: without it the result is byte for byte what it was before issue 17.
  if (!reputation_json.empty()) {
    w.put(",\"reputation\":");
    w.put(reputation_json);
  }
  w.put(",\"registration\":");
  w.put(registration_json);
  w.put('}');
  w.flush_to(out);
}

namespace {
constexpr std::array<std::string_view, 18> kCsvResultColumns = {
    "normalized", "canonical",  "status",       "reason",          "score",      "domain",
    "registrable_domain", "disposable", "role", "free",            "smtputf8",   "quoted_local",
    "address_literal",    "suspicious", "blocklisted", "catch_all", "suggestion", "checks"};
}  // namespace

std::span<const std::string_view> csv_result_columns() noexcept { return kCsvResultColumns; }

void append_csv_header(std::string& out) {
  out += "email";
  for (const std::string_view c : kCsvResultColumns) {
    out.push_back(',');
    out += c;
  }
  out.push_back('\n');
}

void append_csv(const Result& r, std::string& out, CsvCells cells) {
  append_csv_field(r.email, out, ',', cells);
  out.push_back(',');
  append_csv_result(r, out, ',', cells);
  out.push_back('\n');
}

std::size_t csv_result_bound(const Result& r) noexcept {
  // normalized, canonical (never longer than normalized), domain, registrable domain and the
  // suggestion (local part, '@', domain) may each double when quoted, plus two quotes and a "'"
  // (CsvCells::safe); the rest is short and fixed: status, reason code, score, 9 booleans or
  // empties, checks, 17 delimiters.
  const std::size_t variable = 2 * r.address.normalized().size() + r.address.domain().size() +
                               r.registrable_domain().size() + r.address.local().size() + 1 +
                               r.suggested_domain().size();
  return 2 * variable + 5 * 3 + code(r.reason).size() + 256;
}

char* write_csv_result(const Result& r, char* p, char d, CsvCells cells) {
  thread_local std::string tmp;
  if (r.parsed) {
    p = write_csv_field(r.address.normalized(), p, d, cells);
    *p++ = d;
    tmp.clear();
    address::append_canonical(r.address, tmp);
    p = write_csv_field(tmp, p, d, cells);
  } else {
    *p++ = d;
  }
  *p++ = d;
  p = put(p, name(r.status));
  *p++ = d;
  p = put(p, code(r.reason));
  *p++ = d;
  p = put_score(p, r.score);
  *p++ = d;
  if (r.parsed) p = write_csv_field(r.address.domain(), p, d, cells);
  *p++ = d;
  p = write_csv_field(r.registrable_domain(), p, d, cells);
  for (const FlagName& f : kBoolFlags) {
    *p++ = d;
    p = put_bool(p, r.flags.*f.member);
  }
  *p++ = d;
  if (r.flags.catch_all) p = put_bool(p, *r.flags.catch_all);
  *p++ = d;
  if (r.parsed && !r.suggested_domain().empty()) {
    tmp.clear();
    append_suggestion(r, tmp);
    p = write_csv_field(tmp, p, d, cells);
  }
  *p++ = d;
  char checks[32];
  std::size_t n = 0;
  for (const auto& [bit, label] : kChecks) {
    if (!(r.checks & bit)) continue;
    if (n) checks[n++] = ';';
    std::memcpy(checks + n, label.data(), label.size());
    n += label.size();
  }
  return write_csv_field(std::string_view(checks, n), p, d, cells);
}

void append_csv_result(const Result& r, std::string& out, char d, CsvCells cells) {
  shrink_to(out, write_csv_result(r, grow(out, csv_result_bound(r)), d, cells));
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
  if (r.flags.catch_all == true) {
    out += any ? ",catch_all" : "catch_all";
    any = true;
  }
  if (r.parsed && !r.suggested_domain().empty()) {
    out += any ? " " : "";
    out += "did you mean ";
    append_suggestion(r, out);
    out += '?';
  }
  out.push_back('\n');
  // --transcript: the dialogue under the row, server text escaped like the address above.
  if ((r.checks & kCheckSmtp) && r.smtp && r.smtp->session) {
    for (const smtp::TranscriptLine& l : r.smtp->session->transcript) {
      out += l.client ? "    C: " : "    S: ";
      for (const char c : l.text) {
        const auto u = static_cast<unsigned char>(c);
        if (u >= 0x20 && u != 0x7F) {
          out.push_back(c);
        } else {
          static constexpr char kHex[] = "0123456789abcdef";
          out += "\\x";
          out.push_back(kHex[u >> 4]);
          out.push_back(kHex[u & 0xF]);
        }
      }
      out.push_back('\n');
    }
  }
}

}  // namespace mailsift::render
