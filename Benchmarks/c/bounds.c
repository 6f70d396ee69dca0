/* References with no ZeroMQ library on one side or both (run.py --only bounds): a partner for
 * libzmq that costs almost nothing, and the kernel's own cost of a copy or a round trip. Plain
 * sockets, blocking, one thread, speaking just enough ZMTP 3.0 (NULL) to stand in for a PUSH or
 * a PULL; the same modes and RESULT lines as bench.c, so run.py pairs them with either side:
 *   recv EP COUNT SIZE      a PULL that binds EP, prints "ENDPOINT e", reads one connection's frames
 *                           into a 4 MiB buffer and only counts them; RESULT msgs/s cpu-ns/msg received
 *   send EP COUNT SIZE      a PUSH that connects and writes ready-made frames, 256 KiB a write
 *                           for small ones, a writev of header and shared body for large ones;
 *                           RESULT 0 cpu-ns/msg sent
 *   lat-server EP COUNT SIZE  binds, echoes COUNT blocks of SIZE octets (no ZMTP: both ends are this)
 *   lat-client EP COUNT SIZE  connects, COUNT round trips of SIZE octets; RESULT p50-us p99-us (one way)
 * EP is tcp://127.0.0.1:PORT (PORT * for any) or ipc:///path. TCP_NODELAY is set, as libzmq does. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "clocks.h"

static void fail(const char *what) { perror(what); exit(1); }

static void read_exactly(int fd, void *buffer, size_t count) {
    char *bytes = buffer;
    while (count > 0) {
        ssize_t n = read(fd, bytes, count);
        if (n <= 0) { if (n < 0 && errno == EINTR) continue; fail("read"); }
        bytes += n;
        count -= (size_t) n;
    }
}

static void write_exactly(int fd, const void *buffer, size_t count) {
    const char *bytes = buffer;
    while (count > 0) {
        ssize_t n = write(fd, bytes, count);
        if (n < 0) { if (errno == EINTR) continue; fail("write"); }
        bytes += n;
        count -= (size_t) n;
    }
}

static void no_delay(int fd, int family) {
    int one = 1;
    if (family == AF_INET) setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

/* Binds EP, prints its ENDPOINT line, accepts one connection. */
static int accept_one(const char *endpoint) {
    int listener, family;
    if (strncmp(endpoint, "tcp://", 6) == 0) {
        const char *port = strrchr(endpoint, ':') + 1;
        struct sockaddr_in address = { .sin_family = AF_INET, .sin_port = htons(*port == '*' ? 0 : atoi(port)) };
        inet_pton(AF_INET, "127.0.0.1", &address.sin_addr);
        family = AF_INET;
        listener = socket(AF_INET, SOCK_STREAM, 0);
        int one = 1;
        setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        if (bind(listener, (struct sockaddr *) &address, sizeof address) != 0) fail("bind");
        socklen_t length = sizeof address;
        getsockname(listener, (struct sockaddr *) &address, &length);
        printf("ENDPOINT tcp://127.0.0.1:%d\n", ntohs(address.sin_port));
    } else {
        struct sockaddr_un address = { .sun_family = AF_UNIX };
        strncpy(address.sun_path, endpoint + 6, sizeof address.sun_path - 1);
        unlink(address.sun_path);
        family = AF_UNIX;
        listener = socket(AF_UNIX, SOCK_STREAM, 0);
        if (bind(listener, (struct sockaddr *) &address, sizeof address) != 0) fail("bind");
        printf("ENDPOINT %s\n", endpoint);
    }
    fflush(stdout);
    if (listen(listener, 1) != 0) fail("listen");
    int fd = accept(listener, NULL, NULL);
    if (fd < 0) fail("accept");
    close(listener);
    no_delay(fd, family);
    return fd;
}

