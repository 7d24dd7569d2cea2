"""kaa_sdk: the runtime of a generated Kaa endpoint SDK for Python.

The generated package of an application (``kaa_app``) builds on it: typed classes of the
application's schemas, the baked-in properties (SDK token, bootstrap servers, default
configuration) and a ``create_client`` that wires them into a :class:`KaaClient`.

Modules: :mod:`~kaa_sdk.avro` (Avro binary codec), :mod:`~kaa_sdk.protocol` (Kaa's
``SyncRequest``/``SyncResponse``), :mod:`~kaa_sdk.kaatcp` (framing), :mod:`~kaa_sdk.crypto`
(keys and session crypto), :mod:`~kaa_sdk.transport` (Kaatcp channel, HTTP sync),
:mod:`~kaa_sdk.logs` (persistent log buffer), :mod:`~kaa_sdk.client` (the client).
"""

from .client import BootstrapServer, KaaClient, OperationsServer, Topic
from .errors import KaaError, KeysError, ProtocolError, RedirectedError, RefusedError, UnreachableError
from .logs import LogBufferFull

__all__ = [
    "BootstrapServer",
    "KaaClient",
    "OperationsServer",
    "Topic",
    "KaaError",
    "KeysError",
    "ProtocolError",
    "RedirectedError",
    "RefusedError",
    "UnreachableError",
    "LogBufferFull",
]
