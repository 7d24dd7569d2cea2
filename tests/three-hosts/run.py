#!/usr/bin/env python3
"""The three-host test: a kaa-rs cluster installed from its Debian package on three hosts.

Three Linux network namespaces (kaa-h1..3, 10.231.0.11-13) joined by a bridge (kaa-br0,
10.231.0.1 in the root namespace, where the simulated devices run) are three hosts. Each host
is a fresh Debian 12 root (deploy/package/debian-rootfs.sh) with the package installed by apt, and
runs a ZooKeeper ensemble member and a Cassandra ring member (from deploy/bare-metal's
templates) and kaa-node with all three services, configured by the packaged setup-host.sh and
started from the installed unit's command line, user and configuration
(deploy/package/run-unit.sh; systemd does not run here). PostgreSQL runs on host 1. The steps
follow docs/install.md's three-node cluster section (steps 2 to 8, then "Upgrades"), with the
guide's templates, flags and commands; where the guide has systemd start a Debian service, the
test starts the same server itself: ZooKeeper from Debian's jars, Cassandra from the jars
deploy/local installs (Apache's apt repository is not reachable from every CI machine), a
private PostgreSQL cluster with the guide's role, database, listen address and pg_hba lines.

The scenario: the cluster forms (one Control leader, three Operations, three Bootstrap); the
devices (kaa-fleet) bootstrap through host 1 and spread over the hosts, uploading logs to a
Cassandra appender with confirm delivery; host 1 (the leader) is cut off: a new leader must act
within 3 s, host 1's endpoints reconnect elsewhere within 10 s, ZooKeeper and Cassandra keep
quorum; the link comes back and host 1 rejoins; then a rolling upgrade to a second package
revision, one host at a time. Every acknowledged record must be stored (at least once).

    run.py --deb DEB --upgrade-deb DEB2 --fleet PATH [--endpoints 300] [--keep]

Must run as root. Everything lives under /var/tmp/kaa-three-hosts (logs stay there after the
run); the figures are printed at the end and written to results.json there.
"""
import argparse
import base64
import hashlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
RUN = Path(os.environ.get("KAA_THREE_HOSTS_DIR", "/var/tmp/kaa-three-hosts"))
BRIDGE, BRIDGE_IP, PREFIX = "kaa-br0", "10.231.0.1", 24
HOSTS = [("h1", "10.231.0.11"), ("h2", "10.231.0.12"), ("h3", "10.231.0.13")]
ZK_CLASSPATH = "/usr/share/java/zookeeper.jar:/usr/share/java/slf4j-simple.jar"
ZK_AUTH = "kaa:three-hosts-zookeeper-secret"
SQL_PASSWORD = "three-hosts-sql-secret"
ADMIN_PASSWORD = "Three-hosts-admin-2026"
DATACENTER = "dc1"
LOG_SCHEMA = {
    "type": "record", "name": "Reading", "namespace": "kaa.fleet",
    "fields": [{"name": "endpoint", "type": "int"}, {"name": "seq", "type": "long"}],
}

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import driver  # noqa: E402  (tests/driver.py, shared with the other drivers)
from driver import T0, http_json, percentile, say, wait_for  # noqa: E402

driver.set_prefix("three-hosts")


def run(cmd, timeout=600, **kwargs):
    """`driver.run` with a ten-minute limit: nothing this driver starts runs longer."""
    return driver.run(cmd, timeout=timeout, **kwargs)


def four_letter(host, word, port=2181):
    with socket.create_connection((host, port), timeout=2) as conn:
        conn.sendall(word.encode())
        chunks = []
        while True:
            chunk = conn.recv(4096)
            if not chunk:
                break
            chunks.append(chunk)
    return b"".join(chunks).decode(errors="replace")


def zk_mode(host):
    for line in four_letter(host, "srvr").splitlines():
        if line.startswith("Mode:"):
            return line.split(":", 1)[1].strip()
    return None


