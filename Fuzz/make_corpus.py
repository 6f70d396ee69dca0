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
  FuzzCurveTraffic  a small program, not octets for the wire (the harness seals every box itself):
                    a selector octet (bits 0-1 mode: A our INITIATE to a real server, B traffic to
                    an open server, C our WELCOME and READY to a real client, D traffic to an open
                    client; bits 2-3 maximum message size: none, 4096, 100, 0; bit 4 DEALER/ROUTER
                    instead of PUSH/PULL; bit 5 deliver closure; bit 6 heartbeats), the handshake's
                    octets for A and C, then traffic operations (see the target's source and
                    CURVE_TRAFFIC below).
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


# FuzzCurveTraffic: the program's pieces, as FuzzCurveTraffic.swift reads them.
def blob(octets=b"", fill=None, count=0):
    """A length octet and the octets; with fill, a 13-bit count of one repeated octet."""
    if fill is not None:
        return bytes([0xF0]) + struct.pack(">H", count) + bytes([fill])
    assert len(octets) < 0xF0
    return bytes([len(octets)]) + octets


def u64(value):
    return struct.pack(">Q", value)


def selector(mode, limit=0, router=False, deliver=False, heartbeats=False):
    """mode 0 A, 1 B, 2 C, 3 D; limit 0 none, 1 4096, 2 100, 3 0."""
    return bytes([mode | limit << 2 | (0x10 if router else 0) | (0x20 if deliver else 0) | (0x40 if heartbeats else 0)])


# Traffic operations: the low three bits say which; for the four that send a MESSAGE, bits 3-4 the
# nonce (0 next, 1 skip ahead, 2 replay the last, 3 eight octets), bit 5 flip an octet of the box,
# bit 6 the long frame form, bit 7 the outer MORE flag.
NEXT, SKIP, REPLAY, GIVEN = 0, 1 << 3, 2 << 3, 3 << 3


def last(payload, nonce=NEXT, extra=b""):
    return bytes([0 | nonce]) + blob(payload) + extra


def more(payload, nonce=NEXT, extra=b""):
    return bytes([1 | nonce]) + blob(payload) + extra


def flagged(flags, payload, nonce=NEXT, extra=b""):
    return bytes([2 | nonce, flags]) + blob(payload) + extra


def big(count, fill=0x41):
    return bytes([0]) + blob(fill=fill, count=count)


def boxed(choice, data, nonce=NEXT, extra=b""):
    """choice: 0 SUBSCRIBE, 1 CANCEL, 2 PING (data = ttl + context), 3 PONG, 4 ERROR, 5 READY, 6 a name of
    our own, 7 raw; +0x80 with MORE."""
    if choice & 7 == 2:
        body = data[:2] + bytes([len(data) - 2]) + data[2:]
    elif choice & 7 == 3:
        body = bytes([len(data)]) + data
    elif choice & 7 == 6:
        body = data  # name length (mod 12, plus 1), name, blob
    else:
        body = blob(data)
    return bytes([3 | nonce, choice]) + body + extra


def flush(chunk=0):
    """A read boundary: what is pending goes in reads of chunk octets (0: one read)."""
    return bytes([4 | chunk << 3])


def malformed(choice, data=b""):
    return bytes([5, choice]) + data


def tamper(offset, mask=0x01):
    return bytes([6]) + struct.pack(">H", offset) + bytes([mask])


def tick(twenty_ms):
    return bytes([7, twenty_ms])


def properties(*entries):
    """Metadata kind 3 (the right Socket-Type first), then properties by vocabulary entry."""
    return bytes([len(entries)]) + b"".join(entries)


IDENTITY = bytes([2]) + blob(b"peer-1")
TRAFFIC = (last(b"hello") + more(b"first") + more(b"") + last(b"last") + boxed(0, b"topic") + boxed(1, b"topic")
           + boxed(2, b"\x00\x0actx") + boxed(3, b"ctx") + flush())
