/* The libzmq side of swift-zmq's benchmarks. Sources/SwiftBench/main.swift has the same modes:
 *   recv EP COUNT SIZE      PULL binds EP, prints "ENDPOINT e", receives; RESULT msgs/s cpu-ns/msg received
 *   send EP COUNT SIZE      PUSH connects, sends, closes with linger;     RESULT 0 cpu-ns/msg sent
 *   inproc COUNT SIZE       both ends in one process;                      RESULT msgs/s cpu-ns/msg received
 *   lat-server EP COUNT SIZE  REP binds, answers COUNT requests with the request
 *   lat-client EP COUNT SIZE  REQ connects, COUNT round trips;             RESULT p50-us p99-us (one way)
 *   lat-inproc COUNT SIZE   both ends in one process;                      RESULT p50-us p99-us
 *   mem-idle N              N idle tcp connections in one process;         RESULT bytes-per-connection
 *   mem-queue N SIZE        N messages queued for a peer that never comes; RESULT peak-bytes queued-bytes-per-msg
 *   (pub and sub set no high-water mark, so nothing is dropped and the rate is what flows end to end)
 *   pub EP COUNT SIZE       PUB binds, prints "ENDPOINT e", waits for a line on stdin, publishes; RESULT 0 cpu-ns/msg sent
 *   sub EP COUNT SIZE N     N SUB sockets connect and subscribe to everything, prints "READY", each receives;
 *                           RESULT summed-msgs/s cpu-ns/msg total-received
 *   keypair                 prints "KEYPAIR public secret", a new CURVE key pair in Z85 (zmq_curve_keypair)
 * With BENCH_CURVE_SERVER_PUBLIC, BENCH_CURVE_SERVER_SECRET, BENCH_CURVE_CLIENT_PUBLIC and
 * BENCH_CURVE_CLIENT_SECRET set (Z85), recv is a CURVE server and send its client, and each says
 * "SECURITY CURVE" on stderr; without them both use NULL, as every other mode does. */
#include <pthread.h>
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

static long status_kb(const char *field) {
    FILE *file = fopen("/proc/self/status", "r");
    char line[256];
    long value = -1;
    size_t length = strlen(field);
    while (fgets(line, sizeof line, file)) {
        if (strncmp(line, field, length) == 0) { value = atol(line + length + 1); break; }
    }
    fclose(file);
    return value;
}

static void *context;

/* Like the swift-zmq side, every message carries the same payload: small ones are copied into
 * the message (libzmq stores up to 33 octets inline), larger ones point at one shared buffer
 * (zero-copy, as a shared swift-zmq Frame), so neither side pays for filling memory per message. */
static void send_all(void *socket, long count, size_t size) {
    static char *shared;
    if (!shared) { shared = malloc(size + 1); memset(shared, 0x5A, size); }
    for (long i = 0; i < count; i++) {
        zmq_msg_t msg;
        if (size <= 33) {
            zmq_msg_init_size(&msg, size);
            memcpy(zmq_msg_data(&msg), shared, size);
        } else {
            zmq_msg_init_data(&msg, shared, size, NULL, NULL);
        }
        zmq_msg_send(&msg, socket, 0);
    }
}

/* A message of its own each time, as an application producing data would (mem-queue). */
static void send_copies(void *socket, long count, size_t size) {
    for (long i = 0; i < count; i++) {
        zmq_msg_t msg;
        zmq_msg_init_size(&msg, size);
        memset(zmq_msg_data(&msg), 0x5A, size);
        zmq_msg_send(&msg, socket, 0);
    }
}

/* One receiver's run: from its first message to its last, up to count messages or 2 s of
 * silence (libzmq can lose an ipc tail, #4660; a subscriber may miss messages). */
struct window { void *socket; long count; size_t size; double rate; long received; };

