//! The result of a run: what every mode reports (`mode`, `endpoints`, `connected`, `refused`,
//! `errors`, `ramp_s`, `elapsed_s`, `limits`, the generator's own memory) plus the mode's
//! fields, written as one JSON object to stdout and `--result`; and the pieces modes build it
//! from: failure tallies, latency summaries and the process's resident memory.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use anyhow::Context;
use serde_json::{Map, Value, json};

use crate::loadgen::session::SessionError;
use crate::loadgen::sources::NoFile;

/// Failures of a run, by kind: refusals by the node apart from other errors.
#[derive(Debug, Default)]
pub struct Tally {
    counts: Mutex<(BTreeMap<String, u64>, BTreeMap<String, u64>)>,
    /// CONNECTs answered "server unavailable" and tried again later (not failures).
    pub deferred: AtomicU64,
}

impl Tally {
    /// Counts `error`.
    pub fn record(&self, error: &SessionError) {
        let mut counts = self.counts.lock().expect("tally lock");
        let map = if error.is_refusal() {
            &mut counts.0
        } else {
            &mut counts.1
        };
        *map.entry(error.tally_key()).or_default() += 1;
    }

    /// Refusals by reason.
    pub fn refused(&self) -> BTreeMap<String, u64> {
        self.counts.lock().expect("tally lock").0.clone()
    }

    /// Other errors by kind.
    pub fn errors(&self) -> BTreeMap<String, u64> {
        self.counts.lock().expect("tally lock").1.clone()
    }
}

/// `{"p50_ms", "p99_ms", "max_ms", "count"}` of `latencies` (sorted here).
pub fn latency(latencies: &mut [Duration]) -> Value {
    latencies.sort_unstable();
    let ms = |d: Duration| (d.as_secs_f64() * 1e6).round() / 1e3;
    let at = |per_mille: usize| {
        latencies
            .get((latencies.len() * per_mille / 1000).min(latencies.len().saturating_sub(1)))
            .copied()
            .map_or(Value::Null, |d| json!(ms(d)))
    };
    json!({
        "p50_ms": at(500),
        "p99_ms": at(990),
        "max_ms": latencies.last().copied().map_or(Value::Null, |d| json!(ms(d))),
        "count": latencies.len(),
    })
}

/// This process's resident memory (VmRSS), bytes.
pub fn rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|line| line.strip_prefix("VmRSS:"))
                .and_then(|rest| {
                    rest.trim()
                        .trim_end_matches("kB")
                        .trim()
                        .parse::<u64>()
                        .ok()
                })
        })
        .map_or(0, |kb| kb * 1024)
}

/// The fields every mode reports.
pub struct Common<'a> {
    /// The mode's name.
    pub mode: &'a str,
    /// Endpoints asked for.
    pub endpoints: usize,
    /// Sessions that opened.
    pub connected: usize,
    /// Failures.
    pub tally: &'a Tally,
    /// Time to open every session.
    pub ramp: Duration,
    /// The whole run.
    pub elapsed: Duration,
    /// The descriptor limits in force.
    pub nofile: NoFile,
    /// Source addresses used.
    pub sources: usize,
    /// Generator RSS before the first session and with every session open.
    pub rss_before: u64,
    /// See `rss_before`.
    pub rss_with_sessions: u64,
}

/// The result object: the common fields, then `fields` of the mode.
pub fn result(common: Common<'_>, fields: Map<String, Value>) -> Value {
    let grown = common.rss_with_sessions.saturating_sub(common.rss_before);
    let per_session = (common.connected > 0).then(|| grown / common.connected as u64);
    let mut object = json!({
        "mode": common.mode,
        "endpoints": common.endpoints,
        "connected": common.connected,
        "refused": common.tally.refused(),
        "deferred": common.tally.deferred.load(std::sync::atomic::Ordering::Relaxed),
        "errors": common.tally.errors(),
        "ramp_s": seconds(common.ramp),
        "elapsed_s": seconds(common.elapsed),
        "limits": {
            "nofile_soft": common.nofile.soft,
            "nofile_hard": common.nofile.hard,
            "sources": common.sources,
        },
        "generator": {
            "rss_before_bytes": common.rss_before,
            "rss_with_sessions_bytes": common.rss_with_sessions,
            "rss_per_session_bytes": per_session,
        },
    });
    object.as_object_mut().expect("an object").extend(fields);
    object
}

/// Seconds with millisecond precision.
pub fn seconds(duration: Duration) -> f64 {
    (duration.as_secs_f64() * 1e3).round() / 1e3
}

/// Prints `result` on stdout and writes it to `file`.
pub fn publish(result: &Value, file: Option<&Path>) -> anyhow::Result<()> {
    let text = serde_json::to_string_pretty(result)?;
    println!("{text}");
    if let Some(file) = file {
        std::fs::write(file, format!("{text}\n"))
            .with_context(|| format!("writing {}", file.display()))?;
    }
    Ok(())
}

/// What went wrong, for people: one line per kind of refusal and error.
pub fn complaints(tally: &Tally) -> Vec<String> {
    let refused = tally.refused();
    let mut lines = Vec::new();
    if !refused.is_empty() {
        let total: u64 = refused.values().sum();
        let reasons: Vec<String> = refused
            .iter()
            .map(|(reason, count)| format!("{count} {reason}"))
            .collect();
        lines.push(format!(
            "the node refused {total} CONNECTs ({})",
            reasons.join(", ")
        ));
    }
    for (kind, count) in tally.errors() {
        if let Some(source) = kind.strip_prefix("ports exhausted on ") {
            lines.push(format!(
                "port range exhausted on {source} ({count} connections failed): add --sources"
            ));
        } else {
            lines.push(format!("{count} sessions failed: {kind}"));
        }
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latency_summary_names_the_median_the_99th_percentile_and_the_worst() {
        let mut latencies: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        let summary = latency(&mut latencies);
        assert_eq!(summary["p50_ms"], json!(51.0));
        assert_eq!(summary["p99_ms"], json!(100.0));
        assert_eq!(summary["max_ms"], json!(100.0));
        assert_eq!(summary["count"], json!(100));
        assert_eq!(latency(&mut [])["p50_ms"], Value::Null);
    }

    #[test]
    fn refusals_are_told_by_code_and_port_exhaustion_names_the_fix() {
        let tally = Tally::default();
        tally.record(&SessionError::Refused("ServerUnavailable".into()));
        tally.record(&SessionError::Refused("ServerUnavailable".into()));
        tally.record(&SessionError::PortsExhausted("127.0.1.1".parse().unwrap()));
        let lines = complaints(&tally);
        assert_eq!(
            lines[0],
            "the node refused 2 CONNECTs (2 ServerUnavailable)"
        );
        assert!(
            lines[1].starts_with("port range exhausted on 127.0.1.1"),
            "{}",
            lines[1]
        );
    }
}
