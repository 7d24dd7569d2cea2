#!/usr/bin/python3
"""`make bench-scale`: what one release kaa-node does with many endpoints, each figure beside a
baseline measured in the same run (issue 16).

The driver builds the release `kaa-node` and `kaa-loadgen`, starts Cassandra
(deploy/local/infra.sh), generates the loadgen's key pool once (cached under
~/.cache/kaa-rs/loadgen/), then runs each scenario through `kaa-loadgen` against standalone
nodes it starts itself (SQLite endpoint store, then the Cassandra endpoint store):

- registration storm: N new endpoints registering at once, completion time and refusals; the
  baseline is the same endpoints connecting again once known;
- syncs: encrypted configuration syncs/s and p50/p99 at each session count; the baseline is
  PINGREQ round trips over the same sessions (`kaa-loadgen sync` measures both);
- idle sessions: node RSS per session and CPU while idle, on both endpoint stores; the baseline
  is Debian's mosquitto holding the same number of idle MQTT connections (`kaa-loadgen
  mqtt-idle`), RSS per connection;
- growth: node RSS (idle, and while syncing) and syncs/s at each session count, as a plot;
- fan-out: one configuration activation and one topic notification sent over REST while
  `kaa-loadgen listen` holds N sessions; delivery time = arrival - the moment the request was
  sent, p50/p99/max;
- log ingest: acknowledged records/s from N endpoints through a confirm-delivery Cassandra
  appender; the baseline is the raw scylla driver (`kaa-loadgen cassandra-baseline`) inserting
  the same rows with the same batch size into the same Cassandra.

Node and broker memory and CPU come from /proc (VmRSS, utime+stime, open descriptors). Every
figure is printed; the rows go between the bench-scale markers of docs/benchmarks.md with the
command, machine and date, and the plots to docs/img/bench-*.png.

    BENCH_SCALE=smoke|full run.py [--scenarios a,b] [--no-build] [--no-docs]

KAA_NODE_BIN and KAA_LOADGEN_BIN name other builds to measure (e.g. a commit before a fix);
BENCH_NODE_LOG sets the nodes' log filter (e.g. `info,kaa_transport=debug` to see why sessions end).
BENCH_NODE_SET adds node settings, space-separated KEY=VALUE (e.g. `log_collection.writers_per_appender=16`).

`smoke` (the default) runs about 200 endpoints per mode; `full` the issue's numbers (100,000
idle sessions: its key pool takes long to generate the first time). The run's files (node logs,
loadgen results) are kept under target/bench-scale/.
"""
import argparse
import datetime
import json
import os
import platform
import pwd
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
RUN = REPO / "target" / "bench-scale"
RELEASE = REPO / "target" / "release"
POOL_DIR = Path.home() / ".cache" / "kaa-rs" / "loadgen"
POOL = POOL_DIR / "keys-rsa2048.pool"
DOCS = REPO / "docs" / "benchmarks.md"
IMG = REPO / "docs" / "img"
BEGIN, END = "<!-- bench-scale:begin -->", "<!-- bench-scale:end -->"
PASSWORD = "Bench-scale-admin-1"
POSTGRES_URL = "postgresql://kaa:kaa@127.0.0.1:5432/kaa"  # deploy/local/servers/postgresql.sh
CLK_TCK = os.sysconf("SC_CLK_TCK")

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import driver  # noqa: E402  (tests/driver.py, shared with the other drivers)
from driver import T0, Abort, http_json, percentile, run, say, wait_for  # noqa: E402

driver.set_prefix("bench-scale")

LOG_SCHEMA = {"type": "record", "name": "Reading", "fields": [
    {"name": "seq", "type": "long"}, {"name": "endpoint", "type": "int"},
    {"name": "payload", "type": "string"}]}
CONFIG_SCHEMA = {"type": "record", "name": "Settings", "fields": [
    {"name": "interval", "type": "int"}, {"name": "label", "type": "string"}]}
NOTIFICATION_SCHEMA = {"type": "record", "name": "Alert", "fields": [
    {"name": "text", "type": "string"}]}

# Session counts and run lengths per scale.
SCALES = {
    "smoke": {
        "storm": 200,
        "sync_levels": [64, 200],
        "idle": 200,
        "growth_levels": [50, 100, 200],
        "fanout": 200,
        "logs": 200,
        "sync_seconds": 5,
        "idle_seconds": 6,
        "logs_seconds": 8,
        "fanout_wait": 5,
    },
    "full": {
        "storm": 10_000,
        "sync_levels": [64, 1_000, 10_000],
        "idle": 100_000,
        "growth_levels": [1_000, 10_000, 100_000],
        "fanout": 10_000,
        "logs": 1_000,
        "sync_seconds": 20,
        "idle_seconds": 60,
        "logs_seconds": 30,
        "fanout_wait": 15,
    },
}
LOG_BATCH = 32             # records per log batch (the appender writes 32 rows at once)
BASELINE_CONCURRENCY = [1, 16]  # cassandra-baseline batches in flight: the appender's shape, and more
KEEPALIVE = 120            # seconds; idle sessions ping every 60 s
SCENARIOS = ["storm", "syncs", "growth", "fanout", "idle", "fanout-cluster", "logs"]


def free_port():
    """A port below the ephemeral range (as tests/src/node.rs picks them), so the loadgen's own
    connections never take it."""
    for port in range(20_000 + os.getpid() % 8_000, 32_000):
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
        if port not in free_port.given:
            free_port.given.add(port)
            return port
    raise RuntimeError("no free port between 20000 and 32000")


free_port.given = set()


def ratio(a, b):
    return a / b if a is not None and b else None


def fmt(value, digits=0, unit=""):
    if value is None:
        return "n/a"
    return f"{value:,.{digits}f}{unit}"


# -- /proc ------------------------------------------------------------------------------------

