// Address syntax, after RFC 5321 §4.1.2 (Mailbox, Local-part, Dot-string, Quoted-string),
// §4.1.3 (address literals), §4.5.3.1 (size limits), RFC 6531 §3.3 (UTF-8 atext and U-label
// domains), RFC 5890/5891 + UTS #46 (IDNA2008 through libidn2) and RFC 1034 §3.5 (LDH labels).
//
// Deliberate choices (docs/syntax.md lists them with the corpus disagreements):
// - No RFC 5322 extras: comments, folding whitespace, obs-local-part and display names are
//   rejected with their own reasons, because none of them can be sent in RCPT TO.
// - Control characters are rejected anywhere, quoted or not: they must never reach an SMTP command.
// - Non-ASCII text must be safe to display: unassigned, private-use, format (bidi controls,
//   zero-width characters) and non-ASCII space characters are rejected.
// - Lengths are measured on the normalized form, the bytes that would go on the wire.
#include <arpa/inet.h>
#include <idn2.h>
#include <unictype.h>
#include <uninorm.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <vector>

#include "address/address.hpp"
#include "common/flat_map.hpp"
#include "common/huge_pages.hpp"
#include "common/text.hpp"

namespace mailsift::address {
namespace {

using enum Reason;

// Byte classes for the hot loops.
enum : std::uint8_t {
  kAtext = 1,    // RFC 5322 §3.2.3 atext (ASCII part)
  kLdh = 2,      // letter, digit, hyphen (RFC 1034 §3.5)
  kQtext = 4,    // RFC 5321 qtextSMTP: %d32-33 / %d35-91 / %d93-126
  kControl = 8,  // C0 controls and DEL
};

constexpr std::array<std::uint8_t, 256> make_classes() {
  std::array<std::uint8_t, 256> t{};
  for (int c = 0; c < 0x20; ++c) t[static_cast<std::size_t>(c)] = kControl;
  t[0x7F] = kControl;
  for (int c = 32; c <= 126; ++c)
    if (c != '"' && c != '\\') t[static_cast<std::size_t>(c)] |= kQtext;
  for (int c = 'a'; c <= 'z'; ++c) t[static_cast<std::size_t>(c)] |= kAtext | kLdh;
  for (int c = 'A'; c <= 'Z'; ++c) t[static_cast<std::size_t>(c)] |= kAtext | kLdh;
  for (int c = '0'; c <= '9'; ++c) t[static_cast<std::size_t>(c)] |= kAtext | kLdh;
  t['-'] |= kLdh;
  for (char c : std::string_view("!#$%&'*+-/=?^_`{|}~")) t[static_cast<unsigned char>(c)] |= kAtext;
  return t;
}
constexpr auto kClass = make_classes();

constexpr std::uint8_t cls(char c) { return kClass[static_cast<unsigned char>(c)]; }

constexpr std::array<std::uint8_t, 256> make_lower() {
  std::array<std::uint8_t, 256> t{};
  for (int c = 0; c < 256; ++c) t[static_cast<std::size_t>(c)] = static_cast<std::uint8_t>(text::ascii_lower(static_cast<char>(c)));
  return t;
}
constexpr auto kLower = make_lower();

// 1 for every byte that cannot appear in an ASCII host name (anything but LDH and '.').
constexpr std::array<std::uint8_t, 256> make_not_host() {
  std::array<std::uint8_t, 256> t{};
  for (int c = 0; c < 256; ++c)
    t[static_cast<std::size_t>(c)] = !(kClass[static_cast<std::size_t>(c)] & kLdh) && c != '.';
  return t;
}
constexpr auto kNotHostChar = make_not_host();

// Dot-string bytes: 1 = atext or UTF-8 (RFC 6531), 2 = '.', 0 = anything else.
constexpr std::array<std::uint8_t, 256> make_local() {
  std::array<std::uint8_t, 256> t{};
  for (int c = 0; c < 256; ++c)
    t[static_cast<std::size_t>(c)] = (kClass[static_cast<std::size_t>(c)] & kAtext) || c >= 0x80 ? 1 : (c == '.' ? 2 : 0);
  return t;
}
constexpr auto kLocalByte = make_local();

// Full-width COMMERCIAL AT (U+FF20) and SMALL COMMERCIAL AT (U+FE6B): look-alikes people paste.
constexpr std::string_view kFullwidthAt = "\xEF\xBC\xA0";
constexpr std::string_view kSmallAt = "\xEF\xB9\xAB";

// A code point outside ASCII in a local part: allowed by RFC 6531 if it is safe to show.
Reason check_code_point(std::int32_t cp, bool first) noexcept {
  const auto uc = static_cast<ucs4_t>(cp);
  if (cp <= 0x9F) return syntax_control_character;  // C1 controls
  if (uc_is_general_category(uc, UC_CATEGORY_Zs) || uc_is_general_category(uc, UC_CATEGORY_Zl) ||
      uc_is_general_category(uc, UC_CATEGORY_Zp))
    return syntax_whitespace;
  if (uc_is_general_category(uc, UC_CATEGORY_Cc)) return syntax_control_character;
  // Cf: bidi controls (U+202A-202E, U+2066-2069), zero-width characters, BOM, soft hyphen: invisible
  // or reordering text is how look-alike addresses are built. Cn: unassigned. Co: private use.
  if (uc_is_general_category(uc, UC_CATEGORY_Cf) || uc_is_general_category(uc, UC_CATEGORY_Cn) ||
      uc_is_general_category(uc, UC_CATEGORY_Co) || uc_is_general_category(uc, UC_CATEGORY_Cs))
    return syntax_unsafe_unicode;
  if (first && uc_is_general_category(uc, UC_CATEGORY_M)) return syntax_unsafe_unicode;  // dangling mark
  return well_formed;
}

// Checks every non-ASCII code point of a local part (already known to be well-formed UTF-8).
Reason check_unicode_local(std::string_view s) noexcept {
  std::size_t i = 0;
  bool first = true;
  while (i < s.size()) {
    if (static_cast<unsigned char>(s[i]) < 0x80) {
      ++i;
      first = false;
      continue;
    }
    const std::int32_t cp = text::decode_utf8(s, i);
    if (cp < 0) return syntax_invalid_utf8;
    if (Reason r = check_code_point(cp, first); r != well_formed) return r;
    first = false;
  }
  return well_formed;
}

// RFC 5321 Dot-string with RFC 6531 UTF8-non-ascii allowed in atext.
Reason check_dot_string(std::string_view s) noexcept {
  if (s.front() == '.') return syntax_leading_dot;
  if (s.back() == '.') return syntax_trailing_dot;
  char prev = 0;
  for (char c : s) {
    if (c == '.') {
      if (prev == '.') return syntax_consecutive_dots;
    } else if (static_cast<unsigned char>(c) < 0x80 && !(cls(c) & kAtext)) {
      if (c == ' ') return syntax_whitespace;
      if (c == '(' || c == ')') return syntax_comment;
      if (c == '"') return syntax_bad_quoted_string;
      return syntax_invalid_character;
    }
    prev = c;
  }
  return well_formed;
}

bool is_dot_string(std::string_view s) noexcept { return !s.empty() && check_dot_string(s) == well_formed; }

// RFC 5321 §4.1.3 IPv4-address-literal: Snum 3("." Snum), Snum = 1*3DIGIT with value 0-255.
bool is_ipv4_literal(std::string_view s) noexcept {
  int parts = 0;
  std::size_t i = 0;
  while (true) {
    std::size_t start = i;
    int v = 0;
    while (i < s.size() && text::is_ascii_digit(s[i]) && i - start < 3) v = v * 10 + (s[i++] - '0');
    if (i == start || v > 255) return false;
    ++parts;
    if (i == s.size()) return parts == 4;
    if (s[i] != '.' || parts == 4) return false;
    ++i;
  }
}

// libidn2 costs microseconds per call, a hundred times the rest of the parse (on the realistic
// corpus of docs/benchmarks.md the 3.7% of addresses with an IDN took three quarters of the parse
// time). Lists repeat their domains, so each thread remembers answers: direct-mapped, fixed size,
// no allocation per address. 32,768 slots: a B2B list of 1,000,000 addresses has about 10,000
// distinct IDN domains (bench/gen_realistic.py) that come back all through the list, and 4,096
// slots kept only about a third of them. A slot (168 bytes) holds keys of up to kMaxKey bytes and
// answers of up to kMaxValue (longer ones are simply not cached), and the slots are left
// uninitialized (an empty slot is a zero in `used_`), so the table's 5.5 MiB become resident only
// as slots are used: a list without IDNs costs 32 KiB.
class IdnCache {
 public:
  enum class Kind : std::uint8_t { to_alabel, alabel_valid };
  static constexpr std::size_t kSlots = 32768;
  static constexpr std::size_t kMaxKey = 64;
  static constexpr std::size_t kMaxValue = 96;

