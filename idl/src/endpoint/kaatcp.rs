//! Kaatcp, the MQTT-shaped framing Kaa 0.10 endpoints speak over TCP: [`Frame`] is one message,
//! [`Frame::encode`] writes it, and [`FrameDecoder`] cuts frames out of the bytes a socket
//! delivers, however they are split.
//!
//! Every frame is `type << 4` (the low nibble is written 0 and ignored), the MQTT "remaining
//! length" (7 bits per byte, least significant first, at most 4 bytes), then that many bytes:
//!
//! | type | frame        | body |
//! |------|--------------|------|
//! | 1    | CONNECT      | `00 06 "Kaatcp" 01 02`, payload protocol id (u32), session-key flag, signature flag, keepalive (u16); the 256-byte wrapped key and 256-byte signature if flagged; the (encrypted) `SyncRequest` |
//! | 2    | CONNACK      | `00`, return code |
//! | 12   | PINGREQ      | nothing |
//! | 13   | PINGRESP     | nothing |
//! | 14   | DISCONNECT   | `00`, reason |
//! | 15   | KAASYNC      | `00 06 "Kaatcp" 01`, message id (u16), flags (request, zipped, encrypted; sub-command SYNC = 1 in the high nibble); the (encrypted) sync payload |
//!
//! Decoding is strict where Kaa's SDKs are exact (magic, version, fixed lengths, sub-command) and
//! lenient where Kaa is (the low nibble of byte 0, the reserved byte before a return code or
//! reason, the KAASYNC message id).

use bytes::{Buf, BytesMut};

/// Length of an RSA-2048 block: the wrapped session key and the signature in CONNECT.
pub const RSA_BLOCK_LEN: usize = 256;

/// The largest remaining length the MQTT encoding can carry in its 4 bytes.
pub const MAX_REMAINING_LENGTH: usize = 0x0fff_ffff;

/// The default cap on a frame's remaining length for [`FrameDecoder`].
pub const DEFAULT_MAX_FRAME_SIZE: usize = 1024 * 1024;

const CONNECT: u8 = 1;
const CONNACK: u8 = 2;
const PINGREQ: u8 = 12;
const PINGRESP: u8 = 13;
const DISCONNECT: u8 = 14;
const KAASYNC: u8 = 15;

/// Protocol name and version that open CONNECT and KAASYNC headers.
const MAGIC: [u8; 9] = [0x00, 0x06, b'K', b'a', b'a', b't', b'c', b'p', 0x01];
/// CONNECT's flags byte after the magic.
const CONNECT_FLAGS: u8 = 0x02;
/// CONNECT's variable header: magic, flags, protocol id, two flags, keepalive.
const CONNECT_HEADER_LEN: usize = MAGIC.len() + 1 + 4 + 1 + 1 + 2;
/// KAASYNC's variable header: magic, message id, flags.
const KAASYNC_HEADER_LEN: usize = MAGIC.len() + 2 + 1;
/// What Kaa writes for a present session key and signature.
const SESSION_KEY_FLAG: u8 = 0x11;
const SIGNATURE_FLAG: u8 = 0x01;

const SYNC_REQUEST: u8 = 0x01;
const SYNC_ZIPPED: u8 = 0x02;
const SYNC_ENCRYPTED: u8 = 0x04;
/// The KAASYNC sub-command SYNC, in the flags' high nibble.
const SUB_COMMAND_SYNC: u8 = 1;