def proc_sample(pid):
    """(VmRSS bytes, CPU seconds used, open descriptors) of a live process."""
    rss = 0
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1]) * 1024
                break
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    cpu = (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime, stime
    fds = len(os.listdir(f"/proc/{pid}/fd"))
    return rss, cpu, fds


class Sampler:
    """Samples one process every `interval` s from a thread: (t, rss, cpu, fds)."""

    def __init__(self, pid, interval=0.5):
        self.pid, self.interval = pid, interval
        self.samples = []
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._loop, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stopping.set()
        self.thread.join()

    def _loop(self):
        while not self.stopping.is_set():
            try:
                self.samples.append((time.monotonic(), *proc_sample(self.pid)))
            except (FileNotFoundError, ProcessLookupError):
                return
            self.stopping.wait(self.interval)


def held_window(samples, base_fds, connected):
    """The samples taken while (nearly) all `connected` sessions were open, judged by the
    process's descriptors."""
    if connected <= 0:
        return []
    return [s for s in samples if s[3] - base_fds >= 0.98 * connected]


def cpu_share(samples):
    """CPU used over the samples' span, as a share of one core."""
    if len(samples) < 2 or samples[-1][0] <= samples[0][0]:
        return None
    return (samples[-1][2] - samples[0][2]) / (samples[-1][0] - samples[0][0])


# -- processes --------------------------------------------------------------------------------

class Node:
    """A release kaa-node on 127.0.0.1 with free ports, standalone or a cluster member;
    `settings` are --set pairs."""

    def __init__(self, name, binary, settings, standalone=True):
        self.name, self.binary, self.standalone = name, binary, standalone
        self.dir = RUN / name
        shutil.rmtree(self.dir, ignore_errors=True)
        self.dir.mkdir(parents=True)
        self.ports = {key: free_port() for key in [
            "admin.port", "node.thrift_port", "operations.tcp_port", "operations.http_port",
            "bootstrap.tcp_port", "bootstrap.http_port"]}
        self.settings = {"admin.host": "127.0.0.1", "node.thrift_host": "127.0.0.1",
                         **{k: str(v) for k, v in self.ports.items()}, **settings}
        self.process = None
        self.starts = 0

    @property
    def pid(self):
        return self.process.pid

    @property
    def bootstrap(self):
        return f"127.0.0.1:{self.ports['bootstrap.tcp_port']}"

    def url(self, path):
        return f"http://127.0.0.1:{self.ports['admin.port']}{path}"

    def start(self):
        self.starts += 1
        if self.standalone:
            args = [self.binary, "standalone", "--data-dir", self.dir / "data"]
        else:
            args = [self.binary, "--set", f"node.data_dir={self.dir / 'data'}"]
        for key, value in self.settings.items():
            args += ["--set", f"{key}={value}"]
        if os.environ.get("BENCH_NODE_LOG"):
            args += ["--set", f"log.level={os.environ['BENCH_NODE_LOG']}"]
        for setting in os.environ.get("BENCH_NODE_SET", "").split():
            args += ["--set", setting]
        env = {k: v for k, v in os.environ.items() if k != "RUST_LOG"}
        env.update(KAA_ADMIN_USER="admin", KAA_ADMIN_PASSWORD=PASSWORD)
        log = open(self.dir / "node.log", "a")
        log.write(f"\n==== start {self.starts} ====\n")
        log.flush()
        self.process = subprocess.Popen([str(a) for a in args], stdout=log, stderr=subprocess.STDOUT,
                                        stdin=subprocess.DEVNULL, env=env, start_new_session=True)

        def ready():
            if self.process.poll() is not None:
                raise Abort(f"{self.name}: kaa-node exited ({self.process.returncode}); "
                                 f"see {self.dir / 'node.log'}")
            return http_json(self.url("/ready"), timeout=2)[0] == 200
        _, secs = wait_for(f"{self.name} ready", 120, ready, interval=0.2)
        say(f"{self.name}: kaa-node (pid {self.pid}) ready in {secs:.1f} s")

    def stop(self):
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            say(f"{self.name}: kaa-node did not stop in 60 s; killing it")
            self.process.kill()
            self.process.wait()

    def restart(self):
        """A fresh process on the same data: memory figures start from a clean heap."""
        self.stop()
        self.start()

    def settle(self, seconds=1.0):
        """The node's (rss, cpu, fds) after a quiet moment."""
        time.sleep(seconds)
        return proc_sample(self.pid)


class Cluster:
    """Three kaa-node cluster members on 127.0.0.1: every one runs Operations and Bootstrap, the
    first Control too; ZooKeeper and PostgreSQL from deploy/local/infra.sh, a fresh ZooKeeper
    chroot, database and endpoint-store keyspace, internode mutual TLS under a CA of the run."""

    SIZE = 3

    def __init__(self, binary):
        self.binary = binary
        self.dir = RUN / "cluster"
        shutil.rmtree(self.dir, ignore_errors=True)
        self.dir.mkdir(parents=True)
        stamp = int(time.time())
        self.database = f"bench_scale_{stamp}"
        self.keyspace = f"bench_scale_cluster_{stamp}"
        self.chroot = f"/bench-scale-{stamp}"
        self.nodes = []

    def start(self):
        run([REPO / "deploy/local/infra.sh", "up", "zookeeper", "postgresql", "cassandra"])
        run(["psql", POSTGRES_URL, "-XAtqc", f"CREATE DATABASE {self.database}"], capture=True)
        ca, certs = self.dir / "ca", self.dir / "certs"
        run([self.binary, "certs", "init", "--dir", ca], capture=True)
        for i in range(1, self.SIZE + 1):
            name = f"bench-{i}"
            run([self.binary, "certs", "issue", "--ca-dir", ca, "--name", name, "--ip",
                 "127.0.0.1", "--out", certs], capture=True)
            self.nodes.append(Node(f"cluster-{i}", self.binary, {
                "node.id": name, "control.enabled": str(i == 1).lower(),
                "zookeeper.connect": "127.0.0.1:2181", "zookeeper.chroot": self.chroot,
                "zookeeper.auth": "bench-scale:bench-scale-zookeeper-secret",
                "zookeeper.load_report_interval": "500ms",
                "sql.url": POSTGRES_URL.rsplit("/", 1)[0] + f"/{self.database}",
                "endpoint_store.backend": "cassandra", "endpoint_store.keyspace": self.keyspace,
                "cluster.tls_ca": str(certs / "ca.pem"), "cluster.tls_cert": str(certs / f"{name}.pem"),
                "cluster.tls_key": str(certs / f"{name}.key")}, standalone=False))
        for node in self.nodes:
            node.start()

        def formed():
            status, view = http_json(self.nodes[0].url("/cluster"), timeout=2)
            return status == 200 and len(view["operations"]) == self.SIZE and view["leader"]
        _, secs = wait_for("the three-node cluster to form", 60, formed, interval=0.5)
        say(f"cluster of {self.SIZE} formed ({secs:.1f} s after the last node was ready)")

    def stop(self):
        for node in reversed(self.nodes):
            node.stop()
        run(["psql", POSTGRES_URL, "-XAtqc", f"DROP DATABASE IF EXISTS {self.database} WITH (FORCE)"],
            check=False, capture=True)
        if self.nodes:
            drop_keyspace(self.keyspace)


class Mosquitto:
    """Debian's mosquitto on a free port of 127.0.0.1, with no connection limit."""

    def __init__(self):
        self.dir = RUN / "mosquitto"
        shutil.rmtree(self.dir, ignore_errors=True)
        self.dir.mkdir(parents=True)
        self.port = free_port()
        self.process = None

    def start(self):
        config = self.dir / "mosquitto.conf"
        user = pwd.getpwuid(os.getuid()).pw_name
        config.write_text(
            f"listener {self.port} 127.0.0.1\nallow_anonymous true\nmax_connections -1\n"
            f"persistence false\nlog_dest stderr\nlog_type error\nlog_type warning\n"
            f"user {user}\nmax_keepalive 65535\n")
        binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
        log = open(self.dir / "mosquitto.log", "a")
        self.process = subprocess.Popen([binary, "-c", config], stdout=log, stderr=subprocess.STDOUT,
                                        stdin=subprocess.DEVNULL, start_new_session=True)

        def listening():
            if self.process.poll() is not None:
                raise Abort(f"mosquitto exited ({self.process.returncode}); see {self.dir}")
            with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                return True
        wait_for("mosquitto listening", 20, listening)
        say(f"mosquitto (pid {self.process.pid}) on 127.0.0.1:{self.port}")

    def stop(self):
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=30)


