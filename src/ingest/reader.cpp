#include "ingest/reader.hpp"

#include <algorithm>
#include <cstring>
#include <deque>
#include <stdexcept>

#include "common/text.hpp"
#include "ingest/csv.hpp"
#include "ingest/lines.hpp"
#include "ingest/source.hpp"

namespace mailsift::ingest {

Reader::~Reader() = default;

const std::vector<std::string>& Reader::header() const noexcept {
  static const std::vector<std::string> kNone;
  return kNone;
}
std::optional<std::size_t> Reader::email_column() const noexcept { return std::nullopt; }
char Reader::delimiter() const noexcept { return ','; }
std::size_t Reader::width() const noexcept { return 0; }

namespace detail {

bool read_line(Input& in, std::string& out, std::size_t max, bool& over) {
  out.clear();
  over = false;
  std::size_t len = 0;
  bool any = false;
  for (;;) {
    if (in.pos == in.end && !in.fill()) {
      if (!any) return false;
      break;
    }
    any = true;
    const std::size_t avail = static_cast<std::size_t>(in.end - in.pos);
    const auto* nl = static_cast<const char*>(std::memchr(in.pos, '\n', avail));
    const char* stop = nl ? nl : in.end;
    const auto n = static_cast<std::size_t>(stop - in.pos);
    len += n;
    if (!over) {
      // Room for the line plus a CR that may end it; never more.
      if (len > max + 1) {
        over = true;
        std::string().swap(out);
      } else {
        out.append(in.pos, n);
      }
    }
    in.pos = nl ? nl + 1 : in.end;
    if (nl) break;
  }
  if (!over && !out.empty() && out.back() == '\r') out.pop_back();
  if (!over && out.size() > max) {
    over = true;
    out.clear();
  }
  return true;
}

namespace {

void trim_in_place(std::string& s) {
  const std::string_view t = text::trim_blanks(s);
  if (t.size() == s.size()) return;
  const auto lead = static_cast<std::size_t>(t.data() - s.data());
  s.erase(lead + t.size());
  s.erase(0, lead);
}

void reset(Record& r) {
  r.email.clear();
  r.error.clear();
  r.json.clear();
  r.json_object = false;
  r.undecoded = false;
}

void check_common(const InputOptions& o, Format f) {
  if (o.max_record_bytes == 0) throw std::invalid_argument("the maximum record size must be at least 1 byte");
  if (!o.column.empty() && f != Format::csv) throw std::invalid_argument("--column applies to CSV input only");
  if (!o.field.empty() && f != Format::jsonl) throw std::invalid_argument("--field applies to JSONL input only");
}

// ---------------------------------------------------------------------------------------------
// TXT: one address per line. Every line is a record, blank ones too (an empty address).

class TxtReader final : public Reader {
 public:
  TxtReader(std::unique_ptr<Input> in, const InputOptions& o) : in_(std::move(in)), max_(o.max_record_bytes) {
    in_->skip_bom();
  }

  bool next(Record& r) override {
    reset(r);
    r.fields.resize(1);
    bool over = false;
    if (!read_line(*in_, r.fields[0], max_, over)) return false;
    r.number = r.line = ++n_;
    if (over) {
      r.fields.clear();
      r.error = over_message(max_);
      return true;
    }
    trim_in_place(r.fields[0]);
    r.email = r.fields[0];
    return true;
  }
  [[nodiscard]] Format format() const noexcept override { return Format::txt; }
  [[nodiscard]] std::uint64_t bytes_read() const noexcept override { return in_->consumed(); }
  [[nodiscard]] std::uint64_t total_bytes() const noexcept override { return in_->total(); }

