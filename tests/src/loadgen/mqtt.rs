//! `kaa-loadgen mqtt-idle`: idle MQTT 3.1.1 connections to a broker (Debian's `mosquitto` in the
//! benchmark), the baseline of the idle-session figure: the broker's bytes per connection beside
//! the node's bytes per encrypted Kaatcp session, from the same generator over the same source
//! addresses.
//!
//! Each connection sends CONNECT (clean session, a client id of its index, no credentials) and
//! waits for CONNACK, then only PINGREQ every keepalive/2, expecting PINGRESP, until the run ends
//! with DISCONNECT. A connection refused (a CONNACK code other than 0) or ended by the broker is
//! counted, never retried.
//!
//! The packets are written by hand ([`connect_packet`] and the two-byte ones): a dozen bytes of
//! MQTT are all this needs.

use std::io::ErrorKind;
use std::net::{IpAddr, SocketAddr};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::{Context, bail};
use kaa_sdk::SdkError;
use kaa_sdk::idl::endpoint::kaatcp::push_remaining_length;
use serde_json::{Map, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio::time::{Instant, MissedTickBehavior};
use tokio_util::sync::CancellationToken;

use crate::loadgen::progress::Progress;
use crate::loadgen::report::{self, Common, Tally, latency, rss_bytes, seconds};
use crate::loadgen::session::SessionError;
use crate::loadgen::sources::{Sources, raise_nofile};
use crate::loadgen::{Load, wall_clock_ms};

/// PINGREQ.
pub const PINGREQ: [u8; 2] = [0xc0, 0x00];
/// PINGRESP.
pub const PINGRESP: [u8; 2] = [0xd0, 0x00];
/// DISCONNECT.
pub const DISCONNECT: [u8; 2] = [0xe0, 0x00];

/// MQTT 3.1.1's protocol level.
const PROTOCOL_LEVEL: u8 = 4;
/// CONNECT flags: clean session, no will, no credentials.
const CLEAN_SESSION: u8 = 0x02;

/// CONNECT of MQTT 3.1.1 with a clean session, `client_id` and `keep_alive` seconds.
pub fn connect_packet(client_id: &str, keep_alive: u16) -> Vec<u8> {
    let mut body = Vec::with_capacity(12 + client_id.len());
    body.extend_from_slice(&[0x00, 0x04]);
    body.extend_from_slice(b"MQTT");
    body.push(PROTOCOL_LEVEL);
    body.push(CLEAN_SESSION);
    body.extend_from_slice(&keep_alive.to_be_bytes());
    body.extend_from_slice(&(client_id.len() as u16).to_be_bytes());
    body.extend_from_slice(client_id.as_bytes());
    let mut packet = vec![0x10];
    push_remaining_length(&mut packet, body.len());
    packet.extend_from_slice(&body);
    packet
}

/// The meaning of an MQTT 3.1.1 CONNACK return code.
pub fn refusal(code: u8) -> &'static str {
    match code {
        1 => "unacceptable protocol version",
        2 => "identifier rejected",
        3 => "server unavailable",
        4 => "bad user name or password",
        5 => "not authorized",
        _ => "unknown",
    }
}

/// Checks a CONNACK (its four bytes): a refusal is counted under its return code.
pub fn check_connack(bytes: [u8; 4]) -> Result<(), SessionError> {
    match bytes {
        [0x20, 0x02, _, 0] => Ok(()),
        [0x20, 0x02, _, code] => Err(SessionError::Refused(format!(
            "CONNACK {code} ({})",
            refusal(code)
        ))),
        other => Err(SessionError::Sdk(SdkError::Protocol(format!(
            "expected CONNACK, got {other:02x?}"
        )))),
    }
}

/// What an I/O failure of connection from `source` counts as.
fn io_error(error: std::io::Error, source: IpAddr) -> SessionError {
    match error.kind() {
        ErrorKind::AddrInUse | ErrorKind::AddrNotAvailable => SessionError::PortsExhausted(source),
        ErrorKind::UnexpectedEof | ErrorKind::ConnectionReset | ErrorKind::BrokenPipe => {
            SessionError::Closed
        }
        _ => SessionError::Sdk(SdkError::Io(error)),
    }
}

/// An MQTT connection the broker accepted.
pub struct MqttConnection {
    stream: TcpStream,
    source: IpAddr,
    index: usize,
}