class Loadgen:
    """Runs `kaa-loadgen` modes; every run's result JSON and log stay under RUN/loadgen."""

    def __init__(self, binary, pool):
        self.binary, self.pool = binary, pool
        self.dir = RUN / "loadgen"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.runs = 0

    def keys(self, count):
        POOL_DIR.mkdir(parents=True, exist_ok=True)
        started = time.monotonic()
        run([self.binary, "keys", "--pool", self.pool, "--count", count])
        return time.monotonic() - started

    def start(self, mode, args, label):
        """Starts a run in the background; returns (process, result path)."""
        self.runs += 1
        name = f"{self.runs:02d}-{label}"
        result = self.dir / f"{name}.json"
        result.unlink(missing_ok=True)
        cmd = [str(a) for a in [self.binary, mode, *args, "--result", result]]
        say(f"$ {' '.join(cmd)}")
        log = open(self.dir / f"{name}.log", "w")
        # The result JSON (stdout) goes to the log only; progress and complaints (stderr) are
        # shown as they come, too.
        process = subprocess.Popen(cmd, stdout=log, stderr=subprocess.PIPE, text=True,
                                   stdin=subprocess.DEVNULL, start_new_session=True)
        process.bench_log = self.dir / f"{name}.log"

        def relay():
            for line in process.stderr:
                print(f"    | {line.rstrip()}", flush=True)
                log.write(line)
            log.close()
        process.relay = threading.Thread(target=relay, daemon=True)
        process.relay.start()
        return process, result

    def finish(self, process, result, timeout):
        try:
            code = process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
            raise RuntimeError(f"kaa-loadgen did not finish within {timeout} s; see "
                               f"{process.bench_log}")
        process.relay.join(timeout=10)
        if not result.exists():
            raise RuntimeError(f"kaa-loadgen exited with {code} and no result; see "
                               f"{process.bench_log}")
        if code != 0:
            say(f"kaa-loadgen exited with {code} (some sessions failed or were lost; counted "
                f"below)")
        return json.loads(result.read_text())

    def run(self, mode, args, label, timeout):
        process, result = self.start(mode, args, label)
        return self.finish(process, result, timeout)

    def session_args(self, node, sdk_token, endpoints, first=0):
        return ["--bootstrap", node.bootstrap, "--sdk-token", sdk_token, "--endpoints", endpoints,
                "--pool", self.pool, "--first", first, "--keepalive", KEEPALIVE]


# -- the application, over REST ---------------------------------------------------------------

class Application:
    """Tenant, users, application with configuration, notification and log schemas, a mandatory
    topic on the `all` group, optionally a confirm-delivery Cassandra appender, an SDK profile."""

    def __init__(self, node, appender):
        self.node = node
        self.admin = self.login("admin")
        tenant = self.call("POST", "/api/v1/tenants", {"name": "bench"}, self.admin)
        self.tenant = tenant["id"]
        self.call("POST", "/api/v1/users", {"username": "boss", "password": PASSWORD,
                                            "role": "TENANT_ADMIN", "tenant_id": self.tenant},
                  self.admin)
        boss = self.login("boss")
        self.call("POST", "/api/v1/users", {"username": "dev", "password": PASSWORD,
                                            "role": "TENANT_DEVELOPER"}, boss)
        app = self.call("POST", "/api/v1/applications", {"name": "fleet"}, boss)
        self.path = f"/api/v1/applications/{app['id']}"
        self.dev = self.login("dev")
        for kind, name, schema in [("configuration", "settings", CONFIG_SCHEMA),
                                   ("notification", "alert", NOTIFICATION_SCHEMA),
                                   ("log", "reading", LOG_SCHEMA)]:
            self.call("POST", f"{self.path}/schemas/{kind}", {"name": name, "schema": schema})
        groups = self.call("GET", f"{self.path}/groups", None, expected=200)
        self.group = groups["items"][0]["id"]
        self.configurations = 0
        self.activate_configuration()
        topic = self.call("POST", f"{self.path}/topics", {"name": "alerts", "kind": "mandatory"})
        self.topic = topic["id"]
        self.call("PUT", f"{self.path}/groups/{self.group}/topics/{self.topic}", None,
                  expected=204)
        if appender:
            self.call("POST", f"{self.path}/log-appenders", {
                "name": "readings", "type": "cassandra", "confirm_delivery": True,
                "settings": {"table": "readings", "columns": [
                    {"name": name, "source": f"record.{name}"}
                    for name in ("seq", "endpoint", "payload")]}})
        profile = self.call("POST", f"{self.path}/sdk-profiles", {
            "name": "bench-v1", "configuration_version": 1, "notification_version": 1,
            "log_version": 1})
        self.sdk_token = profile["sdk_token"]
        # kaa_model::appender::log_namespace
        self.log_keyspace = "kaa_logs_" + "".join(
            c for c in self.tenant if c.isascii() and c.isalnum()).lower()[:39]

    def login(self, user):
        return self.call("POST", "/api/v1/auth/login", {"username": user, "password": PASSWORD},
                         None, expected=200)["token"]

    def call(self, method, path, body, token="dev", expected=201):
        token = self.dev if token == "dev" else token
        status, reply = http_json(self.node.url(path), method, body, token)
        if status != expected:
            raise RuntimeError(f"{method} {path}: {status} {reply}")
        return reply

    def activate_configuration(self):
        """A new configuration for the `all` group, activated; returns the wall-clock ms at which
        the activation request was sent."""
        self.configurations += 1
        configurations = f"{self.path}/groups/{self.group}/configurations"
        draft = self.call("POST", configurations, {"schema_version": 1, "body": {
            "interval": self.configurations, "label": "a typical configuration body of some length"}})
        sent_ms = time.time() * 1000
        self.call("POST", f"{configurations}/{draft['id']}/activate", {}, expected=200)
        return sent_ms

    def notify(self):
        sent_ms = time.time() * 1000
        self.call("POST", f"{self.path}/topics/{self.topic}/notifications",
                  {"body": {"text": "bench fan-out"}, "ttl_seconds": 600})
        return sent_ms


# -- scenarios --------------------------------------------------------------------------------

def latency(result, key):
    """A loadgen latency record `{p50_ms, p99_ms, max_ms, count}` (or None)."""
    value = result.get(key)
    return value if isinstance(value, dict) else None


def lat_text(record):
    if not record:
        return "n/a"
    return f"p50 {fmt(record.get('p50_ms'), 2)} ms, p99 {fmt(record.get('p99_ms'), 2)} ms"


def check_result(result, what, wanted):
    """Fails the scenario when the loadgen connected fewer sessions than asked."""
    connected = result.get("connected", 0)
    problems = {k: v for k, v in (result.get("refused") or {}).items() if v}
    errors = {k: v for k, v in (result.get("errors") or {}).items() if v}
    if problems or errors:
        say(f"{what}: refused {problems or 'none'}, errors {errors or 'none'}")
    if connected < wanted:
        raise RuntimeError(f"{what}: {connected} of {wanted} sessions connected "
                           f"(refused {problems}, errors {errors})")


