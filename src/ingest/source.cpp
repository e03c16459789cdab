#include "ingest/source.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

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

}  // namespace

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
