//! What one endpoint of the fleet saw, and the run's summary: bookkeeping without I/O over
//! the SDK's events (unit tested without a server). [`Tally::see`] turns an event into its line
//! of the event file and its change to the fleet's totals, and keeps the acknowledged and failed
//! records as seq [`Ranges`] (the SDK names records by its own ids; seq 0 is the run's first
//! record); [`summary`] adds up the endpoints' tallies.

use std::collections::BTreeMap;

use kaa_sdk::client::Event;
use serde_json::{Value, json};

use super::record::Ranges;

/// What one endpoint saw, kept from its appends and SDK events.
#[derive(Debug, Default)]
pub(super) struct Tally {
    /// Records appended: the next record's seq.
    pub(super) appended: i64,
    /// The SDK's id of record 0 (ids go up by one per record the endpoint appends).
    first_id: Option<u64>,
    acked: Ranges,
    /// Records reported failed at least once (the SDK sends them again).
    failed: Ranges,
    failed_reports: u64,
    /// The server of the current session.
    server: Option<String>,
}

/// What an SDK event changed: its line in the event file and the fleet's totals.
#[derive(Debug, PartialEq)]
pub(super) struct Seen {
    pub(super) kind: &'static str,
    pub(super) fields: Value,
    /// Records acknowledged for the first time.
    pub(super) acknowledged: u64,
    /// 1: the endpoint is connected now, -1: no longer, 0: no change.
    pub(super) connected: i8,
}

impl Tally {
    /// The SDK took the next record as `id`.
    pub(super) fn appended(&mut self, id: u64) {
        self.first_id.get_or_insert(id);
        self.appended += 1;
    }

    /// The seq of the record the SDK calls `id`.
    fn seq(&self, id: u64) -> i64 {
        id as i64 - self.first_id.unwrap_or(1) as i64
    }

    /// Takes in an SDK event; `None` for events the fleet does not record (configuration,
    /// notifications, …).
    pub(super) fn see(&mut self, event: Event) -> Option<Seen> {
        let seen = |kind, fields| Seen {
            kind,
            fields,
            acknowledged: 0,
            connected: 0,
        };
        Some(match event {
            Event::Connected(server) => {
                let connected = i8::from(self.server.is_none());
                let fields = json!({"server": server});
                self.server = Some(server);
                Seen {
                    connected,
                    ..seen("connected", fields)
                }
            }
            Event::Disconnected(reason) => {
                let connected = -i8::from(self.server.is_some());
                let fields = json!({"server": self.server.take(), "reason": reason});
                Seen {
                    connected,
                    ..seen("disconnected", fields)
                }
            }
            Event::Error(message) => seen("error", json!({"message": message})),
            Event::Redirected(server) => seen("redirected", json!({"server": server})),
            Event::LogsDelivered { first, last } => {
                let (first, last) = (self.seq(first), self.seq(last));
                let before = self.acked.count();
                self.acked.insert(first, last);
                Seen {
                    acknowledged: self.acked.count() - before,
                    ..seen("delivered", json!({"first": first, "last": last}))
                }
            }
            Event::LogsFailed { first, last, code } => {
                let (first, last) = (self.seq(first), self.seq(last));
                self.failed.insert(first, last);
                self.failed_reports += 1;
                let code = code.map(|code| format!("{code:?}"));
                seen(
                    "failed",
                    json!({"first": first, "last": last, "code": code}),
                )
            }
            _ => return None,
        })
    }
}

