//! A network stand-in the tests control: an HTTP endpoint that records what it is sent and
//! answers with a status the test chooses (a REST log appender's target, an HTTP user verifier).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU16, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

/// One request an [`HttpStub`] received.
#[derive(Debug, Clone)]
pub struct Received {
    /// Request path.
    pub path: String,
    /// Body, parsed as JSON (`Null` when it is not).
    pub body: serde_json::Value,
    /// The status it was answered.
    pub status: u16,
}

/// An HTTP/1.1 server on 127.0.0.1 that records each request and answers `status()` with an
/// empty body. Stops when dropped.
pub struct HttpStub {
    /// Where it listens.
    pub addr: SocketAddr,
    status: Arc<AtomicU16>,
    /// Milliseconds each request waits before it is recorded and answered.
    delay_ms: Arc<AtomicU64>,
    received: Arc<Mutex<Vec<Received>>>,
    stop: CancellationToken,
}

impl HttpStub {
    /// Starts answering 200.
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind stub");
        let stub = Self {
            addr: listener.local_addr().expect("stub address"),
            status: Arc::new(AtomicU16::new(200)),
            delay_ms: Arc::default(),
            received: Arc::default(),
            stop: CancellationToken::new(),
        };
        let (status, delay, received, stop) = (
            stub.status.clone(),
            stub.delay_ms.clone(),
            stub.received.clone(),
            stub.stop.clone(),
        );
        tokio::spawn(async move {
            loop {
                let accepted = tokio::select! {
                    accepted = listener.accept() => accepted,
                    _ = stop.cancelled() => return,
                };
                let Ok((stream, _)) = accepted else { continue };
                tokio::spawn(serve(
                    stream,
                    status.clone(),
                    delay.clone(),
                    received.clone(),
                ));
            }
        });
        stub
    }

    /// `http://<addr><path>`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Answers `status` from now on.
    pub fn answer(&self, status: u16) {
        self.status.store(status, Ordering::SeqCst);
    }

    /// Takes `delay` over each request from now on (a slow storage): the request is recorded
    /// and answered when it is over.
    pub fn delay(&self, delay: Duration) {
        let millis = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX);
        self.delay_ms.store(millis, Ordering::SeqCst);
    }

    /// Every request so far.
    pub fn received(&self) -> Vec<Received> {
        self.received.lock().expect("stub lock").clone()
    }
}

impl Drop for HttpStub {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// Serves one keep-alive connection.
async fn serve(
    mut stream: TcpStream,
    status: Arc<AtomicU16>,
    delay_ms: Arc<AtomicU64>,
    received: Arc<Mutex<Vec<Received>>>,
) {
    let mut buffer = Vec::new();
    loop {
        let head_end = loop {
            if let Some(at) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
                break at + 4;
            }
            let mut chunk = [0u8; 8192];
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buffer.extend_from_slice(&chunk[..n]),
            }
        };
        let head = String::from_utf8_lossy(&buffer[..head_end]).to_string();
        let path = head
            .split_whitespace()
            .nth(1)
            .unwrap_or_default()
            .to_owned();
        let length: usize = head
            .lines()
            .find_map(|line| {
                let (name, value) = line.split_once(':')?;
                name.eq_ignore_ascii_case("content-length")
                    .then(|| value.trim().parse().ok())
                    .flatten()
            })
            .unwrap_or(0);
        while buffer.len() < head_end + length {
            let mut chunk = [0u8; 65536];
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buffer.extend_from_slice(&chunk[..n]),
            }
        }
        let body = serde_json::from_slice(&buffer[head_end..head_end + length])
            .unwrap_or(serde_json::Value::Null);
        buffer.drain(..head_end + length);
        let delay = delay_ms.load(Ordering::SeqCst);
        if delay > 0 {
            tokio::time::sleep(Duration::from_millis(delay)).await;
        }
        let code = status.load(Ordering::SeqCst);
        received.lock().expect("stub lock").push(Received {
            path,
            body,
            status: code,
        });
        let response = format!("HTTP/1.1 {code} Stub\r\ncontent-length: 0\r\n\r\n");
        if stream.write_all(response.as_bytes()).await.is_err() {
            return;
        }
    }
}
