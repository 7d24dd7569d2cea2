//! Avro's binary encoding, the one codec of kaa-rs for it, written by hand so every byte is ours
//! to test: zig-zag varint `int`/`long`, little-endian `float`/`double`, length-prefixed
//! `bytes`/`string`, `fixed`, block-encoded arrays and maps, and union branch indexes. The typed
//! records of [`zk`](crate::zk) and [`endpoint`](crate::endpoint) use it, as does the typed code
//! of generated SDKs; `kaa_model::schema` encodes and decodes schema-driven JSON with it.
//!
//! This file depends on nothing but `thiserror`: generated Rust SDK archives carry it as it is.
//!
//! [`Reader`] never panics on hostile input: every length is checked against what is left.

/// Why bytes could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AvroError {
    /// The input ended inside a value.
    #[error("input ends inside {0}")]
    Truncated(&'static str),
    /// A varint is longer than its type allows.
    #[error("varint too long for {0}")]
    VarintOverflow(&'static str),
    /// A length or count is negative or larger than the input.
    #[error("invalid length {length} for {what}")]
    BadLength {
        /// What was being read.
        what: &'static str,
        /// The length found.
        length: i64,
    },
    /// A string is not UTF-8.
    #[error("string is not valid UTF-8")]
    BadUtf8,
    /// A union branch index outside the schema.
    #[error("union branch {0} does not exist")]
    BadUnionBranch(i64),
    /// An enum symbol index outside the schema.
    #[error("enum {name} has no symbol {index}")]
    BadEnumSymbol {
        /// The enum's schema name.
        name: &'static str,
        /// The index found.
        index: i64,
    },
    /// A boolean byte other than 0 or 1.
    #[error("boolean byte {0:#04x} is neither 0 nor 1")]
    BadBoolean(u8),
    /// Bytes left over after the value.
    #[error("{0} bytes left after the value")]
    TrailingBytes(usize),
}

/// Appends Avro-encoded values to a buffer.
#[derive(Debug, Default)]
pub struct Writer {
    buf: Vec<u8>,
}

impl Writer {
    /// An empty writer.
    pub fn new() -> Self {
        Self::default()
    }

    /// The bytes written so far.
    pub fn into_bytes(self) -> Vec<u8> {
        self.buf
    }

    /// An Avro `long` (also used for `int`, which has the same encoding).
    pub fn long(&mut self, value: i64) {
        let mut zigzag = ((value << 1) ^ (value >> 63)) as u64;
        while zigzag >= 0x80 {
            self.buf.push((zigzag as u8) | 0x80);
            zigzag >>= 7;
        }
        self.buf.push(zigzag as u8);
    }

    /// An Avro `int`.
    pub fn int(&mut self, value: i32) {
        self.long(value.into());
    }

    /// An Avro `boolean`: one byte, 0 or 1.
    pub fn boolean(&mut self, value: bool) {
        self.buf.push(u8::from(value));
    }

    /// An Avro `enum`: the symbol's index.
    pub fn enum_symbol(&mut self, index: usize) {
        self.long(index as i64);
    }

    /// An Avro `double`: 8 bytes, little-endian IEEE 754.
    pub fn double(&mut self, value: f64) {
        self.buf.extend_from_slice(&value.to_le_bytes());
    }

    /// An Avro `bytes`.
    pub fn bytes(&mut self, value: &[u8]) {
        self.long(value.len() as i64);
        self.buf.extend_from_slice(value);
    }

    /// An Avro `string`.
    pub fn string(&mut self, value: &str) {
        self.bytes(value.as_bytes());
    }

    /// An array: one block holding every item, then the zero-count end marker.
    pub fn array<T>(&mut self, items: &[T], mut write: impl FnMut(&mut Self, &T)) {
        if !items.is_empty() {
            self.long(items.len() as i64);
            for item in items {
                write(self, item);
            }
        }
        self.long(0);
    }

    /// A union branch index.
    pub fn union_branch(&mut self, branch: i64) {
        self.long(branch);
    }

    /// An Avro `float`: 4 bytes, little-endian IEEE 754.
    pub fn float(&mut self, value: f32) {
        self.buf.extend_from_slice(&value.to_le_bytes());
    }

    /// An Avro `fixed`: the bytes as they are, no length (the schema fixes it).
    pub fn fixed(&mut self, value: &[u8]) {
        self.buf.extend_from_slice(value);
    }

    /// A map: one block holding every entry (string key, then value), then the zero-count end
    /// marker.
    pub fn map<'v, V: 'v>(
        &mut self,
        entries: impl ExactSizeIterator<Item = (&'v String, &'v V)>,
        mut write: impl FnMut(&mut Self, &V),
    ) {
        if entries.len() > 0 {
            self.long(entries.len() as i64);
            for (key, value) in entries {
                self.string(key);
                write(self, value);
            }
        }
        self.long(0);
    }
}

/// Reads Avro-encoded values from a byte slice.
#[derive(Debug)]
pub struct Reader<'a> {
    input: &'a [u8],
}

