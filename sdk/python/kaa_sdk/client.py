"""The endpoint client: bootstrap, connect, register, keep the session, hand what the server
sends to the application's callbacks, upload logs, and fail over.

:meth:`KaaClient.start` starts one background thread that owns the connection. It asks the
Bootstrap servers of the baked-in list in turn (over Kaatcp or HTTP) for the live Operations
servers, then opens a session with the first of them that speaks the chosen transport. Each
session starts with a full request (public key and profile, configuration hash, topic list hash
and sequence numbers), so a reconnect to another server resumes where the last one stopped.
When a session fails the client reports the error, waits (1 s, doubling up to 30 s while
nothing works) and moves on to the next Operations server, bootstrapping again when the list
is used up.

Callbacks run on the client's thread; an exception in one is logged and swallowed. Every
failure reaches ``on_error`` as a sentence naming the server; the client never stops on its
own.

State kept in ``state_dir``: the endpoint's keys (``key.private``, ``key.public``), the last
configuration (``configuration``, Avro binary), topic sequence numbers (``topics.json``) and
the log buffer (``logs/``).
"""

import base64
import binascii
import json
import logging
import os
import select
import socket
import threading
import time

from .crypto import EndpointKeys
from .errors import KaaError, KeysError, ProtocolError, RedirectedError, RefusedError, UnreachableError
from .logs import LogBuffer, Uploader
from .owner import Pending
from .protocol import (
    TRANSPORT_HTTP_ID,
    TRANSPORT_TCP_ID,
    TRANSPORT_VERSION,
    BootstrapSyncRequest,
    ConfigurationSyncRequest,
    ConnectionInfo,
    EventSequenceNumberRequest,
    EventSyncRequest,
    NotificationSyncRequest,
    ProfileSyncRequest,
    ProtocolVersionPair,
    SubscriptionCommand,
    SubscriptionCommandType,
    SyncRequest,
    SyncRequestMetaData,
    SyncResponseResultType,
    SyncResponseStatus,
    TopicState,
    sha1,
    topic_list_hash,
)
from .avro import AvroError
from .transport import BOOTSTRAP, LONG_SYNC, SYNC, TcpChannel, http_sync

log = logging.getLogger("kaa_sdk")


class BootstrapServer:
    """A Bootstrap server of the baked-in list: host, Kaatcp and HTTP ports (``None`` when it
    does not serve one) and its public key (X.509 DER, or base64 of it)."""

    def __init__(self, host, tcp_port=None, http_port=None, public_key=b""):
        self.host = host
        self.tcp_port = tcp_port
        self.http_port = http_port
        self.public_key = public_key

    def key_der(self):
        """The public key's DER; :class:`KeysError` when the base64 is damaged."""
        if isinstance(self.public_key, (bytes, bytearray)):
            return bytes(self.public_key)
        try:
            return base64.b64decode(self.public_key, validate=True)
        except (binascii.Error, ValueError) as error:
            raise KeysError(
                f"public key of bootstrap server {self.host} is not valid base64: {error}"
            ) from None

    def __repr__(self):
        return f"BootstrapServer({self.host!r}, tcp_port={self.tcp_port}, http_port={self.http_port})"


class OperationsServer:
    """One transport of an Operations node, as a bootstrap answer lists it."""

    def __init__(self, access_point_id, transport, host, port, public_key):
        self.access_point_id = access_point_id
        self.transport = transport
        self.host = host
        self.port = port
        self.public_key = public_key

    @property
    def address(self):
        return f"{self.host}:{self.port}"

    def __repr__(self):
        return f"OperationsServer({self.transport} {self.address})"


class Topic:
    """A notification topic the endpoint may receive."""

    def __init__(self, topic_id, name, mandatory):
        self.id = topic_id
        self.name = name
        self.mandatory = mandatory

    def __repr__(self):
        return f"Topic({self.id}, {self.name!r}, mandatory={self.mandatory})"


