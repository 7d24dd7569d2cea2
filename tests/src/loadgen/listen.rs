//! `listen`: hold every session like `idle` and record each push the node sends: per kind, the
//! endpoint and the wall-clock millisecond it arrived (the bench driver subtracts the time it
//! activated the configuration or sent the notification), plus counts.
//!
//! Result fields: `pushes`: `{"configuration": [[endpoint, t_ms], …], "notification":
//! [[endpoint, t_ms, notifications], …], "other": [[endpoint, t_ms], …]}` in order of arrival;
//! `counts`: `{"configuration", "notification" (notifications, not pushes), "other",
//! "endpoints_with_configuration", "endpoints_with_notification"}`.

use std::collections::HashSet;
use std::process::ExitCode;
use std::sync::Arc;

use serde_json::{Map, Value, json};

use crate::loadgen::Run;
use crate::loadgen::idle::{Arrival, PushKind, hold};
use crate::loadgen::report::latency;

/// Runs `listen`.
pub async fn run(run: &Arc<Run>) -> anyhow::Result<ExitCode> {
    let mut ramp = run.open_sessions(true).await?;
    let sessions = std::mem::take(&mut ramp.sessions);
    let mut held = hold(run, sessions, true).await?;
    held.arrivals.sort_by_key(|arrival| arrival.t_ms);
    let mut fields = Map::new();
    fields.insert("connect".into(), latency(&mut ramp.connect));
    fields.insert("held_s".into(), json!(held.held.as_secs_f64().round()));
    fields.insert("open_at_end".into(), json!(held.open_at_end));
    fields.insert("lost".into(), json!(ramp.opened - held.open_at_end));
    fields.insert("counts".into(), counts(&held.arrivals));
    fields.insert("pushes".into(), pushes(&held.arrivals));
    run.finish("listen", &ramp, held.rss_with_sessions, fields)
}

fn of_kind(arrivals: &[Arrival], kind: PushKind) -> impl Iterator<Item = &Arrival> {
    arrivals.iter().filter(move |arrival| arrival.kind == kind)
}

fn counts(arrivals: &[Arrival]) -> Value {
    let endpoints = |kind| {
        of_kind(arrivals, kind)
            .map(|arrival| arrival.endpoint)
            .collect::<HashSet<_>>()
            .len()
    };
    json!({
        "configuration": of_kind(arrivals, PushKind::Configuration).count(),
        "notification": of_kind(arrivals, PushKind::Notification)
            .map(|arrival| u64::from(arrival.notifications))
            .sum::<u64>(),
        "other": of_kind(arrivals, PushKind::Other).count(),
        "endpoints_with_configuration": endpoints(PushKind::Configuration),
        "endpoints_with_notification": endpoints(PushKind::Notification),
    })
}

fn pushes(arrivals: &[Arrival]) -> Value {
    let pairs = |kind| {
        of_kind(arrivals, kind)
            .map(|arrival| json!([arrival.endpoint, arrival.t_ms]))
            .collect::<Vec<_>>()
    };
    json!({
        "configuration": pairs(PushKind::Configuration),
        "notification": of_kind(arrivals, PushKind::Notification)
            .map(|arrival| json!([arrival.endpoint, arrival.t_ms, arrival.notifications]))
            .collect::<Vec<_>>(),
        "other": pairs(PushKind::Other),
    })
}