  struct Answer {
    int rc;
    std::string_view alabel;
  };

  IdnCache() : slots_(std::make_unique_for_overwrite<Slot[]>(kSlots)), used_(kSlots, 0) {}

  void clear() noexcept { std::fill(used_.begin(), used_.end(), std::uint8_t{0}); }

  const Answer* find(Kind kind, std::string_view key) {
    const std::size_t i = index(kind, key);
    if (!used_[i]) return nullptr;
    const Slot& s = slots_[i];
    if (s.kind != kind || std::string_view(s.key.data(), s.key_len) != key) return nullptr;
    answer_ = {s.rc, {s.value.data(), s.value_len}};
    return &answer_;
  }
  void put(Kind kind, std::string_view key, int rc, std::string_view value) {
    if (key.size() > kMaxKey || value.size() > kMaxValue) return;
    const std::size_t i = index(kind, key);
    Slot& s = slots_[i];
    used_[i] = 1;
    s.kind = kind;
    s.rc = rc;
    s.key_len = static_cast<std::uint8_t>(key.size());
    s.value_len = static_cast<std::uint8_t>(value.size());
    // An empty string_view may hold a null data(): memcpy(dst, nullptr, 0) is UB (UBSan says so).
    if (!key.empty()) std::memcpy(s.key.data(), key.data(), key.size());
    if (!value.empty()) std::memcpy(s.value.data(), value.data(), value.size());
  }

