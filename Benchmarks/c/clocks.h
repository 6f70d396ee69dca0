/* The clocks every C peer of the benchmarks reads: wall time and the process's CPU time. */
#ifndef SWIFT_ZMQ_BENCH_CLOCKS_H
#define SWIFT_ZMQ_BENCH_CLOCKS_H
#include <sys/resource.h>
#include <time.h>

static inline double now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static inline double cpu_ns(void) {
    struct rusage usage;
    getrusage(RUSAGE_SELF, &usage);
    return (usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) * 1e9
         + (usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) * 1e3;
}
#endif
