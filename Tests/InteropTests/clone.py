#!/usr/bin/env python3
"""Clone peers written from 12/CHP, the Clustered Hashmap Protocol (rfc.zeromq.org/spec/12), on
pyzmq (libzmq), for the interop tests: a server and a client. Each prints progress lines and
finishes with a one-line JSON report {"ok": ..., "sequence": N, "map": {key: value}} (keys and
values as UTF-8 text, undecodable bytes replaced; the map in key order), plus "error" when not
ok. Exit status: 0 ok, 1 failure (including --timeout), 2 bad command line.

Every CHP command is five frames: key, sequence (8 bytes, network order), UUID (16 bytes or
empty), properties ("name=value\\n" ...), value. <key>, <value> and <subtree> below are printed
as UTF-8 text with undecodable bytes replaced.

  clone.py server --snapshot EP --publisher EP --collector EP [--heartbeat MS] [--timeout S]
      ROUTER bound at --snapshot, PUB bound at --publisher, SUB bound at --collector (subscribed
      to everything). Prints "READY" once all three are bound. Keeps a map key -> value and a
      sequence number that starts at 0.
      ICANHAZ? on the snapshot ROUTER ([identity] "ICANHAZ?", subtree): one KVSYNC per key that
      starts with the subtree, in key order (key, the sequence that last set the key, empty,
      empty, value), then KTHXBAI ("KTHXBAI", the current sequence, empty, empty, subtree), all
      prefixed with the identity. Prints "SNAPSHOT <subtree, or - when empty> <KVSYNC count>".
      KVSET on the collector: sequence += 1, then KVPUB (key, sequence, the same UUID, the same
      properties, value) on the publisher; an empty value deletes the key. Prints
      "SET <key> <sequence>". A "ttl" property (seconds, a finite number >= 0, may be
      fractional) makes the key expire that long after it was set: sequence += 1, KVPUB (key,
      sequence, empty, empty, empty), the key is deleted, "EXPIRED <key> <sequence>" printed.
      Setting the key again without ttl makes it permanent. Expiries are checked every 100 ms.
      Every --heartbeat ms (default 1000): HUGZ ("HUGZ", 8 zero bytes, empty, empty, empty) on
      the publisher.
      A malformed message on any socket is dropped and the map left alone; it prints one of
      "BAD icanhaz frames <n>" (not identity + 2 frames), "BAD command <frame>" (snapshot
      request that is not ICANHAZ?), "BAD kvset frames <n>", "BAD sequence size <n>",
      "BAD uuid size <n>", "BAD property <line>" (a properties line without "="),
      "BAD ttl <text>".
      SIGTERM/SIGINT: report ok true, exit 0. After --timeout seconds (default 60): report ok
      false, "error": "timed out", exit 1.

  clone.py client --snapshot EP --subscriber EP --publisher EP [--subtree S] [--set KEY=VALUE]...
                  [--ttl KEY=SECONDS]... [--until KEY=VALUE]... [--until-gone KEY]... [--timeout S]
      DEALER connected to --snapshot, SUB connected to --subscriber (the server's publisher), PUB
      connected to --publisher (the server's collector). The SUB subscribes to the subtree (to
      everything without --subtree) and to "HUGZ"; the client waits for the first message on it
      (an update or a HUGZ) before it sends ICANHAZ? with the subtree (empty without --subtree),
      so that no update between the snapshot and the subscription can be missed. It reads
      KVSYNC until KTHXBAI, whose sequence becomes the client's, and prints
      "SNAPSHOT <sequence> <number of keys>", then "KEY <key>=<value>" per key in key order.
      Then each --set KEY=VALUE, in order (an empty VALUE deletes), goes out as a KVSET (key,
      8 zero bytes, a fresh uuid4, "ttl=<SECONDS>\\n" if a --ttl names the key else empty,
      value), sent again with the same UUID every 500 ms until a KVPUB with that UUID comes
      back; only then the next. A key outside the subtree cannot come back and is sent once.
      Updates from the SUB (held back until the snapshot is complete) are applied when their
      sequence is strictly greater than the client's, which then becomes theirs; others, HUGZ
      and keys outside the subtree are ignored. Each applied one prints
      "UPDATE <key> <sequence> <value>" (a delete ends in "<sequence> ", the value empty).
      A malformed message is ignored and prints one of "BAD frames <n>",
      "BAD sequence size <n>", "BAD uuid size <n>", "BAD kthxbai subtree <subtree>" (not the
      one asked for; the client keeps waiting for the right KTHXBAI).
      Done when every --set has come back, every --until KEY=VALUE holds and every
      --until-gone KEY is absent (checked right after the snapshot and after each update):
      report ok true, exit 0. After --timeout seconds (default 30): report ok false,
      "error": "timed out", exit 1. SIGTERM/SIGINT: report ok false, "error": "stopped", exit 1.
"""
import argparse
import json
import math
import signal
import struct
import sys
import time
import uuid

