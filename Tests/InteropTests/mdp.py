#!/usr/bin/env python3
"""Majordomo peers written from 7/MDP (0.1, rfc.zeromq.org/spec/7) and 18/MDP (0.2,
rfc.zeromq.org/spec/18), on pyzmq (libzmq), for the interop tests. Each prints
"ENDPOINT <endpoint>" once connected, and a JSON report when done.

  mdp.py client --connect EP --service S --count N [--version 0.1|0.2]
      0.1: a REQ socket, as 7/MDP says clients SHOULD use; 0.2: a DEALER, as 18/MDP says they
      MUST. Sends N requests [b"request %d"], checks each FINAL/REPLY names the service, and
      reports the replies (0.2: with the PARTIALs that came before each FINAL).
  mdp.py worker --connect EP --service S --count N [--version 0.1|0.2] [--partials K]
      A DEALER: READY, then answers N requests with [b"python", body...], after K PARTIALs (0.2);
      heartbeats every --heartbeat ms.
"""
import argparse
import json
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


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=["client", "worker"])
    parser.add_argument("--connect", required=True)
    parser.add_argument("--service", required=True)
    parser.add_argument("--count", type=int, default=1)
    parser.add_argument("--version", choices=["0.1", "0.2"], default="0.2")
    parser.add_argument("--partials", type=int, default=0)
    parser.add_argument("--heartbeat", type=int, default=2500, help="heartbeat interval in ms")
    parser.add_argument("--timeout", type=float, default=30.0)
    args = parser.parse_args()
    {"client": client, "worker": worker}[args.mode](args)


if __name__ == "__main__":
    main()
