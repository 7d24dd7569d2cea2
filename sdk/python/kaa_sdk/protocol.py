"""Kaa 0.10's endpoint messages: ``SyncRequest`` (endpoint to server) and ``SyncResponse``
(server to endpoint) from ``endpoint.avsc``, with every section, so whole responses decode
even when the SDK uses only part of them; plus the constants of the protocol, the topic-list
hash and the connection info of a bootstrap answer.

Every optional part is the union ``["T", "null"]``: ``None`` in Python. Attribute names are
the schema's names in snake case (``syncRequestMetaData`` is ``sync_request_meta_data``).
"""

import dataclasses
import enum
import hashlib
import struct
from typing import Any

from .avro import Array, AvroError, Union, decode, encode

#: Kaatcp transport id (CRC32 of "org.kaaproject.kaa.server.transport.tcp"), version 1.
TRANSPORT_TCP_ID = 0x56C8FF92
#: HTTP transport id, as the signed int the wire carries.
TRANSPORT_HTTP_ID = 0xFB9A3CF0 - (1 << 32)
TRANSPORT_VERSION = 1
#: Payload protocol: Avro v2, what Kaa's Java SDK sends.
PROTOCOL_AVRO_V2 = 0xE0C0C178


def sha1(data):
    """SHA-1 digest of ``data``."""
    return hashlib.sha1(data).digest()


def _enum(name, avro_name, symbols):
    cls = enum.Enum(name, [(symbol, index) for index, symbol in enumerate(symbols)])
    cls._avro_name = avro_name
    cls._avro_symbols = list(symbols)
    return cls


SyncResponseStatus = _enum("SyncResponseStatus", "SyncResponseStatus", ["NO_DELTA", "DELTA", "RESYNC"])
NotificationType = _enum("NotificationType", "NotificationType", ["SYSTEM", "CUSTOM"])
SubscriptionType = _enum(
    "SubscriptionType", "SubscriptionType", ["MANDATORY_SUBSCRIPTION", "OPTIONAL_SUBSCRIPTION"]
)
SubscriptionCommandType = _enum("SubscriptionCommandType", "SubscriptionCommandType", ["ADD", "REMOVE"])
SyncResponseResultType = _enum(
    "SyncResponseResultType", "SyncResponseResultType", ["SUCCESS", "FAILURE", "PROFILE_RESYNC", "REDIRECT"]
)
LogDeliveryErrorCode = _enum(
    "LogDeliveryErrorCode",
    "LogDeliveryErrorCode",
    [
        "NO_APPENDERS_CONFIGURED",
        "APPENDER_INTERNAL_ERROR",
        "REMOTE_CONNECTION_ERROR",
        "REMOTE_INTERNAL_ERROR",
    ],
)
UserAttachErrorCode = _enum(
    "UserAttachErrorCode",
    "UserAttachErrorCode",
    [
        "NO_VERIFIER_CONFIGURED",
        "TOKEN_INVALID",
        "TOKEN_EXPIRED",
        "INTERNAL_ERROR",
        "CONNECTION_ERROR",
        "REMOTE_ERROR",
        "OTHER",
    ],
)


def _optional(descriptor):
    return Union([descriptor, "null"])


def _record(name, fields):
    """A dataclass for the record ``name`` with ``fields``: ``(avro name, descriptor, default)``;
    a default of ``list`` means an empty list."""
    specs = []
    avro_fields = []
    for avro_name, descriptor, default in fields:
        camel = avro_name.replace("FQN", "Fqn")
        attribute = "".join("_" + c.lower() if c.isupper() else c for c in camel)
        if attribute == "type":
            attribute = "notification_type"
        if default is list:
            specs.append((attribute, Any, dataclasses.field(default_factory=list)))
        else:
            specs.append((attribute, Any, dataclasses.field(default=default)))
        avro_fields.append((attribute, avro_name, descriptor))
    cls = dataclasses.make_dataclass(name, specs)
    cls._avro_name = name
    cls._avro_fields = avro_fields
    return cls


