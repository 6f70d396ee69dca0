/* The libzmq half of the throughput benchmark, shaped like libzmq's local_thr/remote_thr.
 *   thr recv ENDPOINT COUNT SIZE   binds PULL, prints ENDPOINT, receives COUNT messages
 *   thr send ENDPOINT COUNT SIZE   connects PUSH, sends COUNT messages, closes with linger
 * Each prints: RESULT <msgs/s from first to last message> <CPU ns per message> <messages>. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/resource.h>
#include <zmq.h>

static double now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static double cpu_ns(void) {
    struct rusage usage;
    getrusage(RUSAGE_SELF, &usage);
    return (usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) * 1e9
         + (usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) * 1e3;
}

int main(int argc, char **argv) {
    if (argc != 5) { fprintf(stderr, "usage: thr recv|send ENDPOINT COUNT SIZE\n"); return 2; }
    long count = atol(argv[3]);
    size_t size = (size_t) atol(argv[4]);
    void *context = zmq_ctx_new();
    if (strcmp(argv[1], "recv") == 0) {
        void *pull = zmq_socket(context, ZMQ_PULL);
        if (zmq_bind(pull, argv[2]) != 0) { perror("bind"); return 1; }
        char endpoint[256];
        size_t length = sizeof endpoint;
        zmq_getsockopt(pull, ZMQ_LAST_ENDPOINT, endpoint, &length);
        printf("ENDPOINT %s\n", endpoint);
        fflush(stdout);
        zmq_msg_t msg;
        zmq_msg_init(&msg);
        zmq_msg_recv(&msg, pull, 0);
        if (zmq_msg_size(&msg) != size) { fprintf(stderr, "wrong message size\n"); return 1; }
        /* libzmq can lose the tail of a stream at close over ipc (issue #4660): stop waiting
           after 2 s of silence and report how many arrived. */
        int timeout = 2000;
        zmq_setsockopt(pull, ZMQ_RCVTIMEO, &timeout, sizeof timeout);
        double start_cpu = cpu_ns(), start = now_ns(), last = start;
        long received = 1;
        for (long i = 1; i < count; i++) {
            if (zmq_msg_recv(&msg, pull, 0) < 0) break;
            received++;
            last = now_ns();
        }
        printf("RESULT %f %f %ld\n", (received - 1) / ((last - start) / 1e9), (cpu_ns() - start_cpu) / (received - 1), received);
        zmq_msg_close(&msg);
        zmq_close(pull);
    } else {
        void *push = zmq_socket(context, ZMQ_PUSH);
        if (zmq_connect(push, argv[2]) != 0) { perror("connect"); return 1; }
        double start_cpu = cpu_ns();
        for (long i = 0; i < count; i++) {
            zmq_msg_t msg;
            zmq_msg_init_size(&msg, size);
            memset(zmq_msg_data(&msg), 0x5A, size);
            zmq_msg_send(&msg, push, 0);
        }
        zmq_close(push);
        zmq_ctx_term(context);
        printf("RESULT 0 %f %ld\n", (cpu_ns() - start_cpu) / count, count);
        return 0;
    }
    zmq_ctx_term(context);
    return 0;
}
