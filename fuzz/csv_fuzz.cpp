// Fuzzes the CSV reader (untrusted bulk files) and the CSV writer. The first input byte picks the
// options (delimiter sniffed or forced, header detected or forced, a small record limit so the
// over-long path runs); the rest is the file. Properties: no crash, no UB, no leak (sanitizers);
// records are numbered 1, 2, …; a kept record holds at most max_record_bytes of field data and at
// most kMaxFields fields; the email is a trimmed copy of the email column; and writing the records
// as CSV and reading that back gives every input field byte for byte under the same header, in the
// documented layout (docs/bulk.md, "Ragged rows") whatever the rows' widths: the first W fields
// (short rows padded with empty ones), the result columns, then the fields beyond W; and the
// address column, named by its index, gives every row's address back. Reading with next_raw() and
// decode() (the --threads split) gives the same records as next(), and the records a byte-at-a-
// time scanner written from the rules finds: the same first lines and bytes (the reader's scan
// steps over 64-byte windows, ingest/csv.cpp). The last option bit picks
// the cells: raw (every field back byte for byte) or safe (the default of the CLI and the API:
// a field that starts like a spreadsheet formula comes back with a "'" before it, render.hpp).
#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/text.hpp"
#include "ingest/reader.hpp"
#include "ingest/writer.hpp"
#include "verdict/render.hpp"

