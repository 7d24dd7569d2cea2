//! One Thrift call without I/O: the framed transport's length header, and a request frame turned
//! into a response frame by a processor over in-memory buffers. The server's socket code reads
//! bytes and writes bytes; everything in between is here, testable without a socket.
//!
//! Requests are read through [`Bounded`], which refuses a string length or element count that the
//! rest of the frame cannot hold. The binary protocol and the generated code allocate whatever a
//! length says before reading, so without it a 20-byte request claiming a list of two billion
//! structs would make the allocator abort the process.

use thrift::protocol::{
    TBinaryInputProtocol, TBinaryOutputProtocol, TFieldIdentifier, TInputProtocol, TListIdentifier,
    TMapIdentifier, TMessageIdentifier, TSetIdentifier, TStructIdentifier,
};
use thrift::server::TProcessor;
use thrift::{ProtocolError, ProtocolErrorKind};

/// Length of the frame header: the payload's length as a big-endian `i32`.
pub const HEADER_LEN: usize = 4;

/// Default limit on a request frame's payload (16 MiB); larger ones close the connection.
pub const DEFAULT_MAX_FRAME_LEN: usize = 16 * 1024 * 1024;

/// A frame header announcing more bytes than the limit allows.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("frame of {len} bytes is over the {max}-byte limit")]
pub struct FrameTooLarge {
    /// The announced payload length.
    pub len: u64,
    /// The limit.
    pub max: usize,
}

/// The payload length a frame header announces, if it is within `max`.
///
/// The header is an `i32` on the wire; a negative one reads as more than 2 GiB here and is refused
/// like any other oversized frame.
pub fn payload_len(header: [u8; HEADER_LEN], max: usize) -> Result<usize, FrameTooLarge> {
    let len = u32::from_be_bytes(header);
    match usize::try_from(len) {
        Ok(len) if len <= max => Ok(len),
        _ => Err(FrameTooLarge {
            len: u64::from(len),
            max,
        }),
    }
}

/// Runs one request (a frame's payload, binary protocol) through `processor` and returns the
/// whole response frame, header included; empty for a oneway call, which has no response.
///
/// Strict and old-style (unversioned) binary requests are both accepted; the response is strict,
/// as every current Thrift library writes. A call the processor cannot route (an unknown service
/// or method, undecodable arguments) gets a Thrift exception response; `Err` means the request
/// is not a Thrift message at all, and its connection should close.
pub fn process(processor: &dyn TProcessor, request: &[u8]) -> thrift::Result<Vec<u8>> {
    let mut input = Bounded(TBinaryInputProtocol::new(request, false));
    // The header's room is reserved up front, so the payload is written once, in place.
    let mut output = TBinaryOutputProtocol::new(vec![0; HEADER_LEN], true);
    processor.process(&mut input, &mut output)?;
    let mut response = output.transport;
    let len = response.len() - HEADER_LEN;
    if len == 0 {
        return Ok(Vec::new());
    }
    let len = i32::try_from(len)
        .map_err(|_| thrift::Error::from(format!("response of {len} bytes is too large")))?;
    response[..HEADER_LEN].copy_from_slice(&len.to_be_bytes());
    Ok(response)
}

/// The binary protocol over one request frame, refusing lengths the frame cannot hold.
///
/// Every string byte and every list, set or map element takes at least one byte on the wire, so
/// a length or count above the bytes left is a lie; so is a negative one.
struct Bounded<'a>(TBinaryInputProtocol<&'a [u8]>);

impl Bounded<'_> {
    /// Checks the big-endian `i32` length `offset` bytes ahead against the bytes after it. A
    /// length that is not all there is left to the read itself, which fails on the short input.
    fn check_len_at(&self, offset: usize) -> thrift::Result<()> {
        let rest: &[u8] = self.0.transport;
        let Some(field) = rest.get(offset..offset + 4) else {
            return Ok(());
        };
        let len = i32::from_be_bytes([field[0], field[1], field[2], field[3]]);
        let left = rest.len() - offset - 4;
        if len < 0 {
            return Err(size_error(ProtocolErrorKind::NegativeSize, len, left));
        }
        if len as usize > left {
            return Err(size_error(ProtocolErrorKind::SizeLimit, len, left));
        }
        Ok(())
    }
}

fn size_error(kind: ProtocolErrorKind, len: i32, left: usize) -> thrift::Error {
    thrift::Error::Protocol(ProtocolError::new(
        kind,
        format!("length {len} with {left} bytes left in the frame"),
    ))
}

