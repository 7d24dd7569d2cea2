//! Real `kaa-node` processes for tests: each runs from the workspace's own binary, with its own
//! data dir and free ports, and is killed when dropped.

use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

/// Path of the `kaa-node` binary, built once per test run (a no-op when up to date).
pub fn binary() -> &'static Path {
    static BINARY: OnceLock<PathBuf> = OnceLock::new();
    BINARY.get_or_init(|| {
        if let Ok(path) = std::env::var("KAA_NODE_BIN") {
            return PathBuf::from(path);
        }
        let status = Command::new(env!("CARGO"))
            .args(["build", "--quiet", "-p", "kaa-node", "--bin", "kaa-node"])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .status()
            .expect("run cargo build for kaa-node");
        assert!(status.success(), "cargo build of kaa-node failed");
        // target/<profile>/deps/<test binary> -> target/<profile>/kaa-node
        let exe = std::env::current_exe().expect("test binary path");
        exe.parent()
            .and_then(Path::parent)
            .expect("target profile dir")
            .join("kaa-node")
    })
}

/// A port on 127.0.0.1 that was free a moment ago, handed out once per test process.
///
/// Ports come from below the kernel's ephemeral range (32768–60999 on Linux), so an outgoing
/// connection of another test cannot take a port between this call and the node's bind; the
/// start of the walk depends on the process id, so two test processes rarely meet.
pub fn free_port() -> u16 {
    use std::sync::atomic::{AtomicU32, Ordering};
    const FIRST: u32 = 20_000;
    const SPAN: u32 = 12_000;
    static NEXT: AtomicU32 = AtomicU32::new(u32::MAX);
    let _ = NEXT.compare_exchange(
        u32::MAX,
        (std::process::id() * 7919) % SPAN,
        Ordering::SeqCst,
        Ordering::SeqCst,
    );
    for _ in 0..SPAN {
        let port = (FIRST + NEXT.fetch_add(1, Ordering::SeqCst) % SPAN) as u16;
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free port between {FIRST} and {}", FIRST + SPAN)
}

/// How to start a node.
pub struct NodeBuilder {
    program: Option<PathBuf>,
    standalone: bool,
    config_toml: Option<String>,
    /// `--set` overrides in order; a later entry for the same key replaces the earlier one.
    settings: Vec<(String, String)>,
    env: Vec<(String, String)>,
}

impl NodeBuilder {
    fn new(standalone: bool, config_toml: Option<String>) -> Self {
        let mut builder = Self {
            program: None,
            standalone,
            config_toml,
            settings: Vec::new(),
            env: Vec::new(),
        };
        builder = builder
            .set("admin.host", "127.0.0.1")
            .set("admin.port", free_port());
        for key in [
            "node.thrift_port",
            "operations.tcp_port",
            "operations.http_port",
            "bootstrap.tcp_port",
            "bootstrap.http_port",
        ] {
            builder = builder.set(key, free_port());
        }
        if !standalone {
            // A cluster node refuses to start without ZooKeeper credentials; the same ones for
            // every node, so nodes of one test share their chroot.
            builder = builder.set("zookeeper.auth", crate::infra::ZOOKEEPER_AUTH);
        }
        if !standalone {
            // Internode Thrift over mutual TLS under the test process's CA (a standalone node
            // makes its own).
            let files = crate::internode_tls::test_ca().node_files();
            builder = builder
                .set("cluster.tls_ca", files.ca.display())
                .set("cluster.tls_cert", files.cert.display())
                .set("cluster.tls_key", files.key.display());
        }
        builder
    }

    /// `kaa-node standalone` with a fresh data dir and free ports.
    pub fn standalone() -> Self {
        Self::new(true, None)
    }

    /// `kaa-node standalone` on 127.0.0.1 whose first admin is `admin` with `admin_password`.
    pub fn standalone_with_admin(admin_password: &str) -> Self {
        Self::standalone()
            .env("KAA_ADMIN_USER", "admin")
            .env("KAA_ADMIN_PASSWORD", admin_password)
            .set("node.thrift_host", "127.0.0.1")
    }

    /// `kaa-node --config <file>` with `toml` as the file's content, a fresh data dir and free
    /// ports.
    pub fn with_config(toml: impl Into<String>) -> Self {
        Self::new(false, Some(toml.into()))
    }

    /// A cluster node `id` in ZooKeeper (from `deploy/local/infra.sh`) under `chroot`, on
    /// 127.0.0.1, whose first admin is `admin` with `admin_password`; a short ZooKeeper session
    /// and quick load reports, so the cluster notices changes within seconds.
    pub fn cluster_member(chroot: &str, id: &str, admin_password: &str) -> Self {
        Self::with_config("")
            .env("KAA_ADMIN_USER", "admin")
            .env("KAA_ADMIN_PASSWORD", admin_password)
            .set("node.id", id)
            .set("node.thrift_host", "127.0.0.1")
            .set("zookeeper.connect", crate::infra::zookeeper())
            .set("zookeeper.chroot", chroot)
            .set("zookeeper.session_timeout", "2s")
            .set("zookeeper.load_report_interval", "500ms")
    }

    /// Sets `--set key=value`, replacing an earlier value of `key`.
    pub fn set(mut self, key: &str, value: impl ToString) -> Self {
        self.settings.retain(|(k, _)| k != key);
        self.settings.push((key.into(), value.to_string()));
        self
    }

    /// Runs this `kaa-node` executable instead of the debug build (benchmarks use a release one).
    pub fn program(mut self, path: impl Into<PathBuf>) -> Self {
        self.program = Some(path.into());
        self
    }

    /// Adds an environment variable.
    pub fn env(mut self, name: &str, value: impl ToString) -> Self {
        self.env.push((name.into(), value.to_string()));
        self
    }

    /// Starts the process and waits until it is ready; panics with its log otherwise.
    pub async fn start(self) -> Node {
        let mut node = self.spawn().expect("spawn kaa-node");
        node.wait_for("/ready", 200, Duration::from_secs(60))
            .await
            .expect("kaa-node ready");
        node
    }

    /// Starts the process, its output going to a log file.
    pub fn spawn(self) -> anyhow::Result<Node> {
        let dir = tempfile::tempdir()?;
        let data_dir = dir.path().join("data").display().to_string();
        let mut args: Vec<String> = Vec::new();
        if self.standalone {
            args.extend(["standalone".into(), "--data-dir".into(), data_dir]);
        } else {
            args.extend(["--set".into(), format!("node.data_dir={data_dir}")]);
        }
        if let Some(toml) = &self.config_toml {
            let file = dir.path().join("node.toml");
            std::fs::write(&file, toml)?;
            args.extend(["--config".into(), file.display().to_string()]);
        }
        for (key, value) in &self.settings {
            args.extend(["--set".into(), format!("{key}={value}")]);
        }
        let port = |key: &str| -> anyhow::Result<u16> {
            self.settings
                .iter()
                .find(|(k, _)| k == key)
                .and_then(|(_, v)| v.parse().ok())
                .with_context(|| key.to_owned())
        };
        let admin_port = port("admin.port")?;
        let thrift_port = port("node.thrift_port")?;

        let log_path = dir.path().join("node.log");
        let log = std::fs::File::create(&log_path)?;
        let mut command = match &self.program {
            Some(program) => Command::new(program),
            None => Command::new(binary()),
        };
        command
            .args(&args)
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log);
        for (name, value) in &self.env {
            command.env(name, value);
        }
        let child = command.spawn().context("spawn kaa-node")?;
        let admin = SocketAddr::from(([127, 0, 0, 1], admin_port));
        let thrift = SocketAddr::from(([127, 0, 0, 1], thrift_port));
        Ok(Node {
            child,
            admin,
            thrift,
            settings: self.settings,
            log_path,
            _dir: dir,
        })
    }
}

