//! `kaa-loadgen junk`: Kaatcp CONNECTs that cost the node an RSA private-key operation each and
//! the generator nothing: a random 256-byte session key block (below any 2048-bit modulus, so the
//! node does the whole unwrap before it can tell), a random signature and a random payload, each
//! from the next source address ([`crate::loadgen::sources`]). Each connection reads its CONNACK
//! (or the node closing it) and closes. The result counts the answers by return code, the
//! connections the node closed without one, and other errors; none of them is a failure of the
//! run, whose exit status is 0 unless it could not start.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use kaa_sdk::idl::endpoint::crypto::PROTOCOL_AVRO_V2;
use kaa_sdk::idl::endpoint::kaatcp::{Connect, Frame, FrameDecoder, RSA_BLOCK_LEN};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpSocket;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::loadgen::Load;
use crate::loadgen::report;
use crate::loadgen::sources::{Sources, raise_nofile};

/// What a junk run is told.
#[derive(Debug, Clone)]
pub struct JunkOptions {
    /// The Operations (or Bootstrap) Kaatcp address.
    pub target: SocketAddr,
    /// How many CONNECTs (`endpoints`), from how many sources, how fast, how many in flight.
    pub load: Load,
}

/// How one junk CONNECT ended.
enum Outcome {
    /// The node answered CONNACK with this return code.
    Answered(String),
    /// The node closed the connection without a CONNACK.
    Closed,
    /// Anything else (timeout, connect error), by kind.
    Error(String),
}

/// Sends `options.load.endpoints` junk CONNECTs and prints the result.
pub async fn run(options: JunkOptions) -> anyhow::Result<ExitCode> {
    let load = &options.load;
    anyhow::ensure!(load.concurrency > 0, "--concurrency must be at least 1");
    let nofile = raise_nofile(load.concurrency)?;
    let sources = Sources::new(load.sources, load.endpoints)?;
    let in_flight = Arc::new(Semaphore::new(load.concurrency));
    let mut pacing = load.connect_rate.map(|rate| {
        let mut pacing = tokio::time::interval(Duration::from_secs_f64(1.0 / rate.max(1e-3)));
        pacing.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
        pacing
    });
    let answered = Arc::new(Mutex::new(BTreeMap::<String, u64>::new()));
    let errors = Arc::new(Mutex::new(BTreeMap::<String, u64>::new()));
    let mut closed = 0u64;
    let mut latencies = Vec::with_capacity(load.endpoints);
    let started = Instant::now();
    let mut tasks = JoinSet::new();
    let mut collect = |done: (Outcome, Duration)| match done.0 {
        Outcome::Answered(code) => {
            *answered.lock().expect("tally").entry(code).or_default() += 1;
            latencies.push(done.1);
        }
        Outcome::Closed => closed += 1,
        Outcome::Error(kind) => *errors.lock().expect("tally").entry(kind).or_default() += 1,
    };
    for n in 0..load.endpoints {
        if let Some(pacing) = &mut pacing {
            pacing.tick().await;
        }
        let permit = in_flight.clone().acquire_owned().await?;
        let (source, target, timeout) = (sources.for_session(n), options.target, load.timeout);
        tasks.spawn(async move {
            let _permit = permit;
            let began = Instant::now();
            (
                junk_connect(source, target, n as u64, timeout).await,
                began.elapsed(),
            )
        });
        while let Some(done) = tasks.try_join_next() {
            collect(done?);
        }
    }
    while let Some(done) = tasks.join_next().await {
        collect(done?);
    }
    let elapsed = started.elapsed();
    let result = json!({
        "mode": "junk",
        "connects": load.endpoints,
        "sources": sources.len(),
        "answered": *answered.lock().expect("tally"),
        "closed_without_answer": closed,
        "errors": *errors.lock().expect("tally"),
        "answer_latency": report::latency(&mut latencies),
        "elapsed_s": report::seconds(elapsed),
        "connects_per_s": (load.endpoints as f64 / elapsed.as_secs_f64().max(1e-3)).round(),
        "nofile": nofile.soft,
    });
    report::publish(&result, load.result.as_deref())?;
    Ok(ExitCode::SUCCESS)
}

/// One junk CONNECT from `source` to `target`, its bytes drawn from `seed`.
async fn junk_connect(source: IpAddr, target: SocketAddr, seed: u64, timeout: Duration) -> Outcome {
    let exchange = async {
        let socket = TcpSocket::new_v4()?;
        socket.bind(SocketAddr::new(source, 0))?;
        let mut stream = socket.connect(target).await?;
        stream.write_all(&junk_frame(seed)).await?;
        let mut connack = [0u8; 4];
        match stream.read_exact(&mut connack).await {
            Ok(_) => Ok(Some(connack)),
            Err(error)
                if matches!(
                    error.kind(),
                    std::io::ErrorKind::UnexpectedEof | std::io::ErrorKind::ConnectionReset
                ) =>
            {
                Ok(None)
            }
            Err(error) => Err(error),
        }
    };
    match tokio::time::timeout(timeout, exchange).await {
        Err(_) => Outcome::Error("timeout".into()),
        Ok(Err(error)) if error.kind() == std::io::ErrorKind::ConnectionReset => Outcome::Closed,
        Ok(Err(error)) => Outcome::Error(format!("io {:?}", error.kind())),
        Ok(Ok(None)) => Outcome::Closed,
        Ok(Ok(Some(connack))) => match decode(&connack) {
            Some(Frame::ConnAck(code)) => Outcome::Answered(format!("{code:?}")),
            _ => Outcome::Error(format!("not a CONNACK: {connack:02x?}")),
        },
    }
}

/// The one whole frame `bytes` hold, if they do.
fn decode(bytes: &[u8]) -> Option<Frame> {
    FrameDecoder::default()
        .decode(&mut bytes.into())
        .ok()
        .flatten()
}

/// A CONNECT of random blocks and a random 64–575 byte payload.
fn junk_frame(seed: u64) -> Vec<u8> {
    let mut state = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    let mut next = move || {
        // xorshift64*: junk needs no more than bytes that differ.
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        (state.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 56) as u8
    };
    let mut block = || {
        let mut block = [0u8; RSA_BLOCK_LEN];
        block.iter_mut().for_each(|b| *b = next());
        // Below the modulus (whose top bit is set), so the unwrap is done in full.
        block[0] &= 0x7f;
        block
    };
    let (session_key, signature) = (block(), block());
    let length = 64 + usize::from(next()) * 2;
    let payload = (0..length).map(|_| next()).collect();
    Frame::Connect(Box::new(Connect {
        next_protocol_id: PROTOCOL_AVRO_V2,
        session_key: Some(session_key),
        signature: Some(signature),
        keep_alive: 60,
        payload,
    }))
    .encode()
}

/// The target of a junk run from `HOST:PORT`.
pub fn target(text: &str) -> anyhow::Result<SocketAddr> {
    use std::net::ToSocketAddrs as _;
    text.to_socket_addrs()
        .with_context(|| format!("--target {text}"))?
        .next()
        .with_context(|| format!("--target {text}: no address"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_junk_frame_is_a_whole_connect_of_random_blocks() {
        let frame = junk_frame(7);
        let Some(Frame::Connect(connect)) = decode(&frame) else {
            panic!("not a CONNECT");
        };
        let key = connect.session_key.unwrap();
        assert!(key[0] < 0x80);
        assert_ne!(key, connect.signature.unwrap());
        assert!(connect.payload.len() >= 64);
        assert_ne!(junk_frame(8), frame, "each seed its own bytes");
    }
}