class Bench:
    def __init__(self, args, scale_name, scale):
        self.args = args
        self.scale_name = scale_name
        self.scale = scale
        self.figures = {}
        self.failures = {}
        self.phase_seconds = {}

    def scenario(self, name, body, part=None):
        """Runs `body` if scenario `name` was asked for; `part` names one of its runs."""
        if name not in self.args.scenarios:
            return
        label = f"{name} ({part})" if part else name
        say(f"==== {label} ====")
        started = time.monotonic()
        try:
            body()
        except Exception as error:  # noqa: BLE001 - one scenario's failure must not hide the others
            say(f"FAILED: {label}: {error}")
            self.failures[label] = str(error)
        self.phase_seconds[label] = round(time.monotonic() - started, 1)

    # -- SQLite node ------------------------------------------------------------------------

    def storm(self, node, app, loadgen):
        n = self.scale["storm"]
        figures = {}
        for label, key in [("new", "register"), ("known", "reconnect")]:
            with Sampler(node.pid) as sampler:
                result = loadgen.run("register", [
                    *loadgen.session_args(node, app.sdk_token, n), "--concurrency", n,
                    "--presign"], f"storm-{label}", timeout=1800)
            check_result(result, f"registration storm ({label} endpoints)", n)
            figures[key] = {
                "endpoints": n, "elapsed_s": result.get("completion_s"),
                "per_s": result.get("registrations_per_s"),
                "refused": result.get("refused"), "errors": result.get("errors"),
                "deferred": result.get("deferred"),
                "latency": latency(result, "register"),
                "node_cpu": cpu_share(sampler.samples),
            }
            say(f"{n} {label} endpoints connecting at once: done in "
                f"{fmt(result.get('completion_s'), 2)} s ({fmt(result.get('registrations_per_s'))}/s; "
                f"each {lat_text(figures[key]['latency'])}), refused {result.get('refused')}, "
                f"errors {result.get('errors')}, deferred (server unavailable, tried again) "
                f"{result.get('deferred')}; node CPU {fmt(pct(figures[key]['node_cpu']), 0)} %")
        figures["ratio"] = ratio(figures["register"]["elapsed_s"], figures["reconnect"]["elapsed_s"])
        self.figures["storm"] = figures
        say(f"registration storm: {fmt(figures['register']['elapsed_s'], 2)} s vs "
            f"{fmt(figures['reconnect']['elapsed_s'], 2)} s for the same endpoints known "
            f"(ratio {fmt(figures['ratio'], 2)})")

    def sync_level(self, node, app, loadgen, n):
        """One `sync` run of n sessions on a fresh node process, each session sending its next
        request as soon as the last is answered (pings for `sync_seconds`, then syncs as long):
        rates, latencies, node RSS and CPU."""
        node.restart()
        base = node.settle()
        seconds = self.scale["sync_seconds"]
        with Sampler(node.pid) as sampler:
            result = loadgen.run("sync", [
                *loadgen.session_args(node, app.sdk_token, n), "--duration", seconds],
                f"sync-{n}", timeout=1800 + seconds * 3)
        check_result(result, f"sync at {n} sessions", n)
        held = held_window(sampler.samples, base[2], result.get("connected", 0))
        syncs, pings = latency(result, "syncs") or {}, latency(result, "pings") or {}
        figure = {
            "sessions": n,
            "syncs_per_s": syncs.get("per_s"), "sync": syncs,
            "pings_per_s": pings.get("per_s"), "ping": pings,
            "node_rss": max((s[1] for s in held), default=None),
            "node_rss_base": base[0], "node_cpu": cpu_share(held),
        }
        figure["ratio"] = ratio(figure["syncs_per_s"], figure["pings_per_s"])
        say(f"{n} sessions: {fmt(figure['syncs_per_s'])} syncs/s ({lat_text(figure['sync'])}) vs "
            f"{fmt(figure['pings_per_s'])} pings/s ({lat_text(figure['ping'])}): ratio "
            f"{fmt(figure['ratio'], 3)}; node RSS {fmt(mib(figure['node_rss']), 1)} MiB, CPU "
            f"{fmt(pct(figure['node_cpu']), 0)} % of a core")
        return figure

    def syncs(self, node, app, loadgen):
        self.figures["syncs"] = [self.sync_level(node, app, loadgen, n)
                                 for n in self.scale["sync_levels"]]

    def idle_node(self, node, app, loadgen, n, label):
        """n idle sessions on a fresh node process: RSS per session and CPU while idle."""
        node.restart()
        base = node.settle(2.0)
        seconds = self.scale["idle_seconds"]
        with Sampler(node.pid) as sampler:
            result = loadgen.run("idle", [*loadgen.session_args(node, app.sdk_token, n),
                                          "--duration", seconds],
                                 f"idle-{label}-{n}", timeout=3600 + seconds * 2)
        check_result(result, f"{n} idle sessions ({label})", n)
        return self.idle_figure(f"kaa-node ({label})", result, base, sampler.samples)

    def idle_store(self, node, app, loadgen, store):
        """The idle-session figure of `node`, whose endpoint store is `store`."""
        self.figures.setdefault("idle", {})[store] = self.idle_node(
            node, app, loadgen, self.scale["idle"], store)

    def idle_figure(self, who, result, base, samples):
        connected = result.get("connected", 0)
        held = held_window(samples, base[2], connected)
        if len(held) < 2:
            raise RuntimeError(f"{who}: fewer than two samples while all {connected} sessions "
                               f"were held (hold longer)")
        rss = statistics.median(s[1] for s in held)
        figure = {
            "sessions": connected, "rss_base": base[0], "rss_held": rss,
            "bytes_per_session": (rss - base[0]) / connected,
            # CPU over the second half of the hold only: the window opens while the ramp's last
        # sessions still register (RSA work), which read as 12 % of a core at 10,000 sessions
        # where a profile of the steady hold showed under 1 %.
        "cpu_idle": cpu_share(held[len(held) // 2:]), "held_s": held[-1][0] - held[0][0],
            "ramp_s": result.get("ramp_s"),
        }
        say(f"{who}: {connected} idle sessions: RSS {fmt(mib(base[0]), 1)} -> {fmt(mib(rss), 1)} "
            f"MiB = {fmt(figure['bytes_per_session'])} bytes per session; CPU while idle "
            f"{fmt(pct(figure['cpu_idle']), 1)} % of a core over {figure['held_s']:.0f} s "
            f"(ramp {fmt(figure['ramp_s'], 1)} s)")
        return figure

    def growth(self, node, app, loadgen):
        known = {f["sessions"]: f for f in self.figures.get("syncs", [])}
        points = []
        for n in self.scale["growth_levels"]:
            idle = self.idle_node(node, app, loadgen, n, "sqlite")
            sync = known.get(n) or self.sync_level(node, app, loadgen, n)
            points.append({"sessions": n, "idle": idle, "sync": sync})
        per_session = [p["idle"]["bytes_per_session"] for p in points]
        flat = max(per_session) <= 1.25 * min(per_session) if min(per_session) > 0 else None
        # What each further session adds between two levels: the fixed part (the first
        # sessions load the application, the runtime's buffers) drops out.
        marginal = [(b["idle"]["rss_held"] - a["idle"]["rss_held"]) / (b["sessions"] - a["sessions"])
                    for a, b in zip(points, points[1:])]
        self.figures["growth"] = {"points": points, "flat": flat, "marginal": marginal}
        say("growth: bytes per idle session " + ", ".join(
            f"{p['sessions']}: {fmt(p['idle']['bytes_per_session'])}" for p in points)
            + f" -> {'flat (within 25 %)' if flat else 'not flat'}; each further session: "
            + ", ".join(f"{a['sessions']}->{b['sessions']}: {fmt(m)} bytes"
                        for a, b, m in zip(points, points[1:], marginal)))
        if self.scale["idle"] in [p["sessions"] for p in points]:
            self.figures.setdefault("idle", {})["sqlite"] = next(
                p["idle"] for p in points if p["sessions"] == self.scale["idle"])

    def fanout(self, node, app, loadgen, restart=True):
        """One configuration activation and one topic notification to `fanout` listening
        sessions of `node`'s cluster; returns the delivery times."""
        n = self.scale["fanout"]
        wait = self.scale["fanout_wait"]
        if restart:
            node.restart()
        # The hold: a moment to settle, the configuration's wait, the notification's wait.
        ready = RUN / "loadgen" / "listen.ready"
        ready.unlink(missing_ok=True)
        process, result_path = loadgen.start("listen", [
            *loadgen.session_args(node, app.sdk_token, n), "--duration", 2 + 2 * wait + 2,
            "--ready", ready], f"listen-{n}")
        try:
            def all_listening():
                if process.poll() is not None:
                    raise Abort(f"kaa-loadgen listen exited ({process.returncode}) before "
                                f"its sessions were open; see {process.bench_log}")
                return ready.exists() and json.loads(ready.read_text())
            opened, secs = wait_for(f"{n} listening sessions", 1800, all_listening, interval=0.25)
            say(f"{opened['connected']} sessions listening after {secs:.1f} s")
            time.sleep(2)
            status, view = http_json(node.url("/cluster"), timeout=5)
            if status == 200:
                say("sessions per Operations node (its last load report): " + ", ".join(
                    f"{o['id']}: {o.get('endpoint_count')}" for o in view["operations"]))
            config_ms = app.activate_configuration()
            time.sleep(wait)
            notify_ms = app.notify()
        finally:
            result = loadgen.finish(process, result_path, timeout=1800 + 4 * wait)
        check_result(result, f"fan-out to {n} sessions", n)
        figures = {"sessions": n, "nodes": 1}
        for kind, sent_ms in [("configuration", config_ms), ("notification", notify_ms)]:
            # The clocks are one (same machine); the loadgen's are whole milliseconds.
            arrivals = first_arrivals(result, kind, int(sent_ms))
            delays = [max(0.0, t - sent_ms) / 1000 for t in arrivals]
            figures[kind] = {
                "delivered": len(delays), "p50_s": percentile(delays, 0.5),
                "p99_s": percentile(delays, 0.99), "max_s": max(delays, default=None),
                "delays": delays,
            }
            say(f"fan-out of one {kind} to {n} sessions: {len(delays)} delivered, p50 "
                f"{fmt(figures[kind]['p50_s'], 2)} s, p99 {fmt(figures[kind]['p99_s'], 2)} s, "
                f"max {fmt(figures[kind]['max_s'], 2)} s")
        return figures

    def fanout_node(self, node, app, loadgen):
        """The fan-out on one standalone node."""
        self.figures["fanout"] = self.fanout(node, app, loadgen)

    def fanout_cluster(self, binary, loadgen):
        """The fan-out on three cluster members (ZooKeeper, PostgreSQL, one Cassandra endpoint
        store, internode mutual TLS): the sessions spread over the three Operations servers,
        the activation and the notification go through the Control leader."""
        n = self.scale["fanout"]
        cluster = Cluster(binary)
        try:
            cluster.start()
            app = Application(cluster.nodes[0], appender=False)
            figures = self.fanout(cluster.nodes[0], app, loadgen, restart=False)
            figures["nodes"] = len(cluster.nodes)
            self.figures["fanout_cluster"] = figures
        finally:
            cluster.stop()

    # -- mosquitto ----------------------------------------------------------------------------

    def mosquitto(self, loadgen):
        n = self.scale["idle"]
        broker = Mosquitto()
        broker.start()
        try:
            time.sleep(1)
            base = proc_sample(broker.process.pid)
            seconds = self.scale["idle_seconds"]
            with Sampler(broker.process.pid) as sampler:
                result = loadgen.run("mqtt-idle", [
                    "--broker", f"127.0.0.1:{broker.port}", "--endpoints", n,
                    "--keepalive", KEEPALIVE, "--duration", seconds],
                    f"mqtt-idle-{n}", timeout=1800 + seconds * 2)
            check_result(result, f"{n} idle MQTT connections", n)
            self.figures.setdefault("idle", {})["mosquitto"] = self.idle_figure(
                "mosquitto", result, base, sampler.samples)
        finally:
            broker.stop()

    # -- Cassandra node ---------------------------------------------------------------------

    def logs(self, node, app, loadgen):
        n = self.scale["logs"]
        seconds = self.scale["logs_seconds"]
        node.restart()
        base = node.settle()
        with Sampler(node.pid) as sampler:
            # Back to back, one batch in flight per endpoint (as Kaa's SDKs upload).
            result = loadgen.run("logs", [
                *loadgen.session_args(node, app.sdk_token, n), "--batch", LOG_BATCH,
                "--rate", 0, "--confirm", "--duration", seconds],
                f"logs-{n}", timeout=1800 + seconds * 3)
        check_result(result, f"log upload from {n} endpoints", n)
        held = held_window(sampler.samples, base[2], result.get("connected", 0))
        acked = result.get("acked_records_per_s")
        figure = {
            "endpoints": n, "batch": LOG_BATCH,
            "acked_per_s": acked, "records_acked": result.get("records_acked"),
            "records_failed": result.get("records_failed"),
            "failed_batches": result.get("failed_batches"),
            "ack": latency(result, "ack_latency"), "node_cpu": cpu_share(held), "baselines": [],
        }
        say(f"{n} endpoints, batches of {LOG_BATCH} back to back, confirm delivery: {fmt(acked)} "
            f"records/s acknowledged ({result.get('records_acked')} records; each batch "
            f"{lat_text(figure['ack'])}); failed batches {result.get('failed_batches')}; node CPU "
            f"{fmt(pct(figure['node_cpu']), 0)} % of a core")
        rows = max(int(figure["records_acked"] or 0), 20 * LOG_BATCH * 32)
        for concurrency in BASELINE_CONCURRENCY:
            baseline = loadgen.run("cassandra-baseline", [
                "--contact", "127.0.0.1:9042", "--keyspace", app.log_keyspace,
                "--table", f"readings_baseline_{concurrency}", "--rows", rows,
                "--batch", LOG_BATCH, "--concurrency", concurrency, "--endpoints", n],
                f"cassandra-baseline-{concurrency}", timeout=1800)
            figure["baselines"].append({
                "concurrency": concurrency, "rows": baseline.get("rows"),
                "rows_per_s": baseline.get("rows_per_s"),
                "batch_latency": baseline.get("batch_latency"), "errors": baseline.get("errors")})
            say(f"raw scylla inserts, batches of {LOG_BATCH}, {concurrency} in flight: "
                f"{fmt(baseline.get('rows_per_s'))} rows/s ({baseline.get('rows')} rows)")
        best = max((b["rows_per_s"] or 0 for b in figure["baselines"]), default=0)
        same = figure["baselines"][0]["rows_per_s"]
        figure["ratio"] = ratio(acked, best)
        figure["ratio_same_shape"] = ratio(acked, same)
        self.figures["logs"] = figure
        say(f"log ingest ratio {fmt(figure['ratio'], 3)} of the best raw insert rate "
            f"({fmt(figure['ratio_same_shape'], 3)} of one batch in flight); target >= 0.8")


def first_arrivals(result, kind, since_ms):
    """Per endpoint, the wall-clock ms of its first push of `kind` ("configuration" or
    "notification") at or after `since_ms`, from a `listen` result's `pushes`."""
    first = {}
    for push in (result.get("pushes") or {}).get(kind, []):
        endpoint, t_ms = push[0], push[1]
        if t_ms >= since_ms and endpoint not in first:
            first[endpoint] = t_ms
    return list(first.values())


def mib(value):
    return None if value is None else value / 2**20


def pct(value):
    return None if value is None else value * 100


# -- limits and machine -----------------------------------------------------------------------

# Descriptors a process needs beside one per session (listeners, databases, the Cassandra
# driver's connections, the loadgen's own files).
FD_MARGIN = 1_000
SESSION_KEYS = ["storm", "idle", "fanout", "logs"]
SESSION_LISTS = ["sync_levels", "growth_levels"]


def biggest_run(scale):
    return max(max(scale[k] for k in SESSION_KEYS), max(max(scale[k]) for k in SESSION_LISTS))


def overridden(scale, settings):
    """`scale` with the `--set KEY=N[,N…]` overrides applied."""
    scale = dict(scale)
    for setting in settings:
        key, _, value = setting.partition("=")
        if key not in scale:
            sys.exit(f"--set {setting}: no such figure; the scale has {', '.join(sorted(scale))}")
        numbers = [int(n) for n in value.split(",")]
        scale[key] = numbers if isinstance(scale[key], list) else numbers[0]
    return scale


def raise_limits(scale):
    """Raises the open-file limit for this process and every child (nodes, loadgen, broker: each
    holds one descriptor per session). Where the hard limit cannot be raised (no
    CAP_SYS_RESOURCE), session counts above it are capped and the cap is said. Returns (what
    was done, the scale to run)."""
    needed = biggest_run(scale) + FD_MARGIN
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    nr_open = int(Path("/proc/sys/fs/nr_open").read_text())
    said = []
    if soft >= needed:
        said.append(f"open files (ulimit -n) {soft}, enough for {needed:,}")
    else:
        target = min(needed, nr_open)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, max(hard, target)))
            said.append(f"open files (ulimit -n) raised from {soft:,} to {target:,} for this run "
                        f"(hard limit {hard:,} -> {max(hard, target):,})")
        except (ValueError, OSError):
            target = min(needed, hard)
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            done = f"stays at {soft:,}" if target == soft else f"raised from {soft:,} to {target:,} only"
            said.append(f"open files (ulimit -n) {done}: the hard limit is {hard:,} and this process may not raise it (it lacks "
                        f"CAP_SYS_RESOURCE; raise it with `ulimit -Hn` or in "
                        f"/etc/security/limits.conf before the run); {needed:,} wanted")
    soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    cap = soft - FD_MARGIN
    capped = dict(scale)
    for key in SESSION_KEYS:
        capped[key] = min(scale[key], cap)
    for key in SESSION_LISTS:
        capped[key] = sorted({min(n, cap) for n in scale[key]})
    if capped != scale:
        said.append(f"**session counts capped at {cap:,}** by that limit (asked: "
                    + ", ".join(f"{k} {scale[k]}" for k in SESSION_KEYS + SESSION_LISTS
                                if capped[k] != scale[k]) + ")")
    low, high = (int(x) for x in Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split())
    said.append(f"ephemeral ports {low}-{high} ({high - low + 1:,} per source address; the loadgen "
                f"spreads sessions over 127.0.1.x, so the range is left as it is)")
    somaxconn = int(Path("/proc/sys/net/core/somaxconn").read_text())
    said.append(f"net.core.somaxconn {somaxconn} (left as it is)")
    for line in said:
        say(f"limits: {line}")
    return said, capped


