#include "domain/knowledge.hpp"

#include <filesystem>
#include <libpsl.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <boost/unordered/unordered_flat_map.hpp>
#include <cstring>
#include <stdexcept>
#include <utility>

#include "common/flat_map.hpp"
#include "domain/embedded_lists.hpp"
#include "domain/lists.hpp"
#include "domain/suspicious.hpp"
#include "domain/typo.hpp"

namespace mailsift::domain {
namespace {

// Names that cannot receive mail on the public internet. Each entry covers itself and every
// subdomain. These go before the public suffix check: "test" and "localhost" are not TLDs either,
// but the precise reason tells the user the address is a placeholder, not a misspelling.
constexpr std::array<std::string_view, 12> kReserved = {
    "example",      // RFC 2606 §2: reserved TLD for documentation
    "example.com",  // RFC 2606 §3: second-level names for documentation
    "example.net",  // RFC 2606 §3
    "example.org",  // RFC 2606 §3
    "test",         // RFC 2606 §2, RFC 6761 §6.2: testing
    "invalid",      // RFC 2606 §2, RFC 6761 §6.4: guaranteed never to resolve
    "localhost",    // RFC 2606 §2, RFC 6761 §6.3: loopback
    "local",        // RFC 6762 §3: multicast DNS, link-local only
    "onion",        // RFC 7686 §2: Tor onion services, not reachable over DNS/SMTP
    "arpa",         // RFC 3172 §2: infrastructure only (in-addr.arpa, ip6.arpa, home.arpa of RFC 8375)
    "alt",          // RFC 9476 §2: non-DNS name spaces
    "internal",     // ICANN Board resolution 2024.07.29.06: private-use TLD, never delegated
};

bool is_reserved(std::string_view domain) noexcept {
  for (std::string_view r : kReserved)
    if (text::ends_with_label(domain, r)) return true;
  return false;
}

// Entries of the built-in free-provider list that are misspellings of a major provider: typo-squats
// that the upstream list once recorded as mailbox domains. They stay free providers (that is what
// the list says), but they must not count as "known real domains" for typo suggestions, or
// "yaho.com" would never be pointed to yahoo.com. Found by running every free-list entry through
// the suggester (docs/typo-suggestions.md); the other hits there are real providers.
constexpr std::array<std::string_view, 8> kFreeListTypoSquats = {
    "hitmail.com", "hotmail.co", "outiook.com", "sbcglbal.net", "uymail.com", "vahoo.com", "yaho.com", "yahoo.co",
};

bool all_digits(std::string_view s) noexcept {
  for (char c : s)
    if (!text::is_ascii_digit(c)) return false;
  return !s.empty();
}

struct PslFree {
  void operator()(psl_ctx_t* p) const noexcept { psl_free(p); }
};

// RFC 5321 §4.5.3.1.1: longer local parts are not valid, so they cannot be listed either.
constexpr std::size_t kMaxLocal = 64;

// libpsl's answers for the parents and TLDs of the domains looked up. psl_registrable_domain tests
// the domain and then every parent in turn, and a list's domains share few parents ("com",
// "co.uk", "acme.com" under its subdomains): remembering the parents' answers leaves one libpsl
// call per new domain (issue 15). Per thread, because a Knowledge is shared between threads and
// the memo is written on every miss; keyed by the Knowledge's serial number, so two instances with
// different lists (tests) never share answers; bounded like FactsCache: it starts over when full.
struct PslMemo {
  static constexpr std::size_t kMaxEntries = 1 << 14;
  std::uint64_t owner = 0;
  FlatMap<std::string, std::uint16_t> registrable;  // parent -> size of its registrable domain, 0: none
  FlatMap<std::string, bool> tld_exists;
  void reset_if_full() {
    if (registrable.size() + tld_exists.size() >= kMaxEntries) {
      registrable.clear();
      tld_exists.clear();
    }
  }
};

PslMemo& psl_memo(std::uint64_t owner) {
  thread_local PslMemo memo;
  if (memo.owner != owner) {
    memo.registrable.clear();
    memo.tld_exists.clear();
    memo.owner = owner;
  }
  return memo;
}

std::atomic<std::uint64_t> next_serial{1};

// Whether the last label of `d` is a TLD of the list, without the implicit "*" rule (which would
// make every label one). `tld` is d's last label, NUL-terminated.
bool is_known_tld(const psl_ctx_t* psl, PslMemo& memo, const char* tld, std::string_view tld_view) {
  if (const bool* hit = memo.tld_exists.find(tld_view)) return *hit;
  memo.reset_if_full();
  return memo.tld_exists.insert(tld_view, psl_is_public_suffix2(psl, tld, PSL_TYPE_ANY | PSL_TYPE_NO_STAR_RULE) != 0);
}

// psl_registrable_domain(psl, p), whose d is p's text: it returns NULL when d is a public suffix (or
// a single label), else d when the parent's answer is NULL, else the parent's answer, because it
// walks the suffixes from the left and returns the one before the first public suffix. The
// parent's answer comes from the memo. The test RegistrableDomainAsLibpsl pins the equality.
std::string_view registrable_domain(const psl_ctx_t* psl, PslMemo& memo, const char* p, std::string_view d) {
  if (psl_is_public_suffix(psl, p) != 0) return {};
  const std::size_t dot = d.find('.');
  if (dot == std::string_view::npos) return {};
  const std::string_view parent = d.substr(dot + 1);
  const std::uint16_t* known = memo.registrable.find(parent);
  if (known == nullptr) {
    memo.reset_if_full();
    const char* reg = psl_registrable_domain(psl, p + dot + 1);
    known = &memo.registrable.insert(parent, static_cast<std::uint16_t>(reg != nullptr ? std::strlen(reg) : 0));
  }
  return *known == 0 ? d : d.substr(d.size() - *known);
}

}  // namespace

struct Knowledge::Impl {
  std::unique_ptr<psl_ctx_t, PslFree> owned_psl;
  const psl_ctx_t* psl = nullptr;
  lists::Storage store;
  lists::ViewSet disposable;  // the domain and its subdomains, up to the registrable domain
  lists::ViewSet wildcard;    // every subdomain, whatever the public suffix list says
  lists::ViewSet allow;       // vetoes both sets above
  lists::ViewSet free;
  lists::ViewSet user_free;  // free_files: also vouches that the domain is real (no suggestion)
  // Real domains that must never get a typo suggestion; `allow` and `user_free` count too.
  lists::ViewSet known;
  lists::ViewSet roles;
  // Every domain of the sets above with one bit per set: Knowledge::lookup walks the domain's
  // labels once and tests all the sets with one look-up per parent.
  enum : std::uint8_t { kDisposable = 1, kWildcard = 2, kAllow = 4, kFree = 8, kUserFree = 16, kKnown = 32 };
  boost::unordered_flat_map<std::string_view, std::uint8_t, StringHash, std::equal_to<>> domain_bits;
  [[nodiscard]] std::uint8_t bits(std::string_view d) const noexcept {
    const auto it = domain_bits.find(d);
    return it == domain_bits.end() ? 0 : it->second;
  }
  FlatSet<std::string_view> role_index;  // the same entries, in the table the per-address lookup uses
  // One bit per (first byte, second byte, length) that some role has: almost every personal local
  // part is rejected here, in L1 cache, before hashing. 64 KiB of bits would be too much, so the
  // bytes are folded to 5 bits each and the length to 5: 2^15 bits = 4 KiB.
  std::array<std::uint64_t, (1u << 15) / 64> role_filter{};
  static std::uint32_t role_key(std::string_view lower) noexcept {
    const auto b0 = static_cast<std::uint32_t>(static_cast<unsigned char>(lower[0]) & 31u);
    const auto b1 = lower.size() > 1 ? static_cast<std::uint32_t>(static_cast<unsigned char>(lower[1]) & 31u) : 0u;
    return (b0 << 10) | (b1 << 5) | static_cast<std::uint32_t>(lower.size() & 31u);
  }
  std::size_t longest_role = 0;  // longer local parts skip the hash lookup
  typo::Suggester typo;
  std::uint64_t serial = next_serial.fetch_add(1, std::memory_order_relaxed);  // keys the per-thread PslMemo
};

Knowledge::Knowledge(const ListOptions& opt) : impl_(std::make_unique<Impl>()) {
  Impl& m = *impl_;
  using lists::Kind;
  // psl_latest picks the newer of libpsl's built-in data and Debian's /usr/share/publicsuffix,
  // which the publicsuffix package keeps current without rebuilding us.
  m.owned_psl.reset(psl_latest(nullptr));
  m.psl = m.owned_psl ? m.owned_psl.get() : psl_builtin();
  if (m.psl == nullptr) throw std::runtime_error("cannot load the public suffix list (libpsl has no data)");

  if (opt.builtin) {
    lists::add_embedded(m.disposable, embedded::disposable_blocklist, false, Kind::domain, m.store);
    lists::add_embedded(m.wildcard, embedded::disposable_wildcard, false, Kind::domain, m.store);
    if (opt.extended_disposable) {
      m.disposable.reserve(160'000);  // the union is about 151,000 (data/SOURCES.md)
      lists::add_embedded(m.disposable, embedded::disposable_extended, false, Kind::domain, m.store);
      lists::add_embedded(m.disposable, embedded::disposable_mailchecker, false, Kind::domain, m.store);
    }
    lists::add_embedded(m.allow, embedded::disposable_allowlist, false, Kind::domain, m.store);

    // Free vs disposable: the free list is free_providers_not_disposable (Kikobeats' list minus the
    // curated blocklist), so the blocklist and the free list never overlap. A domain can still be
    // both when another disposable source lists it: 33mail.com is a free-list entry and a wildcard
    // entry, and 165 free entries are in the extended lists. Both flags are reported as the lists
    // say; which one counts is the verdict stage's decision (disposable should win), not ours.
    lists::add_embedded(m.free, embedded::free_providers, false, Kind::domain, m.store);
    lists::add_embedded(m.free, embedded::popular_domains, false, Kind::domain, m.store);

    lists::add_embedded(m.known, embedded::popular_domains, false, Kind::domain, m.store);
    lists::add_embedded(m.known, embedded::typo_domains, true, Kind::domain, m.store);
    lists::add_embedded(m.known, embedded::free_providers, false, Kind::domain, m.store);
    for (std::string_view squat : kFreeListTypoSquats) m.known.erase(squat);

    // The role list has entries that are only numbers (123, 2015 ... 2030). An all-digit local
    // part is far more often a personal account (QQ numbers at qq.com, customer and phone
    // numbers) than a shared mailbox, so those are skipped.
    for (std::string_view role : text::list_lines(embedded::role_local_parts, true))
      if (!all_digits(role)) m.roles.insert(role);

    // Tie order: the popular list is ordered by size of the provider.
    for (std::string_view d : text::list_lines(embedded::popular_domains, false)) m.typo.add_domain(d);
    for (std::string_view d : text::list_lines(embedded::typo_domains, true)) m.typo.add_domain(d);
    for (std::string_view t : text::list_lines(embedded::typo_tlds, false)) m.typo.add_tld(t);
    for (std::string_view s : text::list_lines(embedded::typo_slds, false)) m.typo.add_sld(s);
  }

  if (!opt.lists_dir.empty()) {
    auto have = [&opt](const char* name) {
      const std::string p = opt.lists_dir + "/" + name + ".txt";
      return std::filesystem::exists(p) ? p : std::string();
    };
    if (const std::string p = have("disposable"); !p.empty()) lists::add_file(m.disposable, p, "disposable", Kind::domain, m.store);
    if (const std::string p = have("allow"); !p.empty()) lists::add_file(m.allow, p, "allow", Kind::domain, m.store);
    if (const std::string p = have("free"); !p.empty()) lists::add_file(m.user_free, p, "free", Kind::domain, m.store);
    if (const std::string p = have("role"); !p.empty()) lists::add_file(m.roles, p, "role", Kind::local_part, m.store);
  }
  for (const std::string& f : opt.disposable_files)
    lists::add_file(m.disposable, f, "disposable", Kind::domain, m.store);
  for (const std::string& d : opt.disposable_domains) lists::add_entry(m.disposable, d, Kind::domain, m.store);
  for (const std::string& f : opt.allow_files) lists::add_file(m.allow, f, "allow", Kind::domain, m.store);
  for (const std::string& d : opt.allow_domains) lists::add_entry(m.allow, d, Kind::domain, m.store);
  for (const std::string& f : opt.free_files) lists::add_file(m.user_free, f, "free", Kind::domain, m.store);
  for (const std::string& f : opt.role_files) lists::add_file(m.roles, f, "role", Kind::local_part, m.store);
  for (const auto& [set, bit] : {std::pair{&m.disposable, Impl::kDisposable}, std::pair{&m.wildcard, Impl::kWildcard},
                                 std::pair{&m.allow, Impl::kAllow}, std::pair{&m.free, Impl::kFree},
                                 std::pair{&m.user_free, Impl::kUserFree}, std::pair{&m.known, Impl::kKnown}})
    for (std::string_view d : *set) m.domain_bits[d] |= bit;
  for (std::string_view r : m.roles) {
    m.longest_role = std::max(m.longest_role, r.size());
    m.role_index.insert(r);
    const std::uint32_t k = Impl::role_key(r);
    m.role_filter[k / 64] |= std::uint64_t{1} << (k % 64);
  }
}

Knowledge::~Knowledge() = default;

DomainFacts Knowledge::lookup(std::string_view domain) const {
  DomainFacts f;
  lookup(domain, f);
  return f;
}

void Knowledge::lookup(std::string_view domain, DomainFacts& f) const {
  const Impl& m = *impl_;
  f.reason = Reason::well_formed;
  f.registrable.clear();
  f.disposable = false;
  f.free = false;
  f.suggestion.clear();
  // libpsl takes NUL-terminated text; a valid domain (at most 253 octets) fits the stack buffer.
  std::array<char, typo::kMaxLen + 2> stack_buf;
  std::string heap_buf;
  char* p = stack_buf.data();
  if (domain.size() >= stack_buf.size()) {
    heap_buf.resize(domain.size());
    p = heap_buf.data();
  }
  for (std::size_t i = 0; i < domain.size(); ++i) p[i] = text::ascii_lower(domain[i]);
  p[domain.size()] = '\0';
  const std::string_view d(p, domain.size());

  const std::size_t tld_at = d.rfind('.') == std::string_view::npos ? 0 : d.rfind('.') + 1;
  PslMemo& memo = psl_memo(m.serial);
  const bool tld_exists = is_known_tld(m.psl, memo, p + tld_at, d.substr(tld_at));
  // psl_registrable_domain applies the "*" rule, so an unknown TLD still gives "name.tld": good
  // enough as the floor of the disposable walk, but not reported as a registrable domain.
  const std::string_view registrable = registrable_domain(m.psl, memo, p, d);
  if (tld_exists) f.registrable.assign(registrable);

  if (is_reserved(d)) {
    f.reason = Reason::reserved_domain;
    return;
  }
  if (!tld_exists) f.reason = Reason::unknown_tld;

  // The domain itself is tested against every set. Its parents: the disposable and allow sets up
  // to the registrable domain and no further (a list entry must never stand for a whole public
  // suffix, whose other registrants are unrelated: a "0-mailer.dynv6.net" entry says nothing about
  // "me.dynv6.net"; when the domain is itself a public suffix, only the domain is tested); the
  // wildcard set every parent that still has a dot. A single label is a TLD: no entry stands for it.
  const std::size_t floor = registrable.empty() ? d.size() : registrable.size();
  const std::uint8_t self = m.bits(d);
  bool listed = (self & (Impl::kDisposable | Impl::kWildcard)) != 0;
  bool allowed = (self & Impl::kAllow) != 0;
  for (std::string_view v = d;;) {
    const std::size_t dot = v.find('.');
    if (dot == std::string_view::npos) break;
    v.remove_prefix(dot + 1);
    if (v.find('.') == std::string_view::npos) break;
    const std::uint8_t b = m.bits(v);
    listed = listed || (b & Impl::kWildcard) != 0 || (v.size() >= floor && (b & Impl::kDisposable) != 0);
    allowed = allowed || (v.size() >= floor && (b & Impl::kAllow) != 0);
  }
  f.disposable = listed && !allowed;
  f.free = (self & (Impl::kFree | Impl::kUserFree)) != 0;

  // The disposable lists do not make a domain "known": gmial.com is disposable and a typo.
  if ((self & (Impl::kKnown | Impl::kAllow | Impl::kUserFree)) == 0) {
    std::string s = m.typo.suggest(d, tld_exists);
    if (!s.empty() && s != d && !is_reserved(s)) f.suggestion = std::move(s);
  }
}

bool Knowledge::is_role(std::string_view local) const noexcept {
  std::array<char, kMaxLocal> buf;
  const std::size_t limit = std::min(buf.size(), impl_->longest_role);
  std::size_t n = 0;
  for (char c : local) {
    if (c == '+') break;  // RFC 5233 subaddress: "sales+eu" is still the sales mailbox
    if (n == limit) return false;
    buf[n++] = text::ascii_lower(c);
  }
  if (n == 0) return false;
  const std::string_view lower(buf.data(), n);
  const std::uint32_t k = Impl::role_key(lower);
  if ((impl_->role_filter[k / 64] & (std::uint64_t{1} << (k % 64))) == 0) return false;
  return impl_->role_index.contains(lower);
}

bool Knowledge::is_suspicious(std::string_view local) const noexcept {
  return suspicious::is_suspicious(local);
}

namespace {

// FactsCache::Slot::bits.
constexpr std::uint8_t kDisposable = 1, kFree = 2, kRegistrableInArena = 4;

// A FactsCache arena record: the suggestion's and the registrable domain's lengths (the latter
// only with kRegistrableInArena), then the key when it is longer than kInline, the suggestion and
// that registrable domain.
struct ArenaHeader {
  std::uint16_t suggestion_len;
  std::uint16_t registrable_len;
};

}  // namespace

FactsCache::FactsCache(const Knowledge& k, std::size_t max_entries)
    : k_(k), max_(std::max<std::size_t>(max_entries, 1)), slots_(64) {}

FactsCache::FactsCache(const Knowledge& k, SharedFacts* shared) : FactsCache(k) { shared_ = shared; }

void FactsCache::clear() {
  std::fill(slots_.begin(), slots_.end(), Slot{});
  arena_.clear();
  size_ = 0;
}

// Load at most 1/2: short probe runs on misses, the common case on a long tail.
void FactsCache::grow() {
  decltype(slots_) old(slots_.size() * 2);
  old.swap(slots_);
  const std::size_t mask = slots_.size() - 1;
  for (const Slot& s : old) {
    if (s.key_len == 0) continue;
    std::size_t i = fast_hash(key(s)) & mask;
    while (slots_[i].key_len != 0) i = (i + 1) & mask;
    slots_[i] = s;
  }
}

std::string_view FactsCache::key(const Slot& s) const noexcept {
  if (s.key_len <= kInline) return {s.key, s.key_len};
  return {arena_.data() + (s.at - 1) + sizeof(ArenaHeader), s.key_len};
}

FactsView FactsCache::view(const Slot& s) const noexcept {
  FactsView v;
  v.reason = s.reason;
  v.disposable = (s.bits & kDisposable) != 0;
  v.free = (s.bits & kFree) != 0;
  const std::string_view k = key(s);
  v.registrable = k.substr(k.size() - s.registrable_len);
  if (s.at != 0) {
    const char* p = arena_.data() + (s.at - 1);
    ArenaHeader h;
    std::memcpy(&h, p, sizeof h);
    p += sizeof h + (s.key_len > kInline ? s.key_len : 0);
    v.suggestion = std::string_view(p, h.suggestion_len);
    if (s.bits & kRegistrableInArena) v.registrable = std::string_view(p + h.suggestion_len, h.registrable_len);
  }
  return v;
}

void FactsCache::put(Slot& s, std::string_view domain, const DomainFacts& f) {
  s.key_len = static_cast<std::uint8_t>(domain.size());
  s.reason = f.reason;
  s.bits = static_cast<std::uint8_t>((f.disposable ? kDisposable : 0) | (f.free ? kFree : 0));
  // Knowledge::lookup's registrable domain is a suffix of the (lower-case) domain: kept as its length.
  const bool suffix = f.registrable.size() <= domain.size() && domain.ends_with(f.registrable);
  s.registrable_len = suffix ? static_cast<std::uint8_t>(f.registrable.size()) : 0;
  if (!suffix) s.bits |= kRegistrableInArena;
  const bool long_key = domain.size() > kInline;
  if (!long_key) std::memcpy(s.key, domain.data(), domain.size());
  if (!long_key && f.suggestion.empty() && suffix) {
    s.at = 0;
    return;
  }
  const ArenaHeader h{static_cast<std::uint16_t>(f.suggestion.size()),
                      static_cast<std::uint16_t>(suffix ? 0 : f.registrable.size())};
  const std::size_t at = arena_.size();
  const std::size_t key_bytes = long_key ? domain.size() : 0;
  arena_.resize(at + sizeof h + key_bytes + h.suggestion_len + h.registrable_len);
  char* p = arena_.data() + at;
  std::memcpy(p, &h, sizeof h);
  p += sizeof h;
  std::memcpy(p, domain.data(), key_bytes);
  std::memcpy(p + key_bytes, f.suggestion.data(), h.suggestion_len);
  std::memcpy(p + key_bytes + h.suggestion_len, f.registrable.data(), h.registrable_len);
  s.at = static_cast<std::uint32_t>(at + 1);
}

FactsView FactsCache::get(std::string_view domain, std::uint64_t hash) {
  FactsView shared_view;
  if (shared_ != nullptr && shared_->find(domain, hash, shared_view)) return shared_view;
  const auto tag = static_cast<std::uint32_t>(hash >> 32);
  std::size_t mask = slots_.size() - 1;
  std::size_t i = hash & mask;
  for (;; i = (i + 1) & mask) {
    const Slot& s = slots_[i];
    if (s.key_len == 0) break;
    if (s.tag == tag && s.key_len == domain.size() && same_bytes(key(s), domain)) return view(s);
  }
  if (domain.empty() || domain.size() > kMaxKey) {  // not a domain address::parse lets through
    k_.lookup(domain, uncached_);
    return FactsView{uncached_.reason, uncached_.disposable, uncached_.free, uncached_.registrable,
                     uncached_.suggestion};
  }
  // Starting over is cheaper than LRU bookkeeping and keeps the hit path a single lookup; a
  // domain seen again after a reset costs one more Knowledge::lookup.
  DomainFacts& f = scratch_;
  k_.lookup(domain, f);
  if (shared_ != nullptr && shared_->insert(domain, hash, f, shared_view)) return shared_view;
  if (size_ >= max_ || arena_.size() > kMaxArena) clear();
  else if ((size_ + 1) * 2 > slots_.size()) grow();
  mask = slots_.size() - 1;
  for (i = hash & mask; slots_[i].key_len != 0; i = (i + 1) & mask) {
  }
  Slot& s = slots_[i];
  s.tag = tag;
  put(s, domain, f);
  ++size_;
  return view(s);
}

}  // namespace mailsift::domain
