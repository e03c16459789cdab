#pragma once
// Streaming writers for bulk output files (docs/bulk.md): every input record gives exactly one
// output row, in the order written, with all of its input data kept and the result appended.
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "ingest/format.hpp"
#include "ingest/reader.hpp"
#include "verdict/render.hpp"
#include "verdict/result.hpp"

namespace mailsift::ingest {

struct OutputOptions {
  Format format = Format::txt;  // txt = the human-readable table (as `--format table`)
  bool gzip = false;
  // CSV output: every field, the input's included, neutralised against spreadsheet formulas
  // (render::CsvCells); --csv-raw gives raw.
  render::CsvCells cells = render::CsvCells::safe;
};

class Writer {
 public:
  /// How open() gets a PATH other than "-".
  enum class Open : std::uint8_t {
    // A new regular file; fails (EEXIST) when anything is at PATH, a symbolic link included, which
    // is never followed (O_CREAT|O_EXCL|O_NOFOLLOW): a link planted at OUTPUT.partial cannot make
    // us overwrite its target. Mode 0640 less the umask: results hold addresses, so not readable
    // by every local user.
    create,
    // A file that exists and is not a regular file (a FIFO, /dev/null, a terminal): written as it
    // is, never created nor truncated; a regular file there is refused.
    existing,
  };
  /// Opens PATH ("-" = standard output) as `how` says. `input` (may be null: TXT input) tells the
  /// layout: its format, CSV header, delimiter, width and email column; the Writer copies what it
  /// needs. A CSV or table header is written at once. Throws std::runtime_error (with the path and
  /// errno text).
  static std::unique_ptr<Writer> open(const std::string& path, const OutputOptions& o, const Reader* input,
                                      Open how = Open::create);
  /// The same into a string (tests, fuzzing); `o.gzip` is ignored. `out` must outlive the Writer.
  static std::unique_ptr<Writer> to_string(std::string& out, const OutputOptions& o, const Reader* input);

  Writer(const Writer&) = delete;
  Writer& operator=(const Writer&) = delete;
  ~Writer();  // closes, ignoring errors: call close() to see them

  /// One output row for input record `in` with its verdict `r`; `duplicate` marks a repeated address
  /// (r is then the first occurrence's result). Throws std::runtime_error on a write failure.
  void write(const Record& in, const Result& r, bool duplicate);
  /// The bytes write(in, r, false) would write, appended to `out` instead; returns the offset in
  /// `out` of the "false" that write(in, r, true) writes as "true", or npos when the format has no
  /// duplicate field (the table). Reads only the layout, fixed by open(): several threads may call
  /// it at once, also while one thread writes (the offline pipeline's workers, --threads).
  std::size_t render(const Record& in, const Result& r, std::string& out) const;
  /// Writes bytes that render() of a Writer with the same options and input made.
  void write_rendered(std::string_view bytes);
  /// Hands everything written so far to the OS (gzip: a sync flush, so the file so far inflates).
  void flush();
  /// Finishes the file (gzip trailer) and closes it. Throws std::runtime_error on a write failure.
  void close();

  /// The CSV result column names this writer appends after the input's columns (CSV input and
  /// output): csv_result_columns() and "duplicate", each prefixed "mailsift_" when any of them
  /// would collide with an input header name.
  [[nodiscard]] const std::vector<std::string>& result_columns() const noexcept { return result_names_; }
  /// CSV input and output: W, the number of input columns every output row starts with (a shorter
  /// row is padded with empty fields), before the result columns; a longer row's further fields come
  /// after them. W is the header's width (headerless: the first data row's), widened to include the
  /// email column; a header narrower than W is written with empty names up to W. docs/bulk.md.
  [[nodiscard]] std::size_t input_columns() const noexcept { return width_; }

  class Sink;

 private:
  Writer(std::unique_ptr<Sink> sink, const OutputOptions& o, const Reader* input);
  void write_header();
  // Each appends one row to `out` and returns the offset of its duplicate field.
  std::size_t write_csv(const Record& in, const Result& r, bool duplicate, std::string& out) const;
  std::size_t write_jsonl(const Record& in, const Result& r, bool duplicate, std::string& out) const;
  static std::size_t append_result_json(const Result& r, bool duplicate, std::string& out);
  void maybe_drain();

  std::unique_ptr<Sink> sink_;
  OutputOptions o_;
  Format in_format_ = Format::txt;
  std::vector<std::string> header_;
  std::vector<std::string> json_keys_;  // CSV → JSONL: the member name of each header column
  std::vector<std::string> result_names_;
  char delim_ = ',';
  std::size_t width_ = 0;
  std::string buf_;
  bool closed_ = false;
};

}  // namespace mailsift::ingest
