#!/usr/bin/env python3
"""Checks that a Cassandra node answers CQL, with nothing but the Python standard library.

    cql_ping.py [--host 127.0.0.1] [--port 9042] [--timeout 5] [--query CQL] [-q]

Speaks native protocol v4: STARTUP {CQL_VERSION: 3.0.0} must be answered by READY; then, with
--query, runs the statement at consistency ONE and prints the rows it returns, one per line,
columns separated by tabs. Exit status 0 when all went well, 1 otherwise (the reason on stderr).
"""
import argparse
import socket
import struct
import sys
import uuid

VERSION = 0x04  # request, protocol v4
OP_ERROR, OP_STARTUP, OP_READY, OP_AUTHENTICATE, OP_QUERY, OP_RESULT = 0x00, 0x01, 0x02, 0x03, 0x07, 0x08
CONSISTENCY_ONE = 0x0001
WARNINGS = []  # server warnings attached to responses


class CqlError(Exception):
    pass


def string(s):
    b = s.encode()
    return struct.pack(">H", len(b)) + b


def long_string(s):
    b = s.encode()
    return struct.pack(">i", len(b)) + b


def frame(stream, opcode, body):
    return struct.pack(">BBhBi", VERSION, 0, stream, opcode, len(body)) + body


def recv_exact(sock, n):
    buf = bytearray()
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise CqlError("connection closed by the server")
        buf += chunk
    return bytes(buf)


def request(sock, stream, opcode, body):
    sock.sendall(frame(stream, opcode, body))
    version, flags, rstream, ropcode, length = struct.unpack(">BBhBi", recv_exact(sock, 9))
    if version & 0x7F != VERSION & 0x7F or not version & 0x80:
        raise CqlError(f"unexpected response version byte 0x{version:02x}")
    if rstream != stream:
        raise CqlError(f"response to stream {rstream}, expected {stream}")
    body = recv_exact(sock, length)
    if flags & 0x01:
        raise CqlError("compressed response, but no compression was asked for")
    pos = 0
    if flags & 0x02:  # tracing: session id
        pos += 16
    if flags & 0x08:  # warnings: [string list]
        (n,) = struct.unpack_from(">H", body, pos)
        pos += 2
        for _ in range(n):
            w, pos = read_string(body, pos)
            WARNINGS.append(w)
    if flags & 0x04:  # custom payload: [bytes map]
        (n,) = struct.unpack_from(">H", body, pos)
        pos += 2
        for _ in range(n):
            _k, pos = read_string(body, pos)
            (m,) = struct.unpack_from(">i", body, pos)
            pos += 4 + max(m, 0)
    body = body[pos:]
    if ropcode == OP_ERROR:
        code = struct.unpack_from(">i", body, 0)[0]
        msg, _ = read_string(body, 4)
        raise CqlError(f"server error 0x{code:04x}: {msg}")
    return ropcode, body


def read_string(b, pos):
    (n,) = struct.unpack_from(">H", b, pos)
    return b[pos + 2:pos + 2 + n].decode(errors="replace"), pos + 2 + n


def read_type(b, pos):
    """Returns (type descriptor, new position); the descriptor is the option id plus any sub-types."""
    (tid,) = struct.unpack_from(">H", b, pos)
    pos += 2
    if tid == 0x0000:  # custom
        name, pos = read_string(b, pos)
        return ("custom", name), pos
    if tid in (0x0020, 0x0022):  # list, set
        sub, pos = read_type(b, pos)
        return (tid, sub), pos
    if tid == 0x0021:  # map
        k, pos = read_type(b, pos)
        v, pos = read_type(b, pos)
        return (tid, k, v), pos
    if tid == 0x0030:  # udt
        _ks, pos = read_string(b, pos)
        _name, pos = read_string(b, pos)
        (n,) = struct.unpack_from(">H", b, pos)
        pos += 2
        for _ in range(n):
            _field, pos = read_string(b, pos)
            _t, pos = read_type(b, pos)
        return (tid,), pos
    if tid == 0x0031:  # tuple
        (n,) = struct.unpack_from(">H", b, pos)
        pos += 2
        for _ in range(n):
            _t, pos = read_type(b, pos)
        return (tid,), pos
    return (tid,), pos


