#!/usr/bin/env python3
"""A libzmq peer (through pyzmq) for swift-zmq's interop tests.

Every mode prints `ENDPOINT <endpoint>` once its socket is bound or connected, then one JSON
line with the result, and exits 0 only if everything it checked held.

Message contents follow a pattern both sides compute: message i has the frame sizes of
shapes[i % len(shapes)] (`--shapes "0;1;255;1,2,3"`), and octet j of frame f is
(i + 7 * f + j) % 251. With `--sequence`, each message is one 8-octet big-endian counter that
must strictly increase (used across a restart, where messages in flight may be lost).
"""
import argparse
import json
import os
import socket
import struct
import sys
import time

TABLE = bytes(k % 251 for k in range(251 + (1 << 21)))


def frame_bytes(i, f, size):
    start = (i + 7 * f) % 251
    return TABLE[start:start + size]


def parse_shapes(text):
    return [[int(size) for size in shape.split(",")] for shape in text.split(";")]


def expected_message(i, shapes):
    shape = shapes[i % len(shapes)]
    return [frame_bytes(i, f, size) for f, size in enumerate(shape)]


def report(ok, **fields):
    fields["ok"] = ok
    print(json.dumps(fields), flush=True)
    sys.exit(0 if ok else 1)


AUTHENTICATORS = []


def terminate(context):
    """Ends the context; pyzmq's authenticator thread holds a socket in it, so it stops first
    (or the context would wait for that socket forever)."""
    while AUTHENTICATORS:
        AUTHENTICATORS.pop().stop()
    context.term()


def configure_curve(context, sock, args):
    """--curve-server SECRET_Z85 makes a CURVE server; --curve-allow KEY_Z85 (repeatable) has
    pyzmq's authenticator admit only those client keys. --curve-server-key KEY_Z85 makes a client,
    with --curve-secret SECRET_Z85 as its own key (a fresh pair without it)."""
    import zmq
    import zmq.auth
    if args.server_cert:
        public, secret = zmq.auth.load_certificate(args.server_cert)
        args.curve_server = secret.decode()
    if args.client_cert:
        public, secret = zmq.auth.load_certificate(args.client_cert)
        args.curve_secret = secret.decode()
        args.curve_server_key = zmq.auth.load_certificate(args.server_public_cert)[0].decode()
    if args.allow_dir:
        # pyzmq's authenticator reads the certificates itself (every *.key file in the directory).
        from zmq.auth.thread import ThreadAuthenticator
        authenticator = ThreadAuthenticator(context)
        authenticator.start()
        authenticator.configure_curve(domain="*", location=args.allow_dir)
        AUTHENTICATORS.append(authenticator)
    if args.curve_allow:
        from zmq.auth.thread import ThreadAuthenticator
        import tempfile
        directory = tempfile.mkdtemp()
        for index, key in enumerate(args.curve_allow):
            with open(os.path.join(directory, "client%d.key" % index), "w") as certificate:
                certificate.write('metadata\ncurve\n    public-key = "%s"\n' % key)
        authenticator = ThreadAuthenticator(context)
        authenticator.start()
        authenticator.configure_curve(domain="*", location=directory)
        AUTHENTICATORS.append(authenticator)
    if args.curve_server:
        sock.curve_secretkey = args.curve_server.encode()
        sock.curve_publickey = zmq.curve_public(args.curve_server.encode())
        sock.curve_server = True
    if args.curve_server_key:
        if args.curve_secret:
            secret = args.curve_secret.encode()
            public = zmq.curve_public(secret)
        else:
            public, secret = zmq.curve_keypair()
        sock.curve_publickey = public
        sock.curve_secretkey = secret
        sock.curve_serverkey = args.curve_server_key.encode()


