#pragma once
// Output formats for results. Every writer appends to a caller-owned buffer, so a stream of
// millions of results reuses one allocation. The JSON form follows docs/schema.md exactly.
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "verdict/result.hpp"

namespace mailsift::render {

enum class Format { jsonl, json, csv, table };

/// Spreadsheet formula injection (OWASP "CSV Injection"): Excel, LibreOffice Calc and Google Sheets
/// evaluate a cell that starts with '=', '+', '-' or '@' as a formula, and some of them one that
/// starts with a TAB or CR followed by one. Addresses and input columns are untrusted
/// (`=HYPERLINK(…)@x.com` is a valid address), so `safe`, the default of every CSV output, writes
/// such a field with a leading "'" and quoted (`"'=1+2"`): spreadsheets show it as text. `raw`
/// writes every field's bytes as they are (`--csv-raw`, `?raw=true`): for programs, not people.
enum class CsvCells : std::uint8_t { safe, raw };

/// One JSON object (no trailing newline).
void append_json(const Result& r, std::string& out);
/// The CSV header row / one CSV row (RFC 4180, CRLF-free: LF line ends).
void append_csv_header(std::string& out);
void append_csv(const Result& r, std::string& out, CsvCells cells = CsvCells::safe);
/// The CSV result columns: docs/schema.md's CSV columns after `email` (normalized … checks), for
/// appending a result to other rows (bulk files, docs/bulk.md).
[[nodiscard]] std::span<const std::string_view> csv_result_columns() noexcept;
/// The fields of csv_result_columns() for one result, separated by `delimiter`; no line end.
/// append_csv(r) is the email field, ',' and append_csv_result(r) with a line end.
void append_csv_result(const Result& r, std::string& out, char delimiter = ',', CsvCells cells = CsvCells::safe);
/// One CSV field (RFC 4180): quoted, with '"' doubled, when it holds the delimiter, '"', CR or LF;
/// with `safe` cells also when it starts like a formula, then with "'" before its first byte.
void append_csv_field(std::string_view s, std::string& out, char delimiter = ',', CsvCells cells = CsvCells::safe);

/// The same two into raw memory, for writers that size a whole row once (bulk files: no capacity
/// check per field). write_csv_field needs room for csv_field_bound(s.size()) bytes at `p`,
/// write_csv_result for csv_result_bound(r); each returns the end of what it wrote, the same bytes
/// as the append_ form.
[[nodiscard]] constexpr std::size_t csv_field_bound(std::size_t n) noexcept {
  return 2 * n + 3;
}
[[nodiscard]] char* write_csv_field(std::string_view s, char* p, char delimiter,
                                    CsvCells cells = CsvCells::safe) noexcept;
[[nodiscard]] std::size_t csv_result_bound(const Result& r) noexcept;
[[nodiscard]] char* write_csv_result(const Result& r, char* p, char delimiter, CsvCells cells = CsvCells::safe);
/// Human-readable, column-aligned table for terminals.
void append_table_header(std::string& out);
void append_table(const Result& r, std::string& out);

/// The result's `dns` / `smtp` objects alone (or `null`), as append_json writes them: what a bulk
/// run's state file keeps so a resumed run writes the same output.
void append_dns_json(const Result& r, std::string& out);
void append_smtp_json(const Result& r, std::string& out);
/// The result's `registration` object (--rdap, docs/rdap.md), or `null`.
void append_registration_json(const Result& r, std::string& out);

/// JSON string body: escapes '"', '\\' and controls; ill-formed UTF-8 becomes U+FFFD so the
/// output is always valid JSON whatever the input bytes were.
void append_json_string(std::string_view s, std::string& out);

}  // namespace mailsift::render
