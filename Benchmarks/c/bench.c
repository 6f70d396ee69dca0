/* The libzmq side of swift-zmq's benchmarks. Sources/SwiftBench/main.swift has the same modes:
 *   recv EP COUNT SIZE      PULL binds EP, prints "ENDPOINT e", receives; RESULT msgs/s cpu-ns/msg received
 *   send EP COUNT SIZE      PUSH connects, sends, closes with linger;     RESULT 0 cpu-ns/msg sent
 *   inproc COUNT SIZE       both ends in one process;                      RESULT msgs/s cpu-ns/msg received
 *   lat-server EP COUNT SIZE  REP binds, answers COUNT requests with the request
 *   lat-client EP COUNT SIZE  REQ connects, COUNT round trips;             RESULT p50-us p99-us (one way)
 *   lat-inproc COUNT SIZE   both ends in one process;                      RESULT p50-us p99-us
 *   lat-steady EP SECONDS SIZE  REQ connects, round trips for SECONDS; a line "WINDOW end-s p50 p99 p99.9"
 *                           (µs, one way) per 10 s, then RESULT p50 p99 p99.9 over the whole run
 *   mem-idle N              N idle tcp connections in one process;         RESULT bytes-per-connection
 *   mem-queue N SIZE        N messages queued for a peer that never comes; RESULT peak-bytes queued-bytes-per-msg
 *   (pub and sub set no high-water mark, so nothing is dropped and the rate is what flows end to end)
 *   pub EP COUNT SIZE [N T] PUB binds, prints "ENDPOINT e", waits for a line on stdin, publishes; RESULT 0 cpu-ns/msg sent.
 *                           With N it is an XPUB (verbose) that first waits for N subscribers' subscriptions
 *                           (T each, or one to everything when T is 0); with T, message i goes to topic
 *                           "t%04d-%02d" of subscriber i % N, its topic (i / N) % T
 *   sub EP COUNT SIZE N [T] N SUB sockets connect and subscribe to everything (or, with T, to T topics of
 *                           their own, each then expecting COUNT / N), prints "READY", each receives;
 *                           RESULT delivered-msgs/s (all of them, first to last) cpu-ns/msg total-received
 *   conn-server EP COUNT    PULL binds, prints "ENDPOINT e", receives COUNT messages, one per connection;
 *                           RESULT connections/s (first to last) cpu-ns/connection
 *   conn-client EP COUNT    COUNT times: a PUSH connects, sends one octet and closes (CURVE with the keys)
 *   router EP COUNT SIZE N  ROUTER binds, prints "ENDPOINT e", takes N peers' hellos, prints "READY", then
 *                           echoes COUNT requests to their senders; RESULT msgs/s (first to last) cpu-ns/msg
 *   dealers EP COUNT SIZE N N DEALERs connect and say hello, wait for a line on stdin, then each sends
 *                           COUNT / N requests at once; they read nothing back and wait on stdin to end
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

#include "clocks.h"

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
 * (zero-copy, with no reference count, as swift-zmq's Frame(permanent:)), so neither side pays
 * for filling memory per message. */
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
struct window { void *socket; long count; size_t size; double rate; long received, timed; double first, last; };

/* The clock is read once every CLOCK_EVERY messages, and after the last: as libzmq's own
 * perf/local_thr reads it only at the start and the end. A read per message cost about as much
 * as receiving the message on these VMs, the same on both sides, and hid the difference. */
#define CLOCK_EVERY 256

