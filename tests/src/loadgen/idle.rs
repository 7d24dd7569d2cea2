//! `idle`: hold every session for `--duration`, each pinging at keepalive/2 (staggered so the
//! pings of a large run spread over the interval); the figures are how many stayed connected and
//! what a session costs the generator. [`hold`] is shared with `listen`, which also records
//! what the node pushes.

use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use kaa_sdk::idl::endpoint::sync::SyncResponse;
use serde_json::{Map, json};
use tokio_util::sync::CancellationToken;

use crate::loadgen::report::{latency, rss_bytes};
use crate::loadgen::session::Session;
use crate::loadgen::{Run, wall_clock_ms};

/// What the node pushed to an endpoint, and when it arrived.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Arrival {
    /// The endpoint's pool index.
    pub endpoint: u32,
    /// What kind of push.
    pub kind: PushKind,
    /// Wall-clock milliseconds since the Unix epoch.
    pub t_ms: u64,
    /// Notifications it carried.
    pub notifications: u32,
}

/// Kinds of pushes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PushKind {
    /// A configuration section.
    Configuration,
    /// Notifications.
    Notification,
    /// Anything else (a topic list, events, owner changes).
    Other,
}

impl Arrival {
    /// The arrivals one push makes (a configuration and notifications may come together).
    pub fn of(endpoint: usize, push: &SyncResponse, t_ms: u64) -> Vec<Self> {
        let arrival = |kind, notifications| Self {
            endpoint: endpoint as u32,
            kind,
            t_ms,
            notifications,
        };
        let mut arrivals = Vec::new();
        if push.configuration_sync_response.is_some() {
            arrivals.push(arrival(PushKind::Configuration, 0));
        }
        let notifications = push
            .notification_sync_response
            .as_ref()
            .and_then(|n| n.notifications.as_ref())
            .map_or(0, Vec::len);
        if notifications > 0 {
            arrivals.push(arrival(PushKind::Notification, notifications as u32));
        }
        if arrivals.is_empty() {
            arrivals.push(arrival(PushKind::Other, 0));
        }
        arrivals
    }
}

/// What holding the sessions showed.
pub struct Held {
    /// Sessions still open when the hold ended.
    pub open_at_end: usize,
    /// Generator RSS with every session held.
    pub rss_with_sessions: u64,
    /// Pings sent.
    pub pings: u64,
    /// Pushes, when recorded.
    pub arrivals: Vec<Arrival>,
    /// How long the sessions were held.
    pub held: Duration,
}

/// Holds `sessions` until `--duration` passes (or a signal), pinging; records pushes when
/// `record`; closes them at the end.
pub async fn hold(run: &Arc<Run>, sessions: Vec<Session>, record: bool) -> anyhow::Result<Held> {
    run.progress.phase("holding");
    let started = tokio::time::Instant::now();
    let stop = run.until(run.options.load.duration);
    let release = CancellationToken::new();
    let holding = run.each(sessions, |session| {
        hold_one(run.clone(), session, release.clone(), record)
    });
    let measure = async {
        stop.cancelled().await;
        let rss = rss_bytes();
        let pings = run.progress.operations.load(Ordering::Relaxed);
        let held = started.elapsed();
        release.cancel();
        (rss, pings, held)
    };
    let (outcomes, (rss_with_sessions, pings, held)) = tokio::join!(holding, measure);
    let outcomes = outcomes?;
    Ok(Held {
        open_at_end: outcomes.iter().filter(|(open, _)| *open).count(),
        rss_with_sessions,
        pings,
        arrivals: outcomes.into_iter().flat_map(|(_, a)| a).collect(),
        held,
    })
}

/// One session held until `release`: whether it was still open, and what it recorded.
async fn hold_one(
    run: Arc<Run>,
    session: Session,
    release: CancellationToken,
    record: bool,
) -> (bool, Vec<Arrival>) {
    let kept = keep(&run, session, release, record).await;
    let open = match kept.session {
        Some(session) => {
            session.close().await;
            true
        }
        None => false,
    };
    (open, kept.arrivals)
}

/// A session kept alive until it was released, and what it recorded meanwhile.
pub struct Kept {
    /// The session, unless it was lost (and counted lost).
    pub session: Option<Session>,
    /// Pushes, when recorded.
    pub arrivals: Vec<Arrival>,
}

/// Keeps `session` alive until `release`: pings at keepalive/2 (staggered by the endpoint's
/// index so a large run's pings spread over the interval), reads whatever the node sends,
/// recording pushes when `record`. Used while a ramp opens the other sessions, so the first
/// ones do not expire however long the ramp takes, and while a run holds them.
pub async fn keep(
    run: &Run,
    mut session: Session,
    release: CancellationToken,
    record: bool,
) -> Kept {
    let interval = Duration::from_secs(u64::from(run.options.load.keep_alive / 2).max(1));
    let offset = interval.mul_f64((session.index() % 1000) as f64 / 1000.0);
    let mut next_ping = tokio::time::Instant::now() + offset;
    let mut arrivals = Vec::new();
    loop {
        tokio::select! {
            () = release.cancelled() => {
                return Kept { session: Some(session), arrivals };
            }
            () = tokio::time::sleep_until(next_ping) => {
                next_ping += interval;
                if let Err(error) = session.ping().await {
                    run.lost(&error);
                    return Kept { session: None, arrivals };
                }
                run.progress.operations.fetch_add(1, Ordering::Relaxed);
            }
            received = session.receive() => match received {
                Ok(push) => {
                    if record {
                        arrivals.extend(Arrival::of(session.index(), &push, wall_clock_ms()));
                    }
                }
                Err(error) => {
                    run.lost(&error);
                    return Kept { session: None, arrivals };
                }
            }
        }
    }
}

/// Runs `idle`.
pub async fn run(run: &Arc<Run>) -> anyhow::Result<ExitCode> {
    let mut ramp = run.open_sessions(true).await?;
    let sessions = std::mem::take(&mut ramp.sessions);
    let held = hold(run, sessions, false).await?;
    let mut fields = Map::new();
    fields.insert("connect".into(), latency(&mut ramp.connect));
    fields.insert("keepalive_s".into(), json!(run.options.load.keep_alive));
    fields.insert("held_s".into(), json!(held.held.as_secs_f64().round()));
    fields.insert("open_at_end".into(), json!(held.open_at_end));
    fields.insert("lost".into(), json!(ramp.opened - held.open_at_end));
    fields.insert("pings".into(), json!(held.pings));
    run.finish("idle", &ramp, held.rss_with_sessions, fields)
}