def open_socket(args):
    import zmq
    context = zmq.Context()
    sock = context.socket(getattr(zmq, args.type.upper()))
    sock.setsockopt(zmq.LINGER, args.linger)
    sock.setsockopt(zmq.RCVTIMEO, int(args.timeout * 1000))
    sock.setsockopt(zmq.SNDTIMEO, int(args.timeout * 1000))
    sock.setsockopt(zmq.RCVHWM, 0 if args.sequence else 1000)
    if args.routing_id:
        sock.setsockopt(zmq.ROUTING_ID, args.routing_id.encode())
    if args.req_correlate:
        sock.setsockopt(zmq.REQ_CORRELATE, 1)
    if args.req_relaxed:
        sock.setsockopt(zmq.REQ_RELAXED, 1)
    if args.probe_router:
        sock.setsockopt(zmq.PROBE_ROUTER, 1)
    if args.plain_server:
        # pyzmq's own ZAP handler, on inproc://zeromq.zap.01, with one user=password pair.
        from zmq.auth.thread import ThreadAuthenticator
        user, password = args.plain_server.split("=", 1)
        authenticator = ThreadAuthenticator(context)
        authenticator.start()
        authenticator.configure_plain(domain="*", passwords={user: password})
        AUTHENTICATORS.append(authenticator)  # kept alive as long as the process
        sock.setsockopt(zmq.PLAIN_SERVER, 1)
    if args.plain_user is not None:
        sock.setsockopt(zmq.PLAIN_USERNAME, args.plain_user.encode())
        sock.setsockopt(zmq.PLAIN_PASSWORD, (args.plain_password or "").encode())
    configure_curve(context, sock, args)
    if args.heartbeat:
        sock.setsockopt(zmq.HEARTBEAT_IVL, args.heartbeat)
        sock.setsockopt(zmq.HEARTBEAT_TIMEOUT, args.heartbeat * 10)
    if args.bind:
        sock.bind(args.bind)
        endpoint = sock.getsockopt_string(zmq.LAST_ENDPOINT)
    else:
        sock.connect(args.connect)
        endpoint = args.connect
    print("ENDPOINT " + endpoint, flush=True)
    return context, sock


def mode_recv(args):
    import zmq
    context, sock = open_socket(args)
    shapes = parse_shapes(args.shapes)
    last = -1
    if args.gaps:
        # Counters that must rise strictly but may skip (what a dead connection took with it):
        # receives until counter count-1 and reports the ranges that never came.
        received, gaps = 0, []
        while last != args.count - 1:
            try:
                frames = sock.recv_multipart()
            except zmq.Again:
                report(False, error="timed out", received=received, last=last, gaps=gaps)
            value = struct.unpack(">Q", frames[0])[0]
            if value <= last:
                report(False, error="counter went from %d to %d" % (last, value))
            if value > last + 1:
                gaps.append([last + 1, value - 1])
            last, received = value, received + 1
        report(True, received=received, last=last, gaps=gaps)
    for i in range(args.count):
        try:
            frames = sock.recv_multipart()
        except zmq.Again:
            report(False, error="timed out", received=i)
        if args.sequence:
            if len(frames) != 1 or len(frames[0]) < 8:
                report(False, error="message %d does not start with an 8-octet counter" % i)
            value = struct.unpack(">Q", frames[0][:8])[0]
            if value <= last:
                report(False, error="counter went from %d to %d" % (last, value))
            last = value
            if i + 1 == args.progress:
                print("PROGRESS %d" % (i + 1), flush=True)
            continue
        expected = expected_message(i, shapes)
        if frames != expected:
            sizes = [len(frame) for frame in frames]
            report(False, error="message %d differs: sizes %s, expected %s" % (i, sizes, [len(e) for e in expected]))
    report(True, received=args.count, last=last)


