//! The example endpoint: starts the typed client with the baked-in properties and a profile of
//! the schema's defaults, prints what happens one line at a time, uploads log records once the
//! first configuration arrived, and stops cleanly on SIGTERM or Ctrl-C.
//!
//! Environment: `KAA_STATE_DIR` (keys, kept configuration, log buffer; default `./kaa-state`),
//! `KAA_EXAMPLE_LOGS` (records to upload, default 10), `KAA_TRANSPORT` (`tcp`, the default, or
//! `http`).
//!
//! Output lines: `KEY_HASH <base64>`, `STORED_CONFIGURATION <json>`, `CONNECTED <host:port>`,
//! `CONFIGURATION <json>`, `NOTIFICATION <topic id> <json>`, `LOGS_DELIVERED <n>`,
//! `ERROR <message>`.

use std::io::Write as _;
use std::ops::RangeInclusive;
use std::process::ExitCode;

use base64::Engine as _;
use kaa_application::client::baked_in_config;
use kaa_application::kaa_sdk::bootstrap::Transport;
use kaa_application::{Client, ClientEvent, LogRecord, Profile};
use serde::Serialize;

/// Prints one line and flushes it at once.
fn say(line: String) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

/// One-line JSON of a typed value.
fn json(value: &impl Serialize) -> String {
    serde_json::to_string(value).unwrap_or_else(|error| format!("\"<{error}>\""))
}

// KAA:LOG_RECORD

/// How many ids of `run` lie in `first..=last`.
fn overlap(run: &RangeInclusive<u64>, first: u64, last: u64) -> u64 {
    let from = first.max(*run.start());
    let to = last.min(*run.end());
    if from > to { 0 } else { to - from + 1 }
}

#[tokio::main]
async fn main() -> ExitCode {
    let state_dir = std::env::var("KAA_STATE_DIR").unwrap_or_else(|_| "./kaa-state".into());
    let logs = match std::env::var("KAA_EXAMPLE_LOGS") {
        Ok(value) => match value.parse::<usize>() {
            Ok(logs) => logs,
            Err(_) => {
                say(format!("ERROR KAA_EXAMPLE_LOGS={value:?} is not a number"));
                return ExitCode::from(2);
            }
        },
        Err(_) => 10,
    };
    let transport = match std::env::var("KAA_TRANSPORT").as_deref() {
        Ok("tcp") | Err(_) => Transport::Tcp,
        Ok("http") => Transport::Http,
        Ok(other) => {
            say(format!("ERROR KAA_TRANSPORT={other:?}: expected tcp or http"));
            return ExitCode::from(2);
        }
    };
    let mut config = baked_in_config(&state_dir);
    config.transport = transport;
    let mut client = match Client::start(config, &Profile::default()) {
        Ok(client) => client,
        Err(error) => {
            say(format!("ERROR cannot start with state dir {state_dir}: {error}"));
            return ExitCode::FAILURE;
        }
    };
    say(format!(
        "KEY_HASH {}",
        base64::engine::general_purpose::STANDARD.encode(client.key_hash())
    ));
    if let Some(configuration) = client.stored_configuration() {
        say(format!("STORED_CONFIGURATION {}", json(&configuration)));
    }

    let mut terminate = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(signal) => signal,
        Err(error) => {
            say(format!("ERROR cannot watch SIGTERM: {error}"));
            return ExitCode::FAILURE;
        }
    };
    // The ids of this run's records, once logged.
    let mut run: Option<RangeInclusive<u64>> = None;
    let mut delivered = 0;
    loop {
        let event = tokio::select! {
            _ = terminate.recv() => break,
            _ = tokio::signal::ctrl_c() => break,
            event = client.next_event() => match event {
                Some(event) => event,
                None => break,
            },
        };
        match event {
            ClientEvent::Connected(address) => say(format!("CONNECTED {address}")),
            ClientEvent::Error(message) => say(format!("ERROR {message}")),
            ClientEvent::Configuration(configuration) => {
                say(format!("CONFIGURATION {}", json(&configuration)));
                if run.is_none() && logs > 0 {
                    let mut ids = Vec::with_capacity(logs);
                    for index in 0..logs {
                        match client.log(&log_record(index)) {
                            Ok(id) => ids.push(id),
                            Err(error) => say(format!("ERROR log record {index}: {error}")),
                        }
                    }
                    if let (Some(first), Some(last)) = (ids.first(), ids.last()) {
                        run = Some(*first..=*last);
                    }
                }
            }
            ClientEvent::Notification {
                topic_id,
                notification,
            } => say(format!("NOTIFICATION {topic_id} {}", json(&notification))),
            ClientEvent::LogsDelivered { first, last } => {
                if let Some(run) = &run {
                    delivered += overlap(run, first, last);
                }
                say(format!("LOGS_DELIVERED {delivered}"));
            }
            ClientEvent::Event { event, source } => say(format!(
                "EVENT {} {}",
                source.unwrap_or_default(),
                json(&event)
            )),
            _ => {}
        }
    }
    client.stop().await;
    ExitCode::SUCCESS
}