impl TInputProtocol for Bounded<'_> {
    fn read_message_begin(&mut self) -> thrift::Result<TMessageIdentifier> {
        // A strict message starts with its version word, then the name's length; an old-style
        // (unversioned) one with the name's length.
        let name_len_at = match self.0.transport.first() {
            Some(byte) if byte & 0x80 != 0 => 4,
            _ => 0,
        };
        self.check_len_at(name_len_at)?;
        self.0.read_message_begin()
    }
    fn read_message_end(&mut self) -> thrift::Result<()> {
        self.0.read_message_end()
    }
    fn read_struct_begin(&mut self) -> thrift::Result<Option<TStructIdentifier>> {
        self.0.read_struct_begin()
    }
    fn read_struct_end(&mut self) -> thrift::Result<()> {
        self.0.read_struct_end()
    }
    fn read_field_begin(&mut self) -> thrift::Result<TFieldIdentifier> {
        self.0.read_field_begin()
    }
    fn read_field_end(&mut self) -> thrift::Result<()> {
        self.0.read_field_end()
    }
    fn read_bool(&mut self) -> thrift::Result<bool> {
        self.0.read_bool()
    }
    fn read_bytes(&mut self) -> thrift::Result<Vec<u8>> {
        self.check_len_at(0)?;
        self.0.read_bytes()
    }
    fn read_i8(&mut self) -> thrift::Result<i8> {
        self.0.read_i8()
    }
    fn read_i16(&mut self) -> thrift::Result<i16> {
        self.0.read_i16()
    }
    fn read_i32(&mut self) -> thrift::Result<i32> {
        self.0.read_i32()
    }
    fn read_i64(&mut self) -> thrift::Result<i64> {
        self.0.read_i64()
    }
    fn read_double(&mut self) -> thrift::Result<f64> {
        self.0.read_double()
    }
    fn read_string(&mut self) -> thrift::Result<String> {
        self.check_len_at(0)?;
        self.0.read_string()
    }
    fn read_list_begin(&mut self) -> thrift::Result<TListIdentifier> {
        // element type (1 byte), count
        self.check_len_at(1)?;
        self.0.read_list_begin()
    }
    fn read_list_end(&mut self) -> thrift::Result<()> {
        self.0.read_list_end()
    }
    fn read_set_begin(&mut self) -> thrift::Result<TSetIdentifier> {
        self.check_len_at(1)?;
        self.0.read_set_begin()
    }
    fn read_set_end(&mut self) -> thrift::Result<()> {
        self.0.read_set_end()
    }
    fn read_map_begin(&mut self) -> thrift::Result<TMapIdentifier> {
        // key type, value type (1 byte each), count
        self.check_len_at(2)?;
        self.0.read_map_begin()
    }
    fn read_map_end(&mut self) -> thrift::Result<()> {
        self.0.read_map_end()
    }
    fn read_byte(&mut self) -> thrift::Result<u8> {
        self.0.read_byte()
    }
}

#[cfg(test)]
mod tests {
    use kaa_idl::thrift::kaa_node::KaaNodeServiceSyncProcessor;
    use thrift::protocol::{TMessageType, TOutputProtocol, TType};
    use thrift::server::TMultiplexedProcessor;

    use super::*;
    use crate::rpc::tests::Named;

    fn processor() -> TMultiplexedProcessor {
        let mut processor = TMultiplexedProcessor::new();
        processor
            .register(
                "KaaNodeService",
                Box::new(KaaNodeServiceSyncProcessor::new(Named::new("node-1"))),
                false,
            )
            .unwrap();
        processor
    }

    /// A call with no arguments, as any Thrift library writes it: message header, empty struct.
    fn call(name: &str, seq: i32) -> Vec<u8> {
        let mut out = TBinaryOutputProtocol::new(Vec::new(), true);
        out.write_message_begin(&TMessageIdentifier::new(name, TMessageType::Call, seq))
            .unwrap();
        out.write_struct_begin(&TStructIdentifier::new("args"))
            .unwrap();
        out.write_field_stop().unwrap();
        out.write_struct_end().unwrap();
        out.write_message_end().unwrap();
        out.transport
    }

    fn split(frame: &[u8]) -> &[u8] {
        let header: [u8; HEADER_LEN] = frame[..HEADER_LEN].try_into().unwrap();
        let len = payload_len(header, usize::MAX).unwrap();
        assert_eq!(len, frame.len() - HEADER_LEN, "header matches the payload");
        &frame[HEADER_LEN..]
    }