CURVE_TRAFFIC = {
    # A: our INITIATE (metadata kind in bits 0-1 of the octet after the selector), then traffic.
    "a_initiate": selector(0) + bytes([3]) + properties() + bytes([0]) + TRAFFIC,
    "a_initiate_identity": selector(0, router=True) + bytes([3]) + properties(IDENTITY, bytes([3]) + blob(b"user")) + bytes([0]) + TRAFFIC,
    "a_initiate_long_identity": selector(0, router=True) + bytes([3]) + properties(bytes([2]) + blob(fill=0x49, count=256)) + bytes([0]),
    "a_initiate_raw_metadata": selector(0) + bytes([0]) + blob(b"\x0bSocket-Type\x00\x00\x00\x04PUSH\x08Resource\x00\x00\x01") + bytes([0]),
    "a_initiate_socket_type_then_raw": selector(0) + bytes([1]) + blob(b"\x00\x00") + bytes([0]),
    "a_initiate_wrong_socket_type": selector(0) + bytes([2]) + properties(bytes([1]) + blob(b"PULL")) + bytes([0]),
    "a_bad_vouch": selector(0) + bytes([0x04 | 3]) + bytes(range(64)) + properties() + bytes([0]),
    "a_zero_permanent_key": selector(0) + bytes([0x08 | 3]) + bytes(32) + properties() + bytes([0]),
    "a_initiate_nonce": selector(0) + bytes([0x10 | 3]) + u64(1000) + properties() + bytes([0]) + last(b"x") + last(b"y", GIVEN, u64(1000)) + flush(),
    "a_denied": selector(0) + bytes([0x20 | 3]) + properties() + bytes([0]),
    "a_deferred": selector(0) + bytes([0x40 | 3]) + properties() + bytes([0]) + TRAFFIC,
    "a_deferred_pipelined": selector(0) + bytes([0x40 | 3]) + properties() + bytes([0x20]) + last(b"early") + flush(),
    "a_initiate_flipped": selector(0) + bytes([0x80 | 3]) + properties() + struct.pack(">H", 120) + bytes([0x10, 0]),
    "a_initiate_one_octet_reads": selector(0, limit=2, deliver=True) + bytes([3]) + properties() + bytes([1]) + TRAFFIC,
    # B: traffic to an open server.
    "b_messages": selector(1) + TRAFFIC,
    "b_limit_4096": selector(1, limit=1) + big(4096) + flush() + more(b"a" * 200) + big(4000) + flush(),
    "b_limit_100": selector(1, limit=2, deliver=True) + more(b"x" * 60) + last(b"y" * 40) + last(b"z" * 101) + flush(),
    "b_limit_0": selector(1, limit=3) + last(b"") + last(b"a") + flush(),
    "b_nonces": selector(1) + last(b"one") + last(b"skip", SKIP, bytes([5])) + last(b"replay", REPLAY) + flush(),
    "b_nonce_given": selector(1) + last(b"far", GIVEN, u64(1 << 62)) + last(b"back", GIVEN, u64(7)) + flush(),
    "b_tampered_box": selector(1) + last(b"before") + bytes([0x20]) + blob(b"secret") + bytes([20, 0x80]) + last(b"after") + flush(),
    "b_tampered_wire": selector(1) + last(b"one") + last(b"two") + tamper(40, 0x04) + flush(),
    "b_chunks": selector(1, deliver=True) + last(b"a" * 50) + more(b"b" * 200) + last(b"c") + flush(1) + TRAFFIC[:-1] + flush(7),
    "b_inner_flags": selector(1) + flagged(0x04, b"reserved") + flagged(0x02, b"\x04PING\x00\x01") + flagged(0xFF, b"") + flush(),
    "b_long_form_outer_more": selector(1) + bytes([0x40 | 0x80]) + blob(b"outer flags") + flush(),
    "b_heartbeats": selector(1, heartbeats=True) + boxed(2, b"\x00\x05abc") + flush() + tick(40) + tick(60) + tick(200) + flush(),
    "b_commands": selector(1, router=True) + boxed(0, b"") + boxed(0x81, b"more") + boxed(4, b"\x03bye") + flush(),
    "b_unknown_commands": selector(1) + boxed(6, b"\x02XYZ" + blob(b"data")) + boxed(7, b"\x00") + boxed(5, b"") + last(b"after") + flush(),
    "b_malformed": selector(1) + malformed(0, blob(b"clear")) + flush(),
    "b_short_message": selector(1) + malformed(1, bytes([10]) + bytes(10)) + flush(),
    "b_clear_ping": selector(1) + malformed(3) + flush(),
    "b_huge_header": selector(1, limit=1) + malformed(6, b"\x7f" + bytes(7)) + flush(),
    # C: our WELCOME and READY to a real client, then traffic.
    "c_ready": selector(2) + bytes([3]) + properties() + bytes([0]) + TRAFFIC,
    "c_ready_router": selector(2, router=True) + bytes([3]) + properties(IDENTITY) + bytes([0]) + TRAFFIC,
    "c_ready_raw_metadata": selector(2) + bytes([0]) + blob(b"\x0bSocket-Type\x00\x00\x00\x04PULL") + bytes([0]),
    "c_pipelined": selector(2) + bytes([0x80 | 3]) + properties() + bytes([3]) + TRAFFIC,
    "c_other_transient": selector(2) + bytes([0x04 | 3]) + bytes(range(100, 132)) + properties() + bytes([0]) + TRAFFIC,
    "c_zero_transient": selector(2) + bytes([0x08 | 3]) + bytes(32) + properties() + bytes([0]),
    "c_ready_nonce": selector(2) + bytes([0x10 | 3]) + u64(1 << 40) + properties() + bytes([0]) + last(b"x", GIVEN, u64(1 << 40)) + flush(),
    "c_welcome_flipped": selector(2) + bytes([0x20 | 3]) + struct.pack(">H", 50) + bytes([1]) + properties() + bytes([0]),
    "c_ready_flipped": selector(2) + bytes([0x40 | 3]) + properties() + struct.pack(">H", 30) + bytes([1]) + bytes([0]),
    # D: traffic to an open client.
    "d_messages": selector(3) + TRAFFIC,
    "d_limit_100": selector(3, limit=2, heartbeats=True) + big(100) + big(101) + flush() + tick(255) + tick(255),
    "d_nonces": selector(3, router=True, deliver=True) + last(b"one") + last(b"again", REPLAY) + flush(),
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
write("FuzzCurveTraffic", CURVE_TRAFFIC)