 private:
  std::unique_ptr<Input> in_;
  std::size_t max_;
  std::uint64_t n_ = 0;
};

// ---------------------------------------------------------------------------------------------
// CSV. The constructor reads up to kSniffRecords records ahead (at most kSniffBytes of fields kept)
// to decide the header and the email column; next() hands those out first.

constexpr std::size_t kSniffRecords = 64;
constexpr std::size_t kSniffBytes = std::size_t{4} << 20;
constexpr std::size_t kSniffLine = std::size_t{64} * 1024;

// The delimiter among ',' ';' TAB that occurs most often outside quotes in the first line (ties in
// that order; none at all: ',').
char sniff_delimiter(Input& in) {
  in.want(kSniffLine);
  std::size_t comma = 0, semi = 0, tab = 0;
  bool quoted = false;
  for (const char* p = in.pos; p != in.end; ++p) {
    const char c = *p;
    if (c == '"') quoted = !quoted;
    else if (quoted) continue;
    else if (c == '\n' || c == '\r') break;
    else if (c == ',') ++comma;
    else if (c == ';') ++semi;
    else if (c == '\t') ++tab;
  }
  if (semi > comma && semi >= tab) return ';';
  if (tab > comma && tab > semi) return '\t';
  return ',';
}

bool all_digits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return text::is_ascii_digit(c); });
}

std::string join_header(const std::vector<std::string>& h) {
  std::string s;
  for (std::size_t i = 0; i < h.size() && s.size() < 200; ++i) {
    if (i) s += ", ";
    s += h[i];
  }
  return s;
}

class CsvReader final : public Reader {
 public:
  CsvReader(std::unique_ptr<Input> in, const InputOptions& o)
      : in_(std::move(in)), parser_(*in_, ',', o.max_record_bytes), max_(o.max_record_bytes) {
    in_->skip_bom();
    delim_ = o.delimiter ? o.delimiter : sniff_delimiter(*in_);
    if (delim_ == '"' || delim_ == '\n' || delim_ == '\r') throw std::invalid_argument("invalid CSV delimiter");
    parser_.set_delimiter(delim_);

    std::optional<std::size_t> index;  // --column INDEX, 0-based
    const std::string_view col = text::trim_blanks(o.column);
    if (all_digits(col)) {
      if (col.size() > 6 || std::stoul(std::string(col)) == 0 || std::stoul(std::string(col)) > kMaxFields)
        throw std::invalid_argument("--column " + std::string(col) + ": the index must be 1 to " +
                                    std::to_string(kMaxFields));
      index = std::stoul(std::string(col)) - 1;
    }
    const bool by_name = !col.empty() && !index;

    std::size_t kept = 0;
    while (ahead_.size() < kSniffRecords && kept < kSniffBytes) {
      Record r;
      if (!parser_.next(r)) break;
      for (const std::string& f : r.fields) kept += f.size();
      ahead_.push_back(std::move(r));
    }

    const bool had_rows = !ahead_.empty();
    if (had_rows) {
      bool has_header;
      if (o.header) has_header = *o.header;
      else if (by_name) has_header = true;
      else has_header = detect_header();
      if (has_header) {
        header_ = std::move(ahead_.front().fields);
        ahead_.pop_front();
      }
    }
    width_ = header_.size();
    if (header_.empty()) {
      for (const Record& r : ahead_) {
        if (r.error.empty()) {
          width_ = r.fields.size();
          break;
        }
      }
    }

    if (index) {
      if (!header_.empty() && *index >= header_.size())
        throw std::invalid_argument("--column " + std::string(col) + ": the header has only " +
                                    std::to_string(header_.size()) + " fields");
      column_ = index;
    } else if (by_name) {
      for (std::size_t i = 0; i < header_.size(); ++i) {
        if (text::iequals_ascii(text::trim_blanks(header_[i]), col)) {
          column_ = i;
          break;
        }
      }
      if (!column_ && had_rows)
        throw std::invalid_argument("--column " + std::string(col) + ": no such header field (header: " +
                                    join_header(header_) + ")");
    } else {
      column_ = detect_column();
    }
  }

  bool next(Record& r) override {
    reset(r);
    if (!ahead_.empty()) {
      r = std::move(ahead_.front());
      ahead_.pop_front();
    } else if (!parser_.next(r)) {
      return false;
    }
    r.number = ++n_;
    find_email(r);
    return true;
  }

  bool next_raw(Record& r, std::string& bytes) override {
    if (!ahead_.empty()) return next(r);  // the look-ahead records are decoded already
    reset(r);
    if (!parser_.scan(r, bytes)) return false;
    r.number = ++n_;
    r.undecoded = true;
    return true;
  }

  void decode(Record& r, std::string_view bytes) const override {
    if (!r.undecoded) return;
    r.undecoded = false;
    detail::decode_csv(bytes, r, delim_, max_);
    find_email(r);
  }

