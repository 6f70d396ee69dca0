#!/usr/bin/env python3
"""Freelance peers written from 10/FLP (rfc.zeromq.org/spec/10) and the ZeroMQ Guide, chapter 4
(models one to three), on pyzmq (libzmq), for the interop tests. Each prints "ENDPOINT <endpoint>"
for its sockets first, then progress lines, and a one-line JSON report {"ok": ...} when it is
done. Exit status 0 ok, 1 failure (including --timeout), 3 a malformed request to server2.
Frames are printed as text (UTF-8, undecodable bytes replaced) joined by "|".

Servers run until SIGTERM or SIGINT (JSON report, ok true, exit 0) or until --timeout seconds
(default 30; JSON report, ok false, exit 1). Report fields: ok, served (and pings, bad).

  freelance.py server1 --bind EP [--timeout S]
      Model one: REP echo. Prints "ENDPOINT <bound endpoint>".
  freelance.py server2 --bind EP [--timeout S]
      Model two: REP; a request [sequence, body...] is answered [sequence, b"OK"]. A request of
      fewer than two frames is fatal, as the Guide's server asserts: "FATAL malformed request",
      JSON report, exit 3. Prints "ENDPOINT <bound endpoint>".
  freelance.py server3 --bind EP [--name NAME] [--timeout S]
      Model three / FLP server: ROUTER whose routing id (identity) is NAME. Without --name it is
      the bind endpoint, with a wildcard port ("tcp://127.0.0.1:*") replaced by a free port and a
      wildcard host ("*", "0.0.0.0") by 127.0.0.1. Prints "ENDPOINT <bound endpoint>", then
      "NAME <identity>" (the string clients must connect with). Answers [b"PING"] with [b"PONG"]
      ("PING <count>" printed) and a request [control, body...] with [control, b"OK"]. Anything
      else (no frames, or one frame that is not PING) is ignored, "BAD <count>" printed.

Clients send --count N requests (default 1) numbered 1..N, print "REPLY <n> <frames>" for each
answer and "FAILED <n>" for each request given up on, and finish with a JSON report: ok (no
request failed), replies, failures, and the fields named below. They first print
"ENDPOINT <ep>" once for each --connect, in the order given. --timeout S (default 30) bounds the
whole run (then ok false, "timed out").

  freelance.py client1 --connect EP [--connect EP...] [--count N] [--timeout-ms MS]
                       [--retries R] [--body TEXT] [--timeout S]
      Model one: for each request a fresh REQ per attempt, [n, body] sent, --timeout-ms
      (default 1000) to answer. One endpoint: up to --retries (default 3) attempts; several:
      each endpoint at most once, in order. "TRY <n> <ep>" before each attempt. <frames> is the
      whole reply (server1: "n|body", server2: "n|OK"). Extra report field: answered_by.
  freelance.py client2 --connect EP [--connect EP...] [--count N] [--timeout-ms MS]
                       [--body TEXT] [--timeout S]
      Model two (shotgun): one DEALER connected to every endpoint; each request
      [b"", n, body] is sent once per endpoint; the first reply [b"", n, ...] wins, other
      replies are dropped (counted as "dropped"). --timeout-ms (default 2500) per request.
      <frames> is the reply after the empty delimiter ("n|OK"). Extra report field: dropped.
  freelance.py client3 --connect EP [--connect EP...] [--count N] [--ping-ms MS] [--ttl-ms MS]
                       [--timeout-ms MS] [--body TEXT] [--timeout S]
      Model three / FLP client (the Guide's flcliapi agent, in one thread): one ROUTER with no
      identity connected to every endpoint; the endpoint string is the server's routing id.
      Every server is sent [b"PING"] at once and then whenever it has been silent for --ping-ms
      (default 2000); a ping its not-yet-up connection cannot take is tried again 100 ms later.
      Any message from a server makes it alive ("ALIVE <ep>" the first time) until --ttl-ms
      (default 6000) of silence ("DEAD <ep>"). A request [n, body] goes to the first alive
      server in --connect order whose connection is up; if that server is declared dead
      before answering, the request is sent again to the first alive server then
      ("RETRY <n> <ep>"; it may be the same server, restarted). A request unanswered after
      --timeout-ms (default 3000) fails; late answers to it are dropped. <frames> is the whole
      reply including the server's routing id ("ep|n|OK"). Extra report fields: answered_by,
      pongs, retries, dropped.
"""
import argparse
import json
import signal
import sys
import time