impl MqttConnection {
    /// Connects from `source` to `broker`, sends CONNECT (client id `loadgen-<index>`) and
    /// waits at most `timeout` for an accepting CONNACK.
    pub async fn open(
        source: IpAddr,
        broker: SocketAddr,
        index: usize,
        keep_alive: u16,
        timeout: Duration,
    ) -> Result<Self, SessionError> {
        let io = |error| io_error(error, source);
        let opening = async {
            let socket = match source {
                IpAddr::V4(_) => TcpSocket::new_v4(),
                IpAddr::V6(_) => TcpSocket::new_v6(),
            }
            .map_err(io)?;
            socket.bind(SocketAddr::new(source, 0)).map_err(io)?;
            let mut stream = socket.connect(broker).await.map_err(io)?;
            stream.set_nodelay(true).map_err(io)?;
            let connect = connect_packet(&format!("loadgen-{index}"), keep_alive);
            stream.write_all(&connect).await.map_err(io)?;
            let mut connack = [0u8; 4];
            stream.read_exact(&mut connack).await.map_err(io)?;
            check_connack(connack)?;
            Ok(stream)
        };
        let stream = tokio::time::timeout(timeout, opening)
            .await
            .map_err(|_| SessionError::Timeout("CONNACK"))??;
        Ok(Self {
            stream,
            source,
            index,
        })
    }

    /// Pings every `interval` (the first after a share of it that staggers connections) until
    /// `release` (then DISCONNECT); counts pings in `pings`. Fails when the broker ends the
    /// connection or sends anything but PINGRESP.
    pub async fn hold(
        mut self,
        interval: Duration,
        release: CancellationToken,
        pings: &AtomicU64,
    ) -> Result<(), SessionError> {
        let offset = interval.mul_f64((self.index % 1000) as f64 / 1000.0);
        let mut next_ping = Instant::now() + offset;
        let mut answer = [0u8; 2];
        let mut filled = 0;
        loop {
            tokio::select! {
                () = release.cancelled() => {
                    let _ = self.stream.write_all(&DISCONNECT).await;
                    return Ok(());
                }
                () = tokio::time::sleep_until(next_ping) => {
                    next_ping += interval;
                    self.stream.write_all(&PINGREQ).await.map_err(|e| io_error(e, self.source))?;
                    pings.fetch_add(1, Ordering::Relaxed);
                }
                read = self.stream.read(&mut answer[filled..]) => {
                    match read.map_err(|e| io_error(e, self.source))? {
                        0 => return Err(SessionError::Closed),
                        n => filled += n,
                    }
                    if filled == answer.len() {
                        if answer != PINGRESP {
                            return Err(SessionError::Sdk(SdkError::Protocol(format!(
                                "unexpected packet {answer:02x?}"
                            ))));
                        }
                        filled = 0;
                    }
                }
            }
        }
    }
}

/// What `mqtt-idle` is told.
#[derive(Debug, Clone)]
pub struct MqttOptions {
    /// The broker, `host:port`.
    pub broker: String,
    /// How many connections, how fast, for how long.
    pub load: Load,
}