import zmq

# Longest single wait, so a signal, the deadline or an expiry is noticed promptly.
MAX_WAIT = 0.1
# How often the client sends a KVSET again until it sees it published.
RESEND_INTERVAL = 0.5

ICANHAZ = b"ICANHAZ?"
KTHXBAI = b"KTHXBAI"
HUGZ = b"HUGZ"


def say(line):
    print(line, flush=True)


def text(data):
    return data.decode("utf-8", errors="replace")


def report(ok, sequence, kvmap, **extra):
    fields = {"ok": ok, "sequence": sequence,
              "map": {text(key): text(kvmap[key]) for key in sorted(kvmap)}}
    fields.update(extra)
    say(json.dumps(fields))
    sys.exit(0 if ok else 1)


def pack_sequence(number):
    return struct.pack(">Q", number)


def unpack_sequence(frame):
    return struct.unpack(">Q", frame)[0]


class Stopper:
    """Turns SIGTERM/SIGINT into a flag the poll loops check."""

    def __init__(self):
        self.stopped = False
        signal.signal(signal.SIGTERM, self._stop)
        signal.signal(signal.SIGINT, self._stop)
        # A parent may start us with these blocked (a test runner's threads do): unblock them.
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM, signal.SIGINT})

    def _stop(self, signum, frame):
        self.stopped = True


class Entry:
    """What the server keeps per key. `sequence` is that of the update that last set the key; it
    goes out in KVSYNC (the RFC says the KVSYNC sequence has no significance)."""

    def __init__(self, value, properties, uuid_frame, sequence):
        self.value = value
        self.properties = properties
        self.uuid = uuid_frame
        self.sequence = sequence


class Malformed(Exception):
    """A message to drop; the text is what follows "BAD "."""


def check_update(frames, what):
    """Checks the five-frame shape shared by KVSET and KVPUB; returns the sequence."""
    if len(frames) != 5:
        raise Malformed("%s %d" % (what, len(frames)))
    if len(frames[1]) != 8:
        raise Malformed("sequence size %d" % len(frames[1]))
    if len(frames[2]) not in (0, 16):
        raise Malformed("uuid size %d" % len(frames[2]))
    return unpack_sequence(frames[1])


def parse_properties(frame):
    """ "name=value\\n"... -> dict of bytes. A last line without its newline is accepted."""
    properties = {}
    for line in frame.split(b"\n"):
        if not line:
            continue
        name, sep, value = line.partition(b"=")
        if not sep:
            raise Malformed("property %s" % text(line))
        properties[name] = value
    return properties


def parse_ttl(value):
    try:
        seconds = float(value.decode("ascii"))
    except (UnicodeDecodeError, ValueError):
        raise Malformed("ttl %s" % text(value))
    # float() also takes "nan" and "inf", which are no time to live.
    if not math.isfinite(seconds) or seconds < 0:
        raise Malformed("ttl %s" % text(value))
    return seconds