def mode_auth_failure(args):
    """Waits for the socket's monitor to report a failed authentication and reports its status."""
    import zmq
    from zmq.utils.monitor import recv_monitor_message
    # The monitor is attached before connecting, so no event is missed.
    connect = args.connect
    context = zmq.Context()
    sock = context.socket(getattr(zmq, args.type.upper()))
    monitor = sock.get_monitor_socket()
    monitor.setsockopt(zmq.RCVTIMEO, int(args.timeout * 1000))
    if args.plain_user is not None:
        sock.setsockopt(zmq.PLAIN_USERNAME, args.plain_user.encode())
        sock.setsockopt(zmq.PLAIN_PASSWORD, (args.plain_password or "").encode())
    configure_curve(context, sock, args)
    sock.connect(connect)
    print("ENDPOINT " + connect, flush=True)
    while True:
        try:
            event = recv_monitor_message(monitor)
        except zmq.Again:
            report(False, error="no authentication failure reported")
        if event["event"] == zmq.EVENT_HANDSHAKE_FAILED_AUTH:
            report(True, status=event["value"])
        if event["event"] == zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL:
            report(True, protocol_error=event["value"])
        if event["event"] == zmq.EVENT_HANDSHAKE_SUCCEEDED:
            report(False, error="the handshake succeeded")


def mode_send(args):
    """Sends --count messages of the shape pattern, or with --sequence 8-octet counters from 0;
    --pace MS spreads them out (a steady stream to cut a link under)."""
    context, sock = open_socket(args)
    shapes = parse_shapes(args.shapes)
    for i in range(args.count):
        if args.sequence:
            sock.send(struct.pack(">Q", i))
        else:
            sock.send_multipart(expected_message(i, shapes))
        if args.pace:
            time.sleep(args.pace / 1000.0)
    sock.close()  # with linger -1 this waits until everything is written
    terminate(context)
    report(True, sent=args.count)


def mode_echo(args):
    import zmq
    context, sock = open_socket(args)
    for i in range(args.count):
        try:
            frames = sock.recv_multipart()
        except zmq.Again:
            report(False, error="timed out", echoed=i)
        sock.send_multipart(frames)
    sock.close()
    terminate(context)
    report(True, echoed=args.count)


def mode_request(args):
    """REQ, or DEALER with --routing-id: sends --count requests of the shape pattern and checks
    that each reply is the request echoed. A DEALER adds and expects the empty delimiter."""
    import zmq
    context, sock = open_socket(args)
    shapes = parse_shapes(args.shapes)
    dealer = args.type.upper() == "DEALER"
    for i in range(args.count):
        request = expected_message(i, shapes)
        sock.send_multipart(([b""] if dealer else []) + request)
        try:
            reply = sock.recv_multipart()
        except zmq.Again:
            report(False, error="no reply to request %d" % i)
        if dealer:
            if not reply or reply[0] != b"":
                report(False, error="reply %d lacks the delimiter: %r" % (i, reply[:2]))
            reply = reply[1:]
        if reply != request:
            report(False, error="reply %d differs from the request" % i)
    sock.close()
    terminate(context)
    report(True, requests=args.count)


def mode_router_echo(args):
    """ROUTER: sends every message back to the peer it came from, routing id included, and
    reports the routing ids it saw and the octet counts of the envelope frames between the
    routing id and the empty delimiter (a REQ_CORRELATE request id shows as [4])."""
    import zmq
    context, sock = open_socket(args)
    seen = set()
    envelopes = set()
    for i in range(args.count):
        try:
            frames = sock.recv_multipart()
        except zmq.Again:
            report(False, error="timed out", echoed=i)
        seen.add(frames[0].hex())
        if b"" in frames[1:]:
            envelopes.add(tuple(len(f) for f in frames[1:frames.index(b"", 1)]))
        sock.send_multipart(frames)
    sock.close()
    terminate(context)
    report(True, echoed=args.count, routing_ids=sorted(seen), envelopes=sorted(list(e) for e in envelopes))


def mode_subscriber(args):
    """SUB or XSUB: subscribes to --topic and checks that every message received starts with it.
    libzmq's XSUB does not filter what arrives, so with XSUB this checks the publisher's filter."""
    import zmq
    context, sock = open_socket(args)
    topic = args.topic.encode()
    if args.type.upper() == "SUB":
        sock.setsockopt(zmq.SUBSCRIBE, topic)
    else:
        sock.send(b"\x01" + topic)
    for i in range(args.count):
        try:
            frames = sock.recv_multipart()
        except zmq.Again:
            report(False, error="timed out", received=i)
        if not frames[0].startswith(topic):
            report(False, error="message %d does not match the subscription: %r" % (i, frames))
    sock.close()
    terminate(context)
    report(True, received=args.count)


