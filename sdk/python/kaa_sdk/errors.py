"""The SDK's errors. Every failure the client meets is one of these; the client reports it to
the application's error callback (with what it was doing and which server) and keeps going."""


class KaaError(Exception):
    """Base class of every SDK error."""


class KeysError(KaaError):
    """Key material is invalid: a damaged server public key in the properties, an unreadable
    endpoint key file."""


class RefusedError(KaaError):
    """The server refused the endpoint (a CONNACK code, a DISCONNECT reason, an HTTP error
    status, a failed sync): an unknown SDK token, a revoked endpoint."""


class UnreachableError(KaaError):
    """No connection to the server (refused, timed out, the host does not resolve)."""


class ProtocolError(KaaError):
    """The server sent bytes that do not decode, or an answer that does not fit the request
    (a bootstrap answer without a valid signature, say)."""


class RedirectedError(KaaError):
    """The Operations server sent the endpoint to another one (by access point id)."""

    def __init__(self, access_point_id):
        super().__init__(f"redirected to access point {access_point_id}")
        self.access_point_id = access_point_id