 private:
  struct Slot {  // no initializers: written only by put(), read only where used_ says so
    Kind kind;
    std::uint8_t key_len;
    std::uint8_t value_len;
    int rc;
    std::array<char, kMaxKey> key;
    std::array<char, kMaxValue> value;
  };
  static std::size_t index(Kind kind, std::string_view key) {
    return (fast_hash(key) + static_cast<std::uint64_t>(kind)) % kSlots;
  }
  std::unique_ptr<Slot[]> slots_;
  std::vector<std::uint8_t> used_;
  Answer answer_{};
};

IdnCache& thread_idn_cache() {
  // On the heap: static TLS of this size would come out of every thread's stack.
  thread_local const std::unique_ptr<IdnCache> cache = std::make_unique<IdnCache>();
  return *cache;
}

// The same answers for every thread of the process, in front of each thread's IdnCache. With only
// the per-thread caches, N workers of --threads each converted every IDN domain they met: at
// --threads 8 libidn2 and libunistring took 1,085 samples of a run against 739 with one thread.
// Insert-only and lock-free, as domain::SharedFacts: a slot is claimed by a compare-and-swap of its
// head word, filled, and published by a release store; a published slot is never written again, so
// a reader that loaded its head (acquire) copies its answer safely. It keeps the first kMaxEntries
// answers of the process (half its slots) and then takes no more: later domains go to the thread's
// own cache, which replaces old answers. 5.5 MiB of address space, resident only as slots are used.
class SharedIdnCache {
 public:
  using Kind = IdnCache::Kind;
  using Answer = IdnCache::Answer;

  SharedIdnCache() : slots_(static_cast<Slot*>(huge_pages::allocate(kSlots * sizeof(Slot)))) {}
  ~SharedIdnCache() { huge_pages::deallocate(slots_, kSlots * sizeof(Slot)); }
  SharedIdnCache(const SharedIdnCache&) = delete;
  SharedIdnCache& operator=(const SharedIdnCache&) = delete;

  // The answer's alabel views the slot: valid while the process runs (or until clear()).
  bool find(Kind kind, std::string_view key, Answer& out) const noexcept {
    if (key.size() > IdnCache::kMaxKey) return false;
    const std::uint64_t hash = fast_hash(key);
    const std::uint64_t want = head_of(hash, kind, key.size());
    std::size_t i = hash & (kSlots - 1);
    for (std::size_t n = 0; n < kMaxProbe; ++n, i = (i + 1) & (kSlots - 1)) {
      const Slot& s = slots_[i];
      const std::uint64_t h = load(s);
      if (h == kEmpty) return false;
      if (h != want || std::string_view(s.key.data(), s.key_len) != key) continue;
      out = {s.rc, {s.value.data(), s.value_len}};
      return true;
    }
    return false;
  }

  // False when the answer is not kept here (full, or too long for a slot).
  bool put(Kind kind, std::string_view key, int rc, std::string_view value) noexcept {
    if (key.size() > IdnCache::kMaxKey || value.size() > IdnCache::kMaxValue) return false;
    if (size_.load(std::memory_order_relaxed) >= kMaxEntries) return false;
    const std::uint64_t hash = fast_hash(key);
    const std::uint64_t head = head_of(hash, kind, key.size());
    std::size_t i = hash & (kSlots - 1);
    for (std::size_t n = 0; n < kMaxProbe; ++n, i = (i + 1) & (kSlots - 1)) {
      Slot& s = slots_[i];
      std::atomic_ref<std::uint64_t> ref(s.head);
      std::uint64_t h = ref.load(std::memory_order_acquire);
      if (h == kEmpty && ref.compare_exchange_strong(h, kClaimed, std::memory_order_acquire)) {
        size_.fetch_add(1, std::memory_order_relaxed);
        s.rc = rc;
        s.key_len = static_cast<std::uint8_t>(key.size());
        s.value_len = static_cast<std::uint8_t>(value.size());
        if (!key.empty()) std::memcpy(s.key.data(), key.data(), key.size());
        if (!value.empty()) std::memcpy(s.value.data(), value.data(), value.size());
        ref.store(head, std::memory_order_release);
        return true;
      }
      if (h == head && std::string_view(s.key.data(), s.key_len) == key) return true;  // another thread's
    }
    return false;
  }

  // Only while no other thread parses (forget_idn_cache's contract). Reading a head of a slot never
  // used maps the shared zero page: clearing does not make the table resident.
  void clear() noexcept {
    for (std::size_t i = 0; i < kSlots; ++i) {
      std::atomic_ref<std::uint64_t> ref(slots_[i].head);
      if (ref.load(std::memory_order_relaxed) != kEmpty) ref.store(kEmpty, std::memory_order_relaxed);
    }
    size_.store(0, std::memory_order_relaxed);
  }