def server(args):
    stopper = Stopper()
    context = zmq.Context()
    snapshot = context.socket(zmq.ROUTER)
    publisher = context.socket(zmq.PUB)
    collector = context.socket(zmq.SUB)
    for sock in (snapshot, publisher, collector):
        sock.setsockopt(zmq.LINGER, 0)
    # CHP has no way to repair a lost KVSYNC or KVPUB, so never drop one at the high-water mark
    # (a ROUTER and a PUB drop silently there).
    snapshot.setsockopt(zmq.SNDHWM, 0)
    publisher.setsockopt(zmq.SNDHWM, 0)
    collector.setsockopt(zmq.RCVHWM, 0)
    collector.setsockopt(zmq.SUBSCRIBE, b"")
    snapshot.bind(args.snapshot)
    publisher.bind(args.publisher)
    collector.bind(args.collector)
    say("READY")

    heartbeat = args.heartbeat / 1000.0
    sequence = 0
    # key -> Entry. Ephemeral keys also have their expiry time in `expires`.
    entries = {}
    expires = {}

    def store(key, value, props, uuid_frame, seq, ttl):
        if value:
            entries[key] = Entry(value, props, uuid_frame, seq)
        else:
            entries.pop(key, None)
        if value and ttl is not None:
            expires[key] = time.monotonic() + ttl
        else:
            expires.pop(key, None)

    def on_snapshot(frames):
        if len(frames) != 3:
            raise Malformed("icanhaz frames %d" % len(frames))
        identity, command, subtree = frames
        if command != ICANHAZ:
            raise Malformed("command %s" % text(command))
        sent = 0
        for key in sorted(entries):
            if key.startswith(subtree):
                entry = entries[key]
                snapshot.send_multipart(
                    [identity, key, pack_sequence(entry.sequence), b"", b"", entry.value])
                sent += 1
        # The current sequence, not just the highest one among the KVSYNCs sent: everything up
        # to it is in the snapshot, so the client can drop every queued KVPUB at or below it.
        snapshot.send_multipart([identity, KTHXBAI, pack_sequence(sequence), b"", b"", subtree])
        say("SNAPSHOT %s %d" % (text(subtree) if subtree else "-", sent))

    def on_collector(frames):
        nonlocal sequence
        check_update(frames, "kvset frames")
        key, _, uuid_frame, props_frame, value = frames
        props = parse_properties(props_frame)
        ttl = parse_ttl(props[b"ttl"]) if b"ttl" in props else None
        sequence += 1
        publisher.send_multipart([key, pack_sequence(sequence), uuid_frame, props_frame, value])
        store(key, value, props, uuid_frame, sequence, ttl)
        say("SET %s %d" % (text(key), sequence))

    def expire():
        nonlocal sequence
        now = time.monotonic()
        due = sorted((at, key) for key, at in expires.items() if at <= now)
        for _, key in due:
            sequence += 1
            publisher.send_multipart([key, pack_sequence(sequence), b"", b"", b""])
            store(key, b"", {}, b"", sequence, None)
            say("EXPIRED %s %d" % (text(key), sequence))

    def finish(ok, **extra):
        for sock in (snapshot, publisher, collector):
            sock.close()
        context.term()
        report(ok, sequence, {key: entry.value for key, entry in entries.items()}, **extra)

    poller = zmq.Poller()
    poller.register(snapshot, zmq.POLLIN)
    poller.register(collector, zmq.POLLIN)
    deadline = time.monotonic() + args.timeout
    hugz_at = time.monotonic() + heartbeat
    while not stopper.stopped:
        now = time.monotonic()
        if now >= deadline:
            finish(False, error="timed out")
        wait = max(0.0, min(hugz_at - now, MAX_WAIT))
        ready = dict(poller.poll(int(wait * 1000)))
        for sock, handler in ((snapshot, on_snapshot), (collector, on_collector)):
            if ready.get(sock):
                try:
                    handler(sock.recv_multipart())
                except Malformed as bad:
                    say("BAD %s" % bad)
        expire()
        if time.monotonic() >= hugz_at:
            publisher.send_multipart([HUGZ, pack_sequence(0), b"", b"", b""])
            hugz_at = time.monotonic() + heartbeat
    finish(True)


