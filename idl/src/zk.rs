//! The records nodes publish in ZooKeeper, encoded exactly as Kaa 0.10's `zk.avsc` (Avro binary,
//! fields in schema order), so the data under `/operationsServerNodes` and friends reads the same
//! as in a Kaa cluster.
//!
//! Transport ids are the signed CRC32 of the transport's Kaa class-family name
//! ([`TRANSPORT_TCP`], [`TRANSPORT_HTTP`]); a transport's connection blob is
//! [`TransportConnectionInfo`].

use crate::avro::{AvroError, Reader, Writer};

/// Kaa's name of the Kaatcp transport; its id is `transport_id(TRANSPORT_TCP)`.
pub const TRANSPORT_TCP: &str = "org.kaaproject.kaa.server.transport.tcp";
/// Kaa's name of the HTTP transport.
pub const TRANSPORT_HTTP: &str = "org.kaaproject.kaa.server.transport.http";

/// A transport's id: CRC32 (IEEE) of its name, as a signed 32-bit integer.
pub fn transport_id(name: &str) -> i32 {
    crc32(name.as_bytes()) as i32
}

/// CRC-32/IEEE, as `java.util.zip.CRC32` computes it.
pub fn crc32(data: &[u8]) -> u32 {
    let mut crc = 0xffff_ffff_u32;
    for &byte in data {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            let mask = (crc & 1).wrapping_neg();
            crc = (crc >> 1) ^ (0xedb8_8320 & mask);
        }
    }
    !crc
}

/// `ConnectionInfo`: how other nodes reach this one over Thrift, and its public key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectionInfo {
    /// Thrift host.
    pub thrift_host: String,
    /// Thrift port.
    pub thrift_port: i32,
    /// X.509 DER public key, for services that have one (`["bytes", "null"]`).
    pub public_key: Option<Vec<u8>>,
}

/// `LoadInfo`: an Operations node's load.
#[derive(Debug, Clone, PartialEq)]
pub struct LoadInfo {
    /// Endpoint sessions open on the node.
    pub endpoint_count: i32,
    /// The host's one-minute load average.
    pub load_average: f64,
}

/// `VersionConnectionInfoPair`: a transport's connection blob for one protocol version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionConnectionInfo {
    /// Protocol version.
    pub version: i32,
    /// Connection blob (see [`TransportConnectionInfo`]); Kaa's field name is `conenctionInfo`.
    pub connection_info: Vec<u8>,
}

/// `TransportMetaData`: one endpoint transport a node serves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransportMetaData {
    /// [`transport_id`] of the transport name.
    pub id: i32,
    /// Lowest protocol version served.
    pub min_supported_version: i32,
    /// Highest protocol version served.
    pub max_supported_version: i32,
    /// Connection blob per version.
    pub connection_info: Vec<VersionConnectionInfo>,
}

/// `ControlNodeInfo`: the data of `/controlServerNode`, written by the active Control.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ControlNodeInfo {
    /// The leader's Thrift address.
    pub connection_info: ConnectionInfo,
    /// Operations nodes the leader sees.
    pub operations_server_count: i32,
    /// Bootstrap nodes the leader sees.
    pub bootstrap_server_count: i32,
}

/// `OperationsNodeInfo`: the data of `/operationsServerNodes/<node>`.
#[derive(Debug, Clone, PartialEq)]
pub struct OperationsNodeInfo {
    /// Thrift address and public key.
    pub connection_info: ConnectionInfo,
    /// Current load.
    pub load_info: LoadInfo,
    /// Start time, milliseconds since the Unix epoch.
    pub time_started: i64,
    /// Endpoint transports served.
    pub transports: Vec<TransportMetaData>,
}

/// `BootstrapNodeInfo`: the data of `/bootstrapServerNodes/<node>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BootstrapNodeInfo {
    /// Thrift address and public key.
    pub connection_info: ConnectionInfo,
    /// Endpoint transports served.
    pub transports: Vec<TransportMetaData>,
    /// Start time, milliseconds since the Unix epoch.
    pub time_started: i64,
}

/// The connection blob of a transport: `i32 keyLen | key | i32 hostLen | host | i32 port`, all
/// big-endian, as Kaa's transports and SDKs read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransportConnectionInfo {
    /// X.509 DER public key of the node.
    pub public_key: Vec<u8>,
    /// Host endpoints connect to.
    pub host: String,
    /// Port endpoints connect to.
    pub port: i32,
}

