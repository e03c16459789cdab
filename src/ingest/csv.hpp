#pragma once
// Internal: the streaming CSV record parser (RFC 4180, lenient) and the column-name rules shared by
// the CSV and JSONL readers. Not part of the public API.
//
// Why hand-written and not libcsv (Debian's libcsv-dev 3.0.3, evaluated): libcsv silently drops
// empty lines (every input record must give one output row), treats a quoted field followed by
// other bytes (`"ab"cd,x`) as still quoted and swallows the rest of the file, has no physical line
// numbers, and its only memory bound is a failing realloc hook, after which the parser is stuck in
// CSV_ENOMEM with no way to skip the over-long record and go on. A record-at-a-time state machine
// with a byte budget is ~150 lines and does all of that, and is faster (spans are copied with one
// append instead of one callback per field).
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "ingest/reader.hpp"
#include "ingest/source.hpp"

namespace mailsift::ingest::detail {

class CsvParser {
 public:
  CsvParser(Input& in, char delimiter, std::size_t max_record_bytes);

  /// The next record into r.fields / r.line / r.error (r.email, r.number untouched); false at the end.
  /// Rules (docs/bulk.md): fields end at the delimiter, records at LF, CRLF or a lone CR outside
  /// quotes; a field starting with '"' is quoted ('""' is one quote, line ends are data); a quote
  /// elsewhere is data; bytes after a closing quote are appended to the field (lenient, like
  /// Python's csv). An empty line is a record with no fields and the error "empty line".
  /// It is scan() then decode_csv(): the two halves --threads runs on different threads.
  bool next(Record& r);
  /// Finds the next record's end only: appends its bytes without the line end to `out` (at most
  /// max_record_bytes + 1 of them: decode_csv tells an over-long record by that), sets its first
  /// line into r.line. False at the end.
  bool scan(Record& r, std::string& out);
  void set_delimiter(char d) noexcept;

 private:
  Input& in_;
  char delim_;
  std::size_t max_;
  std::uint64_t line_ = 1;
  bool skip_lf_ = false;  // the last record ended with CR: a following LF belongs to it
  std::string bytes_;     // next(): the record's bytes between scan() and decode_csv()
};

/// Decodes `raw` (the bytes CsvParser::scan found for a record) into r.fields and r.error as
/// CsvParser::next describes. Writes `r` only: safe on any thread.
void decode_csv(std::string_view raw, Record& r, char delimiter, std::size_t max_record_bytes);

/// Rank of a column / member name as the email column: 0 best; -1 = not an email name. Names are
/// compared ASCII case-insensitively with spaces, '-', '_' and '.' removed ("E-Mail Address").
/// `allow_address`: the bare name "address" (JSONL only: in CSV it is usually a postal address).
[[nodiscard]] int email_name_rank(std::string_view name, bool allow_address) noexcept;

/// True when `s` looks like it holds an address: an '@' with something on both sides.
[[nodiscard]] bool looks_like_address(std::string_view s) noexcept;

}  // namespace mailsift::ingest::detail