def split_pair(option, pair):
    key, sep, value = pair.partition("=")
    if not sep or not key:
        say("%s wants KEY=VALUE, got %r" % (option, pair))
        sys.exit(2)
    return key.encode(), value.encode()


def client(args):
    subtree = (args.subtree or "").encode()
    sets = [split_pair("--set", pair) for pair in args.set]
    ttls = dict(split_pair("--ttl", pair) for pair in args.ttl)
    untils = [split_pair("--until", pair) for pair in args.until]
    gones = [key.encode() for key in args.until_gone]

    stopper = Stopper()
    context = zmq.Context()
    dealer = context.socket(zmq.DEALER)
    subscriber = context.socket(zmq.SUB)
    publisher = context.socket(zmq.PUB)
    for sock in (dealer, subscriber):
        sock.setsockopt(zmq.LINGER, 0)
    # A KVSET sent once (key outside the subtree) may be the last thing done before exit; give
    # it a moment to leave.
    publisher.setsockopt(zmq.LINGER, 1000)
    # Updates pile up on the SUB while the snapshot is read; none may be dropped.
    subscriber.setsockopt(zmq.RCVHWM, 0)
    dealer.setsockopt(zmq.RCVHWM, 0)
    subscriber.setsockopt(zmq.SUBSCRIBE, subtree)
    subscriber.setsockopt(zmq.SUBSCRIBE, HUGZ)
    # Connect the PUB first: the longer it has, the likelier the first KVSET gets through.
    publisher.connect(args.publisher)
    subscriber.connect(args.subscriber)
    dealer.connect(args.snapshot)

    sequence = 0
    kvmap = {}
    deadline = time.monotonic() + args.timeout

    def finish(ok, **extra):
        for sock in (dealer, subscriber, publisher):
            sock.close()
        context.term()
        report(ok, sequence, kvmap, **extra)

    def wait_for(sock):
        """Polls until sock is readable, leaving on a signal or at the deadline."""
        while not sock.poll(int(MAX_WAIT * 1000), zmq.POLLIN):
            if stopper.stopped:
                finish(False, error="stopped")
            if time.monotonic() >= deadline:
                finish(False, error="timed out")

    # The first message on the SUB proves the subscription is in place, so every update after
    # the snapshot will reach us. It is kept and handled with the rest after the snapshot (its
    # sequence cannot be above the snapshot's, so it will be dropped there).
    wait_for(subscriber)
    held = [subscriber.recv_multipart()]

    dealer.send_multipart([ICANHAZ, subtree])
    while True:
        wait_for(dealer)
        frames = dealer.recv_multipart()
        try:
            seq = check_update(frames, "frames")
            if frames[0] == KTHXBAI:
                if frames[4] != subtree:
                    raise Malformed("kthxbai subtree %s" % text(frames[4]))
                sequence = seq
                break
            # The RFC shows frames 2 and 3 of a KVSYNC empty; the Guide's server fills them in.
            # Neither matters to a client, so they are not checked.
            if frames[4]:
                kvmap[frames[0]] = frames[4]
        except Malformed as bad:
            say("BAD %s" % bad)
    say("SNAPSHOT %d %d" % (sequence, len(kvmap)))
    for key in sorted(kvmap):
        say("KEY %s=%s" % (text(key), text(kvmap[key])))

    pending = list(sets)
    awaiting = None  # the KVSET frames sent and not yet seen back (frame 2 is its UUID)
    resend_at = 0.0
    returned = set()  # UUIDs of the KVPUBs seen

    def sets_back():
        return not pending and (awaiting is None or awaiting[2] in returned)

    def done():
        return (sets_back()
                and all(kvmap.get(key) == value for key, value in untils)
                and all(key not in kvmap for key in gones))

    def on_update(frames):
        nonlocal sequence
        seq = check_update(frames, "frames")
        key, _, uuid_frame, _, value = frames
        if key == HUGZ:
            return
        # A "HUGZ" subscription also lets through keys starting with HUGZ outside the subtree.
        if not key.startswith(subtree):
            return
        if uuid_frame:
            returned.add(uuid_frame)
        if seq <= sequence:
            return
        sequence = seq
        if value:
            kvmap[key] = value
        else:
            kvmap.pop(key, None)
        say("UPDATE %s %d %s" % (text(key), seq, text(value)))

    def handle(frames):
        try:
            on_update(frames)
        except Malformed as bad:
            say("BAD %s" % bad)

    if done():
        finish(True)
    for frames in held:
        handle(frames)
        if done():
            finish(True)

    while True:
        if stopper.stopped:
            finish(False, error="stopped")
        now = time.monotonic()
        if now >= deadline:
            finish(False, error="timed out")
        # Move on to the next --set once the one sent is back (or cannot come back).
        if awaiting is not None and awaiting[2] in returned:
            awaiting = None
        while awaiting is None and pending:
            key, value = pending.pop(0)
            props = b"ttl=" + ttls[key] + b"\n" if key in ttls else b""
            frames = [key, pack_sequence(0), uuid.uuid4().bytes, props, value]
            publisher.send_multipart(frames)
            if key.startswith(subtree):
                awaiting = frames
                resend_at = now + RESEND_INTERVAL
        if awaiting is not None and now >= resend_at:
            # A PUB drops what it sends before its connection and the server's subscription are
            # up; the same UUID lets us recognise whichever copy comes back.
            publisher.send_multipart(awaiting)
            resend_at = now + RESEND_INTERVAL
        if done():
            finish(True)
        if subscriber.poll(int(MAX_WAIT * 1000), zmq.POLLIN):
            # Drain what is queued, checking after each update.
            while True:
                try:
                    frames = subscriber.recv_multipart(zmq.NOBLOCK)
                except zmq.Again:
                    break
                handle(frames)
                if done():
                    finish(True)


