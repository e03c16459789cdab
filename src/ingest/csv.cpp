#include "ingest/csv.hpp"

#include <algorithm>
#include <array>
#include <bit>
#include <cstring>

#include "common/text.hpp"

namespace mailsift::ingest::detail {

CsvParser::CsvParser(Input& in, char delimiter, std::size_t max_record_bytes)
    : in_(in), delim_(delimiter), max_(max_record_bytes) {
  set_delimiter(delimiter);
}

void CsvParser::set_delimiter(char d) noexcept { delim_ = d; }

namespace {
enum class St : std::uint8_t { field_start, unquoted, quoted, quote_in_quoted };

// The first byte of [p, end) that is `delim`, LF or CR, else end. Eight bytes at a time: the
// reading thread scans every byte of the input (--threads), and a byte-by-byte loop was most of
// its time. A byte equal to c is a zero byte of v ^ c; (x - 0x01..) & ~x & 0x80.. sets the high
// bit of the first zero byte of x (bytes after it may be set spuriously, never bytes before).
const char* find_special(const char* p, const char* end, char delim) noexcept {
  if constexpr (std::endian::native == std::endian::little) {
    constexpr std::uint64_t kOnes = 0x0101010101010101ULL;
    constexpr std::uint64_t kHighs = 0x8080808080808080ULL;
    const std::uint64_t d = kOnes * static_cast<unsigned char>(delim);
    const auto zero = [](std::uint64_t x) { return (x - kOnes) & ~x & kHighs; };
    while (end - p >= 8) {
      std::uint64_t v;
      std::memcpy(&v, p, 8);
      const std::uint64_t m = zero(v ^ d) | zero(v ^ (kOnes * '\n')) | zero(v ^ (kOnes * '\r'));
      if (m != 0) return p + (std::countr_zero(m) >> 3);
      p += 8;
    }
  }
  while (p != end && *p != delim && *p != '\n' && *p != '\r') ++p;
  return p;
}
}  // namespace

bool CsvParser::next(Record& r) {
  bytes_.clear();
  if (!scan(r, bytes_)) return false;
  decode_csv(bytes_, r, delim_, max_);
  return true;
}

// The decoder's state machine without the fields: enough to tell a line end that ends the record
// from one inside quotes. Every byte of the record up to the budget is kept, quotes and delimiters
// included: copied once per record (or once per read block it spans), from `seg` to where the
// record ends, not field by field (the reading thread of --threads copies every byte of the input).
bool CsvParser::scan(Record& r, std::string& out) {
  St st = St::field_start;
  const std::size_t first = out.size();  // the record's bytes go after what `out` holds
  const char* seg = nullptr;  // the record's first byte not kept yet, in the current block
  const auto keep_to = [&out, &seg, limit = first + max_ + 1](const char* stop) {
    if (seg != nullptr && out.size() < limit)
      out.append(seg, std::min(static_cast<std::size_t>(stop - seg), limit - out.size()));
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
    switch (st) {
      case St::field_start:
        if (*in_.pos == '"') {
          ++in_.pos;
          st = St::quoted;
        } else {
          st = St::unquoted;
        }
        break;
      case St::unquoted:
      case St::quote_in_quoted: {
        const char* p = in_.pos;
        if (st == St::quote_in_quoted) {
          st = St::unquoted;
          if (*p == '"') {  // "" inside quotes: one quote, still quoted
            in_.pos = p + 1;
            st = St::quoted;
            break;
          }
        }
        p = find_special(p, in_.end, delim_);
        in_.pos = p;
        if (p == in_.end) break;
        const char c = *p;
        ++in_.pos;
        if (c == delim_) {
          st = St::field_start;
          break;
        }
        keep_to(p);  // without the line end
        ++line_;
        skip_lf_ = c == '\r';
        return true;
      }
      case St::quoted: {
        const std::size_t avail = static_cast<std::size_t>(in_.end - in_.pos);
        const auto* q = static_cast<const char*>(std::memchr(in_.pos, '"', avail));
        const char* stop = q ? q + 1 : in_.end;
        line_ += static_cast<std::uint64_t>(std::count(in_.pos, stop, '\n'));
        in_.pos = stop;
        if (q) st = St::quote_in_quoted;
        break;
      }
    }
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
