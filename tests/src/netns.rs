//! A network partition for tests: a Linux network namespace holding one `kaa-node`, joined to the
//! host by a veth pair whose host end is the only port of a bridge that carries the host's
//! address. The node inside ([`Netns::spawn_inside`]) and the nodes outside
//! ([`Netns::outside`]) call each other at these two addresses; [`Netns::cut`] takes the host end
//! of the link down, so packets are dropped both ways and neither side gets an error, as when a
//! switch port fails; [`Netns::heal`] brings it back.
//!
//! The test servers listen on the host's loopback, which the namespace does not share, so
//! [`Netns::relay`] forwards a port of the host's bridge address to one of them; a cut silences
//! the relayed connections as it does direct ones. Internode TLS needs both addresses in the node
//! certificate: [`Netns::create`] issues one under the test CA.
//!
//! Needs root (`ip netns`, `ip link`). Dropping the [`Netns`] deletes the namespace, the veth pair
//! and the bridge, on a test failure too; drop the nodes inside first (declare the [`Netns`]
//! before them).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

use anyhow::{Context, bail};
use kaa_cluster::rpc::certs::{self, NodeSubject, TlsFiles};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::{JoinHandle, JoinSet};

use crate::node::{Node, NodeBuilder};

/// A network namespace linked to the host through a bridge; removed when dropped.
pub struct Netns {
    name: String,
    bridge: String,
    host_end: String,
    /// The host's address on the link (the bridge's).
    pub host_ip: Ipv4Addr,
    /// The namespace's address on the link.
    pub inside_ip: Ipv4Addr,
    tls: Option<TlsFiles>,
    dir: tempfile::TempDir,
}

impl Netns {
    /// Creates the namespace, the veth pair and the bridge on a /30 of 10.236.0.0/16 no interface
    /// of the host uses yet, and a node certificate for both addresses.
    pub fn create() -> anyhow::Result<Self> {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let id = (std::process::id() % 100_000) * 10 + NEXT.fetch_add(1, Ordering::SeqCst) % 10;
        let subnet = free_subnet(id)?;
        let mut netns = Self {
            name: format!("kaa-part-{id}"),
            bridge: format!("kpb{id}"),
            host_end: format!("kph{id}"),
            host_ip: Ipv4Addr::new(10, 236, subnet, 1),
            inside_ip: Ipv4Addr::new(10, 236, subnet, 2),
            tls: None,
            dir: tempfile::Builder::new().prefix("kaa-netns-").tempdir()?,
        };
        // From here on a failure drops `netns`, which removes whatever was made.
        let inside_end = format!("kpn{id}");
        let host = format!("{}/30", netns.host_ip);
        let inside = format!("{}/30", netns.inside_ip);
        let (ns, bridge, host_end) = (&netns.name, &netns.bridge, &netns.host_end);
        ip(&["netns", "add", ns])?;
        ip(&["link", "add", bridge, "type", "bridge"])?;
        ip(&["addr", "add", &host, "dev", bridge])?;
        ip(&["link", "set", bridge, "up"])?;
        ip(&[
            "link",
            "add",
            host_end,
            "type",
            "veth",
            "peer",
            "name",
            &inside_end,
        ])?;
        ip(&["link", "set", host_end, "master", bridge])?;
        ip(&["link", "set", host_end, "up"])?;
        ip(&["link", "set", &inside_end, "netns", ns])?;
        ip(&["-n", ns, "addr", "add", &inside, "dev", &inside_end])?;
        ip(&["-n", ns, "link", "set", &inside_end, "up"])?;
        ip(&["-n", ns, "link", "set", "lo", "up"])?;
        let subject = NodeSubject {
            name: "partition-node".into(),
            ips: vec![
                IpAddr::V4(Ipv4Addr::LOCALHOST),
                IpAddr::V4(netns.host_ip),
                IpAddr::V4(netns.inside_ip),
            ],
            dns: vec!["localhost".into()],
        };
        let ca = crate::internode_tls::test_ca().ca_dir();
        netns.tls = Some(certs::issue(ca, &subject, 1, netns.dir.path())?);
        Ok(netns)
    }

