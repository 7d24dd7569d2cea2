//! Every decoder that reads bytes from the network, fed arbitrary and half-valid bytes: it may
//! refuse them, but it must never panic (the fuzz targets in `idl/fuzz` push the same further).

use bytes::BytesMut;
use kaa_idl::endpoint::crypto::{KeyPair, PublicKey, SessionKey};
use kaa_idl::endpoint::http::{SyncBody, boundary};
use kaa_idl::endpoint::kaatcp::FrameDecoder;
use kaa_idl::endpoint::sync::{
    LogEntry, LogSyncRequest, ProfileSyncRequest, SyncRequest, SyncRequestMetaData, SyncResponse,
};
use kaa_idl::zk::{
    AvroRecord, BootstrapNodeInfo, ControlNodeInfo, OperationsNodeInfo, TransportConnectionInfo,
};
use proptest::collection::vec;
use proptest::prelude::*;

const PRIVATE: &[u8] = include_bytes!("../data/endpoint.key.private");

fn valid_request() -> Vec<u8> {
    SyncRequest {
        request_id: 3,
        sync_request_meta_data: Some(SyncRequestMetaData {
            sdk_token: "token".into(),
            endpoint_public_key_hash: Some(vec![1; 20]),
            profile_hash: None,
            timeout: Some(60_000),
        }),
        profile_sync_request: Some(ProfileSyncRequest {
            endpoint_public_key: Some(vec![2; 30]),
            profile_body: vec![],
            endpoint_access_token: Some("t".into()),
        }),
        log_sync_request: Some(LogSyncRequest {
            request_id: 1,
            log_entries: Some(vec![LogEntry { data: vec![4; 5] }; 3]),
        }),
        ..SyncRequest::default()
    }
    .encode()
}

/// `valid` with some bytes replaced, inserted or removed.
fn mutated(valid: Vec<u8>) -> impl Strategy<Value = Vec<u8>> {
    let len = valid.len();
    vec((0..len, any::<u8>(), 0..3_u8), 1..6).prop_map(move |edits| {
        let mut bytes = valid.clone();
        for (at, byte, kind) in edits {
            let at = at.min(bytes.len().saturating_sub(1));
            match kind {
                0 if !bytes.is_empty() => bytes[at] = byte,
                1 => bytes.insert(at, byte),
                _ if !bytes.is_empty() => {
                    bytes.remove(at);
                }
                _ => {}
            }
        }
        bytes
    })
}

/// Bodies assembled from the pieces multipart forms are made of.
fn multipart_like() -> impl Strategy<Value = Vec<u8>> {
    let pieces = prop_oneof![
        Just(b"--b".to_vec()),
        Just(b"--".to_vec()),
        Just(b"\r\n".to_vec()),
        Just(b"\r\n\r\n".to_vec()),
        Just(b"Content-Disposition: form-data; name=\"requestKey\"".to_vec()),
        Just(b"Content-Disposition: form-data; name=\"nextProtocol\"".to_vec()),
        Just(b"Content-Disposition: form-data; name=requestData; filename=\"x\"".to_vec()),
        Just(b"Content-Transfer-Encoding: binary".to_vec()),
        Just(b"Content-Transfer-Encoding: base64".to_vec()),
        Just(b" \t".to_vec()),
        Just(b";\"\\=".to_vec()),
        vec(any::<u8>(), 0..8),
    ];
    vec(pieces, 0..24).prop_map(|pieces| pieces.concat())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn sync_decoders_survive_arbitrary_bytes(bytes in vec(any::<u8>(), 0..512)) {
        let _ = SyncRequest::decode(&bytes);
        let _ = SyncResponse::decode(&bytes);
    }

    #[test]
    fn sync_decoders_survive_damaged_messages(bytes in mutated(valid_request())) {
        if let Ok(request) = SyncRequest::decode(&bytes) {
            prop_assert_eq!(SyncRequest::decode(&request.encode()), Ok(request));
        }
        let _ = SyncResponse::decode(&bytes);
    }

    #[test]
    fn frame_decoder_survives_arbitrary_streams(
        bytes in vec(any::<u8>(), 0..1024),
        read_size in 1_usize..64,
        max in 0_usize..600,
    ) {
        let mut decoder = FrameDecoder::new(max);
        let mut buf = BytesMut::new();
        'stream: for read in bytes.chunks(read_size) {
            buf.extend_from_slice(read);
            loop {
                match decoder.decode(&mut buf) {
                    Ok(Some(frame)) => prop_assert!(frame.encode().len() <= max + 5),
                    Ok(None) => break,
                    Err(_) => break 'stream,
                }
            }
        }
    }

    #[test]
    fn frame_decoder_survives_frames_with_damaged_bodies(
        kind in prop::sample::select(vec![0x10_u8, 0x20, 0xc0, 0xd0, 0xe0, 0xf0]),
        body in vec(any::<u8>(), 0..600),
    ) {
        let mut bytes = vec![kind];
        let mut length = body.len();
        loop {
            let digit = (length % 128) as u8;
            length /= 128;
            bytes.push(if length > 0 { digit | 0x80 } else { digit });
            if length == 0 {
                break;
            }
        }
        bytes.extend_from_slice(&body);
        let _ = FrameDecoder::default().decode(&mut BytesMut::from(&bytes[..]));
    }

    #[test]
    fn multipart_parser_survives_arbitrary_bodies(
        content_type in ".{0,60}",
        body in prop_oneof![vec(any::<u8>(), 0..512), multipart_like()],
    ) {
        if let Ok(boundary) = boundary(&content_type) {
            let _ = SyncBody::parse(&body, boundary);
        }
        if let Ok(parsed) = SyncBody::parse(&body, "b") {
            prop_assert_eq!(SyncBody::parse(&parsed.encode("b"), "b"), Ok(parsed));
        }
    }

    #[test]
    fn connection_info_survives_arbitrary_bytes(bytes in vec(any::<u8>(), 0..64)) {
        if let Ok(info) = TransportConnectionInfo::decode(&bytes) {
            prop_assert_eq!(info.encode(), bytes);
        }
    }

    #[test]
    fn zk_records_survive_arbitrary_bytes(bytes in vec(any::<u8>(), 0..256)) {
        let _ = OperationsNodeInfo::from_avro(&bytes);
        let _ = BootstrapNodeInfo::from_avro(&bytes);
        let _ = ControlNodeInfo::from_avro(&bytes);
    }

    #[test]
    fn keys_and_ciphertexts_survive_arbitrary_bytes(
        bytes in vec(any::<u8>(), 0..400),
        key in any::<[u8; 16]>(),
    ) {
        let _ = PublicKey::from_der(&bytes);
        let _ = KeyPair::from_pkcs8_der(&bytes);
        let _ = SessionKey::from_bytes(key).decrypt(&bytes);
    }
}

#[test]
fn unwrap_and_verify_survive_arbitrary_blocks() {
    let pair = KeyPair::from_pkcs8_der(PRIVATE).expect("fixture key");
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig::with_cases(64));
    runner
        .run(&vec(any::<u8>(), 0..300), |bytes| {
            prop_assert!(pair.unwrap_session_key(&bytes).is_err() || bytes.len() == 256);
            prop_assert!(pair.public_key().verify(b"m", &bytes).is_err());
            Ok(())
        })
        .unwrap();
}
