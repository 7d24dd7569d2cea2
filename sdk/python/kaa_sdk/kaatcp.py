"""Kaatcp framing: Kaa's MQTT-like frames (CONNECT, CONNACK, KAASYNC, PINGREQ, PINGRESP,
DISCONNECT) as bytes, and an incremental decoder for what a server sends.

A frame is ``type << 4``, the MQTT remaining length (7 bits a byte, least significant group
first, at most 4 bytes), then the body. CONNECT carries the RSA-wrapped session key and the
endpoint's signature (256 bytes each) before the (encrypted) ``SyncRequest``; KAASYNC carries
a flags byte (request, encrypted, sub-command SYNC) before its payload.
"""

import struct

CONNECT = 1
CONNACK = 2
PINGREQ = 12
PINGRESP = 13
DISCONNECT = 14
KAASYNC = 15

_MAGIC = b"\x00\x06Kaatcp\x01"
_CONNECT_FLAGS = 0x02
_SESSION_KEY_FLAG = 0x11
_SIGNATURE_FLAG = 0x01
_SYNC_REQUEST = 0x01
_SYNC_ZIPPED = 0x02
_SYNC_ENCRYPTED = 0x04
_SUB_COMMAND_SYNC = 1

#: CONNACK return codes.
CONNACK_CODES = {
    1: "accepted",
    2: "unacceptable protocol version",
    3: "identifier rejected",
    4: "server unavailable",
    5: "bad credentials (unknown SDK token, or a key the server cannot use)",
    6: "not authorized",
    0x10: "endpoint verification failed (revoked or not provisioned)",
}
#: DISCONNECT reasons.
DISCONNECT_REASONS = {0: "none", 1: "bad request", 2: "internal error", 3: "credentials revoked"}

#: The largest frame accepted from a server.
MAX_FRAME = 4 * 1024 * 1024


class FrameError(ValueError):
    """Bytes that are not a Kaatcp frame."""


def _frame(kind, body):
    header = bytearray([kind << 4])
    length = len(body)
    while True:
        digit = length % 0x80
        length //= 0x80
        if length:
            header.append(digit | 0x80)
        else:
            header.append(digit)
            break
    return bytes(header) + body


def connect(payload, session_key=None, signature=None, keep_alive=200, protocol_id=0xE0C0C178):
    """CONNECT with the first request's payload, and the wrapped session key and signature."""
    for block in (session_key, signature):
        if block is not None and len(block) != 256:
            raise FrameError(f"an RSA block is {len(block)} bytes, not 256")
    body = (
        _MAGIC
        + bytes([_CONNECT_FLAGS])
        + struct.pack(">I", protocol_id)
        + bytes([_SESSION_KEY_FLAG if session_key is not None else 0])
        + bytes([_SIGNATURE_FLAG if signature is not None else 0])
        + struct.pack(">H", keep_alive)
        + (session_key or b"")
        + (signature or b"")
        + payload
    )
    return _frame(CONNECT, body)


def kaasync(payload, encrypted):
    """A KAASYNC request carrying ``payload``."""
    flags = (_SUB_COMMAND_SYNC << 4) | _SYNC_REQUEST | (_SYNC_ENCRYPTED if encrypted else 0)
    return _frame(KAASYNC, _MAGIC + b"\x00\x00" + bytes([flags]) + payload)


def pingreq():
    return _frame(PINGREQ, b"")


def disconnect(reason=0):
    return _frame(DISCONNECT, bytes([0, reason]))


class Frame:
    """A decoded server frame: ``kind`` and, by kind, ``code`` (CONNACK return code,
    DISCONNECT reason) or ``payload`` and ``encrypted`` (KAASYNC)."""

    __slots__ = ("kind", "code", "payload", "encrypted")

    def __init__(self, kind, code=None, payload=b"", encrypted=False):
        self.kind = kind
        self.code = code
        self.payload = payload
        self.encrypted = encrypted

    def __repr__(self):
        return f"Frame(kind={self.kind}, code={self.code}, {len(self.payload)} payload bytes)"


class Decoder:
    """Collects bytes and yields whole frames."""

    def __init__(self, max_frame=MAX_FRAME):
        self.buffer = bytearray()
        self.max_frame = max_frame

    def feed(self, data):
        self.buffer += data

    def next(self):
        """The next whole frame, or ``None`` until more bytes arrive."""
        buffer = self.buffer
        if len(buffer) < 2:
            return None
        length = 0
        multiplier = 1
        index = 1
        while True:
            if index >= len(buffer):
                return None
            if index > 4:
                raise FrameError("remaining length takes more than 4 bytes")
            byte = buffer[index]
            length += (byte & 0x7F) * multiplier
            multiplier *= 0x80
            index += 1
            if not byte & 0x80:
                break
        if length > self.max_frame:
            raise FrameError(f"frame of {length} bytes is over the limit of {self.max_frame}")
        if len(buffer) < index + length:
            return None
        kind = buffer[0] >> 4
        body = bytes(buffer[index : index + length])
        del buffer[: index + length]
        return _parse(kind, body)


def _parse(kind, body):
    if kind == CONNACK:
        if len(body) != 2:
            raise FrameError(f"CONNACK of {len(body)} bytes")
        return Frame(kind, code=body[1])
    if kind == DISCONNECT:
        if len(body) != 2:
            raise FrameError(f"DISCONNECT of {len(body)} bytes")
        return Frame(kind, code=body[1])
    if kind in (PINGRESP, PINGREQ):
        return Frame(kind)
    if kind == KAASYNC:
        if len(body) < 12 or body[:9] != _MAGIC:
            raise FrameError("KAASYNC without the Kaatcp header")
        flags = body[11]
        if flags >> 4 != _SUB_COMMAND_SYNC:
            raise FrameError(f"KAASYNC sub-command {flags >> 4} is not SYNC")
        if flags & _SYNC_ZIPPED:
            raise FrameError("zipped KAASYNC frames are not supported")
        return Frame(kind, payload=body[12:], encrypted=bool(flags & _SYNC_ENCRYPTED))
    raise FrameError(f"unexpected frame type {kind}")
