#pragma once
// Shared fixtures for the domain tests.
#include "domain/knowledge.hpp"

namespace mailsift::domain::testing {

// ListOptions built field by field: designated initializers that skip members trip GCC 12's
// -Wmissing-field-initializers.
template <typename F>
ListOptions options(F&& set) {
  ListOptions o;
  set(o);
  return o;
}

/// The built-in lists, loaded once for the whole test binary.
inline const Knowledge& defaults() {
  static const Knowledge k;
  return k;
}

}  // namespace mailsift::domain::testing
