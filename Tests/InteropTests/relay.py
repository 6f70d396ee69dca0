#!/usr/bin/env python3
"""An Ethernet relay between two network interfaces, with delay and loss, for swift-zmq's
network tests (this kernel has no tc netem).

    relay.py IFACE_A IFACE_B [--delay MS] [--loss FRACTION] [--seed N]

Every frame that arrives on one interface is sent out of the other after --delay milliseconds,
unless it is dropped (each with probability --loss). Frames are whole Ethernet frames (ARP
included), so the two sides share one link, and TCP sees real delay and real loss. The
interfaces must have segmentation and checksum offloads turned off (the test does it with
ethtool), or frames would arrive larger than the link or with checksums left for hardware.
Prints READY once both sockets are open and runs until killed.
"""
import argparse
import heapq
import random
import select
import socket
import time

ETH_P_ALL = 0x0003
PACKET_OUTGOING = 4


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("a")
    parser.add_argument("b")
    parser.add_argument("--delay", type=float, default=0.0, help="milliseconds, each way")
    parser.add_argument("--loss", type=float, default=0.0, help="fraction of frames dropped, each way")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    rng = random.Random(args.seed)

    sockets = {}
    for name in (args.a, args.b):
        sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
        sock.bind((name, 0))
        sock.setblocking(False)
        sockets[name] = sock
    other = {sockets[args.a]: sockets[args.b], sockets[args.b]: sockets[args.a]}
    print("READY", flush=True)

    pending = []  # (due, order, socket, frame)
    order = 0
    delay = args.delay / 1000.0
    while True:
        timeout = None
        if pending:
            timeout = max(0.0, pending[0][0] - time.monotonic())
        readable, _, _ = select.select(list(other), [], [], timeout)
        now = time.monotonic()
        for sock in readable:
            while True:
                try:
                    frame, address = sock.recvfrom(65536)
                except BlockingIOError:
                    break
                if address[2] == PACKET_OUTGOING:
                    continue  # our own sends, seen again on the way out
                if args.loss and rng.random() < args.loss:
                    continue
                heapq.heappush(pending, (now + delay, order, other[sock], frame))
                order += 1
        while pending and pending[0][0] <= time.monotonic():
            _, _, sock, frame = heapq.heappop(pending)
            try:
                sock.send(frame)
            except OSError:
                pass  # a link taken down drops what it cannot send, as a wire would


if __name__ == "__main__":
    main()
