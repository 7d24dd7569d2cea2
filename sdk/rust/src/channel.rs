//! A Kaatcp channel to one server: CONNECT with the first request, then requests, responses,
//! pushes and pings over one TCP connection, encrypted when the server's public key is known.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use bytes::BytesMut;
use kaa_idl::endpoint::crypto::{self, PublicKey, SessionKey};
use kaa_idl::endpoint::kaatcp::{
    Connect, DisconnectReason, Frame, FrameDecoder, KaaSync, ReturnCode,
};
use kaa_idl::endpoint::sync::{SyncRequest, SyncResponse};
use std::sync::Arc;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio::time::Instant;
use tokio_rustls::TlsConnector;
use tokio_rustls::rustls::pki_types::ServerName;

use crate::SdkError;
use crate::keys::EndpointKeys;

/// Largest frame the SDK accepts from a server.
const MAX_FRAME: usize = 4 * 1024 * 1024;

/// How the channel protects its payloads.
pub enum Security<'a> {
    /// Plaintext (servers may refuse it).
    Plain,
    /// AES session key wrapped under the server's key, signed by the endpoint's key.
    Encrypted {
        /// The server's X.509 DER public key.
        server_key: &'a [u8],
        /// The endpoint's keys, to sign the wrapped session key.
        endpoint: &'a EndpointKeys,
    },
}

/// A byte stream to a server: plain TCP or TLS over it.
trait Stream: AsyncRead + AsyncWrite + Unpin + Send {}

impl<T: AsyncRead + AsyncWrite + Unpin + Send> Stream for T {}

/// TLS towards servers: the client configuration (trusted roots) to use.
pub type Tls = Arc<tokio_rustls::rustls::ClientConfig>;

/// One open Kaatcp connection.
pub struct Channel {
    stream: Box<dyn Stream>,
    buffer: BytesMut,
    decoder: FrameDecoder,
    key: Option<SessionKey>,
    /// When bytes last came from the server.
    last_read: Instant,
}

impl Channel {
    /// Connects to `addr` (over TLS when `tls` is given, checking the certificate against the
    /// host of `addr`) and sends CONNECT with `first`; returns the channel and the answer.
    pub async fn connect(
        addr: &str,
        tls: Option<&Tls>,
        security: Security<'_>,
        keep_alive: u16,
        first: &SyncRequest,
        timeout: Duration,
    ) -> Result<(Channel, SyncResponse), SdkError> {
        let keys = SessionKeys::prepare(security)?;
        let stream = tokio::time::timeout(timeout, TcpStream::connect(addr))
            .await
            .map_err(|_| SdkError::Timeout("tcp connect"))??;
        Self::start(stream, addr, tls, keys, keep_alive, first, timeout).await
    }

    /// As [`Channel::connect`], from the local address `local` (the port is the system's
    /// choice) and with key material made beforehand ([`SessionKeys::prepare`]): a load
    /// generator spreads its connections over many source addresses, each with its own range of
    /// ports, and may make every session's keys before its storm starts, as devices that each
    /// have their own processor would.
    pub async fn connect_from(
        local: IpAddr,
        addr: &str,
        tls: Option<&Tls>,
        keys: SessionKeys,
        keep_alive: u16,
        first: &SyncRequest,
        timeout: Duration,
    ) -> Result<(Channel, SyncResponse), SdkError> {
        let stream = tokio::time::timeout(timeout, connect_bound(local, addr))
            .await
            .map_err(|_| SdkError::Timeout("tcp connect"))??;
        Self::start(stream, addr, tls, keys, keep_alive, first, timeout).await
    }

