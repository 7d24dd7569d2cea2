//! `sync`: configuration syncs over encrypted sessions against a baseline of PINGREQ round trips
//! over the same sessions. Pings first, then syncs, each phase `--duration` long; every endpoint
//! sends `--rate` a second (absent: the next as soon as the last is answered). The endpoint
//! holds the current configuration, so the node answers `NO_DELTA` and the difference between
//! the phases is the node's sync work. Result fields: `pings` and `syncs`, each `{"per_s",
//! "p50_ms", "p99_ms", "max_ms", "count"}` (`syncs` also `deltas`: answers that changed the
//! configuration), and `ratio_syncs_to_pings`. HTTP has no PINGREQ: over `--transport http` the
//! ping phase is left out (`pings` and the ratio are null) and only syncs are measured.

use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use kaa_sdk::idl::endpoint::sync::SyncResponseStatus;
use serde_json::{Map, Value, json};

use crate::loadgen::report::{latency, rss_bytes};
use crate::loadgen::session::{Session, SessionError};
use crate::loadgen::{Run, TransportKind};

/// What a phase measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Exchange {
    /// PINGREQ → PINGRESP.
    Ping,
    /// A configuration sync answered `NO_DELTA`.
    Sync,
}

/// Runs `sync` with `rate` exchanges per endpoint a second (`None`: back to back).
pub async fn run(run: &Arc<Run>, rate: Option<f64>) -> anyhow::Result<ExitCode> {
    let mut ramp = run.open_sessions(true).await?;
    let rss = rss_bytes();
    let sessions = std::mem::take(&mut ramp.sessions);
    let (sessions, pings) = match run.options.transport {
        TransportKind::Tcp => phase(run, sessions, rate, Exchange::Ping).await?,
        TransportKind::Http => (sessions, Value::Null),
    };
    let (sessions, syncs) = phase(run, sessions, rate, Exchange::Sync).await?;
    run.each(sessions, Session::close).await?;
    let mut fields = Map::new();
    fields.insert("connect".into(), latency(&mut ramp.connect));
    fields.insert("rate_per_endpoint".into(), json!(rate));
    fields.insert(
        "phase_s".into(),
        json!(run.options.load.duration.as_secs_f64()),
    );
    let ratio = match (pings["per_s"].as_f64(), syncs["per_s"].as_f64()) {
        (Some(pings), Some(syncs)) if pings > 0.0 => json!((syncs / pings * 1e3).round() / 1e3),
        _ => Value::Null,
    };
    fields.insert("pings".into(), pings);
    fields.insert("syncs".into(), syncs);
    fields.insert("ratio_syncs_to_pings".into(), ratio);
    run.finish("sync", &ramp, rss, fields)
}

/// Drives every session through one phase; returns the sessions still open and the figures.
async fn phase(
    run: &Arc<Run>,
    sessions: Vec<Session>,
    rate: Option<f64>,
    exchange: Exchange,
) -> anyhow::Result<(Vec<Session>, Value)> {
    run.progress.phase(match exchange {
        Exchange::Ping => "pings",
        Exchange::Sync => "syncs",
    });
    let started = tokio::time::Instant::now();
    let stop = run.until(run.options.load.duration);
    let shares = run
        .each(sessions, |mut session| {
            let (run, stop) = (run.clone(), stop.clone());
            async move {
                let every = rate.map(|rate| Duration::from_secs_f64(1.0 / rate.max(1e-3)));
                let offset = every.map_or(Duration::ZERO, |every| {
                    every.mul_f64((session.index() % 1000) as f64 / 1000.0)
                });
                let mut next = tokio::time::Instant::now() + offset;
                let mut latencies = Vec::new();
                let mut deltas = 0;
                loop {
                    tokio::select! {
                        () = stop.cancelled() => return (Some(session), latencies, deltas),
                        () = tokio::time::sleep_until(next) => {}
                    }
                    if let Some(every) = every {
                        next += every;
                    }
                    let sent = tokio::time::Instant::now();
                    match exchange_once(&mut session, exchange).await {
                        Ok(delta) => {
                            latencies.push(sent.elapsed());
                            deltas += u64::from(delta);
                            run.progress.operations.fetch_add(1, Ordering::Relaxed);
                        }
                        Err(error) => {
                            run.lost(&error);
                            return (None, latencies, deltas);
                        }
                    }
                }
            }
        })
        .await?;
    let took = started.elapsed();
    let mut open = Vec::with_capacity(shares.len());
    let mut latencies = Vec::new();
    let mut deltas = 0;
    for (session, share, share_deltas) in shares {
        open.extend(session);
        latencies.extend(share);
        deltas += share_deltas;
    }
    let mut figures = latency(&mut latencies);
    let per_s = latencies.len() as f64 / took.as_secs_f64().max(1e-9);
    figures["per_s"] = json!(per_s.round());
    if exchange == Exchange::Sync {
        figures["deltas"] = json!(deltas);
    }
    Ok((open, figures))
}

/// One exchange; true when a sync's answer carried a configuration (not `NO_DELTA`).
async fn exchange_once(session: &mut Session, exchange: Exchange) -> Result<bool, SessionError> {
    match exchange {
        Exchange::Ping => session.ping_round_trip().await.map(|()| false),
        Exchange::Sync => {
            let request = session.configuration_sync();
            let answer = session.round_trip(&request).await?;
            Ok(answer
                .configuration_sync_response
                .is_some_and(|c| c.response_status != SyncResponseStatus::NoDelta))
        }
    }
}
