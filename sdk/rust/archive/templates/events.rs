//! The owner and events example: attaches the endpoint to an owner through the SDK profile's
//! default user verifier, then sends events of the first class this application sends to the
//! owner's other endpoints, and prints every event it receives. Stops cleanly on SIGTERM or
//! Ctrl-C.
//!
//! Environment: `KAA_STATE_DIR` (default `./kaa-state`), `KAA_OWNER` (the owner's external id),
//! `KAA_OWNER_TOKEN` (the access token the verifier checks), `KAA_SEND_EVENTS` (how many events to
//! send once attached, default 0).
//!
//! Output lines: `KEY_HASH <base64>`, `CONNECTED <host:port>`, `ATTACHED <owner>`,
//! `SENT <n>`, `EVENT <class> <json>`, `ERROR <message>`.

use std::io::Write as _;
use std::process::ExitCode;

use base64::Engine as _;
use kaa_application::client::baked_in_config;
use kaa_application::kaa_sdk::SdkError;
use kaa_application::{Client, ClientEvent, Profile};

/// Prints one line and flushes it at once.
fn say(line: String) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

// KAA:SEND_EVENT

#[tokio::main]
async fn main() -> ExitCode {
    let state_dir = std::env::var("KAA_STATE_DIR").unwrap_or_else(|_| "./kaa-state".into());
    let (Ok(owner), Ok(token)) = (std::env::var("KAA_OWNER"), std::env::var("KAA_OWNER_TOKEN")) else {
        say("ERROR set KAA_OWNER and KAA_OWNER_TOKEN".into());
        return ExitCode::from(2);
    };
    let events: usize = std::env::var("KAA_SEND_EVENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let mut client = match Client::start(baked_in_config(&state_dir), &Profile::default()) {
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
    let mut terminate = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(signal) => signal,
        Err(error) => {
            say(format!("ERROR cannot watch SIGTERM: {error}"));
            return ExitCode::FAILURE;
        }
    };
    let mut asked = false;
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
            ClientEvent::Connected(address) => {
                say(format!("CONNECTED {address}"));
                if !asked {
                    asked = true;
                    if let Err(error) = client.attach_to_owner(owner.clone(), token.clone()) {
                        say(format!("ERROR attach to {owner}: {error}"));
                    }
                }
            }
            ClientEvent::AttachedToOwner { user_external_id } => {
                say(format!("ATTACHED {user_external_id}"));
                for index in 0..events {
                    match send(&client, index) {
                        Ok(()) => say(format!("SENT {index}")),
                        Err(error) => say(format!("ERROR send event {index}: {error}")),
                    }
                }
            }
            ClientEvent::OwnerAttachFailed { code, reason } => {
                say(format!("ERROR attach to {owner} refused: {code:?} {}", reason.unwrap_or_default()));
            }
            ClientEvent::Event { event, .. } => say(format!(
                "EVENT {} {}",
                event.fqn(),
                serde_json::to_string(&event).unwrap_or_default()
            )),
            ClientEvent::Error(message) => say(format!("ERROR {message}")),
            _ => {}
        }
    }
    client.stop().await;
    ExitCode::SUCCESS
}
