#!/usr/bin/env python3
"""A plain libzmq publisher and subscriber (pyzmq) for the last value cache's interop test. Each
prints "ENDPOINT <endpoint>" once its socket is bound or connected, then a one-line JSON report
{"ok": ...}; exit status 0 when ok.

  lvc_peer.py publish --bind EP --messages "TOPIC=BODY;..." [--timeout S]
      An XPUB (a PUB on the wire, which shows the first subscription arriving): once a
      subscriber has subscribed, sends each TOPIC=BODY as a two-frame message [TOPIC, BODY],
      prints "SENT", and waits for SIGTERM (report ok true) or the timeout (ok false).

  lvc_peer.py subscribe --connect EP --subscribe PREFIX [--count N] [--timeout S]
      A SUB subscribed to PREFIX: receives N messages (default 1), printing "RECEIVED TOPIC BODY"
      as each arrives, and reports them as "received": ["TOPIC BODY", ...]; ok false if the
      timeout (default 30 s) passes first.
"""
import argparse
import json
import signal
import sys

import zmq


def report(ok, **fields):
    fields["ok"] = ok
    print(json.dumps(fields), flush=True)
    sys.exit(0 if ok else 1)


def publish(args):
    context = zmq.Context()
    publisher = context.socket(zmq.XPUB)
    publisher.linger = 0
    publisher.bind(args.bind)
    print("ENDPOINT %s" % publisher.last_endpoint.decode(), flush=True)
    stopped = []
    signal.signal(signal.SIGTERM, lambda *_: stopped.append(True))
    # A parent may start us with SIGTERM blocked (a test runner's threads do): unblock it.
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM})
    if not publisher.poll(int(args.timeout * 1000)):
        report(False, error="no subscriber")
    publisher.recv()
    for item in args.messages.split(";"):
        topic, body = item.split("=", 1)
        publisher.send_multipart([topic.encode(), body.encode()])
    print("SENT", flush=True)
    waited = 0.0
    while not stopped and waited < args.timeout:
        publisher.poll(100)
        waited += 0.1
    report(bool(stopped))


def subscribe(args):
    context = zmq.Context()
    subscriber = context.socket(zmq.SUB)
    subscriber.linger = 0
    subscriber.setsockopt(zmq.SUBSCRIBE, args.subscribe.encode())
    subscriber.connect(args.connect)
    print("ENDPOINT %s" % args.connect, flush=True)
    received = []
    while len(received) < args.count:
        if not subscriber.poll(int(args.timeout * 1000)):
            report(False, error="timed out", received=received)
        received.append(" ".join(frame.decode() for frame in subscriber.recv_multipart()))
        print("RECEIVED %s" % received[-1], flush=True)
    report(True, received=received)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=["publish", "subscribe"])
    parser.add_argument("--bind")
    parser.add_argument("--connect")
    parser.add_argument("--messages", default="")
    parser.add_argument("--subscribe", default="")
    parser.add_argument("--count", type=int, default=1)
    parser.add_argument("--timeout", type=float, default=30.0)
    args = parser.parse_args()
    publish(args) if args.mode == "publish" else subscribe(args)


if __name__ == "__main__":
    main()