import zmq

MAX_WAIT = 0.1  # longest single wait, so signals and deadlines are noticed promptly
PING, PONG, OK = b"PING", b"PONG", b"OK"


def say(line):
    print(line, flush=True)


def report(ok, code=None, **fields):
    fields["ok"] = ok
    say(json.dumps(fields))
    sys.exit(code if code is not None else (0 if ok else 1))


def text(frames):
    return "|".join(frame.decode(errors="replace") for frame in frames)


class Stopper:
    """Turns SIGTERM/SIGINT into a flag the poll loops check. Made before any socket, so a
    signal that comes as soon as the ENDPOINT lines are out is not missed."""

    def __init__(self):
        self.stopped = False
        signal.signal(signal.SIGTERM, self._stop)
        signal.signal(signal.SIGINT, self._stop)

    def _stop(self, signum, frame):
        self.stopped = True


STOPPER = None  # set by main()


# --- servers -------------------------------------------------------------------------------

def serve(args, sock, handle, counters):
    """Runs `handle(frames)` for each message until a signal (ok) or the deadline (failure)."""
    deadline = time.monotonic() + args.timeout
    while not STOPPER.stopped:
        if time.monotonic() >= deadline:
            sock.close()
            report(False, error="timed out", **counters)
        if sock.poll(int(MAX_WAIT * 1000), zmq.POLLIN):
            handle(sock.recv_multipart())
    sock.close()
    report(True, **counters)


def server1(args):
    context = zmq.Context()
    sock = context.socket(zmq.REP)
    sock.setsockopt(zmq.LINGER, 0)
    sock.bind(args.bind)
    say("ENDPOINT " + sock.getsockopt_string(zmq.LAST_ENDPOINT))
    counters = {"served": 0}

    def handle(frames):
        sock.send_multipart(frames)
        counters["served"] += 1

    serve(args, sock, handle, counters)


def server2(args):
    context = zmq.Context()
    sock = context.socket(zmq.REP)
    sock.setsockopt(zmq.LINGER, 0)
    sock.bind(args.bind)
    say("ENDPOINT " + sock.getsockopt_string(zmq.LAST_ENDPOINT))
    counters = {"served": 0}

    def handle(frames):
        if len(frames) < 2:
            say("FATAL malformed request")
            sock.close()
            report(False, 3, error="malformed request: " + text(frames), **counters)
        sock.send_multipart([frames[0], OK])
        counters["served"] += 1

    serve(args, sock, handle, counters)


def free_tcp_endpoint(context, endpoint):
    """Replaces a wildcard port by a port that is free now (the identity must be set before
    binding, so the port has to be known first)."""
    probe = context.socket(zmq.ROUTER)
    probe.setsockopt(zmq.LINGER, 0)
    probe.bind(endpoint)
    port = probe.getsockopt_string(zmq.LAST_ENDPOINT).rsplit(":", 1)[1]
    probe.close()
    return endpoint[: -len("*")] + port


def server3(args):
    context = zmq.Context()
    bind = args.bind
    if args.name is None and bind.startswith("tcp://") and bind.endswith(":*"):
        bind = free_tcp_endpoint(context, bind)
    name = args.name
    if name is None:
        name = bind
        if name.startswith("tcp://*:") or name.startswith("tcp://0.0.0.0:"):
            name = "tcp://127.0.0.1:" + name.rsplit(":", 1)[1]
    sock = context.socket(zmq.ROUTER)
    sock.setsockopt(zmq.LINGER, 0)
    sock.setsockopt(zmq.ROUTING_ID, name.encode())
    for attempt in range(50):  # the probed port may linger a moment in the kernel
        try:
            sock.bind(bind)
            break
        except zmq.ZMQError as error:
            if error.errno != zmq.EADDRINUSE or attempt == 49:
                raise
            time.sleep(0.02)
    say("ENDPOINT " + sock.getsockopt_string(zmq.LAST_ENDPOINT))
    say("NAME " + name)
    counters = {"served": 0, "pings": 0, "bad": 0}

    def handle(frames):
        client, rest = frames[0], frames[1:]
        if rest == [PING]:
            sock.send_multipart([client, PONG])
            counters["pings"] += 1
            say("PING %d" % counters["pings"])
        elif len(rest) >= 2:
            sock.send_multipart([client, rest[0], OK])
            counters["served"] += 1
        else:
            counters["bad"] += 1
            say("BAD %d" % counters["bad"])

    serve(args, sock, handle, counters)


