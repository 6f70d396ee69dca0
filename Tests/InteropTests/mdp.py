#!/usr/bin/env python3
"""Majordomo peers written from 7/MDP (0.1, rfc.zeromq.org/spec/7) and 18/MDP (0.2,
rfc.zeromq.org/spec/18), on pyzmq (libzmq), for the interop tests. Each prints
"ENDPOINT <endpoint>" once connected (the broker: once bound), and a JSON report when done.

  mdp.py client --connect EP --service S --count N [--version 0.1|0.2]
      0.1: a REQ socket, as 7/MDP says clients SHOULD use; 0.2: a DEALER, as 18/MDP says they
      MUST. Sends N requests [b"request %d"], checks each FINAL/REPLY names the service, and
      reports the replies (0.2: with the PARTIALs that came before each FINAL).
  mdp.py worker --connect EP --service S --count N [--version 0.1|0.2] [--partials K]
      A DEALER: READY, then answers N requests with [b"python", body...], after K PARTIALs (0.2);
      heartbeats every --heartbeat ms.
  mdp.py broker --bind EP [--heartbeat MS] [--liveness N] [--count N]
      One ROUTER for clients and workers of both versions, told apart by each message's header;
      answers each client in the version of its request (a 0.1 client gets only the FINAL, as
      a REPLY), each worker in the version of its READY. Queues requests per service until a
      worker is idle, then gives each to the worker idle longest; heartbeats workers every
      --heartbeat ms and forgets those silent for --liveness intervals (their request goes to
      another worker). Answers mmi.service (8/MMI) itself, and 501 for other mmi.* names.
      With --count, reports after forwarding N FINALs/REPLYs, or fails after --timeout seconds;
      without, runs until SIGTERM/SIGINT, then reports.
"""
import argparse
import json
import signal
import sys
import time

import zmq


def report(ok, **fields):
    fields["ok"] = ok
    print(json.dumps(fields), flush=True)
    sys.exit(0 if ok else 1)


def client(args):
    context = zmq.Context()
    v01 = args.version == "0.1"
    sock = context.socket(zmq.REQ if v01 else zmq.DEALER)
    sock.setsockopt(zmq.LINGER, 0)
    sock.setsockopt(zmq.RCVTIMEO, int(args.timeout * 1000))
    sock.connect(args.connect)
    print("ENDPOINT " + args.connect, flush=True)
    service = args.service.encode()
    replies = []
    for i in range(args.count):
        body = [b"request %d" % i]
        if v01:
            sock.send_multipart([b"MDPC01", service] + body)  # REQ adds the empty frame 0
        else:
            sock.send_multipart([b"MDPC02", b"\x01", service] + body)
        partials = []
        while True:
            try:
                frames = sock.recv_multipart()
            except zmq.Again:
                report(False, error="no reply to request %d" % i, replies=replies)
            if v01:
                if frames[:2] != [b"MDPC01", service]:
                    report(False, error="bad REPLY %r" % frames)
                replies.append([f.decode() for f in frames[2:]])
                break
            if frames[0] != b"MDPC02" or frames[2] != service or frames[1] not in (b"\x02", b"\x03"):
                report(False, error="bad reply %r" % frames)
            if frames[1] == b"\x02":
                partials.append([f.decode() for f in frames[3:]])
                continue
            replies.append({"partials": partials, "final": [f.decode() for f in frames[3:]]})
            break
    report(True, replies=replies)


def worker(args):
    context = zmq.Context()
    v01 = args.version == "0.1"
    head = [b"", b"MDPW01"] if v01 else [b"MDPW02"]
    codes = {"ready": 1, "request": 2, "partial": 3, "final": 3 if v01 else 4,
             "heartbeat": 4 if v01 else 5, "disconnect": 5 if v01 else 6}
    sock = context.socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, 0)
    sock.connect(args.connect)
    sock.send_multipart(head + [bytes([codes["ready"]]), args.service.encode()])
    print("ENDPOINT " + args.connect, flush=True)
    interval = args.heartbeat / 1000.0
    heartbeat_at = time.time() + interval
    served, heartbeats_heard = 0, 0
    deadline = time.time() + args.timeout
    while served < args.count:
        if time.time() > deadline:
            report(False, error="timed out", served=served)
        if sock.poll(int(interval * 1000), zmq.POLLIN):
            frames = sock.recv_multipart()
            if frames[:len(head)] != head:
                report(False, error="bad header %r" % frames)
            command, rest = frames[len(head)], frames[len(head) + 1:]
            if command == bytes([codes["heartbeat"]]):
                heartbeats_heard += 1
            elif command == bytes([codes["disconnect"]]):
                report(False, error="the broker said DISCONNECT", served=served)
            elif command == bytes([codes["request"]]):
                client, empty, body = rest[0], rest[1], rest[2:]
                if empty != b"":
                    report(False, error="no envelope delimiter in %r" % frames)
                for k in range(args.partials):
                    sock.send_multipart(head + [bytes([codes["partial"]]), client, b"", b"partial %d" % k])
                sock.send_multipart(head + [bytes([codes["final"]]), client, b"", b"python"] + body)
                served += 1
        if time.time() > heartbeat_at:
            heartbeat_at = time.time() + interval
            sock.send_multipart(head + [bytes([codes["heartbeat"]])])
    report(True, served=served, heartbeats_heard=heartbeats_heard)