  [[nodiscard]] Format format() const noexcept override { return Format::csv; }
  [[nodiscard]] const std::vector<std::string>& header() const noexcept override { return header_; }
  [[nodiscard]] std::optional<std::size_t> email_column() const noexcept override { return column_; }
  [[nodiscard]] char delimiter() const noexcept override { return delim_; }
  [[nodiscard]] std::size_t width() const noexcept override { return width_; }
  [[nodiscard]] std::uint64_t bytes_read() const noexcept override { return in_->consumed(); }
  [[nodiscard]] std::uint64_t total_bytes() const noexcept override { return in_->total(); }

 private:
  void find_email(Record& r) const {
    if (!r.error.empty()) return;
    if (!column_) r.error = "no email column";
    else if (*column_ >= r.fields.size()) r.error = "no email field";
    else r.email = text::trim_blanks(r.fields[*column_]);
  }

  // The first row is a header when none of its fields looks like an address and either one of
  // them is an email column name or a later row (of the look-ahead) has a field that looks like one.
  bool detect_header() const {
    const Record& first = ahead_.front();
    if (!first.error.empty()) return false;
    for (const std::string& f : first.fields)
      if (detail::looks_like_address(f)) return false;
    for (const std::string& f : first.fields)
      if (detail::email_name_rank(text::trim_blanks(f), false) >= 0) return true;
    for (std::size_t i = 1; i < ahead_.size(); ++i)
      for (const std::string& f : ahead_[i].fields)
        if (detail::looks_like_address(f)) return true;
    return false;
  }

  // By header name (best-ranked name, leftmost); else the column in which most look-ahead rows hold
  // something that looks like an address (leftmost on ties); else column 0 of a one-column file.
  std::optional<std::size_t> detect_column() const {
    std::optional<std::size_t> best;
    int best_rank = 1 << 30;
    for (std::size_t i = 0; i < header_.size(); ++i) {
      const int rank = detail::email_name_rank(text::trim_blanks(header_[i]), false);
      if (rank >= 0 && rank < best_rank) {
        best = i;
        best_rank = rank;
      }
    }
    if (best) return best;
    std::vector<std::size_t> hits;
    std::size_t widest = header_.size();
    for (const Record& r : ahead_) {
      widest = std::max(widest, r.fields.size());
      if (r.fields.size() > hits.size()) hits.resize(r.fields.size());
      for (std::size_t i = 0; i < r.fields.size(); ++i) hits[i] += detail::looks_like_address(r.fields[i]);
    }
    std::size_t most = 0;
    for (std::size_t i = 0; i < hits.size(); ++i) {
      if (hits[i] > most) {
        most = hits[i];
        best = i;
      }
    }
    if (best) return best;
    if (widest == 1) return 0;
    return std::nullopt;
  }

  std::unique_ptr<Input> in_;
  detail::CsvParser parser_;
  std::size_t max_;
  char delim_ = ',';
  std::deque<Record> ahead_;
  std::vector<std::string> header_;
  std::optional<std::size_t> column_;
  std::size_t width_ = 0;
  std::uint64_t n_ = 0;
};

std::unique_ptr<Reader> make(std::unique_ptr<Input> in, Format f, const InputOptions& o) {
  check_common(o, f);
  switch (f) {
    case Format::csv: return std::make_unique<CsvReader>(std::move(in), o);
    case Format::jsonl: return make_jsonl_reader(std::move(in), o);
    case Format::txt: break;
  }
  return std::make_unique<TxtReader>(std::move(in), o);
}

}  // namespace
}  // namespace detail

std::unique_ptr<Reader> Reader::open(const std::string& path, const InputOptions& o) {
  const FileKind k = kind_of(path);
  const Format f = o.format.value_or(k.format);
  detail::check_common(o, f);
  return detail::make(std::make_unique<detail::Input>(detail::decode_unicode(detail::open_source(path, k.gzip))), f, o);
}

std::unique_ptr<Reader> Reader::from_memory(std::string data, Format f, const InputOptions& o) {
  return detail::make(std::make_unique<detail::Input>(detail::decode_unicode(detail::memory_source(std::move(data)))),
                      f, o);
}

}  // namespace mailsift::ingest