impl<'a> Reader<'a> {
    /// Reads from `input`.
    pub fn new(input: &'a [u8]) -> Self {
        Self { input }
    }

    /// Fails unless every byte was consumed.
    pub fn finish(self) -> Result<(), AvroError> {
        if self.input.is_empty() {
            Ok(())
        } else {
            Err(AvroError::TrailingBytes(self.input.len()))
        }
    }

    fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], AvroError> {
        if self.input.len() < n {
            return Err(AvroError::Truncated(what));
        }
        let (head, tail) = self.input.split_at(n);
        self.input = tail;
        Ok(head)
    }

    /// Bytes not read yet.
    pub fn remaining(&self) -> usize {
        self.input.len()
    }

    /// An Avro `long`: at most ten bytes, the tenth holding bit 63 only.
    pub fn long(&mut self) -> Result<i64, AvroError> {
        let mut value: u64 = 0;
        for shift in (0..64).step_by(7) {
            let byte = self.take(1, "long")?[0];
            if shift == 63 && byte > 1 {
                return Err(AvroError::VarintOverflow("long"));
            }
            value |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Ok((value >> 1) as i64 ^ -((value & 1) as i64));
            }
        }
        Err(AvroError::VarintOverflow("long"))
    }

    /// An Avro `int`.
    pub fn int(&mut self) -> Result<i32, AvroError> {
        let value = self.long()?;
        i32::try_from(value).map_err(|_| AvroError::VarintOverflow("int"))
    }

    /// An Avro `boolean`; bytes other than 0 and 1 are rejected.
    pub fn boolean(&mut self) -> Result<bool, AvroError> {
        match self.take(1, "boolean")?[0] {
            0 => Ok(false),
            1 => Ok(true),
            other => Err(AvroError::BadBoolean(other)),
        }
    }

    /// An Avro `enum` symbol index, checked against the `symbols` the enum `name` has.
    pub fn enum_symbol(&mut self, name: &'static str, symbols: usize) -> Result<usize, AvroError> {
        let index = self.long()?;
        match usize::try_from(index) {
            Ok(i) if i < symbols => Ok(i),
            _ => Err(AvroError::BadEnumSymbol { name, index }),
        }
    }

    /// An Avro `double`.
    pub fn double(&mut self) -> Result<f64, AvroError> {
        let raw = self.take(8, "double")?;
        Ok(f64::from_le_bytes(raw.try_into().expect("8 bytes")))
    }

    /// A length (of `what`) that the rest of the input can hold: of `bytes`, a `string`, or the
    /// byte size that follows a negative block count.
    pub fn length(&mut self, what: &'static str) -> Result<usize, AvroError> {
        let length = self.long()?;
        match usize::try_from(length) {
            Ok(n) if n <= self.input.len() => Ok(n),
            _ => Err(AvroError::BadLength { what, length }),
        }
    }

    /// An Avro `bytes`.
    pub fn bytes(&mut self) -> Result<&'a [u8], AvroError> {
        let n = self.length("bytes")?;
        self.take(n, "bytes")
    }

    /// An Avro `string`.
    pub fn string(&mut self) -> Result<&'a str, AvroError> {
        let n = self.length("string")?;
        std::str::from_utf8(self.take(n, "string")?).map_err(|_| AvroError::BadUtf8)
    }

    /// An array, reading each item with `read`. Negative block counts (followed by a byte size)
    /// are accepted as the specification allows.
    pub fn array<T>(
        &mut self,
        mut read: impl FnMut(&mut Self) -> Result<T, AvroError>,
    ) -> Result<Vec<T>, AvroError> {
        let mut items = Vec::new();
        loop {
            let mut count = self.long()?;
            if count == 0 {
                return Ok(items);
            }
            if count < 0 {
                count = count.checked_neg().ok_or(AvroError::BadLength {
                    what: "array",
                    length: count,
                })?;
                self.long()?; // block size in bytes, not needed
            }
            // Every item takes at least one byte, so a count beyond the input is a lie.
            if count as u64 > self.input.len() as u64 {
                return Err(AvroError::BadLength {
                    what: "array",
                    length: count,
                });
            }
            for _ in 0..count {
                items.push(read(self)?);
            }
        }
    }

    /// An Avro `float`.
    pub fn float(&mut self) -> Result<f32, AvroError> {
        let raw = self.take(4, "float")?;
        Ok(f32::from_le_bytes(raw.try_into().expect("4 bytes")))
    }

    /// An Avro `fixed` of `N` bytes.
    pub fn fixed<const N: usize>(&mut self) -> Result<[u8; N], AvroError> {
        let raw = self.fixed_bytes(N)?;
        Ok(raw.try_into().expect("N bytes"))
    }

    /// An Avro `fixed` whose size is known only at run time (from a parsed schema).
    pub fn fixed_bytes(&mut self, size: usize) -> Result<&'a [u8], AvroError> {
        self.take(size, "fixed")
    }

    /// A map, reading each value with `read`; block counts as for arrays.
    pub fn map<V>(
        &mut self,
        mut read: impl FnMut(&mut Self) -> Result<V, AvroError>,
    ) -> Result<Vec<(String, V)>, AvroError> {
        self.array(|r| {
            let key = r.string()?.to_owned();
            Ok((key, read(r)?))
        })
    }

    /// A union branch index, checked against the number of branches.
    pub fn union_branch(&mut self, branches: i64) -> Result<i64, AvroError> {
        let branch = self.long()?;
        if (0..branches).contains(&branch) {
            Ok(branch)
        } else {
            Err(AvroError::BadUnionBranch(branch))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn longs_use_zigzag_varints_as_the_specification_shows() {
        // Examples from the Avro specification.
        for (value, bytes) in [
            (0_i64, vec![0x00]),
            (-1, vec![0x01]),
            (1, vec![0x02]),
            (-2, vec![0x03]),
            (2, vec![0x04]),
            (-64, vec![0x7f]),
            (64, vec![0x80, 0x01]),
        ] {
            let mut writer = Writer::new();
            writer.long(value);
            assert_eq!(writer.into_bytes(), bytes, "{value}");
            assert_eq!(Reader::new(&bytes).long().unwrap(), value);
        }
    }

    #[test]
    fn extreme_longs_round_trip() {
        for value in [i64::MIN, i64::MAX, i64::from(i32::MIN), i64::from(i32::MAX)] {
            let mut writer = Writer::new();
            writer.long(value);
            let bytes = writer.into_bytes();
            let mut reader = Reader::new(&bytes);
            assert_eq!(reader.long().unwrap(), value);
            reader.finish().unwrap();
        }
    }

    #[test]
    fn booleans_are_one_byte_and_enums_are_checked_indexes() {
        let mut writer = Writer::new();
        writer.boolean(true);
        writer.boolean(false);
        writer.enum_symbol(3);
        let bytes = writer.into_bytes();
        assert_eq!(bytes, [0x01, 0x00, 0x06]);
        let mut reader = Reader::new(&bytes);
        assert_eq!(reader.boolean(), Ok(true));
        assert_eq!(reader.boolean(), Ok(false));
        assert_eq!(reader.enum_symbol("E", 4), Ok(3));
        reader.finish().unwrap();
        assert_eq!(
            Reader::new(&[0x02]).boolean(),
            Err(AvroError::BadBoolean(2))
        );
        assert_eq!(
            Reader::new(&[0x06]).enum_symbol("E", 3),
            Err(AvroError::BadEnumSymbol {
                name: "E",
                index: 3
            })
        );
        assert_eq!(
            Reader::new(&[0x01]).enum_symbol("E", 3),
            Err(AvroError::BadEnumSymbol {
                name: "E",
                index: -1
            })
        );
    }

    #[test]
    fn floats_fixed_and_maps_round_trip() {
        let mut writer = Writer::new();
        writer.float(1.5);
        writer.fixed(&[1, 2, 3]);
        let map: std::collections::BTreeMap<String, i32> =
            [("a".to_string(), 1), ("b".to_string(), -1)].into();
        writer.map(map.iter(), |w, v| w.int(*v));
        let bytes = writer.into_bytes();
        assert_eq!(
            bytes,
            [
                0x00, 0x00, 0xc0, 0x3f, 1, 2, 3, 0x04, 0x02, b'a', 0x02, 0x02, b'b', 0x01, 0x00
            ]
        );
        let mut reader = Reader::new(&bytes);
        assert_eq!(reader.float(), Ok(1.5));
        assert_eq!(reader.fixed::<3>(), Ok([1, 2, 3]));
        assert_eq!(
            reader.map(|r| r.int()),
            Ok(vec![("a".to_string(), 1), ("b".to_string(), -1)])
        );
        reader.finish().unwrap();
        assert!(Reader::new(&[1, 2]).fixed::<3>().is_err());
    }

    #[test]
    fn a_tenth_varint_byte_holds_bit_63_only() {
        let mut min = [0xff; 10];
        min[9] = 0x01;
        assert_eq!(Reader::new(&min).long(), Ok(i64::MIN));
        min[9] = 0x02;
        assert_eq!(
            Reader::new(&min).long(),
            Err(AvroError::VarintOverflow("long"))
        );
        min[9] = 0x81;
        assert_eq!(
            Reader::new(&min).long(),
            Err(AvroError::VarintOverflow("long"))
        );
    }

    #[test]
    fn fixed_of_a_run_time_size_and_what_is_left() {
        let mut reader = Reader::new(&[1, 2, 3, 4]);
        assert_eq!(reader.fixed_bytes(3), Ok(&[1, 2, 3][..]));
        assert_eq!(reader.remaining(), 1);
        assert_eq!(reader.fixed_bytes(2), Err(AvroError::Truncated("fixed")));
        assert_eq!(reader.remaining(), 1);
    }

    #[test]
    fn hostile_lengths_are_errors_not_panics() {
        // bytes claiming 100 bytes with 1 present
        assert!(Reader::new(&[0xc8, 0x01, 0x00]).bytes().is_err());
        // negative length
        assert!(Reader::new(&[0x01]).bytes().is_err());
        // endless varint
        assert!(Reader::new(&[0xff; 11]).long().is_err());
        // array claiming a huge count
        assert!(
            Reader::new(&[0xfe, 0xff, 0xff, 0xff, 0x0f])
                .array(|r| r.int())
                .is_err()
        );
        // int out of range
        let mut writer = Writer::new();
        writer.long(i64::from(i32::MAX) + 1);
        assert!(Reader::new(&writer.into_bytes()).int().is_err());
    }
}