def main():
    parser = argparse.ArgumentParser(description="Clone (12/CHP) interop peers")
    commands = parser.add_subparsers(dest="mode", required=True)

    srv = commands.add_parser("server", help="a CHP server")
    srv.add_argument("--snapshot", required=True, help="endpoint to bind the snapshot ROUTER at")
    srv.add_argument("--publisher", required=True, help="endpoint to bind the update PUB at")
    srv.add_argument("--collector", required=True, help="endpoint to bind the collector SUB at")
    srv.add_argument("--heartbeat", type=int, default=1000, help="HUGZ interval in ms")
    srv.add_argument("--timeout", type=float, default=60.0, help="give up after S seconds")

    cli = commands.add_parser("client", help="a CHP client")
    cli.add_argument("--snapshot", required=True, help="the server's snapshot endpoint")
    cli.add_argument("--subscriber", required=True, help="the server's publisher endpoint")
    cli.add_argument("--publisher", required=True, help="the server's collector endpoint")
    cli.add_argument("--subtree", default=None, help="key prefix to follow (default: all)")
    cli.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    cli.add_argument("--ttl", action="append", default=[], metavar="KEY=SECONDS")
    cli.add_argument("--until", action="append", default=[], metavar="KEY=VALUE")
    cli.add_argument("--until-gone", action="append", default=[], metavar="KEY")
    cli.add_argument("--timeout", type=float, default=30.0, help="give up after S seconds")

    args = parser.parse_args()
    {"server": server, "client": client}[args.mode](args)


if __name__ == "__main__":
    main()