 private:
  static constexpr std::size_t kSlots = 32768;
  static constexpr std::size_t kMaxEntries = kSlots / 2;  // short probe runs
  static constexpr std::size_t kMaxProbe = 32;
  static constexpr std::uint64_t kEmpty = 0, kClaimed = 1;
  struct Slot {  // all but `head` written once, by the thread that claimed it
    std::uint64_t head;
    int rc;
    std::uint8_t key_len;
    std::uint8_t value_len;
    std::array<char, IdnCache::kMaxKey> key;
    std::array<char, IdnCache::kMaxValue> value;
  };
  // Published: the hash's high half, the kind and the key's length, and bit 1 set (never kEmpty or
  // kClaimed). Equal heads mean a likely match, which the key then confirms.
  static std::uint64_t head_of(std::uint64_t hash, Kind kind, std::size_t key_len) noexcept {
    return (hash & 0xFFFFFFFF00000000ULL) | (std::uint64_t{static_cast<std::uint8_t>(kind)} << 16) |
           (std::uint64_t{key_len} << 8) | 2;
  }
  static std::uint64_t load(const Slot& s) noexcept {
    // atomic_ref needs a non-const object; the head is only read here.
    auto& head = const_cast<std::uint64_t&>(s.head);  // NOLINT(cppcoreguidelines-pro-type-const-cast)
    return std::atomic_ref<std::uint64_t>(head).load(std::memory_order_acquire);
  }

  // Every head starts kEmpty because the table is a fresh mapping, which the kernel zero-fills.
  static_assert(kSlots * sizeof(Slot) >= huge_pages::kMappedBytes);
  Slot* slots_;
  alignas(64) std::atomic<std::size_t> size_{0};  // on a line of its own: written at each put
};

SharedIdnCache& shared_idn_cache() {
  // Never destroyed: a thread still parsing while the process exits must not find it gone.
  static SharedIdnCache* const cache = new SharedIdnCache;  // NOLINT(cppcoreguidelines-owning-memory)
  return *cache;
}

// An IDN conversion's cached answer: the process's first, then this thread's.
const IdnCache::Answer* cached_idn(IdnCache::Kind kind, std::string_view key) {
  thread_local IdnCache::Answer shared_answer{};
  if (shared_idn_cache().find(kind, key, shared_answer)) return &shared_answer;
  return thread_idn_cache().find(kind, key);
}

void cache_idn(IdnCache::Kind kind, std::string_view key, int rc, std::string_view value) {
  if (!shared_idn_cache().put(kind, key, rc, value)) thread_idn_cache().put(kind, key, rc, value);
}

}  // namespace

// A domain with U-labels goes through libidn2's idn2_lookup_u8, which maps and validates every
// U-label before it encodes it, so an "xn--" label of its output that it made itself decodes to
// the same label: decoding and encoding it again (alabels_valid) only repeats libidn2, and cost as
// much as the conversion (7% of a cold pass over the realistic corpus, docs/benchmarks.md). The
// round trip is kept for an "xn--" label typed as such beside a U-label ("xn--zz.bücher.de"),
// which needs "--" after UTS #46 mapping, so two code points that map to U+002D: '-' itself,
// U+FE63 and U+FF0D, the only others in libidn2's table (every code point is tried through
// idn2_lookup_u8 in tests/address/parse_test.cpp). libidn2 2.2 and later check a typed A-label
// themselves (decode, IDNA2008 tests, encode, compare), so with Debian 12's 2.3.3 this round trip
// never changes an answer; it stays for a libidn2 that does not.
bool detail::may_hold_given_alabel(std::string_view d) noexcept {
  std::size_t hyphens = 0;
  for (std::size_t i = 0; i < d.size(); ++i) {
    if (d[i] == '-') {
      ++hyphens;
    } else if (d[i] == '\xEF' && i + 2 < d.size() &&
               ((d[i + 1] == '\xB9' && d[i + 2] == '\xA3') || (d[i + 1] == '\xBC' && d[i + 2] == '\x8D'))) {
      ++hyphens;  // U+FE63 SMALL HYPHEN-MINUS, U+FF0D FULLWIDTH HYPHEN-MINUS
    }
  }
  return hyphens >= 2;
}

void forget_idn_cache() noexcept {
  thread_idn_cache().clear();
  shared_idn_cache().clear();
}

namespace {

// U-label domain → A-label (UTS #46 non-transitional + IDNA2008). Returns the libidn2 status; on
// IDN2_OK, `out` holds the A-label (NUL-free, may exceed kMaxDomain: the caller checks).
int to_alabel(std::string_view d, std::array<char, kMaxInput + 1>& out, std::size_t& len) noexcept {
  if (const auto* a = cached_idn(IdnCache::Kind::to_alabel, d)) {
    std::memcpy(out.data(), a->alabel.data(), a->alabel.size());
    len = a->alabel.size();
    return a->rc;
  }
  std::array<char, kMaxInput + 1> tmp{};
  std::memcpy(tmp.data(), d.data(), d.size());
  char* alabel = nullptr;
  const int rc = idn2_lookup_u8(reinterpret_cast<const std::uint8_t*>(tmp.data()),
                                reinterpret_cast<std::uint8_t**>(&alabel), IDN2_NFC_INPUT | IDN2_NONTRANSITIONAL);
  len = 0;
  if (rc == IDN2_OK) {
    len = std::min(std::strlen(alabel), out.size() - 1);
    std::memcpy(out.data(), alabel, len);
  }
  idn2_free(alabel);
  if (len <= kMaxDomain) cache_idn(IdnCache::Kind::to_alabel, d, rc, {out.data(), len});
  return rc;
}

// An ASCII domain holding "xn--" labels is valid only if every A-label decodes to a valid IDNA2008
// U-label that encodes back to the same A-label (RFC 5891 §5.4).
bool alabels_valid(std::string_view d) noexcept {
  if (const auto* a = cached_idn(IdnCache::Kind::alabel_valid, d)) return a->rc == IDN2_OK;
  std::array<char, kMaxDomain + 1> tmp{};
  std::memcpy(tmp.data(), d.data(), d.size());
  char* u = nullptr;
  char* back = nullptr;
  int rc = idn2_to_unicode_8z8z(tmp.data(), &u, 0);
  if (rc == IDN2_OK) {
    rc = idn2_lookup_u8(reinterpret_cast<const std::uint8_t*>(u), reinterpret_cast<std::uint8_t**>(&back),
                        IDN2_NONTRANSITIONAL);
    if (rc == IDN2_OK && std::strcmp(back, tmp.data()) != 0) rc = IDN2_ALABEL_ROUNDTRIP_FAILED;
  }
  idn2_free(u);
  idn2_free(back);
  cache_idn(IdnCache::Kind::alabel_valid, d, rc, {});
  return rc == IDN2_OK;
}

// Most UTF-8 local parts are already NFC; u8_normalize is slow, so skip it when every code point is
// below U+0300 (no combining marks, Latin precomposed letters are NFC) or a CJK unified ideograph
// (U+4E00-U+9FFF: no decompositions, never composes).
bool surely_nfc(std::string_view s) noexcept {
  for (std::size_t i = 0; i < s.size();) {
    const std::int32_t cp = text::decode_utf8(s, i);
    if (cp < 0) return false;
    if (cp >= 0x300 && !(cp >= 0x4E00 && cp <= 0x9FFF)) return false;
  }
  return true;
}

}  // namespace

// Writes the normalized address into Address::buf_. Friend of Address.
class Parser {
 public:
  static Reason run(std::string_view in, Address& out) noexcept;

