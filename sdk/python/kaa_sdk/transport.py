"""Talking to one server: a Kaatcp channel (CONNECT with the first request, then requests,
answers, pushes and pings over one TCP connection, encrypted under a session key) and one HTTP
sync (``POST /BS/Sync``, ``/EP/Sync`` or ``/EP/LongSync`` with Kaa's multipart body).

Both raise only :mod:`kaa_sdk.errors` exceptions, naming the server.
"""

import base64
import http.client
import os
import socket
import ssl
import time

from . import kaatcp
from .avro import AvroError
from .crypto import SessionKey, load_public_key, verify
from .errors import KeysError, ProtocolError, RefusedError, UnreachableError
from .protocol import PROTOCOL_AVRO_V2, decode_response, encode_request


def _wrap(server_key_der, keys, sign, what):
    """A fresh session key, wrapped for the server, and the endpoint's signature of it."""
    server_key = load_public_key(server_key_der, what)
    session = SessionKey()
    try:
        wrapped = session.wrap(server_key)
        signature = keys.sign(wrapped) if sign else None
    except ValueError as error:
        raise KeysError(f"{what}: {error}") from None
    return server_key, session, wrapped, signature


def _open(session, payload, address):
    try:
        plain = session.decrypt(payload)
    except ValueError as error:
        raise ProtocolError(f"{address}: the answer does not decrypt: {error}") from None
    try:
        return decode_response(plain)
    except AvroError as error:
        raise ProtocolError(f"{address}: the answer is not a SyncResponse: {error}") from None


