#!/usr/bin/env python3
"""Binary Star peers written from the ZeroMQ Guide, chapter 4 (the bstar finite-state machine of
bstar.c and the bstarcli client), on pyzmq (libzmq), for the interop tests: a server (primary or
backup) and a client. Each prints "ENDPOINT <endpoint>" for its sockets first, in the order given
below, then progress lines, and a one-line JSON report {"ok": ...} when it is done. Exit status:
0 ok, 1 failure (including --timeout), 3 fatal split brain.

  bstar.py server (--primary|--backup) --frontend EP --state-bind EP --state-connect EP
                  [--heartbeat MS] [--timeout S]
      ROUTER bound at --frontend, PUB bound at --state-bind, SUB (everything) connected to
      --state-connect. Prints, in order: "ENDPOINT <frontend>", "ENDPOINT <state-bind>",
      "ENDPOINT <state-connect>", then "STATE PRIMARY" or "STATE BACKUP".
      Publishes its state every heartbeat (default 1000 ms) as one frame, the state number in
      decimal ASCII (PRIMARY 1, BACKUP 2, ACTIVE 3, PASSIVE 4). A state message from the peer is
      an event (PEER_PRIMARY 1 .. PEER_PASSIVE 4) and sets the peer's expiry to now + 2
      heartbeats; one that is not a single frame b"1".."4" is ignored (expiry untouched) and
      "BAD <count>" printed. Each frontend message is a CLIENT_REQUEST event; if the machine
      accepts it the message comes back with a last frame b"python" added (a REQ client sees
      [body..., b"python"]), otherwise it is dropped and "REFUSED <count>" printed.
      Each change of state prints "STATE <NAME>" (PRIMARY, BACKUP, ACTIVE, PASSIVE).
      Dual actives / dual passives print "FATAL dual actives" / "FATAL dual passives", the JSON
      report (ok false) and exit 3. SIGTERM or SIGINT: JSON report (ok true), exit 0. After
      --timeout seconds (default 30): JSON report (ok false, "timed out"), exit 1.
      Report fields: ok, role, state, served, refused, bad (and error when not ok).

  bstar.py client --connect EP --connect EP [--count N] [--request-timeout MS] [--settle MS]
                  [--interval MS] [--timeout S]
      REQ connected to the first --connect endpoint. Prints "ENDPOINT <ep>" once for each
      --connect endpoint, in the order given, before sending. Sends N (default 1) requests, each
      one frame: the decimal sequence number 1..N. A reply whose first frame is not the sequence
      number is counted as bad ("BAD <seq> <first frame>") and the client keeps waiting. A good
      reply prints "REPLY <seq> <last frame as text>". With no reply within --request-timeout
      (default 1000 ms): "FAILOVER <seq> <next endpoint>", the socket is closed, the client sleeps
      --settle (default 2000 ms), connects a new REQ to the next endpoint in turn and resends the
      same request. --interval (default 0 ms) is a pause after each reply (the Guide's client
      waits 1 s). Report fields: ok (every request answered), replies, failovers, bad, answered_by
      (endpoint -> number of replies).
"""
import argparse
import json
import signal
import sys
import time

import zmq

# States, and the events that are the peer's state (the Guide's numbering).
PRIMARY, BACKUP, ACTIVE, PASSIVE = 1, 2, 3, 4
PEER_PRIMARY, PEER_BACKUP, PEER_ACTIVE, PEER_PASSIVE, CLIENT_REQUEST = 1, 2, 3, 4, 5
NAMES = {PRIMARY: "PRIMARY", BACKUP: "BACKUP", ACTIVE: "ACTIVE", PASSIVE: "PASSIVE"}
VALID_STATE_MESSAGES = {b"1": 1, b"2": 2, b"3": 3, b"4": 4}

# Longest single wait, so a signal or the deadline is noticed promptly.
MAX_WAIT = 0.1


def say(line):
    print(line, flush=True)


def report(ok, code=None, **fields):
    fields["ok"] = ok
    say(json.dumps(fields))
    sys.exit(code if code is not None else (0 if ok else 1))


class Stopper:
    """Turns SIGTERM/SIGINT into a flag the poll loops check."""

    def __init__(self):
        self.stopped = False
        signal.signal(signal.SIGTERM, self._stop)
        signal.signal(signal.SIGINT, self._stop)

    def _stop(self, signum, frame):
        self.stopped = True


