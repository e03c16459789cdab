#pragma once
// Internal: where a reader's bytes come from (a file descriptor, a gzip stream or memory) and the
// one fixed-size block buffer the parsers scan. Not part of the public API.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

namespace mailsift::ingest::detail {

class Source {
 public:
  virtual ~Source() = default;
  /// Up to `n` bytes into `buf`; 0 at the end. Throws std::runtime_error on failure.
  virtual std::size_t read(char* buf, std::size_t n) = 0;
  [[nodiscard]] virtual std::uint64_t consumed() const noexcept = 0;
  [[nodiscard]] virtual std::uint64_t total() const noexcept = 0;
};

/// PATH ("-" = standard input), through zlib when `gzip`. Throws std::runtime_error.
std::unique_ptr<Source> open_source(const std::string& path, bool gzip);
std::unique_ptr<Source> memory_source(std::string data);
/// `src` as UTF-8. A UTF-16 or UTF-32 byte order mark (LE or BE) at its start makes the bytes after
/// it transcoded to UTF-8 as they are read (streamed, in bounded memory); without one the bytes
/// pass unchanged (a UTF-8 BOM included: the readers skip it). Text that is not well-formed in its
/// encoding (an unpaired surrogate, a UTF-32 value past U+10FFFF, an odd trailing byte) becomes
/// bytes that are not UTF-8 either (the surrogate's 3-byte form, 0xFF), so the record holding it
/// is reported as syntax.invalid_utf8 rather than silently changed. docs/bulk.md.
std::unique_ptr<Source> decode_unicode(std::unique_ptr<Source> src);

/// A block buffer over a Source: [pos, end) are unread bytes. `fill` replaces the buffer's
/// contents (callers copy out what they keep before asking for more), so memory is one block.
class Input {
 public:
  explicit Input(std::unique_ptr<Source> src, std::size_t block = std::size_t{256} * 1024)
      : src_(std::move(src)), buf_(std::make_unique_for_overwrite<char[]>(block)), size_(block) {}

  /// Reads the next block when the buffer is used up; false at the end of input.
  bool fill() {
    if (pos < end) return true;
    if (eof_) return false;
    const std::size_t n = src_->read(buf_.get(), size_);
    pos = buf_.get();
    end = pos + n;
    if (n == 0) eof_ = true;
    return n != 0;
  }
  /// Makes at least `n` unread bytes available when the input has them (for the BOM and sniffing):
  /// moves the unread tail to the front and reads more, never beyond one block.
  void want(std::size_t n) {
    if (n > size_) n = size_;
    while (static_cast<std::size_t>(end - pos) < n && !eof_) {
      const std::size_t have = static_cast<std::size_t>(end - pos);
      if (have) std::memmove(buf_.get(), pos, have);
      pos = buf_.get();
      end = pos + have;
      const std::size_t got = src_->read(buf_.get() + have, size_ - have);
      if (got == 0) eof_ = true;
      end += got;
    }
  }
  /// Skips a UTF-8 byte order mark at the current position.
  void skip_bom() {
    want(3);
    if (end - pos >= 3 && pos[0] == '\xEF' && pos[1] == '\xBB' && pos[2] == '\xBF') pos += 3;
  }
  [[nodiscard]] std::uint64_t consumed() const noexcept { return src_->consumed(); }
  [[nodiscard]] std::uint64_t total() const noexcept { return src_->total(); }

  const char* pos = nullptr;
  const char* end = nullptr;

 private:
  std::unique_ptr<Source> src_;
  // Not zero-filled: only bytes read into it are ever looked at (a reader per input when fuzzing
  // would otherwise clear the whole block each time).
  std::unique_ptr<char[]> buf_;
  std::size_t size_;
  bool eof_ = false;
};

}  // namespace mailsift::ingest::detail