static void *receive_window(void *argument) {
    struct window *w = argument;
    zmq_msg_t msg;
    zmq_msg_init(&msg);
    zmq_msg_recv(&msg, w->socket, 0);
    if (zmq_msg_size(&msg) != w->size) { fprintf(stderr, "wrong message size\n"); exit(1); }
    int timeout = 2000;
    zmq_setsockopt(w->socket, ZMQ_RCVTIMEO, &timeout, sizeof timeout);
    double start = now_ns(), last = start;
    long received = 1;
    while (received < w->count) {
        if (zmq_msg_recv(&msg, w->socket, 0) < 0) break;
        received++;
        last = now_ns();
    }
    w->rate = (received - 1) / ((last - start) / 1e9);
    w->received = received;
    zmq_msg_close(&msg);
    return NULL;
}

static void receive_all(void *pull, long count, size_t size) {
    struct window w = { pull, count, size, 0, 0 };
    double start_cpu = cpu_ns();
    receive_window(&w);
    printf("RESULT %f %f %ld\n", w.rate, (cpu_ns() - start_cpu) / (w.received - 1), w.received);
}

struct job { const char *endpoint; long count; size_t size; };

static void *inproc_sender(void *argument) {
    struct job *job = argument;
    void *push = zmq_socket(context, ZMQ_PUSH);
    zmq_connect(push, job->endpoint);
    send_all(push, job->count, job->size);
    zmq_close(push);
    return NULL;
}