def mode_publisher(args):
    """XPUB: waits for the subscription to --topic, then sends --count pairs of messages, one
    that does not match and one that does (topic + index)."""
    import zmq
    context, sock = open_socket(args)
    topic = args.topic.encode()
    try:
        subscription = sock.recv()
    except zmq.Again:
        report(False, error="no subscription arrived")
    if subscription != b"\x01" + topic:
        report(False, error="unexpected subscription %r" % subscription)
    print("SUBSCRIBED", flush=True)
    for i in range(args.count):
        sock.send(b"~" + topic + b"%d" % i)
        sock.send(topic + b"%d" % i)
    if args.expect_cancel:
        try:
            cancel = sock.recv()
        except zmq.Again:
            report(False, error="no cancel arrived")
        if cancel != b"\x00" + topic:
            report(False, error="unexpected cancel %r" % cancel)
    sock.close()
    terminate(context)
    report(True, sent=args.count, cancelled=args.expect_cancel)


def mode_make_certificates(args):
    """Writes a server and a client certificate pair with pyzmq's create_certificates into
    --dir, the client's public file also into --dir/clients (for an authenticator to read)."""
    import shutil
    import zmq.auth
    os.makedirs(os.path.join(args.dir, "clients"), exist_ok=True)
    server_public, server_secret = zmq.auth.create_certificates(args.dir, "server")
    client_public, client_secret = zmq.auth.create_certificates(args.dir, "client")
    shutil.copy(client_public, os.path.join(args.dir, "clients"))
    report(True, server=server_secret, client=client_secret)


def mode_matrix(args):
    """One side of a legal pair of socket types (--type, with --peer-type the other side's):
    --role speak sends first and checks each echo; --role answer echoes. Publishers publish
    numbered messages until --timeout (XPUB after the subscription arrives); subscribers
    subscribe to everything and check --count messages with increasing numbers. Messages follow
    the shape pattern, after the numbering frame for publish-subscribe."""
    import zmq
    context, sock = open_socket(args)
    me, peer = args.type.upper(), args.peer_type.upper()
    shapes = parse_shapes(args.shapes)
    count = args.count
    if me in ("PUB", "XPUB"):
        if me == "XPUB":
            try:
                subscription = sock.recv()
            except zmq.Again:
                report(False, error="no subscription arrived")
            if subscription != b"\x01":
                report(False, error="unexpected subscription %r" % subscription)
        deadline = time.time() + args.timeout
        number = 0
        while time.time() < deadline:
            sock.send_multipart([b"%08d" % number] + expected_message(number, shapes))
            number += 1
            time.sleep(0.001)
        report(True, published=number)
    if me in ("SUB", "XSUB"):
        if me == "SUB":
            sock.setsockopt(zmq.SUBSCRIBE, b"")
        else:
            sock.send(b"\x01")
        last = -1
        for i in range(count):
            try:
                frames = sock.recv_multipart()
            except zmq.Again:
                report(False, error="timed out", received=i)
            number = int(frames[0])
            if number <= last or frames[1:] != expected_message(number, shapes):
                report(False, error="message %d is out of order or differs" % number)
            last = number
        report(True, received=count)
    if me == "PUSH":
        for i in range(count):
            sock.send_multipart(expected_message(i, shapes))
        sock.close()
        terminate(context)
        report(True, sent=count)
    if me == "PULL":
        for i in range(count):
            try:
                frames = sock.recv_multipart()
            except zmq.Again:
                report(False, error="timed out", received=i)
            if frames != expected_message(i, shapes):
                report(False, error="message %d differs" % i)
        report(True, received=count)
    if args.role == "speak":
        envelope = {"DEALER": [b""] if peer == "REP" else [], "ROUTER": [b"R"]}.get(me, [])
        if me == "ROUTER":
            sock.setsockopt(zmq.ROUTER_MANDATORY, 1)
        for i in range(count):
            request = envelope + expected_message(i, shapes)
            while True:
                try:
                    sock.send_multipart(request)
                    break
                except zmq.ZMQError as error:
                    # A ROUTER learns its peer's name with the handshake; until then it is unknown.
                    if error.errno != zmq.EHOSTUNREACH:
                        raise
                    time.sleep(0.01)
            try:
                reply = sock.recv_multipart()
            except zmq.Again:
                report(False, error="no echo of message %d" % i)
            if reply != request:
                report(False, error="echo %d differs" % i)
        sock.close()
        terminate(context)
        report(True, exchanged=count)
    for i in range(count):
        try:
            frames = sock.recv_multipart()
        except zmq.Again:
            report(False, error="timed out", echoed=i)
        sock.send_multipart(frames)
    sock.close()
    terminate(context)
    report(True, echoed=count)


