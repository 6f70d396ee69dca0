/* Majordomo (18/MDP 0.2) on libzmq, for the Majordomo benchmark rows: a broker to set beside
 * swift-zmq's MajordomoBroker, and the echo workers and client both brokers are measured with.
 *   broker EP               ROUTER binds EP, prints "ENDPOINT e", brokers until killed
 *   worker EP SERVICE       DEALER: READY, echoes each request's body, heartbeats every second
 *   client EP SERVICE COUNT WINDOW SIZE
 *                           DEALER: COUNT requests of SIZE octets, WINDOW of them outstanding
 *                           (replies are not matched: the broker's order is theirs); RESULT round-trips/s
 * The broker is the Guide's design cut to what the benchmark needs: services by name, the worker
 * idle longest first, requests queued while none is, heartbeats to workers every 2.5 s; bodies of
 * one frame; no MMI, no expiry. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zmq.h>

#define MAX_SERVICES 16
#define MAX_WORKERS 256
#define MAX_QUEUED 4096
#define MAX_ID 256

#include "clocks.h"

typedef struct { unsigned char bytes[MAX_ID]; size_t size; } identity_t;
typedef struct { identity_t client; zmq_msg_t body; } request_t;
typedef struct {
    char name[256];
    identity_t idle[MAX_WORKERS];
    int idle_count;
    request_t queue[MAX_QUEUED];
    int head, count;
} service_t;
typedef struct { identity_t id; int service; } worker_t;

static service_t services[MAX_SERVICES];
static int service_count;
static worker_t workers[MAX_WORKERS];
static int worker_count;

static int receive_frames(void *socket, zmq_msg_t *frames, int capacity) {
    int count = 0;
    int more = 1;
    while (more) {
        zmq_msg_t frame;
        zmq_msg_init(&frame);
        if (zmq_msg_recv(&frame, socket, 0) < 0) { zmq_msg_close(&frame); return -1; }
        more = zmq_msg_more(&frame);
        if (count < capacity) frames[count++] = frame; else zmq_msg_close(&frame);
    }
    return count;
}

static void send_bytes(void *socket, const void *bytes, size_t size, int more) {
    zmq_send(socket, bytes, size, more ? ZMQ_SNDMORE : 0);
}

static int frame_is(zmq_msg_t *frame, const char *text) {
    return zmq_msg_size(frame) == strlen(text) && memcmp(zmq_msg_data(frame), text, strlen(text)) == 0;
}

static int service_named(zmq_msg_t *frame) {
    for (int i = 0; i < service_count; i++)
        if (frame_is(frame, services[i].name)) return i;
    if (service_count == MAX_SERVICES || zmq_msg_size(frame) > 255) return -1;
    service_t *service = &services[service_count];
    memset(service, 0, sizeof *service);
    memcpy(service->name, zmq_msg_data(frame), zmq_msg_size(frame) < 255 ? zmq_msg_size(frame) : 255);
    return service_count++;
}

static worker_t *worker_with(zmq_msg_t *id) {
    for (int i = 0; i < worker_count; i++)
        if (workers[i].id.size == zmq_msg_size(id) && memcmp(workers[i].id.bytes, zmq_msg_data(id), zmq_msg_size(id)) == 0)
            return &workers[i];
    return NULL;
}

static void copy_id(identity_t *to, zmq_msg_t *from) {
    to->size = zmq_msg_size(from) < MAX_ID ? zmq_msg_size(from) : MAX_ID;
    memcpy(to->bytes, zmq_msg_data(from), to->size);
}

/* Hands queued requests of a service to its idle workers, idle longest first. */
static void dispatch(void *router, int index) {
    service_t *service = &services[index];
    while (service->idle_count > 0 && service->count > 0) {
        identity_t worker = service->idle[0];
        memmove(service->idle, service->idle + 1, --service->idle_count * sizeof(identity_t));
        request_t *request = &service->queue[service->head];
        service->head = (service->head + 1) % MAX_QUEUED;
        service->count--;
        send_bytes(router, worker.bytes, worker.size, 1);
        send_bytes(router, "MDPW02", 6, 1);
        send_bytes(router, "\x02", 1, 1);
        send_bytes(router, request->client.bytes, request->client.size, 1);
        send_bytes(router, "", 0, 1);
        zmq_msg_send(&request->body, router, 0);
    }
}