def machine():
    model = "unknown CPU"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    memory = 0
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            memory = int(line.split()[1]) * 1024
    debian = Path("/etc/debian_version")
    system = f"Debian {debian.read_text().strip()}" if debian.exists() else platform.system()
    return (f"{os.cpu_count()} × {model}, {memory / 2**30:.1f} GiB RAM, {system}, "
            f"Linux {platform.release()}")


def commit():
    head = run(["git", "-C", REPO, "rev-parse", "--short", "HEAD"], capture=True).stdout.strip()
    dirty = run(["git", "-C", REPO, "status", "--porcelain", "--untracked-files=no"],
                capture=True).stdout.strip()
    return head + (" (with uncommitted changes)" if dirty else "")


def drop_keyspace(name):
    result = run(["/usr/bin/python3", REPO / "deploy/local/cql_ping.py", "-q", "--timeout", "60",
                  "--query", f"DROP KEYSPACE IF EXISTS {name}"], check=False, capture=True)
    if result.returncode != 0:
        say(f"could not drop keyspace {name}: {result.stderr.strip()}")


# -- report -----------------------------------------------------------------------------------

def verdict(ok):
    return "n/a" if ok is None else ("met" if ok else "**missed**")


def report_rows(bench):
    """The markdown rows: (scenario, figure, baseline, ratio, target)."""
    f = bench.figures
    rows = []
    storm = f.get("storm")
    if storm:
        reg, known = storm["register"], storm["reconnect"]
        refused = sum((reg.get("refused") or {}).values())
        rows.append((f"Registration storm: {reg['endpoints']:,} new endpoints at once",
                     f"{fmt(reg['elapsed_s'], 2)} s, {refused} refused, "
                     f"{sum((reg.get('errors') or {}).values())} errors; "
                     f"{fmt(reg.get('deferred') or 0)} CONNECTs deferred (server unavailable "
                     f"while the node's private-key queue was full) and tried again",
                     f"the same endpoints connecting again (known): {fmt(known['elapsed_s'], 2)} s",
                     fmt(storm["ratio"], 2), f"no refusals: {verdict(refused == 0)}"))
    for level in f.get("syncs", []):
        rows.append((f"Syncs, {level['sessions']:,} encrypted sessions",
                     f"{fmt(level['syncs_per_s'])} syncs/s ({lat_text(level['sync'])})",
                     f"PINGREQ {fmt(level['pings_per_s'])}/s ({lat_text(level['ping'])})",
                     fmt(level["ratio"], 3), "—"))
    idle = f.get("idle", {})
    mosquitto = idle.get("mosquitto")
    for store in ("sqlite", "cassandra"):
        node = idle.get(store)
        if not node:
            continue
        per = node["bytes_per_session"]
        base = mosquitto["bytes_per_session"] if mosquitto else None
        r = ratio(per, base)
        ok = None if per is None else (per <= 3 * 1024 and (r is None or r <= 4))
        rows.append((f"Idle, {node['sessions']:,} encrypted sessions ({store} endpoint store)",
                     f"{fmt(per)} bytes RSS per session; CPU while idle "
                     f"{fmt(pct(node['cpu_idle']), 1)} % of a core",
                     f"mosquitto, same number of idle MQTT connections: "
                     f"{fmt(base)} bytes per connection" if mosquitto else "mosquitto: not measured",
                     fmt(r, 1), f"≤ 3 KB, ≤ 4× mosquitto: {verdict(ok)}"))
    for fan in (f.get("fanout"), f.get("fanout_cluster")):
        if not fan:
            continue
        where = "one node" if fan["nodes"] == 1 else f"{fan['nodes']}-node cluster"
        # Baseline: one PINGREQ round trip for every one of as many sessions, at the rate the
        # sync scenario measured over that many sessions (the transport alone reaching each).
        pings = next((level["pings_per_s"] for level in f.get("syncs", [])
                      if level["sessions"] == fan["sessions"]), None)
        sweep = ratio(fan["sessions"], pings)
        for kind in ("configuration", "notification"):
            k = fan[kind]
            ok = None if k["max_s"] is None else (k["max_s"] <= 5 and k["delivered"] >= fan["sessions"])
            rows.append((f"Fan-out: one {kind} to {fan['sessions']:,} connected endpoints ({where})",
                         f"{k['delivered']:,} delivered; p50 {fmt(k['p50_s'], 2)} s, p99 "
                         f"{fmt(k['p99_s'], 2)} s, max {fmt(k['max_s'], 2)} s",
                         f"one PINGREQ round trip per session at the measured ping rate: "
                         f"{fmt(sweep, 3)} s" if sweep else "no ping rate at this session count",
                         fmt(ratio(k["max_s"], sweep), 1), f"max ≤ 5 s: {verdict(ok)}"))
    logs = f.get("logs")
    if logs:
        baselines = "; ".join(f"{fmt(b['rows_per_s'])} rows/s with {b['concurrency']} batch"
                              f"{'es' if b['concurrency'] > 1 else ''} in flight"
                              for b in logs["baselines"])
        ok = None if logs["ratio"] is None else logs["ratio"] >= 0.8
        rows.append((f"Log ingest: {logs['endpoints']:,} endpoints, batches of {logs['batch']}, "
                     f"confirm-delivery Cassandra appender",
                     f"{fmt(logs['acked_per_s'])} records/s acknowledged (batch {lat_text(logs['ack'])}; "
                     f"one batch in flight per endpoint)",
                     f"raw scylla driver, same rows and batch size: {baselines}",
                     f"{fmt(logs['ratio'], 3)} (one batch in flight: "
                     f"{fmt(logs['ratio_same_shape'], 3)})",
                     f"≥ 0.8: {verdict(ok)}"))
    growth = f.get("growth")
    if growth:
        points = growth["points"]
        rows.append(("Growth (SQLite store)",
                     "; ".join(f"{p['sessions']:,}: {fmt(mib(p['idle']['rss_held']), 1)} MiB idle "
                               f"({fmt(p['idle']['bytes_per_session'])} B/session), "
                               f"{fmt(p['sync']['syncs_per_s'])} syncs/s" for p in points),
                     "the smallest level; each further session between levels: " + ", ".join(
                         f"{a['sessions']:,}→{b['sessions']:,} {fmt(m)} B" for a, b, m in
                         zip(points, points[1:], growth.get("marginal", []))),
                     fmt(ratio(points[-1]["idle"]["bytes_per_session"],
                               points[0]["idle"]["bytes_per_session"]), 2),
                     "cost per session " + ("flat" if growth["flat"] else "**not flat**")))
    return rows