# MDP/Worker headers and command codes by version (7/MDP has no PARTIAL, its REPLY is the final).
W_HEAD = {"0.1": [b"", b"MDPW01"], "0.2": [b"MDPW02"]}
W_CODES = {"0.1": {"ready": 1, "request": 2, "final": 3, "heartbeat": 4, "disconnect": 5},
           "0.2": {"ready": 1, "request": 2, "partial": 3, "final": 4, "heartbeat": 5, "disconnect": 6}}


class Stop(Exception):
    pass


def broker(args):
    context = zmq.Context()
    sock = context.socket(zmq.ROUTER)
    sock.setsockopt(zmq.LINGER, 2000)  # so the last replies get out when --count ends the run
    sock.bind(args.bind)
    print("ENDPOINT " + sock.getsockopt_string(zmq.LAST_ENDPOINT), flush=True)
    interval, liveness = args.heartbeat / 1000.0, args.liveness
    workers = {}  # identity -> {"version", "service", "expiry", "job"}; job is the request it serves
    waiting = {}  # service -> idle worker identities, idle longest first
    queues = {}   # service -> jobs (client, client version, service, body) no worker has yet
    workers_seen = []
    stats = {"forwarded": 0, "partials": 0, "partials_dropped": 0, "mmi": 0,
             "disconnects_sent": 0, "expired": 0}

    def to_client(client, version, service, final, body):
        if version == "0.1":
            sock.send_multipart([client, b"", b"MDPC01", service] + body)
        else:
            sock.send_multipart([client, b"MDPC02", b"\x03" if final else b"\x02", service] + body)

    def to_worker(identity, version, command, rest=()):
        code = bytes([W_CODES[version][command]])
        sock.send_multipart([identity] + W_HEAD[version] + [code] + list(rest))
        if command == "disconnect":
            stats["disconnects_sent"] += 1

    def dispatch(service):
        idle, queue = waiting.get(service, []), queues.get(service, [])
        while idle and queue:
            identity, job = idle.pop(0), queue.pop(0)
            worker = workers[identity]
            worker["job"] = job
            to_worker(identity, worker["version"], "request", [job[0], b""] + job[3])

    def forget(identity, disconnect=False):
        worker = workers.pop(identity, None)
        if worker is None:
            return
        if disconnect:
            to_worker(identity, worker["version"], "disconnect")
        service = worker["service"]
        if identity in waiting.get(service, []):
            waiting[service].remove(identity)
        if worker["job"]:  # workers are idempotent (7/MDP): another one may do it again
            queues.setdefault(service, []).insert(0, worker["job"])
            dispatch(service)

    def from_client(client, version, service, body):
        if service.startswith(b"mmi."):  # 8/MMI: the broker answers these itself
            stats["mmi"] += 1
            if service == b"mmi.service":
                name = body[0] if body else b""
                found = any(w["service"] == name for w in workers.values())
                body = [b"200" if found else b"404"]
            else:
                body = [b"501"]
            to_client(client, version, service, True, body)
            return
        queues.setdefault(service, []).append((client, version, service, body))
        dispatch(service)

    def from_worker(identity, version, command, rest):
        codes = W_CODES[version]
        if len(command) != 1 or command[0] not in codes.values():
            forget(identity)  # invalid: drop it and the peer
            return
        command = {code: name for name, code in codes.items()}[command[0]]
        worker = workers.get(identity)
        if command == "disconnect":
            forget(identity)  # and send it nothing more
        elif worker is None:
            if command != "ready":
                to_worker(identity, version, "disconnect")  # anything but READY before READY
            elif len(rest) != 1:
                pass  # a READY without exactly one service name: invalid, dropped
            elif rest[0].startswith(b"mmi."):
                to_worker(identity, version, "disconnect")  # 8/MMI: the broker owns mmi.*
            else:
                workers[identity] = {"version": version, "service": rest[0], "job": None,
                                     "expiry": time.time() + interval * liveness}
                workers_seen.append(rest[0].decode(errors="replace"))
                waiting.setdefault(rest[0], []).append(identity)
                dispatch(rest[0])
        elif worker["version"] != version:
            forget(identity)  # switched version mid-conversation: invalid
        elif command in ("partial", "final") and (len(rest) < 2 or rest[1] != b""):
            forget(identity)  # no client address and delimiter: invalid
        else:
            worker["expiry"] = time.time() + interval * liveness  # any command is a heartbeat
            job = worker["job"]
            if command == "heartbeat":
                pass
            elif command in ("partial", "final") and job and rest[0] == job[0]:
                client, client_version, service, _ = job
                if command == "final":
                    to_client(client, client_version, service, True, rest[2:])
                    stats["forwarded"] += 1
                    worker["job"] = None
                    waiting.setdefault(worker["service"], []).append(identity)
                    dispatch(worker["service"])
                elif client_version == "0.2":
                    to_client(client, client_version, service, False, rest[2:])
                    stats["partials"] += 1
                else:
                    stats["partials_dropped"] += 1  # a 0.1 client gets only the final REPLY
            else:
                forget(identity, disconnect=True)  # a second READY, or a reply nobody asked for

    def stop(signum, frame):
        raise Stop()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    heartbeat_at = time.time() + interval
    deadline = time.time() + args.timeout
    try:
        while args.count is None or stats["forwarded"] < args.count:
            if args.count is not None and time.time() > deadline:
                break
            if sock.poll(max(1, int((heartbeat_at - time.time()) * 1000)), zmq.POLLIN):
                frames = sock.recv_multipart()
                identity, msg = frames[0], frames[1:]
                version = "0.1" if msg[:1] == [b""] else "0.2"  # 0.1 starts with an empty frame
                if version == "0.1":
                    msg = msg[1:]
                head = msg[0] if msg else None
                if head == b"MDPC01" and version == "0.1" and len(msg) >= 2:
                    from_client(identity, version, msg[1], msg[2:])
                elif head == b"MDPC02" and version == "0.2" and len(msg) >= 3 and msg[1] == b"\x01":
                    from_client(identity, version, msg[2], msg[3:])
                elif head == W_HEAD[version][-1] and len(msg) >= 2:
                    from_worker(identity, version, msg[1], msg[2:])
                # anything else is invalid and dropped
            now = time.time()
            for identity in [i for i, w in workers.items() if w["expiry"] < now]:
                stats["expired"] += 1
                forget(identity)
            if now >= heartbeat_at:
                heartbeat_at = now + interval
                for identity, worker in list(workers.items()):
                    to_worker(identity, worker["version"], "heartbeat")
    except Stop:
        pass
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    sock.close()
    context.term()
    ok = args.count is None or stats["forwarded"] >= args.count
    if not ok:
        stats["error"] = "timed out"
    report(ok, workers_seen=workers_seen, **stats)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=["client", "worker", "broker"])
    parser.add_argument("--connect")
    parser.add_argument("--bind")
    parser.add_argument("--service")
    parser.add_argument("--count", type=int, help="default 1; the broker's: run until killed")
    parser.add_argument("--version", choices=["0.1", "0.2"], default="0.2")
    parser.add_argument("--partials", type=int, default=0)
    parser.add_argument("--heartbeat", type=int, default=2500, help="heartbeat interval in ms")
    parser.add_argument("--liveness", type=int, default=3, help="broker: heartbeats a worker may miss")
    parser.add_argument("--timeout", type=float, default=30.0)
    args = parser.parse_args()
    if args.mode == "broker":
        if not args.bind:
            parser.error("broker needs --bind")
    elif not (args.connect and args.service):
        parser.error("%s needs --connect and --service" % args.mode)
    elif args.count is None:
        args.count = 1
    {"client": client, "worker": worker, "broker": broker}[args.mode](args)


if __name__ == "__main__":
    main()