class Fatal(Exception):
    pass


class BinaryStar:
    """The Binary Star state machine. `apply` returns True when a client request may be served,
    False when it must be refused, and raises Fatal on split brain."""

    def __init__(self, primary, heartbeat):
        self.state = PRIMARY if primary else BACKUP
        self.heartbeat = heartbeat
        # The fail-back guard: as at the reactor's start, the peer counts as alive for two
        # heartbeats, so a (re)starting primary does not take clients away from an active backup
        # it has not heard yet.
        self.peer_expiry = time.monotonic() + 2 * heartbeat

    def peer_heard(self):
        self.peer_expiry = time.monotonic() + 2 * self.heartbeat

    def _become(self, state):
        if state != self.state:
            self.state = state
            say("STATE " + NAMES[state])

    def apply(self, event):
        peer_silent = time.monotonic() >= self.peer_expiry
        if self.state == PRIMARY:
            # Waiting for the backup; becomes active on a client request only once the backup has
            # been silent for two heartbeats.
            if event == PEER_BACKUP:
                self._become(ACTIVE)
            elif event == PEER_ACTIVE:
                self._become(PASSIVE)
            elif event == CLIENT_REQUEST:
                if not peer_silent:
                    return False
                self._become(ACTIVE)
        elif self.state == BACKUP:
            # Waiting for the primary; never serves clients from here.
            if event == PEER_ACTIVE:
                self._become(PASSIVE)
            elif event == CLIENT_REQUEST:
                return False
        elif self.state == ACTIVE:
            # Only death leaves ACTIVE.
            if event == PEER_ACTIVE:
                raise Fatal("dual actives")
        elif self.state == PASSIVE:
            if event in (PEER_PRIMARY, PEER_BACKUP):
                # The peer restarted and will go passive when it hears us.
                self._become(ACTIVE)
            elif event == PEER_PASSIVE:
                raise Fatal("dual passives")
            elif event == CLIENT_REQUEST:
                # The client vote: serve only if the peer has gone silent.
                if not peer_silent:
                    return False
                self._become(ACTIVE)
        return True


def server(args):
    if args.primary == args.backup:
        say("exactly one of --primary and --backup is required")
        sys.exit(2)
    heartbeat = args.heartbeat / 1000.0
    stopper = Stopper()
    context = zmq.Context()
    frontend = context.socket(zmq.ROUTER)
    statepub = context.socket(zmq.PUB)
    statesub = context.socket(zmq.SUB)
    for sock in (frontend, statepub, statesub):
        sock.setsockopt(zmq.LINGER, 0)
    statesub.setsockopt(zmq.SUBSCRIBE, b"")
    frontend.bind(args.frontend)
    say("ENDPOINT " + frontend.getsockopt_string(zmq.LAST_ENDPOINT))
    statepub.bind(args.state_bind)
    say("ENDPOINT " + statepub.getsockopt_string(zmq.LAST_ENDPOINT))
    statesub.connect(args.state_connect)
    say("ENDPOINT " + args.state_connect)

    fsm = BinaryStar(args.primary, heartbeat)
    say("STATE " + NAMES[fsm.state])
    role = "primary" if args.primary else "backup"
    served = refused = bad = 0

    def finish(ok, code=None, **extra):
        frontend.close()
        statepub.close()
        statesub.close()
        context.term()
        report(ok, code, role=role, state=NAMES[fsm.state], served=served, refused=refused,
               bad=bad, **extra)

    poller = zmq.Poller()
    poller.register(frontend, zmq.POLLIN)
    poller.register(statesub, zmq.POLLIN)
    deadline = time.monotonic() + args.timeout
    send_state_at = time.monotonic() + heartbeat
    try:
        while not stopper.stopped:
            now = time.monotonic()
            if now >= deadline:
                finish(False, error="timed out")
            wait = max(0.0, min(send_state_at - now, MAX_WAIT))
            ready = dict(poller.poll(int(wait * 1000)))
            if ready.get(statesub):
                frames = statesub.recv_multipart()
                event = VALID_STATE_MESSAGES.get(frames[0]) if len(frames) == 1 else None
                if event is None:
                    bad += 1
                    say("BAD %d" % bad)
                else:
                    fsm.peer_heard()
                    fsm.apply(event)
            if ready.get(frontend):
                frames = frontend.recv_multipart()
                if fsm.apply(CLIENT_REQUEST):
                    frontend.send_multipart(frames + [b"python"])
                    served += 1
                else:
                    refused += 1
                    say("REFUSED %d" % refused)
            if time.monotonic() >= send_state_at:
                statepub.send(b"%d" % fsm.state)
                send_state_at = time.monotonic() + heartbeat
    except Fatal as failure:
        say("FATAL %s" % failure)
        finish(False, 3, error=str(failure))
    finish(True)


