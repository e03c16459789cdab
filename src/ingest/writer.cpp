#include "ingest/writer.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

#include "common/text.hpp"
#include "verdict/render.hpp"

namespace mailsift::ingest {

class Writer::Sink {
 public:
  virtual ~Sink() = default;
  virtual void write(const char* p, std::size_t n) = 0;
  virtual void flush() = 0;
  virtual void close() = 0;
};

namespace {

constexpr std::size_t kDrainAt = std::size_t{256} * 1024;

std::string shown(const std::string& path) { return path == "-" ? std::string("standard output") : path; }

[[noreturn]] void fail(const std::string& what, const std::string& path, int err) {
  throw std::runtime_error(what + " " + shown(path) + ": " + std::strerror(err));
}

class FdSink final : public Writer::Sink {
 public:
  FdSink(int fd, bool own, std::string path) : fd_(fd), own_(own), path_(std::move(path)) {}
  ~FdSink() override {
    if (own_ && fd_ >= 0) ::close(fd_);
  }
  FdSink(const FdSink&) = delete;
  FdSink& operator=(const FdSink&) = delete;
  void write(const char* p, std::size_t n) override {
    while (n > 0) {
      const ssize_t k = ::write(fd_, p, n);
      if (k < 0) {
        if (errno == EINTR) continue;
        fail("cannot write", path_, errno);
      }
      p += k;
      n -= static_cast<std::size_t>(k);
    }
  }
  void flush() override {}
  void close() override {
    if (own_ && fd_ >= 0) {
      const int fd = fd_;
      fd_ = -1;
      if (::close(fd) != 0 && errno != EINTR) fail("cannot write", path_, errno);
    }
  }

 private:
  int fd_;
  bool own_;
  std::string path_;
};

// zlib level 1: bulk results are repetitive text that compresses well even at the fastest level,
// and the writer must keep up with a million rows a second.
class GzSink final : public Writer::Sink {
 public:
  GzSink(int fd, std::string path) : path_(std::move(path)) {
    gz_ = ::gzdopen(fd, "wb1");
    if (gz_ == nullptr) {
      ::close(fd);
      fail("cannot open", path_, ENOMEM);
    }
    ::gzbuffer(gz_, 128 * 1024);
  }
  ~GzSink() override {
    if (gz_) ::gzclose_w(gz_);
  }
  GzSink(const GzSink&) = delete;
  GzSink& operator=(const GzSink&) = delete;
  void write(const char* p, std::size_t n) override {
    while (n > 0) {
      const unsigned chunk = n > (1u << 30) ? (1u << 30) : static_cast<unsigned>(n);
      const int k = ::gzwrite(gz_, p, chunk);
      if (k <= 0) error();
      p += k;
      n -= static_cast<std::size_t>(k);
    }
  }
  void flush() override {
    if (::gzflush(gz_, Z_SYNC_FLUSH) != Z_OK) error();
  }
  void close() override {
    if (gz_ == nullptr) return;
    gzFile g = gz_;
    gz_ = nullptr;
    const int rc = ::gzclose_w(g);
    if (rc == Z_ERRNO) fail("cannot write", path_, errno);
    if (rc != Z_OK) throw std::runtime_error("cannot write " + shown(path_) + ": gzip error");
  }

 private:
  [[noreturn]] void error() {
    int errnum = 0;
    const char* msg = ::gzerror(gz_, &errnum);
    if (errnum == Z_ERRNO) fail("cannot write", path_, errno);
    throw std::runtime_error("cannot write " + shown(path_) + ": " + (msg ? msg : "gzip error"));
  }
  gzFile gz_ = nullptr;
  std::string path_;
};

class StringSink final : public Writer::Sink {
 public:
  explicit StringSink(std::string& out) : out_(out) {}
  void write(const char* p, std::size_t n) override { out_.append(p, n); }
  void flush() override {}
  void close() override {}

