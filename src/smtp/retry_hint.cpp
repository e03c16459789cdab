#include "smtp/retry_hint.hpp"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/text.hpp"
#include "smtp/classify.hpp"

namespace mailsift::smtp {
namespace {

using std::string_view;

// 999,999,999 days in seconds still fits an int64 (with three parts summed): no overflow check
// is needed past this, and no real delay is written with ten digits.
constexpr std::size_t kMaxDigits = 9;
// "1 hour 30 minutes 10 seconds" has three parts; more is not a delay anyone writes.
constexpr int kMaxParts = 3;
// "for at least the next 5 minutes": fillers between the trigger word and the number.
constexpr int kMaxFillers = 3;

// One blank-separated word of the text, with the punctuation around it set apart.
struct Word {
  string_view core;     // without one opening bracket or quote and the trailing punctuation
  bool opened = false;  // began with ( [ { " '
  bool closed = false;  // ended in punctuation: , ; : . ! ? ) ] } " '
  bool comma = false;   // ... and that punctuation is exactly ","
};

constexpr bool is_opener(char c) {
  return c == '(' || c == '[' || c == '{' || c == '"' || c == '\'';
}
constexpr bool is_closer(char c) {
  return c == ',' || c == ';' || c == ':' || c == '.' || c == '!' || c == '?' || c == ')' || c == ']' || c == '}' ||
         c == '"' || c == '\'';
}

Word make_word(string_view s) {
  Word w;
  std::size_t b = 0, e = s.size();
  if (b < e && is_opener(s[b])) {
    ++b;
    w.opened = true;
  }
  while (e > b && is_closer(s[e - 1])) --e;
  w.closed = e != s.size();
  w.comma = s.substr(e) == ",";
  w.core = s.substr(b, e - b);
  return w;
}

std::vector<Word> words_of(string_view text) {
  std::vector<Word> out;
  for (std::size_t i = 0; i < text.size();) {
    while (i < text.size() && (text[i] == ' ' || text[i] == '\t')) ++i;
    const std::size_t start = i;
    while (i < text.size() && text[i] != ' ' && text[i] != '\t') ++i;
    if (i > start) out.push_back(make_word(text.substr(start, i - start)));
  }
  return out;
}

bool plain(const Word& w, string_view core) {
  return !w.opened && !w.closed && w.core == core;
}

// Seconds per unit; 0 when `u` is not a time unit.
std::int64_t unit_seconds(string_view u) {
  static constexpr std::pair<string_view, std::int64_t> kUnits[] = {
      {"s", 1},      {"sec", 1},     {"secs", 1},     {"second", 1},   {"seconds", 1},  {"m", 60},
      {"min", 60},   {"mins", 60},   {"minute", 60},  {"minutes", 60}, {"h", 3600},     {"hr", 3600},
      {"hrs", 3600}, {"hour", 3600}, {"hours", 3600}, {"d", 86'400},   {"day", 86'400}, {"days", 86'400},
  };
  for (const auto& [name, seconds] : kUnits)
    if (u == name) return seconds;
  return 0;
}

// All digits, 1..kMaxDigits of them.
std::optional<std::int64_t> number(string_view s) {
  if (s.empty() || s.size() > kMaxDigits) return std::nullopt;
  std::int64_t n = 0;
  for (const char c : s) {
    if (!text::is_ascii_digit(c)) return std::nullopt;
    n = n * 10 + (c - '0');
  }
  return n;
}

// A clock duration: H:MM:SS or M:SS (the first field one or two digits, the others two digits
// below 60), as milter-greylist writes its remaining time.
std::optional<std::int64_t> clock_seconds(string_view s) {
  std::int64_t fields[3] = {};
  std::size_t count = 0;
  for (std::size_t start = 0;;) {
    const std::size_t colon = s.find(':', start);
    const string_view f = s.substr(start, colon == string_view::npos ? string_view::npos : colon - start);
    const auto n = number(f);
    if (count == 3 || !n || f.size() > 2 || (count > 0 && (f.size() != 2 || *n >= 60))) return std::nullopt;
    fields[count++] = *n;
    if (colon == string_view::npos) break;
    start = colon + 1;
  }
  if (count == 2) return fields[0] * 60 + fields[1];
  if (count == 3) return fields[0] * 3600 + fields[1] * 60 + fields[2];
  return std::nullopt;
}

// "<number><unit>" parts from word j on: glued ("300s", "1m30s") or apart ("5 minutes"), joined
// by blanks, "," or "and", units in decreasing order ("1 hour 30 minutes"). The seconds, or nullopt
// when word j does not start one.
std::optional<std::int64_t> unit_duration(const std::vector<Word>& w, std::size_t j) {
  std::optional<std::int64_t> got;
  std::int64_t total = 0;
  std::int64_t last_unit = 0;  // seconds of the previous part's unit; 0: none yet
  int parts = 0;
  for (std::size_t i = j; i < w.size();) {
    const string_view c = w[i].core;
    if ((i != j && w[i].opened) || c.empty() || !text::is_ascii_digit(c.front())) break;
    std::size_t next = i + 1;
    bool closed = w[i].closed, comma = w[i].comma;
    std::int64_t sum = total, unit = last_unit;
    int n_parts = parts;
    bool ok = true;
    for (std::size_t p = 0; ok && p < c.size();) {
      std::size_t d = p;
      while (d < c.size() && text::is_ascii_digit(c[d])) ++d;
      std::size_t l = d;
      while (l < c.size() && text::is_ascii_alpha(c[l])) ++l;
      const auto n = number(c.substr(p, d - p));
      string_view unit_text = c.substr(d, l - d);
      if (!n || (l == d && d != c.size())) {
        ok = false;  // not digits then letters: "4.2.0", "10/24", "5-minutes", a 10-digit number
      } else if (l == d) {
        // A bare number: its unit is the next word ("5 minutes"), nothing between.
        if (closed || next >= w.size() || w[next].opened) {
          ok = false;
        } else {
          unit_text = w[next].core;
          closed = w[next].closed;
          comma = w[next].comma;
          ++next;
        }
      }
      const std::int64_t u = ok ? unit_seconds(unit_text) : 0;
      if (u == 0 || (unit != 0 && u >= unit) || ++n_parts > kMaxParts) {
        ok = false;
      } else {
        sum += *n * u;
        unit = u;
        p = l;
      }
    }
    if (!ok) break;  // what was read before this word stands ("30 seconds 5 minutes": 30 s)
    total = sum;
    last_unit = unit;
    parts = n_parts;
    got = total;
    if (closed && !comma) break;  // "5 minutes. 30 seconds ..." is another sentence
    i = next;
    if (i < w.size() && plain(w[i], "and")) ++i;
  }
  return got;
}

enum class Trigger : std::uint8_t { none, units, units_or_clock };

// Words that make a following duration a delay. "in" only after a word of coming back ("try again
// in 5 minutes", not "100 messages in 60 minutes"); a clock only where it cannot be a time of day.
Trigger trigger_at(const std::vector<Word>& w, std::size_t i) {
  const Word& t = w[i];
  if (t.closed) return Trigger::none;
  if (t.core == "for" || t.core == "wait") return Trigger::units_or_clock;
  if (t.core == "after" || t.core == "retry") return Trigger::units;
  if (t.core == "in" && !t.opened && i > 0 && !w[i - 1].closed) {
    static constexpr string_view kComeBack[] = {"again", "back", "retry", "try", "resend", "reconnect", "later"};
    for (const string_view v : kComeBack)
      if (w[i - 1].core == v) return Trigger::units_or_clock;
  }
  return Trigger::none;
}

// Skips filler words after a trigger ("at least", "another", "the next", ...).
std::size_t skip_fillers(const std::vector<Word>& w, std::size_t j) {
  static constexpr string_view kFillers[] = {"another", "about",   "around",  "approximately",
                                             "approx",  "roughly", "further", "additional",
                                             "a",       "an",      "the",     "next"};
  for (int k = 0; k < kMaxFillers && j < w.size(); ++k) {
    if (j + 1 < w.size() && plain(w[j], "at") && plain(w[j + 1], "least")) {
      j += 2;
      continue;
    }
    const bool filler =
        std::any_of(std::begin(kFillers), std::end(kFillers), [&](string_view f) { return plain(w[j], f); });
    if (!filler) break;
    ++j;
  }
  return j;
}

std::optional<std::chrono::seconds> scan(string_view text) {
  const std::vector<Word> w = words_of(text);
  for (std::size_t i = 0; i < w.size(); ++i) {
    const Trigger t = trigger_at(w, i);
    if (t == Trigger::none) continue;
    const std::size_t j = skip_fillers(w, i + 1);
    if (j >= w.size()) break;
    std::optional<std::int64_t> s = unit_duration(w, j);
    if (!s && t == Trigger::units_or_clock) s = clock_seconds(w[j].core);
    if (!s) continue;
    // The first delay stated decides: an absurd one makes the whole text no hint.
    if (*s > kAbsurdRetryHint.count()) return std::nullopt;
    return std::min(std::chrono::seconds(*s), kMaxRetryHint);
  }
  return std::nullopt;
}

}  // namespace

std::optional<std::chrono::seconds> retry_after(const Reply& reply) noexcept {
  // match_text: lines joined, lower case, URLs blanked (a number in a URL is never a delay).
  // Only an allocation failure can throw here; no hint is the right answer to that too.
  try {
    return scan(match_text(reply));
  } catch (...) {
    return std::nullopt;
  }
}

}  // namespace mailsift::smtp
