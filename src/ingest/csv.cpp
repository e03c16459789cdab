#include "ingest/csv.hpp"

#include <algorithm>
#include <array>
#include <bit>
#include <cstring>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "common/text.hpp"

namespace mailsift::ingest::detail {

CsvParser::CsvParser(Input& in, char delimiter, std::size_t max_record_bytes)
    : in_(in), delim_(delimiter), max_(max_record_bytes) {
  set_delimiter(delimiter);
}

void CsvParser::set_delimiter(char d) noexcept { delim_ = d; }

namespace {
enum class St : std::uint8_t { field_start, unquoted, quoted, quote_in_quoted };

// Where the bytes that can change the scanner's state are in a window of up to 64 input bytes: bit
// i of each mask is set when byte i is a quote, LF, CR or the delimiter. The reading thread of
// --threads scans every byte of the input; stepping from one such byte to the next (about 13 in a
// row of 4 quoted fields, against about 70 bytes) is what makes that cheap.
struct Marks {
  std::uint64_t quote = 0, lf = 0, cr = 0, delim = 0;
};

Marks marks(const char* p, std::size_t n, char delim) noexcept {
  alignas(16) char tail[64];
  if (n < 64) {  // the end of the read block: the bytes past it are zeros, and masked off below
    std::memset(tail, 0, sizeof tail);
    std::memcpy(tail, p, n);
    p = tail;
  }
  Marks m;
#if defined(__SSE2__)
  const __m128i quote = _mm_set1_epi8('"');
  const __m128i lf = _mm_set1_epi8('\n');
  const __m128i cr = _mm_set1_epi8('\r');
  const __m128i d = _mm_set1_epi8(delim);
  for (int k = 0; k < 4; ++k) {
    __m128i v;
    std::memcpy(&v, p + 16 * k, sizeof v);  // an unaligned load (movdqu), without a pointer cast
    const auto bits = [v, k](__m128i c) {
      return std::uint64_t{static_cast<std::uint16_t>(_mm_movemask_epi8(_mm_cmpeq_epi8(v, c)))} << (16 * k);
    };
    m.quote |= bits(quote);
    m.lf |= bits(lf);
    m.cr |= bits(cr);
    m.delim |= bits(d);
  }
#else
  for (std::size_t i = 0; i < 64; ++i) {
    const std::uint64_t bit = std::uint64_t{1} << i;
    m.quote |= p[i] == '"' ? bit : 0;
    m.lf |= p[i] == '\n' ? bit : 0;
    m.cr |= p[i] == '\r' ? bit : 0;
    m.delim |= p[i] == delim ? bit : 0;
  }
#endif
  if (n < 64) {
    const std::uint64_t valid = (std::uint64_t{1} << n) - 1;
    m.quote &= valid;
    m.lf &= valid;
    m.cr &= valid;
    m.delim &= valid;
  }
  return m;
}
}  // namespace

bool CsvParser::next(Record& r) {
  bytes_.clear();
  if (!scan(r, bytes_)) return false;
  decode_csv(bytes_, r, delim_, max_);
  return true;
}

// The decoder's state machine without the fields: enough to tell a line end that ends the record
// from one inside quotes. It steps from one quote, line end or delimiter to the next (Marks); any
// other byte only matters after a field's start or a closing quote, where it makes the field
// unquoted. Every byte of the record up to the budget is kept, quotes and delimiters included:
// copied once per record (or once per read block it spans), from `seg` to where the record ends,
// not field by field.
bool CsvParser::scan(Record& r, std::string& out) {
  St st = St::field_start;
  const std::size_t first = out.size();  // the record's bytes go after what `out` holds
  const char* seg = nullptr;  // the record's first byte not kept yet, in the current block
  const auto keep_to = [&out, &seg, limit = first + max_ + 1](const char* stop) {
    if (seg != nullptr && out.size() < limit)
      out.append(seg, std::min(static_cast<std::size_t>(stop - seg), limit - out.size()));
  };
  // Other bytes than quotes, line ends and delimiters: data, which ends a field's start (a field
  // that does not start with a quote is unquoted) and follows a closing quote (lenient: kept).
  const auto data = [&st] {
    if (st == St::field_start || st == St::quote_in_quoted) st = St::unquoted;
  };
  bool started = false;
  for (;;) {
    if (in_.pos == in_.end) {
      keep_to(in_.pos);  // fill() reuses the block
      if (!in_.fill()) return started;  // the end; an open quote is decode_csv's to report
      if (seg != nullptr) seg = in_.pos;
    }
    if (skip_lf_) {  // only before the record starts: seg is not set yet
      skip_lf_ = false;
      if (*in_.pos == '\n') {
        ++in_.pos;
        continue;
      }
    }
    if (!started) {
      started = true;
      r.line = line_;
      seg = in_.pos;
    }
    const char* const base = in_.pos;
    const std::size_t n = std::min<std::size_t>(64, static_cast<std::size_t>(in_.end - base));
    const Marks m = marks(base, n, delim_);
    std::uint64_t events = m.quote | m.lf | m.cr | m.delim;
    std::size_t at = 0;  // the window's first byte not stepped over yet
    while (events != 0) {
      const auto j = static_cast<std::size_t>(std::countr_zero(events));
      events &= events - 1;
      if (j > at) data();
      at = j + 1;
      const std::uint64_t bit = std::uint64_t{1} << j;
      if ((m.quote & bit) != 0) {
        if (st == St::field_start || st == St::quote_in_quoted) st = St::quoted;  // "" inside quotes: one quote
        else if (st == St::quoted) st = St::quote_in_quoted;
        // else a quote inside an unquoted field: data
      } else if (st == St::quoted) {
        if ((m.lf & bit) != 0) ++line_;  // a line end inside quotes is data
      } else if ((m.delim & bit) != 0) {
        st = St::field_start;
      } else {  // LF or CR outside quotes: the record's end
        in_.pos = base + j + 1;
        keep_to(base + j);  // without the line end
        ++line_;
        skip_lf_ = (m.cr & bit) != 0;
        return true;
      }
    }
    if (n > at) data();
    in_.pos = base + n;
  }
}

// Within a scanned record a line end can only be inside quotes, so an unquoted field ends at the
// delimiter or at the record's end.
void decode_csv(std::string_view raw, Record& r, char delimiter, std::size_t max_record_bytes) {
  r.error.clear();
  if (raw.size() > max_record_bytes) {
    r.fields.clear();
    r.error = "record over " + std::to_string(max_record_bytes) + " bytes";
    return;
  }
  std::size_t n = 0;  // fields so far
  const auto begin_field = [&r, &n]() -> bool {
    if (n >= kMaxFields) return false;
    if (n < r.fields.size()) r.fields[n].clear();
    else r.fields.emplace_back();
    ++n;
    return true;
  };
  const char* p = raw.data();
  const char* const end = p + raw.size();
  St st = St::field_start;
  bool too_wide = false;
  while (p != end && !too_wide) {
    switch (st) {
      case St::field_start:
        too_wide = !begin_field();
        if (*p == '"') {
          ++p;
          st = St::quoted;
        } else {
          st = St::unquoted;
        }
        break;
      case St::quote_in_quoted:
        st = St::unquoted;
        if (*p == '"') {  // "" inside quotes: one quote, still quoted
          r.fields[n - 1].push_back('"');
          ++p;
          st = St::quoted;
        }
        break;
      case St::unquoted: {
        const auto* d = static_cast<const char*>(std::memchr(p, delimiter, static_cast<std::size_t>(end - p)));
        const char* stop = d ? d : end;
        r.fields[n - 1].append(p, stop);
        p = d ? d + 1 : end;
        if (d) st = St::field_start;
        break;
      }
      case St::quoted: {
        const auto* q = static_cast<const char*>(std::memchr(p, '"', static_cast<std::size_t>(end - p)));
        const char* stop = q ? q : end;
        r.fields[n - 1].append(p, stop);
        p = q ? q + 1 : end;
        if (q) st = St::quote_in_quoted;
        break;
      }
    }
  }
  if (!too_wide && st == St::field_start) too_wide = !begin_field();  // "a," or "": a last, empty field
  if (too_wide) {
    r.fields.clear();
    r.error = "record over " + std::to_string(kMaxFields) + " fields";
    return;
  }
  r.fields.resize(n);
  if (raw.empty()) {
    r.fields.clear();
    r.error = "empty line";
    return;
  }
  // Only the last record of the input can end inside quotes (a line end there would be data).
  if (st == St::quoted && r.error.empty()) r.error = "malformed CSV: unterminated quoted field";
}

int email_name_rank(std::string_view name, bool allow_address) noexcept {
  static constexpr std::array<std::string_view, 16> kNames = {
      "email",        "emailaddress", "mail",    "mailaddress", "emailadresse", "adresseemail",
      "adressemail",  "emailadres",   "courriel", "correo",     "correoelectronico", "epost",
      "eposta",       "emails",       "mails",   "address"};
  char buf[48];
  std::size_t n = 0;
  for (char c : name) {
    if (c == ' ' || c == '-' || c == '_' || c == '.' || c == '\t') continue;
    if (n == sizeof buf) return -1;
    buf[n++] = text::ascii_lower(c);
  }
  const std::string_view key(buf, n);
  for (std::size_t i = 0; i < kNames.size(); ++i) {
    if (kNames[i] == key) {
      if (kNames[i] == "address" && !allow_address) return -1;
      return static_cast<int>(i);
    }
  }
  return -1;
}

bool looks_like_address(std::string_view s) noexcept {
  s = text::trim_blanks(s);
  const std::size_t at = s.rfind('@');
  return at != std::string_view::npos && at > 0 && at + 1 < s.size();
}

}  // namespace mailsift::ingest::detail