METHOD = """\
How: each memory figure is taken on a freshly started node process (VmRSS from `/proc` with every
session open, minus VmRSS just before, divided by the sessions; the median of samples every
0.5 s while the node's open descriptors show them all), CPU as utime+stime over the same
samples. Syncs and pings go back to back (each session sends the next request once the last is
answered), pings first, then syncs, each phase as long. Log batches go back to back too, one in
flight per endpoint (as Kaa's SDKs send them); the baseline writes the same rows (seq, endpoint,
64-byte payload as text, a UUID key) in batches of the same size, one row per INSERT with 32 in
flight per batch as the appender does, with one batch in flight (the appender's shape) and with
more (what Cassandra itself takes). A fan-out's delivery time is the arrival at the endpoint minus
the moment the REST request was sent (one clock). The registration storm opens every session at
once (all CONNECTs in flight), each CONNECT's key material made before the storm starts
(`--presign`: each device of a real fleet signs on its own processor, not on the node's); its
baseline is the same endpoints connecting again once known.
The generator runs on the same cores as the node, so every figure is also a bound of the
generator's own speed (RSA signatures on connect, AES both ways)."""


def write_docs(bench, took, limits, command, plots):
    rows = report_rows(bench)
    lines = [
        BEGIN,
        f"`{command}` at commit {commit()}, {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC, "
        f"scale **{bench.scale_name}**, on {machine()}; the whole run took {took / 60:.1f} min. "
        "Release `kaa-node` standalone (SQLite endpoint store; the idle and log figures also on the "
        "Cassandra endpoint store of `deploy/local/infra.sh`), `kaa-loadgen` on the same cores; "
        "every ratio is against a baseline measured in the same run.",
        "",
        "| scenario | figure | baseline (same run) | ratio | target |",
        "|---|---|---|---|---|",
        *[f"| {' | '.join(row)} |" for row in rows],
        "",
        "Limits: " + "; ".join(limits) + ".",
        "",
        METHOD,
    ]
    if bench.failures:
        lines += ["", "Failed in this run: " + "; ".join(
            f"{name}: {error}" for name, error in bench.failures.items()) + "."]
    if plots:
        lines += [""] + [f"![{name}](img/{name})" for name in plots]
    lines.append(END)
    text = DOCS.read_text()
    block = "\n".join(lines)
    if BEGIN in text and END in text:
        text = text[:text.index(BEGIN)] + block + text[text.index(END) + len(END):]
    else:
        text = (text.rstrip("\n") + "\n\n## Scale (issue 16, `make bench-scale`)\n\n"
                "Written by `tests/bench-scale/run.py`; everything between the markers is "
                "replaced by the next run.\n\n" + block + "\n")
    DOCS.write_text(text)
    say(f"wrote {len(rows)} rows to {DOCS}")


