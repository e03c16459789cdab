#include "common/u64_map.hpp"

#include <sys/mman.h>

#include <new>

namespace mailsift {
namespace {

// Transparent huge pages are 2 MiB on x86-64 and arm64 (4 KiB base pages); the kernel only backs
// 2 MiB-aligned stretches with them, so larger tables are aligned to that.
constexpr std::size_t kHugePage = std::size_t{2} << 20;

}  // namespace

U64Map::U64Map(bool values, std::size_t initial) : stride_(values ? 2 : 1) {
  std::size_t n = 16;
  while (n < initial) n <<= 1;
  map(n);
}

U64Map::~U64Map() {
  if (mapping_) ::munmap(mapping_, mapping_bytes_);
}

void U64Map::map(std::size_t slots) {
  const std::size_t bytes = slots * stride_ * sizeof(std::uint64_t);
  const bool huge = bytes >= kHugePage;
  const std::size_t len = huge ? bytes + kHugePage : bytes;
  void* m = ::mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (m == MAP_FAILED) throw std::bad_alloc();
  auto addr = reinterpret_cast<std::uintptr_t>(m);
  if (huge) {
    addr = (addr + kHugePage - 1) & ~(std::uintptr_t{kHugePage} - 1);
#ifdef MADV_HUGEPAGE
    (void)::madvise(reinterpret_cast<void*>(addr), bytes, MADV_HUGEPAGE);  // a hint: fine if refused
#endif
  }
  mapping_ = m;
  mapping_bytes_ = len;
  slots_ = reinterpret_cast<std::uint64_t*>(addr);
  mask_ = slots - 1;
  size_ = 0;
}

void U64Map::grow() {
  std::uint64_t* const old = slots_;
  void* const old_mapping = mapping_;
  const std::size_t old_bytes = mapping_bytes_, old_slots = mask_ + 1;
  map(old_slots * 2);  // throws before changing anything when the mapping fails
  const std::size_t stride = stride_;
  for (std::size_t i = 0; i < old_slots; ++i) {
    const std::uint64_t* s = old + i * stride;
    if (s[0] == 0) continue;
    for (std::size_t k = s[0] & mask_;; k = (k + 1) & mask_) {
      std::uint64_t* d = slots_ + k * stride;
      if (d[0] == 0) {
        d[0] = s[0];
        if (stride == 2) d[1] = s[1];
        break;
      }
    }
    ++size_;
  }
  ::munmap(old_mapping, old_bytes);
}

}  // namespace mailsift