    fn with_tls(&self, builder: NodeBuilder) -> NodeBuilder {
        let tls = self.tls.as_ref().expect("made by create");
        builder
            .set("cluster.tls_cert", tls.cert.display())
            .set("cluster.tls_key", tls.key.display())
    }

    /// `builder` as a node outside the namespace that the node inside can call: internode Thrift
    /// and the endpoint transports on the host's bridge address (the admin port stays on
    /// loopback).
    pub fn outside(&self, builder: NodeBuilder) -> NodeBuilder {
        self.with_tls(builder).set("node.thrift_host", self.host_ip)
    }

    /// Starts `builder` inside the namespace, every port on the namespace's address (point its
    /// servers at [`Netns::relay`]s); the returned [`Node`]'s addresses are the namespace's.
    pub fn spawn_inside(&self, builder: NodeBuilder) -> anyhow::Result<Node> {
        let wrapper = self.dir.path().join("kaa-node-inside");
        std::fs::write(
            &wrapper,
            format!(
                "#!/bin/sh\nexec ip netns exec '{}' '{}' \"$@\"\n",
                self.name,
                crate::node::binary().display()
            ),
        )?;
        std::fs::set_permissions(
            &wrapper,
            std::os::unix::fs::PermissionsExt::from_mode(0o755),
        )?;
        let mut node = self
            .with_tls(builder)
            .set("node.thrift_host", self.inside_ip)
            .set("admin.host", self.inside_ip)
            .program(wrapper)
            .spawn()?;
        node.admin = SocketAddr::new(self.inside_ip.into(), node.admin.port());
        node.thrift = SocketAddr::new(self.inside_ip.into(), node.thrift.port());
        Ok(node)
    }

    /// Forwards connections to a free port of the host's bridge address to `target` (a server
    /// on the host's loopback, `host:port`), until the relay is dropped.
    pub async fn relay(&self, target: &str) -> anyhow::Result<Relay> {
        let listener = TcpListener::bind((self.host_ip, 0)).await?;
        let addr = listener.local_addr()?;
        let target = target.to_owned();
        let task = tokio::spawn(async move {
            // Dropped with the accept loop, which aborts every relayed connection.
            let mut connections = JoinSet::new();
            while let Ok((mut inbound, _)) = listener.accept().await {
                let target = target.clone();
                connections.spawn(async move {
                    if let Ok(mut outbound) = TcpStream::connect(&target).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
                while connections.try_join_next().is_some() {}
            }
        });
        Ok(Relay { addr, task })
    }

    /// Takes the link down: from now on nothing passes between the namespace and the host.
    pub fn cut(&self) -> anyhow::Result<()> {
        ip(&["link", "set", &self.host_end, "down"])
    }

    /// Brings the link back up.
    pub fn heal(&self) -> anyhow::Result<()> {
        ip(&["link", "set", &self.host_end, "up"])
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        // Deleting the host end deletes its peer too, even while a process still holds the
        // namespace.
        for args in [
            ["netns", "del", self.name.as_str()],
            ["link", "del", self.host_end.as_str()],
            ["link", "del", self.bridge.as_str()],
        ] {
            let _ = Command::new("ip").args(args).output();
        }
    }
}

/// A TCP relay from the host's bridge address to a loopback server; stops when dropped.
pub struct Relay {
    /// Where it listens.
    pub addr: SocketAddr,
    task: JoinHandle<()>,
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Runs `ip <args>`, failing with its output.
fn ip(args: &[&str]) -> anyhow::Result<()> {
    let output = Command::new("ip")
        .args(args)
        .output()
        .context("run ip (iproute2)")?;
    if !output.status.success() {
        bail!(
            "ip {} failed (root is needed): {}",
            args.join(" "),
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    Ok(())
}

/// The third octet of a 10.236.x.0/30 no interface of the host has an address in, starting the
/// walk at `seed`.
fn free_subnet(seed: u32) -> anyhow::Result<u8> {
    let output = Command::new("ip")
        .args(["-o", "-4", "addr", "show"])
        .output()
        .context("run ip (iproute2)")?;
    let addresses = String::from_utf8_lossy(&output.stdout);
    (0..250)
        .map(|step| ((seed + step) % 250 + 1) as u8)
        .find(|octet| !addresses.contains(&format!(" 10.236.{octet}.")))
        .context("no free subnet in 10.236.0.0/16")
}