 private:
  std::string& out_;
};

void append_bool(bool b, std::string& out) { out += b ? "true" : "false"; }

char* write_bool(bool b, char* p) {
  const std::string_view v = b ? "true" : "false";
  std::memcpy(p, v.data(), v.size());
  return p + v.size();
}

void append_json_quoted(std::string_view s, std::string& out) {
  out.push_back('"');
  render::append_json_string(s, out);
  out.push_back('"');
}

}  // namespace

std::unique_ptr<Writer> Writer::open(const std::string& path, const OutputOptions& o, const Reader* input, Open how) {
  int fd = 1;
  const bool own = path != "-";
  if (own) {
    const int flags =
        how == Open::create ? O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC : O_WRONLY | O_NOCTTY | O_CLOEXEC;
    do {
      fd = ::open(path.c_str(), flags, 0640);
    } while (fd < 0 && errno == EINTR);
    if (fd < 0) fail(how == Open::create ? "cannot create" : "cannot open", path, errno);
    struct stat st {};
    if (how == Open::existing && (::fstat(fd, &st) != 0 || S_ISREG(st.st_mode))) {
      // It was not a regular file when the caller looked; writing into one without truncating it
      // would leave its old tail behind.
      ::close(fd);
      throw std::runtime_error("cannot open " + path + ": it became a regular file");
    }
  }
  std::unique_ptr<Sink> sink;
  if (o.gzip) {
    if (!own) fd = ::dup(1);
    if (fd < 0) fail("cannot open", path, errno);
    sink = std::make_unique<GzSink>(fd, path);
  } else {
    sink = std::make_unique<FdSink>(fd, own, path);
  }
  return std::unique_ptr<Writer>(new Writer(std::move(sink), o, input));
}

std::unique_ptr<Writer> Writer::to_string(std::string& out, const OutputOptions& o, const Reader* input) {
  OutputOptions plain = o;
  plain.gzip = false;
  return std::unique_ptr<Writer>(new Writer(std::make_unique<StringSink>(out), plain, input));
}

Writer::Writer(std::unique_ptr<Sink> sink, const OutputOptions& o, const Reader* input)
    : sink_(std::move(sink)), o_(o) {
  if (input) {
    in_format_ = input->format();
    if (in_format_ == Format::csv) {
      header_ = input->header();
      delim_ = input->delimiter();
      width_ = header_.empty() ? input->width() : header_.size();
      // The address column is always among the input columns, before the results: a header that
      // is shorter than the rows holding the addresses gets empty names up to it (docs/bulk.md).
      if (const auto c = input->email_column(); c && *c >= width_) width_ = *c + 1;
    }
  }
  // CSV result column names: plain unless one collides with an input column, then all prefixed.
  std::vector<std::string> names;
  for (const std::string_view n : render::csv_result_columns()) names.emplace_back(n);
  names.emplace_back("duplicate");
  bool collide = false;
  for (const std::string& h : header_)
    for (const std::string& n : names) collide |= text::iequals_ascii(text::trim_blanks(h), n);
  for (std::string& n : names) result_names_.push_back(collide ? "mailsift_" + n : n);
  // CSV → JSONL member names: the header's, "column N" (1-based) for an empty or repeated one.
  for (std::size_t i = 0; i < header_.size(); ++i) {
    bool repeated = header_[i].empty();
    for (std::size_t k = 0; k < i && !repeated; ++k) repeated = header_[k] == header_[i];
    json_keys_.push_back(repeated ? "column " + std::to_string(i + 1) : header_[i]);
  }
  buf_.reserve(kDrainAt + 64 * 1024);
  write_header();
}

Writer::~Writer() {
  try {
    close();
  } catch (...) {  // NOLINT(bugprone-empty-catch): a destructor must not throw; close() reports
  }
}

void Writer::write_header() {
  if (o_.format == Format::txt) {
    render::append_table_header(buf_);
    return;
  }
  if (o_.format != Format::csv) return;
  if (in_format_ == Format::csv) {
    if (header_.empty()) return;  // headerless in, headerless out
    for (std::size_t i = 0; i < width_; ++i) {
      const std::string_view h = i < header_.size() ? std::string_view(header_[i]) : std::string_view{};
      if (i) buf_.push_back(delim_);
      // A field starting like a byte order mark is quoted by render (it would read back as the
      // file's encoding).
      render::append_csv_field(h, buf_, delim_, o_.cells);
    }
    for (const std::string& n : result_names_) {
      buf_.push_back(delim_);
      render::append_csv_field(n, buf_, delim_);
    }
    buf_.push_back('\n');
    return;
  }
  render::append_csv_header(buf_);
  buf_.pop_back();
  buf_ += ",duplicate";
  if (in_format_ == Format::jsonl) buf_ += ",input";
  buf_.push_back('\n');
}

void Writer::write(const Record& in, const Result& r, bool duplicate) {
  if (closed_) throw std::logic_error("ingest::Writer::write after close");
  switch (o_.format) {
    case Format::csv: (void)write_csv(in, r, duplicate, buf_); break;
    case Format::jsonl: (void)write_jsonl(in, r, duplicate, buf_); break;
    case Format::txt: render::append_table(r, buf_); break;
  }
  maybe_drain();
}

std::size_t Writer::render(const Record& in, const Result& r, std::string& out) const {
  switch (o_.format) {
    case Format::csv: return write_csv(in, r, false, out);
    case Format::jsonl: return write_jsonl(in, r, false, out);
    case Format::txt: break;
  }
  render::append_table(r, out);
  return std::string::npos;
}

void Writer::write_rendered(std::string_view bytes) {
  if (closed_) throw std::logic_error("ingest::Writer::write after close");
  if (buf_.size() + bytes.size() < kDrainAt) {
    buf_ += bytes;
    return;
  }
  // A large piece (the offline pipeline writes a block's rows at once) goes out without a copy.
  if (!buf_.empty()) sink_->write(buf_.data(), buf_.size());
  buf_.clear();
  sink_->write(bytes.data(), bytes.size());
}

// CSV input: the row's first `width` fields (padded with empty ones when the row is shorter), the
// result columns, then any fields beyond `width` (so the result columns stay under their header
// and the address under its own column in every row; docs/bulk.md, "Ragged rows").
// The row is written into room sized once for its worst case (every field quoted, every quote
// doubled): no capacity check per field, no copy through a temporary.
std::size_t Writer::write_csv(const Record& in, const Result& r, bool duplicate, std::string& out) const {
  if (in_format_ == Format::csv) {
    const std::size_t n = in.fields.size();
    std::size_t bound = width_ + render::csv_result_bound(r) + 8;
    for (const std::string& f : in.fields) bound += render::csv_field_bound(f.size()) + 1;
    const std::size_t old = out.size();
    out.resize(old + bound);
    char* p = out.data() + old;
    for (std::size_t i = 0; i < width_; ++i) {
      if (i < n)
        p = render::write_csv_field(in.fields[i], p, delim_, o_.cells);
      *p++ = delim_;
    }
    p = render::write_csv_result(r, p, delim_, o_.cells);
    *p++ = delim_;
    const std::size_t at = static_cast<std::size_t>(p - out.data());
    p = write_bool(duplicate, p);
    for (std::size_t i = width_; i < n; ++i) {
      *p++ = delim_;
      p = render::write_csv_field(in.fields[i], p, delim_, o_.cells);
    }
    *p++ = '\n';
    out.resize(static_cast<std::size_t>(p - out.data()));
    return at;
  }
  render::append_csv_field(r.email, out, ',', o_.cells);  // after the header: never the file's first bytes
  out.push_back(',');
  render::append_csv_result(r, out, ',', o_.cells);
  out.push_back(',');
  const std::size_t at = out.size();
  append_bool(duplicate, out);
  if (in_format_ == Format::jsonl) {
    out.push_back(',');
    render::append_csv_field(in.json, out, ',', o_.cells);
  }
  out.push_back('\n');
  return at;
}

std::size_t Writer::append_result_json(const Result& r, bool duplicate, std::string& out) {
  render::append_json(r, out);
  out.pop_back();  // the closing brace
  out += ",\"duplicate\":";
  const std::size_t at = out.size();
  append_bool(duplicate, out);
  out.push_back('}');
  return at;
}

std::size_t Writer::write_jsonl(const Record& in, const Result& r, bool duplicate, std::string& out) const {
  std::size_t at = 0;
  switch (in_format_) {
    case Format::txt:
      at = append_result_json(r, duplicate, out);
      break;
    case Format::jsonl:
      if (in.json_object) {
        // The input object byte for byte, with "mailsift" appended as its last member.
        std::string_view obj = in.json;
        while (!obj.empty() && obj.back() != '}') obj.remove_suffix(1);
        if (!obj.empty()) obj.remove_suffix(1);
        out.append(obj);
        std::size_t k = obj.size();
        while (k > 0 && (obj[k - 1] == ' ' || obj[k - 1] == '\t' || obj[k - 1] == '\n' || obj[k - 1] == '\r')) --k;
        if (k > 0 && obj[k - 1] != '{') out.push_back(',');
        out += "\"mailsift\":";
      } else {
        out += "{\"input\":";
        append_json_quoted(in.json, out);
        out += ",\"mailsift\":";
      }
      at = append_result_json(r, duplicate, out);
      out.push_back('}');
      break;
    case Format::csv: {
      out += "{\"row\":";
      const std::size_t n = in.fields.size();
      if (header_.empty()) {
        out.push_back('[');
        for (std::size_t i = 0; i < n; ++i) {
          if (i) out.push_back(',');
          append_json_quoted(in.fields[i], out);
        }
        out.push_back(']');
      } else {
        out.push_back('{');
        for (std::size_t i = 0; i < n; ++i) {
          if (i) out.push_back(',');
          if (i < json_keys_.size()) append_json_quoted(json_keys_[i], out);
          else append_json_quoted("column " + std::to_string(i + 1), out);
          out.push_back(':');
          append_json_quoted(in.fields[i], out);
        }
        out.push_back('}');
      }
      out += ",\"mailsift\":";
      at = append_result_json(r, duplicate, out);
      out.push_back('}');
      break;
    }
  }
  out.push_back('\n');
  return at;
}

void Writer::maybe_drain() {
  if (buf_.size() < kDrainAt) return;
  sink_->write(buf_.data(), buf_.size());
  buf_.clear();
}

void Writer::flush() {
  if (closed_) return;
  if (!buf_.empty()) sink_->write(buf_.data(), buf_.size());
  buf_.clear();
  sink_->flush();
}

void Writer::close() {
  if (closed_) return;
  closed_ = true;
  std::string pending;
  pending.swap(buf_);
  if (!pending.empty()) sink_->write(pending.data(), pending.size());
  sink_->close();
}

}  // namespace mailsift::ingest
