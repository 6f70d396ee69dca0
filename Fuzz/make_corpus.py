#!/usr/bin/env python3
"""Writes the seed corpora under Fuzz/Corpus/<Target>/ from the 23/ZMTP, 24/ZMTP-PLAIN and
25/ZMTP-CURVE wire formats. Run it again after changing it: `python3 Fuzz/make_corpus.py`.

Input formats (see each target's source):
  FuzzGreeting      the peer's octets.
  FuzzFrameDecoder  a control octet (bits 0-1 body limit: none, 64 KiB, 255, 0; bits 2-7 chunk
                    size, 0 = one read), then the peer's octets.
  FuzzConnection    a selector octet (bits 0-2 mechanism mod 6: NULL, NULL with ZAP, PLAIN client,
                    PLAIN server, CURVE client, CURVE server; bit 3 deny; bits 4-7 chunk size),
                    then the peer's octets.
"""
import os
import shutil
import struct

HERE = os.path.dirname(os.path.abspath(__file__))


def greeting(mechanism, as_server=0, minor=1):
    """0xFF, 8 padding octets, 0x7F, version 3.minor, mechanism padded to 20, as-server, 31 filler."""
    name = mechanism.encode()
    return bytes([0xFF]) + bytes(8) + bytes([0x7F, 3, minor]) + name + bytes(20 - len(name)) + bytes([as_server]) + bytes(31)


def frame(body, more=False, command=False, long=False):
    flags = (1 if more else 0) | (4 if command else 0)
    if long or len(body) > 255:
        return bytes([flags | 2]) + struct.pack(">Q", len(body)) + body
    return bytes([flags, len(body)]) + body


def command(name, data=b""):
    return frame(bytes([len(name)]) + name.encode() + data, command=True)


def metadata(**properties):
    out = b""
    for key, value in properties.items():
        key = key.replace("_", "-")
        out += bytes([len(key)]) + key.encode() + struct.pack(">I", len(value)) + value
    return out


def ready(socket_type="PUSH", **extra):
    return command("READY", metadata(Socket_Type=socket_type.encode(), **extra))


def plain_hello(user=b"admin", password=b"secret"):
    return command("HELLO", bytes([len(user)]) + user + bytes([len(password)]) + password)


def curve_hello():
    # version 1.0, 72 octets of anti-amplification padding, client's transient key, nonce, box.
    return command("HELLO", bytes([1, 0]) + bytes(72) + bytes(range(32)) + bytes(8) + bytes(80))


def curve_welcome():
    return command("WELCOME", bytes(16) + bytes([7]) * 144)


def messages():
    return frame(b"abc") + frame(b"first", more=True) + frame(b"last") + frame(b"x" * 300) + frame(b"", long=True)


GREETING = {
    "greeting_null": greeting("NULL"),
    "greeting_plain": greeting("PLAIN"),
    "greeting_plain_server": greeting("PLAIN", as_server=1),
    "greeting_curve": greeting("CURVE"),
    "greeting_null_3_0": greeting("NULL", minor=0),
    "greeting_prefix": greeting("NULL")[:11],
    "greeting_and_ready": greeting("NULL") + ready(),
}

FRAMES = {
    "ready": ready(),
    "ready_identity": ready("DEALER", Identity=b"\x01\x02\x03"),
    "short_frame": frame(b"hello"),
    "empty_frame": frame(b""),
    "long_frame": frame(b"\xAB" * 300),
    "long_frame_small_body": frame(b"abc", long=True),
    "multipart": frame(b"one", more=True) + frame(b"two", more=True) + frame(b"three"),
    "plain_hello": plain_hello(),
    "ping": command("PING", struct.pack(">H", 10) + b"ctx"),
    "error": command("ERROR", bytes([6]) + b"denied"),
    "subscribe": command("SUBSCRIBE", b"topic"),
}

NULL_PEER = greeting("NULL") + ready() + messages() + command("PING", struct.pack(">H", 10))
CONNECTION = {
    # NULL, both ways.
    "null": (0, NULL_PEER),
    "null_one_octet_reads": (0x10, NULL_PEER),
    "null_3_0": (0, greeting("NULL", minor=0) + ready() + frame(b"\x01topic")),
    "null_wrong_mechanism": (0, greeting("PLAIN") + ready()),
    "null_bad_signature": (0, b"\x01\x00\x00\x00\x00\x00\x00\x00\x01\x7f" + bytes(54)),
    # NULL with the authenticator asked (ZAP): accepted, then denied.
    "null_zap": (1, NULL_PEER),
    "null_zap_denied": (1 | 8, NULL_PEER),
    # PLAIN client: the peer is the server and answers WELCOME, then READY.
    "plain_client": (2, greeting("PLAIN", as_server=1) + command("WELCOME") + ready("PULL") + messages()),
    "plain_client_error": (2, greeting("PLAIN", as_server=1) + command("ERROR", bytes([6]) + b"denied")),
    # PLAIN server: the peer is the client and sends HELLO, then INITIATE.
    "plain_server": (3, greeting("PLAIN") + plain_hello() + command("INITIATE", metadata(Socket_Type=b"PUSH")) + messages()),
    "plain_server_denied": (3 | 8, greeting("PLAIN") + plain_hello() + command("INITIATE", metadata(Socket_Type=b"PUSH"))),
    "plain_server_chunks_of_3": (3 | 0x30, greeting("PLAIN") + plain_hello() + command("INITIATE", metadata(Socket_Type=b"PUSH"))),
    # CURVE client: the peer is the server and answers WELCOME (its box cannot open: no real keys).
    "curve_client": (4, greeting("CURVE", as_server=1) + curve_welcome() + command("READY", bytes(8) + bytes(40))),
    # CURVE server: the peer is the client and sends HELLO (its box cannot open either).
    "curve_server": (5, greeting("CURVE") + curve_hello() + command("INITIATE", bytes(16) + bytes(8) + bytes(160))),
    "curve_server_short_hello": (5, greeting("CURVE") + command("HELLO", bytes([1, 0]))),
}


def write(target, files):
    folder = os.path.join(HERE, "Corpus", target)
    shutil.rmtree(folder, ignore_errors=True)
    os.makedirs(folder)
    for name, octets in files.items():
        with open(os.path.join(folder, name), "wb") as f:
            f.write(octets)


write("FuzzGreeting", GREETING)
# Control octet 0: no body limit, one read; 0x05: the handshake's 64 KiB limit, one-octet reads.
write("FuzzFrameDecoder", {**{n: b"\x00" + o for n, o in FRAMES.items()},
                           **{n + "_one_octet_reads": b"\x05" + o for n, o in FRAMES.items()}})
write("FuzzConnection", {name: bytes([selector]) + octets for name, (selector, octets) in CONNECTION.items()})
