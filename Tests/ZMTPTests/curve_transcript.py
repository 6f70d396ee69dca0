#!/usr/bin/env python3
"""An independent CURVE transcript for CurveTranscriptTests.swift, written from 26/CURVEZMQ,
25/ZMTP-CURVE and 23/ZMTP with PyNaCl (libsodium's NaCl boxes), not from swift-zmq's code.

    pip install pynacl && python3 Tests/ZMTPTests/curve_transcript.py

Every key and every "random" octet is fixed below, so the handshake and two MESSAGEs come out the
same each time. Prints each wire frame (ZMTP frame header included) as hex.
"""
from nacl.bindings import crypto_box, crypto_scalarmult_base, crypto_secretbox


def octets(start):
    return bytes((start + i) % 256 for i in range(32))


# Long-term keys, and what each side draws from its random source, in order.
client_secret = octets(0x01)
server_secret = octets(0x81)
client_transient_secret = octets(0x41)  # client: first draw (32)
vouch_tail = bytes(range(0x20, 0x30))  # client: second draw (16)
server_transient_secret = octets(0xC1)  # server: first draw (32)
cookie_key = octets(0xA1)  # server: second draw (32)
cookie_tail = bytes(range(0x50, 0x60))  # server: third draw (16)
welcome_tail = bytes(range(0x60, 0x70))  # server: fourth draw (16)

C, S = crypto_scalarmult_base(client_secret), crypto_scalarmult_base(server_secret)
C_, S_ = crypto_scalarmult_base(client_transient_secret), crypto_scalarmult_base(server_transient_secret)


def box(message, nonce, public, secret):
    """crypto_box with the 16 zero octets of NaCl's MAC padding removed, as on the wire."""
    assert len(nonce) == 24
    return crypto_box(message, nonce, public, secret)


def short_nonce(prefix, counter):
    return prefix + counter.to_bytes(8, "big")


def metadata(properties):
    """23/ZMTP metadata: name length (1), name, value length (4, big-endian), value."""
    out = b""
    for name, value in properties:
        out += bytes([len(name)]) + name + len(value).to_bytes(4, "big") + value
    return out


def command(name, data):
    """A ZMTP command frame: flags 0x04 (short) or 0x06 (long), size, then name and data."""
    body = bytes([len(name)]) + name + data
    if len(body) < 256:
        return bytes([0x04, len(body)]) + body
    return bytes([0x06]) + len(body).to_bytes(8, "big") + body


def data_frame(body):
    if len(body) < 256:
        return bytes([0x00, len(body)]) + body
    return bytes([0x02]) + len(body).to_bytes(8, "big") + body


# HELLO (client nonce 1): version 1.0, 72 octets of padding, C', nonce, box of 64 zeros to S.
hello = command(b"HELLO", bytes([1, 0]) + bytes(72) + C_ + (1).to_bytes(8, "big")
                + box(bytes(64), short_nonce(b"CurveZMQHELLO---", 1), S, client_transient_secret))

# WELCOME: the cookie is C' and s' sealed with the server's cookie key; the box carries S' and the
# cookie, from s to C'.
cookie = cookie_tail + crypto_secretbox(C_ + server_transient_secret, b"COOKIE--" + cookie_tail, cookie_key)
welcome = command(b"WELCOME", welcome_tail + box(S_ + cookie, b"WELCOME-" + welcome_tail, C_, server_secret))

# INITIATE (client nonce 2): the cookie back, then C, the vouch (C' and S boxed from c to S'),
# and the client's metadata, boxed from c' to S'.
vouch = box(C_ + S, b"VOUCH---" + vouch_tail, S_, client_secret)
initiate_plain = C + vouch_tail + vouch + metadata([(b"Socket-Type", b"PUSH")])
initiate = command(b"INITIATE", cookie + (2).to_bytes(8, "big")
                   + box(initiate_plain, short_nonce(b"CurveZMQINITIATE", 2), S_, client_transient_secret))

# READY (server nonce 1): the server's metadata, boxed from s' to C'.
ready = command(b"READY", (1).to_bytes(8, "big")
                + box(metadata([(b"Socket-Type", b"PULL")]), short_nonce(b"CurveZMQREADY---", 1), C_, server_transient_secret))

# MESSAGEs carry a flags octet (0x01 MORE, 0x02 COMMAND) then the frame, each as a data frame of
# its own. The client's nonces go on from the handshake (3); the server's from READY (2).
client_message = data_frame(b"\x07MESSAGE" + (3).to_bytes(8, "big")
                            + box(b"\x01" + b"hello", short_nonce(b"CurveZMQMESSAGEC", 3), S_, client_transient_secret))
server_message = data_frame(b"\x07MESSAGE" + (2).to_bytes(8, "big")
                            + box(b"\x00" + b"world", short_nonce(b"CurveZMQMESSAGES", 2), C_, server_transient_secret))

for name, frame in [("hello", hello), ("welcome", welcome), ("initiate", initiate), ("ready", ready),
                    ("clientMessage", client_message), ("serverMessage", server_message)]:
    print('    static let %s = "%s"' % (name, frame.hex()))
