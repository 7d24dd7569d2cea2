//! `register`: every endpoint connects, registers (profile and public key) and closes; the
//! figures are the completion time of the whole storm, registrations a second, each
//! registration's latency and the refusals (there should be none).

use std::process::ExitCode;
use std::sync::Arc;

use serde_json::{Map, json};

use crate::loadgen::Run;
use crate::loadgen::report::{latency, rss_bytes, seconds};

/// Runs the registration storm.
pub async fn run(run: &Arc<Run>) -> anyhow::Result<ExitCode> {
    let mut ramp = run.open_sessions(false).await?;
    let rss = rss_bytes();
    let mut fields = Map::new();
    fields.insert("completion_s".into(), json!(seconds(ramp.took)));
    fields.insert(
        "registrations_per_s".into(),
        json!((ramp.opened as f64 / ramp.took.as_secs_f64().max(1e-9)).round()),
    );
    fields.insert("register".into(), latency(&mut ramp.connect));
    run.finish("register", &ramp, rss, fields)
}
