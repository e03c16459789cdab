#pragma once
// The error every store file (state, cache, server database) throws: a std::runtime_error naming the
// file, plus whether the cause is a full disk (SQLITE_FULL, or an I/O error with ENOSPC/EDQUOT),
// which a long-running server waits out instead of failing.
#include <stdexcept>
#include <string>

namespace mailsift::store {

class StoreError : public std::runtime_error {
 public:
  StoreError(const std::string& what, bool disk_full) : std::runtime_error(what), disk_full_(disk_full) {}
  [[nodiscard]] bool disk_full() const noexcept { return disk_full_; }

 private:
  bool disk_full_;
};

}  // namespace mailsift::store