def plot(bench):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    IMG.mkdir(parents=True, exist_ok=True)
    written = []
    growth = bench.figures.get("growth")
    if growth:
        points = growth["points"]
        x = [p["sessions"] for p in points]
        fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
        left.plot(x, [mib(p["idle"]["rss_held"]) for p in points], "o-", label="idle")
        left.plot(x, [mib(p["sync"]["node_rss"]) for p in points], "s--", label="syncing")
        left.set_xlabel("sessions")
        left.set_ylabel("kaa-node RSS (MiB)")
        left.set_xscale("log")
        left.legend()
        right.plot(x, [p["sync"]["syncs_per_s"] for p in points], "o-", label="syncs/s")
        right.plot(x, [p["sync"]["pings_per_s"] for p in points], "s--", label="PINGREQ/s (baseline)")
        right.set_xlabel("sessions")
        right.set_ylabel("per second")
        right.set_xscale("log")
        right.legend()
        for axis in (left, right):
            axis.set_xticks(x, [f"{v:,}" for v in x])
            axis.minorticks_off()
            axis.grid(True, alpha=0.3)
        fig.suptitle(f"kaa-node growth with sessions ({bench.scale_name})")
        fig.tight_layout()
        fig.savefig(IMG / "bench-growth.png", dpi=100)
        plt.close(fig)
        written.append("bench-growth.png")
    fans = [fan for fan in (bench.figures.get("fanout"), bench.figures.get("fanout_cluster")) if fan]
    if fans:
        fig, axis = plt.subplots(figsize=(6, 4))
        for fan in fans:
            where = "one node" if fan["nodes"] == 1 else f"{fan['nodes']} nodes"
            for kind in ("configuration", "notification"):
                delays = sorted(fan[kind]["delays"])
                if delays:
                    axis.plot(delays, [(i + 1) / fan["sessions"] for i in range(len(delays))],
                              label=f"{kind}, {where}")
        axis.axvline(5, color="grey", linestyle=":", label="target 5 s")
        axis.set_xlabel("delivery time (s)")
        axis.set_ylabel(f"share of {fans[0]['sessions']:,} endpoints")
        axis.legend()
        axis.grid(True, alpha=0.3)
        axis.set_title(f"Fan-out from one REST call ({bench.scale_name})")
        fig.tight_layout()
        fig.savefig(IMG / "bench-fanout.png", dpi=100)
        plt.close(fig)
        written.append("bench-fanout.png")
    idle = bench.figures.get("idle", {})
    if idle:
        names = [n for n in ("sqlite", "cassandra", "mosquitto") if n in idle]
        labels = {"sqlite": "kaa-node\n(SQLite)", "cassandra": "kaa-node\n(Cassandra)",
                  "mosquitto": "mosquitto\n(MQTT)"}
        fig, axis = plt.subplots(figsize=(6, 4))
        axis.bar([labels[n] for n in names], [idle[n]["bytes_per_session"] for n in names])
        axis.axhline(3 * 1024, color="grey", linestyle=":", label="target 3 KB")
        axis.set_ylabel("RSS bytes per idle session")
        axis.set_title(f"{idle[names[0]]['sessions']:,} idle sessions ({bench.scale_name})")
        axis.legend()
        fig.tight_layout()
        fig.savefig(IMG / "bench-idle.png", dpi=100)
        plt.close(fig)
        written.append("bench-idle.png")
    say(f"plots: {', '.join(written) or 'none'} in {IMG}")
    return written