def mode_refused(args):
    """Connects or binds, and waits for the connection to close without a handshake."""
    import zmq
    from zmq.utils.monitor import recv_monitor_message
    context = zmq.Context()
    sock = context.socket(getattr(zmq, args.type.upper()))
    monitor = sock.get_monitor_socket()
    monitor.setsockopt(zmq.RCVTIMEO, int(args.timeout * 1000))
    if args.bind:
        sock.bind(args.bind)
        endpoint = sock.getsockopt_string(zmq.LAST_ENDPOINT)
    else:
        sock.connect(args.connect)
        endpoint = args.connect
    print("ENDPOINT " + endpoint, flush=True)
    connected = False
    while True:
        try:
            event = recv_monitor_message(monitor)
        except zmq.Again:
            report(False, error="the connection never closed", connected=connected)
        if event["event"] in (zmq.EVENT_ACCEPTED, zmq.EVENT_CONNECTED):
            connected = True
        if event["event"] == zmq.EVENT_HANDSHAKE_SUCCEEDED:
            report(False, error="the handshake succeeded")
        if event["event"] == zmq.EVENT_DISCONNECTED:
            report(connected, closed=True)


# --- Hand-written ZMTP peers on a raw TCP socket ------------------------------------------------

def greeting(minor):
    return b"\xff" + b"\x00" * 8 + b"\x7f" + bytes([3, minor]) + b"NULL" + b"\x00" * 16 + b"\x00" + b"\x00" * 31


def command(name, data=b""):
    body = bytes([len(name)]) + name + data
    return frame(body, command=True)


def frame(body, more=False, command=False):
    flags = (1 if more else 0) | (4 if command else 0)
    if len(body) > 255:
        return bytes([flags | 2]) + struct.pack(">Q", len(body)) + body
    return bytes([flags, len(body)]) + body


def ready(socket_type):
    value = socket_type.encode()
    return command(b"READY", bytes([11]) + b"Socket-Type" + struct.pack(">I", len(value)) + value)


def read_exactly(conn, count):
    data = b""
    while len(data) < count:
        chunk = conn.recv(count - len(data))
        if not chunk:
            return None
        data += chunk
    return data


def read_frame(conn):
    head = read_exactly(conn, 2)
    if head is None:
        return None
    flags = head[0]
    if flags & 2:
        rest = read_exactly(conn, 7)
        size = struct.unpack(">Q", head[1:] + rest)[0]
    else:
        size = head[1]
    return flags, read_exactly(conn, size)


def dial(address):
    host, port = address.rsplit(":", 1)
    conn = socket.create_connection((host, int(port)), timeout=10)
    return conn


def mode_zmtp30(args):
    """A ZMTP 3.0 peer: announces minor version 0, exchanges READY and one message each way."""
    conn = dial(args.connect)
    conn.sendall(greeting(0) + ready(args.type.upper()))
    theirs = read_exactly(conn, 64)
    if theirs is None or theirs[0] != 0xFF or theirs[9] != 0x7F or theirs[10] != 3:
        report(False, error="bad greeting %r" % theirs)
    flags, body = read_frame(conn)
    if not flags & 4 or not body.startswith(b"\x05READY"):
        report(False, error="expected READY, got %r" % body)
    peer_type = body[body.index(b"Socket-Type") + 15:].decode()
    conn.sendall(frame(b"hello from 3.0", more=True) + frame(b"second frame"))
    got = read_frame(conn)
    if got is None:
        report(False, error="connection closed before a message arrived")
    flags, body = got
    report(True, peer_minor=theirs[11], socket_type=peer_type, message=body.decode())


