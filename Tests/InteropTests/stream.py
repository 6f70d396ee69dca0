#!/usr/bin/env python3
"""Plain TCP and Unix-socket peers, and pyzmq STREAM peers, for swift-zmq's STREAM tests.

Each mode prints `ENDPOINT <endpoint>` once it is listening or connected (servers), then one JSON
line with what it saw, and exits 0 only if everything it checked held.

  http-client ADDRESS        a plain socket: sends an HTTP/1.0 GET, reads the reply to EOF
  echo-server tcp|ipc        a plain socket server: for one client, answers each line in
                             upper case; a line "bye" ends it, and the server closes
  stream-client ENDPOINT     pyzmq STREAM: connects, sends an HTTP/1.0 GET to its one peer,
                             collects the reply until the peer closes (the disconnect notice)
  stream-server tcp|ipc      pyzmq STREAM, bound: answers one request with an HTTP reply,
                             then closes the connection with a zero-length frame
ADDRESS is host:port or a Unix socket path.
"""
import json
import os
import socket
import sys
import tempfile

REQUEST = b"GET /hello HTTP/1.0\r\nHost: swift-zmq\r\n\r\n"
REPLY = b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nhello from STREAM\n"


def report(ok, **fields):
    fields["ok"] = ok
    print(json.dumps(fields), flush=True)
    sys.exit(0 if ok else 1)


def open_plain(address):
    if ":" in address and not address.startswith("/"):
        host, port = address.rsplit(":", 1)
        return socket.create_connection((host, int(port)), timeout=10)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(10)
    sock.connect(address)
    return sock


def http_client(address):
    sock = open_plain(address)
    sock.sendall(REQUEST)
    reply = b""
    while True:
        chunk = sock.recv(65536)
        if not chunk:
            break
        reply += chunk
    report(True, reply=reply.decode("latin-1"))


def echo_server(kind):
    if kind == "tcp":
        server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        server.bind(("127.0.0.1", 0))
        endpoint = "tcp://127.0.0.1:%d" % server.getsockname()[1]
    else:
        path = os.path.join(tempfile.mkdtemp(), "echo.sock")
        server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        server.bind(path)
        endpoint = "ipc://" + path
    server.listen(1)
    server.settimeout(10)
    print("ENDPOINT " + endpoint, flush=True)
    client, _ = server.accept()
    client.settimeout(10)
    pending = b""
    lines = []
    while True:
        chunk = client.recv(65536)
        if not chunk:
            report(False, error="client closed before bye", lines=lines)
        pending += chunk
        while b"\n" in pending:
            line, pending = pending.split(b"\n", 1)
            lines.append(line.decode())
            if line == b"bye":
                client.close()
                report(True, lines=lines)
            client.sendall(line.upper() + b"\n")


def stream_client(endpoint):
    import zmq
    context = zmq.Context()
    sock = context.socket(zmq.STREAM)
    sock.setsockopt(zmq.RCVTIMEO, 10000)
    sock.connect(endpoint)
    peer, notice = sock.recv_multipart()
    if notice != b"":
        report(False, error="expected the connect notice, got %r" % notice)
    sock.send_multipart([peer, REQUEST])
    reply = b""
    while True:
        who, data = sock.recv_multipart()
        if who != peer:
            report(False, error="data from an unknown peer")
        if data == b"":
            break
        reply += data
    sock.close(0)
    context.term()
    report(True, reply=reply.decode("latin-1"))


def stream_server(kind):
    import zmq
    context = zmq.Context()
    sock = context.socket(zmq.STREAM)
    sock.setsockopt(zmq.RCVTIMEO, 10000)
    if kind == "tcp":
        endpoint = "tcp://127.0.0.1:%d" % sock.bind_to_random_port("tcp://127.0.0.1")
    else:
        endpoint = "ipc://" + os.path.join(tempfile.mkdtemp(), "stream.sock")
        sock.bind(endpoint)
    print("ENDPOINT " + endpoint, flush=True)
    peer, notice = sock.recv_multipart()
    if notice != b"":
        report(False, error="expected the connect notice, got %r" % notice)
    request = b""
    while not request.endswith(b"\r\n\r\n"):
        who, data = sock.recv_multipart()
        if who != peer or data == b"":
            report(False, error="the request did not arrive whole", request=request.decode("latin-1"))
        request += data
    sock.send_multipart([peer, REPLY])
    sock.send_multipart([peer, b""])
    sock.close(1000)
    context.term()
    report(True, request=request.decode("latin-1"), peer_id_length=len(peer))


if __name__ == "__main__":
    mode = sys.argv[1]
    if mode == "http-client":
        http_client(sys.argv[2])
    elif mode == "echo-server":
        echo_server(sys.argv[2])
    elif mode == "stream-client":
        stream_client(sys.argv[2])
    elif mode == "stream-server":
        stream_server(sys.argv[2])
    else:
        report(False, error="unknown mode " + mode)