# --- clients -------------------------------------------------------------------------------

class Run:
    """What every client shares: endpoints announced, a stop flag, the overall deadline."""

    def __init__(self, args):
        self.args = args
        self.deadline = time.monotonic() + args.timeout
        self.context = zmq.Context()
        self.replies = 0
        self.failures = 0
        for endpoint in args.connect:
            say("ENDPOINT " + endpoint)

    def check(self, **fields):
        if STOPPER.stopped:
            self.finish(False, error="interrupted", **fields)
        if time.monotonic() >= self.deadline:
            self.finish(False, error="timed out", **fields)

    def replied(self, n, frames):
        self.replies += 1
        say("REPLY %d %s" % (n, text(frames)))

    def failed(self, n):
        self.failures += 1
        say("FAILED %d" % n)

    def finish(self, ok, **fields):
        self.context.destroy(linger=0)
        report(ok and self.failures == 0, replies=self.replies, failures=self.failures, **fields)


def client1(args):
    run = Run(args)
    answered_by = {}
    body = args.body.encode()
    if len(args.connect) == 1:
        plan = args.connect * args.retries  # Lazy Pirate on one server
    else:
        plan = list(args.connect)  # each server once
    for n in range(1, args.count + 1):
        request = [b"%d" % n, body]
        for endpoint in plan:
            run.check(answered_by=answered_by)
            say("TRY %d %s" % (n, endpoint))
            sock = run.context.socket(zmq.REQ)
            sock.setsockopt(zmq.LINGER, 0)
            sock.connect(endpoint)
            sock.send_multipart(request)
            give_up = time.monotonic() + args.timeout_ms / 1000.0
            reply = None
            while reply is None and time.monotonic() < give_up:
                run.check(answered_by=answered_by)
                wait = min(MAX_WAIT, give_up - time.monotonic())
                if sock.poll(max(1, int(wait * 1000)), zmq.POLLIN):
                    reply = sock.recv_multipart()
            sock.close()
            if reply is not None:
                answered_by[endpoint] = answered_by.get(endpoint, 0) + 1
                run.replied(n, reply)
                break
        else:
            run.failed(n)
    run.finish(True, answered_by=answered_by)


def client2(args):
    run = Run(args)
    sock = run.context.socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, 0)
    for endpoint in args.connect:
        sock.connect(endpoint)
    body = args.body.encode()
    dropped = 0
    for n in range(1, args.count + 1):
        sequence = b"%d" % n
        for _ in args.connect:
            sock.send_multipart([b"", sequence, body])
        give_up = time.monotonic() + args.timeout_ms / 1000.0
        answered = False
        while not answered and time.monotonic() < give_up:
            run.check(dropped=dropped)
            wait = min(MAX_WAIT, give_up - time.monotonic())
            if not sock.poll(max(1, int(wait * 1000)), zmq.POLLIN):
                continue
            frames = sock.recv_multipart()
            if len(frames) >= 2 and frames[0] == b"" and frames[1] == sequence:
                run.replied(n, frames[1:])
                answered = True
            else:
                dropped += 1  # an answer to an earlier copy, or malformed
        if not answered:
            run.failed(n)
    # Late copies of the last answer may still arrive; they are not waited for.
    run.finish(True, dropped=dropped)


class Server:
    def __init__(self, endpoint, now, ttl):
        self.endpoint = endpoint
        self.identity = endpoint.encode()
        self.alive = False
        self.ping_at = now  # the first ping goes out at once
        self.expires = now + ttl


class Pending:
    def __init__(self, n, body, expires):
        self.sequence = b"%d" % n
        self.frames = [self.sequence, body]
        self.expires = expires
        self.server = None  # the server it was last sent to, while that one is alive
        self.sent = False


