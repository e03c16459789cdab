#include "ingest/csv.hpp"

#include <algorithm>
#include <array>
#include <cstring>

#include "common/text.hpp"

namespace mailsift::ingest::detail {

CsvParser::CsvParser(Input& in, char delimiter, std::size_t max_record_bytes)
    : in_(in), delim_(delimiter), max_(max_record_bytes) {
  set_delimiter(delimiter);
}

void CsvParser::set_delimiter(char d) noexcept {
  delim_ = d;
  std::fill(std::begin(special_), std::end(special_), false);
  special_[static_cast<unsigned char>(d)] = true;
  special_[static_cast<unsigned char>('\n')] = true;
  special_[static_cast<unsigned char>('\r')] = true;
}

void CsvParser::begin_field(Record& r) {
  if (nfields_ >= kMaxFields) {
    over_fields_ = true;
    return;
  }
  if (over_bytes_ || over_fields_) return;
  if (nfields_ < r.fields.size()) r.fields[nfields_].clear();
  else r.fields.emplace_back();
  ++nfields_;
}

// Counts every byte of the record against the budget; stores only while within it, so no field
// ever grows past max_record_bytes and an over-long record costs no memory.
void CsvParser::append(Record& r, const char* s, std::size_t n) {
  bytes_ += n;
  if (bytes_ > max_) over_bytes_ = true;
  if (over_bytes_ || over_fields_ || n == 0) return;
  r.fields[nfields_ - 1].append(s, n);
}

bool CsvParser::finish(Record& r) {
  if (bytes_ > max_) over_bytes_ = true;
  if (over_bytes_) {
    r.fields.clear();
    r.error = "record over " + std::to_string(max_) + " bytes";
  } else if (over_fields_) {
    r.fields.clear();
    r.error = "record over " + std::to_string(kMaxFields) + " fields";
  } else {
    r.fields.resize(nfields_);
    if (nfields_ == 1 && bytes_ == 0) {
      r.fields.clear();
      r.error = "empty line";
    }
  }
  return true;
}

bool CsvParser::next(Record& r) {
  enum class St : std::uint8_t { field_start, unquoted, quoted, quote_in_quoted };
  St st = St::field_start;
  nfields_ = 0;
  bytes_ = 0;
  over_bytes_ = over_fields_ = false;
  r.error.clear();
  bool started = false;

  for (;;) {
    if (in_.pos == in_.end && !in_.fill()) {  // end of input
      if (!started) return false;
      if (st == St::field_start) begin_field(r);  // "a," at the end: a last, empty field
      finish(r);
      if (st == St::quoted && r.error.empty()) r.error = "malformed CSV: unterminated quoted field";
      return true;
    }
    if (skip_lf_) {
      skip_lf_ = false;
      if (*in_.pos == '\n') {
        ++in_.pos;
        continue;
      }
    }
    if (!started) {
      started = true;
      r.line = line_;
    }
    switch (st) {
      case St::field_start:
        begin_field(r);
        if (*in_.pos == '"') {
          ++in_.pos;
          ++bytes_;
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
            append(r, p, 1);
            st = St::quoted;
            break;
          }
        }
        while (p != in_.end && !special_[static_cast<unsigned char>(*p)]) ++p;
        append(r, in_.pos, static_cast<std::size_t>(p - in_.pos));
        in_.pos = p;
        if (p == in_.end) break;
        const char c = *p;
        ++in_.pos;
        if (c == delim_) {
          ++bytes_;
          st = St::field_start;
          break;
        }
        ++line_;
        skip_lf_ = c == '\r';
        return finish(r);
      }
      case St::quoted: {
        const std::size_t avail = static_cast<std::size_t>(in_.end - in_.pos);
        const auto* q = static_cast<const char*>(std::memchr(in_.pos, '"', avail));
        const char* stop = q ? q : in_.end;
        line_ += static_cast<std::uint64_t>(std::count(in_.pos, stop, '\n'));
        append(r, in_.pos, static_cast<std::size_t>(stop - in_.pos));
        in_.pos = stop;
        if (q) {
          ++in_.pos;
          ++bytes_;
          st = St::quote_in_quoted;
        }
        break;
      }
    }
  }
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
