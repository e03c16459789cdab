#pragma once
// The one bounded reader for line-oriented untrusted input. Reads a file descriptor in large
// blocks and hands out lines as views into its buffer; memory stays at one block plus one maximum
// line however the input looks. A line longer than `max_line` is not buffered whole: its first
// `max_line` bytes are returned with `truncated` set and the rest is skipped.
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace mailsift {

class LineReader {
 public:
  struct Line {
    std::string_view text;  // without the line end (LF or CRLF)
    bool truncated = false;
  };

  explicit LineReader(int fd, std::size_t max_line = std::size_t{64} * 1024, std::size_t block = std::size_t{1} << 20);

  /// Next line (valid until the next call), or false at end of input. Throws std::system_error on a read error.
  bool next(Line& line);

 private:
  bool fill();
  int fd_;
  std::size_t max_line_;
  std::size_t block_;
  std::vector<char> buf_;
  std::size_t begin_ = 0, end_ = 0;
  bool eof_ = false;
  bool skipping_ = false;  // inside the tail of an over-long line
};

}  // namespace mailsift