static int compare(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void echo(void *rep, long count) {
    zmq_msg_t msg;
    zmq_msg_init(&msg);
    for (long i = 0; i < count; i++) {
        zmq_msg_recv(&msg, rep, 0);
        zmq_msg_send(&msg, rep, 0);
    }
    zmq_msg_close(&msg);
}

static void *inproc_echo(void *argument) {
    struct job *job = argument;
    void *rep = zmq_socket(context, ZMQ_REP);
    zmq_connect(rep, job->endpoint);
    echo(rep, job->count);
    zmq_close(rep);
    return NULL;
}

static void round_trips(void *req, long count, size_t size) {
    double *samples = malloc(sizeof(double) * count);
    char *payload = calloc(1, size + 1);
    zmq_msg_t msg;
    zmq_msg_init(&msg);
    for (long i = 0; i < count; i++) {
        double start = now_ns();
        zmq_send(req, payload, size, 0);
        zmq_msg_recv(&msg, req, 0);
        samples[i] = (now_ns() - start) / 2 / 1e3;
    }
    qsort(samples, count, sizeof(double), compare);
    printf("RESULT %f %f\n", samples[count / 2], samples[count * 99 / 100]);
    zmq_msg_close(&msg);
}

static const char *curve_key(const char *name) {
    const char *key = getenv(name);
    if (!key || strlen(key) != 40) { fprintf(stderr, "%s must be a 40-character Z85 key\n", name); exit(1); }
    return key;
}

static void set_key(void *socket, int option, const char *key) {
    if (zmq_setsockopt(socket, option, key, 41) != 0) { perror("zmq_setsockopt (CURVE key)"); exit(1); }
}

/* The receiver is the CURVE server, the sender its client, when run.py has set the keys. */
static void secure(void *socket, int server) {
    if (!getenv("BENCH_CURVE_SERVER_PUBLIC")) return;
    if (!zmq_has("curve")) { fprintf(stderr, "this libzmq has no CURVE (built without libsodium)\n"); exit(1); }
    if (server) {
        int one = 1;
        if (zmq_setsockopt(socket, ZMQ_CURVE_SERVER, &one, sizeof one) != 0) { perror("ZMQ_CURVE_SERVER"); exit(1); }
        set_key(socket, ZMQ_CURVE_PUBLICKEY, curve_key("BENCH_CURVE_SERVER_PUBLIC"));
        set_key(socket, ZMQ_CURVE_SECRETKEY, curve_key("BENCH_CURVE_SERVER_SECRET"));
    } else {
        set_key(socket, ZMQ_CURVE_SERVERKEY, curve_key("BENCH_CURVE_SERVER_PUBLIC"));
        set_key(socket, ZMQ_CURVE_PUBLICKEY, curve_key("BENCH_CURVE_CLIENT_PUBLIC"));
        set_key(socket, ZMQ_CURVE_SECRETKEY, curve_key("BENCH_CURVE_CLIENT_SECRET"));
    }
    fprintf(stderr, "SECURITY CURVE\n");
}

static void print_endpoint(void *socket) {
    char endpoint[256];
    size_t length = sizeof endpoint;
    zmq_getsockopt(socket, ZMQ_LAST_ENDPOINT, endpoint, &length);
    printf("ENDPOINT %s\n", endpoint);
    fflush(stdout);
}

int main(int argc, char **argv) {
    if (argc == 2 && strcmp(argv[1], "keypair") == 0) {
        char public_key[41], secret_key[41];
        if (!zmq_has("curve") || zmq_curve_keypair(public_key, secret_key) != 0) {
            fprintf(stderr, "this libzmq has no CURVE (built without libsodium)\n");
            return 1;
        }
        printf("KEYPAIR %s %s\n", public_key, secret_key);
        return 0;
    }
    if (argc < 3) { fprintf(stderr, "usage: see the comment at the top of bench.c\n"); return 2; }
    context = zmq_ctx_new();
    const char *mode = argv[1];
    if (strcmp(mode, "recv") == 0) {
        void *pull = zmq_socket(context, ZMQ_PULL);
        secure(pull, 1);
        if (zmq_bind(pull, argv[2]) != 0) { perror("bind"); return 1; }
        print_endpoint(pull);
        receive_all(pull, atol(argv[3]), (size_t) atol(argv[4]));
        zmq_close(pull);
    } else if (strcmp(mode, "send") == 0) {
        long count = atol(argv[3]);
        void *push = zmq_socket(context, ZMQ_PUSH);
        secure(push, 0);
        if (zmq_connect(push, argv[2]) != 0) { perror("connect"); return 1; }
        double start_cpu = cpu_ns();
        send_all(push, count, (size_t) atol(argv[4]));
        zmq_close(push);
        zmq_ctx_term(context);
        printf("RESULT 0 %f %ld\n", (cpu_ns() - start_cpu) / count, count);
        return 0;
    } else if (strcmp(mode, "inproc") == 0) {
        struct job job = { "inproc://bench", atol(argv[2]), (size_t) atol(argv[3]) };
        void *pull = zmq_socket(context, ZMQ_PULL);
        zmq_bind(pull, job.endpoint);
        pthread_t thread;
        pthread_create(&thread, NULL, inproc_sender, &job);
        receive_all(pull, job.count, job.size);
        pthread_join(thread, NULL);
        zmq_close(pull);
    } else if (strcmp(mode, "lat-server") == 0) {
        void *rep = zmq_socket(context, ZMQ_REP);
        if (zmq_bind(rep, argv[2]) != 0) { perror("bind"); return 1; }
        print_endpoint(rep);
        echo(rep, atol(argv[3]));
        zmq_close(rep);
    } else if (strcmp(mode, "lat-client") == 0) {
        void *req = zmq_socket(context, ZMQ_REQ);
        zmq_connect(req, argv[2]);
        round_trips(req, atol(argv[3]), (size_t) atol(argv[4]));
        zmq_close(req);
    } else if (strcmp(mode, "lat-inproc") == 0) {
        struct job job = { "inproc://latency", atol(argv[2]), (size_t) atol(argv[3]) };
        void *req = zmq_socket(context, ZMQ_REQ);
        zmq_bind(req, job.endpoint);
        pthread_t thread;
        pthread_create(&thread, NULL, inproc_echo, &job);
        round_trips(req, job.count, job.size);
        pthread_join(thread, NULL);
        zmq_close(req);
    } else if (strcmp(mode, "mem-idle") == 0) {
        int count = atoi(argv[2]);
        void *pull = zmq_socket(context, ZMQ_PULL);
        zmq_bind(pull, "tcp://127.0.0.1:*");
        char endpoint[256];
        size_t length = sizeof endpoint;
        zmq_getsockopt(pull, ZMQ_LAST_ENDPOINT, endpoint, &length);
        void **pushes = malloc(sizeof(void *) * count);
        /* Warm up with one connection so that one-off costs do not count. */
        void *warm = zmq_socket(context, ZMQ_PUSH);
        zmq_connect(warm, endpoint);
        zmq_send(warm, "x", 1, 0);
        char byte;
        zmq_recv(pull, &byte, 1, 0);
        long before = status_kb("VmRSS");
        for (int i = 0; i < count; i++) {
            pushes[i] = zmq_socket(context, ZMQ_PUSH);
            zmq_connect(pushes[i], endpoint);
            zmq_send(pushes[i], "x", 1, 0);
        }
        for (int i = 0; i < count; i++) zmq_recv(pull, &byte, 1, 0);
        long after = status_kb("VmRSS");
        printf("RESULT %f\n", (after - before) * 1024.0 / count);
        int zero = 0;
        for (int i = 0; i < count; i++) { zmq_setsockopt(pushes[i], ZMQ_LINGER, &zero, sizeof zero); zmq_close(pushes[i]); }
        zmq_setsockopt(warm, ZMQ_LINGER, &zero, sizeof zero);
        zmq_close(warm);
        zmq_close(pull);
    } else if (strcmp(mode, "pub") == 0) {
        long count = atol(argv[3]);
        void *pub = zmq_socket(context, ZMQ_PUB);
        int unlimited = 0;
        zmq_setsockopt(pub, ZMQ_SNDHWM, &unlimited, sizeof unlimited);
        if (zmq_bind(pub, argv[2]) != 0) { perror("bind"); return 1; }
        print_endpoint(pub);
        char line[16];
        if (!fgets(line, sizeof line, stdin)) return 1;
        double start_cpu = cpu_ns();
        send_all(pub, count, (size_t) atol(argv[4]));
        zmq_close(pub);
        zmq_ctx_term(context);
        printf("RESULT 0 %f %ld\n", (cpu_ns() - start_cpu) / count, count);
        return 0;
    } else if (strcmp(mode, "sub") == 0) {
        int subscribers = atoi(argv[5]);
        struct window *windows = calloc(subscribers, sizeof *windows);
        pthread_t *threads = calloc(subscribers, sizeof *threads);
        for (int i = 0; i < subscribers; i++) {
            windows[i] = (struct window) { zmq_socket(context, ZMQ_SUB), atol(argv[3]), (size_t) atol(argv[4]), 0, 0 };
            int unlimited = 0;
            zmq_setsockopt(windows[i].socket, ZMQ_RCVHWM, &unlimited, sizeof unlimited);
            zmq_setsockopt(windows[i].socket, ZMQ_SUBSCRIBE, "", 0);
            zmq_connect(windows[i].socket, argv[2]);
        }
        printf("READY\n");
        fflush(stdout);
        double start_cpu = cpu_ns(), rate = 0;
        long received = 0;
        for (int i = 0; i < subscribers; i++) pthread_create(&threads[i], NULL, receive_window, &windows[i]);
        for (int i = 0; i < subscribers; i++) {
            pthread_join(threads[i], NULL);
            rate += windows[i].rate;
            received += windows[i].received;
            zmq_close(windows[i].socket);
        }
        printf("RESULT %f %f %ld\n", rate, (cpu_ns() - start_cpu) / received, received);
    } else if (strcmp(mode, "mem-queue") == 0) {
        long count = atol(argv[2]);
        size_t size = (size_t) atol(argv[3]);
        void *push = zmq_socket(context, ZMQ_PUSH);
        int hwm = (int) count, zero = 0;
        zmq_setsockopt(push, ZMQ_SNDHWM, &hwm, sizeof hwm);
        zmq_setsockopt(push, ZMQ_LINGER, &zero, sizeof zero);
        zmq_connect(push, "tcp://127.0.0.1:1");
        long before = status_kb("VmRSS");
        send_copies(push, count, size);
        long peak = status_kb("VmHWM");
        printf("RESULT %f %f\n", peak * 1024.0, (status_kb("VmRSS") - before) * 1024.0 / count);
        zmq_close(push);
    }
    zmq_ctx_term(context);
    return 0;
}
