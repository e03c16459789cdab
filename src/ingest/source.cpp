#include "ingest/source.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <string_view>
#include <utility>
#include <vector>

namespace mailsift::ingest::detail {
namespace {

[[noreturn]] void fail(const std::string& what, const std::string& path, int err) {
  throw std::runtime_error(what + " " + (path == "-" ? std::string("standard input") : path) + ": " +
                           std::strerror(err));
}

class FdSource final : public Source {
 public:
  FdSource(int fd, bool own, std::string path) : fd_(fd), own_(own), path_(std::move(path)) {
    struct stat st {};
    if (::fstat(fd_, &st) == 0 && S_ISREG(st.st_mode)) total_ = static_cast<std::uint64_t>(st.st_size);
  }
  ~FdSource() override {
    if (own_) ::close(fd_);
  }
  FdSource(const FdSource&) = delete;
  FdSource& operator=(const FdSource&) = delete;

  std::size_t read(char* buf, std::size_t n) override {
    ssize_t got;
    do {
      got = ::read(fd_, buf, n);
    } while (got < 0 && errno == EINTR);
    if (got < 0) fail("cannot read", path_, errno);
    consumed_ += static_cast<std::uint64_t>(got);
    return static_cast<std::size_t>(got);
  }
  [[nodiscard]] std::uint64_t consumed() const noexcept override { return consumed_; }
  [[nodiscard]] std::uint64_t total() const noexcept override { return total_; }

 private:
  int fd_;
  bool own_;
  std::string path_;
  std::uint64_t consumed_ = 0;
  std::uint64_t total_ = 0;
};

// zlib's gzread inflates gzip members (concatenated ones too) and passes bytes that are not gzip
// through unchanged, so a mislabelled plain file still reads.
class GzSource final : public Source {
 public:
  GzSource(int fd, std::string path) : path_(std::move(path)) {
    struct stat st {};
    if (::fstat(fd, &st) == 0 && S_ISREG(st.st_mode)) total_ = static_cast<std::uint64_t>(st.st_size);
    gz_ = ::gzdopen(fd, "rb");
    if (gz_ == nullptr) {
      const int err = errno;
      ::close(fd);
      fail("cannot open", path_, err ? err : ENOMEM);
    }
    ::gzbuffer(gz_, 128 * 1024);
  }
  ~GzSource() override { ::gzclose_r(gz_); }
  GzSource(const GzSource&) = delete;
  GzSource& operator=(const GzSource&) = delete;

  std::size_t read(char* buf, std::size_t n) override {
    if (n > (1u << 30)) n = 1u << 30;  // gzread takes an unsigned int
    const int got = ::gzread(gz_, buf, static_cast<unsigned>(n));
    if (got < 0) {
      int errnum = 0;
      const char* msg = ::gzerror(gz_, &errnum);
      if (errnum == Z_ERRNO) fail("cannot read", path_, errno);
      throw std::runtime_error("cannot decompress " + path_ + ": " + (msg ? msg : "gzip error"));
    }
    // A truncated gzip stream ends without an error from gzread; gzerror tells (Z_BUF_ERROR).
    if (got == 0) {
      int errnum = 0;
      const char* msg = ::gzerror(gz_, &errnum);
      if (errnum != Z_OK) throw std::runtime_error("cannot decompress " + path_ + ": " + (msg ? msg : "gzip error"));
    }
    const z_off_t off = ::gzoffset(gz_);
    if (off >= 0) consumed_ = static_cast<std::uint64_t>(off);
    return static_cast<std::size_t>(got);
  }
  [[nodiscard]] std::uint64_t consumed() const noexcept override { return consumed_; }
  [[nodiscard]] std::uint64_t total() const noexcept override { return total_; }

