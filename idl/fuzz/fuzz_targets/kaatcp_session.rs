//! A Kaatcp connection as the endpoint listener serves it (`kaa_transport::tcp::serve_stream`):
//! the first byte picks the settings (plain sessions allowed or not), the rest is what a client
//! sends, over an in-memory pipe, to a service that answers every sync with an empty success.
//! The session state machine (CONNECT, session key, KAASYNC, PINGREQ, DISCONNECT, frames out of
//! order, malformed frames) never panics and never hangs, and everything it writes back is
//! whole Kaatcp frames.
#![no_main]

use std::sync::{Arc, LazyLock};

use bytes::BytesMut;
use kaa_idl::endpoint::crypto::KeyPair;
use kaa_idl::endpoint::kaatcp::FrameDecoder;
use kaa_idl::endpoint::sync::{SyncRequest, SyncResponse, SyncResponseResultType};
use kaa_transport::tcp::{TcpSettings, serve_stream};
use kaa_transport::{Channel, EndpointService, Identified, NodeKeys, PushSender, SyncFailure};
use libfuzzer_sys::fuzz_target;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::runtime::Runtime;
use tokio_util::sync::CancellationToken;

/// Keeps sessions, checks no signatures, answers every sync with an empty success.
struct Nothing;

impl EndpointService for Nothing {
    type Session = ();
    type Push = ();
    type Identity = ();

    const KEEPS_SESSIONS: bool = true;
    const SIGNS_RESPONSES: bool = false;
    const VERIFIES_SIGNATURES: bool = false;

    fn open(&self, _: PushSender<()>, _: Option<()>, _: Channel) {}

    async fn identify(&self, _: &[u8]) -> Result<Identified<()>, SyncFailure> {
        Ok(Identified {
            public_key: None,
            identity: (),
        })
    }

    async fn sync(&self, _: &mut (), request: SyncRequest) -> Result<SyncResponse, SyncFailure> {
        Ok(SyncResponse {
            request_id: request.request_id,
            status: SyncResponseResultType::Success,
            bootstrap_sync_response: None,
            profile_sync_response: None,
            configuration_sync_response: None,
            notification_sync_response: None,
            user_sync_response: None,
            event_sync_response: None,
            redirect_sync_response: None,
            log_sync_response: None,
            extension_sync_responses: None,
        })
    }

    async fn push(&self, _: &mut (), _: ()) -> Result<Option<SyncResponse>, SyncFailure> {
        Ok(None)
    }

    fn close(&self, _: ()) {}
}

/// One runtime for every input; its clock is paused, so a session's timeouts pass at once
/// instead of holding the fuzzer.
static RUNTIME: LazyLock<Runtime> = LazyLock::new(|| {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .expect("a runtime")
});

static KEYS: LazyLock<NodeKeys> =
    LazyLock::new(|| NodeKeys::from_pair(KeyPair::generate().expect("an RSA key pair")));

static SERVICE: LazyLock<Arc<Nothing>> = LazyLock::new(|| Arc::new(Nothing));

/// Largest frame the listener takes in the fuzz runs (the default is 512 KiB).
const MAX_FRAME: usize = 64 * 1024;

fuzz_target!(|data: &[u8]| {
    let Some((&flags, sent)) = data.split_first() else {
        return;
    };
    let settings = TcpSettings {
        max_frame: MAX_FRAME,
        allow_plaintext: flags & 1 == 1,
        ..TcpSettings::default()
    };
    let received = RUNTIME.block_on(async {
        let (client, server) = tokio::io::duplex(16 * 1024);
        let serving = serve_stream(
            server,
            ([127, 0, 0, 1], 9997).into(),
            SERVICE.clone(),
            KEYS.clone(),
            settings,
            CancellationToken::new(),
        );
        let (mut reader, mut writer) = tokio::io::split(client);
        let sending = async {
            // The server may close first: what it did not read is not an error.
            let _ = writer.write_all(sent).await;
            let _ = writer.shutdown().await;
        };
        let receiving = async {
            let mut received = Vec::new();
            reader
                .read_to_end(&mut received)
                .await
                .expect("an in-memory pipe");
            received
        };
        let ((), (), received) = tokio::join!(serving, sending, receiving);
        received
    });
    let mut received = BytesMut::from(&received[..]);
    let mut decoder = FrameDecoder::new(usize::MAX);
    while !received.is_empty() {
        decoder
            .decode(&mut received)
            .expect("the server writes well-formed frames")
            .expect("the server writes whole frames");
    }
});
