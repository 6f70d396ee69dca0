/* Counts heap allocations of a whole process: LD_PRELOAD=malloc_count.so PROGRAM ...
 * Prints "MALLOCS <n>" to stderr at exit. Allocations per message are measured as the difference
 * between two runs with different message counts, so start-up and shut-down cancel out. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static atomic_long allocations;
static void *(*real_malloc)(size_t);
static void *(*real_calloc)(size_t, size_t);
static void *(*real_realloc)(void *, size_t);
static int (*real_posix_memalign)(void **, size_t, size_t);

/* dlsym itself may call calloc before real_calloc is known: serve it from a static arena. */
static char bootstrap[4096];
static size_t bootstrap_used;

static void resolve(void) {
    if (!real_malloc) {
        real_malloc = dlsym(RTLD_NEXT, "malloc");
        real_calloc = dlsym(RTLD_NEXT, "calloc");
        real_realloc = dlsym(RTLD_NEXT, "realloc");
        real_posix_memalign = dlsym(RTLD_NEXT, "posix_memalign");
    }
}

void *malloc(size_t size) { resolve(); atomic_fetch_add(&allocations, 1); return real_malloc(size); }

void *calloc(size_t count, size_t size) {
    if (!real_calloc) {
        void *p = bootstrap + bootstrap_used;
        bootstrap_used += (count * size + 15) & ~(size_t)15;
        memset(p, 0, count * size);
        return p;
    }
    atomic_fetch_add(&allocations, 1);
    return real_calloc(count, size);
}

void *realloc(void *pointer, size_t size) { resolve(); atomic_fetch_add(&allocations, 1); return real_realloc(pointer, size); }

int posix_memalign(void **out, size_t alignment, size_t size) {
    resolve();
    atomic_fetch_add(&allocations, 1);
    return real_posix_memalign(out, alignment, size);
}

void free(void *pointer) {
    static void (*real_free)(void *);
    if ((char *)pointer >= bootstrap && (char *)pointer < bootstrap + sizeof bootstrap) return;
    if (!real_free) real_free = dlsym(RTLD_NEXT, "free");
    real_free(pointer);
}

__attribute__((constructor)) static void start(void) { resolve(); }

__attribute__((destructor)) static void report(void) {
    char line[64];
    int length = snprintf(line, sizeof line, "MALLOCS %ld\n", atomic_load(&allocations));
    write(2, line, length);
}
