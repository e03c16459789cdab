#pragma once
// A bulk job's JSON body, read incrementally: `["a@x.org", …]` or `{"emails": […], "name": …}`.
// Only the addresses and the object's scalar members are kept, so a body costs about its own size
// in memory whatever it holds (a DOM of a 60 MiB array of numbers took 1.6 GiB), and the first
// value of a wrong type ends the parse. Fed in slices, so the caller can let the event loop run
// between them. Entry point: JobJsonReader.
#include <cstddef>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace mailsift::server {

using Params = std::map<std::string, std::string, std::less<>>;

class JobJsonReader {
 public:
  /// Addresses go to `addresses` (at most `max_addresses`), scalar members of a top-level object to
  /// `params` (numbers and booleans as text; null members skipped).
  JobJsonReader(std::vector<std::string>& addresses, Params& params, std::size_t max_addresses);
  ~JobJsonReader();
  JobJsonReader(const JobJsonReader&) = delete;
  JobJsonReader& operator=(const JobJsonReader&) = delete;

  /// Parses the next slice (`last`: the body ends with it). False on error: see status(), code()
  /// and message().
  bool write(std::string_view slice, bool last);
  [[nodiscard]] unsigned status() const noexcept { return status_; }
  [[nodiscard]] const std::string& code() const noexcept { return code_; }
  [[nodiscard]] const std::string& message() const noexcept { return message_; }

 private:
  struct Handler;
  struct Parser;
  std::unique_ptr<Parser> parser_;
  unsigned status_ = 400;
  std::string code_, message_;
};

}  // namespace mailsift::server
