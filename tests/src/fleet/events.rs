//! The fleet's event file: one JSON line per SDK event, `{"t_ms":…,"endpoint":i,"kind":…,…}`
//! with the wall-clock time the fleet saw it, written by one thread and flushed whenever no
//! other line waits, so a reader following the file (a failover test measuring reconnects)
//! sees each event within milliseconds.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::Path;
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::Value;

/// Where endpoints record their events; a no-op without a file.
#[derive(Clone)]
pub struct EventLog {
    lines: Option<mpsc::Sender<String>>,
}

/// The thread writing the file; [`EventWriter::finish`] waits for the last line.
pub struct EventWriter {
    thread: Option<JoinHandle<io::Result<()>>>,
}

impl EventLog {
    /// An event log appending to `path` (created or truncated), or a no-op one.
    pub fn open(path: Option<&Path>) -> io::Result<(Self, EventWriter)> {
        let Some(path) = path else {
            return Ok((Self { lines: None }, EventWriter { thread: None }));
        };
        let mut out = BufWriter::new(File::create(path)?);
        let (tx, rx) = mpsc::channel::<String>();
        let thread = std::thread::spawn(move || {
            while let Ok(line) = rx.recv() {
                writeln!(out, "{line}")?;
                while let Ok(line) = rx.try_recv() {
                    writeln!(out, "{line}")?;
                }
                out.flush()?;
            }
            out.flush()
        });
        Ok((
            Self { lines: Some(tx) },
            EventWriter {
                thread: Some(thread),
            },
        ))
    }

    /// Records event `kind` of `endpoint` with `fields` (a JSON object) now.
    pub fn record(&self, endpoint: usize, kind: &str, fields: Value) {
        if let Some(lines) = &self.lines {
            // A write error ends the writer thread; `finish` reports it.
            let _ = lines.send(line(now_ms(), endpoint, kind, &fields));
        }
    }
}

impl EventWriter {
    /// Waits until every line recorded is written (all [`EventLog`]s must be dropped first).
    pub fn finish(mut self) -> io::Result<()> {
        match self.thread.take() {
            Some(thread) => thread
                .join()
                .unwrap_or_else(|_| Err(io::Error::other("event writer panicked"))),
            None => Ok(()),
        }
    }
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// One event line: time, endpoint and kind first, then the fields of `fields`.
fn line(t_ms: u64, endpoint: usize, kind: &str, fields: &Value) -> String {
    let head = format!(
        r#"{{"t_ms":{t_ms},"endpoint":{endpoint},"kind":{}"#,
        Value::from(kind)
    );
    match fields.as_object() {
        Some(map) if !map.is_empty() => {
            let rest = fields.to_string();
            format!("{head},{}", &rest[1..])
        }
        _ => format!("{head}}}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn lines_start_with_time_endpoint_and_kind() {
        let connected = line(7, 2, "connected", &json!({"server": "10.231.0.12:9997"}));
        assert_eq!(
            connected,
            r#"{"t_ms":7,"endpoint":2,"kind":"connected","server":"10.231.0.12:9997"}"#
        );
        assert_eq!(
            line(1, 0, "error", &json!({})),
            r#"{"t_ms":1,"endpoint":0,"kind":"error"}"#
        );
        let parsed: Value =
            serde_json::from_str(&line(1, 3, "delivered", &json!({"first": 0, "last": 9})))
                .unwrap();
        assert_eq!(parsed["last"], 9);
    }

    #[test]
    fn every_recorded_line_is_in_the_file_after_finish() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("events.jsonl");
        let (log, writer) = EventLog::open(Some(&path)).unwrap();
        for n in 0..1000 {
            log.record(n % 7, "delivered", json!({"first": n, "last": n}));
        }
        drop(log);
        writer.finish().unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text.lines().count(), 1000);
        assert!(
            text.lines()
                .all(|l| serde_json::from_str::<Value>(l).is_ok())
        );
    }
}
