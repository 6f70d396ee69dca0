#!/usr/bin/env python3
"""A ZMTP 3.1 peer for the draft socket types, written from the RFCs (23/ZMTP, 37/ZMTP,
47/CLIENTSERVER, 48/RADIO-DISH, 49/SCATTERGATHER, 51/P2P, 52/CHANNEL), not from swift-zmq:
packaged libzmq is built without the draft API and aborts when a draft type speaks ZMTP.

NULL mechanism only. Each mode prints `ENDPOINT <endpoint>` once listening (bind modes), then
one JSON line with what it saw, and exits 0 only if everything it checked held.

  echo TYPE --bind|--connect EP --count N
        SERVER, PEER or CHANNEL answering (bind), or CLIENT, PEER or CHANNEL asking (connect):
        the asker sends "request i" and expects "echo:request i" back, N times
  gather --bind EP --count N       receive N one-frame messages (from a SCATTER)
  scatter --connect EP --count N   send N one-frame messages (to a GATHER)
  radio --bind EP                  wait for JOIN weather and JOIN news, send groups weather,
                                   news and one never joined; after LEAVE news, send news and
                                   then weather "end"
  dish --connect EP                JOIN weather and news; collect until one of each arrived
"""
import json
import socket
import struct
import sys
import tempfile
import os

MORE, LONG, COMMAND = 1, 2, 4


def report(ok, **fields):
    fields["ok"] = ok
    print(json.dumps(fields), flush=True)
    sys.exit(0 if ok else 1)


class Connection:
    """One ZMTP 3.1 connection with the NULL mechanism (23/ZMTP)."""

    def __init__(self, sock, socket_type, as_server):
        self.sock = sock
        self.sock.settimeout(20)
        self.socket_type = socket_type
        # Greeting: signature, version 3.1, mechanism NULL, as-server, filler.
        greeting = b"\xff" + b"\x00" * 8 + b"\x7f" + bytes([3, 1])
        greeting += b"NULL".ljust(20, b"\x00") + bytes([1 if as_server else 0]) + b"\x00" * 31
        self.sock.sendall(greeting)
        peer = self.read_exactly(64)
        if peer[0] != 0xFF or peer[9] != 0x7F or peer[10] != 3:
            report(False, error="bad greeting %r" % peer[:12])
        if peer[12:32].rstrip(b"\x00") != b"NULL":
            report(False, error="peer mechanism is not NULL")
        self.send_command("READY", self.property("Socket-Type", socket_type.encode()))
        kind, name, data = self.receive()
        if kind != "command" or name != "READY":
            report(False, error="expected READY, got %r" % ((kind, name),))
        self.peer_properties = self.parse_properties(data)

    @staticmethod
    def property(name, value):
        return bytes([len(name)]) + name.encode() + struct.pack(">I", len(value)) + value

    @staticmethod
    def parse_properties(data):
        properties, index = {}, 0
        while index < len(data):
            name_length = data[index]
            name = data[index + 1:index + 1 + name_length].decode()
            index += 1 + name_length
            (value_length,) = struct.unpack(">I", data[index:index + 4])
            properties[name] = data[index + 4:index + 4 + value_length]
            index += 4 + value_length
        return properties

    def read_exactly(self, count):
        data = b""
        while len(data) < count:
            chunk = self.sock.recv(count - len(data))
            if not chunk:
                raise EOFError("peer closed")
            data += chunk
        return data

    def write_frame(self, flags, body):
        if len(body) > 255:
            self.sock.sendall(bytes([flags | LONG]) + struct.pack(">Q", len(body)) + body)
        else:
            self.sock.sendall(bytes([flags, len(body)]) + body)

    def send_command(self, name, data=b""):
        self.write_frame(COMMAND, bytes([len(name)]) + name.encode() + data)

    def send(self, frames):
        for index, frame in enumerate(frames):
            self.write_frame(MORE if index < len(frames) - 1 else 0, frame)

    def read_frame(self):
        flags = self.read_exactly(1)[0]
        if flags & LONG:
            (size,) = struct.unpack(">Q", self.read_exactly(8))
        else:
            size = self.read_exactly(1)[0]
        return flags, self.read_exactly(size)

    def receive(self):
        """('command', name, data) or ('message', frames, None)."""
        frames = []
        while True:
            flags, body = self.read_frame()
            if flags & COMMAND:
                name_length = body[0]
                return "command", body[1:1 + name_length].decode(), body[1 + name_length:]
            frames.append(body)
            if not flags & MORE:
                return "message", frames, None

    def receive_message(self):
        while True:
            kind, frames, _ = self.receive()
            if kind == "message":
                return frames


