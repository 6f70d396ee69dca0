#!/usr/bin/env python3
"""Paranoid Pirate peers written from 6/PPP (rfc.zeromq.org/spec/6), on pyzmq (libzmq), for the
interop tests: a worker and a queue. Each prints "ENDPOINT <endpoint>" for every socket it binds
or connects, and a JSON report when it is done.

  pirate.py worker --connect EP --count N [--heartbeat MS]
      DEALER; READY, then echoes each request with a last frame b"python" added; heartbeats
      every MS and expects the queue's; after 3 silent intervals dials again.
  pirate.py queue --count N [--heartbeat MS]
      ROUTER frontend and backend on tcp://127.0.0.1:*; sends each request to the least recently
      used ready worker, heartbeats workers, forgets one silent for 3 intervals; stops after N replies.
"""
import argparse
import collections
import json
import sys
import time

import zmq

READY = b"\x01"
HEARTBEAT = b"\x02"
LIVENESS = 3


def report(ok, **fields):
    fields["ok"] = ok
    print(json.dumps(fields), flush=True)
    sys.exit(0 if ok else 1)


def worker(args):
    interval = args.heartbeat / 1000.0
    context = zmq.Context()

    def connect():
        sock = context.socket(zmq.DEALER)
        sock.setsockopt(zmq.LINGER, 0)
        sock.connect(args.connect)
        sock.send(READY)
        return sock

    sock = connect()
    print("ENDPOINT " + args.connect, flush=True)
    liveness, reconnect = LIVENESS, interval
    heartbeat_at = time.time() + interval
    served, heartbeats_heard = 0, 0
    deadline = time.time() + args.timeout
    while served < args.count:
        if time.time() > deadline:
            report(False, error="timed out", served=served)
        if sock.poll(int(interval * 1000), zmq.POLLIN):
            frames = sock.recv_multipart()
            liveness, reconnect = LIVENESS, interval
            if frames == [HEARTBEAT]:
                heartbeats_heard += 1
            elif len(frames) > 1:
                sock.send_multipart(frames + [b"python"])
                served += 1
        else:
            liveness -= 1
            if liveness == 0:
                sock.close()
                time.sleep(reconnect)
                reconnect = min(reconnect * 2, 32 * interval)
                sock = connect()
                liveness = LIVENESS
        if time.time() > heartbeat_at:
            heartbeat_at = time.time() + interval
            sock.send(HEARTBEAT)
    report(True, served=served, heartbeats_heard=heartbeats_heard)


def queue(args):
    interval = args.heartbeat / 1000.0
    context = zmq.Context()
    frontend = context.socket(zmq.ROUTER)
    backend = context.socket(zmq.ROUTER)
    for sock in (frontend, backend):
        sock.setsockopt(zmq.LINGER, 0)
        sock.bind("tcp://127.0.0.1:*")
        print("ENDPOINT " + sock.getsockopt_string(zmq.LAST_ENDPOINT), flush=True)
    workers = collections.OrderedDict()  # address -> expiry, least recently used first
    heartbeat_at = time.time() + interval
    replies, heartbeats_heard, expired = 0, 0, 0
    deadline = time.time() + args.timeout
    poll_workers = zmq.Poller()
    poll_workers.register(backend, zmq.POLLIN)
    poll_both = zmq.Poller()
    poll_both.register(frontend, zmq.POLLIN)
    poll_both.register(backend, zmq.POLLIN)
    while replies < args.count:
        if time.time() > deadline:
            report(False, error="timed out", replies=replies)
        ready = dict((poll_both if workers else poll_workers).poll(int(interval * 1000)))
        if ready.get(backend) == zmq.POLLIN:
            frames = backend.recv_multipart()
            address, rest = frames[0], frames[1:]
            # Any message shows the worker is alive and (6/PPP) able to take work.
            workers.pop(address, None)
            workers[address] = time.time() + interval * LIVENESS
            if rest == [HEARTBEAT]:
                heartbeats_heard += 1
            elif rest != [READY]:
                frontend.send_multipart(rest)
                replies += 1
        if ready.get(frontend) == zmq.POLLIN and workers:
            frames = frontend.recv_multipart()
            address, _ = workers.popitem(last=False)
            backend.send_multipart([address] + frames)
        if time.time() >= heartbeat_at:
            for address in workers:
                backend.send_multipart([address, HEARTBEAT])
            heartbeat_at = time.time() + interval
        now = time.time()
        for address in [a for a, expiry in workers.items() if expiry < now]:
            del workers[address]
            expired += 1
    report(True, replies=replies, heartbeats_heard=heartbeats_heard, expired=expired)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=["worker", "queue"])
    parser.add_argument("--connect")
    parser.add_argument("--count", type=int, default=1)
    parser.add_argument("--heartbeat", type=int, default=1000, help="heartbeat interval in ms")
    parser.add_argument("--timeout", type=float, default=60.0)
    args = parser.parse_args()
    {"worker": worker, "queue": queue}[args.mode](args)


if __name__ == "__main__":
    main()
