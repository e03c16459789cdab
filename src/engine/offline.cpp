#include "engine/offline.hpp"

#include <thread>

namespace mailsift::engine {

std::size_t resolve_threads(std::size_t requested) noexcept {
  if (requested > 0) return requested;
  const unsigned cores = std::thread::hardware_concurrency();  // 0 when it cannot tell
  return cores == 0 ? 1 : cores;
}

}  // namespace mailsift::engine