 private:
  gzFile gz_ = nullptr;
  std::string path_;
  std::uint64_t consumed_ = 0;
  std::uint64_t total_ = 0;
};

class MemorySource final : public Source {
 public:
  explicit MemorySource(std::string data) : data_(std::move(data)) {}
  std::size_t read(char* buf, std::size_t n) override {
    const std::size_t k = std::min(n, data_.size() - off_);
    std::memcpy(buf, data_.data() + off_, k);
    off_ += k;
    return k;
  }
  [[nodiscard]] std::uint64_t consumed() const noexcept override { return off_; }
  [[nodiscard]] std::uint64_t total() const noexcept override { return data_.size(); }

 private:
  std::string data_;
  std::size_t off_ = 0;
};

// The first bytes of a source, read to look for a byte order mark, given back before the rest.
class ReplaySource final : public Source {
 public:
  ReplaySource(std::unique_ptr<Source> src, std::string head) : src_(std::move(src)), head_(std::move(head)) {}
  std::size_t read(char* buf, std::size_t n) override {
    if (at_ < head_.size()) {
      const std::size_t k = std::min(n, head_.size() - at_);
      std::memcpy(buf, head_.data() + at_, k);
      at_ += k;
      return k;
    }
    return src_->read(buf, n);
  }
  [[nodiscard]] std::uint64_t consumed() const noexcept override { return src_->consumed(); }
  [[nodiscard]] std::uint64_t total() const noexcept override { return src_->total(); }

 private:
  std::unique_ptr<Source> src_;
  std::string head_;
  std::size_t at_ = 0;
};

// UTF-16 (RFC 2781) or UTF-32 code units to UTF-8 (RFC 3629), streamed: memory is one block of
// input (kRaw) and one code point of output.
class TranscodingSource final : public Source {
 public:
  TranscodingSource(std::unique_ptr<Source> src, unsigned unit, bool big_endian, std::string rest)
      : src_(std::move(src)), unit_(unit), be_(big_endian), raw_(kRaw) {
    std::memcpy(raw_.data(), rest.data(), rest.size());  // at most 2 bytes: what followed the BOM
    len_ = rest.size();
  }
  std::size_t read(char* buf, std::size_t n) override {
    std::size_t k = 0;
    while (k < n) {
      if (staged_at_ < staged_len_) {  // the tail of a code point that did not fit last time
        buf[k++] = staged_[staged_at_++];
        continue;
      }
      char tmp[4];
      const std::size_t len = next(tmp);
      if (len == 0) break;
      if (n - k >= len) {
        std::memcpy(buf + k, tmp, len);
        k += len;
      } else {
        std::memcpy(staged_, tmp, len);
        staged_len_ = len;
        staged_at_ = 0;
      }
    }
    return k;
  }
  [[nodiscard]] std::uint64_t consumed() const noexcept override { return src_->consumed(); }
  [[nodiscard]] std::uint64_t total() const noexcept override { return src_->total(); }

 private:
  static constexpr std::size_t kRaw = 64 * 1024;
  static constexpr std::uint32_t kEnd = 0xFFFFFFFF;      // no more input
  static constexpr std::uint32_t kPartial = 0xFFFFFFFE;  // the input ended inside a code unit

