#!/usr/bin/env python3
"""Calls a running kaa-node over internode Thrift from Python, to prove the wire format is
standard Thrift.

The client code is generated here, from the same IDL the node is built from, by the Apache
compiler (`thrift --gen py`), and runs on Python's `thrift` package from PyPI: TSocket,
TFramedTransport, TBinaryProtocol and TMultiplexedProtocol, as a Java or Python Kaa tool would use
them. Prints one JSON object with what each call returned.

    thrift_client.py --idl idl/thrift --host 127.0.0.1 --port 9090 probe
    thrift_client.py --idl idl/thrift --host 127.0.0.1 --port 9090 shutdown

With `--ca` the connection is TLS (TSSLSocket over Python's `ssl`): the node's certificate must
be signed by that CA and name `--host`; `--cert` and `--key` present a client certificate, which
a node under mutual TLS requires.

`probe` calls every KaaNodeService method but shutdown, one call of each kind on
OperationsService and BootstrapService (structs, enums, lists, binary and double fields), then
reads the node's counters back; `shutdown` calls KaaNodeService.shutdown.
"""

import argparse
import glob
import json
import os
import ssl
import subprocess
import sys
import tempfile


def generate(idl_dir, out_dir):
    compiler = os.environ.get("THRIFT", "thrift")
    files = sorted(glob.glob(os.path.join(idl_dir, "*.thrift")))
    if not files:
        sys.exit(f"no .thrift files in {idl_dir}")
    for idl in files:
        subprocess.run([compiler, "--gen", "py", "-out", out_dir, idl], check=True)
    sys.path.insert(0, out_dir)


def command(node, line):
    from kaa_node.ttypes import CommandStatus

    result = node.executeCommand(line)
    return {
        "status": CommandStatus._VALUES_TO_NAMES[result.status],
        "message": result.message,
    }


def probe(node, operations, bootstrap):
    from bootstrap.ttypes import ThriftOperationsServer
    from operations.ttypes import (
        EndpointEvent,
        Event,
        EventMessageType,
        Message,
        Notification,
        Operation,
        RedirectionRule,
    )

    results = {"server_name": node.serverName()}
    memory = node.getMemoryUsage(False)
    results["memory_usage"] = {"max": memory.max, "total": memory.total, "free": memory.free}
    for line in ["help", "status", "memory", "config", "no-such-command"]:
        results[line] = command(node, line)

    operations.onNotification(
        Notification(appId="app-1", appSeqNumber=3, op=Operation.APP_UPDATE)
    )
    operations.setRedirectionRule(
        RedirectionRule(
            accessPointId=1,
            ruleId=2,
            initRedirectProbability=0.5,
            sessionRedirectProbability=0.25,
            ruleTTL=60000,
        )
    )
    event = EndpointEvent(
        uuid="e-1", sender=b"\x01\x02", eventData=b"payload", createTime=1, version=1
    )
    operations.sendMessages(
        [
            Message(
                type=EventMessageType.EVENT,
                eventId=1,
                event=Event(userId="user-1", tenantId="tenant-1", endpointEvent=event),
            )
        ]
    )
    bootstrap.onOperationsServerListUpdate(
        [ThriftOperationsServer(id="ops-1", priority=10)]
    )
    results["stats"] = command(node, "stats")
    return results


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--idl", required=True, help="directory of the .thrift files")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--ca", help="PEM CA certificate: connect over TLS and trust only it")
    parser.add_argument("--cert", help="PEM client certificate (with --ca)")
    parser.add_argument("--key", help="PEM private key of --cert")
    parser.add_argument("action", choices=["probe", "shutdown"])
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="kaa-thrift-py-") as out_dir:
        generate(args.idl, out_dir)
        from bootstrap import BootstrapService
        from kaa_node import KaaNodeService
        from operations import OperationsService
        from thrift.protocol import TBinaryProtocol, TMultiplexedProtocol
        from thrift.transport import TSocket, TSSLSocket, TTransport

        if args.ca:
            context = ssl.create_default_context(cafile=args.ca)
            if args.cert:
                context.load_cert_chain(args.cert, args.key)
            # The context checks the certificate and that it names the host (IP SANs too);
            # thrift's own hostname callback predates IP SANs.
            socket = TSSLSocket.TSSLSocket(
                args.host,
                args.port,
                ssl_context=context,
                server_hostname=args.host,
                validate_callback=lambda cert, hostname: None,
            )
        else:
            socket = TSocket.TSocket(args.host, args.port)
        socket.setTimeout(10_000)
        transport = TTransport.TFramedTransport(socket)
        protocol = TBinaryProtocol.TBinaryProtocol(transport)

        def client(module, name):
            return module.Client(TMultiplexedProtocol.TMultiplexedProtocol(protocol, name))

        node = client(KaaNodeService, "KaaNodeService")
        transport.open()
        try:
            if args.action == "probe":
                results = probe(
                    node,
                    client(OperationsService, "OperationsService"),
                    client(BootstrapService, "BootstrapService"),
                )
            else:
                node.shutdown()
                results = {"shutdown": "ok"}
        finally:
            transport.close()
    json.dump(results, sys.stdout)
    print()


if __name__ == "__main__":
    main()