static int connect_to(const char *endpoint) {
    int fd;
    if (strncmp(endpoint, "tcp://", 6) == 0) {
        struct sockaddr_in address = { .sin_family = AF_INET, .sin_port = htons(atoi(strrchr(endpoint, ':') + 1)) };
        inet_pton(AF_INET, "127.0.0.1", &address.sin_addr);
        fd = socket(AF_INET, SOCK_STREAM, 0);
        if (connect(fd, (struct sockaddr *) &address, sizeof address) != 0) fail("connect");
        no_delay(fd, AF_INET);
    } else {
        struct sockaddr_un address = { .sun_family = AF_UNIX };
        strncpy(address.sun_path, endpoint + 6, sizeof address.sun_path - 1);
        fd = socket(AF_UNIX, SOCK_STREAM, 0);
        if (connect(fd, (struct sockaddr *) &address, sizeof address) != 0) fail("connect");
    }
    return fd;
}

/* ZMTP 3.0 with NULL (RFC 23): the 64-octet greeting, then a READY command naming the socket
 * type; the peer's greeting and READY are read and only checked for their command name. */
static void handshake(int fd, const char *socket_type) {
    unsigned char greeting[64] = { 0xFF, 0, 0, 0, 0, 0, 0, 0, 1, 0x7F, 3, 0, 'N', 'U', 'L', 'L' };
    write_exactly(fd, greeting, sizeof greeting);
    unsigned char ready[64];
    size_t type_length = strlen(socket_type);
    size_t body = 6 + 1 + 11 + 4 + type_length;
    ready[0] = 0x04;
    ready[1] = (unsigned char) body;
    memcpy(ready + 2, "\5READY\13Socket-Type\0\0\0", 22);
    ready[23] = (unsigned char) type_length;
    memcpy(ready + 24, socket_type, type_length);
    write_exactly(fd, ready, 2 + body);

    unsigned char peer[64];
    read_exactly(fd, peer, 64);
    if (peer[0] != 0xFF || peer[9] != 0x7F) { fprintf(stderr, "not a ZMTP peer\n"); exit(1); }
    unsigned char head[9];
    read_exactly(fd, head, 2);
    uint64_t size = head[1];
    if (head[0] & 0x02) {
        read_exactly(fd, head + 2, 7);
        size = 0;
        for (int i = 1; i < 9; i++) size = size << 8 | head[i];
    }
    if (!(head[0] & 0x04) || size > 4096) { fprintf(stderr, "expected a READY command\n"); exit(1); }
    unsigned char command[4096];
    read_exactly(fd, command, size);
    if (size < 6 || memcmp(command, "\5READY", 6) != 0) { fprintf(stderr, "expected READY\n"); exit(1); }
}

#define CLOCK_EVERY 256
#define READ_BUFFER (4 << 20)

/* Counts whole messages from the first to the last (or to 2 s of silence), reading the clock
 * every CLOCK_EVERY messages as bench.c's receiver does. */
static void drain(int fd, long count) {
    static unsigned char buffer[READ_BUFFER];
    double start_cpu = cpu_ns(), start = 0, last = 0;
    long received = 0, timed = 0;
    /* Parser state: octets of the current frame's body still to skip, and a header cut by a read. */
    uint64_t skip = 0;
    unsigned char header[9];
    size_t header_have = 0, header_need = 2;
    int more = 0;
    struct pollfd waiting = { fd, POLLIN, 0 };
    while (received < count) {
        if (received > 0 && poll(&waiting, 1, 2000) == 0) break;
        ssize_t n = read(fd, buffer, sizeof buffer);
        if (n <= 0) break;
        size_t at = 0;
        while (at < (size_t) n) {
            if (skip > 0) {
                size_t take = (size_t) n - at < skip ? (size_t) n - at : (size_t) skip;
                at += take;
                skip -= take;
                if (skip > 0) break;
            } else {
                header[header_have++] = buffer[at++];
                if (header_have == 1) header_need = (header[0] & 0x02) ? 9 : 2;
                if (header_have < header_need) continue;
                uint64_t size = header[1];
                if (header_need == 9) { size = 0; for (int i = 1; i < 9; i++) size = size << 8 | header[i]; }
                more = header[0] & 0x01;
                header_have = 0;
                skip = size;
            }
            if (skip == 0 && header_have == 0 && !more) {
                received++;
                if (received == 1) start = now_ns();
                if (received % CLOCK_EVERY == 0 || received == count) { last = now_ns(); timed = received; }
            }
        }
    }
    double rate = timed > 1 ? (timed - 1) / ((last - start) / 1e9) : 0;
    printf("RESULT %f %f %ld\n", rate, (cpu_ns() - start_cpu) / (received > 1 ? received - 1 : 1), received);
}