def _to_bytes(value):
    if value is None:
        return b""
    if isinstance(value, (bytes, bytearray)):
        return bytes(value)
    return value.to_bytes()


class KaaClient:
    """A Kaa endpoint.

    ``profile`` is the client profile (a generated record or Avro bytes). The ``*_type``
    arguments are the generated classes of the configuration and notification schemas: the
    callbacks then receive typed values (without them, Avro bytes). Callbacks:

    - ``on_configuration(configuration)``: a configuration arrived from the server;
    - ``on_notification(topic_id, notification)``;
    - ``on_topics(topics)``: the list of available topics changed;
    - ``on_logs_delivered(first_id, last_id)``: the server stored records ``first..last``;
    - ``on_logs_failed(first_id, last_id, reason)``: it did not; they are sent again;
    - ``on_connected(address)`` / ``on_disconnected(address, reason)``;
    - ``on_error(message)``: anything that went wrong (the client retries by itself);
    - owners and events (see :meth:`attach_to_owner`, :meth:`send_event`):
      ``on_owner_attached(user_external_id)``, ``on_owner_attach_failed(code, reason)``,
      ``on_attached_by_endpoint(user_external_id, by_access_token)``,
      ``on_detached_by_endpoint(by_access_token)``,
      ``on_endpoint_attached(request_id, key_hash, success)``,
      ``on_endpoint_detached(request_id, success)``,
      ``on_listeners(request_id, key_hashes, success)``, ``on_event(fqn, event, source)``
      (``event`` typed when ``event_classes`` maps its class name to a generated class).

    ``tls`` (an ``ssl.SSLContext``) puts TLS under the sessions with Operations servers (Kaatcp
    and HTTP), for clusters whose Operations transports require it; ``bootstrap_tls`` does the
    same for Bootstrap servers. The certificate must name the host the server is reached at.

    ``access_token`` is the endpoint's access token, by which an owner's other endpoints attach
    it (:meth:`attach_endpoint`); ``default_verifier_token`` the user verifier
    :meth:`attach_to_owner` uses unless told otherwise.
    """

    def __init__(
        self,
        sdk_token,
        bootstrap_servers,
        state_dir,
        profile=None,
        *,
        transport="tcp",
        configuration_type=None,
        notification_type=None,
        event_classes=None,
        default_configuration=None,
        access_token=None,
        default_verifier_token=None,
        tls=None,
        bootstrap_tls=None,
        on_configuration=None,
        on_notification=None,
        on_topics=None,
        on_logs_delivered=None,
        on_logs_failed=None,
        on_connected=None,
        on_disconnected=None,
        on_error=None,
        on_owner_attached=None,
        on_owner_attach_failed=None,
        on_attached_by_endpoint=None,
        on_detached_by_endpoint=None,
        on_endpoint_attached=None,
        on_endpoint_detached=None,
        on_listeners=None,
        on_event=None,
        timeout=10.0,
        retry_delay=1.0,
        max_retry_delay=30.0,
        keep_alive=200,
        long_poll=5.0,
        log_batch_records=256,
        log_buffer_records=100_000,
        delivery_timeout=30.0,
    ):
        if transport not in ("tcp", "http"):
            raise ValueError(f"transport {transport!r} is neither 'tcp' nor 'http'")
        self.sdk_token = sdk_token
        self.bootstrap_servers = list(bootstrap_servers)
        self.state_dir = state_dir
        self.transport = transport
        self.configuration_type = configuration_type
        self.notification_type = notification_type
        self.callbacks = {
            "configuration": on_configuration,
            "notification": on_notification,
            "topics": on_topics,
            "logs_delivered": on_logs_delivered,
            "logs_failed": on_logs_failed,
            "connected": on_connected,
            "disconnected": on_disconnected,
            "error": on_error,
            "owner_attached": on_owner_attached,
            "owner_attach_failed": on_owner_attach_failed,
            "attached_by_endpoint": on_attached_by_endpoint,
            "detached_by_endpoint": on_detached_by_endpoint,
            "endpoint_attached": on_endpoint_attached,
            "endpoint_detached": on_endpoint_detached,
            "listeners": on_listeners,
            "event": on_event,
        }
        self.event_classes = dict(event_classes or {})
        self.tls = tls
        self.bootstrap_tls = bootstrap_tls
        self.access_token = access_token
        self.default_verifier_token = default_verifier_token
        self.owner = Pending()
        self.timeout = timeout
        self.retry_delay = retry_delay
        self.max_retry_delay = max_retry_delay
        self.keep_alive = keep_alive
        self.long_poll = long_poll
        os.makedirs(state_dir, exist_ok=True)
        self.keys = EndpointKeys.load_or_create(state_dir)
        self.logs = LogBuffer(os.path.join(state_dir, "logs"), log_buffer_records, log_batch_records)
        self.uploader = Uploader(self.logs, delivery_timeout, retry_delay)
        self._profile = _to_bytes(profile)
        self._lock = threading.Lock()
        self._commands = []
        self._stopping = threading.Event()
        self._wake_read, self._wake_write = socket.socketpair()
        self._wake_read.setblocking(False)
        self._wake_write.setblocking(False)
        self._thread = None
        self._http_connection = None
        self._request_id = 0
        self._accepted_unicasts = []
        self._configuration_bytes = None
        self._configuration_hash = b""
        self.stored_configuration = None
        self._load_configuration(default_configuration)
        self._topic_states, self._topic_list_hash = self._load_topics()

    # --- the application's side -------------------------------------------------------------

    @property
    def key_hash(self):
        """The endpoint's key hash (20 bytes): its identity on the server."""
        return self.keys.key_hash

    @property
    def configuration(self):
        """The current configuration: the last one received (kept across restarts), else the
        default one; typed when a ``configuration_type`` was given; ``None`` without either."""
        return self._decode_configuration(self._configuration_bytes)

    def start(self):
        """Starts connecting in the background."""
        if self._thread is not None:
            raise KaaError("the client was started already")
        self._thread = threading.Thread(target=self._main, name="kaa-client", daemon=True)
        self._thread.start()

    def stop(self, timeout=10.0):
        """Closes the session (DISCONNECT) and stops the background thread."""
        self._stopping.set()
        self._wake()
        connection = self._http_connection
        if connection is not None and connection.sock is not None:
            try:
                connection.sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        if self._thread is None:
            self._release()
        elif self._thread is not threading.current_thread():
            self._thread.join(timeout)

    def _main(self):
        try:
            self._run()
        finally:
            self._release()

    def _release(self):
        """Closes the log buffer and the wake-up sockets (the session's thread is done)."""
        self.logs.close()
        self._wake_read.close()
        self._wake_write.close()

    def log(self, record):
        """Stores a log record (a generated record of the log schema, or Avro bytes) in the
        persistent buffer and returns its id; ``on_logs_delivered`` reports it later. Raises
        :class:`kaa_sdk.logs.LogBufferFull` when the buffer is full."""
        if self._stopping.is_set():
            raise KaaError("the client has stopped")
        record_id = self.logs.append(_to_bytes(record))
        self._wake()
        return record_id

    def subscribe(self, topic_id):
        """Subscribes to an optional topic."""
        self._command(("subscribe", topic_id))

    def unsubscribe(self, topic_id):
        """Unsubscribes from an optional topic."""
        self._command(("unsubscribe", topic_id))

    def set_profile(self, profile):
        """Replaces the client profile and sends it."""
        self._command(("profile", _to_bytes(profile)))

    def attach_to_owner(self, user_external_id, user_access_token, verifier_token=None):
        """Attaches this endpoint to owner ``user_external_id``, proven by ``user_access_token``
        through the user verifier ``verifier_token`` (default: the SDK profile's); the answer
        comes as ``on_owner_attached`` or ``on_owner_attach_failed``."""
        verifier = verifier_token or self.default_verifier_token or ""
        self.owner.attach_to_owner(verifier, user_external_id, user_access_token)
        self._wake()

    def attach_endpoint(self, access_token):
        """Attaches the endpoint with ``access_token`` to this endpoint's owner; returns the
        request id ``on_endpoint_attached`` answers."""
        request_id = self.owner.attach_endpoint(access_token)
        self._wake()
        return request_id

    def detach_endpoint(self, key_hash):
        """Detaches the endpoint with ``key_hash`` (base64) from this endpoint's owner; returns
        the request id ``on_endpoint_detached`` answers."""
        request_id = self.owner.detach_endpoint(key_hash)
        self._wake()
        return request_id

    def find_listeners(self, classes):
        """Asks which endpoints of the owner receive every one of ``classes`` (generated event
        classes or their full names); returns the request id ``on_listeners`` answers."""
        fqns = [c if isinstance(c, str) else c._avro_name for c in classes]
        request_id = self.owner.find_listeners(fqns)
        self._wake()
        return request_id

    def send_event(self, event, target=None):
        """Sends ``event`` (a generated event class) to the endpoint with key hash ``target``
        (base64) or, without one, to every other endpoint of the owner that receives its
        class. Events go in order, at least once."""
        self.owner.send_event(type(event)._avro_name, _to_bytes(event), target)
        self._wake()

    # --- state kept across restarts ---------------------------------------------------------

    def _load_configuration(self, default_configuration):
        path = os.path.join(self.state_dir, "configuration")
        if os.path.exists(path):
            with open(path, "rb") as file:
                body = file.read()
            try:
                self.stored_configuration = self._decode_configuration(body)
                self._configuration_bytes = body
                self._configuration_hash = sha1(body)
                return
            except AvroError as error:
                log.warning("ignoring the stored configuration: %s", error)
        if default_configuration is not None:
            self._configuration_bytes = _to_bytes(default_configuration)

    def _decode_configuration(self, body):
        if body is None or self.configuration_type is None:
            return body
        return self.configuration_type.from_bytes(body)

    def _store_configuration(self, body):
        path = os.path.join(self.state_dir, "configuration")
        with open(path + ".tmp", "wb") as file:
            file.write(body)
        os.replace(path + ".tmp", path)

    def _load_topics(self):
        path = os.path.join(self.state_dir, "topics.json")
        try:
            with open(path) as file:
                stored = json.load(file)
            states = {int(k): int(v) for k, v in stored.get("states", {}).items()}
            return states, int(stored.get("list_hash", 0))
        except (OSError, ValueError, AttributeError):
            return {}, 0

    def _store_topics(self):
        path = os.path.join(self.state_dir, "topics.json")
        with open(path + ".tmp", "w") as file:
            json.dump(
                {
                    "states": {str(k): v for k, v in self._topic_states.items()},
                    "list_hash": self._topic_list_hash,
                },
                file,
            )
        os.replace(path + ".tmp", path)

    # --- plumbing ---------------------------------------------------------------------------

    def _command(self, command):
        with self._lock:
            self._commands.append(command)
        self._wake()

    def _wake(self):
        try:
            self._wake_write.send(b"\0")
        except OSError:
            pass

    def _drain_wake(self):
        try:
            while self._wake_read.recv(4096):
                pass
        except OSError:
            pass

    def _call(self, name, *args):
        callback = self.callbacks.get(name)
        if callback is None:
            return
        try:
            callback(*args)
        except Exception:  # noqa: BLE001 - an application bug must not stop the client
            log.exception("the %s callback failed", name)

    def _error(self, message):
        if self.callbacks["error"] is None:
            log.warning("%s", message)
        else:
            log.debug("%s", message)
            self._call("error", message)

    def _pause(self, seconds):
        """Waits ``seconds``; true when the client was stopped meanwhile."""
        return self._stopping.wait(seconds)

    # --- the background thread --------------------------------------------------------------

    def _run(self):
        delay = self.retry_delay
        while not self._stopping.is_set():
            try:
                servers = self._bootstrap()
            except Exception as error:  # noqa: BLE001 - report, never die
                self._error(f"bootstrap failed: {error}")
                servers = []
            candidates = [s for s in servers if s.transport == self.transport]
            if servers and not candidates:
                self._error(f"the bootstrap answer lists no {self.transport} Operations server")
            # Without a session to try, pause before bootstrapping again (sessions pause after
            # each failure themselves).
            tried = bool(candidates)
            redirects = 0
            while candidates and not self._stopping.is_set():
                server = candidates.pop(0)
                self._session_up = False
                try:
                    if self.transport == "tcp":
                        self._tcp_session(server)
                    else:
                        self._http_session(server)
                    return
                except RedirectedError as error:
                    target = next(
                        (
                            s
                            for s in servers
                            if s.transport == self.transport and s.access_point_id == error.access_point_id
                        ),
                        None,
                    )
                    if target is not None and redirects < len(servers):
                        redirects += 1
                        candidates.insert(0, target)
                        continue
                    self._error(f"Operations server {server.address} {error}, not in the bootstrap answer")
                except RefusedError as error:
                    self._session_failed(server, f"{error} (SDK token {self.sdk_token})")
                except KaaError as error:
                    self._session_failed(server, str(error))
                except Exception as error:  # noqa: BLE001 - report, never die
                    log.exception("session with %s failed", server.address)
                    self._session_failed(server, f"{type(error).__name__}: {error}")
                if self._session_up:
                    delay = self.retry_delay
                if self._pause(delay):
                    return
                delay = min(delay * 2, self.max_retry_delay)
            if self._stopping.is_set():
                return
            if not tried:
                if self._pause(delay):
                    return
                delay = min(delay * 2, self.max_retry_delay)

    def _track_http(self, connection):
        """Keeps the HTTP exchange in flight, so :meth:`stop` can cut a long poll short."""
        self._http_connection = connection

    def _session_failed(self, server, reason):
        if self._stopping.is_set():
            return
        if self._session_up:
            self._call("disconnected", server.address, reason)
        self._error(f"Operations session: {reason}")

    def _bootstrap(self):
        """The Operations servers, from the first Bootstrap server that answers."""
        if not self.bootstrap_servers:
            self._error("no bootstrap server is configured")
            return []
        for server in self.bootstrap_servers:
            if self._stopping.is_set():
                return []
            port = server.tcp_port if self.transport == "tcp" else server.http_port
            if port is None:
                port = server.http_port if self.transport == "tcp" else server.tcp_port
            via = "tcp" if port == server.tcp_port else "http"
            where = f"bootstrap server {server.host}:{port}"
            try:
                key = server.key_der()
                request = self._bootstrap_request()
                if via == "tcp":
                    channel, response = TcpChannel.open(
                        server.host, port, key, self.keys, 60, request, self.timeout, self.bootstrap_tls
                    )
                    channel.close()
                else:
                    response = http_sync(
                        server.host,
                        port,
                        BOOTSTRAP,
                        key,
                        self.keys,
                        request,
                        self.timeout,
                        tls=self.bootstrap_tls,
                    )
                servers = self._operations_servers(response)
            except KeysError as error:
                self._error(f"{where}: bad public key: {error}")
                continue
            except RefusedError as error:
                self._error(f"bootstrap: {error} (SDK token {self.sdk_token})")
                continue
            except KaaError as error:
                self._error(f"bootstrap: {error}")
                continue
            if not servers:
                self._error(f"{where} lists no Operations server")
                continue
            log.info("bootstrap from %s: %s", where, servers)
            return servers
        return []

    def _bootstrap_request(self):
        return SyncRequest(
            request_id=1,
            sync_request_meta_data=SyncRequestMetaData(sdk_token=self.sdk_token),
            bootstrap_sync_request=BootstrapSyncRequest(
                request_id=1,
                supported_protocols=[
                    ProtocolVersionPair(id=TRANSPORT_HTTP_ID, version=TRANSPORT_VERSION),
                    ProtocolVersionPair(id=TRANSPORT_TCP_ID, version=TRANSPORT_VERSION),
                ],
            ),
        )

    @staticmethod
    def _operations_servers(response):
        answer = response.bootstrap_sync_response
        if answer is None:
            if response.status != SyncResponseResultType.SUCCESS:
                raise RefusedError(f"bootstrap sync status {response.status.name}")
            raise ProtocolError("the bootstrap answer has no bootstrap section")
        servers = []
        for entry in answer.supported_protocols:
            transport = {TRANSPORT_TCP_ID: "tcp", TRANSPORT_HTTP_ID: "http"}.get(
                entry.protocol_version_info.id
            )
            if transport is None:
                continue
            try:
                info = ConnectionInfo.decode(entry.connection_info)
            except AvroError as error:
                raise ProtocolError(f"bootstrap answer: {error}") from None
            servers.append(
                OperationsServer(entry.access_point_id, transport, info.host, info.port, info.public_key)
            )
        return servers

    _session_up = False

    # --- requests ---------------------------------------------------------------------------

    def _next_request_id(self):
        self._request_id = (self._request_id + 1) & 0x7FFFFFFF
        return self._request_id

    def _meta(self, timeout=None):
        return SyncRequestMetaData(
            sdk_token=self.sdk_token,
            endpoint_public_key_hash=self.keys.key_hash,
            profile_hash=sha1(self._profile),
            timeout=int((timeout if timeout is not None else self.timeout) * 1000),
        )

    def _notification_request(self, commands=()):
        accepted, self._accepted_unicasts = self._accepted_unicasts, []
        return NotificationSyncRequest(
            topic_list_hash=self._topic_list_hash,
            topic_states=[
                TopicState(topic_id=k, seq_number=v) for k, v in sorted(self._topic_states.items())
            ],
            accepted_unicast_notifications=accepted,
            subscription_commands=list(commands),
        )

    def _configuration_request(self):
        return ConfigurationSyncRequest(configuration_hash=self._configuration_hash, resync_only=True)

    def _full_request(self):
        """The first request of a session: every section, as Kaa's Java SDK sends it."""
        return SyncRequest(
            request_id=self._next_request_id(),
            sync_request_meta_data=self._meta(),
            profile_sync_request=ProfileSyncRequest(
                endpoint_public_key=self.keys.public_der,
                profile_body=self._profile,
                endpoint_access_token=self.access_token,
            ),
            configuration_sync_request=self._configuration_request(),
            notification_sync_request=self._notification_request(),
            event_sync_request=EventSyncRequest(event_sequence_number_request=EventSequenceNumberRequest()),
        )

    def _poll_request(self):
        """An HTTP long poll: what the endpoint holds, so the server answers when it changes."""
        return SyncRequest(
            request_id=self._next_request_id(),
            sync_request_meta_data=self._meta(self.long_poll),
            configuration_sync_request=self._configuration_request(),
            notification_sync_request=self._notification_request(),
        )

    def _work_request(self):
        """A request with what is due: the next log batch, the owner and event work the
        application queued; ``None`` when nothing is."""
        logs = self.uploader.next()
        sections = self.owner.sections((self._request_id + 1) & 0x7FFFFFFF)
        if logs is None and sections is None:
            return None
        user, events = sections or (None, None)
        return SyncRequest(
            request_id=self._next_request_id(),
            sync_request_meta_data=self._meta(),
            user_sync_request=user,
            event_sync_request=events,
            log_sync_request=logs,
        )

    def _command_requests(self):
        with self._lock:
            commands, self._commands = self._commands, []
        requests = []
        for kind, value in commands:
            if kind == "profile":
                self._profile = value
                requests.append(
                    SyncRequest(
                        request_id=self._next_request_id(),
                        sync_request_meta_data=self._meta(),
                        profile_sync_request=ProfileSyncRequest(profile_body=value),
                        configuration_sync_request=self._configuration_request(),
                    )
                )
            else:
                command = SubscriptionCommand(
                    topic_id=value,
                    command=(
                        SubscriptionCommandType.ADD if kind == "subscribe" else SubscriptionCommandType.REMOVE
                    ),
                )
                requests.append(
                    SyncRequest(
                        request_id=self._next_request_id(),
                        sync_request_meta_data=self._meta(),
                        notification_sync_request=self._notification_request([command]),
                    )
                )
        return requests

    def _due_requests(self):
        """What the application queued and the next log batch."""
        requests = self._command_requests()
        work = self._work_request()
        if work is not None:
            requests.append(work)
        return requests

    def _log_deadline(self):
        deadline = self.uploader.deadline()
        if deadline is not None and deadline <= time.monotonic():
            failed = self.uploader.on_deadline()
            if failed is not None:
                first, last, _ = failed
                self._error(f"log records {first}..{last} got no delivery status in time; sending them again")
                self._call("logs_failed", first, last, "timeout")

    # --- responses --------------------------------------------------------------------------

    def _absorb(self, response):
        """Takes in a response; returns the follow-up requests."""
        if response.status == SyncResponseResultType.PROFILE_RESYNC:
            return [self._full_request()]
        if response.status == SyncResponseResultType.FAILURE:
            raise RefusedError("the server answered the sync with FAILURE")
        if response.status == SyncResponseResultType.REDIRECT:
            if response.redirect_sync_response is None:
                raise ProtocolError("REDIRECT without an access point")
            raise RedirectedError(response.redirect_sync_response.access_point_id)
        logs = response.log_sync_response
        if logs is not None and logs.delivery_statuses:
            for delivered, first, last, code in self.uploader.on_statuses(logs.delivery_statuses):
                if delivered:
                    self._call("logs_delivered", first, last)
                else:
                    reason = code.name if code is not None else "FAILURE"
                    self._error(
                        f"the server did not store log records {first}..{last}: {reason}; sending them again"
                    )
                    self._call("logs_failed", first, last, reason)
        for name, args in self.owner.absorb(
            response.request_id, response.user_sync_response, response.event_sync_response
        ):
            if name == "event":
                fqn, data, source = args
                cls = self.event_classes.get(fqn)
                if cls is not None:
                    try:
                        data = cls.from_bytes(data)
                    except AvroError as error:
                        self._error(f"an event {fqn} from {source} does not decode: {error}")
                        continue
                args = (fqn, data, source)
            elif name == "owner_attach_failed":
                self._error(f"attaching to the owner failed: {args[0]} {args[1]}".rstrip())
            self._call(name, *args)
        configuration = response.configuration_sync_response
        if (
            configuration is not None
            and configuration.response_status != SyncResponseStatus.NO_DELTA
            and configuration.conf_delta_body is not None
        ):
            body = configuration.conf_delta_body
            try:
                typed = self._decode_configuration(body)
            except AvroError as error:
                self._error(f"a configuration from the server does not decode: {error}")
            else:
                self._configuration_bytes = body
                self._configuration_hash = sha1(body)
                self._store_configuration(body)
                self._call("configuration", typed)
        notifications = response.notification_sync_response
        if notifications is not None:
            if notifications.available_topics is not None:
                topics = notifications.available_topics
                self._topic_list_hash = topic_list_hash(t.id for t in topics)
                self._store_topics()
                self._call(
                    "topics",
                    [
                        Topic(t.id, t.name, t.subscription_type.name == "MANDATORY_SUBSCRIPTION")
                        for t in topics
                    ],
                )
            changed = False
            for notification in notifications.notifications or []:
                if notification.seq_number is not None:
                    previous = self._topic_states.get(notification.topic_id, 0)
                    if notification.seq_number <= previous:
                        continue
                    self._topic_states[notification.topic_id] = notification.seq_number
                    changed = True
                if notification.uid is not None:
                    self._accepted_unicasts.append(notification.uid)
                try:
                    body = notification.body
                    if self.notification_type is not None:
                        body = self.notification_type.from_bytes(body)
                except AvroError as error:
                    self._error(f"a notification on topic {notification.topic_id} does not decode: {error}")
                    continue
                self._call("notification", notification.topic_id, body)
            if changed:
                self._store_topics()
        requests = self._due_requests()
        if self._accepted_unicasts and not requests:
            requests.append(
                SyncRequest(
                    request_id=self._next_request_id(),
                    sync_request_meta_data=self._meta(),
                    notification_sync_request=self._notification_request(),
                )
            )
        return requests

    # --- sessions ---------------------------------------------------------------------------

    def _tcp_session(self, server):
        """A Kaatcp session; returns when the client stops, raises when the session fails."""
        self.uploader.session_ended()
        self.owner.session_ended()
        channel, response = TcpChannel.open(
            server.host,
            server.port,
            server.public_key,
            self.keys,
            self.keep_alive,
            self._full_request(),
            self.timeout,
            self.tls,
        )
        try:
            self._session_up = True
            log.info("connected to %s", server.address)
            self._call("connected", server.address)
            for request in self._absorb(response):
                channel.send(request)
            ping_every = max(self.keep_alive / 2, 1)
            next_ping = time.monotonic() + ping_every
            # A server that answers neither requests nor pings for this long is gone (a cut
            # network sends no FIN).
            silence = ping_every + self.timeout
            while True:
                if self._stopping.is_set():
                    channel.close()
                    return
                now = time.monotonic()
                if now - channel.last_heard > silence:
                    raise UnreachableError(f"{server.address} did not answer for {silence:.0f} s")
                wait = min(next_ping, channel.last_heard + silence) - now
                deadline = self.uploader.deadline()
                if deadline is not None:
                    wait = min(wait, deadline - now)
                readable, _, _ = select.select([channel, self._wake_read], [], [], max(wait, 0))
                if self._wake_read in readable:
                    self._drain_wake()
                if self._stopping.is_set():
                    channel.close()
                    return
                if channel in readable:
                    for answer in channel.receive():
                        for request in self._absorb(answer):
                            channel.send(request)
                self._log_deadline()
                for request in self._due_requests():
                    channel.send(request)
                if time.monotonic() >= next_ping:
                    channel.ping()
                    next_ping = time.monotonic() + ping_every
        except BaseException:
            channel.abort()
            raise

    def _http_session(self, server):
        """An HTTP session: the full request over ``/EP/Sync``, then long polls
        (``/EP/LongSync``) the server answers when it has news or after ``long_poll`` seconds,
        and ``/EP/Sync`` for what the application queued."""
        self.uploader.session_ended()
        self.owner.session_ended()
        pending = [self._full_request()]
        announced = False
        while not self._stopping.is_set():
            self._drain_wake()
            self._log_deadline()
            if not pending:
                pending = self._due_requests() or [self._poll_request()]
            request = pending.pop(0)
            immediate = any(
                section is not None
                for section in (
                    request.profile_sync_request,
                    request.log_sync_request,
                    request.user_sync_request,
                    request.event_sync_request,
                )
            ) or bool(
                request.notification_sync_request and request.notification_sync_request.subscription_commands
            )
            path = SYNC if immediate else LONG_SYNC
            wait = self.timeout + (0 if immediate else self.long_poll)
            response = http_sync(
                server.host,
                server.port,
                path,
                server.public_key,
                self.keys,
                request,
                wait,
                self._track_http,
                self.tls,
            )
            if not announced:
                announced = True
                self._session_up = True
                log.info("connected to %s over HTTP", server.address)
                self._call("connected", server.address)
            pending.extend(self._absorb(response))