TopicState = _record("TopicState", [("topicId", "long", 0), ("seqNumber", "int", 0)])
SubscriptionCommand = _record(
    "SubscriptionCommand",
    [("topicId", "long", 0), ("command", SubscriptionCommandType, SubscriptionCommandType.ADD)],
)
UserAttachRequest = _record(
    "UserAttachRequest",
    [("userVerifierId", "string", ""), ("userExternalId", "string", ""), ("userAccessToken", "string", "")],
)
UserAttachResponse = _record(
    "UserAttachResponse",
    [
        ("result", SyncResponseResultType, SyncResponseResultType.SUCCESS),
        ("errorCode", _optional(UserAttachErrorCode), None),
        ("errorReason", _optional("string"), None),
    ],
)
UserAttachNotification = _record(
    "UserAttachNotification", [("userExternalId", "string", ""), ("endpointAccessToken", "string", "")]
)
UserDetachNotification = _record("UserDetachNotification", [("endpointAccessToken", "string", "")])
EndpointAttachRequest = _record(
    "EndpointAttachRequest", [("requestId", "int", 0), ("endpointAccessToken", "string", "")]
)
EndpointAttachResponse = _record(
    "EndpointAttachResponse",
    [
        ("requestId", "int", 0),
        ("endpointKeyHash", _optional("string"), None),
        ("result", SyncResponseResultType, SyncResponseResultType.SUCCESS),
    ],
)
EndpointDetachRequest = _record(
    "EndpointDetachRequest", [("requestId", "int", 0), ("endpointKeyHash", "string", "")]
)
EndpointDetachResponse = _record(
    "EndpointDetachResponse",
    [("requestId", "int", 0), ("result", SyncResponseResultType, SyncResponseResultType.SUCCESS)],
)
Event = _record(
    "Event",
    [
        ("seqNum", "int", 0),
        ("eventClassFQN", "string", ""),
        ("eventData", "bytes", b""),
        ("source", _optional("string"), None),
        ("target", _optional("string"), None),
    ],
)
EventListenersRequest = _record(
    "EventListenersRequest", [("requestId", "int", 0), ("eventClassFQNs", Array("string"), list)]
)
EventListenersResponse = _record(
    "EventListenersResponse",
    [
        ("requestId", "int", 0),
        ("listeners", _optional(Array("string")), None),
        ("result", SyncResponseResultType, SyncResponseResultType.SUCCESS),
    ],
)
EventSequenceNumberRequest = _record("EventSequenceNumberRequest", [])
EventSequenceNumberResponse = _record("EventSequenceNumberResponse", [("seqNum", "int", 0)])
Notification = _record(
    "Notification",
    [
        ("topicId", "long", 0),
        ("type", NotificationType, NotificationType.CUSTOM),
        ("uid", _optional("string"), None),
        ("seqNumber", _optional("int"), None),
        ("body", "bytes", b""),
    ],
)
Topic = _record(
    "Topic",
    [
        ("id", "long", 0),
        ("name", "string", ""),
        ("subscriptionType", SubscriptionType, SubscriptionType.MANDATORY_SUBSCRIPTION),
    ],
)
LogEntry = _record("LogEntry", [("data", "bytes", b"")])
SyncRequestMetaData = _record(
    "SyncRequestMetaData",
    [
        ("sdkToken", "string", ""),
        ("endpointPublicKeyHash", _optional("bytes"), None),
        ("profileHash", _optional("bytes"), None),
        ("timeout", _optional("long"), None),
    ],
)
ProfileSyncRequest = _record(
    "ProfileSyncRequest",
    [
        ("endpointPublicKey", _optional("bytes"), None),
        ("profileBody", "bytes", b""),
        ("endpointAccessToken", _optional("string"), None),
    ],
)
ProtocolVersionPair = _record("ProtocolVersionPair", [("id", "int", 0), ("version", "int", 0)])
BootstrapSyncRequest = _record(
    "BootstrapSyncRequest",
    [("requestId", "int", 0), ("supportedProtocols", Array(ProtocolVersionPair), list)],
)
ConfigurationSyncRequest = _record(
    "ConfigurationSyncRequest",
    [("configurationHash", "bytes", b""), ("resyncOnly", _optional("boolean"), None)],
)
NotificationSyncRequest = _record(
    "NotificationSyncRequest",
    [
        ("topicListHash", "int", 0),
        ("topicStates", _optional(Array(TopicState)), None),
        ("acceptedUnicastNotifications", _optional(Array("string")), None),
        ("subscriptionCommands", _optional(Array(SubscriptionCommand)), None),
    ],
)
UserSyncRequest = _record(
    "UserSyncRequest",
    [
        ("userAttachRequest", _optional(UserAttachRequest), None),
        ("endpointAttachRequests", _optional(Array(EndpointAttachRequest)), None),
        ("endpointDetachRequests", _optional(Array(EndpointDetachRequest)), None),
    ],
)
EventSyncRequest = _record(
    "EventSyncRequest",
    [
        ("eventSequenceNumberRequest", _optional(EventSequenceNumberRequest), None),
        ("eventListenersRequests", _optional(Array(EventListenersRequest)), None),
        ("events", _optional(Array(Event)), None),
    ],
)
LogSyncRequest = _record(
    "LogSyncRequest", [("requestId", "int", 0), ("logEntries", _optional(Array(LogEntry)), None)]
)
ProtocolMetaData = _record(
    "ProtocolMetaData",
    [
        ("accessPointId", "int", 0),
        ("protocolVersionInfo", ProtocolVersionPair, None),
        ("connectionInfo", "bytes", b""),
    ],
)
BootstrapSyncResponse = _record(
    "BootstrapSyncResponse", [("requestId", "int", 0), ("supportedProtocols", Array(ProtocolMetaData), list)]
)
ProfileSyncResponse = _record(
    "ProfileSyncResponse", [("responseStatus", SyncResponseStatus, SyncResponseStatus.NO_DELTA)]
)
ConfigurationSyncResponse = _record(
    "ConfigurationSyncResponse",
    [
        ("responseStatus", SyncResponseStatus, SyncResponseStatus.NO_DELTA),
        ("confSchemaBody", _optional("bytes"), None),
        ("confDeltaBody", _optional("bytes"), None),
    ],
)
NotificationSyncResponse = _record(
    "NotificationSyncResponse",
    [
        ("responseStatus", SyncResponseStatus, SyncResponseStatus.NO_DELTA),
        ("notifications", _optional(Array(Notification)), None),
        ("availableTopics", _optional(Array(Topic)), None),
    ],
)
UserSyncResponse = _record(
    "UserSyncResponse",
    [
        ("userAttachResponse", _optional(UserAttachResponse), None),
        ("userAttachNotification", _optional(UserAttachNotification), None),
        ("userDetachNotification", _optional(UserDetachNotification), None),
        ("endpointAttachResponses", _optional(Array(EndpointAttachResponse)), None),
        ("endpointDetachResponses", _optional(Array(EndpointDetachResponse)), None),
    ],
)
EventSyncResponse = _record(
    "EventSyncResponse",
    [
        ("eventSequenceNumberResponse", _optional(EventSequenceNumberResponse), None),
        ("eventListenersResponses", _optional(Array(EventListenersResponse)), None),
        ("events", _optional(Array(Event)), None),
    ],
)
LogDeliveryStatus = _record(
    "LogDeliveryStatus",
    [
        ("requestId", "int", 0),
        ("result", SyncResponseResultType, SyncResponseResultType.SUCCESS),
        ("errorCode", _optional(LogDeliveryErrorCode), None),
    ],
)
LogSyncResponse = _record(
    "LogSyncResponse", [("deliveryStatuses", _optional(Array(LogDeliveryStatus)), None)]
)
RedirectSyncResponse = _record("RedirectSyncResponse", [("accessPointId", "int", 0)])
ExtensionSync = _record("ExtensionSync", [("extensionId", "int", 0), ("payload", "bytes", b"")])
SyncRequest = _record(
    "SyncRequest",
    [
        ("requestId", "int", 0),
        ("syncRequestMetaData", _optional(SyncRequestMetaData), None),
        ("bootstrapSyncRequest", _optional(BootstrapSyncRequest), None),
        ("profileSyncRequest", _optional(ProfileSyncRequest), None),
        ("configurationSyncRequest", _optional(ConfigurationSyncRequest), None),
        ("notificationSyncRequest", _optional(NotificationSyncRequest), None),
        ("userSyncRequest", _optional(UserSyncRequest), None),
        ("eventSyncRequest", _optional(EventSyncRequest), None),
        ("logSyncRequest", _optional(LogSyncRequest), None),
        ("extensionSyncRequests", _optional(Array(ExtensionSync)), None),
    ],
)
SyncResponse = _record(
    "SyncResponse",
    [
        ("requestId", "int", 0),
        ("status", SyncResponseResultType, SyncResponseResultType.SUCCESS),
        ("bootstrapSyncResponse", _optional(BootstrapSyncResponse), None),
        ("profileSyncResponse", _optional(ProfileSyncResponse), None),
        ("configurationSyncResponse", _optional(ConfigurationSyncResponse), None),
        ("notificationSyncResponse", _optional(NotificationSyncResponse), None),
        ("userSyncResponse", _optional(UserSyncResponse), None),
        ("eventSyncResponse", _optional(EventSyncResponse), None),
        ("redirectSyncResponse", _optional(RedirectSyncResponse), None),
        ("logSyncResponse", _optional(LogSyncResponse), None),
        ("extensionSyncResponses", _optional(Array(ExtensionSync)), None),
    ],
)


