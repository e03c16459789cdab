#include "domain/suspicious.hpp"

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>

#include "common/text.hpp"

namespace mailsift::domain::suspicious {
namespace {

constexpr std::size_t kMaxLocal = 64;  // RFC 5321 §4.5.3.1.1

// Whole words people type when a form insists on an address. Matched per dot/underscore/hyphen
// segment, with trailing digits ignored ("test123", "foo.bar", "fake_1"). Kept short on purpose:
// every entry here is also somebody's nickname, so only near-certain placeholders go in.
constexpr std::array<std::string_view, 33> kPlaceholders = {
    "aaa",    "abc",    "abcd",    "asd",    "asdf",    "bar",     "baz",    "blah", "dummy", "example", "fake",
    "foo",    "foobar", "invalid", "junk",   "nobody",  "noemail", "nomail", "none", "noone", "nospam",  "null",
    "sample", "spam",   "test",    "tester", "testing", "tests",   "xxx",    "xyz",  "zzz",   "nil",     "void",
};
// Words that are placeholders only next to one of the above ("test.user", "fake_email").
constexpr std::array<std::string_view, 7> kFillers = {"account", "address", "email", "mail", "me", "my", "user"};

// Every word above fits in 8 bytes, so a segment is matched by packing it into an integer: one
// binary search over integers instead of string compares (this runs for every address).
constexpr std::size_t kMaxWordLength = 8;

constexpr std::uint64_t pack(std::string_view w) noexcept {
  std::uint64_t v = 0;
  for (std::size_t i = 0; i < w.size(); ++i) v |= std::uint64_t{static_cast<unsigned char>(w[i])} << (8 * i);
  return v;
}

template <std::size_t N>
constexpr std::array<std::uint64_t, N> packed_sorted(const std::array<std::string_view, N>& words) {
  std::array<std::uint64_t, N> out{};
  for (std::size_t i = 0; i < N; ++i) {
    if (words[i].size() > kMaxWordLength) throw "word longer than kMaxWordLength";  // compile-time error
    out[i] = pack(words[i]);
  }
  std::sort(out.begin(), out.end());
  if (std::adjacent_find(out.begin(), out.end()) != out.end()) throw "duplicate word";
  return out;
}
// Both lists in one open-addressing table of packed keys (checked for duplicates and length by
// packed_sorted): a segment costs one multiply and usually one probe, where two binary searches
// cost a dozen unpredictable branches. This runs for every address (docs/benchmarks.md).
enum class Word : std::uint8_t { none, placeholder, filler };
constexpr std::size_t kWordSlotBits = 7;
constexpr std::size_t kWordSlots = std::size_t{1} << kWordSlotBits;
constexpr std::size_t word_slot(std::uint64_t key) noexcept {
  return static_cast<std::size_t>((key * 0x9E3779B97F4A7C15ULL) >> (64 - kWordSlotBits));
}
struct WordTable {
  std::array<std::uint64_t, kWordSlots> keys{};
  std::array<Word, kWordSlots> kinds{};
};
template <std::size_t N>
constexpr void insert_words(WordTable& t, const std::array<std::uint64_t, N>& keys, Word kind) {
  for (const std::uint64_t key : keys) {
    std::size_t i = word_slot(key);
    while (t.kinds[i] != Word::none) {
      if (t.keys[i] == key) throw "a word in both lists";  // compile-time error
      i = (i + 1) % kWordSlots;
    }
    t.keys[i] = key;
    t.kinds[i] = kind;
  }
}
constexpr WordTable make_word_table() {
  WordTable t;
  insert_words(t, packed_sorted(kPlaceholders), Word::placeholder);
  insert_words(t, packed_sorted(kFillers), Word::filler);
  return t;
}
constexpr WordTable kWords = make_word_table();
static_assert(kPlaceholders.size() + kFillers.size() <= kWordSlots / 2);

Word word_of(std::uint64_t key) noexcept {
  for (std::size_t i = word_slot(key);; i = (i + 1) % kWordSlots) {
    if (kWords.kinds[i] == Word::none || kWords.keys[i] == key) return kWords.kinds[i];
  }
}

// Keys in keyboard order (QWERTY, QWERTZ, AZERTY rows, both digit rows) and the alphabet: typing
// along any of them, either way, is a walk.
constexpr std::array<std::string_view, 11> kWalkSequences = {
    "1234567890",
    "0123456789",
    "qwertyuiop",
    "asdfghjkl",
    "zxcvbnm",
    "qwertzuiop",
    "yxcvbnm",
    "azertyuiop",
    "qsdfghjklm",
    "wxcvbn",
    "abcdefghijklmnopqrstuvwxyz",
};
// Two bits per sequence (forward, backward) plus one for repeats must fit the table's word.
static_assert(2 * kWalkSequences.size() < 31);
constexpr std::uint32_t kRepeatBit = 1u << 31;  // "aaaa", "1111"
constexpr std::uint8_t kFirstDigit = 26;
constexpr std::uint8_t kOther = 36;  // anything but an ASCII letter or digit
constexpr std::size_t kSymbols = 37;

constexpr std::uint8_t char_index(char c) noexcept {
  c = text::ascii_lower(c);
  if (c >= 'a' && c <= 'z') return static_cast<std::uint8_t>(c - 'a');
  if (c >= '0' && c <= '9') return static_cast<std::uint8_t>(kFirstDigit + (c - '0'));
  return kOther;
}

// Byte -> symbol and class, folding case, so the hot loop needs neither a copy nor a branch per
// character class.
constexpr std::array<std::uint8_t, 256> make_index_table() {
  std::array<std::uint8_t, 256> t{};
  for (std::size_t b = 0; b < 256; ++b) t[b] = char_index(static_cast<char>(b));
  return t;
}
constexpr auto kIndex = make_index_table();

constexpr std::uint8_t kLetter = 1 << 0;
constexpr std::uint8_t kDigit = 1 << 1;
constexpr std::uint8_t kVowel = 1 << 2;
constexpr std::uint8_t kConsonant = 1 << 3;

constexpr std::array<std::uint8_t, 256> make_class_table() {
  std::array<std::uint8_t, 256> t{};
  for (std::size_t b = 0; b < 256; ++b) {
    const char c = text::ascii_lower(static_cast<char>(b));
    if (text::is_ascii_digit(c)) t[b] = kDigit;
    // 'y' counts as a vowel: it carries the vowel in many names (Lynn, Wyszynski).
    if (c >= 'a' && c <= 'z')
      t[b] = kLetter | (std::string_view("aeiouy").find(c) != std::string_view::npos ? kVowel : kConsonant);
  }
  return t;
}
constexpr auto kClass = make_class_table();

// kWalk[a * 37 + b]: one bit per (sequence, direction) in which b directly follows a.
constexpr std::array<std::uint32_t, kSymbols * kSymbols> make_walk_table() {
  std::array<std::uint32_t, kSymbols * kSymbols> t{};
  for (std::size_t s = 0; s < kWalkSequences.size(); ++s) {
    const std::string_view seq = kWalkSequences[s];
    for (std::size_t k = 0; k + 1 < seq.size(); ++k) {
      const std::size_t a = char_index(seq[k]);
      const std::size_t b = char_index(seq[k + 1]);
      t[a * kSymbols + b] |= 1u << (2 * s);
      t[b * kSymbols + a] |= 1u << (2 * s + 1);
    }
  }
  for (std::size_t c = 0; c < kOther; ++c) t[c * kSymbols + c] |= kRepeatBit;
  return t;
}
constexpr auto kWalk = make_walk_table();

constexpr bool is_separator(char c) noexcept {
  return c == '.' || c == '_' || c == '-';
}

// `s` is the local part without its tag, not yet lower-cased.
bool is_placeholder(std::string_view s) noexcept {
  bool found = false;
  std::size_t i = 0;
  while (true) {
    // One segment: lower-case and pack it, then drop trailing digits ("test123", "fake_1").
    std::size_t end = i;
    while (end < s.size() && !is_separator(s[end])) ++end;
    std::size_t last = end;
    while (last > i && text::is_ascii_digit(s[last - 1])) --last;
    const std::size_t len = last - i;
    if (len > kMaxWordLength) return false;
    if (len != 0) {
      std::uint64_t key = 0;
      for (std::size_t k = 0; k < len; ++k)
        key |= std::uint64_t{static_cast<unsigned char>(text::ascii_lower(s[i + k]))} << (8 * k);
      const Word w = word_of(key);
      if (w == Word::placeholder) found = true;
      else if (w == Word::none) return false;
    }
    if (end == s.size()) return found;
    i = end + 1;
  }
}

// Thresholds for machine-made strings, tuned on tests/domain/suspicious_test.cpp. Real local parts
// this long nearly always have separators, vowels and at most one digit block (john.smith1987).
constexpr std::size_t kRandomMinLength = 14;
constexpr std::size_t kRandomMinTransitions = 5;   // letter<->digit switches: xk7q9zt2...
constexpr std::size_t kRandomMinConsonantRun = 7;  // German "tschm" is 5; random letters reach 7 quickly
constexpr std::size_t kWalkMinChars = 4;
constexpr std::size_t kWalkMinRun = 3;  // "ert" in "robert" is a 3-run, but only half the name

bool looks_random(std::string_view s) noexcept {
  std::size_t letters = 0, vowels = 0, transitions = 0, consonants = 0, max_consonants = 0;
  unsigned prev = 0;
  for (const char ch : s) {
    const unsigned cls = kClass[static_cast<unsigned char>(ch)];
    letters += cls & kLetter;
    vowels += (cls & kVowel) != 0;
    consonants = (cls & kConsonant) != 0 ? consonants + 1 : 0;
    max_consonants = std::max(max_consonants, consonants);
    transitions += ((prev & kLetter) && (cls & kDigit)) || ((prev & kDigit) && (cls & kLetter));
    prev = cls;
  }
  return transitions >= kRandomMinTransitions || max_consonants >= kRandomMinConsonantRun ||
         (letters >= 10 && vowels * 10 < letters);
}

}  // namespace

Kind classify(std::string_view local) noexcept {
  if (local.size() > kMaxLocal) return Kind::none;

  // Pass 1, up to the tag: keyboard walks. Kept minimal because it runs for every address; the
  // statistics for random-looking strings need a second pass only for long local parts.
  std::size_t covered = 0;      // characters inside walks of kWalkMinRun+ characters
  std::size_t covered_end = 0;  // runs may share one character with the previous run
  std::size_t run_start = 0;
  std::size_t run_len = 0;
  std::uint32_t run_mask = 0;
  std::size_t alnum = 0;
  std::size_t prev_row = kOther * kSymbols;  // row kOther of kWalk is all zero: no step from a separator
  std::size_t n = 0;
  for (; n < local.size(); ++n) {
    const auto c = static_cast<unsigned char>(local[n]);
    if (c == '+') break;
    const std::uint8_t x = kIndex[c];
    alnum += x != kOther;
    const std::uint32_t step = kWalk[prev_row + x];
    prev_row = std::size_t{x} * kSymbols;
    if ((run_mask | step) == 0) {  // the common case in real names: no walk in progress or starting
      run_start = n;
      run_len = 1;
      continue;
    }
    if ((run_mask & step) != 0) {
      run_mask &= step;
      ++run_len;
      continue;
    }
    if (run_len >= kWalkMinRun) {
      covered += run_start + run_len - std::max(run_start, covered_end);
      covered_end = run_start + run_len;
    }
    run_mask = step;
    run_start = step != 0 ? n - 1 : n;
    run_len = step != 0 ? 2 : 1;
  }
  if (run_len >= kWalkMinRun) covered += run_start + run_len - std::max(run_start, covered_end);

  const std::string_view s = local.substr(0, n);
  if (s.empty()) return Kind::none;
  if (is_placeholder(s)) return Kind::placeholder;
  if (covered >= kWalkMinChars && covered * 10 >= alnum * 7) return Kind::keyboard_walk;
  if (alnum >= kRandomMinLength && looks_random(s)) return Kind::random;
  return Kind::none;
}

}  // namespace mailsift::domain::suspicious
