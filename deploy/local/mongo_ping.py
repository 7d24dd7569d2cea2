#!/usr/bin/env python3
"""Pings a MongoDB-wire server with a real OP_MSG {ping: 1} and checks that it answers ok: 1.

Standard library only (no mongosh, no pymongo). Exit 0 if the server answered ok: 1, else 1.

    python3 deploy/local/mongo_ping.py [--host 127.0.0.1] [--port 27017] [--timeout 3] [-q]
"""
import argparse
import socket
import struct
import sys

OP_MSG = 2013


def bson_encode(doc):
    """Encodes a flat dict of int32 and str values (all a ping needs)."""
    body = b""
    for key, value in doc.items():
        name = key.encode() + b"\x00"
        if isinstance(value, int):
            body += b"\x10" + name + struct.pack("<i", value)
        elif isinstance(value, str):
            data = value.encode() + b"\x00"
            body += b"\x02" + name + struct.pack("<i", len(data)) + data
        else:
            raise TypeError(f"unsupported BSON value for {key}: {value!r}")
    return struct.pack("<i", len(body) + 5) + body + b"\x00"


# Sizes of the fixed-size BSON types; the variable-size ones are handled in bson_top_level.
FIXED = {0x01: 8, 0x07: 12, 0x08: 1, 0x09: 8, 0x0A: 0, 0x10: 4, 0x11: 8, 0x12: 8, 0x13: 16, 0x7F: 0, 0xFF: 0}


def bson_top_level(data):
    """Decodes the top-level fields of a BSON document: numbers, bools and strings as values,
    anything else as None."""
    out, pos, end = {}, 4, struct.unpack_from("<i", data)[0] - 1
    while pos < end:
        kind = data[pos]
        name_end = data.index(b"\x00", pos + 1)
        name, pos = data[pos + 1:name_end].decode(), name_end + 1
        value = None
        if kind in FIXED:
            size = FIXED[kind]
            if kind == 0x01:
                value = struct.unpack_from("<d", data, pos)[0]
            elif kind == 0x08:
                value = data[pos] != 0
            elif kind == 0x10:
                value = struct.unpack_from("<i", data, pos)[0]
            elif kind == 0x12:
                value = struct.unpack_from("<q", data, pos)[0]
        elif kind in (0x02, 0x0D, 0x0E):  # string, JavaScript code, symbol
            size = 4 + struct.unpack_from("<i", data, pos)[0]
            value = data[pos + 4:pos + size - 1].decode(errors="replace")
        elif kind in (0x03, 0x04, 0x0F):  # document, array, code with scope
            size = struct.unpack_from("<i", data, pos)[0]
        elif kind == 0x05:  # binary
            size = 5 + struct.unpack_from("<i", data, pos)[0]
        elif kind == 0x0B:  # regex: two cstrings
            size = data.index(b"\x00", data.index(b"\x00", pos) + 1) + 1 - pos
        elif kind == 0x0C:  # DBPointer
            size = 4 + struct.unpack_from("<i", data, pos)[0] + 12
        else:
            raise ValueError(f"unknown BSON type 0x{kind:02x}")
        out[name] = value
        pos += size
    return out


def recv_exact(sock, n):
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("connection closed by the server")
        buf += chunk
    return buf


def ping(host, port, timeout):
    """Returns the reply's top-level fields."""
    body = struct.pack("<I", 0) + b"\x00" + bson_encode({"ping": 1, "$db": "admin"})
    request_id = 1
    msg = struct.pack("<iiii", 16 + len(body), request_id, 0, OP_MSG) + body
    with socket.create_connection((host, port), timeout=timeout) as sock:
        sock.settimeout(timeout)
        sock.sendall(msg)
        length, _, response_to, opcode = struct.unpack("<iiii", recv_exact(sock, 16))
        payload = recv_exact(sock, length - 16)
    if opcode != OP_MSG or response_to != request_id:
        raise ValueError(f"unexpected reply: opCode {opcode}, responseTo {response_to}")
    if payload[4] != 0:
        raise ValueError(f"unexpected first section kind {payload[4]}")
    return bson_top_level(payload[5:])


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=27017)
    ap.add_argument("--timeout", type=float, default=3.0)
    ap.add_argument("-q", "--quiet", action="store_true")
    args = ap.parse_args()
    try:
        reply = ping(args.host, args.port, args.timeout)
    except (OSError, ValueError, struct.error) as e:
        if not args.quiet:
            print(f"ping {args.host}:{args.port} failed: {e}", file=sys.stderr)
        return 1
    ok = reply.get("ok") == 1
    if not args.quiet:
        print(f"{args.host}:{args.port} {'ok' if ok else 'NOT ok'}: {reply}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