def encode_request(request):
    """A ``SyncRequest`` as an Avro binary datum."""
    return encode(SyncRequest, request)


def decode_response(data):
    """The ``SyncResponse`` at the start of ``data`` (bytes after it are ignored, as Kaa does)."""
    return decode(SyncResponse, data, exact=False)


def topic_list_hash(topic_ids):
    """The topic-list hash the Java SDK reports: ``Arrays.hashCode(long[])`` over the ids in
    ascending order, as a signed 32-bit int."""
    value = 1
    for topic_id in sorted(topic_ids):
        unsigned = topic_id & 0xFFFFFFFFFFFFFFFF
        element = (unsigned ^ (unsigned >> 32)) & 0xFFFFFFFF
        value = (value * 31 + element) & 0xFFFFFFFF
    return value - (1 << 32) if value >= 1 << 31 else value


@dataclasses.dataclass
class ConnectionInfo:
    """Where one transport of an Operations node listens: ``i32 keyLen | X.509 DER key |
    i32 hostLen | UTF-8 host | i32 port`` (big-endian)."""

    public_key: bytes
    host: str
    port: int

    @classmethod
    def decode(cls, data):
        data = bytes(data)
        position = 0

        def take(n, what):
            nonlocal position
            if n < 0 or position + n > len(data):
                raise AvroError(f"connection info ends inside {what}")
            chunk = data[position : position + n]
            position += n
            return chunk

        def int32(what):
            return struct.unpack(">i", take(4, what))[0]

        public_key = take(int32("key length"), "public key")
        try:
            host = take(int32("host length"), "host").decode("utf-8")
        except UnicodeDecodeError:
            raise AvroError("connection info host is not UTF-8") from None
        port = int32("port")
        if not 0 < port < 65536:
            raise AvroError(f"connection info port {port} is out of range")
        return cls(public_key, host, port)

    def encode(self):
        host = self.host.encode("utf-8")
        return (
            struct.pack(">i", len(self.public_key))
            + self.public_key
            + struct.pack(">i", len(host))
            + host
            + struct.pack(">i", self.port)
        )