/// The run's summary: totals, acknowledged ranges per endpoint, where endpoints were connected
/// when the run stopped.
pub(super) fn summary(
    reports: &[Tally],
    stopped_by: &str,
    drained: bool,
    appending_ms: u64,
    drain_ms: u64,
) -> Value {
    let appended: u64 = reports.iter().map(|r| r.appended as u64).sum();
    let acknowledged: u64 = reports.iter().map(|r| r.acked.count()).sum();
    let mut connected: BTreeMap<&str, usize> = BTreeMap::new();
    for server in reports.iter().filter_map(|r| r.server.as_deref()) {
        *connected.entry(server).or_default() += 1;
    }
    json!({
        "endpoints": reports.len(),
        "appended": appended,
        "acknowledged": acknowledged,
        "unacknowledged": appended.saturating_sub(acknowledged),
        "failed_then_retried": reports.iter().map(|r| r.failed.count()).sum::<u64>(),
        "failed_reports": reports.iter().map(|r| r.failed_reports).sum::<u64>(),
        "connected": connected,
        "not_connected": reports.iter().filter(|r| r.server.is_none()).count(),
        "stopped_by": stopped_by,
        "drained": drained,
        "appending_ms": appending_ms,
        "drain_ms": drain_ms,
        "acked_ranges": reports.iter().map(|r| r.acked.to_json()).collect::<Vec<_>>(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use kaa_sdk::idl::endpoint::sync::LogDeliveryErrorCode;

    #[test]
    fn a_tally_names_records_by_seq_and_counts_each_acknowledgement_once() {
        let mut tally = Tally::default();
        for id in 5..=8 {
            tally.appended(id);
        }
        let delivered = tally.see(Event::LogsDelivered { first: 5, last: 6 });
        assert_eq!(
            delivered,
            Some(Seen {
                kind: "delivered",
                fields: json!({"first": 0, "last": 1}),
                acknowledged: 2,
                connected: 0,
            })
        );
        let failed = tally
            .see(Event::LogsFailed {
                first: 7,
                last: 8,
                code: Some(LogDeliveryErrorCode::AppenderInternalError),
            })
            .unwrap();
        assert_eq!(failed.kind, "failed");
        assert_eq!(
            failed.fields,
            json!({"first": 2, "last": 3, "code": "AppenderInternalError"})
        );
        let no_status = tally.see(Event::LogsFailed {
            first: 7,
            last: 8,
            code: None,
        });
        assert_eq!(no_status.unwrap().fields["code"], Value::Null);
        assert_eq!(
            tally
                .see(Event::LogsDelivered { first: 7, last: 8 })
                .unwrap()
                .acknowledged,
            2
        );
        let again = tally.see(Event::LogsDelivered { first: 7, last: 8 });
        assert_eq!(again.unwrap().acknowledged, 0, "a repeated ack counts once");
        assert_eq!(tally.appended, 4);
        assert_eq!(tally.acked.to_json(), json!([[0, 3]]));
        assert_eq!((tally.failed.count(), tally.failed_reports), (2, 2));
        assert_eq!(tally.see(Event::Configuration(vec![1])), None);
    }

    #[test]
    fn a_tally_follows_the_session_across_redirects_and_disconnects() {
        let mut tally = Tally::default();
        let connected = |seen: Option<Seen>| seen.map(|s| (s.kind, s.connected, s.fields));
        assert_eq!(
            connected(tally.see(Event::Connected("h1:9997".into()))),
            Some(("connected", 1, json!({"server": "h1:9997"})))
        );
        assert_eq!(
            connected(tally.see(Event::Redirected("h2:9997".into()))),
            Some(("redirected", 0, json!({"server": "h2:9997"})))
        );
        assert_eq!(tally.server.as_deref(), Some("h1:9997"));
        assert_eq!(
            connected(tally.see(Event::Connected("h2:9997".into()))).map(|s| s.1),
            Some(0),
            "still one session"
        );
        assert_eq!(
            connected(tally.see(Event::Disconnected("timed out".into()))),
            Some((
                "disconnected",
                -1,
                json!({"server": "h2:9997", "reason": "timed out"})
            ))
        );
        assert_eq!(
            connected(tally.see(Event::Disconnected("refused".into()))).map(|s| (s.1, s.2)),
            Some((0, json!({"server": null, "reason": "refused"})))
        );
    }

    #[test]
    fn the_summary_adds_up_the_endpoints() {
        let mut first = Tally::default();
        let mut second = Tally::default();
        for id in 1..=3 {
            first.appended(id);
            second.appended(id);
        }
        first.see(Event::Connected("h1:9997".into()));
        second.see(Event::Connected("h1:9997".into()));
        first.see(Event::LogsDelivered { first: 1, last: 3 });
        second.see(Event::LogsFailed {
            first: 1,
            last: 2,
            code: None,
        });
        second.see(Event::LogsDelivered { first: 1, last: 2 });
        second.see(Event::Disconnected("eof".into()));
        let summary = summary(&[first, second], "stop file", false, 900, 60_000);
        assert_eq!(summary["appended"], 6);
        assert_eq!(summary["acknowledged"], 5);
        assert_eq!(summary["unacknowledged"], 1);
        assert_eq!(summary["failed_then_retried"], 2);
        assert_eq!(summary["connected"], json!({"h1:9997": 1}));
        assert_eq!(summary["not_connected"], 1);
        assert_eq!(summary["acked_ranges"], json!([[[0, 2]], [[0, 1]]]));
        assert_eq!(summary["drained"], false);
    }
}
