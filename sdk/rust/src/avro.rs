//! Typed values over Avro binary, for the code a generated SDK holds: each record, enum and
//! union generated from an application's schemas implements [`AvroRecord`] on the
//! [`Writer`]/[`Reader`] of the endpoint codecs, so the application hands the client typed
//! values and never sees bytes. Event classes also implement [`EventClass`] (their name on the
//! wire).

pub use kaa_idl::avro::{AvroError, Reader, Writer};

/// A value of an Avro named type (record, enum) or union, encoded in Avro binary.
pub trait AvroRecord: Sized {
    /// Appends the value's Avro binary.
    fn write_avro(&self, writer: &mut Writer);

    /// Reads one value.
    fn read_avro(reader: &mut Reader<'_>) -> Result<Self, AvroError>;

    /// The value's Avro binary.
    fn to_avro(&self) -> Vec<u8> {
        let mut writer = Writer::new();
        self.write_avro(&mut writer);
        writer.into_bytes()
    }

    /// The value held by `bytes`, which must hold exactly one.
    fn from_avro(bytes: &[u8]) -> Result<Self, AvroError> {
        let mut reader = Reader::new(bytes);
        let value = Self::read_avro(&mut reader)?;
        reader.finish()?;
        Ok(value)
    }
}

/// An event class the application sends: a record with its fully qualified class name.
pub trait EventClass: AvroRecord {
    /// The class's fully qualified name, the event's name on the wire.
    const FQN: &'static str;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq)]
    struct Reading {
        seq: i64,
        unit: Option<String>,
    }

    impl AvroRecord for Reading {
        fn write_avro(&self, writer: &mut Writer) {
            writer.long(self.seq);
            match &self.unit {
                None => writer.union_branch(0),
                Some(unit) => {
                    writer.union_branch(1);
                    writer.string(unit);
                }
            }
        }

        fn read_avro(reader: &mut Reader<'_>) -> Result<Self, AvroError> {
            Ok(Self {
                seq: reader.long()?,
                unit: match reader.union_branch(2)? {
                    0 => None,
                    _ => Some(reader.string()?.to_owned()),
                },
            })
        }
    }

    #[test]
    fn records_round_trip_and_trailing_bytes_are_refused() {
        let reading = Reading {
            seq: 3,
            unit: Some("C".into()),
        };
        let bytes = reading.to_avro();
        assert_eq!(bytes, [6, 2, 2, b'C']);
        assert_eq!(Reading::from_avro(&bytes), Ok(reading));
        assert_eq!(
            Reading::from_avro(&[6, 0, 0]),
            Err(AvroError::TrailingBytes(1))
        );
    }
}
