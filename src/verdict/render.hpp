#pragma once
// Output formats for results. Every writer appends to a caller-owned buffer, so a stream of
// millions of results reuses one allocation. The JSON form follows docs/schema.md exactly.
#include <string>
#include <string_view>

#include "verdict/result.hpp"

namespace mailsift::render {

enum class Format { jsonl, json, csv, table };

/// One JSON object (no trailing newline).
void append_json(const Result& r, std::string& out);
/// The CSV header row / one CSV row (RFC 4180, CRLF-free: LF line ends).
void append_csv_header(std::string& out);
void append_csv(const Result& r, std::string& out);
/// Human-readable, column-aligned table for terminals.
void append_table_header(std::string& out);
void append_table(const Result& r, std::string& out);

/// The result's `dns` / `smtp` objects alone (or `null`), as append_json writes them: what a bulk
/// run's state file keeps so a resumed run writes the same output.
void append_dns_json(const Result& r, std::string& out);
void append_smtp_json(const Result& r, std::string& out);

/// JSON string body: escapes '"', '\\' and controls; ill-formed UTF-8 becomes U+FFFD so the
/// output is always valid JSON whatever the input bytes were.
void append_json_string(std::string_view s, std::string& out);

}  // namespace mailsift::render