def decode(t, v):
    if v is None:
        return "null"
    tid = t[0]
    if tid in (0x0001, 0x000D):  # ascii, varchar
        return v.decode(errors="replace")
    if tid == 0x0009 and len(v) == 4:  # int
        return str(struct.unpack(">i", v)[0])
    if tid in (0x0002, 0x0005) and len(v) == 8:  # bigint, counter
        return str(struct.unpack(">q", v)[0])
    if tid == 0x0004 and len(v) == 1:  # boolean
        return "true" if v[0] else "false"
    if tid in (0x000C, 0x000F) and len(v) == 16:  # uuid, timeuuid
        return str(uuid.UUID(bytes=v))
    if tid == 0x0010 and len(v) in (4, 16):  # inet
        return socket.inet_ntop(socket.AF_INET if len(v) == 4 else socket.AF_INET6, v)
    if tid in (0x0020, 0x0021, 0x0022):  # list, map, set: [int n] then [bytes] elements
        (n,) = struct.unpack_from(">i", v, 0)
        pos, items = 4, []
        for _ in range(n * (2 if tid == 0x0021 else 1)):
            (m,) = struct.unpack_from(">i", v, pos)
            items.append(None if m < 0 else v[pos + 4:pos + 4 + m])
            pos += 4 + max(m, 0)
        if tid == 0x0021:
            pairs = zip(items[0::2], items[1::2])
            return "{" + ", ".join(f"{decode(t[1], k)}: {decode(t[2], x)}" for k, x in pairs) + "}"
        inner = ", ".join(decode(t[1], x) for x in items)
        return f"[{inner}]" if tid == 0x0020 else "{" + inner + "}"
    return "0x" + v.hex()


def parse_rows(b):
    (kind,) = struct.unpack_from(">i", b, 0)
    if kind != 0x0002:  # Void, Set_keyspace, Schema_change...
        return None
    pos = 4
    flags, ncols = struct.unpack_from(">ii", b, pos)
    pos += 8
    if flags & 0x0002:  # has_more_pages: paging state follows
        (n,) = struct.unpack_from(">i", b, pos)
        pos += 4 + max(n, 0)
    types = []
    if not flags & 0x0004:  # metadata present
        if flags & 0x0001:  # global table spec
            _ks, pos = read_string(b, pos)
            _tbl, pos = read_string(b, pos)
        for _ in range(ncols):
            if not flags & 0x0001:
                _ks, pos = read_string(b, pos)
                _tbl, pos = read_string(b, pos)
            _name, pos = read_string(b, pos)
            t, pos = read_type(b, pos)
            types.append(t)
    (nrows,) = struct.unpack_from(">i", b, pos)
    pos += 4
    rows = []
    for _ in range(nrows):
        row = []
        for i in range(ncols):
            (n,) = struct.unpack_from(">i", b, pos)
            pos += 4
            v = None if n < 0 else b[pos:pos + n]
            pos += max(n, 0)
            row.append(decode(types[i] if i < len(types) else (None,), v))
        rows.append(row)
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=9042)
    ap.add_argument("--timeout", type=float, default=5.0)
    ap.add_argument("--query", help="CQL statement to run after STARTUP; its rows are printed")
    ap.add_argument("-q", "--quiet", action="store_true", help="print nothing, only set the exit status")
    a = ap.parse_args()
    try:
        with socket.create_connection((a.host, a.port), timeout=a.timeout) as sock:
            sock.settimeout(a.timeout)
            op, _ = request(sock, 1, OP_STARTUP, struct.pack(">H", 1) + string("CQL_VERSION") + string("3.0.0"))
            if op == OP_AUTHENTICATE:
                raise CqlError("server wants authentication (cql_ping.py only talks to AllowAllAuthenticator)")
            if op != OP_READY:
                raise CqlError(f"STARTUP answered with opcode 0x{op:02x}, expected READY")
            if a.query is None:
                if not a.quiet:
                    print("READY")
                return 0
            body = long_string(a.query) + struct.pack(">HB", CONSISTENCY_ONE, 0)
            op, res = request(sock, 2, OP_QUERY, body)
            if op != OP_RESULT:
                raise CqlError(f"QUERY answered with opcode 0x{op:02x}, expected RESULT")
            rows = parse_rows(res)
            if not a.quiet:
                for w in WARNINGS:
                    print(f"cql_ping: warning: {w}", file=sys.stderr)
            if not a.quiet and rows is not None:
                for row in rows:
                    print("\t".join(row))
            return 0
    except (OSError, CqlError, struct.error) as e:
        if not a.quiet:
            print(f"cql_ping: {a.host}:{a.port}: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