/// Why bytes are not a Kaatcp frame. The connection cannot continue after any of these.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// Byte 0 names no Kaatcp message type.
    #[error("unknown Kaatcp message type {0}")]
    UnknownType(u8),
    /// The remaining length did not end within 4 bytes.
    #[error("remaining length has a 5th byte (MQTT allows 4)")]
    LengthTooLong,
    /// The frame is larger than the decoder accepts.
    #[error("frame of {length} bytes exceeds the maximum of {max}")]
    TooLarge {
        /// The frame's remaining length.
        length: usize,
        /// The decoder's maximum.
        max: usize,
    },
    /// A CONNECT or KAASYNC header does not start with `00 06 "Kaatcp" 01` (and CONNECT's `02`).
    #[error("{frame} header is not Kaatcp version 1")]
    BadMagic {
        /// Which frame.
        frame: &'static str,
    },
    /// A frame whose body has a fixed size has another.
    #[error("{frame} body is {length} bytes, expected {expected}")]
    BadLength {
        /// Which frame.
        frame: &'static str,
        /// The size Kaatcp defines.
        expected: usize,
        /// The size found.
        length: usize,
    },
    /// A frame is too short for the header and blocks it announces.
    #[error("{frame} body is {length} bytes, shorter than the {needed} its header needs")]
    Truncated {
        /// Which frame.
        frame: &'static str,
        /// The bytes needed.
        needed: usize,
        /// The size found.
        length: usize,
    },
    /// A KAASYNC with the zipped flag: Kaa defines no compression for it.
    #[error("zipped KAASYNC frames are not supported (Kaa defines no compression)")]
    Zipped,
    /// A KAASYNC whose sub-command is not SYNC.
    #[error("unknown KAASYNC sub-command {0} (only SYNC = 1 exists)")]
    UnknownSubCommand(u8),
    /// A CONNACK return code Kaa does not define.
    #[error("unknown CONNACK return code {0:#04x}")]
    UnknownReturnCode(u8),
    /// A DISCONNECT reason Kaa does not define.
    #[error("unknown DISCONNECT reason {0}")]
    UnknownDisconnectReason(u8),
}

/// CONNECT: opens a session, carrying the first sync request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connect {
    /// Payload protocol id of the sync messages (Avro or Avro v2).
    pub next_protocol_id: u32,
    /// The AES session key wrapped under the server's RSA key; `None` for a plain session.
    pub session_key: Option<[u8; RSA_BLOCK_LEN]>,
    /// The endpoint's signature over `session_key`.
    pub signature: Option<[u8; RSA_BLOCK_LEN]>,
    /// Seconds of silence after which the server may drop the session.
    pub keep_alive: u16,
    /// The sync request, encrypted under the session key if there is one.
    pub payload: Vec<u8>,
}

/// CONNACK return codes (Kaa's own values: ACCEPTED is 1, not MQTT's 0).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ReturnCode {
    /// `01`: the session is open.
    Accepted,
    /// `02`: not a CONNECT, or not a protocol the server speaks.
    BadProtocol,
    /// `03`: identifier rejected.
    IdRejected,
    /// `04`: the server failed.
    ServerUnavailable,
    /// `05`: bad keys, signature, SDK token or request.
    BadCredentials,
    /// `06`: not authorized.
    NotAuthorized,
    /// `0x10`: the endpoint failed verification.
    VerificationFailed,
}

impl ReturnCode {
    /// The byte on the wire.
    pub fn code(self) -> u8 {
        match self {
            Self::Accepted => 0x01,
            Self::BadProtocol => 0x02,
            Self::IdRejected => 0x03,
            Self::ServerUnavailable => 0x04,
            Self::BadCredentials => 0x05,
            Self::NotAuthorized => 0x06,
            Self::VerificationFailed => 0x10,
        }
    }

    /// The code a byte names.
    pub fn from_code(code: u8) -> Result<Self, FrameError> {
        Ok(match code {
            0x01 => Self::Accepted,
            0x02 => Self::BadProtocol,
            0x03 => Self::IdRejected,
            0x04 => Self::ServerUnavailable,
            0x05 => Self::BadCredentials,
            0x06 => Self::NotAuthorized,
            0x10 => Self::VerificationFailed,
            other => return Err(FrameError::UnknownReturnCode(other)),
        })
    }
}

/// Why a side closes the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DisconnectReason {
    /// `0`: an orderly close.
    None,
    /// `1`: the peer sent something malformed or insecure.
    BadRequest,
    /// `2`: the sender failed.
    InternalError,
    /// `3`: the endpoint's credentials were revoked.
    CredentialsRevoked,
}

impl DisconnectReason {
    /// The byte on the wire.
    pub fn code(self) -> u8 {
        match self {
            Self::None => 0,
            Self::BadRequest => 1,
            Self::InternalError => 2,
            Self::CredentialsRevoked => 3,
        }
    }