impl TransportConnectionInfo {
    /// Encodes the blob.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(12 + self.public_key.len() + self.host.len());
        out.extend_from_slice(&(self.public_key.len() as i32).to_be_bytes());
        out.extend_from_slice(&self.public_key);
        out.extend_from_slice(&(self.host.len() as i32).to_be_bytes());
        out.extend_from_slice(self.host.as_bytes());
        out.extend_from_slice(&self.port.to_be_bytes());
        out
    }

    /// Decodes a blob; every length is checked.
    pub fn decode(input: &[u8]) -> Result<Self, AvroError> {
        fn take<'a>(input: &mut &'a [u8], n: usize) -> Result<&'a [u8], AvroError> {
            if input.len() < n {
                return Err(AvroError::Truncated("transport connection info"));
            }
            let (head, tail) = input.split_at(n);
            *input = tail;
            Ok(head)
        }
        fn int(input: &mut &[u8]) -> Result<i32, AvroError> {
            Ok(i32::from_be_bytes(
                take(input, 4)?.try_into().expect("4 bytes"),
            ))
        }
        fn sized<'a>(input: &mut &'a [u8], what: &'static str) -> Result<&'a [u8], AvroError> {
            let length = int(input)?;
            let n = usize::try_from(length).map_err(|_| AvroError::BadLength {
                what,
                length: length.into(),
            })?;
            take(input, n)
        }
        let mut rest = input;
        let public_key = sized(&mut rest, "public key")?.to_vec();
        let host = std::str::from_utf8(sized(&mut rest, "host")?)
            .map_err(|_| AvroError::BadUtf8)?
            .to_owned();
        let port = int(&mut rest)?;
        if !rest.is_empty() {
            return Err(AvroError::TrailingBytes(rest.len()));
        }
        Ok(Self {
            public_key,
            host,
            port,
        })
    }
}

/// A record with a fixed Avro schema.
pub trait AvroRecord: Sized {
    /// Appends the record's fields.
    fn write(&self, w: &mut Writer);
    /// Reads the record's fields.
    fn read(r: &mut Reader<'_>) -> Result<Self, AvroError>;

    /// The record as Avro binary.
    fn to_avro(&self) -> Vec<u8> {
        let mut writer = Writer::new();
        self.write(&mut writer);
        writer.into_bytes()
    }

    /// Decodes exactly one record from `bytes`.
    fn from_avro(bytes: &[u8]) -> Result<Self, AvroError> {
        let mut reader = Reader::new(bytes);
        let record = Self::read(&mut reader)?;
        reader.finish()?;
        Ok(record)
    }
}

impl AvroRecord for ConnectionInfo {
    fn write(&self, w: &mut Writer) {
        w.string(&self.thrift_host);
        w.int(self.thrift_port);
        match &self.public_key {
            Some(key) => {
                w.union_branch(0);
                w.bytes(key);
            }
            None => w.union_branch(1),
        }
    }

    fn read(r: &mut Reader<'_>) -> Result<Self, AvroError> {
        Ok(Self {
            thrift_host: r.string()?.to_owned(),
            thrift_port: r.int()?,
            public_key: match r.union_branch(2)? {
                0 => Some(r.bytes()?.to_vec()),
                _ => None,
            },
        })
    }
}

impl AvroRecord for LoadInfo {
    fn write(&self, w: &mut Writer) {
        w.int(self.endpoint_count);
        w.double(self.load_average);
    }

    fn read(r: &mut Reader<'_>) -> Result<Self, AvroError> {
        Ok(Self {
            endpoint_count: r.int()?,
            load_average: r.double()?,
        })
    }
}

impl AvroRecord for VersionConnectionInfo {
    fn write(&self, w: &mut Writer) {
        w.int(self.version);
        w.bytes(&self.connection_info);
    }

    fn read(r: &mut Reader<'_>) -> Result<Self, AvroError> {
        Ok(Self {
            version: r.int()?,
            connection_info: r.bytes()?.to_vec(),
        })
    }
}

impl AvroRecord for TransportMetaData {
    fn write(&self, w: &mut Writer) {
        w.int(self.id);
        w.int(self.min_supported_version);
        w.int(self.max_supported_version);
        w.array(&self.connection_info, |w, pair| pair.write(w));
    }

    fn read(r: &mut Reader<'_>) -> Result<Self, AvroError> {
        Ok(Self {
            id: r.int()?,
            min_supported_version: r.int()?,
            max_supported_version: r.int()?,
            connection_info: r.array(VersionConnectionInfo::read)?,
        })
    }
}

impl AvroRecord for ControlNodeInfo {
    fn write(&self, w: &mut Writer) {
        self.connection_info.write(w);
        w.int(self.operations_server_count);
        w.int(self.bootstrap_server_count);
    }

    fn read(r: &mut Reader<'_>) -> Result<Self, AvroError> {
        Ok(Self {
            connection_info: ConnectionInfo::read(r)?,
            operations_server_count: r.int()?,
            bootstrap_server_count: r.int()?,
        })
    }
}

impl AvroRecord for OperationsNodeInfo {
    fn write(&self, w: &mut Writer) {
        self.connection_info.write(w);
        self.load_info.write(w);
        w.long(self.time_started);
        w.array(&self.transports, |w, t| t.write(w));
    }