# -- main -------------------------------------------------------------------------------------

def build():
    started = time.monotonic()
    run(["cargo", "build", "--release", "--locked", "-p", "kaa-node", "--bin", "kaa-node"], cwd=REPO)
    run(["cargo", "build", "--release", "--locked", "-p", "kaa-tests", "--bin", "kaa-loadgen"],
        cwd=REPO)
    return time.monotonic() - started


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scale", default=os.environ.get("BENCH_SCALE", "smoke"),
                        choices=sorted(SCALES))
    parser.add_argument("--scenarios", default=",".join(SCENARIOS),
                        help=f"comma-separated subset of {','.join(SCENARIOS)}")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=N",
                        help="override one figure of the scale (idle=5000, sync_levels=64,1000); "
                             "for a scenario at a size of its own, with --scenarios")
    parser.add_argument("--no-build", action="store_true", help="use target/release as it is")
    parser.add_argument("--no-docs", action="store_true",
                        help="print the figures only; leave docs/ alone")
    args = parser.parse_args()
    args.scenarios = [s for s in args.scenarios.split(",") if s]
    unknown = set(args.scenarios) - set(SCENARIOS)
    if unknown:
        sys.exit(f"unknown scenarios: {sorted(unknown)}")
    RUN.mkdir(parents=True, exist_ok=True)
    command = f"BENCH_SCALE={args.scale} make bench-scale"
    limits, scale = raise_limits(overridden(SCALES[args.scale], args.set))
    say(f"scale {args.scale}: {json.dumps(scale)}")
    build_s = 0.0 if args.no_build else build()
    # Another build of either (a commit before a fix, for a before/after ratio) through the
    # environment, as the tests take KAA_NODE_BIN.
    node_bin = Path(os.environ.get("KAA_NODE_BIN", RELEASE / "kaa-node"))
    loadgen_bin = Path(os.environ.get("KAA_LOADGEN_BIN", RELEASE / "kaa-loadgen"))
    for binary in (node_bin, loadgen_bin):
        if not binary.exists():
            sys.exit(f"missing {binary}: build it (drop --no-build)")
    run([REPO / "deploy/local/infra.sh", "up", "cassandra"])

    loadgen = Loadgen(loadgen_bin, POOL)
    pool_size = biggest_run(scale)
    keys_s = loadgen.keys(pool_size)
    say(f"key pool {POOL} holds at least {pool_size} keys ({keys_s:.1f} s)")

    bench = Bench(args, args.scale, scale)
    nodes = []
    store_keyspace = f"bench_scale_{int(time.time())}"
    log_keyspace = None
    try:
        sqlite = Node("node-sqlite", node_bin, {})
        nodes.append(sqlite)
        sqlite.start()
        app = Application(sqlite, appender=False)
        bench.scenario("storm", lambda: bench.storm(sqlite, app, loadgen))
        bench.scenario("syncs", lambda: bench.syncs(sqlite, app, loadgen))
        bench.scenario("growth", lambda: bench.growth(sqlite, app, loadgen))
        bench.scenario("fanout", lambda: bench.fanout_node(sqlite, app, loadgen))
        if "sqlite" not in bench.figures.get("idle", {}):
            bench.scenario("idle", lambda: bench.idle_store(sqlite, app, loadgen, "sqlite"),
                           "sqlite")
        sqlite.stop()
        bench.scenario("idle", lambda: bench.mosquitto(loadgen), "mosquitto")
        bench.scenario("fanout-cluster", lambda: bench.fanout_cluster(node_bin, loadgen))

        if {"idle", "logs"} & set(args.scenarios):
            cassandra = Node("node-cassandra", node_bin, {
                "endpoint_store.backend": "cassandra", "endpoint_store.keyspace": store_keyspace})
            nodes.append(cassandra)
            cassandra.start()
            capp = Application(cassandra, appender=True)
            log_keyspace = capp.log_keyspace
            bench.scenario("idle", lambda: bench.idle_store(cassandra, capp, loadgen, "cassandra"),
                           "cassandra")
            bench.scenario("logs", lambda: bench.logs(cassandra, capp, loadgen))
            cassandra.stop()
    finally:
        for node in nodes:
            node.stop()
        for keyspace in (store_keyspace, log_keyspace):
            if keyspace and any(n.name == "node-cassandra" for n in nodes):
                drop_keyspace(keyspace)

    took = time.monotonic() - T0
    (RUN / "figures.json").write_text(json.dumps(
        {"scale": args.scale, "figures": bench.figures, "failures": bench.failures,
         "phase_seconds": bench.phase_seconds, "build_s": build_s, "keys_s": keys_s,
         "seconds": took}, indent=2, default=str))
    if not args.no_docs:
        write_docs(bench, took, limits, command, plot(bench))
    print(flush=True)
    for row in report_rows(bench):
        print(" | ".join(row), flush=True)
    say(f"phases (s): build {build_s:.0f}, keys {keys_s:.0f}, "
        + ", ".join(f"{k} {v}" for k, v in bench.phase_seconds.items()))
    for name, error in bench.failures.items():
        say(f"FAILED: {name}: {error}")
    say(f"{'finished' if not bench.failures else 'FAILED'} in {took:.1f} s ({took / 60:.1f} min); "
        f"results in {RUN.relative_to(REPO)}/figures.json")
    sys.exit(1 if bench.failures else 0)


if __name__ == "__main__":
    main()