    /// The reason a byte names.
    pub fn from_code(code: u8) -> Result<Self, FrameError> {
        Ok(match code {
            0 => Self::None,
            1 => Self::BadRequest,
            2 => Self::InternalError,
            3 => Self::CredentialsRevoked,
            other => return Err(FrameError::UnknownDisconnectReason(other)),
        })
    }
}

/// KAASYNC with sub-command SYNC: a sync request or response inside a session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KaaSync {
    /// `true` for a request (endpoint → server), `false` for a response or push.
    pub request: bool,
    /// Whether `payload` is encrypted under the session key.
    pub encrypted: bool,
    /// Message id; Kaa always sends 0 (and mangles ids of 256 and more), so any is accepted.
    pub message_id: u16,
    /// The (encrypted) sync message.
    pub payload: Vec<u8>,
}

/// One Kaatcp message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// CONNECT (boxed: it carries two RSA blocks).
    Connect(Box<Connect>),
    /// CONNACK.
    ConnAck(ReturnCode),
    /// KAASYNC.
    KaaSync(KaaSync),
    /// PINGREQ.
    PingReq,
    /// PINGRESP.
    PingResp,
    /// DISCONNECT; whoever sends one closes the connection after it.
    Disconnect(DisconnectReason),
}

impl Frame {
    /// The frame's bytes, ready for the socket. Bodies beyond [`MAX_REMAINING_LENGTH`] cannot be
    /// framed by Kaatcp; callers keep payloads well below it.
    pub fn encode(&self) -> Vec<u8> {
        let mut body = Vec::new();
        let kind = match self {
            Self::Connect(connect) => {
                body.extend_from_slice(&MAGIC);
                body.push(CONNECT_FLAGS);
                body.extend_from_slice(&connect.next_protocol_id.to_be_bytes());
                body.push(if connect.session_key.is_some() {
                    SESSION_KEY_FLAG
                } else {
                    0
                });
                body.push(if connect.signature.is_some() {
                    SIGNATURE_FLAG
                } else {
                    0
                });
                body.extend_from_slice(&connect.keep_alive.to_be_bytes());
                for block in [&connect.session_key, &connect.signature]
                    .into_iter()
                    .flatten()
                {
                    body.extend_from_slice(block);
                }
                body.extend_from_slice(&connect.payload);
                CONNECT
            }
            Self::ConnAck(code) => {
                body.extend_from_slice(&[0, code.code()]);
                CONNACK
            }
            Self::KaaSync(sync) => {
                body.extend_from_slice(&MAGIC);
                body.extend_from_slice(&sync.message_id.to_be_bytes());
                let mut flags = SUB_COMMAND_SYNC << 4;
                if sync.request {
                    flags |= SYNC_REQUEST;
                }
                if sync.encrypted {
                    flags |= SYNC_ENCRYPTED;
                }
                body.push(flags);
                body.extend_from_slice(&sync.payload);
                KAASYNC
            }
            Self::PingReq => PINGREQ,
            Self::PingResp => PINGRESP,
            Self::Disconnect(reason) => {
                body.extend_from_slice(&[0, reason.code()]);
                DISCONNECT
            }
        };
        let mut frame = Vec::with_capacity(body.len() + 5);
        frame.push(kind << 4);
        push_remaining_length(&mut frame, body.len());
        frame.extend_from_slice(&body);
        frame
    }

    /// Parses a frame's body, given the message type from byte 0.
    fn decode_body(kind: u8, body: &[u8]) -> Result<Self, FrameError> {
        match kind {
            CONNECT => decode_connect(body).map(|c| Self::Connect(Box::new(c))),
            CONNACK => {
                let [_, code] = fixed::<2>("CONNACK", body)?;
                ReturnCode::from_code(code).map(Self::ConnAck)
            }
            KAASYNC => decode_kaasync(body).map(Self::KaaSync),
            PINGREQ => fixed::<0>("PINGREQ", body).map(|_| Self::PingReq),
            PINGRESP => fixed::<0>("PINGRESP", body).map(|_| Self::PingResp),
            DISCONNECT => {
                let [_, reason] = fixed::<2>("DISCONNECT", body)?;
                DisconnectReason::from_code(reason).map(Self::Disconnect)
            }
            other => Err(FrameError::UnknownType(other)),
        }
    }
}