class Host:
    """One simulated machine: a network namespace and a Debian root with the package."""

    def __init__(self, name, ip):
        self.name, self.ip = name, ip
        self.node_id = f"kaa-{name[1:]}"  # as docs/install.md names them: kaa-$N
        self.ns = f"kaa-{name}"
        self.veth = f"kaa-{name}"  # the bridge side; the namespace side is eth0
        self.dir = RUN / name
        self.root = self.dir / "root"
        self.node = None  # the kaa-node process (run-unit.sh)
        self.node_log = self.dir / "kaa-node.log"
        self.starts = 0
        self.stopping = False

    def netns(self, *cmd):
        return ["ip", "netns", "exec", self.ns, *cmd]

    def chroot(self, *cmd):
        return self.netns("chroot", self.root, *cmd)

    def admin(self, path):
        return f"http://{self.ip}:8080{path}"

    def cluster(self):
        status, body = http_json(self.admin("/cluster"), timeout=2)
        return body if status == 200 else None

    # -- kaa-node, as the unit runs it ------------------------------------------------------

    def start_node(self):
        self.stopping = False
        self.starts += 1
        log = open(self.node_log, "a")
        log.write(f"\n==== start {self.starts} ====\n")
        log.flush()
        self.node = subprocess.Popen(
            self.netns(str(REPO / "deploy/package/run-unit.sh"), "--root", str(self.root),
                       "/usr/lib/systemd/system/kaa-node.service"),
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        threading.Thread(target=self._restart_on_failure, args=(self.node,), daemon=True).start()

    def _restart_on_failure(self, process):
        """The unit's Restart=on-failure, which systemd would apply."""
        code = process.wait()
        if not self.stopping and process is self.node and code != 0:
            say(f"{self.name}: kaa-node exited with {code}; restarting as Restart=on-failure would")
            time.sleep(2)
            if not self.stopping:
                self.start_node()

    def stop_node(self, limit=40):
        """`systemctl stop`: SIGTERM, then the unit's stop timeout. Returns the exit code."""
        self.stopping = True
        if self.node is None or self.node.poll() is not None:
            return self.node.returncode if self.node else None
        os.killpg(self.node.pid, signal.SIGTERM)
        try:
            return self.node.wait(timeout=limit)
        except subprocess.TimeoutExpired:
            os.killpg(self.node.pid, signal.SIGKILL)
            self.node.wait()
            raise RuntimeError(f"{self.name}: kaa-node did not stop within {limit} s")

    def ready(self):
        status, _ = http_json(self.admin("/ready"), timeout=2)
        return status == 200


class Network:
    def __init__(self, hosts):
        self.hosts = hosts

    def down(self):
        """Removes the namespaces, killing whatever still runs in them (a run left with --keep,
        or one that was killed)."""
        for host in self.hosts:
            pids = subprocess.run(["ip", "netns", "pids", host.ns], capture_output=True,
                                  text=True).stdout.split()
            for pid in pids:
                try:
                    os.kill(int(pid), signal.SIGKILL)
                except ProcessLookupError:
                    pass
            subprocess.run(["ip", "netns", "del", host.ns], capture_output=True)
            subprocess.run(["ip", "link", "del", host.veth], capture_output=True)
        subprocess.run(["ip", "link", "del", BRIDGE], capture_output=True)

    def up(self):
        self.down()
        run(["ip", "link", "add", BRIDGE, "type", "bridge"])
        run(["ip", "addr", "add", f"{BRIDGE_IP}/{PREFIX}", "dev", BRIDGE])
        run(["ip", "link", "set", BRIDGE, "up"])
        for host in self.hosts:
            run(["ip", "netns", "add", host.ns])
            run(["ip", "link", "add", host.veth, "type", "veth", "peer", "name", "eth0",
                 "netns", host.ns])
            run(["ip", "link", "set", host.veth, "master", BRIDGE])
            run(["ip", "link", "set", host.veth, "up"])
            run(host.netns("ip", "addr", "add", f"{host.ip}/{PREFIX}", "dev", "eth0"))
            run(host.netns("ip", "link", "set", "eth0", "up"))
            run(host.netns("ip", "link", "set", "lo", "up"))

    @staticmethod
    def cut(host):
        run(["ip", "link", "set", host.veth, "down"])

    @staticmethod
    def heal(host):
        run(["ip", "link", "set", host.veth, "up"])


def unmount_under(top):
    """Unmounts everything mounted below `top` (the hosts' /proc and /dev), deepest first, and
    makes sure nothing is left: removing the run folder must never reach the real /dev."""
    def mounted():
        with open("/proc/mounts") as mounts:
            points = [line.split()[1].replace("\\040", " ") for line in mounts]
        return sorted((p for p in points if p.startswith(f"{top}/")), reverse=True)
    for point in mounted():
        subprocess.run(["umount", "-l", point], capture_output=True)
    left = mounted()
    if left:
        raise RuntimeError(f"still mounted under {top}: {left[:5]}")


def render(template, values, target):
    text = Path(template).read_text()
    for key, value in values.items():
        text = text.replace(f"@{key}@", value)
    leftover = re.findall(r"@([A-Z0-9_]+)@", text)
    if leftover:
        raise RuntimeError(f"{template}: placeholders left unrendered: {leftover}")
    Path(target).write_text(text)


class Cluster:
    def __init__(self, args):
        self.args = args
        self.hosts = [Host(name, ip) for name, ip in HOSTS]
        self.network = Network(self.hosts)
        self.processes = []  # (name, Popen) of ZooKeeper members
        self.pg_data = RUN / "h1" / "postgresql"
        self.figures = {}
        self.fleet = None
        self.checks = []

    def check(self, what, ok, detail=""):
        self.checks.append({"check": what, "ok": bool(ok), "detail": detail})
        say(f"{'PASS' if ok else 'FAIL'}: {what} {detail}")
        if not ok:
            raise RuntimeError(f"check failed: {what} {detail}")

    # -- hosts -------------------------------------------------------------------------------

    def prepare_roots(self):
        """A fresh Debian 12 root per host with the package installed (docs/install.md step 1)."""
        for host in self.hosts:
            host.dir.mkdir(parents=True, exist_ok=True)
            run([REPO / "deploy/package/debian-rootfs.sh", host.root])
            for source, target in [("/proc", "proc"), ("/dev", "dev")]:
                mount_point = host.root / target
                mount_point.mkdir(exist_ok=True)
                flags = ["-t", "proc", "proc"] if source == "/proc" else ["--rbind", source]
                run(["mount", *flags, mount_point])
            shutil.copy("/etc/resolv.conf", host.root / "etc/resolv.conf")
            shutil.copy(self.args.deb, host.root / "tmp")
            shutil.copy(self.args.upgrade_deb, host.root / "tmp")
            env = {"DEBIAN_FRONTEND": "noninteractive", "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}
            run(["chroot", host.root, "apt-get", "-qq", "update"], env=env)
            run(["chroot", host.root, "apt-get", "install", "-y", "-qq",
                 f"/tmp/{Path(self.args.deb).name}"], env=env)

    def zookeeper(self):
        """The ensemble from deploy/bare-metal/zookeeper (docs/install.md)."""
        template = REPO / "deploy/bare-metal/zookeeper/zoo.cfg.tmpl"
        values = {f"HOST{i + 1}": h.ip for i, h in enumerate(self.hosts)}
        # Hosts 2 and 3 first: they elect the ensemble's leader, so that cutting host 1 off
        # (the Control leader) tests Control's failover, not ZooKeeper's own election as well.
        order = [self.hosts[1], self.hosts[2], self.hosts[0]]
        for host in order:
            data = host.dir / "zookeeper"
            data.mkdir(parents=True, exist_ok=True)
            (data / "myid").write_text(f"{self.hosts.index(host) + 1}\n")
            config = host.dir / "zoo.cfg"
            render(template, {**values, "DATA_DIR": str(data)}, config)
            log = open(host.dir / "zookeeper.log", "a")
            process = subprocess.Popen(
                host.netns("java", "-Xms32m", "-Xmx256m", "-Dzookeeper.jmx.log4j.disable=true",
                           "-Dorg.slf4j.simpleLogger.defaultLogLevel=warn", "-cp", ZK_CLASSPATH,
                           "org.apache.zookeeper.server.quorum.QuorumPeerMain", str(config)),
                stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
            self.processes.append((f"zookeeper {host.name}", process))
            if host is self.hosts[2]:
                wait_for("ZooKeeper quorum of hosts 2 and 3", 90,
                         lambda: zk_mode(self.hosts[1].ip) in ("leader", "follower"))
        def all_serving():
            modes = [zk_mode(h.ip) for h in self.hosts]
            return modes if all(m in ("leader", "follower") for m in modes) else None
        modes, _ = wait_for("ZooKeeper ensemble of three", 90, all_serving)
        say(f"ZooKeeper ensemble up: {dict(zip([h.name for h in self.hosts], modes))}")

    def cassandra_env(self, host):
        return {**os.environ, "KAA_INFRA_DIR": str(host.dir), "CASSANDRA_HOST": host.ip,
                "CASSANDRA_YAML": str(host.dir / "cassandra.yaml"),
                "CASSANDRA_RACKDC": str(host.dir / "cassandra-rackdc.properties"),
                "CASSANDRA_HEAP": "512M", "CASSANDRA_START_TIMEOUT": "240",
                # A test ring on one machine: do not wait 30 s for gossip between joins.
                "CASSANDRA_JVM_OPTS": "-Dcassandra.ring_delay_ms=5000 "
                                      "-Dcassandra.skip_wait_for_gossip_to_settle=0"}

    def cassandra_call(self, host, function, check=True):
        script = (f'source "{REPO}/deploy/local/lib.sh" && '
                  f'source "{REPO}/deploy/local/servers/cassandra.sh" && {function}')
        return run(host.netns("bash", "-c", script), env=self.cassandra_env(host), check=check,
                   timeout=400)

    def cassandra(self):
        """The ring from deploy/bare-metal/cassandra, members joining one at a time."""
        seeds = ",".join(f"{h.ip}:7000" for h in self.hosts)
        for host in self.hosts:
            data = host.dir / "cassandra-data"
            data.mkdir(parents=True, exist_ok=True)
            render(REPO / "deploy/bare-metal/cassandra/cassandra.yaml.tmpl",
                   {"CLUSTER_NAME": "kaa-three-hosts", "SEEDS": seeds, "HOST": host.ip,
                    "DATA_DIR": str(data)},
                   host.dir / "cassandra.yaml")
            shutil.copy(REPO / "deploy/bare-metal/cassandra/cassandra-rackdc.properties",
                        host.dir / "cassandra-rackdc.properties")
            started = time.monotonic()
            self.cassandra_call(host, "cassandra_start")
            say(f"Cassandra on {host.name} up in {time.monotonic() - started:.1f} s")
        status, secs = wait_for("three Cassandra members up and normal", 120,
                                lambda: self.nodetool_up(self.hosts[0]) == 3, interval=2)
        say(f"Cassandra ring of three (UN) after {secs:.1f} s")

    def nodetool_up(self, host):
        """How many ring members `nodetool status` on `host` shows as Up/Normal."""
        result = run(host.netns(REPO / "deploy/local/cassandra/nodetool.sh", "status"),
                     env=self.cassandra_env(host), check=False, capture=True, timeout=60)
        return sum(1 for line in result.stdout.splitlines() if line.startswith("UN "))

    def postgresql(self):
        """PostgreSQL on host 1 with role and database kaa (docs/install.md): a private
        cluster, since no systemd runs Debian's own."""
        host = self.hosts[0]
        bindir = sorted(Path("/usr/lib/postgresql").glob("*/bin"))[-1]
        shutil.rmtree(self.pg_data, ignore_errors=True)
        self.pg_data.mkdir(parents=True)
        socket_dir = self.pg_data / "run"
        socket_dir.mkdir()
        shutil.chown(self.pg_data, "postgres", "postgres")
        shutil.chown(socket_dir, "postgres", "postgres")
        data = self.pg_data / "data"
        as_pg = ["runuser", "-u", "postgres", "--"]
        run([*as_pg, bindir / "initdb", "-D", data, "-U", "postgres", "--auth-local=peer",
             "--auth-host=scram-sha-256"], capture=True, cwd="/")
        with open(data / "postgresql.conf", "a") as conf:
            conf.write(f"listen_addresses = '{host.ip}'\nport = 5432\n"
                       f"unix_socket_directories = '{socket_dir}'\n")
        with open(data / "pg_hba.conf", "a") as hba:
            hba.writelines(f"host kaa kaa {h.ip}/32 scram-sha-256\n" for h in self.hosts)
        run(host.netns(*as_pg, bindir / "pg_ctl", "-D", data, "-l", self.pg_data / "postgresql.log",
                       "-w", "start"), cwd="/")
        psql = [*as_pg, bindir / "psql", "-h", socket_dir, "-v", "ON_ERROR_STOP=1", "-c"]
        run(host.netns(*psql, f"CREATE ROLE kaa LOGIN PASSWORD '{SQL_PASSWORD}'"), cwd="/")
        run(host.netns(*psql, "CREATE DATABASE kaa OWNER kaa"), cwd="/")

    def setup_hosts(self):
        """The cluster CA once, then setup-host.sh on each host (docs/install.md)."""
        first = self.hosts[0]
        run(["chroot", first.root, "kaa-node", "certs", "init", "--dir", "/root/kaa-ca"])
        for host in self.hosts[1:]:
            shutil.copytree(first.root / "root/kaa-ca", host.root / "root/kaa-ca",
                            dirs_exist_ok=True)
        zookeeper = ",".join(f"{h.ip}:2181" for h in self.hosts)
        for host in self.hosts:
            result = run(host.chroot(
                "/usr/share/kaa-node/bare-metal/setup-host.sh",
                "--services", "control,operations,bootstrap", "--node-id", host.node_id,
                "--public-host", host.ip, "--zookeeper", zookeeper, "--zookeeper-auth", ZK_AUTH,
                "--sql", f"postgres://kaa:{SQL_PASSWORD}@{first.ip}:5432/kaa",
                "--endpoint-store", "cassandra",
                "--cassandra", ",".join(h.ip for h in self.hosts),
                "--cassandra-dc", DATACENTER, "--replication", "3", "--consistency", "quorum",
                "--ca-dir", "/root/kaa-ca", "--admin-password", ADMIN_PASSWORD),
                capture=True, timeout=300)
            print(result.stdout, end="", flush=True)
            self.check(f"setup-host.sh on {host.name} checked every dependency",
                       "FAILED" not in result.stdout)

    def start_nodes(self):
        """Host 1 first, so that it leads; then the others."""
        for host in self.hosts:
            host.start_node()
            _, secs = wait_for(f"{host.name} ready", 120, host.ready, interval=0.5)
            say(f"kaa-node on {host.name} ready in {secs:.1f} s")
            if host is self.hosts[0]:
                wait_for("host 1 leads", 30, lambda: host.cluster()["this_node_leads"])

        def formed():
            view = self.hosts[0].cluster()
            return view if (len(view["operations"]) == 3 and len(view["bootstrap"]) == 3
                            and view["leader"] == self.hosts[0].node_id) else None
        view, secs = wait_for("the cluster to form", 60, formed, interval=0.5)
        leaders = [h.name for h in self.hosts if h.cluster()["this_node_leads"]]
        self.check("one Control leader, three Operations, three Bootstrap",
                   leaders == ["h1"] and len(view["operations"]) == 3
                   and len(view["bootstrap"]) == 3, f"leaders={leaders}")

    # -- the application ---------------------------------------------------------------------

    def application(self):
        """Tenant, developer, application, log schema, confirm-delivery Cassandra appender, SDK
        profile, over the leader's admin API. Returns (sdk token, log keyspace)."""
        base = self.hosts[0].admin("")

        def call(method, path, body, token, expected=201):
            status, reply = http_json(base + path, method, body, token, timeout=30)
            if status != expected:
                raise RuntimeError(f"{method} {path}: {status} {reply}")
            return reply

        def login(user):
            return call("POST", "/api/v1/auth/login",
                        {"username": user, "password": ADMIN_PASSWORD}, None, 200)["token"]

        admin = login("admin")
        tenant = call("POST", "/api/v1/tenants", {"name": "fleet"}, admin)["id"]
        call("POST", "/api/v1/users", {"username": "boss", "password": ADMIN_PASSWORD,
                                       "role": "TENANT_ADMIN", "tenant_id": tenant}, admin)
        boss = login("boss")
        call("POST", "/api/v1/users", {"username": "dev", "password": ADMIN_PASSWORD,
                                       "role": "TENANT_DEVELOPER"}, boss)
        app = "/api/v1/applications/" + call("POST", "/api/v1/applications",
                                             {"name": "meters"}, boss)["id"]
        dev = login("dev")
        call("POST", f"{app}/schemas/log", {"name": "reading", "schema": LOG_SCHEMA}, dev)
        call("POST", f"{app}/log-appenders", {
            "name": "readings", "type": "cassandra", "confirm_delivery": True,
            "settings": {"table": "readings", "columns": [
                {"name": "endpoint", "source": "record.endpoint"},
                {"name": "seq", "source": "record.seq"}]}}, dev)
        profile = call("POST", f"{app}/sdk-profiles", {"name": "meters-v1", "log_version": 1}, dev)
        keyspace = "kaa_logs_" + "".join(c for c in tenant if c.isalnum()).lower()[:39]
        return profile["sdk_token"], keyspace

    # -- teardown ----------------------------------------------------------------------------

    def teardown(self):
        if self.fleet and self.fleet.process.poll() is None:
            self.fleet.process.kill()
            self.fleet.process.wait()
        for host in self.hosts:
            try:
                host.stop_node()
            except Exception as error:  # noqa: BLE001
                say(f"{host.name}: {error}")
        for host in self.hosts:
            if (host.dir / "cassandra").exists():
                self.cassandra_call(host, "cassandra_stop", check=False)
        for name, process in self.processes:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
                try:
                    process.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    os.killpg(process.pid, signal.SIGKILL)
        if (self.pg_data / "data/postmaster.pid").exists():
            bindir = sorted(Path("/usr/lib/postgresql").glob("*/bin"))[-1]
            subprocess.run(self.hosts[0].netns("runuser", "-u", "postgres", "--", bindir / "pg_ctl",
                                               "-D", self.pg_data / "data", "-m", "fast", "stop"),
                           cwd="/", capture_output=True)
        unmount_under(RUN)
        self.network.down()


class Fleet:
    """kaa-fleet in the root namespace, and what its event stream says."""

    def __init__(self, args, sdk_token, bootstrap):
        self.args = args
        self.events_path = RUN / "fleet-events.jsonl"
        self.summary_path = RUN / "fleet-summary.json"
        self.stop_path = RUN / "fleet.stop"
        for path in (self.events_path, self.summary_path, self.stop_path):
            path.unlink(missing_ok=True)
        shutil.rmtree(RUN / "fleet", ignore_errors=True)
        self.server = {}       # endpoint -> server while connected
        self.history = []      # every event, parsed
        self.delivered = 0
        self.offset = 0
        self.log = open(RUN / "fleet.log", "a")
        self.process = subprocess.Popen(
            [args.fleet, "run", *bootstrap, "--sdk-token", sdk_token,
             "--endpoints", str(args.endpoints), "--state-dir", RUN / "fleet",
             # A fleet switched on over 15 s rather than in one instant.
             "--ramp", "15s",
             "--key-cache", Path.home() / ".cache/kaa-rs/fleet-keys",
             # Pings every 2 s (the server allows 1.5 x 4 s of silence), a session silent 3 s
             # after a ping is left: a dead host's endpoints leave it within 5 s.
             "--log-interval", "1s", "--keep-alive", "4", "--timeout", "3s",
             "--retry-delay", "500ms", "--events", self.events_path,
             "--stop-file", self.stop_path, "--drain", "120s", "--summary", self.summary_path],
            stdout=subprocess.PIPE, stderr=self.log, text=True)

    def poll(self):
        """Reads the events written since the last call."""
        if not self.events_path.exists():
            return
        with open(self.events_path) as events:
            events.seek(self.offset)
            while True:
                line = events.readline()
                if not line.endswith("\n"):
                    break
                self.offset += len(line.encode())
                event = json.loads(line)
                self.history.append(event)
                kind, endpoint = event["kind"], event["endpoint"]
                if kind == "connected":
                    self.server[endpoint] = event["server"]
                elif kind == "disconnected":
                    self.server.pop(endpoint, None)
                elif kind == "delivered":
                    self.delivered += event["last"] - event["first"] + 1
        if self.process.poll() not in (None, 0):
            raise RuntimeError(f"kaa-fleet exited with {self.process.returncode}; see {RUN}/fleet.log")

    def acknowledged(self, records):
        """Whether at least `records` records have been acknowledged so far."""
        self.poll()
        return self.delivered >= records

    def spread(self):
        self.poll()
        counts = {}
        for server in self.server.values():
            host = server.rsplit(":", 1)[0]
            counts[host] = counts.get(host, 0) + 1
        return counts

    def finish(self):
        self.stop_path.touch()
        output, _ = self.process.communicate(timeout=200)
        if self.process.returncode != 0:
            raise RuntimeError(f"kaa-fleet run failed ({self.process.returncode}): see {RUN}/fleet.log")
        self.poll()
        return json.loads(self.summary_path.read_text())


def scenario(cluster, args):
    h1, h2, h3 = cluster.hosts
    sdk_token, keyspace = cluster.application()
    # Host 1 first, then the others, as a generated SDK lists the Bootstrap nodes (by node id):
    # every device bootstraps through host 1 while it answers.
    bootstrap = []
    for host in cluster.hosts:
        key = base64.b64encode((host.root / "var/lib/kaa-node/keys/node.public").read_bytes())
        key_file = RUN / f"bootstrap-{host.name}.pub.b64"
        key_file.write_text(key.decode() + "\n")
        bootstrap += ["--bootstrap", f"{host.ip}:9888", "--bootstrap-key", key_file]

    fleet = cluster.fleet = Fleet(args, sdk_token, bootstrap)
    wanted = args.endpoints
    _, secs = wait_for(f"{wanted} endpoints connected", 300,
                       lambda: sum(fleet.spread().values()) >= wanted, interval=0.5)
    spread = fleet.spread()
    say(f"{wanted} endpoints connected in {secs:.1f} s: {spread}")
    cluster.figures["connect_all_s"] = round(secs, 1)
    cluster.figures["spread"] = spread
    cluster.check("the endpoints spread over the three hosts",
                  all(spread.get(h.ip, 0) >= wanted // 10 for h in cluster.hosts), str(spread))
    before = fleet.delivered
    wait_for("logs delivered", 60, lambda: fleet.acknowledged(before + wanted))
    say(f"{fleet.delivered} records acknowledged before the cut")

    # -- the leader's host cut off -----------------------------------------------------------
    def leaders():
        return [h for h in cluster.hosts if (h.cluster() or {}).get("this_node_leads")]

    def settled():
        """The one leader, if it has led for the last 3 s (so the cut, not an earlier hiccup
        of a busy machine, is what moves leadership)."""
        first = leaders()
        if len(first) != 1:
            return None
        for _ in range(6):
            time.sleep(0.5)
            if leaders() != first:
                return None
        return first
    leading, _ = wait_for("one settled Control leader before the cut", 60, settled, interval=0.5)
    gone = leading[0]
    survivors = [h for h in cluster.hosts if h is not gone]
    cluster.figures["cut_host"] = gone.name
    if gone is not h1:
        say(f"NOTE: leadership moved from host 1 to {gone.name} before the cut (under the load "
            f"of the devices connecting); cutting {gone.name}, the leader")
    fleet.poll()
    on_gone = {e for e, server in fleet.server.items() if server.startswith(gone.ip + ":")}
    acked_before_cut = fleet.delivered
    cut_wall_ms = time.time() * 1000
    cut = time.monotonic()
    cluster.network.cut(gone)

    def new_leader():
        for host in survivors:
            view = host.cluster()
            if view and view["this_node_leads"]:
                return host.name
        return None
    leader, failover = wait_for("a new Control leader", 30, new_leader, interval=0.05)
    say(f"{leader} leads {failover:.2f} s after {gone.name} was cut off")
    cluster.figures["failover_s"] = round(failover, 2)

    survivor_ips = [h.ip for h in survivors]

    def moved():
        fleet.poll()
        back = {e for e in on_gone if fleet.server.get(e, "").split(":")[0] in survivor_ips}
        return back if len(back) == len(on_gone) else None
    wait_for(f"{gone.name}'s endpoints reconnecting elsewhere", 60, moved, interval=0.2)
    reconnects = []
    for endpoint in on_gone:
        times = [e["t_ms"] for e in fleet.history if e["endpoint"] == endpoint
                 and e["kind"] == "connected" and e["t_ms"] >= cut_wall_ms
                 and e["server"].split(":")[0] in survivor_ips]
        reconnects.append((min(times) - cut_wall_ms) / 1000)
    cluster.figures["endpoints_on_cut_host"] = len(on_gone)
    cluster.figures["reconnect_p50_s"] = round(percentile(reconnects, 0.5) or 0, 2)
    cluster.figures["reconnect_max_s"] = round(max(reconnects, default=0), 2)
    say(f"{len(on_gone)} endpoints of {gone.name} reconnected elsewhere: p50 "
        f"{cluster.figures['reconnect_p50_s']} s, max {cluster.figures['reconnect_max_s']} s")
    modes = {h.name: zk_mode(h.ip) for h in survivors}
    cluster.check("ZooKeeper keeps quorum on the two other hosts",
                  all(m in ("leader", "follower") for m in modes.values()), str(modes))
    during = fleet.delivered
    wait_for("logs acknowledged during the partition (Cassandra QUORUM on two members)", 60,
             lambda: fleet.acknowledged(during + wanted))
    cluster.figures["acked_during_partition"] = fleet.delivered - acked_before_cut
    cluster.check("a new leader within 3 s", failover <= 3.0, f"{failover:.2f} s")
    cluster.check(f"{gone.name}'s endpoints elsewhere within 10 s",
                  cluster.figures["reconnect_max_s"] <= 10.0,
                  f"max {cluster.figures['reconnect_max_s']} s of {len(on_gone)}")
    partition_s = time.monotonic() - cut

    # -- the host back -----------------------------------------------------------------------
    cluster.network.heal(gone)
    healed = time.monotonic()
    watcher = survivors[0]

    def rejoined():
        view = watcher.cluster()
        return (view and gone.node_id in {o["id"] for o in view["operations"]}
                and zk_mode(gone.ip) in ("leader", "follower"))
    _, secs = wait_for(f"{gone.name} rejoining", 120, rejoined, interval=0.5)
    wait_for("Cassandra ring whole again", 120, lambda: cluster.nodetool_up(watcher) == 3,
             interval=3)
    cluster.figures["partition_s"] = round(partition_s, 1)
    cluster.figures["rejoin_s"] = round(time.monotonic() - healed, 1)
    say(f"{gone.name} rejoined the cluster {secs:.1f} s after its link came back "
        f"(ZooKeeper, Cassandra and kaa-node: {cluster.figures['rejoin_s']} s)")

    # -- rolling upgrade -------------------------------------------------------------------
    upgrade = Path(args.upgrade_deb).name
    new_version = run(["dpkg-deb", "-f", args.upgrade_deb, "Version"], capture=True).stdout.strip()
    downtimes = {}
    for host in cluster.hosts:
        conf = host.root / "etc/kaa-node/node.toml"
        keys = host.root / "var/lib/kaa-node/keys"
        before = (hashlib.sha256(conf.read_bytes()).hexdigest(),
                  {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in keys.iterdir()})
        stopped = time.monotonic()
        code = host.stop_node()
        cluster.check(f"{host.name} stopped cleanly for the upgrade", code == 0, f"exit {code}")
        run(host.chroot("env", "DEBIAN_FRONTEND=noninteractive", "apt-get", "install", "-y", "-qq",
                        "-o", "Dpkg::Options::=--force-confold", f"/tmp/{upgrade}"))
        installed = run(host.chroot("dpkg-query", "-W", "-f=${Version}", "kaa-node"),
                        capture=True).stdout
        after = (hashlib.sha256(conf.read_bytes()).hexdigest(),
                 {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in keys.iterdir()})
        cluster.check(f"{host.name} upgraded to {new_version}, configuration and keys kept",
                      installed == new_version and after == before, installed)
        host.start_node()
        wait_for(f"{host.name} ready after the upgrade", 120, host.ready, interval=0.5)
        other = h1 if host is h2 else h2
        wait_for(f"{host.name} back in the cluster", 60, lambda: host.node_id in {
            o["id"] for o in other.cluster()["operations"]}, interval=0.5)
        downtimes[host.name] = round(time.monotonic() - stopped, 1)
        say(f"{host.name} upgraded and back in {downtimes[host.name]} s")
    cluster.figures["upgrade_downtime_s"] = downtimes
    leaders = [h.name for h in cluster.hosts if h.cluster()["this_node_leads"]]
    cluster.check("one leader after the rolling upgrade", len(leaders) == 1, str(leaders))

    # -- the books -------------------------------------------------------------------------
    summary = fleet.finish()
    counted = run([args.fleet, "count", "--cassandra", f"{h2.ip}:9042",
                   "--cassandra", f"{h3.ip}:9042", "--keyspace", keyspace, "--table", "readings",
                   "--consistency", "quorum", "--acked", fleet.summary_path],
                  capture=True, check=False, timeout=300)
    print(counted.stdout, counted.stderr, flush=True)
    books = json.loads(counted.stdout)
    cluster.figures.update({
        "records_appended": summary.get("appended"),
        "records_acked": summary.get("acknowledged"),
        "rows_stored": books.get("rows"),
        "records_distinct": books.get("distinct"),
        "records_duplicated": books.get("duplicates"),
        "records_lost": books.get("lost"),
    })
    cluster.check("every acknowledged record stored", counted.returncode == 0
                  and books.get("lost") == 0, f"lost {books.get('lost')}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--deb", required=True)
    parser.add_argument("--upgrade-deb", required=True)
    parser.add_argument("--fleet", required=True)
    parser.add_argument("--endpoints", type=int,
                        default=int(os.environ.get("KAA_THREE_HOSTS_ENDPOINTS", "300")))
    parser.add_argument("--keep", action="store_true", help="leave everything running on failure")
    args = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit("the three-host test needs root (network namespaces, chroot)")
    for path in (args.deb, args.upgrade_deb, args.fleet):
        if not Path(path).exists():
            sys.exit(f"missing: {path}")
    cluster = Cluster(args)
    cluster.network.down()
    unmount_under(RUN)
    shutil.rmtree(RUN, ignore_errors=True)
    RUN.mkdir(parents=True)
    ok = False
    try:
        cluster.prepare_roots()
        cluster.network.up()
        cluster.zookeeper()
        cluster.cassandra()
        cluster.postgresql()
        cluster.setup_hosts()
        cluster.start_nodes()
        scenario(cluster, args)
        ok = True
    except Exception as error:  # noqa: BLE001 - reported with the logs' tails below
        say(f"FAILED: {error}")
        for host in cluster.hosts:
            if host.node_log.exists():
                tail = host.node_log.read_text(errors="replace").splitlines()[-25:]
                say(f"---- last lines of {host.node_log} ----\n" + "\n".join(tail))
    finally:
        results = {"ok": ok, "endpoints": args.endpoints, "figures": cluster.figures,
                   "checks": cluster.checks, "seconds": round(time.monotonic() - T0, 1)}
        (RUN / "results.json").write_text(json.dumps(results, indent=2))
        if ok or not args.keep:
            cluster.teardown()
        print(json.dumps(results["figures"], indent=2))
        say(f"{'passed' if ok else 'FAILED'} in {results['seconds']} s; logs under {RUN}")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
