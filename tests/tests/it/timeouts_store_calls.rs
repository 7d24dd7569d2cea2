//! Store calls end at their timeout instead of hanging, against the real servers: a MongoDB
//! endpoint store reached through a proxy that goes silent mid-session (the server accepted the
//! connection, then answers nothing, as a frozen or partitioned one does) fails each call with
//! `StoreError::Timeout` after `request_timeout`; a PostgreSQL statement that runs longer than
//! `request_timeout` is ended by the server.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use kaa_store::endpoint::{EndpointBackend, EndpointStore};
use kaa_store::sql::SqlDatabase;
use kaa_store::{StoreError, Timeouts};
use kaa_tests::infra;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// A TCP proxy to `upstream` on 127.0.0.1 that stops passing bytes either way once frozen.
struct FreezingProxy {
    port: u16,
    frozen: Arc<AtomicBool>,
}

impl FreezingProxy {
    async fn start(upstream: String) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let frozen = Arc::new(AtomicBool::new(false));
        let flag = frozen.clone();
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let Ok(server) = TcpStream::connect(&upstream).await else {
                    continue;
                };
                let (client_read, client_write) = client.into_split();
                let (server_read, server_write) = server.into_split();
                tokio::spawn(pass(client_read, server_write, flag.clone()));
                tokio::spawn(pass(server_read, client_write, flag.clone()));
            }
        });
        Self { port, frozen }
    }

    fn freeze(&self) {
        self.frozen.store(true, Ordering::SeqCst);
    }
}

/// Copies `from` to `to`, holding what it read while `frozen`.
async fn pass(
    mut from: impl AsyncReadExt + Unpin,
    mut to: impl AsyncWriteExt + Unpin,
    frozen: Arc<AtomicBool>,
) {
    let mut chunk = vec![0u8; 16 * 1024];
    loop {
        let Ok(n) = from.read(&mut chunk).await else {
            return;
        };
        if n == 0 {
            return;
        }
        while frozen.load(Ordering::SeqCst) {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        if to.write_all(&chunk[..n]).await.is_err() {
            return;
        }
    }
}

#[tokio::test]
async fn an_endpoint_store_that_goes_silent_fails_each_call_at_its_request_timeout() {
    infra::ensure_up("mongodb");
    let upstream = infra::mongodb()
        .trim_start_matches("mongodb://")
        .split(['/', '?'])
        .next()
        .unwrap()
        .to_owned();
    let proxy = FreezingProxy::start(upstream).await;
    let timeouts = Timeouts {
        connect: Duration::from_secs(2),
        request: Duration::from_secs(1),
    };
    let backend = EndpointBackend::MongoDb {
        url: format!("mongodb://127.0.0.1:{}/?directConnection=true", proxy.port),
        database: format!("kaa_timeouts_{}", infra::unique_name()),
    };
    let store = EndpointStore::connect_with(&backend, timeouts)
        .await
        .unwrap();
    store.prepare().await.unwrap();
    assert_eq!(store.profile(b"no such endpoint").await.unwrap(), None);

    proxy.freeze();
    for attempt in 1..=2 {
        let started = Instant::now();
        let result = store.profile(b"no such endpoint").await;
        let took = started.elapsed();
        println!(
            "call {attempt} to a silent MongoDB: {result:?} after {took:?} (request timeout 1 s)"
        );
        assert!(
            matches!(result, Err(StoreError::Timeout(limit)) if limit == timeouts.request),
            "{result:?}"
        );
        assert!(took < Duration::from_secs(3), "took {took:?}");
    }
}

#[tokio::test]
async fn a_postgresql_statement_longer_than_the_request_timeout_is_ended_by_the_server() {
    infra::ensure_up("postgresql");
    let timeouts = Timeouts {
        connect: Duration::from_secs(5),
        request: Duration::from_millis(500),
    };
    let database = SqlDatabase::connect_with(&infra::postgres(), 2, timeouts)
        .await
        .unwrap();
    let started = Instant::now();
    let result = sqlx::query("SELECT pg_sleep(5)")
        .execute(database.pool())
        .await;
    let took = started.elapsed();
    println!("pg_sleep(5) with a 500 ms request timeout: {result:?} after {took:?}");
    let error = result.unwrap_err().to_string();
    assert!(error.contains("statement timeout"), "{error}");
    assert!(took < Duration::from_secs(3), "took {took:?}");
    database.pool().close().await;
}
