#include "common/huge_pages.hpp"

#include <sys/mman.h>

#include <cstdint>

namespace mailsift::huge_pages {
namespace {

// Transparent huge pages are 2 MiB on x86-64 and arm64; the kernel only backs 2 MiB-aligned
// stretches with them. Below that, a mapping of our own is not worth it.
constexpr std::size_t kHugePage = kMappedBytes;

// The mapping is bytes + kHugePage long, so that an aligned start fits in it; the unused head and
// tail are unmapped at once, which leaves exactly [aligned, aligned + bytes) to unmap later.
std::size_t mapped(std::size_t bytes) noexcept { return (bytes + kHugePage - 1) & ~(kHugePage - 1); }

}  // namespace

void* allocate(std::size_t bytes) {
  if (bytes < kHugePage) return ::operator new(bytes);  // zero-filled by the container's value-initialisation
  const std::size_t len = mapped(bytes);
  void* m = ::mmap(nullptr, len + kHugePage, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (m == MAP_FAILED) throw std::bad_alloc();
  const auto start = reinterpret_cast<std::uintptr_t>(m);
  const std::uintptr_t aligned = (start + kHugePage - 1) & ~(std::uintptr_t{kHugePage} - 1);
  if (aligned > start) ::munmap(m, aligned - start);
  const std::uintptr_t tail = start + len + kHugePage - (aligned + len);
  if (tail > 0) ::munmap(reinterpret_cast<void*>(aligned + len), tail);
#ifdef MADV_HUGEPAGE
  (void)::madvise(reinterpret_cast<void*>(aligned), len, MADV_HUGEPAGE);  // a hint: fine if refused
#endif
  return reinterpret_cast<void*>(aligned);
}

void deallocate(void* p, std::size_t bytes) noexcept {
  if (p == nullptr) return;
  if (bytes < kHugePage) {
    ::operator delete(p);
    return;
  }
  ::munmap(p, mapped(bytes));
}

}  // namespace mailsift::huge_pages