static int broker(void *context, const char *endpoint) {
    void *router = zmq_socket(context, ZMQ_ROUTER);
    if (zmq_bind(router, endpoint) != 0) { perror("bind"); return 1; }
    char bound[256];
    size_t length = sizeof bound;
    zmq_getsockopt(router, ZMQ_LAST_ENDPOINT, bound, &length);
    printf("ENDPOINT %s\n", bound);
    fflush(stdout);
    double next_heartbeat = now_ns() + 2.5e9;
    zmq_msg_t frames[8];
    for (;;) {
        zmq_pollitem_t item = { router, 0, ZMQ_POLLIN, 0 };
        zmq_poll(&item, 1, 100);
        while (item.revents & ZMQ_POLLIN) {
            int count = receive_frames(router, frames, 8);
            if (count < 0) return 1;
            if (count >= 4 && frame_is(&frames[1], "MDPC02") && frame_is(&frames[2], "\x01") && count == 5) {
                int index = service_named(&frames[3]);
                service_t *service = index < 0 ? NULL : &services[index];
                if (service && service->count < MAX_QUEUED) {
                    request_t *request = &service->queue[(service->head + service->count++) % MAX_QUEUED];
                    copy_id(&request->client, &frames[0]);
                    zmq_msg_init(&request->body);
                    zmq_msg_move(&request->body, &frames[4]);
                    dispatch(router, index);
                }
            } else if (count >= 3 && frame_is(&frames[1], "MDPW02")) {
                worker_t *worker = worker_with(&frames[0]);
                unsigned char command = zmq_msg_size(&frames[2]) == 1 ? *(unsigned char *)zmq_msg_data(&frames[2]) : 0;
                int named = command == 1 && count == 4 ? service_named(&frames[3]) : -1;
                if (named >= 0 && !worker && worker_count < MAX_WORKERS) {
                    worker = &workers[worker_count++];
                    copy_id(&worker->id, &frames[0]);
                    worker->service = named;
                    service_t *service = &services[worker->service];
                    service->idle[service->idle_count++] = worker->id;
                    dispatch(router, worker->service);
                } else if (command == 4 && count == 6 && worker) {
                    service_t *service = &services[worker->service];
                    zmq_msg_send(&frames[3], router, ZMQ_SNDMORE);  /* the client */
                    send_bytes(router, "MDPC02", 6, 1);
                    send_bytes(router, "\x03", 1, 1);
                    send_bytes(router, service->name, strlen(service->name), 1);
                    zmq_msg_send(&frames[5], router, 0);
                    service->idle[service->idle_count++] = worker->id;
                    dispatch(router, worker->service);
                }
            }
            for (int i = 0; i < count; i++) zmq_msg_close(&frames[i]);
            zmq_poll(&item, 1, 0);
        }
        if (now_ns() >= next_heartbeat) {
            for (int i = 0; i < worker_count; i++) {
                send_bytes(router, workers[i].id.bytes, workers[i].id.size, 1);
                send_bytes(router, "MDPW02", 6, 1);
                send_bytes(router, "\x05", 1, 0);
            }
            next_heartbeat = now_ns() + 2.5e9;
        }
    }
}

static int worker(void *context, const char *endpoint, const char *name) {
    void *dealer = zmq_socket(context, ZMQ_DEALER);
    zmq_connect(dealer, endpoint);
    send_bytes(dealer, "MDPW02", 6, 1);
    send_bytes(dealer, "\x01", 1, 1);
    send_bytes(dealer, name, strlen(name), 0);
    double next_heartbeat = now_ns() + 1e9;
    zmq_msg_t frames[8];
    for (;;) {
        zmq_pollitem_t item = { dealer, 0, ZMQ_POLLIN, 0 };
        zmq_poll(&item, 1, 100);
        while (item.revents & ZMQ_POLLIN) {
            int count = receive_frames(dealer, frames, 8);
            if (count < 0) return 1;
            if (count == 5 && frame_is(&frames[1], "\x02")) {
                send_bytes(dealer, "MDPW02", 6, 1);
                send_bytes(dealer, "\x04", 1, 1);
                zmq_msg_send(&frames[2], dealer, ZMQ_SNDMORE);
                send_bytes(dealer, "", 0, 1);
                zmq_msg_send(&frames[4], dealer, 0);
            }
            for (int i = 0; i < count; i++) zmq_msg_close(&frames[i]);
            zmq_poll(&item, 1, 0);
        }
        if (now_ns() >= next_heartbeat) {
            send_bytes(dealer, "MDPW02", 6, 1);
            send_bytes(dealer, "\x05", 1, 0);
            next_heartbeat = now_ns() + 1e9;
        }
    }
}

static void send_request(void *dealer, const char *service, const char *body, size_t size) {
    send_bytes(dealer, "MDPC02", 6, 1);
    send_bytes(dealer, "\x01", 1, 1);
    send_bytes(dealer, service, strlen(service), 1);
    send_bytes(dealer, body, size, 0);
}

static int client(void *context, const char *endpoint, const char *service, long count, long window, size_t size) {
    void *dealer = zmq_socket(context, ZMQ_DEALER);
    zmq_connect(dealer, endpoint);
    char *body = malloc(size + 1);
    memset(body, 0x5A, size);
    /* One round trip first, so that connecting and the workers' READY are not timed. */
    send_request(dealer, service, body, size);
    zmq_msg_t frames[8];
    int got = receive_frames(dealer, frames, 8);
    for (int i = 0; i < got; i++) zmq_msg_close(&frames[i]);
    double start = now_ns();
    long sent = 0, received = 0;
    while (sent < window && sent < count) { send_request(dealer, service, body, size); sent++; }
    while (received < count) {
        int frames_count = receive_frames(dealer, frames, 8);
        if (frames_count < 0) return 1;
        if (frames_count != 4 || !frame_is(&frames[1], "\x03") || zmq_msg_size(&frames[3]) != size) {
            fprintf(stderr, "unexpected reply\n");
            return 1;
        }
        for (int i = 0; i < frames_count; i++) zmq_msg_close(&frames[i]);
        received++;
        if (sent < count) { send_request(dealer, service, body, size); sent++; }
    }
    printf("RESULT %f\n", count / ((now_ns() - start) / 1e9));
    zmq_close(dealer);
    return 0;
}

int main(int argc, char **argv) {
    void *context = zmq_ctx_new();
    if (argc == 3 && strcmp(argv[1], "broker") == 0) return broker(context, argv[2]);
    if (argc == 4 && strcmp(argv[1], "worker") == 0) return worker(context, argv[2], argv[3]);
    if (argc == 7 && strcmp(argv[1], "client") == 0)
        return client(context, argv[2], argv[3], atol(argv[4]), atol(argv[5]), (size_t)atol(argv[6]));
    fprintf(stderr, "usage: mdp broker EP | worker EP SERVICE | client EP SERVICE COUNT WINDOW SIZE\n");
    return 2;
}
