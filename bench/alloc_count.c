// Counts a process's heap allocations, for scripts/bench-allocs.sh: LD_PRELOAD it and it prints
// "alloc_count: new=N malloc=N calloc=N realloc=N aligned=N" on standard error at exit.
//
// `operator new` is counted on its own: the mailsift binary links jemalloc, whose operator new
// allocates without calling malloc, so a malloc hook (heaptrack's, say) never sees the C++
// allocations. The C functions forward to the next definition (jemalloc's, or libc's); operator
// new and delete go through this file's malloc, posix_memalign and free and are counted as `new`
// only. Not counted: memalign, valloc, pvalloc (nothing here uses them).
//
// This works because jemalloc (and libstdc++'s operator new) are shared libraries, which a
// preloaded definition overrides; a binary with its allocator linked in statically would bypass
// it and show `new=0`.
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>

static atomic_ulong n_new, n_malloc, n_calloc, n_realloc, n_aligned;

static void* (*next_malloc)(size_t);
static void* (*next_calloc)(size_t, size_t);
static void* (*next_realloc)(void*, size_t);
static void (*next_free)(void*);
static int (*next_posix_memalign)(void**, size_t, size_t);
static void* (*next_aligned_alloc)(size_t, size_t);

// dlsym may itself call calloc before next_calloc is known: those few bytes come from here.
static _Alignas(16) char bootstrap[4096];
static size_t bootstrap_used;

static void* bootstrap_alloc(size_t n) {
  n = (n + 15) & ~(size_t)15;
  if (bootstrap_used + n > sizeof bootstrap) abort();
  void* p = bootstrap + bootstrap_used;
  bootstrap_used += n;
  return p;  // static storage: already zero
}

static int from_bootstrap(const void* p) {
  return (const char*)p >= bootstrap && (const char*)p < bootstrap + sizeof bootstrap;
}

void* malloc(size_t n) {
  if (!next_malloc) next_malloc = (void* (*)(size_t))dlsym(RTLD_NEXT, "malloc");
  ++n_malloc;
  return next_malloc(n);
}

void* calloc(size_t count, size_t n) {
  if (!next_calloc) {
    static int resolving;
    if (resolving) return bootstrap_alloc(count * n);
    resolving = 1;
    next_calloc = (void* (*)(size_t, size_t))dlsym(RTLD_NEXT, "calloc");
    resolving = 0;
  }
  ++n_calloc;
  return next_calloc(count, n);
}

void* realloc(void* p, size_t n) {
  if (!next_realloc) next_realloc = (void* (*)(void*, size_t))dlsym(RTLD_NEXT, "realloc");
  ++n_realloc;
  return next_realloc(p, n);
}

void free(void* p) {
  if (p == NULL || from_bootstrap(p)) return;
  if (!next_free) next_free = (void (*)(void*))dlsym(RTLD_NEXT, "free");
  next_free(p);
}

int posix_memalign(void** out, size_t alignment, size_t n) {
  if (!next_posix_memalign) next_posix_memalign = (int (*)(void**, size_t, size_t))dlsym(RTLD_NEXT, "posix_memalign");
  ++n_aligned;
  return next_posix_memalign(out, alignment, n);
}

void* aligned_alloc(size_t alignment, size_t n) {
  if (!next_aligned_alloc) next_aligned_alloc = (void* (*)(size_t, size_t))dlsym(RTLD_NEXT, "aligned_alloc");
  ++n_aligned;
  return next_aligned_alloc(alignment, n);
}

// operator new and delete (Itanium C++ ABI names), through malloc/posix_memalign and free: counted
// once, as `new`.
static void* new_bytes(size_t n) {
  void* p = malloc(n ? n : 1);
  --n_malloc;
  ++n_new;
  return p;
}
static void* new_aligned(size_t n, size_t alignment) {
  void* p = NULL;
  if (alignment < sizeof(void*)) alignment = sizeof(void*);
  if (posix_memalign(&p, alignment, n ? n : 1) != 0) p = NULL;
  --n_aligned;
  ++n_new;
  return p;
}
void* _Znwm(size_t n) {
  void* p = new_bytes(n);
  if (!p) abort();  // a C program cannot throw std::bad_alloc; a counting run is not short of memory
  return p;
}
void* _Znam(size_t n) { return _Znwm(n); }
void* _ZnwmRKSt9nothrow_t(size_t n, const void* tag) {
  (void)tag;
  return new_bytes(n);
}
void* _ZnamRKSt9nothrow_t(size_t n, const void* tag) { return _ZnwmRKSt9nothrow_t(n, tag); }
void* _ZnwmSt11align_val_t(size_t n, size_t alignment) {
  void* p = new_aligned(n, alignment);
  if (!p) abort();
  return p;
}
void* _ZnamSt11align_val_t(size_t n, size_t alignment) { return _ZnwmSt11align_val_t(n, alignment); }
void* _ZnwmSt11align_val_tRKSt9nothrow_t(size_t n, size_t alignment, const void* tag) {
  (void)tag;
  return new_aligned(n, alignment);
}
void* _ZnamSt11align_val_tRKSt9nothrow_t(size_t n, size_t alignment, const void* tag) {
  return _ZnwmSt11align_val_tRKSt9nothrow_t(n, alignment, tag);
}
void _ZdlPv(void* p) { free(p); }
void _ZdaPv(void* p) { free(p); }
void _ZdlPvm(void* p, size_t n) {
  (void)n;
  free(p);
}
void _ZdaPvm(void* p, size_t n) {
  (void)n;
  free(p);
}
void _ZdlPvSt11align_val_t(void* p, size_t a) {
  (void)a;
  free(p);
}
void _ZdaPvSt11align_val_t(void* p, size_t a) {
  (void)a;
  free(p);
}
void _ZdlPvmSt11align_val_t(void* p, size_t n, size_t a) {
  (void)n;
  (void)a;
  free(p);
}
void _ZdaPvmSt11align_val_t(void* p, size_t n, size_t a) {
  (void)n;
  (void)a;
  free(p);
}

__attribute__((destructor)) static void report(void) {
  fprintf(stderr, "alloc_count: new=%lu malloc=%lu calloc=%lu realloc=%lu aligned=%lu\n", (unsigned long)n_new,
          (unsigned long)n_malloc, (unsigned long)n_calloc, (unsigned long)n_realloc, (unsigned long)n_aligned);
}
