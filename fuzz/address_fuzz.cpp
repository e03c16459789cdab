// Fuzzes the whole offline path for one input: parse, domain knowledge, verdict, JSON and CSV.
// Beyond "no crash, no sanitizer report" it checks the properties the SMTP stage relies on:
// an accepted address never holds a control character, respects the RFC 5321 lengths, and
// parsing its normalized form again gives the same normalized form (normalization is idempotent).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "address/address.hpp"
#include "domain/knowledge.hpp"
#include "verdict/classify.hpp"
#include "verdict/render.hpp"

namespace {
[[noreturn]] void fail(const char* what) {
  __builtin_printf("property violated: %s\n", what);
  std::abort();
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const mailsift::domain::Knowledge knowledge;
  static mailsift::Classifier classifier(knowledge);
  const std::string_view input(reinterpret_cast<const char*>(data), size);

  mailsift::Result r;
  classifier.classify(input, r);
  std::string out;
  mailsift::render::append_json(r, out);
  mailsift::render::append_csv(r, out);
  mailsift::render::append_table(r, out);
  if (!r.parsed) return 0;

  const mailsift::address::Address& a = r.address;
  const std::string_view n = a.normalized();
  for (char c : n)
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7F) fail("control character in normalized address");
  if (a.local().size() > mailsift::address::kMaxLocal) fail("local part over 64 octets");
  if (n.size() > mailsift::address::kMaxAddress) fail("address over 254 octets");
  if (a.domain().size() > mailsift::address::kMaxDomain + 2 && a.literal == mailsift::address::Literal::none)
    fail("domain over 253 octets");

  mailsift::address::Address again;
  const std::string copy(n);
  if (mailsift::address::parse(copy, again) != mailsift::Reason::well_formed) fail("normalized form does not parse");
  if (again.normalized() != n) fail("normalization is not idempotent");
  (void)mailsift::address::canonical(a);
  return 0;
}
