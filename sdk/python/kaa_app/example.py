"""The example program: an endpoint of this application that prints what happens, one line
per event (the contract the SDK's tests drive).

Environment: ``KAA_STATE_DIR`` (default ``./kaa-state``), ``KAA_EXAMPLE_LOGS`` (log records
to upload once the first configuration arrived, in this run or an earlier one; default 10),
``KAA_TRANSPORT`` (``tcp``, the default, or ``http``), ``KAA_TLS_CA`` (a PEM file of the CA to
trust: TLS towards Operations servers whose transports require it). Runs until SIGINT or
SIGTERM, then stops cleanly (exit code 0).

Run it with ``python -m kaa_app.example`` (or the installed ``kaa-example`` script).
"""

import base64
import os
import signal
import ssl
import sys
import threading

import kaa_app
from kaa_sdk import KaaError


def _say(lock, *words):
    line = " ".join(str(word) for word in words).replace("\r", " ").replace("\n", " ")
    with lock:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()


def _log_record(index):
    """The log schema's defaults with the first int/long field set to ``index``."""
    record = kaa_app.LogRecord()
    for attribute, _name, descriptor in type(record)._avro_fields:
        if descriptor in ("int", "long"):
            setattr(record, attribute, index)
            break
    return record


def main():
    state_dir = os.environ.get("KAA_STATE_DIR", "./kaa-state")
    transport = os.environ.get("KAA_TRANSPORT", "tcp")
    try:
        logs = int(os.environ.get("KAA_EXAMPLE_LOGS", "10"))
    except ValueError:
        logs = 10
    out = threading.Lock()
    stop = threading.Event()
    configured = threading.Event()
    # This run's log records: ids first..first+logs-1 once they are in the buffer.
    run = {"first": None, "delivered": 0}
    run_lock = threading.Lock()

    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())

    def on_configuration(configuration):
        _say(out, "CONFIGURATION", configuration.to_json())
        configured.set()

    def on_notification(topic_id, notification):
        _say(out, "NOTIFICATION", topic_id, notification.to_json())

    def on_logs_delivered(first, last):
        with run_lock:
            if run["first"] is not None:
                low = max(first, run["first"])
                high = min(last, run["first"] + logs - 1)
                run["delivered"] += max(high - low + 1, 0)
            delivered = run["delivered"]
        _say(out, "LOGS_DELIVERED", delivered)

    def on_connected(address):
        _say(out, "CONNECTED", address)

    def on_error(message):
        _say(out, "ERROR", message)

    try:
        tls_ca = os.environ.get("KAA_TLS_CA")
        tls = ssl.create_default_context(cafile=tls_ca) if tls_ca else None
        client = kaa_app.create_client(
            state_dir=state_dir,
            profile=kaa_app.Profile(),
            transport=transport,
            on_configuration=on_configuration,
            on_notification=on_notification,
            on_logs_delivered=on_logs_delivered,
            on_connected=on_connected,
            on_error=on_error,
            tls=tls,
        )
    except (KaaError, OSError, ValueError) as error:
        _say(out, "ERROR", f"cannot start the client: {error}")
        return 1
    _say(out, "KEY_HASH", base64.b64encode(client.key_hash).decode("ascii"))
    if client.stored_configuration is not None:
        _say(out, "STORED_CONFIGURATION", client.stored_configuration.to_json())
        # An earlier run got a configuration: the logs need not wait for a new one.
        configured.set()
    client.start()
    while not stop.is_set() and not configured.is_set():
        stop.wait(0.2)
    if not stop.is_set() and logs > 0:
        with run_lock:
            for index in range(logs):
                try:
                    record_id = client.log(_log_record(index))
                except KaaError as error:
                    _say(out, "ERROR", f"log record {index}: {error}")
                    break
                if run["first"] is None:
                    run["first"] = record_id
    while not stop.is_set():
        stop.wait(0.5)
    client.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
