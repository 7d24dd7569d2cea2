"""Log upload: records the application logs stay in a persistent buffer until the server
acknowledges them, so none is lost when the endpoint restarts or a session breaks.

:class:`LogBuffer` appends each record to ``<state_dir>/logs/records`` (frames
``u64 id | u32 length | record``, little-endian) and keeps the highest acknowledged id in
``<state_dir>/logs/acked`` (replaced atomically). :class:`Uploader` sends the oldest pending
records as one batch (a ``LogSyncRequest`` whose request id names the batch), one batch in
flight at a time; a ``SUCCESS`` status moves the acknowledged mark past the batch, a failure, a
missing status after the delivery timeout or the end of the session sends it again. A torn
last frame (the process died mid-write) is dropped on open; the file is rewritten without the
acknowledged records when they make up most of it.
"""

import collections
import os
import struct
import threading
import time

from .errors import KaaError
from .protocol import LogEntry, LogSyncRequest, SyncResponseResultType

_HEADER = struct.Struct("<QI")
_COMPACT_AFTER = 4096


class LogBufferFull(KaaError):
    """The buffer holds its maximum of unacknowledged records."""


class LogBuffer:
    """The endpoint's unacknowledged log records, on disk and in memory (thread-safe)."""

    def __init__(self, directory, max_records=100_000, batch_records=256):
        self.directory = directory
        self.max_records = max_records
        self.batch_records = batch_records
        self.lock = threading.Lock()
        os.makedirs(directory, exist_ok=True)
        self.acked = 0
        acked_path = os.path.join(directory, "acked")
        if os.path.exists(acked_path):
            with open(acked_path, "rb") as file:
                raw = file.read()
            if len(raw) < 8:
                raise KaaError(f"{acked_path} is torn")
            self.acked = struct.unpack("<Q", raw[:8])[0]
        records_path = os.path.join(directory, "records")
        data = b""
        if os.path.exists(records_path):
            with open(records_path, "rb") as file:
                data = file.read()
        self.pending = collections.deque()
        self.acked_in_file = 0
        self.next_id = self.acked + 1
        position = 0
        while position + _HEADER.size <= len(data):
            record_id, length = _HEADER.unpack_from(data, position)
            end = position + _HEADER.size + length
            if end > len(data):
                break
            self.next_id = max(self.next_id, record_id + 1)
            if record_id <= self.acked:
                self.acked_in_file += 1
            else:
                self.pending.append((record_id, data[position + _HEADER.size : end]))
            position = end
        self.file = open(records_path, "ab", buffering=0)
        if position < len(data):
            self.file.truncate(position)

    def append(self, record):
        """Stores ``record`` (bytes) and returns its id."""
        with self.lock:
            if self.file.closed:
                raise KaaError("the log buffer is closed (the client has stopped)")
            if len(self.pending) >= self.max_records:
                raise LogBufferFull(
                    f"the log buffer is full ({self.max_records} records wait for the server)"
                )
            record_id = self.next_id
            self.file.write(_HEADER.pack(record_id, len(record)) + record)
            self.next_id += 1
            self.pending.append((record_id, bytes(record)))
            return record_id

    def pending_count(self):
        with self.lock:
            return len(self.pending)

    def batch(self):
        """The oldest pending records, at most ``batch_records``: ``(first id, last id, records)``
        or ``None``."""
        with self.lock:
            if not self.pending:
                return None
            items = [self.pending[i] for i in range(min(self.batch_records, len(self.pending)))]
        return items[0][0], items[-1][0], [record for _, record in items]

    def acknowledge(self, last):
        """Records up to ``last`` are stored by the server."""
        with self.lock:
            while self.pending and self.pending[0][0] <= last:
                self.pending.popleft()
                self.acked_in_file += 1
            self.acked = max(self.acked, last)
            temporary = os.path.join(self.directory, "acked.tmp")
            with open(temporary, "wb") as file:
                file.write(struct.pack("<Q", self.acked))
            os.replace(temporary, os.path.join(self.directory, "acked"))
            if self.acked_in_file >= _COMPACT_AFTER and self.acked_in_file > len(self.pending):
                self._compact()

    def _compact(self):
        temporary = os.path.join(self.directory, "records.tmp")
        with open(temporary, "wb") as file:
            for record_id, record in self.pending:
                file.write(_HEADER.pack(record_id, len(record)) + record)
        os.replace(temporary, os.path.join(self.directory, "records"))
        self.file.close()
        self.file = open(os.path.join(self.directory, "records"), "ab", buffering=0)
        self.acked_in_file = 0

    def close(self):
        with self.lock:
            self.file.close()


class Uploader:
    """A session's side of the upload: one batch in flight, sent again after a failure or when
    its status does not come in time."""

    def __init__(self, buffer, delivery_timeout=30.0, retry_delay=1.0):
        self.buffer = buffer
        self.delivery_timeout = delivery_timeout
        self.retry_delay = retry_delay
        self.in_flight = None
        self.retry_at = None
        self.next_bucket = 0

    def next(self):
        """The ``LogSyncRequest`` to send now, if one is due."""
        now = time.monotonic()
        if self.in_flight is not None or (self.retry_at is not None and now < self.retry_at):
            return None
        self.retry_at = None
        batch = self.buffer.batch()
        if batch is None:
            return None
        first, last, records = batch
        self.next_bucket = (self.next_bucket + 1) & 0x7FFFFFFF
        self.in_flight = (self.next_bucket, first, last, now + self.delivery_timeout)
        return LogSyncRequest(request_id=self.next_bucket, log_entries=[LogEntry(data=r) for r in records])

    def deadline(self):
        """When :meth:`on_deadline` must run, or ``None``."""
        if self.in_flight is not None:
            return self.in_flight[3]
        return self.retry_at

    def on_deadline(self):
        """A batch without a status in time failed: ``(first, last, None)`` or ``None``."""
        now = time.monotonic()
        if self.in_flight is not None and self.in_flight[3] <= now:
            _, first, last, _ = self.in_flight
            self.in_flight = None
            return first, last, None
        if self.retry_at is not None and self.retry_at <= now:
            self.retry_at = None
        return None

    def on_statuses(self, statuses):
        """Takes in delivery statuses; returns ``(delivered, first, last, error code)`` for the
        batch in flight (statuses of batches no longer in flight are ignored)."""
        outcomes = []
        for status in statuses:
            if self.in_flight is None or self.in_flight[0] != status.request_id:
                continue
            _, first, last, _ = self.in_flight
            self.in_flight = None
            if status.result == SyncResponseResultType.SUCCESS:
                self.buffer.acknowledge(last)
                outcomes.append((True, first, last, None))
            else:
                self.retry_at = time.monotonic() + self.retry_delay
                outcomes.append((False, first, last, status.error_code))
        return outcomes

    def session_ended(self):
        self.in_flight = None