/// A running `kaa-node` process.
pub struct Node {
    child: Child,
    /// Its admin HTTP address.
    pub admin: SocketAddr,
    /// Its internode Thrift address.
    pub thrift: SocketAddr,
    settings: Vec<(String, String)>,
    log_path: PathBuf,
    _dir: tempfile::TempDir,
}

impl Node {
    /// The port given to `key` (e.g. `bootstrap.tcp_port`).
    pub fn port(&self, key: &str) -> u16 {
        self.settings
            .iter()
            .find(|(k, _)| k == key)
            .and_then(|(_, v)| v.parse().ok())
            .unwrap_or_else(|| panic!("no port set for {key}"))
    }

    /// `http://<admin address><path>`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.admin, path)
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The node's data dir (`node.data_dir`).
    pub fn data_dir(&self) -> PathBuf {
        self._dir.path().join("data")
    }

    /// Everything the node has logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    /// Polls `path` until it answers `status`, or fails after `timeout` with the node's log.
    pub async fn wait_for(
        &mut self,
        path: &str,
        status: u16,
        timeout: Duration,
    ) -> anyhow::Result<Duration> {
        let started = Instant::now();
        let client = reqwest::Client::new();
        loop {
            let request = client.get(self.url(path)).timeout(Duration::from_secs(2));
            if let Ok(response) = request.send().await
                && response.status().as_u16() == status
            {
                return Ok(started.elapsed());
            }
            if let Some(exit) = self.child.try_wait()? {
                bail!(
                    "kaa-node exited ({exit}) before {path} answered {status}; log:\n{}",
                    self.log()
                );
            }
            if started.elapsed() > timeout {
                bail!(
                    "{path} did not answer {status} within {timeout:?}; log:\n{}",
                    self.log()
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits until this node's view of the cluster counts `count` live Operations nodes.
    pub async fn wait_operations(&self, count: usize, within: Duration) {
        let deadline = Instant::now() + within;
        loop {
            let seen = self
                .get_json("/cluster")
                .await
                .and_then(|v| v["operations"].as_array().map(Vec::len));
            if seen == Some(count) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{} sees {seen:?} operations nodes, not {count}",
                self.admin
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Sends `signal` to the process.
    pub fn signal(&self, signal: Signal) {
        let _ = kill(Pid::from_raw(self.child.id() as i32), signal);
    }

    /// Kills the process at once (SIGKILL), as a crash would.
    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// GETs `path` and returns the body as text; panics if the node does not answer.
    pub async fn get_text(&self, path: &str) -> String {
        let response = reqwest::get(self.url(path)).await.expect("node answers");
        response.text().await.expect("text body")
    }

    /// The value of the `/metrics` sample `series` (a metric name with its labels, if any);
    /// 0 when the node does not show it (yet).
    pub async fn metric(&self, series: &str) -> f64 {
        self.get_text("/metrics")
            .await
            .lines()
            .find_map(|line| {
                line.strip_prefix(series)?
                    .strip_prefix(' ')?
                    .trim()
                    .parse()
                    .ok()
            })
            .unwrap_or(0.0)
    }

    /// GETs `path` and parses the JSON body; `None` if the node does not answer.
    pub async fn get_json(&self, path: &str) -> Option<serde_json::Value> {
        let response = reqwest::Client::new()
            .get(self.url(path))
            .timeout(Duration::from_secs(2))
            .send()
            .await
            .ok()?;
        response.json().await.ok()
    }

    /// Waits for the process to exit, for at most `timeout`.
    pub async fn wait_exit(&mut self, timeout: Duration) -> anyhow::Result<ExitStatus> {
        let started = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait()? {
                return Ok(status);
            }
            if started.elapsed() > timeout {
                bail!(
                    "kaa-node still running after {timeout:?}; log:\n{}",
                    self.log()
                );
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// Lines of a node's log printed when a test fails while the node runs.
const LOG_TAIL_ON_FAILURE: usize = 150;

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            let log = self.log();
            let lines: Vec<&str> = log.lines().collect();
            let tail = &lines[lines.len().saturating_sub(LOG_TAIL_ON_FAILURE)..];
            eprintln!(
                "---- last {} lines of the log of kaa-node {} ----\n{}",
                tail.len(),
                self.admin,
                tail.join("\n")
            );
        }
    }
}
