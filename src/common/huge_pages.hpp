#pragma once
// A std::allocator for large tables read at random (hash tables of hundreds of thousands of
// entries): allocations of 2 MiB and more are mapped 2 MiB-aligned and advised as transparent huge
// pages, so a look-up costs its cache miss but not also a TLB miss and page walk (with 4 KiB pages
// a 16 MiB table spans 4,096 pages, more than the TLB holds). Smaller ones come from operator new.
// U64Map does the same for itself (common/u64_map.cpp).
#include <cstddef>
#include <new>

namespace mailsift {

namespace huge_pages {
/// Allocations of this size and more are fresh mappings: zero-filled, resident only once touched.
inline constexpr std::size_t kMappedBytes = std::size_t{2} << 20;
/// `bytes` of memory: 2 MiB-aligned and zero-filled when bytes >= kMappedBytes; smaller ones come
/// from operator new, not initialised (containers value-initialise them). Throws std::bad_alloc.
[[nodiscard]] void* allocate(std::size_t bytes);
/// Frees what allocate(bytes) returned.
void deallocate(void* p, std::size_t bytes) noexcept;
}  // namespace huge_pages

template <class T>
struct HugePageAllocator {
  using value_type = T;
  HugePageAllocator() = default;
  template <class U>
  HugePageAllocator(const HugePageAllocator<U>&) noexcept {}  // NOLINT: allocators convert implicitly
  [[nodiscard]] T* allocate(std::size_t n) { return static_cast<T*>(huge_pages::allocate(n * sizeof(T))); }
  void deallocate(T* p, std::size_t n) noexcept { huge_pages::deallocate(p, n * sizeof(T)); }
  template <class U>
  bool operator==(const HugePageAllocator<U>&) const noexcept {
    return true;
  }
};

}  // namespace mailsift