  // The next code unit, kEnd or kPartial.
  std::uint32_t unit() {
    if (held_ != kEnd) return std::exchange(held_, kEnd);
    if (len_ - pos_ < unit_) {
      std::memmove(raw_.data(), raw_.data() + pos_, len_ - pos_);
      len_ -= pos_;
      pos_ = 0;
      while (len_ < unit_) {
        const std::size_t got = src_->read(raw_.data() + len_, kRaw - len_);
        if (got == 0) break;
        len_ += got;
      }
      if (len_ == 0) return kEnd;
      if (len_ < unit_) {
        len_ = 0;
        return kPartial;
      }
    }
    const auto* b = reinterpret_cast<const unsigned char*>(raw_.data() + pos_);
    pos_ += unit_;
    std::uint32_t v = 0;
    for (unsigned i = 0; i < unit_; ++i) v |= static_cast<std::uint32_t>(b[be_ ? unit_ - 1 - i : i]) << (8 * i);
    return v;
  }
  // The next code point as UTF-8 into `out` (room for 4); its length, 0 at the end.
  std::size_t next(char* out) {
    std::uint32_t c = unit();
    if (c == kEnd) return 0;
    if (c == kPartial || c > 0x10FFFF) {
      out[0] = '\xFF';  // never in UTF-8
      return 1;
    }
    if (unit_ == 2 && c >= 0xD800 && c <= 0xDBFF) {
      const std::uint32_t low = unit();
      if (low != kEnd && low != kPartial && low >= 0xDC00 && low <= 0xDFFF) {
        c = 0x10000 + ((c - 0xD800) << 10) + (low - 0xDC00);
      } else if (low != kEnd) {
        held_ = low;  // read again next time: it starts the next code point (kPartial: 0xFF then)
      }
    }
    // An unpaired surrogate (either half) takes the 3-byte form below: ill-formed UTF-8, which the
    // verifier reports (syntax.invalid_utf8).
    const auto byte = [](std::uint32_t v) { return static_cast<char>(static_cast<unsigned char>(v)); };
    if (c < 0x80) {
      out[0] = byte(c);
      return 1;
    }
    if (c < 0x800) {
      out[0] = byte(0xC0 | (c >> 6));
      out[1] = byte(0x80 | (c & 0x3F));
      return 2;
    }
    if (c < 0x10000) {
      out[0] = byte(0xE0 | (c >> 12));
      out[1] = byte(0x80 | ((c >> 6) & 0x3F));
      out[2] = byte(0x80 | (c & 0x3F));
      return 3;
    }
    out[0] = byte(0xF0 | (c >> 18));
    out[1] = byte(0x80 | ((c >> 12) & 0x3F));
    out[2] = byte(0x80 | ((c >> 6) & 0x3F));
    out[3] = byte(0x80 | (c & 0x3F));
    return 4;
  }

  std::unique_ptr<Source> src_;
  unsigned unit_;  // 2 or 4 bytes
  bool be_;
  std::vector<char> raw_;
  std::size_t pos_ = 0, len_ = 0;
  std::uint32_t held_ = kEnd;  // a code unit read ahead after a high surrogate
  char staged_[4] = {};
  std::size_t staged_at_ = 0, staged_len_ = 0;
};

}  // namespace

std::unique_ptr<Source> decode_unicode(std::unique_ptr<Source> src) {
  std::string head(4, '\0');
  std::size_t have = 0;
  while (have < 4) {
    const std::size_t got = src->read(head.data() + have, 4 - have);
    if (got == 0) break;
    have += got;
  }
  head.resize(have);
  // Longest first: the UTF-32LE mark begins with the UTF-16LE one (Unicode §23.8, Table 23-4).
  struct Bom {
    std::string_view bytes;
    unsigned unit;
    bool big_endian;
  };
  static constexpr Bom kBoms[] = {
      {{"\xFF\xFE\0\0", 4}, 4, false}, {{"\0\0\xFE\xFF", 4}, 4, true}, {"\xFF\xFE", 2, false}, {"\xFE\xFF", 2, true}};
  for (const Bom& b : kBoms)
    if (std::string_view(head).starts_with(b.bytes))
      return std::make_unique<TranscodingSource>(std::move(src), b.unit, b.big_endian, head.substr(b.bytes.size()));
  return std::make_unique<ReplaySource>(std::move(src), std::move(head));
}

std::unique_ptr<Source> open_source(const std::string& path, bool gzip) {
  int fd = 0;
  const bool own = path != "-";
  if (own) {
    do {
      fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    } while (fd < 0 && errno == EINTR);
    if (fd < 0) fail("cannot open", path, errno);
    struct stat st {};
    if (::fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
      ::close(fd);
      fail("cannot read", path, EISDIR);
    }
  }
  if (gzip) {
    if (!own) fd = ::dup(0);
    if (fd < 0) fail("cannot open", path, errno);
    return std::make_unique<GzSource>(fd, path);
  }
  return std::make_unique<FdSource>(fd, own, path);
}

std::unique_ptr<Source> memory_source(std::string data) { return std::make_unique<MemorySource>(std::move(data)); }

}  // namespace mailsift::ingest::detail
