// Fuzzes the RDAP readers (domain/rdap.hpp): answers come from registries' servers, bootstrap and
// --rdap-cache files from disk, all untrusted. The first byte picks the reader. Properties: no
// crash, no UB, no leak (sanitizers); an accepted answer has at most 32 status values, each short
// printable ASCII, and a `created` that reads back as the same instant; a base URL from a
// bootstrap file is https and ends in '/'; a stored answer reads back as it was written.
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>

#include "domain/rdap.hpp"

namespace {
using namespace mailsift::domain;

void check_answer(const Registration& r) {
  if (r.status.size() > 32) __builtin_trap();
  for (const std::string& s : r.status) {
    if (s.size() > 64) __builtin_trap();
    for (const char c : s)
      if (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) >= 0x7f) __builtin_trap();
  }
  std::int64_t t = 0;
  if (!r.created.empty() && (!parse_rfc3339(r.created, t) || t != r.created_unix)) __builtin_trap();
  (void)r.not_active();
  (void)r.new_domain();
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::string_view in(reinterpret_cast<const char*>(data) + 1, size - 1);
  switch (data[0] % 4) {
    case 0: {
      Registration r;
      try {
        parse_answer(in, r);
      } catch (const std::runtime_error&) {
        return 0;
      }
      check_answer(r);
      Registration back;
      if (!parse_registration(serialize_registration(r), back) || back.status != r.status || back.created != r.created)
        __builtin_trap();
      break;
    }
    case 1: {
      try {
        const Bootstrap b = parse_bootstrap(in);
        for (const char* d : {"a.com", "x.co.uk", "xn--p1ai", "com", ""}) {
          const std::string base = b.base_for(d);
          if (!base.empty() && (base.rfind("https://", 0) != 0 || base.back() != '/')) __builtin_trap();
        }
      } catch (const std::runtime_error&) {
      }
      break;
    }
    case 2: {
      Registration r;
      if (parse_registration(in, r)) check_answer(r);
      break;
    }
    default: {
      std::int64_t t = 0;
      (void)parse_rfc3339(in, t);
      try {
        (void)query_url("https://rdap.lab/", in);
      } catch (const std::invalid_argument&) {
      }
    }
  }
  return 0;
}