/// Appends a frame header's "remaining length": seven bits a byte, least significant first, the
/// high bit set on every byte but the last (the encoding Kaatcp shares with MQTT).
pub fn push_remaining_length(out: &mut Vec<u8>, mut length: usize) {
    loop {
        let digit = (length % 0x80) as u8;
        length /= 0x80;
        if length == 0 {
            out.push(digit);
            return;
        }
        out.push(digit | 0x80);
    }
}

/// A body of exactly `N` bytes.
fn fixed<const N: usize>(frame: &'static str, body: &[u8]) -> Result<[u8; N], FrameError> {
    body.try_into().map_err(|_| FrameError::BadLength {
        frame,
        expected: N,
        length: body.len(),
    })
}

fn decode_connect(body: &[u8]) -> Result<Connect, FrameError> {
    const FRAME: &str = "CONNECT";
    let truncated = |needed| FrameError::Truncated {
        frame: FRAME,
        needed,
        length: body.len(),
    };
    let Some((header, mut rest)) = body.split_first_chunk::<CONNECT_HEADER_LEN>() else {
        return Err(truncated(CONNECT_HEADER_LEN));
    };
    if header[..MAGIC.len()] != MAGIC || header[MAGIC.len()] != CONNECT_FLAGS {
        return Err(FrameError::BadMagic { frame: FRAME });
    }
    let next_protocol_id = u32::from_be_bytes([header[10], header[11], header[12], header[13]]);
    let has_key = header[14] != 0;
    let has_signature = header[15] != 0;
    let keep_alive = u16::from_be_bytes([header[16], header[17]]);
    let needed =
        CONNECT_HEADER_LEN + RSA_BLOCK_LEN * (usize::from(has_key) + usize::from(has_signature));
    let mut block = |present: bool| -> Result<Option<[u8; RSA_BLOCK_LEN]>, FrameError> {
        if !present {
            return Ok(None);
        }
        let (block, tail) = rest
            .split_first_chunk::<RSA_BLOCK_LEN>()
            .ok_or_else(|| truncated(needed))?;
        rest = tail;
        Ok(Some(*block))
    };
    let session_key = block(has_key)?;
    let signature = block(has_signature)?;
    Ok(Connect {
        next_protocol_id,
        session_key,
        signature,
        keep_alive,
        payload: rest.to_vec(),
    })
}

fn decode_kaasync(body: &[u8]) -> Result<KaaSync, FrameError> {
    const FRAME: &str = "KAASYNC";
    let Some((header, payload)) = body.split_first_chunk::<KAASYNC_HEADER_LEN>() else {
        return Err(FrameError::Truncated {
            frame: FRAME,
            needed: KAASYNC_HEADER_LEN,
            length: body.len(),
        });
    };
    if header[..MAGIC.len()] != MAGIC {
        return Err(FrameError::BadMagic { frame: FRAME });
    }
    let message_id = u16::from_be_bytes([header[9], header[10]]);
    let flags = header[11];
    if flags >> 4 != SUB_COMMAND_SYNC {
        return Err(FrameError::UnknownSubCommand(flags >> 4));
    }
    if flags & SYNC_ZIPPED != 0 {
        return Err(FrameError::Zipped);
    }
    Ok(KaaSync {
        request: flags & SYNC_REQUEST != 0,
        encrypted: flags & SYNC_ENCRYPTED != 0,
        message_id,
        payload: payload.to_vec(),
    })
}

/// Cuts Kaatcp frames out of a byte stream.
///
/// Feed it the connection's read buffer after every read: [`FrameDecoder::decode`] removes and
/// returns one complete frame, or returns `Ok(None)` and leaves the bytes for the next call. A
/// frame's size is known from its first five bytes at most, so one larger than the maximum is
/// refused before its body is buffered.
#[derive(Debug, Clone)]
pub struct FrameDecoder {
    max_frame_size: usize,
}

