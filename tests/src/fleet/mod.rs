//! A device fleet for end-to-end tests on real hosts: `kaa-fleet run` drives many endpoints
//! through the Rust endpoint SDK (`kaa-sdk`, never the node's internals) that log records with
//! confirm delivery and write every SDK event to a JSON-lines file; `kaa-fleet count` reads the
//! rows a Cassandra log appender stored and checks them against what the run saw acknowledged.
//!
//! Modules: [`record`] (the log record and acknowledged ranges), [`events`] (the event file),
//! [`run`] (the fleet), `tally` (what each endpoint saw, and the summary), [`count`] (the
//! stored rows).
//!
//! The event file (`--events`), one JSON object a line, each with `t_ms` (wall clock),
//! `endpoint` (index) and `kind`: `connected` and `redirected` with `server` (`host:port`);
//! `disconnected` with the `server` of the session that ended and the SDK's `reason`; `error`
//! with `message`; `delivered` and `failed` with the `first` and `last` seq of the batch
//! (`failed` also with the server's `code`, null when no status came in time).
//!
//! The summary (stdout and `--summary`): `endpoints`, `appended`, `acknowledged` (distinct
//! records), `unacknowledged`, `failed_then_retried` (distinct records reported failed at least
//! once), `failed_reports`, `connected` (`{server: endpoints}` when the run stopped),
//! `not_connected`, `stopped_by`, `drained`, `appending_ms`, `drain_ms` and `acked_ranges` (per
//! endpoint index, `[[first, last], …]`).

pub mod count;
pub mod events;
pub mod record;
pub mod run;
mod tally;

use std::time::Duration;

use anyhow::{Context, bail};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use kaa_sdk::idl::endpoint::crypto::PublicKey;

/// Parses `500ms`, `3s`, `2m` or a bare number of seconds.
pub fn parse_duration(text: &str) -> anyhow::Result<Duration> {
    let text = text.trim();
    let digits = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(digits);
    let number: u64 = number
        .parse()
        .with_context(|| format!("duration {text:?}: expected a number and ms, s or m"))?;
    Ok(match unit.trim() {
        "ms" => Duration::from_millis(number),
        "" | "s" => Duration::from_secs(number),
        "m" => Duration::from_secs(number * 60),
        other => bail!("duration {text:?}: unknown unit {other:?} (ms, s or m)"),
    })
}

/// A server's public key (X.509 DER) from a file holding it as DER, as PEM
/// (`-----BEGIN PUBLIC KEY-----`), or as base64 text, also among other words (the output of
/// `kaa-node keys init`, which prints a fingerprint too).
pub fn parse_public_key(bytes: &[u8]) -> anyhow::Result<Vec<u8>> {
    let is_key = |der: &[u8]| PublicKey::from_der(der).is_ok();
    if is_key(bytes) {
        return Ok(bytes.to_vec());
    }
    let text = std::str::from_utf8(bytes)
        .context("neither an X.509 DER public key nor text (PEM or base64)")?;
    let candidates: Vec<String> = if text.contains("-----BEGIN") {
        // PEM: the base64 lines between the armour lines, as one word.
        vec![
            text.lines()
                .filter(|line| !line.starts_with("-----"))
                .flat_map(str::split_whitespace)
                .collect(),
        ]
    } else {
        text.split(|c: char| c.is_whitespace() || c == '"' || c == ',')
            .map(str::to_owned)
            .collect()
    };
    candidates
        .iter()
        .filter_map(|word| STANDARD.decode(word).ok())
        .find(|der| is_key(der))
        .context("no X.509 RSA public key in it (DER, PEM or base64 expected)")
}

#[cfg(test)]
mod tests {
    use super::*;
    use kaa_sdk::keys::EndpointKeys;

    #[test]
    fn durations_take_ms_s_m_or_bare_seconds() {
        assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_duration("3s").unwrap(), Duration::from_secs(3));
        assert_eq!(parse_duration("4").unwrap(), Duration::from_secs(4));
        assert_eq!(parse_duration("2m").unwrap(), Duration::from_secs(120));
        assert!(parse_duration("3h").is_err());
        assert!(parse_duration("ms").is_err());
    }

    #[test]
    fn public_keys_are_read_from_der_pem_and_base64_text() {
        let keys = EndpointKeys::generate().unwrap();
        let der = keys.public_der().to_vec();
        let base64 = STANDARD.encode(&der);
        let pem = format!(
            "-----BEGIN PUBLIC KEY-----\n{}\n{}\n-----END PUBLIC KEY-----\n",
            &base64[..64],
            &base64[64..]
        );
        let printed = format!("public key {base64}\nsha1 0123456789abcdef\n");
        for input in [der.clone(), pem.into_bytes(), printed.into_bytes()] {
            assert_eq!(parse_public_key(&input).unwrap(), der);
        }
        assert!(parse_public_key(b"not a key").is_err());
        assert!(parse_public_key(&[0x30, 0x82, 0xff]).is_err());
    }
}
