//! What a client is started with: the Bootstrap servers it may ask, its SDK token, profile,
//! state directory and timings. Re-exported by [`crate::client`]; the engine and the shell both
//! read it.

use std::path::PathBuf;
use std::time::Duration;

use crate::bootstrap::Transport;
use crate::channel::Tls;
use crate::logs::LogSettings;

/// A Bootstrap server the client may ask.
#[derive(Debug, Clone)]
pub struct BootstrapServer {
    /// `host:port` of its Kaatcp transport.
    pub address: String,
    /// `host:port` of its HTTP transport, asked instead when the client runs over HTTP (which
    /// needs the public key too); `None`: Kaatcp only.
    pub http_address: Option<String>,
    /// Its public key (X.509 DER); `None` bootstraps in plaintext.
    pub public_key: Option<Vec<u8>>,
}

/// How the client runs.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// Bootstrap servers, tried in order.
    pub bootstrap: Vec<BootstrapServer>,
    /// The SDK token of the application's SDK profile.
    pub sdk_token: String,
    /// The client profile, Avro binary (empty for an application without a profile schema).
    pub profile: Vec<u8>,
    /// Where the endpoint's keys live.
    pub state_dir: PathBuf,
    /// The endpoint access token (owners attach endpoints by it); empty: none.
    pub access_token: String,
    /// Network timeouts.
    pub timeout: Duration,
    /// Pause after the first failure; it doubles with each failure in a row.
    pub retry_delay: Duration,
    /// Longest pause between attempts.
    pub max_retry_delay: Duration,
    /// Kaatcp keepalive announced to servers, in seconds; pings go at half of it.
    pub keep_alive: u16,
    /// TLS towards Operations servers over Kaatcp (their transports must have TLS on), or none.
    pub tls: Option<Tls>,
    /// Kaatcp sessions (pushes arrive at once) or HTTP (long polls).
    pub transport: Transport,
    /// Log upload: batch size, buffer size, delivery timeout.
    pub logs: LogSettings,
}

impl ClientConfig {
    /// A Kaatcp client of the SDK profile `sdk_token`, bootstrapping from `bootstrap`, keys in
    /// `state_dir`, with an empty profile and default timings (10 s timeouts, retries after 1 s
    /// backing off to 30 s, keepalive 200 s as the Java SDK); change the fields for anything
    /// else.
    pub fn new(
        bootstrap: Vec<BootstrapServer>,
        sdk_token: impl Into<String>,
        state_dir: impl Into<PathBuf>,
    ) -> Self {
        Self {
            bootstrap,
            sdk_token: sdk_token.into(),
            profile: Vec::new(),
            state_dir: state_dir.into(),
            access_token: String::new(),
            timeout: Duration::from_secs(10),
            retry_delay: Duration::from_secs(1),
            max_retry_delay: Duration::from_secs(30),
            keep_alive: 200,
            tls: None,
            transport: Transport::Tcp,
            logs: LogSettings::default(),
        }
    }
}