    fn read(r: &mut Reader<'_>) -> Result<Self, AvroError> {
        Ok(Self {
            connection_info: ConnectionInfo::read(r)?,
            load_info: LoadInfo::read(r)?,
            time_started: r.long()?,
            transports: r.array(TransportMetaData::read)?,
        })
    }
}

impl AvroRecord for BootstrapNodeInfo {
    fn write(&self, w: &mut Writer) {
        self.connection_info.write(w);
        w.array(&self.transports, |w, t| t.write(w));
        w.long(self.time_started);
    }

    fn read(r: &mut Reader<'_>) -> Result<Self, AvroError> {
        Ok(Self {
            connection_info: ConnectionInfo::read(r)?,
            transports: r.array(TransportMetaData::read)?,
            time_started: r.long()?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transport_ids_are_java_crc32_of_the_names() {
        // java.util.zip.CRC32 of "123456789" is the CRC-32 check value.
        assert_eq!(crc32(b"123456789"), 0xcbf4_3926);
        assert_eq!(
            transport_id(TRANSPORT_TCP),
            crc32(TRANSPORT_TCP.as_bytes()) as i32
        );
        assert_ne!(transport_id(TRANSPORT_TCP), transport_id(TRANSPORT_HTTP));
    }

    #[test]
    fn connection_info_bytes_match_the_schema_by_hand() {
        let info = ConnectionInfo {
            thrift_host: "h".into(),
            thrift_port: 9090,
            public_key: Some(vec![0xab]),
        };
        // "h": len 1 -> 0x02, 'h'; 9090 zigzag = 18180 = 0x84 0x8e 0x01; branch 0; bytes len 1, 0xab
        assert_eq!(
            info.to_avro(),
            [0x02, b'h', 0x84, 0x8e, 0x01, 0x00, 0x02, 0xab]
        );
        let no_key = ConnectionInfo {
            public_key: None,
            ..info
        };
        assert_eq!(no_key.to_avro(), [0x02, b'h', 0x84, 0x8e, 0x01, 0x02]);
        assert_eq!(
            ConnectionInfo::from_avro(&no_key.to_avro()).unwrap(),
            no_key
        );
    }

    #[test]
    fn load_info_double_is_little_endian() {
        let load = LoadInfo {
            endpoint_count: 3,
            load_average: 1.5,
        };
        let mut expected = vec![0x06];
        expected.extend_from_slice(&1.5_f64.to_le_bytes());
        assert_eq!(load.to_avro(), expected);
    }

    fn sample_operations() -> OperationsNodeInfo {
        let blob = TransportConnectionInfo {
            public_key: vec![1, 2, 3],
            host: "10.0.0.1".into(),
            port: 9997,
        };
        OperationsNodeInfo {
            connection_info: ConnectionInfo {
                thrift_host: "10.0.0.1".into(),
                thrift_port: 9090,
                public_key: Some(vec![1, 2, 3]),
            },
            load_info: LoadInfo {
                endpoint_count: 42,
                load_average: 0.25,
            },
            time_started: 1_795_459_740_000,
            transports: vec![TransportMetaData {
                id: transport_id(TRANSPORT_TCP),
                min_supported_version: 1,
                max_supported_version: 1,
                connection_info: vec![VersionConnectionInfo {
                    version: 1,
                    connection_info: blob.encode(),
                }],
            }],
        }
    }

    #[test]
    fn node_records_round_trip() {
        let operations = sample_operations();
        assert_eq!(
            OperationsNodeInfo::from_avro(&operations.to_avro()).unwrap(),
            operations
        );
        let bootstrap = BootstrapNodeInfo {
            connection_info: operations.connection_info.clone(),
            transports: operations.transports.clone(),
            time_started: 7,
        };
        assert_eq!(
            BootstrapNodeInfo::from_avro(&bootstrap.to_avro()).unwrap(),
            bootstrap
        );
        let control = ControlNodeInfo {
            connection_info: operations.connection_info.clone(),
            operations_server_count: 2,
            bootstrap_server_count: 1,
        };
        assert_eq!(
            ControlNodeInfo::from_avro(&control.to_avro()).unwrap(),
            control
        );
    }

    #[test]
    fn every_truncation_of_a_record_is_an_error() {
        let bytes = sample_operations().to_avro();
        for cut in 0..bytes.len() {
            assert!(
                OperationsNodeInfo::from_avro(&bytes[..cut]).is_err(),
                "cut at {cut}"
            );
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(OperationsNodeInfo::from_avro(&longer).is_err());
    }

    #[test]
    fn transport_blob_layout_is_big_endian_lengths() {
        let blob = TransportConnectionInfo {
            public_key: vec![9],
            host: "ab".into(),
            port: 9997,
        };
        assert_eq!(
            blob.encode(),
            [0, 0, 0, 1, 9, 0, 0, 0, 2, b'a', b'b', 0, 0, 0x27, 0x0d]
        );
        assert_eq!(
            TransportConnectionInfo::decode(&blob.encode()).unwrap(),
            blob
        );
        assert!(TransportConnectionInfo::decode(&[0xff, 0xff, 0xff, 0xff]).is_err());
    }
}