static void *receive_window(void *argument) {
    struct window *w = argument;
    zmq_msg_t msg;
    zmq_msg_init(&msg);
    zmq_msg_recv(&msg, w->socket, 0);
    if (zmq_msg_size(&msg) != w->size) { fprintf(stderr, "wrong message size\n"); exit(1); }
    int timeout = 2000;
    zmq_setsockopt(w->socket, ZMQ_RCVTIMEO, &timeout, sizeof timeout);
    double start = now_ns(), last = start;
    /* The messages received by the time `last` was read: the rate is from that pair. */
    long received = 1, timed = 1;
    while (received < w->count) {
        if (zmq_msg_recv(&msg, w->socket, 0) < 0) break;
        received++;
        if (received % CLOCK_EVERY == 0 || received == w->count) {
            last = now_ns();
            timed = received;
        }
    }
    w->rate = (timed - 1) / ((last - start) / 1e9);
    w->received = received;
    w->timed = timed;
    w->first = start;
    w->last = last;
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

/* p50, p99 and p99.9 of `count` samples, sorted in place, on one line after `label`. */
static void percentiles(const char *label, double *samples, long count) {
    qsort(samples, count, sizeof(double), compare);
    printf("%s %f %f %f\n", label, samples[count / 2], samples[count * 99 / 100], samples[count * 999 / 1000]);
    fflush(stdout);
}

/* Round trips for `seconds`, the percentiles of each 10 s window and of the whole run. */
static void steady(void *req, double seconds, size_t size) {
    long capacity = 1 << 20, count = 0, window_start = 0;
    double *samples = malloc(sizeof(double) * capacity), *window = malloc(sizeof(double) * capacity);
    char *payload = calloc(1, size + 1);
    zmq_msg_t msg;
    zmq_msg_init(&msg);
    double start = now_ns(), next = start + 10e9, end = start + seconds * 1e9;
    while (1) {
        double sent = now_ns();
        if (sent >= end) break;
        zmq_send(req, payload, size, 0);
        zmq_msg_recv(&msg, req, 0);
        double done = now_ns();
        if (count == capacity) {
            capacity *= 2;
            samples = realloc(samples, sizeof(double) * capacity);
            window = realloc(window, sizeof(double) * capacity);
        }
        samples[count++] = (done - sent) / 2 / 1e3;
        if (done >= next) {
            char label[32];
            snprintf(label, sizeof label, "WINDOW %.0f", (next - start) / 1e9);
            memcpy(window, samples + window_start, sizeof(double) * (count - window_start));
            percentiles(label, window, count - window_start);
            window_start = count;
            next += 10e9;
        }
    }
    percentiles("RESULT", samples, count);
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

/* The topic of subscriber `subscriber`'s `topic`th subscription, in `buffer` (9 octets). */
static void topic_name(char *buffer, int subscriber, int topic) {
    snprintf(buffer, 9, "t%04d-%02d", subscriber % 10000, topic % 100);
}

/* Lifts the open-file limit to its maximum: 10,000 connections need as many descriptors. */
static void raise_file_limit(void) {
    struct rlimit limit;
    getrlimit(RLIMIT_NOFILE, &limit);
    limit.rlim_cur = limit.rlim_max;
    setrlimit(RLIMIT_NOFILE, &limit);
    int sockets = 30000;
    zmq_ctx_set(context, ZMQ_MAX_SOCKETS, sockets);
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
    } else if (strcmp(mode, "lat-steady") == 0) {
        void *req = zmq_socket(context, ZMQ_REQ);
        zmq_connect(req, argv[2]);
        steady(req, atof(argv[3]), (size_t) atol(argv[4]));
        int zero = 0;
        zmq_setsockopt(req, ZMQ_LINGER, &zero, sizeof zero);
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
        size_t size = (size_t) atol(argv[4]);
        int subscribers = argc > 5 ? atoi(argv[5]) : 0, topics = argc > 6 ? atoi(argv[6]) : 0;
        raise_file_limit();
        void *pub = zmq_socket(context, subscribers ? ZMQ_XPUB : ZMQ_PUB);
        int unlimited = 0, one = 1;
        zmq_setsockopt(pub, ZMQ_SNDHWM, &unlimited, sizeof unlimited);
        zmq_setsockopt(pub, ZMQ_RCVHWM, &unlimited, sizeof unlimited);
        if (subscribers) zmq_setsockopt(pub, ZMQ_XPUB_VERBOSE, &one, sizeof one);
        if (zmq_bind(pub, argv[2]) != 0) { perror("bind"); return 1; }
        print_endpoint(pub);
        char line[16];
        if (!fgets(line, sizeof line, stdin)) return 1;
        /* Every subscription in place before the first message. */
        long expected = (long) subscribers * (topics ? topics : 1);
        zmq_msg_t subscription;
        zmq_msg_init(&subscription);
        for (long i = 0; i < expected; i++) zmq_msg_recv(&subscription, pub, 0);
        zmq_msg_close(&subscription);
        /* One payload per topic, each starting with its topic and made before the clock starts. */
        long payloads = topics ? (long) subscribers * topics : 0;
        char *buffers = payloads ? malloc(payloads * size) : NULL;
        for (long i = 0; i < payloads; i++) {
            char name[9];
            memset(buffers + i * size, 0x5A, size);
            topic_name(name, (int) (i % subscribers), (int) (i / subscribers));
            memcpy(buffers + i * size, name, 8);
        }
        double start_cpu = cpu_ns();
        if (payloads) {
            for (long i = 0; i < count; i++) {
                zmq_msg_t msg;
                zmq_msg_init_data(&msg, buffers + (i % payloads) * size, size, NULL, NULL);
                zmq_msg_send(&msg, pub, 0);
            }
        } else {
            send_all(pub, count, size);
        }
        zmq_close(pub);
        zmq_ctx_term(context);
        printf("RESULT 0 %f %ld\n", (cpu_ns() - start_cpu) / count, count);
        return 0;
    } else if (strcmp(mode, "sub") == 0) {
        int subscribers = atoi(argv[5]), topics = argc > 6 ? atoi(argv[6]) : 0;
        raise_file_limit();
        long each = topics ? atol(argv[3]) / subscribers : atol(argv[3]);
        struct window *windows = calloc(subscribers, sizeof *windows);
        pthread_t *threads = calloc(subscribers, sizeof *threads);
        for (int i = 0; i < subscribers; i++) {
            windows[i] = (struct window) { zmq_socket(context, ZMQ_SUB), each, (size_t) atol(argv[4]) };
            int unlimited = 0;
            zmq_setsockopt(windows[i].socket, ZMQ_RCVHWM, &unlimited, sizeof unlimited);
            if (!topics) zmq_setsockopt(windows[i].socket, ZMQ_SUBSCRIBE, "", 0);
            for (int t = 0; t < topics; t++) {
                char name[9];
                topic_name(name, i, t);
                zmq_setsockopt(windows[i].socket, ZMQ_SUBSCRIBE, name, 8);
            }
            zmq_connect(windows[i].socket, argv[2]);
        }
        printf("READY\n");
        fflush(stdout);
        double start_cpu = cpu_ns(), first = 0, last = 0;
        long received = 0, timed = 0;
        for (int i = 0; i < subscribers; i++) pthread_create(&threads[i], NULL, receive_window, &windows[i]);
        for (int i = 0; i < subscribers; i++) {
            pthread_join(threads[i], NULL);
            if (i == 0 || windows[i].first < first) first = windows[i].first;
            if (windows[i].last > last) last = windows[i].last;
            received += windows[i].received;
            timed += windows[i].timed;
            zmq_close(windows[i].socket);
        }
        /* Every timed delivery over the span from the first subscriber's first message to the last one's last. */
        printf("RESULT %f %f %ld\n", (timed - 1) / ((last - first) / 1e9), (cpu_ns() - start_cpu) / received, received);
    } else if (strcmp(mode, "conn-server") == 0) {
        long count = atol(argv[3]);
        void *pull = zmq_socket(context, ZMQ_PULL);
        secure(pull, 1);
        if (zmq_bind(pull, argv[2]) != 0) { perror("bind"); return 1; }
        print_endpoint(pull);
        char byte;
        zmq_recv(pull, &byte, 1, 0);
        double start = now_ns(), start_cpu = cpu_ns();
        for (long i = 1; i < count; i++) zmq_recv(pull, &byte, 1, 0);
        printf("RESULT %f %f\n", (count - 1) / ((now_ns() - start) / 1e9), (cpu_ns() - start_cpu) / (count - 1));
        zmq_close(pull);
    } else if (strcmp(mode, "conn-client") == 0) {
        long count = atol(argv[3]);
        raise_file_limit();  /* closed sockets count until libzmq's reaper has freed them */
        for (long i = 0; i < count; i++) {
            void *push = zmq_socket(context, ZMQ_PUSH);
            if (!push) { perror("zmq_socket"); return 1; }
            secure(push, 0);
            zmq_connect(push, argv[2]);
            zmq_send(push, "x", 1, 0);
            zmq_close(push);  /* the default linger: the message still goes */
        }
    } else if (strcmp(mode, "router") == 0) {
        long count = atol(argv[3]);
        int peers = atoi(argv[5]);
        raise_file_limit();
        void *router = zmq_socket(context, ZMQ_ROUTER);
        int unlimited = 0;
        zmq_setsockopt(router, ZMQ_SNDHWM, &unlimited, sizeof unlimited);
        zmq_setsockopt(router, ZMQ_RCVHWM, &unlimited, sizeof unlimited);
        if (zmq_bind(router, argv[2]) != 0) { perror("bind"); return 1; }
        print_endpoint(router);
        zmq_msg_t id, body;
        zmq_msg_init(&id);
        zmq_msg_init(&body);
        for (int i = 0; i < peers; i++) { zmq_msg_recv(&id, router, 0); zmq_msg_recv(&body, router, 0); }
        printf("READY\n");
        fflush(stdout);
        zmq_msg_recv(&id, router, 0);
        zmq_msg_recv(&body, router, 0);
        double start = now_ns(), start_cpu = cpu_ns();
        for (long i = 0; i < count; i++) {
            if (i > 0) { zmq_msg_recv(&id, router, 0); zmq_msg_recv(&body, router, 0); }
            zmq_msg_send(&id, router, ZMQ_SNDMORE);
            zmq_msg_send(&body, router, 0);
        }
        printf("RESULT %f %f\n", (count - 1) / ((now_ns() - start) / 1e9), (cpu_ns() - start_cpu) / count);
        int zero = 0;
        zmq_setsockopt(router, ZMQ_LINGER, &zero, sizeof zero);
        zmq_close(router);
    } else if (strcmp(mode, "dealers") == 0) {
        long count = atol(argv[3]);
        size_t size = (size_t) atol(argv[4]);
        int peers = atoi(argv[5]);
        raise_file_limit();
        void **dealers = malloc(sizeof(void *) * peers);
        char *payload = calloc(1, size + 1);
        int unlimited = 0, zero = 0;
        for (int i = 0; i < peers; i++) {
            dealers[i] = zmq_socket(context, ZMQ_DEALER);
            zmq_setsockopt(dealers[i], ZMQ_SNDHWM, &unlimited, sizeof unlimited);
            zmq_setsockopt(dealers[i], ZMQ_RCVHWM, &unlimited, sizeof unlimited);
            zmq_setsockopt(dealers[i], ZMQ_LINGER, &zero, sizeof zero);
            zmq_connect(dealers[i], argv[2]);
            zmq_send(dealers[i], "hello", 5, 0);
        }
        char line[16];
        if (!fgets(line, sizeof line, stdin)) return 1;
        for (long i = 0; i < count; i++) zmq_send(dealers[i % peers], payload, size, 0);
        if (!fgets(line, sizeof line, stdin)) { /* run.py closes stdin when the router is done */ }
        for (int i = 0; i < peers; i++) zmq_close(dealers[i]);
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