def client(args):
    if len(args.connect) < 2:
        say("give --connect twice (primary, then backup)")
        sys.exit(2)
    stopper = Stopper()
    context = zmq.Context()
    for endpoint in args.connect:
        say("ENDPOINT " + endpoint)
    server_nbr = 0

    def open_socket():
        sock = context.socket(zmq.REQ)
        sock.setsockopt(zmq.LINGER, 0)
        sock.connect(args.connect[server_nbr])
        return sock

    sock = open_socket()
    replies = failovers = bad = 0
    answered_by = {}
    deadline = time.monotonic() + args.timeout

    def finish(ok, **extra):
        sock.close()
        context.term()
        report(ok, replies=replies, failovers=failovers, bad=bad, answered_by=answered_by,
               **extra)

    for sequence in range(1, args.count + 1):
        request = b"%d" % sequence
        sock.send(request)
        waiting_since = time.monotonic()
        while True:
            if stopper.stopped:
                finish(False, error="interrupted")
            if time.monotonic() >= deadline:
                finish(False, error="timed out", sequence=sequence)
            left = args.request_timeout / 1000.0 - (time.monotonic() - waiting_since)
            if left > 0:
                if not sock.poll(int(min(left, MAX_WAIT) * 1000) + 1, zmq.POLLIN):
                    continue
                frames = sock.recv_multipart()
                if frames[0] != request:
                    bad += 1
                    say("BAD %d %s" % (sequence, frames[0].decode(errors="replace")))
                    continue
                replies += 1
                endpoint = args.connect[server_nbr]
                answered_by[endpoint] = answered_by.get(endpoint, 0) + 1
                say("REPLY %d %s" % (sequence, frames[-1].decode(errors="replace")))
                break
            # No reply in time: the socket is confused; vote with the next server instead.
            failovers += 1
            sock.close()
            server_nbr = (server_nbr + 1) % len(args.connect)
            say("FAILOVER %d %s" % (sequence, args.connect[server_nbr]))
            settle_until = time.monotonic() + args.settle / 1000.0
            while time.monotonic() < settle_until:
                if stopper.stopped or time.monotonic() >= deadline:
                    break
                time.sleep(min(MAX_WAIT, max(0.0, settle_until - time.monotonic())))
            sock = open_socket()
            sock.send(request)
            waiting_since = time.monotonic()
        if args.interval and sequence < args.count:
            time.sleep(args.interval / 1000.0)
    finish(True)


def main():
    parser = argparse.ArgumentParser(description="Binary Star interop peers")
    commands = parser.add_subparsers(dest="mode", required=True)

    srv = commands.add_parser("server", help="a Binary Star server (echo service)")
    role = srv.add_mutually_exclusive_group(required=True)
    role.add_argument("--primary", action="store_true")
    role.add_argument("--backup", action="store_true")
    srv.add_argument("--frontend", required=True, help="endpoint to bind the client ROUTER at")
    srv.add_argument("--state-bind", required=True, help="endpoint to bind the state PUB at")
    srv.add_argument("--state-connect", required=True, help="the peer's state PUB endpoint")
    srv.add_argument("--heartbeat", type=int, default=1000, help="state interval in ms")
    srv.add_argument("--timeout", type=float, default=30.0, help="give up after S seconds")

    cli = commands.add_parser("client", help="the Guide's bstarcli: REQ with fail-over")
    cli.add_argument("--connect", action="append", required=True,
                     help="server frontend endpoint (give twice: primary, backup)")
    cli.add_argument("--count", type=int, default=1)
    cli.add_argument("--request-timeout", type=int, default=1000, help="ms")
    cli.add_argument("--settle", type=int, default=2000, help="ms before failing over")
    cli.add_argument("--interval", type=int, default=0, help="ms pause after each reply")
    cli.add_argument("--timeout", type=float, default=30.0, help="give up after S seconds")

    args = parser.parse_args()
    {"server": server, "client": client}[args.mode](args)


if __name__ == "__main__":
    main()