static void blast(int fd, long count, size_t size) {
    double start_cpu = cpu_ns();
    if (size <= 255) {
        /* Whole frames back to back, as many as fit in 256 KiB, written again and again. */
        size_t frame = 2 + size, per_batch = (256 << 10) / frame;
        unsigned char *batch = malloc(per_batch * frame);
        for (size_t i = 0; i < per_batch; i++) {
            batch[i * frame] = 0;
            batch[i * frame + 1] = (unsigned char) size;
            memset(batch + i * frame + 2, 0x5A, size);
        }
        for (long sent = 0; sent < count;) {
            long now = count - sent < (long) per_batch ? count - sent : (long) per_batch;
            write_exactly(fd, batch, (size_t) now * frame);
            sent += now;
        }
    } else {
        unsigned char header[9] = { 0x02 };
        for (int i = 0; i < 8; i++) header[8 - i] = (unsigned char) ((uint64_t) size >> (8 * i));
        char *body = malloc(size);
        memset(body, 0x5A, size);
        for (long i = 0; i < count; i++) {
            struct iovec parts[2] = { { header, 9 }, { body, size } };
            size_t left = 9 + size;
            int first = 0;
            while (left > 0) {
                ssize_t n = writev(fd, parts + first, 2 - first);
                if (n < 0) { if (errno == EINTR) continue; fail("writev"); }
                left -= (size_t) n;
                while (first < 2 && (size_t) n >= parts[first].iov_len) { n -= (ssize_t) parts[first].iov_len; first++; }
                if (first < 2) { parts[first].iov_base = (char *) parts[first].iov_base + n; parts[first].iov_len -= (size_t) n; }
            }
        }
    }
    /* Wait for the peer to close, so every octet is read before this process goes. */
    shutdown(fd, SHUT_WR);
    char ignored[256];
    while (read(fd, ignored, sizeof ignored) > 0) {}
    printf("RESULT 0 %f %ld\n", (cpu_ns() - start_cpu) / count, count);
}

static int by_value(const void *a, const void *b) {
    double x = *(const double *) a, y = *(const double *) b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv) {
    if (argc < 5) { fprintf(stderr, "usage: see the comment at the top of bounds.c\n"); return 2; }
    const char *mode = argv[1], *endpoint = argv[2];
    long count = atol(argv[3]);
    size_t size = (size_t) atol(argv[4]);
    if (strcmp(mode, "recv") == 0) {
        int fd = accept_one(endpoint);
        handshake(fd, "PULL");
        drain(fd, count);
        close(fd);
    } else if (strcmp(mode, "send") == 0) {
        int fd = connect_to(endpoint);
        handshake(fd, "PUSH");
        blast(fd, count, size);
        close(fd);
    } else if (strcmp(mode, "lat-server") == 0) {
        int fd = accept_one(endpoint);
        char *block = malloc(size);
        for (long i = 0; i < count; i++) {
            read_exactly(fd, block, size);
            write_exactly(fd, block, size);
        }
        close(fd);
    } else if (strcmp(mode, "lat-client") == 0) {
        int fd = connect_to(endpoint);
        char *block = calloc(1, size);
        double *one_way = malloc(sizeof(double) * (size_t) count);
        for (long i = 0; i < count; i++) {
            double start = now_ns();
            write_exactly(fd, block, size);
            read_exactly(fd, block, size);
            one_way[i] = (now_ns() - start) / 2e3;
        }
        qsort(one_way, (size_t) count, sizeof(double), by_value);
        printf("RESULT %f %f\n", one_way[count / 2], one_way[count * 99 / 100]);
        close(fd);
    } else {
        fprintf(stderr, "unknown mode %s\n", mode);
        return 2;
    }
    return 0;
}