    #[test]
    fn payload_len_accepts_up_to_the_limit_and_refuses_more_or_negative() {
        assert_eq!(payload_len(100u32.to_be_bytes(), 100), Ok(100));
        assert_eq!(payload_len([0; 4], 100), Ok(0));
        assert_eq!(
            payload_len(101u32.to_be_bytes(), 100),
            Err(FrameTooLarge { len: 101, max: 100 })
        );
        let negative = (-1i32).to_be_bytes();
        assert!(payload_len(negative, DEFAULT_MAX_FRAME_LEN).is_err());
    }

    #[test]
    fn a_multiplexed_call_gets_its_reply_in_one_frame() {
        let response = process(&processor(), &call("KaaNodeService:serverName", 7)).unwrap();
        let mut input = TBinaryInputProtocol::new(split(&response), true);
        let reply = input.read_message_begin().unwrap();
        assert_eq!(reply.name, "serverName");
        assert_eq!(reply.message_type, TMessageType::Reply);
        assert_eq!(reply.sequence_number, 7);
        input.read_struct_begin().unwrap();
        let field: TFieldIdentifier = input.read_field_begin().unwrap();
        assert_eq!((field.field_type, field.id), (TType::String, Some(0)));
        assert_eq!(input.read_string().unwrap(), "node-1");
    }

    #[test]
    fn an_unknown_service_gets_an_exception_reply() {
        let response = process(&processor(), &call("NoSuchService:serverName", 1)).unwrap();
        let mut input = TBinaryInputProtocol::new(split(&response), true);
        let reply = input.read_message_begin().unwrap();
        assert_eq!(reply.message_type, TMessageType::Exception);
        let error = thrift::Error::read_application_error_from_in_protocol(&mut input).unwrap();
        assert!(error.message.contains("NoSuchService"), "{error:?}");
    }

    #[test]
    fn lengths_the_frame_cannot_hold_are_refused_before_allocating() {
        // sendMessages(list<Message> of i32::MAX elements): 26 bytes that would ask the allocator
        // for hundreds of gigabytes.
        let mut out = TBinaryOutputProtocol::new(Vec::new(), true);
        let ident = TMessageIdentifier::new("sendMessages", TMessageType::Call, 1);
        out.write_message_begin(&ident).unwrap();
        out.write_struct_begin(&TStructIdentifier::new("args"))
            .unwrap();
        out.write_field_begin(&TFieldIdentifier::new("messages", TType::List, 1))
            .unwrap();
        out.write_list_begin(&TListIdentifier::new(TType::Struct, i32::MAX))
            .unwrap();
        let request = out.transport;
        let mut input = Bounded(TBinaryInputProtocol::new(&request, true));
        input.read_message_begin().unwrap();
        input.read_struct_begin().unwrap();
        input.read_field_begin().unwrap();
        assert!(input.read_list_begin().is_err());

        // A string claiming a negative length, and one longer than what follows.
        for len in [-1i32, 100] {
            let mut request = len.to_be_bytes().to_vec();
            request.extend_from_slice(b"abc");
            let mut input = Bounded(TBinaryInputProtocol::new(&request, true));
            assert!(input.read_string().is_err(), "length {len}");
        }
        // Old-style message whose name length is a lie.
        let request = [0x7f, 0xff, 0xff, 0xff, b'x'];
        let mut input = Bounded(TBinaryInputProtocol::new(&request, false));
        assert!(input.read_message_begin().is_err());
    }

    /// Found by the `thrift_dispatch` fuzz target: a strict message's name length was not
    /// checked, so `80 01 00 01 ff ff ff ff` panicked in the allocator (capacity overflow) and a
    /// length of 2 GiB was allocated before the read failed.
    #[test]
    fn a_strict_message_whose_name_length_is_a_lie_is_refused_before_allocating() {
        for request in [
            &[0x80, 0x01, 0x00, 0x01, 0xff, 0xff, 0xff, 0xff][..],
            &[0x80, 0x01, 0x00, 0x01, 0x7f, 0xff, 0xff, 0xff, b'x'][..],
        ] {
            let mut input = Bounded(TBinaryInputProtocol::new(request, false));
            assert!(input.read_message_begin().is_err(), "{request:02x?}");
            assert!(process(&processor(), request).is_err(), "{request:02x?}");
        }
    }

    #[test]
    fn bytes_that_are_not_a_thrift_message_are_an_error() {
        assert!(process(&processor(), b"GET / HTTP/1.1\r\n\r\n").is_err());
        assert!(process(&processor(), &[]).is_err());
    }
}