/// Runs `mqtt-idle`: opens every connection (at most `concurrency` CONNECTs in flight, at most
/// `connect_rate` a second), holds them for `duration` (or until SIGINT/SIGTERM), closes them
/// and reports as the Kaatcp modes do.
pub async fn run(options: MqttOptions) -> anyhow::Result<ExitCode> {
    anyhow::ensure!(options.load.endpoints > 0, "--endpoints must be at least 1");
    anyhow::ensure!(
        options.load.concurrency > 0,
        "--concurrency must be at least 1"
    );
    if options.load.keep_alive < 2 {
        bail!("--keepalive must be at least 2 s (PINGREQ at keepalive/2)");
    }
    let started = std::time::Instant::now();
    let nofile = raise_nofile(options.load.endpoints)?;
    let sources = Sources::new(options.load.sources, options.load.endpoints)?;
    let broker = tokio::net::lookup_host(&options.broker)
        .await
        .with_context(|| format!("resolving {}", options.broker))?
        .find(SocketAddr::is_ipv4)
        .with_context(|| format!("{} has no IPv4 address", options.broker))?;
    let stop = stop_on_signal();
    let progress = Progress::start(options.load.endpoints, options.load.quiet);
    let tally = Tally::default();
    let rss_before = rss_bytes();

    let in_flight = Arc::new(Semaphore::new(options.load.concurrency));
    let mut pacing = options.load.connect_rate.map(|rate| {
        let mut pacing = tokio::time::interval(Duration::from_secs_f64(1.0 / rate.max(1e-3)));
        pacing.set_missed_tick_behavior(MissedTickBehavior::Burst);
        pacing
    });
    let mut opening = JoinSet::new();
    for index in 0..options.load.endpoints {
        if stop.is_cancelled() {
            break;
        }
        if let Some(pacing) = &mut pacing {
            pacing.tick().await;
        }
        let permit = in_flight.clone().acquire_owned().await?;
        let source = sources.for_session(index);
        let (keep_alive, timeout) = (options.load.keep_alive, options.load.timeout);
        opening.spawn(async move {
            let _permit = permit;
            let began = Instant::now();
            let opened = MqttConnection::open(source, broker, index, keep_alive, timeout).await;
            opened.map(|connection| (connection, began.elapsed()))
        });
    }
    let mut connections = Vec::with_capacity(options.load.endpoints);
    let mut connect = Vec::with_capacity(options.load.endpoints);
    while let Some(done) = opening.join_next().await {
        match done? {
            Ok((connection, took)) => {
                connections.push(connection);
                connect.push(took);
                progress.opened.fetch_add(1, Ordering::Relaxed);
            }
            Err(error) => {
                tally.record(&error);
                progress.failed.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
    let ramp = started.elapsed();
    let connected = connections.len();
    if let Some(file) = &options.load.ready {
        let ready = json!({ "connected": connected, "t_ms": wall_clock_ms() });
        std::fs::write(file, format!("{ready}\n"))
            .with_context(|| format!("writing {}", file.display()))?;
    }

    progress.phase("holding");
    let interval = Duration::from_millis(u64::from(options.load.keep_alive) * 500);
    let release = stop.child_token();
    let mut holding = JoinSet::new();
    for connection in connections {
        let (release, progress) = (release.clone(), progress.clone());
        holding.spawn(async move {
            connection
                .hold(interval, release, &progress.operations)
                .await
        });
    }
    let held_from = Instant::now();
    tokio::select! {
        () = tokio::time::sleep(options.load.duration) => {}
        () = stop.cancelled() => {}
    }
    let rss_with_connections = rss_bytes();
    let pings = progress.operations.load(Ordering::Relaxed);
    let held = held_from.elapsed();
    release.cancel();
    let mut open_at_end = 0;
    while let Some(done) = holding.join_next().await {
        match done? {
            Ok(()) => open_at_end += 1,
            Err(error) => {
                tally.record(&error);
                progress.lost.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
    progress.finish();

    let mut fields = Map::new();
    fields.insert("broker".into(), json!(options.broker));
    fields.insert("connect".into(), latency(&mut connect));
    fields.insert("keepalive_s".into(), json!(options.load.keep_alive));
    fields.insert("held_s".into(), json!(seconds(held)));
    fields.insert("open_at_end".into(), json!(open_at_end));
    fields.insert("lost".into(), json!(connected - open_at_end));
    fields.insert("pings".into(), json!(pings));
    let result = report::result(
        Common {
            mode: "mqtt-idle",
            endpoints: options.load.endpoints,
            connected,
            tally: &tally,
            ramp,
            elapsed: started.elapsed(),
            nofile,
            sources: sources.len(),
            rss_before,
            rss_with_sessions: rss_with_connections,
        },
        fields,
    );
    report::publish(&result, options.load.result.as_deref())?;
    let complaints = report::complaints(&tally);
    for line in &complaints {
        eprintln!("kaa-loadgen: {line}");
    }
    Ok(
        if connected < options.load.endpoints || !complaints.is_empty() {
            ExitCode::FAILURE
        } else {
            ExitCode::SUCCESS
        },
    )
}

/// A token cancelled by SIGINT or SIGTERM.
fn stop_on_signal() -> CancellationToken {
    let stop = CancellationToken::new();
    let cancel = stop.clone();
    tokio::spawn(async move {
        let Ok(mut terminate) = signal(SignalKind::terminate()) else {
            return;
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = terminate.recv() => {}
        }
        cancel.cancel();
    });
    stop
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connect_is_mqtt_3_1_1_with_a_clean_session() {
        assert_eq!(
            connect_packet("c7", 60),
            [
                0x10, 14, 0, 4, b'M', b'Q', b'T', b'T', 4, 0x02, 0, 60, 0, 2, b'c', b'7'
            ]
        );
        let long = "x".repeat(200);
        let packet = connect_packet(&long, 1);
        // Remaining length 212 = 0xd4: two bytes, low seven bits first.
        assert_eq!(&packet[..3], &[0x10, 0xd4, 0x01]);
        assert_eq!(packet.len(), 3 + 212);
    }

    #[test]
    fn connack_accepts_code_zero_and_counts_refusals_by_code() {
        assert!(check_connack([0x20, 2, 0, 0]).is_ok());
        let refused = check_connack([0x20, 2, 0, 5]).unwrap_err();
        assert!(refused.is_refusal());
        assert_eq!(refused.tally_key(), "CONNACK 5 (not authorized)");
        let garbage = check_connack([0xd0, 0, 0x20, 2]).unwrap_err();
        assert!(!garbage.is_refusal());
        assert_eq!(
            garbage.to_string(),
            "protocol: expected CONNACK, got [d0, 00, 20, 02]"
        );
    }
}