    /// Sends CONNECT with `first`, under the prepared `keys`, over a fresh TCP connection to
    /// `addr`.
    async fn start(
        stream: TcpStream,
        addr: &str,
        tls: Option<&Tls>,
        keys: SessionKeys,
        keep_alive: u16,
        first: &SyncRequest,
        timeout: Duration,
    ) -> Result<(Channel, SyncResponse), SdkError> {
        stream.set_nodelay(true)?;
        let stream: Box<dyn Stream> = match tls {
            None => Box::new(stream),
            Some(config) => {
                let host = addr.rsplit_once(':').map_or(addr, |(host, _)| host);
                let name = ServerName::try_from(host.to_owned())
                    .map_err(|e| SdkError::Keys(format!("TLS server name {host}: {e}")))?;
                let connector = TlsConnector::from(config.clone());
                let stream = tokio::time::timeout(timeout, connector.connect(name, stream))
                    .await
                    .map_err(|_| SdkError::Timeout("TLS handshake"))??;
                Box::new(stream)
            }
        };
        let SessionKeys {
            key,
            session_key,
            signature,
        } = keys;
        let mut channel = Channel {
            stream,
            buffer: BytesMut::with_capacity(4096),
            decoder: FrameDecoder::new(MAX_FRAME),
            key,
            last_read: Instant::now(),
        };
        let payload = channel.seal(&first.encode());
        let connect = Connect {
            next_protocol_id: crypto::PROTOCOL_AVRO_V2,
            session_key: session_key.map(block).transpose()?,
            signature: signature.map(block).transpose()?,
            keep_alive,
            payload,
        };
        channel.write(&Frame::Connect(Box::new(connect))).await?;
        let answer = tokio::time::timeout(timeout, async {
            match channel.read_frame().await? {
                Frame::ConnAck(ReturnCode::Accepted) => {}
                Frame::ConnAck(code) => return Err(SdkError::Refused(refusal(code))),
                other => {
                    return Err(SdkError::Protocol(format!(
                        "expected CONNACK, got {other:?}"
                    )));
                }
            }
            match channel.read_frame().await? {
                Frame::KaaSync(sync) => channel.open_response(&sync),
                other => Err(SdkError::Protocol(format!(
                    "expected KAASYNC, got {other:?}"
                ))),
            }
        })
        .await
        .map_err(|_| SdkError::Timeout("CONNACK"))??;
        Ok((channel, answer))
    }

    /// Sends a request; its answer arrives through [`Channel::receive`].
    pub async fn send(&mut self, request: &SyncRequest) -> Result<(), SdkError> {
        let payload = self.seal(&request.encode());
        let frame = Frame::KaaSync(KaaSync {
            request: true,
            encrypted: self.key.is_some(),
            message_id: 0,
            payload,
        });
        self.write(&frame).await
    }

    /// Sends PINGREQ.
    pub async fn ping(&mut self) -> Result<(), SdkError> {
        self.write(&Frame::PingReq).await
    }

    /// Sends PINGREQ and waits for PINGRESP: one transport round trip, no sync work.
    pub async fn ping_round_trip(&mut self) -> Result<(), SdkError> {
        self.ping().await?;
        loop {
            match self.read_frame().await? {
                Frame::PingResp => return Ok(()),
                Frame::KaaSync(_) => continue,
                other => return Err(SdkError::Protocol(format!("unexpected frame {other:?}"))),
            }
        }
    }

    /// The next response from the server, answered or pushed; PINGRESP is skipped. Cancel-safe.
    pub async fn receive(&mut self) -> Result<SyncResponse, SdkError> {
        loop {
            match self.read_frame().await? {
                Frame::KaaSync(sync) => return self.open_response(&sync),
                Frame::PingResp => continue,
                Frame::Disconnect(reason) => {
                    return Err(SdkError::Refused(format!("DISCONNECT {reason:?}")));
                }
                other => {
                    return Err(SdkError::Protocol(format!("unexpected frame {other:?}")));
                }
            }
        }
    }

    /// When bytes last came from the server (a PINGRESP counts, though [`Channel::receive`]
    /// skips it).
    pub fn last_read(&self) -> Instant {
        self.last_read
    }

    /// Says goodbye (DISCONNECT NONE) and closes.
    pub async fn close(mut self) {
        let _ = self.write(&Frame::Disconnect(DisconnectReason::None)).await;
        let _ = self.stream.shutdown().await;
    }

    fn seal(&self, plain: &[u8]) -> Vec<u8> {
        match &self.key {
            Some(key) => key.encrypt(plain),
            None => plain.to_vec(),
        }
    }

