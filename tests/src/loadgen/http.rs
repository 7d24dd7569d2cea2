//! The HTTP transport of the generator's sessions (`--transport http`). Over Kaa's HTTP transport
//! an endpoint has no connection of its own: its "session" is its key pair and a server, and each
//! sync is one `POST /EP/Sync`, encrypted under a fresh session key and signed by the endpoint
//! (the SDK's [`kaa_sdk::http::sync_with`]). The POSTs of every session of one source address
//! go through one HTTP client bound to that address ([`HttpClients`]), whose pool reuses
//! connections.
//!
//! [`HttpLink`] offers what a Kaatcp channel offers the modes: a request's answer is queued when
//! its POST returns and handed out by [`HttpLink::receive`], which otherwise waits forever (the
//! node cannot push over HTTP). HTTP has no PINGREQ: a ping sends nothing.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use kaa_sdk::SdkError;
use kaa_sdk::bootstrap::OperationsServer;
use kaa_sdk::http::{Path, sync_with};
use kaa_sdk::idl::endpoint::sync::{SyncRequest, SyncResponse};
use kaa_sdk::keys::EndpointKeys;
use tokio::time::Instant;

/// One HTTP client per source address, made on first use.
#[derive(Debug, Default)]
pub struct HttpClients {
    clients: Mutex<HashMap<IpAddr, reqwest::Client>>,
}

impl HttpClients {
    /// The client whose connections come from `source`.
    pub fn for_source(&self, source: IpAddr) -> Result<reqwest::Client, SdkError> {
        let mut clients = self.clients.lock().expect("http clients lock");
        if let Some(client) = clients.get(&source) {
            return Ok(client.clone());
        }
        let client = reqwest::Client::builder()
            .local_address(source)
            .tcp_nodelay(true)
            .build()
            .map_err(|e| SdkError::Unreachable(format!("HTTP client from {source}: {e}")))?;
        clients.insert(source, client.clone());
        Ok(client)
    }
}

/// One endpoint's link to an Operations server over HTTP.
pub struct HttpLink {
    client: reqwest::Client,
    address: String,
    server_key: Arc<[u8]>,
    keys: EndpointKeys,
    timeout: Duration,
    answers: VecDeque<SyncResponse>,
    last_answer: Instant,
}

impl HttpLink {
    /// Sends `first` as endpoint `keys` to `server` over `client`; returns the link and the
    /// answer.
    pub async fn open(
        client: reqwest::Client,
        server: &OperationsServer,
        keys: EndpointKeys,
        first: &SyncRequest,
        timeout: Duration,
    ) -> Result<(Self, SyncResponse), SdkError> {
        let mut link = Self {
            client,
            address: server.address(),
            server_key: server.public_key.as_slice().into(),
            keys,
            timeout,
            answers: VecDeque::new(),
            last_answer: Instant::now(),
        };
        let answer = link.post(first).await?;
        Ok((link, answer))
    }

    /// POSTs `request`; its answer comes through [`HttpLink::receive`].
    pub async fn send(&mut self, request: &SyncRequest) -> Result<(), SdkError> {
        let answer = self.post(request).await?;
        self.answers.push_back(answer);
        Ok(())
    }

    /// The oldest answer not yet received; without one, waits forever. Cancel-safe.
    pub async fn receive(&mut self) -> Result<SyncResponse, SdkError> {
        match self.answers.pop_front() {
            Some(answer) => Ok(answer),
            None => std::future::pending().await,
        }
    }

    /// When the last answer came.
    pub fn last_answer(&self) -> Instant {
        self.last_answer
    }

    async fn post(&mut self, request: &SyncRequest) -> Result<SyncResponse, SdkError> {
        let answer = sync_with(
            &self.client,
            &self.address,
            Path::Sync,
            &self.server_key,
            &self.keys,
            request,
            self.timeout,
        )
        .await?;
        self.last_answer = Instant::now();
        Ok(answer)
    }
}