 private:
  static Reason parse_domain(std::string_view d, Address& out, std::size_t at, bool maybe_non_ascii) noexcept;
  // verify_alabels = false: the caller knows every "xn--" label of `d` is libidn2's own encoding
  // of a U-label it validated (detail::may_hold_given_alabel), so the round trip would repeat it.
  static Reason check_ascii_domain(char* d, std::size_t n, bool verify_alabels = true) noexcept;
  static Reason lower_and_check_domain(std::string_view d, char* dst) noexcept;
  static Reason put(Address& out, std::size_t pos, std::string_view s) noexcept {
    if (pos + s.size() > out.buf_.size()) return syntax_address_too_long;
    std::memcpy(out.buf_.data() + pos, s.data(), s.size());
    return well_formed;
  }
};

Reason Parser::run(std::string_view in, Address& out) noexcept {
  out.smtputf8 = false;
  out.quoted_local = false;
  out.literal = Literal::none;
  if (in.empty()) return syntax_empty;
  if (in.size() > kMaxInput) return syntax_address_too_long;

  // Pass 1, whole input: controls are refused first, because they are the dangerous ones.
  // Eight bytes at a time (SWAR): any byte < 0x20, == 0x7F, or >= 0x80.
  constexpr std::uint64_t kOnes = 0x0101010101010101ULL;
  constexpr std::uint64_t kHigh = 0x8080808080808080ULL;
  std::uint64_t controls = 0;
  std::uint64_t high = 0;
  std::size_t at8 = 0;
  for (; at8 + 8 <= in.size(); at8 += 8) {
    std::uint64_t v;
    std::memcpy(&v, in.data() + at8, 8);
    high |= v;
    const std::uint64_t del = v ^ (kOnes * 0x7F);
    controls |= ((v - kOnes * 0x20) | (del - kOnes)) & ~v;
  }
  for (; at8 < in.size(); ++at8) {
    const auto c = static_cast<unsigned char>(in[at8]);
    high |= c;
    controls |= static_cast<std::uint64_t>(c < 0x20 || c == 0x7F) << 7;
  }
  controls &= kHigh;
  if (controls != 0) {
    for (char c : in)
      if (cls(c) & kControl) return c == '\t' ? syntax_whitespace : syntax_control_character;
  }
  const bool non_ascii = (high & kHigh) != 0;
  if (non_ascii) {
    for (std::size_t i = 0; i < in.size();) {
      if (text::decode_utf8(in, i) < 0) return syntax_invalid_utf8;
    }
  }

  // Split local part and domain.
  std::string_view local;
  std::string_view domain;
  if (in.front() == '"') {
    std::size_t i = 1;
    while (i < in.size() && in[i] != '"') i += (in[i] == '\\') ? 2 : 1;
    if (i >= in.size()) return in.find('@') == std::string_view::npos ? syntax_missing_at : syntax_unterminated_quote;
    if (i + 1 == in.size()) return syntax_missing_at;
    if (in[i + 1] != '@') {
      if (in[i + 1] == '(') return syntax_comment;
      if (in.find('<') != std::string_view::npos) return syntax_display_name;
      return syntax_bad_quoted_string;
    }
    local = in.substr(0, i + 1);
    domain = in.substr(i + 2);
  } else {
    const std::size_t at = in.find('@');
    if (at == std::string_view::npos) {
      if (in.find(kFullwidthAt) != std::string_view::npos || in.find(kSmallAt) != std::string_view::npos)
        return syntax_fullwidth_at;
      return syntax_missing_at;
    }
    local = in.substr(0, at);
    domain = in.substr(at + 1);
    if (in.back() == '>' && in.find('<') != std::string_view::npos) return syntax_display_name;
  }
  // A second '@' outranks whatever else is wrong, but looking for it costs a scan of the domain; the
  // fast paths below reject any domain holding one, so the scan runs only on the error paths.
  const auto second_at = [&]() -> Reason {
    if (domain.find('@') == std::string_view::npos) return well_formed;
    return local.find('"') != std::string_view::npos ? syntax_bad_quoted_string : syntax_multiple_at;
  };
  const bool quoted = in.front() == '"';
  if (local.empty() || domain.empty()) {
    if (Reason m = quoted ? well_formed : second_at(); m != well_formed) return m;
    return local.empty() ? syntax_empty_local : syntax_empty_domain;
  }

  // Local part. NFC comes first and every check runs on the normalized text, because
  // normalization can change what the checks see: U+037E GREEK QUESTION MARK becomes ';'.
  std::array<char, kMaxInput> nfc_buf;
  const auto normalize = [&](std::string_view s) -> std::string_view {
    if (!non_ascii || surely_nfc(s)) return s;
    std::size_t len = nfc_buf.size();
    std::uint8_t* res = u8_normalize(UNINORM_NFC, reinterpret_cast<const std::uint8_t*>(s.data()), s.size(),
                                     reinterpret_cast<std::uint8_t*>(nfc_buf.data()), &len);
    if (res == nullptr) return {};
    if (res != reinterpret_cast<std::uint8_t*>(nfc_buf.data())) {  // longer than any input we accept
      std::free(res);
      return {};
    }
    return {nfc_buf.data(), len};
  };
  std::size_t pos = 0;
  if (local.front() == '"') {
    out.quoted_local = true;
    // Unescape: quoted-pairSMTP is "\" %d32-126. RFC 6531 adds UTF8-non-ascii to qtextSMTP only.
    std::array<char, kMaxInput> content;
    std::size_t n = 0;
    for (std::size_t i = 1; i + 1 < local.size(); ++i) {
      char c = local[i];
      if (c == '\\') {
        c = local[++i];
        if (static_cast<unsigned char>(c) < 32 || static_cast<unsigned char>(c) > 126) return syntax_bad_quoted_string;
      } else if (static_cast<unsigned char>(c) < 0x80 && !(cls(c) & kQtext)) {
        return syntax_bad_quoted_string;
      }
      content[n++] = c;
    }
    const std::string_view body = normalize({content.data(), n});
    if (body.data() == nullptr) return syntax_local_too_long;
    if (Reason r = check_unicode_local(body); r != well_formed) return r == syntax_whitespace ? syntax_unsafe_unicode : r;
    if (is_dot_string(body)) {
      // "john.doe"@x and john.doe@x name the same mailbox (RFC 5321 §4.1.2): send the plain form.
      if (Reason r = put(out, 0, body); r != well_formed) return syntax_local_too_long;
      pos = body.size();
    } else {
      if (2 * body.size() + 2 > out.buf_.size()) return syntax_local_too_long;
      out.buf_[pos++] = '"';
      for (char c : body) {
        if (c == '"' || c == '\\') out.buf_[pos++] = '\\';
        out.buf_[pos++] = c;
      }
      out.buf_[pos++] = '"';
    }
  } else {
    if (local.front() == '(' || local.back() == ')') return syntax_comment;
    // NFC can shrink a local part, but not from over four times the limit.
    if (local.size() > kMaxLocal * 4) return syntax_local_too_long;
    // Copy and check in one pass; the slow path only names the error.
    // Branch-free: a 0 class is a bad byte; two 2s in a row are consecutive dots; starting from 2
    // also catches a leading dot.
    char* dst = out.buf_.data();
    unsigned bad = 0;
    unsigned prev = 2;
    for (std::size_t i = 0; i < local.size(); ++i) {
      const unsigned k = kLocalByte[static_cast<unsigned char>(local[i])];
      dst[i] = local[i];
      bad |= static_cast<unsigned>(k == 0) | (k & prev & 2u);
      prev = k;
    }
    if (bad != 0 || prev == 2) {
      if (Reason r = second_at(); r != well_formed) return r;
      return check_dot_string(local);
    }
    pos = local.size();
    if (non_ascii) {
      const std::string_view n = normalize(local);
      if (n.data() == nullptr) return syntax_local_too_long;
      if (n.data() != local.data()) {
        if (n.empty()) return syntax_empty_local;
        if (Reason r = check_dot_string(n); r != well_formed) return r;
        if (Reason r = put(out, 0, n); r != well_formed) return syntax_local_too_long;
        pos = n.size();
      }
      if (Reason r = check_unicode_local({out.buf_.data(), pos}); r != well_formed) return r;
    }
  }
  if (non_ascii) {
    for (std::size_t i = 0; i < pos; ++i) out.smtputf8 |= static_cast<unsigned char>(out.buf_[i]) >= 0x80;
  }
  if (pos > kMaxLocal) return syntax_local_too_long;
  out.local_len_ = pos;
  out.buf_[pos++] = '@';
  const Reason r = parse_domain(domain, out, pos, non_ascii);
  if (r != well_formed && !quoted) {
    if (Reason m = second_at(); m != well_formed) return m;
  }
  return r;
}

Reason Parser::parse_domain(std::string_view d, Address& out, std::size_t pos, bool maybe_non_ascii) noexcept {
  if (d.front() == '(' || d.back() == ')') return syntax_comment;

  // Address literal, RFC 5321 §4.1.3.
  if (d.front() == '[') {
    if (d.back() != ']' || d.size() < 3) return syntax_bad_address_literal;
    std::string_view body = d.substr(1, d.size() - 2);
    if (is_ipv4_literal(body)) {
      out.literal = Literal::ipv4;
    } else if (body.size() > 5 && text::iequals_ascii(body.substr(0, 5), "IPv6:")) {
      std::array<char, 64> tmp{};
      std::string_view ip = body.substr(5);
      if (ip.size() >= tmp.size()) return syntax_bad_address_literal;
      std::memcpy(tmp.data(), ip.data(), ip.size());
      in6_addr a{};
      if (inet_pton(AF_INET6, tmp.data(), &a) != 1) return syntax_bad_address_literal;
      out.literal = Literal::ipv6;
      body = ip;
    } else {
      return syntax_bad_address_literal;
    }
    const std::string_view prefix = out.literal == Literal::ipv6 ? "[IPv6:" : "[";
    if (pos + prefix.size() + body.size() + 1 > kMaxAddress) return syntax_address_too_long;
    (void)put(out, pos, prefix);
    pos += prefix.size();
    for (char c : body) out.buf_[pos++] = text::ascii_lower(c);
    out.buf_[pos++] = ']';
    out.len_ = pos;
    return well_formed;
  }

  if (d.front() == '.') return syntax_domain_leading_dot;
  if (d.back() == '.') return syntax_domain_trailing_dot;

  bool ascii = true;
  if (maybe_non_ascii) {
    for (char c : d) ascii &= static_cast<unsigned char>(c) < 0x80;
  }

  if (ascii) {
    if (d.size() > kMaxDomain) return syntax_domain_too_long;
    if (pos + d.size() > kMaxAddress) {
      // Still report the first structural problem before the length one.
      std::array<char, kMaxDomain> tmp;
      for (std::size_t i = 0; i < d.size(); ++i) tmp[i] = text::ascii_lower(d[i]);
      if (Reason r = check_ascii_domain(tmp.data(), d.size()); r != well_formed) return r;
      return syntax_address_too_long;
    }
    char* dst = out.buf_.data() + pos;
    if (Reason r = lower_and_check_domain(d, dst); r != well_formed) return r;
    out.len_ = pos + d.size();
    return well_formed;
  }

  // U-labels: UTS #46 non-transitional mapping + IDNA2008 through libidn2, giving the A-label form.
  // Ideographic full stops and other dot look-alikes map to '.', so check the ends again after.
  if (d.size() > kMaxInput) return syntax_domain_too_long;
  std::array<char, kMaxInput + 1> alabel;
  std::size_t alabel_len = 0;
  const int rc = to_alabel(d, alabel, alabel_len);
  if (rc != IDN2_OK) {
    if (rc == IDN2_TOO_BIG_DOMAIN) return syntax_domain_too_long;
    if (rc == IDN2_TOO_BIG_LABEL) return syntax_label_too_long;
    // RFC 5891 §4.2.3.1: a label with "--" in positions 3-4, as given or after the UTS #46
    // mapping (full-width "ａｂ--ｃｄ" is "ab--cd"); libidn2 refuses ASCII labels of the domain too.
    if (rc == IDN2_2HYPHEN) return syntax_reserved_label;
    return syntax_bad_idn;
  }
  const std::string_view a(alabel.data(), alabel_len);
  Reason r = well_formed;
  if (a.empty()) {
    r = syntax_bad_idn;
  } else if (a.front() == '.') {
    r = syntax_domain_leading_dot;
  } else if (a.back() == '.') {
    r = syntax_domain_trailing_dot;
  } else if (a.size() > kMaxDomain) {
    r = syntax_domain_too_long;
  } else if (pos + a.size() > kMaxAddress) {
    r = syntax_address_too_long;
  } else {
    std::memcpy(out.buf_.data() + pos, a.data(), a.size());
    r = check_ascii_domain(out.buf_.data() + pos, a.size(), detail::may_hold_given_alabel(d));
    // The mapped form of a valid U-label domain that still fails LDH rules (e.g. U+FF3F) is a bad IDN.
    if (r == syntax_invalid_domain_character) r = syntax_bad_idn;
    out.len_ = pos + a.size();
  }
  return r;
}

// LDH labels (RFC 1034 §3.5, RFC 5890 §2.3.1), at least two labels, TLD not all-numeric
// (RFC 3696 §2), no reserved LDH label ("ab--cd"). `d` is lower case, has no leading or trailing
// dot. A-labels ("xn--") are decoded by libidn2 to check they are valid IDNA2008.
Reason Parser::check_ascii_domain(char* d, std::size_t n, bool verify_alabels) noexcept {
  std::size_t labels = 0;
  std::size_t start = 0;
  bool has_alabel = false;
  bool tld_numeric = true;
  for (std::size_t i = 0; i <= n; ++i) {
    if (i < n && d[i] != '.') {
      const char c = d[i];
      if (!(cls(c) & kLdh)) {
        if (c == ' ') return syntax_whitespace;
        if (c == '(' || c == ')') return syntax_comment;
        return syntax_invalid_domain_character;
      }
      continue;
    }
    const std::size_t len = i - start;
    if (len == 0) return syntax_consecutive_dots;
    if (len > kMaxLabel) return syntax_label_too_long;
    if (d[start] == '-' || d[i - 1] == '-') return syntax_label_hyphen;
    // RFC 5890 §2.3.1: "--" in positions 3-4 makes a reserved LDH label; only the "xn--" ones
    // (XN-labels) may appear, and only when they are valid A-labels (checked below: bad_idn).
    if (len >= 4 && d[start + 2] == '-' && d[start + 3] == '-') {
      if (d[start] != 'x' || d[start + 1] != 'n') return syntax_reserved_label;
      has_alabel = true;
    }
    tld_numeric = true;
    for (std::size_t k = start; k < i; ++k) tld_numeric &= text::is_ascii_digit(d[k]);
    ++labels;
    start = i + 1;
  }
  if (labels < 2) return syntax_single_label_domain;
  if (tld_numeric) return syntax_numeric_tld;
  if (has_alabel && verify_alabels && !alabels_valid({d, n})) return syntax_bad_idn;
  return well_formed;
}

// The common case in one pass: lower-case copy, LDH check and label lengths together. Anything
// unusual (an error to name, an A-label to decode) falls back to check_ascii_domain.
Reason Parser::lower_and_check_domain(std::string_view d, char* dst) noexcept {
  // Pass 1, branch-free: lower-case copy, and note any byte that is neither LDH nor a dot.
  const std::size_t n = d.size();
  unsigned bad = 0;
  for (std::size_t i = 0; i < n; ++i) {
    const auto c = static_cast<unsigned char>(d[i]);
    dst[i] = static_cast<char>(kLower[c]);
    bad |= kNotHostChar[c];
  }
  if (bad != 0) return check_ascii_domain(dst, n);
  // Pass 2, per label (domains have a handful): lengths, hyphens, A-labels.
  bool ok = true;
  std::size_t start = 0;
  std::size_t labels = 0;
  while (true) {
    const auto* dot = static_cast<const char*>(std::memchr(dst + start, '.', n - start));
    const std::size_t end = dot != nullptr ? static_cast<std::size_t>(dot - dst) : n;
    const std::size_t len = end - start;
    ok &= len - 1 < kMaxLabel && dst[start] != '-' && dst[end - 1] != '-' &&
          !(len >= 4 && dst[start + 2] == '-' && dst[start + 3] == '-');  // A-label or reserved
    ++labels;
    if (dot == nullptr) break;
    start = end + 1;
  }
  if (ok && labels >= 2) {
    bool numeric = true;
    for (std::size_t k = start; k < n; ++k) numeric &= text::is_ascii_digit(dst[k]);
    if (!numeric) return well_formed;
  }
  return check_ascii_domain(dst, n);
}

Reason parse(std::string_view input, Address& out) noexcept { return Parser::run(input, out); }

}  // namespace mailsift::address