def mode_silent(args):
    """Completes the handshake, then never answers: the other side must time it out."""
    conn = dial(args.connect)
    conn.settimeout(args.timeout)
    conn.sendall(greeting(1) + ready(args.type.upper()))
    if read_exactly(conn, 64) is None:
        report(False, error="no greeting")
    pings = 0
    started = time.monotonic()
    while True:
        try:
            got = read_frame(conn)
        except socket.timeout:
            report(False, error="still connected after %.1f s" % args.timeout, pings=pings)
        if got is None:
            report(pings > 0, pings=pings, closed_after=round(time.monotonic() - started, 3))
        flags, body = got
        if flags & 4 and body.startswith(b"\x04PING"):
            pings += 1


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=["recv", "send", "echo", "zmtp30", "silent", "subscriber", "publisher",
                                         "request", "router-echo", "auth-failure", "matrix", "refused", "make-certificates"])
    parser.add_argument("--type", default="PULL")
    parser.add_argument("--bind")
    parser.add_argument("--connect")
    parser.add_argument("--count", type=int, default=1)
    parser.add_argument("--shapes", default="1")
    parser.add_argument("--sequence", action="store_true")
    parser.add_argument("--gaps", action="store_true", help="recv: counters may skip; report the gaps")
    parser.add_argument("--progress", type=int, default=0)
    parser.add_argument("--linger", type=int, default=-1)
    parser.add_argument("--timeout", type=float, default=30.0)
    parser.add_argument("--topic", default="A")
    parser.add_argument("--routing-id")
    parser.add_argument("--req-correlate", action="store_true")
    parser.add_argument("--req-relaxed", action="store_true")
    parser.add_argument("--probe-router", action="store_true")
    parser.add_argument("--peer-type", help="matrix: the other side's socket type")
    parser.add_argument("--role", choices=["speak", "answer"], default="answer")
    parser.add_argument("--plain-server", help="USER=PASSWORD: a PLAIN server admitting that user")
    parser.add_argument("--plain-user")
    parser.add_argument("--plain-password")
    parser.add_argument("--curve-server", help="the server's secret key, Z85")
    parser.add_argument("--curve-allow", action="append", default=[], help="a client public key to admit, Z85")
    parser.add_argument("--curve-server-key", help="a client's server public key, Z85")
    parser.add_argument("--curve-secret", help="a client's own secret key, Z85")
    parser.add_argument("--heartbeat", type=int, default=0, help="heartbeat interval in ms")
    parser.add_argument("--server-cert", help="a CURVE server with the keys of this certificate file")
    parser.add_argument("--client-cert", help="a CURVE client with the keys of this certificate file")
    parser.add_argument("--server-public-cert", help="with --client-cert: the server's public certificate file")
    parser.add_argument("--allow-dir", help="pyzmq's authenticator admits the certificates in this directory")
    parser.add_argument("--expect-cancel", action="store_true", help="publisher: wait for the subscriber's cancel")
    parser.add_argument("--dir", help="make-certificates: where to write them")
    parser.add_argument("--pace", type=float, default=0.0, help="send: milliseconds between messages")
    args = parser.parse_args()
    modes = {"recv": mode_recv, "send": mode_send, "echo": mode_echo, "zmtp30": mode_zmtp30,
             "silent": mode_silent, "subscriber": mode_subscriber, "publisher": mode_publisher,
             "request": mode_request, "router-echo": mode_router_echo, "auth-failure": mode_auth_failure,
             "matrix": mode_matrix, "refused": mode_refused, "make-certificates": mode_make_certificates}
    modes[args.mode](args)


if __name__ == "__main__":
    main()
