#pragma once
// Streaming readers for bulk input files (docs/bulk.md): TXT (one address per line), CSV (RFC 4180)
// and JSONL, each optionally gzip-compressed. Memory is bounded whatever the bytes: one read block,
// one record of at most `max_record_bytes` (longer records are rejected and skipped to their end)
// and, for CSV, a few look-ahead records used to detect the delimiter, header and email column.
// Bad data never throws: each record carries its own `error`; only I/O failures throw.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ingest/format.hpp"

namespace mailsift::ingest {

/// A CSV record has at most this many fields; a wider one is rejected ("record over N fields").
inline constexpr std::size_t kMaxFields = 16384;

struct InputOptions {
  std::optional<Format> format;  // --input-format, else kind_of(path)
  /// CSV --column: a header NAME (ASCII case-insensitive, surrounding blanks ignored) or a 1-based
  /// INDEX (all digits). "" = detect. A NAME implies a header row.
  std::string column;
  /// JSONL --field: the name of the top-level member holding the address (exact match first, else
  /// ASCII case-insensitive). "" = detect (docs/bulk.md).
  std::string field;
  /// CSV: force a header row (true) or none (false); unset = detect.
  std::optional<bool> header;
  /// CSV: the field delimiter; 0 = sniff ',' ';' or TAB from the first line.
  char delimiter = 0;
  /// A longer record (TXT/JSONL: line without its line end; CSV: raw bytes of the record) is
  /// rejected with the error "record over N bytes" and skipped to its end; memory stays bounded.
  std::size_t max_record_bytes = std::size_t{1} << 20;
};

struct Record {
  std::uint64_t number = 0;  // 1-based data record number (a CSV header is not counted)
  std::uint64_t line = 0;    // 1-based physical line where the record starts (for messages)
  /// CSV: the decoded fields, as many as the row has (ragged rows are kept as they are).
  /// TXT: one field, the line (line end stripped, surrounding spaces and tabs trimmed).
  /// JSONL: empty. Empty too when the record was rejected (`error` set) before it could be kept.
  std::vector<std::string> fields;
  std::string json;          // JSONL: the original line (without its line end); "" when not kept
  bool json_object = false;  // JSONL: `json` is one well-formed JSON object
  std::string email;         // the address text found (surrounding blanks trimmed); "" if none
  /// Why this record has no usable address; "" when fine (an empty `email` with no error is an
  /// empty address: the verifier reports it as syntax.empty). Messages: docs/bulk.md.
  std::string error;
  /// CSV, from Reader::next_raw: only number and line are set; fields, email and error are not
  /// filled in yet: Reader::decode does that from the bytes next_raw appended.
  bool undecoded = false;
};

class Reader {
 public:
  /// Opens PATH ("-" = standard input); gzip by extension (kind_of). Throws std::runtime_error on
  /// an open or read failure (with the path and the errno text) and std::invalid_argument for a bad
  /// option (--column naming no header field, --column on non-CSV input, max_record_bytes 0, …).
  static std::unique_ptr<Reader> open(const std::string& path, const InputOptions& o);
  /// The same readers over bytes in memory (tests, fuzzing). `o.format` is ignored: `f` is used.
  static std::unique_ptr<Reader> from_memory(std::string data, Format f, const InputOptions& o);

  Reader() = default;
  Reader(const Reader&) = delete;
  Reader& operator=(const Reader&) = delete;
  virtual ~Reader();

  /// The next record; false at the end. Never throws for bad data (the record's `error` says what
  /// is wrong); throws std::runtime_error on an I/O or decompression error.
  virtual bool next(Record& r) = 0;
  /// Like next(), but a CSV record may come back `undecoded`: only its number and line are set,
  /// and its bytes as read (without the line end; at most max_record_bytes + 1 of them) are
  /// appended to `bytes`. decode() finishes it, on any thread. Reading then only finds where
  /// records end, and the fields are decoded by the thread that uses them (--threads:
  /// docs/benchmarks.md). A block of records shares one `bytes`: their bytes lie end to end in
  /// it, so the decoding thread reads them in sequence (the prefetcher follows) instead of from
  /// a string per record. Other formats come back decoded and append nothing.
  virtual bool next_raw(Record& r, std::string& bytes) {
    static_cast<void>(bytes);
    return next(r);
  }
  /// Fills in a record next_raw() left undecoded (else does nothing), as next() would have, from
  /// `bytes`: exactly what next_raw() appended for it. Records may be decoded in any order, each
  /// once. Reads only the reader's settings, which do not change once it is open: safe on any
  /// thread.
  virtual void decode(Record& r, std::string_view bytes) const {
    static_cast<void>(r);
    static_cast<void>(bytes);
  }

  [[nodiscard]] virtual Format format() const noexcept = 0;
  /// CSV: the header fields; empty when there is none (TXT, JSONL, headerless CSV).
  [[nodiscard]] virtual const std::vector<std::string>& header() const noexcept;
  /// CSV: the 0-based email column; nullopt when none was found (rows then get "no email column").
  [[nodiscard]] virtual std::optional<std::size_t> email_column() const noexcept;
  /// CSV: the delimiter in use (',' for other formats).
  [[nodiscard]] virtual char delimiter() const noexcept;
  /// CSV: the number of columns: the header's, or the first row's for headerless CSV; 0 otherwise.
  [[nodiscard]] virtual std::size_t width() const noexcept;
  /// Input bytes consumed so far (compressed bytes for .gz), for progress.
  [[nodiscard]] virtual std::uint64_t bytes_read() const noexcept = 0;
  /// The file's size; 0 when unknown (standard input, pipes).
  [[nodiscard]] virtual std::uint64_t total_bytes() const noexcept = 0;
};

}  // namespace mailsift::ingest