def listen(endpoint):
    if endpoint.startswith("tcp://"):
        server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        server.bind(("127.0.0.1", 0))
        bound = "tcp://127.0.0.1:%d" % server.getsockname()[1]
    else:
        path = os.path.join(tempfile.mkdtemp(), "zmtp.sock")
        server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        server.bind(path)
        bound = "ipc://" + path
    server.listen(1)
    server.settimeout(20)
    print("ENDPOINT " + bound, flush=True)
    client, _ = server.accept()
    return client


def dial(endpoint):
    if endpoint.startswith("tcp://"):
        host, port = endpoint[len("tcp://"):].rsplit(":", 1)
        return socket.create_connection((host, int(port)), timeout=20)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.connect(endpoint[len("ipc://"):])
    return sock


def option(name, default=None):
    if name in sys.argv:
        return sys.argv[sys.argv.index(name) + 1]
    return default


PEERS = {"CLIENT": "SERVER", "SERVER": "CLIENT", "PEER": "PEER", "CHANNEL": "CHANNEL",
         "RADIO": "DISH", "DISH": "RADIO", "SCATTER": "GATHER", "GATHER": "SCATTER"}


def open_connection(socket_type):
    bind, connect = option("--bind"), option("--connect")
    sock = listen(bind) if bind else dial(connect)
    connection = Connection(sock, socket_type, as_server=False)
    theirs = connection.peer_properties.get("Socket-Type", b"").decode()
    if theirs != PEERS[socket_type]:
        report(False, error="a %s may not talk to a %s" % (socket_type, theirs))
    if "Identity" in connection.peer_properties and connection.peer_properties["Identity"]:
        report(False, error="draft types announce no Identity")
    return connection


def echo(socket_type):
    count = int(option("--count", "1"))
    connection = open_connection(socket_type)
    if option("--bind"):
        for _ in range(count):
            frames = connection.receive_message()
            if len(frames) != 1:
                report(False, error="a multipart message from a single-frame type: %r" % frames)
            connection.send([b"echo:" + frames[0]])
        report(True, answered=count)
    for index in range(count):
        request = b"request %d" % index
        connection.send([request])
        frames = connection.receive_message()
        if frames != [b"echo:" + request]:
            report(False, error="expected the echo, got %r" % frames)
    report(True, asked=count)


def gather():
    count = int(option("--count", "1"))
    connection = open_connection("GATHER")
    bodies = []
    for _ in range(count):
        frames = connection.receive_message()
        if len(frames) != 1:
            report(False, error="multipart from a SCATTER: %r" % frames)
        bodies.append(frames[0].decode())
    report(True, bodies=bodies)


def scatter():
    count = int(option("--count", "1"))
    connection = open_connection("SCATTER")
    for index in range(count):
        connection.send([b"task %d" % index])
    # Wait for the GATHER to close, so nothing is cut off.
    try:
        connection.receive()
    except (EOFError, OSError):
        pass
    report(True, sent=count)


def radio():
    connection = open_connection("RADIO")
    joined, commands = set(), []
    while joined != {b"weather", b"news"}:
        kind, name, data = connection.receive()
        if kind != "command" or name not in ("JOIN", "LEAVE"):
            report(False, error="expected JOIN, got %r" % ((kind, name),))
        commands.append("%s %s" % (name, data.decode()))
        if name == "JOIN":
            joined.add(data)
    # A group never joined, sent anyway: the DISH must filter it itself.
    connection.send([b"sports", b"goal"])
    connection.send([b"weather", b"sunny"])
    connection.send([b"news", b"elections"])
    kind, name, data = connection.receive()
    if (kind, name, data) != ("command", "LEAVE", b"news"):
        report(False, error="expected LEAVE news, got %r" % ((kind, name, data),))
    commands.append("LEAVE news")
    connection.send([b"news", b"left behind"])
    connection.send([b"weather", b"end"])
    try:
        connection.receive()
    except (EOFError, OSError):
        pass
    report(True, commands=commands)


def dish():
    connection = open_connection("DISH")
    for group in (b"weather", b"news"):
        connection.send_command("JOIN", group)
    seen = {}
    while len(seen) < 2:
        frames = connection.receive_message()
        if len(frames) != 2:
            report(False, error="a RADIO message is [group, body], got %r" % frames)
        group, body = frames[0].decode(), frames[1].decode()
        if group not in ("weather", "news"):
            report(False, error="the RADIO sent group %r, never joined" % group)
        seen[group] = body
    report(True, seen=seen)


if __name__ == "__main__":
    mode = sys.argv[1]
    if mode == "echo":
        echo(sys.argv[2])
    elif mode == "gather":
        gather()
    elif mode == "scatter":
        scatter()
    elif mode == "radio":
        radio()
    elif mode == "dish":
        dish()
    else:
        report(False, error="unknown mode " + mode)
