#!/usr/bin/env python3
"""udp peers for swift-zmq's udp tests: libzmq's RADIO and DGRAM through pyzmq (its wheel has no
draft API, but these two work over udp), and plain datagram sockets that check the octets.

Each mode prints `ENDPOINT <endpoint>` once bound (where it binds), then one JSON line, and
exits 0 only if what it checked held.

  radio ENDPOINT BODY            libzmq RADIO: connect, send BODY (the empty group) 3 times
  plain-recv [--group G --interface ADDRESS]
                                 a plain udp socket (joined to multicast group G on the
                                 interface with ADDRESS): report the first datagram, in hex
  plain-send PORT HEX...         send each datagram, given in hex, to 127.0.0.1:PORT
  dgram-echo                     libzmq DGRAM, bound: answer one message with "echo:" + body
  dgram-ask ENDPOINT             libzmq DGRAM, bound: send "question" to ENDPOINT's address,
                                 report the answer
"""
import json
import socket
import struct
import sys
import time


def report(ok, **fields):
    fields["ok"] = ok
    print(json.dumps(fields), flush=True)
    sys.exit(0 if ok else 1)


def free_port():
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    return port


def radio(endpoint, body):
    import zmq
    context = zmq.Context()
    sock = context.socket(zmq.RADIO)
    sock.connect(endpoint)
    for _ in range(3):
        sock.send(body.encode())
        time.sleep(0.05)
    sock.close(1000)
    context.term()
    report(True, sent=3)


def plain_recv(args):
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.settimeout(20)
    if "--group" in args:
        group = args[args.index("--group") + 1]
        interface = args[args.index("--interface") + 1]
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("0.0.0.0", 0))
        membership = struct.pack("4s4s", socket.inet_aton(group), socket.inet_aton(interface))
        sock.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, membership)
        print("ENDPOINT udp://%s:%d" % (group, sock.getsockname()[1]), flush=True)
    else:
        sock.bind(("127.0.0.1", 0))
        print("ENDPOINT udp://127.0.0.1:%d" % sock.getsockname()[1], flush=True)
    data, sender = sock.recvfrom(65536)
    report(True, datagram=data.hex())


def plain_send(port, datagrams):
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    for datagram in datagrams:
        sock.sendto(bytes.fromhex(datagram), ("127.0.0.1", port))
    report(True, sent=len(datagrams))


def wait_until_bound(port):
    """libzmq binds udp in its I/O thread, after bind() returns: a datagram sent to the port
    before that is lost. The port is ours once a plain socket can no longer bind it."""
    deadline = time.time() + 10
    while time.time() < deadline:
        probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return
        finally:
            probe.close()
        time.sleep(0.001)
    report(False, error="libzmq never bound udp port %d" % port)


def dgram(mode, endpoint=None):
    import zmq
    context = zmq.Context()
    sock = context.socket(zmq.DGRAM)
    sock.setsockopt(zmq.RCVTIMEO, 20000)
    port = free_port()
    sock.bind("udp://127.0.0.1:%d" % port)
    wait_until_bound(port)
    print("ENDPOINT udp://127.0.0.1:%d" % port, flush=True)
    if mode == "dgram-echo":
        address, body = sock.recv_multipart()
        sock.send_multipart([address, b"echo:" + body])
        sock.close(1000)
        context.term()
        report(True, address=address.decode("latin-1"), body=body.decode())
    target = endpoint[len("udp://"):]
    sock.send_multipart([target.encode(), b"question"])
    address, body = sock.recv_multipart()
    sock.close(0)
    context.term()
    report(True, body=body.decode())


if __name__ == "__main__":
    mode = sys.argv[1]
    if mode == "radio":
        radio(sys.argv[2], sys.argv[3])
    elif mode == "plain-recv":
        plain_recv(sys.argv[2:])
    elif mode == "plain-send":
        plain_send(int(sys.argv[2]), sys.argv[3:])
    elif mode in ("dgram-echo", "dgram-ask"):
        dgram(mode, sys.argv[2] if len(sys.argv) > 2 else None)
    else:
        report(False, error="unknown mode " + mode)
