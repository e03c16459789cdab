#include "domain/shared_facts.hpp"

#include <algorithm>
#include <cstring>
#include <limits>

#include "common/flat_map.hpp"
#include "common/huge_pages.hpp"
#include "domain/knowledge.hpp"

namespace mailsift::domain {
namespace {

// A published head: the hash's high half, then the flags, the reason, the registrable domain's
// length (as a suffix of the key) and the key's length, which is never 0 once published.
constexpr std::uint64_t kEmpty = 0;
constexpr std::uint64_t kClaimed = 1;  // key length 0 with the low bit set: not a published head
constexpr std::uint8_t kDisposable = 1, kFree = 2, kRegistrableInArena = 4;
constexpr std::size_t kMaxKey = 255;   // valid domains have 1 to 253 octets
constexpr std::size_t kMaxProbe = 64;  // at a load of at most 1/2, runs are a few slots long

constexpr std::uint64_t pack(std::uint32_t tag, std::uint8_t bits, Reason reason, std::uint8_t registrable_len,
                             std::uint8_t key_len) noexcept {
  return (std::uint64_t{tag} << 32) | (std::uint64_t{bits} << 24) |
         (std::uint64_t{static_cast<std::uint8_t>(reason)} << 16) | (std::uint64_t{registrable_len} << 8) |
         (std::uint64_t{key_len} << 1);
}
constexpr std::uint32_t tag_of(std::uint64_t h) noexcept {
  return static_cast<std::uint32_t>(h >> 32);
}
constexpr std::uint8_t bits_of(std::uint64_t h) noexcept {
  return static_cast<std::uint8_t>(h >> 24);
}
constexpr Reason reason_of(std::uint64_t h) noexcept {
  return static_cast<Reason>(static_cast<std::uint8_t>(h >> 16));
}
constexpr std::size_t registrable_len_of(std::uint64_t h) noexcept {
  return static_cast<std::uint8_t>(h >> 8);
}
constexpr std::size_t key_len_of(std::uint64_t h) noexcept {
  return (h & 0xff) >> 1;
}

// The low byte holds the key length shifted left by one, so its low bit marks kClaimed: 7 bits are
// not enough for 255 octets, so long keys keep their length in the arena instead (kLongKey).
constexpr std::size_t kLongKey = 127;  // key_len_of() of a key longer than 126 octets

// An arena record: the suggestion's and the registrable domain's lengths (the latter only with
// kRegistrableInArena) and the key's, then the key when it is longer than kInline, the suggestion
// and that registrable domain.
struct ArenaHeader {
  std::uint16_t suggestion_len;
  std::uint16_t registrable_len;
  std::uint16_t key_len;
};

std::uint64_t load_head(const std::uint64_t& head) noexcept {
  // atomic_ref needs a non-const object; the head is only read here.
  return std::atomic_ref<std::uint64_t>(const_cast<std::uint64_t&>(head)).load(std::memory_order_acquire);  // NOLINT
}

}  // namespace

SharedFacts::SharedFacts(std::size_t max_entries, std::size_t arena_bytes)
    : max_(std::clamp<std::size_t>(max_entries, 1, std::size_t{1} << 30)), arena_cap_(arena_bytes) {
  std::size_t slots = 64;
  while (slots < 2 * max_) slots *= 2;
  mask_ = slots - 1;
  arena_.reset(new char[arena_cap_ == 0 ? 1 : arena_cap_]);  // NOLINT: left uninitialised on purpose
  // Every head kEmpty: a fresh mapping is zero-filled already (its pages filled by the kernel on
  // use), a smaller block is not.
  slots_ = static_cast<Slot*>(huge_pages::allocate(slots * sizeof(Slot)));
  if (slots * sizeof(Slot) < huge_pages::kMappedBytes) std::memset(static_cast<void*>(slots_), 0, slots * sizeof(Slot));
}

SharedFacts::~SharedFacts() {
  huge_pages::deallocate(slots_, (mask_ + 1) * sizeof(Slot));
}

std::size_t SharedFacts::size() const noexcept {
  return size_.load(std::memory_order_relaxed);
}

std::string_view SharedFacts::key(const Slot& s, std::uint64_t head) const noexcept {
  const std::size_t len = key_len_of(head);
  if (len <= kInline) return {s.key, len};
  const char* p = arena_.get() + (s.at - 1);
  ArenaHeader h;
  std::memcpy(&h, p, sizeof h);
  return {p + sizeof h, h.key_len};
}

FactsView SharedFacts::view(const Slot& s, std::uint64_t head) const noexcept {
  FactsView v;
  v.reason = reason_of(head);
  const std::uint8_t bits = bits_of(head);
  v.disposable = (bits & kDisposable) != 0;
  v.free = (bits & kFree) != 0;
  const std::string_view k = key(s, head);
  v.registrable = k.substr(k.size() - std::min(k.size(), registrable_len_of(head)));
  if (s.at != 0) {
    const char* p = arena_.get() + (s.at - 1);
    ArenaHeader h;
    std::memcpy(&h, p, sizeof h);
    p += sizeof h + (k.size() > kInline ? k.size() : 0);
    v.suggestion = std::string_view(p, h.suggestion_len);
    if (bits & kRegistrableInArena) v.registrable = std::string_view(p + h.suggestion_len, h.registrable_len);
  }
  return v;
}

bool SharedFacts::find(std::string_view domain, std::uint64_t hash, FactsView& out) const noexcept {
  if (domain.empty() || domain.size() > kMaxKey) return false;
  const auto tag = static_cast<std::uint32_t>(hash >> 32);
  const std::size_t want = std::min(domain.size(), kLongKey);
  std::size_t i = hash & mask_;
  for (std::size_t n = 0; n < kMaxProbe; ++n, i = (i + 1) & mask_) {
    const Slot& s = slots_[i];
    const std::uint64_t h = load_head(s.head);
    if (h == kEmpty) return false;
    if (h == kClaimed || tag_of(h) != tag || key_len_of(h) != want) continue;
    if (!same_bytes(key(s, h), domain)) continue;
    out = view(s, h);
    return true;
  }
  return false;
}

bool SharedFacts::insert(std::string_view domain, std::uint64_t hash, const DomainFacts& f, FactsView& out) noexcept {
  if (domain.empty() || domain.size() > kMaxKey) return false;
  if (f.suggestion.size() > std::numeric_limits<std::uint16_t>::max() || f.registrable.size() > kMaxKey) return false;
  // Counted when a slot is claimed. Workers that find room at the same moment may each claim one,
  // so the table can pass max_ by fewer entries than there are workers: it has 2 * max_ slots.
  if (size_.load(std::memory_order_relaxed) >= max_) return false;

  // Knowledge::lookup's registrable domain is a suffix of the (lower-case) domain: kept as its length.
  const bool suffix = f.registrable.size() <= domain.size() && domain.ends_with(f.registrable);
  const bool long_key = domain.size() > kInline;
  std::uint8_t bits = static_cast<std::uint8_t>((f.disposable ? kDisposable : 0) | (f.free ? kFree : 0));
  if (!suffix) bits |= kRegistrableInArena;

  // The arena record, written before the slot is published (no reader can reach it until then).
  std::uint32_t at = 0;
  if (long_key || !f.suggestion.empty() || !suffix) {
    const ArenaHeader h{static_cast<std::uint16_t>(f.suggestion.size()),
                        static_cast<std::uint16_t>(suffix ? 0 : f.registrable.size()),
                        static_cast<std::uint16_t>(domain.size())};
    const std::size_t key_bytes = long_key ? domain.size() : 0;
    const std::size_t need = sizeof h + key_bytes + h.suggestion_len + h.registrable_len;
    if (arena_used_.load(std::memory_order_relaxed) + need > arena_cap_) return false;  // full: no contended add
    const std::size_t start = arena_used_.fetch_add(need, std::memory_order_relaxed);
    if (start + need > arena_cap_ || start + 1 > std::numeric_limits<std::uint32_t>::max()) return false;
    char* p = arena_.get() + start;
    std::memcpy(p, &h, sizeof h);
    p += sizeof h;
    std::memcpy(p, domain.data(), key_bytes);
    std::memcpy(p + key_bytes, f.suggestion.data(), h.suggestion_len);
    std::memcpy(p + key_bytes + h.suggestion_len, f.registrable.data(), h.registrable_len);
    at = static_cast<std::uint32_t>(start + 1);
  }

  const auto tag = static_cast<std::uint32_t>(hash >> 32);
  const std::size_t want = std::min(domain.size(), kLongKey);
  const std::uint64_t head = pack(tag, bits, f.reason, static_cast<std::uint8_t>(suffix ? f.registrable.size() : 0),
                                  static_cast<std::uint8_t>(want));
  std::size_t i = hash & mask_;
  for (std::size_t n = 0; n < kMaxProbe; ++n, i = (i + 1) & mask_) {
    Slot& s = slots_[i];
    std::atomic_ref<std::uint64_t> ref(s.head);
    std::uint64_t h = ref.load(std::memory_order_acquire);
    if (h == kEmpty) {
      if (ref.compare_exchange_strong(h, kClaimed, std::memory_order_acquire, std::memory_order_acquire)) {
        size_.fetch_add(1, std::memory_order_relaxed);
        s.at = at;
        if (!long_key) std::memcpy(s.key, domain.data(), domain.size());
        ref.store(head, std::memory_order_release);
        out = view(s, head);
        return true;
      }
      // Another worker took the slot first: h is now its head.
    }
    if (h == kClaimed || tag_of(h) != tag || key_len_of(h) != want) continue;
    if (same_bytes(key(s, h), domain)) {  // another worker cached it meanwhile
      out = view(s, h);
      return true;
    }
  }
  return false;  // a probe run this long is not expected at this load; the worker keeps it
}

}  // namespace mailsift::domain