    fn open_response(&self, sync: &KaaSync) -> Result<SyncResponse, SdkError> {
        let plain = match &self.key {
            Some(key) => key
                .decrypt(&sync.payload)
                .map_err(|e| SdkError::Protocol(format!("response: {e}")))?,
            None => sync.payload.clone(),
        };
        SyncResponse::decode(&plain).map_err(|e| SdkError::Protocol(e.to_string()))
    }

    async fn write(&mut self, frame: &Frame) -> Result<(), SdkError> {
        self.stream.write_all(&frame.encode()).await?;
        Ok(())
    }

    async fn read_frame(&mut self) -> Result<Frame, SdkError> {
        loop {
            if let Some(frame) = self
                .decoder
                .decode(&mut self.buffer)
                .map_err(|e| SdkError::Protocol(e.to_string()))?
            {
                return Ok(frame);
            }
            if self.stream.read_buf(&mut self.buffer).await? == 0 {
                return Err(SdkError::Io(std::io::ErrorKind::UnexpectedEof.into()));
            }
            self.last_read = Instant::now();
        }
    }
}

/// A TCP connection to `addr` from `local`, bound before it connects.
async fn connect_bound(local: IpAddr, addr: &str) -> std::io::Result<TcpStream> {
    let remote = tokio::net::lookup_host(addr)
        .await?
        .find(|remote| remote.is_ipv4() == local.is_ipv4())
        .ok_or_else(|| {
            std::io::Error::new(
                std::io::ErrorKind::AddrNotAvailable,
                format!("{addr} has no address of the family of {local}"),
            )
        })?;
    let socket = match local {
        IpAddr::V4(_) => TcpSocket::new_v4()?,
        IpAddr::V6(_) => TcpSocket::new_v6()?,
    };
    socket.bind(SocketAddr::new(local, 0))?;
    socket.connect(remote).await
}

/// What a CONNACK refusal means, for people.
fn refusal(code: ReturnCode) -> String {
    let meaning = match code {
        ReturnCode::BadCredentials => {
            "the server does not accept the endpoint's credentials (unknown SDK token, or a key or signature it cannot check)"
        }
        ReturnCode::VerificationFailed => {
            "the endpoint failed verification (revoked or not provisioned)"
        }
        ReturnCode::ServerUnavailable => "the server failed",
        ReturnCode::BadProtocol => "the server does not speak this protocol",
        ReturnCode::IdRejected | ReturnCode::NotAuthorized | ReturnCode::Accepted => {
            "not authorized"
        }
    };
    format!("CONNACK {:#04x} {code:?}: {meaning}", code.code())
}

/// A session's key material for CONNECT: the session key, wrapped for the server, signed by the
/// endpoint. Made before the TCP connection opens, so the server never holds a connection
/// while the endpoint does its private-key work (a server cuts a connection whose CONNECT has
/// not arrived within its connect deadline).
pub struct SessionKeys {
    key: Option<SessionKey>,
    session_key: Option<Vec<u8>>,
    signature: Option<Vec<u8>>,
}

impl SessionKeys {
    /// Makes one session's key material under `security` (nothing for a plaintext session):
    /// the endpoint's private-key work, milliseconds of processor time.
    pub fn prepare(security: Security<'_>) -> Result<Self, SdkError> {
        let Security::Encrypted {
            server_key,
            endpoint,
        } = security
        else {
            return Ok(Self {
                key: None,
                session_key: None,
                signature: None,
            });
        };
        let keys_error = |e: crypto::CryptoError| SdkError::Keys(e.to_string());
        let key = SessionKey::generate().map_err(keys_error)?;
        let wrapped = PublicKey::from_der(server_key)
            .and_then(|server| server.wrap_session_key(&key))
            .map_err(keys_error)?;
        let signature = endpoint.pair().sign(&wrapped).map_err(keys_error)?;
        Ok(Self {
            key: Some(key),
            session_key: Some(wrapped),
            signature: Some(signature),
        })
    }
}

/// A 256-byte RSA block, as CONNECT carries it.
fn block(bytes: Vec<u8>) -> Result<[u8; 256], SdkError> {
    bytes.try_into().map_err(|bytes: Vec<u8>| {
        SdkError::Keys(format!("RSA block of {} bytes, not 256", bytes.len()))
    })
}