class TcpChannel:
    """One open Kaatcp connection to ``host:port``."""

    def __init__(self, sock, address, session, timeout):
        self.sock = sock
        self.address = address
        self.session = session
        self.timeout = timeout
        self.decoder = kaatcp.Decoder()
        #: When the server was last heard from (``time.monotonic()``).
        self.last_heard = time.monotonic()

    @classmethod
    def open(cls, host, port, server_key_der, keys, keep_alive, first, timeout, tls=None):
        """Connects (over TLS with the ``ssl.SSLContext`` ``tls``, checking the certificate
        against ``host``), sends CONNECT with ``first`` (a ``SyncRequest``) and returns the
        channel and the server's answer."""
        address = f"{host}:{port}"
        _, session, wrapped, signature = _wrap(server_key_der, keys, True, f"the public key of {address}")
        try:
            sock = socket.create_connection((host, port), timeout=timeout)
        except socket.timeout:
            raise UnreachableError(f"{address}: connection timed out") from None
        except OSError as error:
            raise UnreachableError(f"{address}: {error.strerror or error}") from None
        if tls is not None:
            try:
                sock = tls.wrap_socket(sock, server_hostname=host)
            except (ssl.SSLError, ssl.CertificateError, OSError) as error:
                sock.close()
                raise UnreachableError(f"{address}: TLS handshake failed: {error}") from None
        channel = cls(sock, address, session, timeout)
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            payload = session.encrypt(encode_request(first))
            channel._write(kaatcp.connect(payload, wrapped, signature, keep_alive, PROTOCOL_AVRO_V2))
            deadline = time.monotonic() + timeout
            frame = channel._read_frame(deadline)
            if frame.kind != kaatcp.CONNACK:
                raise ProtocolError(f"{address}: expected CONNACK, got frame type {frame.kind}")
            if frame.code != 1:
                meaning = kaatcp.CONNACK_CODES.get(frame.code, "unknown code")
                raise RefusedError(f"{address} refused the connection: CONNACK {frame.code:#04x} ({meaning})")
            frame = channel._read_frame(deadline)
            if frame.kind != kaatcp.KAASYNC:
                raise ProtocolError(f"{address}: expected KAASYNC, got frame type {frame.kind}")
            return channel, _open(session, frame.payload, address)
        except BaseException:
            channel.abort()
            raise

    def fileno(self):
        return self.sock.fileno()

    def send(self, request):
        self._write(kaatcp.kaasync(self.session.encrypt(encode_request(request)), True))

    def ping(self):
        self._write(kaatcp.pingreq())

    def receive(self):
        """Reads what the socket holds (call when it is readable) and returns the answers and
        pushes that are complete."""
        self._fill(time.monotonic() + 5)
        responses = []
        while True:
            frame = self._next_frame()
            if frame is None:
                return responses
            responses.extend(self._response(frame))

    def close(self):
        """Says goodbye (DISCONNECT NONE) and closes."""
        try:
            self.sock.sendall(kaatcp.disconnect(0))
        except OSError:
            pass
        self.abort()

    def abort(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def _response(self, frame):
        if frame.kind == kaatcp.KAASYNC:
            return [_open(self.session, frame.payload, self.address)]
        if frame.kind == kaatcp.PINGRESP:
            return []
        if frame.kind == kaatcp.DISCONNECT:
            reason = kaatcp.DISCONNECT_REASONS.get(frame.code, "unknown")
            raise RefusedError(f"{self.address} ended the session: DISCONNECT {frame.code} ({reason})")
        raise ProtocolError(f"{self.address}: unexpected frame type {frame.kind}")

    def _write(self, data):
        try:
            self.sock.settimeout(self.timeout)
            self.sock.sendall(data)
        except socket.timeout:
            raise UnreachableError(f"{self.address}: write timed out") from None
        except OSError as error:
            raise UnreachableError(f"{self.address}: {error.strerror or error}") from None

    def _next_frame(self):
        try:
            return self.decoder.next()
        except kaatcp.FrameError as error:
            raise ProtocolError(f"{self.address}: {error}") from None

    def _fill(self, deadline):
        remaining = max(deadline - time.monotonic(), 0.001)
        self.sock.settimeout(remaining)
        try:
            data = self.sock.recv(65536)
        except socket.timeout:
            raise UnreachableError(f"{self.address}: no answer in time") from None
        except OSError as error:
            raise UnreachableError(f"{self.address}: {error.strerror or error}") from None
        if not data:
            raise UnreachableError(f"{self.address} closed the connection")
        # TLS: bytes already decrypted wait in the socket, where select() does not see them.
        pending = getattr(self.sock, "pending", None)
        while pending is not None and pending():
            data += self.sock.recv(pending())
        self.last_heard = time.monotonic()
        self.decoder.feed(data)

    def _read_frame(self, deadline):
        while True:
            frame = self._next_frame()
            if frame is not None:
                return frame
            self._fill(deadline)


BOOTSTRAP = "/BS/Sync"
SYNC = "/EP/Sync"
LONG_SYNC = "/EP/LongSync"


def _multipart(boundary, parts):
    body = bytearray()
    for name, content in parts:
        if content is None:
            continue
        body += f"--{boundary}\r\n".encode()
        body += (
            f'Content-Disposition: form-data; name="{name}"\r\n'
            "Content-Type: application/octet-stream\r\n"
            "Content-Transfer-Encoding: binary\r\n\r\n"
        ).encode()
        body += content
        body += b"\r\n"
    body += f"--{boundary}--\r\n".encode()
    return bytes(body)


def http_sync(host, port, path, server_key_der, keys, request, timeout, opened=None, tls=None):
    """Sends ``request`` to ``http://host:port{path}`` (``https://`` with the ``ssl.SSLContext``
    ``tls``) and returns the decrypted answer; a bootstrap answer must carry the server's
    signature (``X-SIGNATURE``). ``opened`` is called with the connection once it exists (so
    another thread can cut a long poll short)."""
    address = f"{host}:{port}"
    bootstrap = path == BOOTSTRAP
    server_key, session, wrapped, signature = _wrap(
        server_key_der, keys, not bootstrap, f"the public key of {address}"
    )
    boundary = "kaa-python-sdk-" + os.urandom(8).hex()
    body = _multipart(
        boundary,
        [
            ("signature", signature),
            ("requestKey", wrapped),
            ("requestData", session.encrypt(encode_request(request))),
            ("nextProtocol", PROTOCOL_AVRO_V2.to_bytes(4, "big")),
        ],
    )
    if tls is None:
        connection = http.client.HTTPConnection(host, port, timeout=timeout)
    else:
        connection = http.client.HTTPSConnection(host, port, timeout=timeout, context=tls)
    if opened is not None:
        opened(connection)
    try:
        connection.request(
            "POST", path, body=body, headers={"Content-Type": f"multipart/form-data; boundary={boundary}"}
        )
        response = connection.getresponse()
        status = response.status
        server_signature = response.getheader("X-SIGNATURE")
        data = response.read()
    except socket.timeout:
        raise UnreachableError(f"{address}: no answer in time") from None
    except (OSError, http.client.HTTPException) as error:
        raise UnreachableError(f"{address}: {getattr(error, 'strerror', None) or error}") from None
    finally:
        connection.close()
    if status != 200:
        text = data[:200].decode("utf-8", "replace").strip()
        raise RefusedError(f"{address} answered HTTP {status}: {text}")
    try:
        plain = session.decrypt(data)
    except ValueError as error:
        raise ProtocolError(f"{address}: the answer does not decrypt: {error}") from None
    if bootstrap:
        try:
            signature = base64.b64decode(server_signature or "", validate=True)
        except ValueError:
            signature = b""
        if not signature or not verify(server_key, plain, signature):
            raise ProtocolError(f"{address}: the bootstrap answer is not signed by the server's key")
    try:
        return decode_response(plain)
    except AvroError as error:
        raise ProtocolError(f"{address}: the answer is not a SyncResponse: {error}") from None