impl Default for FrameDecoder {
    fn default() -> Self {
        Self::new(DEFAULT_MAX_FRAME_SIZE)
    }
}

impl FrameDecoder {
    /// A decoder refusing frames whose remaining length exceeds `max_frame_size` bytes.
    pub fn new(max_frame_size: usize) -> Self {
        Self { max_frame_size }
    }

    /// The next complete frame in `buf`, removing its bytes; `Ok(None)` until one has arrived.
    /// After an error the stream is unusable: close the connection.
    pub fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Frame>, FrameError> {
        let Some(&first) = buf.first() else {
            return Ok(None);
        };
        let kind = first >> 4;
        if !matches!(
            kind,
            CONNECT | CONNACK | PINGREQ | PINGRESP | DISCONNECT | KAASYNC
        ) {
            return Err(FrameError::UnknownType(kind));
        }
        let mut length = 0_usize;
        let mut header_len = 1;
        loop {
            let Some(&byte) = buf.get(header_len) else {
                return Ok(None);
            };
            length |= usize::from(byte & 0x7f) << (7 * (header_len - 1));
            header_len += 1;
            if byte & 0x80 == 0 {
                break;
            }
            if header_len == 5 {
                return Err(FrameError::LengthTooLong);
            }
        }
        if length > self.max_frame_size {
            return Err(FrameError::TooLarge {
                length,
                max: self.max_frame_size,
            });
        }
        let total = header_len + length;
        // Not reserved from the declared length: the reader grows the buffer by what arrives,
        // so a peer announcing a large frame and sending nothing costs nothing.
        if buf.len() < total {
            return Ok(None);
        }
        buf.advance(header_len);
        let body = buf.split_to(length);
        Frame::decode_body(kind, &body).map(Some)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::collection::vec;
    use proptest::prelude::*;

    fn hex(text: &str) -> Vec<u8> {
        text.split_whitespace()
            .map(|b| u8::from_str_radix(b, 16).expect("hex byte"))
            .collect()
    }

    /// Decodes every frame in `bytes`, which must hold whole frames only.
    fn decode_all(bytes: &[u8]) -> Result<Vec<Frame>, FrameError> {
        let mut decoder = FrameDecoder::default();
        let mut buf = BytesMut::from(bytes);
        let mut frames = Vec::new();
        while let Some(frame) = decoder.decode(&mut buf)? {
            frames.push(frame);
        }
        assert!(buf.is_empty(), "{} bytes left over", buf.len());
        Ok(frames)
    }

    fn decode_one(bytes: &[u8]) -> Result<Frame, FrameError> {
        let mut frames = decode_all(bytes)?;
        assert_eq!(frames.len(), 1);
        Ok(frames.remove(0))
    }

    fn block(fill: u8) -> [u8; RSA_BLOCK_LEN] {
        [fill; RSA_BLOCK_LEN]
    }

    #[test]
    fn kaa_connect_example_header() {
        // Kaa's own test frame: keepalive 200, Avro id, key and signature, 48-byte request.
        let connect = Connect {
            next_protocol_id: 0xf291_f2d4,
            session_key: Some(block(0xaa)),
            signature: Some(block(0xbb)),
            keep_alive: 200,
            payload: vec![0x42; 48],
        };
        let bytes = Frame::Connect(Box::new(connect.clone())).encode();
        let header = hex("10 c2 04 00 06 4b 61 61 74 63 70 01 02 f2 91 f2 d4 11 01 00 c8");
        assert_eq!(&bytes[..header.len()], &header[..]);
        assert_eq!(bytes.len(), 3 + 18 + 256 + 256 + 48);
        assert_eq!(bytes[21..277], block(0xaa));
        assert_eq!(bytes[277..533], block(0xbb));
        assert_eq!(decode_one(&bytes), Ok(Frame::Connect(Box::new(connect))));
    }

    #[test]
    fn plain_connect_has_zero_flags_and_no_blocks() {
        let connect = Connect {
            next_protocol_id: 0xe0c0_c178,
            session_key: None,
            signature: None,
            keep_alive: 200,
            payload: vec![0x02; 10],
        };
        let bytes = Frame::Connect(Box::new(connect.clone())).encode();
        let mut expected = hex("10 1c 00 06 4b 61 61 74 63 70 01 02 e0 c0 c1 78 00 00 00 c8");
        expected.extend_from_slice(&[0x02; 10]);
        assert_eq!(bytes, expected);
        assert_eq!(decode_one(&bytes), Ok(Frame::Connect(Box::new(connect))));
    }

    #[test]
    fn connect_key_flag_is_any_non_zero_byte() {
        let mut body = hex("00 06 4b 61 61 74 63 70 01 02 f2 91 f2 d4 01 00 00 3c");
        body.extend_from_slice(&block(7));
        let mut bytes = vec![0x10, 0x92, 0x02];
        bytes.extend_from_slice(&body);
        let Frame::Connect(connect) = decode_one(&bytes).unwrap() else {
            panic!("not a CONNECT");
        };
        assert_eq!(connect.session_key, Some(block(7)));
        assert_eq!(connect.signature, None);
        assert!(connect.payload.is_empty());
        assert_eq!(connect.keep_alive, 60);
    }

    #[test]
    fn kaa_kaasync_example() {
        let sync = KaaSync {
            request: false,
            encrypted: true,
            message_id: 5,
            payload: vec![0xff],
        };
        let bytes = hex("f0 0d 00 06 4b 61 61 74 63 70 01 00 05 14 ff");
        assert_eq!(Frame::KaaSync(sync.clone()).encode(), bytes);
        assert_eq!(decode_one(&bytes), Ok(Frame::KaaSync(sync)));
    }

    #[test]
    fn kaasync_flags_as_sdk_and_server_write_them() {
        for (request, encrypted, flags) in [
            (true, true, 0x15),
            (false, true, 0x14),
            (true, false, 0x11),
            (false, false, 0x10),
        ] {
            let frame = Frame::KaaSync(KaaSync {
                request,
                encrypted,
                message_id: 0,
                payload: vec![],
            });
            let bytes = frame.encode();
            assert_eq!(bytes[13], flags);
            assert_eq!(decode_one(&bytes), Ok(frame));
        }
    }

    #[test]
    fn small_frames_match_kaa_bytes() {
        for (frame, bytes) in [
            (Frame::PingReq, "c0 00"),
            (Frame::PingResp, "d0 00"),
            (Frame::ConnAck(ReturnCode::Accepted), "20 02 00 01"),
            (Frame::ConnAck(ReturnCode::BadProtocol), "20 02 00 02"),
            (Frame::ConnAck(ReturnCode::IdRejected), "20 02 00 03"),
            (Frame::ConnAck(ReturnCode::ServerUnavailable), "20 02 00 04"),
            (Frame::ConnAck(ReturnCode::BadCredentials), "20 02 00 05"),
            (Frame::ConnAck(ReturnCode::NotAuthorized), "20 02 00 06"),
            (
                Frame::ConnAck(ReturnCode::VerificationFailed),
                "20 02 00 10",
            ),
            (Frame::Disconnect(DisconnectReason::None), "e0 02 00 00"),
            (
                Frame::Disconnect(DisconnectReason::BadRequest),
                "e0 02 00 01",
            ),
            (
                Frame::Disconnect(DisconnectReason::InternalError),
                "e0 02 00 02",
            ),
            (
                Frame::Disconnect(DisconnectReason::CredentialsRevoked),
                "e0 02 00 03",
            ),
        ] {
            assert_eq!(frame.encode(), hex(bytes), "{frame:?}");
            assert_eq!(decode_one(&hex(bytes)), Ok(frame));
        }
    }

    #[test]
    fn low_nibble_and_reserved_bytes_are_ignored_as_kaa_does() {
        assert_eq!(decode_one(&hex("cf 00")), Ok(Frame::PingReq));
        assert_eq!(
            decode_one(&hex("e3 02 7f 01")),
            Ok(Frame::Disconnect(DisconnectReason::BadRequest))
        );
    }

    #[test]
    fn remaining_length_is_mqtt_varint() {
        for (length, prefix) in [
            (0, "f0 0c"),
            (127 - 12, "f0 7f"),
            (128 - 12, "f0 80 01"),
            (16383 - 12, "f0 ff 7f"),
            (16384 - 12, "f0 80 80 01"),
            (2_097_152 - 12, "f0 80 80 80 01"),
        ] {
            let frame = Frame::KaaSync(KaaSync {
                request: true,
                encrypted: false,
                message_id: 0,
                payload: vec![0; length],
            });
            let bytes = frame.encode();
            let prefix = hex(prefix);
            assert_eq!(&bytes[..prefix.len()], &prefix[..], "{length}");
            let mut decoder = FrameDecoder::new(usize::MAX);
            assert_eq!(
                decoder.decode(&mut BytesMut::from(&bytes[..])),
                Ok(Some(frame))
            );
        }
    }

    #[test]
    fn malformed_frames_are_named_errors() {
        for (bytes, error) in [
            ("00 00", FrameError::UnknownType(0)),
            ("30 00", FrameError::UnknownType(3)),
            ("b0", FrameError::UnknownType(11)),
            ("f0 80 80 80 80 01", FrameError::LengthTooLong),
            (
                "c0 01 00",
                FrameError::BadLength {
                    frame: "PINGREQ",
                    expected: 0,
                    length: 1,
                },
            ),
            (
                "20 01 01",
                FrameError::BadLength {
                    frame: "CONNACK",
                    expected: 2,
                    length: 1,
                },
            ),
            ("20 02 00 07", FrameError::UnknownReturnCode(7)),
            ("20 02 00 0a", FrameError::UnknownReturnCode(10)),
            ("e0 02 00 04", FrameError::UnknownDisconnectReason(4)),
            (
                "f0 0c 00 06 4b 61 61 74 63 70 02 00 00 11",
                FrameError::BadMagic { frame: "KAASYNC" },
            ),
            (
                "f0 0c 00 06 4b 61 61 74 63 70 01 00 00 13",
                FrameError::Zipped,
            ),
            (
                "f0 0c 00 06 4b 61 61 74 63 70 01 00 00 01",
                FrameError::UnknownSubCommand(0),
            ),
            (
                "f0 0c 00 06 4b 61 61 74 63 70 01 00 00 21",
                FrameError::UnknownSubCommand(2),
            ),
            (
                "f0 02 00 06",
                FrameError::Truncated {
                    frame: "KAASYNC",
                    needed: 12,
                    length: 2,
                },
            ),
            (
                "10 12 00 06 4b 61 61 74 63 70 01 03 f2 91 f2 d4 00 00 00 c8",
                FrameError::BadMagic { frame: "CONNECT" },
            ),
            (
                "10 12 00 06 4b 61 61 74 63 70 01 02 f2 91 f2 d4 11 01 00 c8",
                FrameError::Truncated {
                    frame: "CONNECT",
                    needed: 18 + 512,
                    length: 18,
                },
            ),
        ] {
            assert_eq!(decode_all(&hex(bytes)), Err(error.clone()), "{bytes}");
            assert!(!error.to_string().is_empty());
        }
        assert_eq!(
            FrameError::Zipped.to_string(),
            "zipped KAASYNC frames are not supported (Kaa defines no compression)"
        );
    }

    #[test]
    fn oversized_frames_fail_before_their_body_arrives() {
        let mut decoder = FrameDecoder::new(100);
        // A KAASYNC announcing 101 bytes, of which none have arrived.
        let mut buf = BytesMut::from(&hex("f0 65")[..]);
        assert_eq!(
            decoder.decode(&mut buf),
            Err(FrameError::TooLarge {
                length: 101,
                max: 100
            })
        );
        // Exactly the maximum is fine: it waits for the body.
        let mut buf = BytesMut::from(&hex("f0 64")[..]);
        assert_eq!(decoder.decode(&mut buf), Ok(None));
        assert_eq!(buf.len(), 2);
    }

    fn sample_stream() -> (Vec<Frame>, Vec<u8>) {
        let frames = vec![
            Frame::Connect(Box::new(Connect {
                next_protocol_id: 0xe0c0_c178,
                session_key: Some(block(1)),
                signature: Some(block(2)),
                keep_alive: 200,
                payload: (0..=255).collect(),
            })),
            Frame::ConnAck(ReturnCode::Accepted),
            Frame::KaaSync(KaaSync {
                request: false,
                encrypted: true,
                message_id: 0,
                payload: vec![9; 300],
            }),
            Frame::PingReq,
            Frame::PingResp,
            Frame::Disconnect(DisconnectReason::None),
        ];
        let bytes = frames.iter().flat_map(Frame::encode).collect();
        (frames, bytes)
    }

    #[test]
    fn stream_split_at_every_byte_yields_the_same_frames() {
        let (frames, bytes) = sample_stream();
        for split in 0..=bytes.len() {
            let mut decoder = FrameDecoder::default();
            let mut buf = BytesMut::new();
            let mut decoded = Vec::new();
            for chunk in [&bytes[..split], &bytes[split..]] {
                buf.extend_from_slice(chunk);
                while let Some(frame) = decoder.decode(&mut buf).unwrap() {
                    decoded.push(frame);
                }
            }
            assert_eq!(decoded, frames, "split at {split}");
            assert!(buf.is_empty());
        }
    }

    #[test]
    fn stream_fed_one_byte_at_a_time_yields_the_same_frames() {
        let (frames, bytes) = sample_stream();
        let mut decoder = FrameDecoder::default();
        let mut buf = BytesMut::new();
        let mut decoded = Vec::new();
        for &byte in &bytes {
            buf.extend_from_slice(&[byte]);
            while let Some(frame) = decoder.decode(&mut buf).unwrap() {
                decoded.push(frame);
            }
        }
        assert_eq!(decoded, frames);
    }

    fn any_block() -> impl Strategy<Value = Option<[u8; RSA_BLOCK_LEN]>> {
        proptest::option::of(any::<u8>().prop_map(block))
    }

    fn any_frame() -> impl Strategy<Value = Frame> {
        let connect = (
            any::<u32>(),
            any_block(),
            any_block(),
            any::<u16>(),
            vec(any::<u8>(), 0..64),
        )
            .prop_map(|(id, session_key, signature, keep_alive, payload)| {
                Frame::Connect(Box::new(Connect {
                    next_protocol_id: id,
                    session_key,
                    signature,
                    keep_alive,
                    payload,
                }))
            });
        let sync = (
            any::<bool>(),
            any::<bool>(),
            any::<u16>(),
            vec(any::<u8>(), 0..200),
        )
            .prop_map(|(request, encrypted, message_id, payload)| {
                Frame::KaaSync(KaaSync {
                    request,
                    encrypted,
                    message_id,
                    payload,
                })
            });
        prop_oneof![
            connect,
            sync,
            proptest::sample::select(vec![
                ReturnCode::Accepted,
                ReturnCode::BadProtocol,
                ReturnCode::IdRejected,
                ReturnCode::ServerUnavailable,
                ReturnCode::BadCredentials,
                ReturnCode::NotAuthorized,
                ReturnCode::VerificationFailed,
            ])
            .prop_map(Frame::ConnAck),
            proptest::sample::select(vec![
                DisconnectReason::None,
                DisconnectReason::BadRequest,
                DisconnectReason::InternalError,
                DisconnectReason::CredentialsRevoked,
            ])
            .prop_map(Frame::Disconnect),
            Just(Frame::PingReq),
            Just(Frame::PingResp),
        ]
    }

    proptest! {
        #[test]
        fn frames_round_trip(frames in vec(any_frame(), 1..4), split in any::<prop::sample::Index>()) {
            let bytes: Vec<u8> = frames.iter().flat_map(Frame::encode).collect();
            let split = split.index(bytes.len() + 1);
            let mut decoder = FrameDecoder::default();
            let mut buf = BytesMut::from(&bytes[..split]);
            let mut decoded = Vec::new();
            while let Some(frame) = decoder.decode(&mut buf).unwrap() {
                decoded.push(frame);
            }
            buf.extend_from_slice(&bytes[split..]);
            while let Some(frame) = decoder.decode(&mut buf).unwrap() {
                decoded.push(frame);
            }
            prop_assert_eq!(decoded, frames);
        }
    }
}