def client3(args):
    run = Run(args)
    ping, ttl = args.ping_ms / 1000.0, args.ttl_ms / 1000.0
    request_timeout = args.timeout_ms / 1000.0
    sock = run.context.socket(zmq.ROUTER)
    sock.setsockopt(zmq.LINGER, 0)
    # Sending to a server whose connection is not (yet) up fails at once instead of silently.
    sock.setsockopt(zmq.ROUTER_MANDATORY, 1)
    # A restarted server comes back under the same identity.
    sock.setsockopt(zmq.ROUTER_HANDOVER, 1)
    now = time.monotonic()
    servers = []
    for endpoint in args.connect:
        sock.connect(endpoint)
        servers.append(Server(endpoint, now, ttl))
    by_identity = {server.identity: server for server in servers}
    body = args.body.encode()
    answered_by = {}
    pongs = retries = dropped = 0

    def send(server, frames):
        try:
            sock.send_multipart([server.identity] + frames, zmq.NOBLOCK)
            return True
        except zmq.ZMQError as error:
            if error.errno in (zmq.EHOSTUNREACH, zmq.EAGAIN):
                return False
            raise

    n = 0
    pending = None  # the request in hand: Pending
    while True:
        fields = dict(answered_by=answered_by, pongs=pongs, retries=retries, dropped=dropped)
        run.check(**fields)
        now = time.monotonic()
        if pending is None:
            if n == args.count:
                break
            n += 1
            pending = Pending(n, body, now + request_timeout)

        for server in servers:
            if server.alive and now >= server.expires:
                server.alive = False
                say("DEAD " + server.endpoint)
                if pending.server is server:
                    pending.server = None  # its answer will not come: send it again

        if now >= pending.expires:
            run.failed(n)
            pending = None
            continue
        if pending.server is None:
            for server in servers:
                if server.alive and send(server, pending.frames):
                    if pending.sent:
                        retries += 1
                        say("RETRY %d %s" % (n, server.endpoint))
                    pending.server, pending.sent = server, True
                    break

        for server in servers:
            if now >= server.ping_at:
                if send(server, [PING]):
                    server.ping_at = now + ping
                else:  # not connected yet (or gone): try again soon
                    server.ping_at = now + min(ping, MAX_WAIT)

        next_event = min([pending.expires] + [s.ping_at for s in servers] +
                         [s.expires for s in servers if s.alive])
        wait = max(0.0, min(MAX_WAIT, next_event - time.monotonic()))
        if not sock.poll(max(1, int(wait * 1000)), zmq.POLLIN):
            continue
        frames = sock.recv_multipart()
        server = by_identity.get(frames[0])
        if server is None:
            dropped += 1
            continue
        now = time.monotonic()
        server.expires = now + ttl
        server.ping_at = now + ping
        if not server.alive:
            server.alive = True
            say("ALIVE " + server.endpoint)
        rest = frames[1:]
        if rest == [PONG]:
            pongs += 1
        elif pending is not None and rest and rest[0] == pending.sequence:
            answered_by[server.endpoint] = answered_by.get(server.endpoint, 0) + 1
            run.replied(n, frames)
            pending = None
        else:
            dropped += 1  # a late answer to an earlier request
    run.finish(True, answered_by=answered_by, pongs=pongs, retries=retries, dropped=dropped)


def main():
    parser = argparse.ArgumentParser(description="Freelance (10/FLP) interop peers")
    commands = parser.add_subparsers(dest="mode", required=True)

    def common(command, help_text, connect):
        sub = commands.add_parser(command, help=help_text)
        if connect:
            sub.add_argument("--connect", action="append", required=True, help="server endpoint")
            sub.add_argument("--count", type=int, default=1)
            sub.add_argument("--body", default="hello", help="request body frame")
        else:
            sub.add_argument("--bind", required=True)
        sub.add_argument("--timeout", type=float, default=30.0, help="give up after S seconds")
        return sub

    common("server1", "REP echo (model one)", False)
    common("server2", "REP answering [sequence, OK] (model two)", False)
    common("server3", "FLP ROUTER server (model three)", False).add_argument(
        "--name", help="routing id; default: the bind endpoint")
    c1 = common("client1", "REQ, one attempt per server (model one)", True)
    c1.add_argument("--timeout-ms", type=int, default=1000, help="per attempt")
    c1.add_argument("--retries", type=int, default=3, help="attempts when only one server")
    c2 = common("client2", "DEALER shotgun (model two)", True)
    c2.add_argument("--timeout-ms", type=int, default=2500, help="per request")
    c3 = common("client3", "FLP ROUTER agent (model three)", True)
    c3.add_argument("--ping-ms", type=int, default=2000, help="ping a silent server this often")
    c3.add_argument("--ttl-ms", type=int, default=6000, help="a server silent this long is dead")
    c3.add_argument("--timeout-ms", type=int, default=3000, help="per request")

    args = parser.parse_args()
    global STOPPER
    STOPPER = Stopper()
    {"server1": server1, "server2": server2, "server3": server3,
     "client1": client1, "client2": client2, "client3": client3}[args.mode](args)


if __name__ == "__main__":
    main()