namespace {

using namespace mailsift::ingest;

void require(bool ok) {
  if (!ok) __builtin_trap();
}

// The result columns for `verdict` with `delim`, as a reader gets them back (read once per delimiter:
// a Reader per input would double the cost of every run).
const std::vector<std::string>& result_fields(const mailsift::Result& verdict, char delim) {
  static std::map<char, std::vector<std::string>> cache;
  auto [it, fresh] = cache.try_emplace(delim);
  if (fresh) {
    std::string line;
    mailsift::render::append_csv_result(verdict, line, delim);
    line += delim;
    line += "false\n";
    InputOptions o;
    o.delimiter = delim;
    o.header = false;
    Record rec;
    require(Reader::from_memory(line, Format::csv, o)->next(rec));
    it->second = rec.fields;
  }
  return it->second;
}

// The documented rule, written out again: what a field reads back as under `cells`.
std::string written(const std::string& f, mailsift::render::CsvCells cells) {
  const bool formula =
      !f.empty() && (f[0] == '=' || f[0] == '+' || f[0] == '-' || f[0] == '@' || f[0] == '\t' || f[0] == '\r');
  return cells == mailsift::render::CsvCells::safe && formula ? "'" + f : f;
}

// A record as the rules of docs/bulk.md find it: its first physical line and its bytes without
// the line end. Byte at a time, from the rules, not from the reader's code: a field starting with
// '"' is quoted ('""' is one quote, line ends are data and LF counts as a line), a quote elsewhere
// is data, a record ends at LF, CRLF or a lone CR outside quotes.
struct RefRecord {
  std::uint64_t line;
  std::string bytes;
};

std::vector<RefRecord> reference_records(std::string_view s, char delim) {
  std::vector<RefRecord> out;
  std::uint64_t line = 1;
  bool skip_lf = false;
  std::size_t i = 0;
  while (i < s.size()) {
    if (skip_lf) {
      skip_lf = false;
      if (s[i] == '\n') {
        ++i;
        continue;
      }
    }
    RefRecord rec{line, {}};
    enum { field_start, unquoted, quoted, quote_in_quoted } st = field_start;
    for (; i < s.size(); ++i) {
      const char c = s[i];
      if (st == quoted) {
        if (c == '"') st = quote_in_quoted;
        else if (c == '\n') ++line;
      } else if (c == '"' && (st == field_start || st == quote_in_quoted)) {
        st = quoted;
      } else if (c == delim) {
        st = field_start;
      } else if (c == '\n' || c == '\r') {
        ++line;
        skip_lf = c == '\r';
        ++i;
        break;
      } else {
        st = unquoted;
      }
      rec.bytes += c;
    }
    out.push_back(std::move(rec));
  }
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::uint8_t opt = data[0];
  const std::string body(reinterpret_cast<const char*>(data) + 1, size - 1);
  InputOptions o;
  static constexpr char kDelims[] = {0, ',', ';', '\t'};
  o.delimiter = kDelims[opt & 3];
  if (opt & 4) o.header = (opt & 8) != 0;
  o.max_record_bytes = (opt & 16) ? 24 : 4096;
  if (opt & 32) o.column = (opt & 64) ? "2" : "email";

  std::unique_ptr<Reader> r;
  try {
    r = Reader::from_memory(body, Format::csv, o);
  } catch (const std::invalid_argument&) {
    return 0;  // --column naming no header field: an option error, reported at open
  }
  std::string out;
  OutputOptions oo;
  oo.format = Format::csv;
  oo.cells = (opt & 128) ? mailsift::render::CsvCells::safe : mailsift::render::CsvCells::raw;
  auto w = Writer::to_string(out, oo, r.get());
  const mailsift::Result verdict;
  std::vector<Record> kept;
  Record rec;
  std::uint64_t n = 0;
  while (r->next(rec)) {
    require(rec.number == ++n);
    require(rec.fields.size() <= kMaxFields);
    std::size_t bytes = 0;
    for (const std::string& f : rec.fields) bytes += f.size();
    require(bytes <= o.max_record_bytes);
    if (rec.error.empty() && r->email_column() && *r->email_column() < rec.fields.size())
      require(rec.email == mailsift::text::trim_blanks(rec.fields[*r->email_column()]));
    if (!rec.error.empty()) require(rec.email.empty());
    w->write(rec, verdict, false);
    kept.push_back(rec);
  }
  w->close();

  // --threads reads with next_raw() into one buffer per block and decodes on the workers: the
  // same records as next(). Blocks of three records here, decoded last to first.
  {
    auto split = Reader::from_memory(body, Format::csv, o);
    std::string bytes;
    std::vector<Record> block;
    std::vector<std::size_t> ends;
    std::size_t next = 0;  // the index in `kept` of the block's first record
    const auto check_block = [&] {
      for (std::size_t k = block.size(); k-- > 0;) {
        const std::size_t from = k == 0 ? 0 : ends[k - 1];
        split->decode(block[k], std::string_view(bytes).substr(from, ends[k] - from));
      }
      for (std::size_t k = 0; k < block.size(); ++k) {
        const Record& want = kept[next + k];
        const Record& got = block[k];
        require(!got.undecoded && got.number == want.number && got.line == want.line &&
                got.fields == want.fields && got.email == want.email && got.error == want.error);
      }
      next += block.size();
      block.clear();
      ends.clear();
      bytes.clear();
    };
    // The reference scanner's records, where the input is UTF-8 (other byte order marks make the
    // reader transcode): the reader's are the same, less a header, with the same bytes up to the
    // budget (max_record_bytes + 1: decode_csv tells an over-long record by that).
    const auto starts = [&body](std::string_view bom) { return body.compare(0, bom.size(), bom) == 0; };
    const bool utf8 = !starts("\xFF\xFE") && !starts("\xFE\xFF") && !starts(std::string_view("\0\0\xFE\xFF", 4));
    const std::vector<RefRecord> ref =
        utf8 ? reference_records(std::string_view(body).substr(starts("\xEF\xBB\xBF") ? 3 : 0), split->delimiter())
             : std::vector<RefRecord>{};
    // The reference record of the reader's next one: the first is the header when one was taken.
    std::size_t at = 0;
    if (utf8) {
      require(ref.size() == kept.size() || ref.size() == kept.size() + 1);
      at = ref.size() - kept.size();
    }
    Record got;
    while (split->next_raw(got, bytes)) {
      require(next + block.size() < kept.size());
      if (utf8) {
        const RefRecord& want = ref[at++];
        require(got.line == want.line);
        const std::size_t from = ends.empty() ? 0 : ends.back();
        if (got.undecoded) {
          require(std::string_view(bytes).substr(from) ==
                  std::string_view(want.bytes).substr(0, o.max_record_bytes + 1));
        } else {
          require(bytes.size() == from);  // a decoded record (the look-ahead) appends nothing
        }
      }
      block.push_back(got);
      ends.push_back(bytes.size());
      if (block.size() == 3) check_block();
    }
    check_block();
    require(next == kept.size());
  }

  const std::size_t width = w->input_columns();
  const std::size_t nres = w->result_columns().size();
  const std::optional<std::size_t> col = r->email_column();
  require(width >= r->width());
  require(!col || *col < width);  // the address is never after the result columns

  // The result columns as written, read back on their own: what every row holds after its W fields.
  const std::vector<std::string>& res = result_fields(verdict, r->delimiter());
  require(res.size() == nres);

  InputOptions back_o;
  back_o.delimiter = r->delimiter();
  back_o.header = !r->header().empty();
  if (col) back_o.column = std::to_string(*col + 1);  // the same column, by index
  auto back = Reader::from_memory(out, Format::csv, back_o);
  require(back->header().size() == (r->header().empty() ? 0 : width + nres));
  for (std::size_t i = 0; i < back->header().size(); ++i) {
    if (i < r->header().size())
      require(back->header()[i] == written(r->header()[i], oo.cells));
    else if (i < width) require(back->header()[i].empty());
    else require(back->header()[i] == w->result_columns()[i - width]);
  }
  for (const Record& in : kept) {
    require(back->next(rec));
    require(rec.fields.size() == std::max(width, in.fields.size()) + nres);
    for (std::size_t i = 0; i < width; ++i)
      require(rec.fields[i] == (i < in.fields.size() ? written(in.fields[i], oo.cells) : ""));
    for (std::size_t i = 0; i < nres; ++i) require(rec.fields[width + i] == res[i]);
    for (std::size_t i = width; i < in.fields.size(); ++i)
      require(rec.fields[i + nres] == written(in.fields[i], oo.cells));
    if (col) {
      // Every output row is at least W wide, so the column is always there: the address read back
      // is the input's (empty where the input row was too short or rejected).
      require(rec.error.empty());
      const std::string back_field = *col < in.fields.size() ? written(in.fields[*col], oo.cells) : "";
      require(rec.email == mailsift::text::trim_blanks(back_field));
      if (in.error.empty() && (*col >= in.fields.size() || back_field == in.fields[*col]))
        require(rec.email == in.email);
    } else {
      // No address column in the input: detection on the re-read may find none either, or pick a
      // column some rows lack; either is detection, not the layout.
      require(rec.error.empty() || rec.error == "no email column" || rec.error == "no email field");
    }
  }
  require(!back->next(rec));
  return 0;
}
