#include "common/line_reader.hpp"

#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <system_error>

namespace mailsift {

LineReader::LineReader(int fd, std::size_t max_line, std::size_t block)
    : fd_(fd), max_line_(max_line), block_(block), buf_(block + max_line) {}

bool LineReader::fill() {
  if (eof_) return false;
  if (begin_ > 0) {  // keep the partial line, move it to the front
    std::memmove(buf_.data(), buf_.data() + begin_, end_ - begin_);
    end_ -= begin_;
    begin_ = 0;
  }
  const std::size_t room = buf_.size() - end_;
  if (room == 0) return false;
  ssize_t n;
  do {
    n = ::read(fd_, buf_.data() + end_, room);
  } while (n < 0 && errno == EINTR);
  if (n < 0) throw std::system_error(errno, std::generic_category(), "read");
  if (n == 0) {
    eof_ = true;
    return false;
  }
  end_ += static_cast<std::size_t>(n);
  return true;
}

bool LineReader::next(Line& line) {
  for (;;) {
    const char* start = buf_.data() + begin_;
    const std::size_t avail = end_ - begin_;
    const auto* nl = static_cast<const char*>(std::memchr(start, '\n', avail));
    if (skipping_) {
      if (nl != nullptr) {
        begin_ += static_cast<std::size_t>(nl - start) + 1;
        skipping_ = false;
        continue;
      }
      begin_ = end_ = 0;
      if (!fill()) return false;
      continue;
    }
    if (nl != nullptr && static_cast<std::size_t>(nl - start) <= max_line_) {
      std::size_t len = static_cast<std::size_t>(nl - start);
      begin_ += len + 1;
      if (len > 0 && start[len - 1] == '\r') --len;
      line = {{start, len}, false};
      return true;
    }
    if (avail > max_line_) {  // over-long: hand out the head, skip the rest up to the next LF
      line = {{start, max_line_}, true};
      begin_ += max_line_;
      skipping_ = true;
      return true;
    }
    if (!fill()) {
      if (end_ == begin_) return false;
      std::size_t len = end_ - begin_;  // last line without LF
      begin_ = end_;
      if (len > 0 && start[len - 1] == '\r') --len;
      line = {{start, len}, false};
      return true;
    }
  }
}

}  // namespace mailsift
