//! Avro binary to JSON: the decoder that turns an endpoint's bytes into the JSON documents of
//! the [JSON walk](super::json), reading every primitive (varints, lengths, strings, bytes,
//! floats) with [`kaa_idl::avro::Reader`], the one Avro binary codec of kaa-rs.
//!
//! The decoder reads bytes that come from endpoints, so every length is checked against what
//! is left before anything is read, nothing is allocated from a length read, nesting is capped
//! at [`MAX_DEPTH`], and arrays of zero-byte items (which cost no input) are capped at
//! [`MAX_EMPTY_ITEMS`] per document. Bad input is an error, never a panic.

use kaa_idl::avro::{AvroError, Reader};
use serde_json::{Map, Number, Value};

use super::error::{DecodeError, DecodeErrorKind as Kind};
use super::types::{Field, INFINITY, NAN, NEG_INFINITY, NamedKind, Seg, Type, render_path};
use super::unions::union_json;
use super::{AvroSchema, MAX_DEPTH};

/// The most zero-byte array items (`null`s, empty records) one document may decode to.
pub(crate) const MAX_EMPTY_ITEMS: usize = 1 << 16;

/// Decodes one datum of the schema's top-level record, which must use every byte.
pub(crate) fn decode(schema: &AvroSchema, bytes: &[u8]) -> Result<Value, DecodeError> {
    let mut decoder = Decoder {
        schema,
        reader: Reader::new(bytes),
        len: bytes.len(),
        path: Vec::new(),
        empty_items: 0,
    };
    let value = decoder.value(&schema.root, 0)?;
    match decoder.reader.remaining() {
        0 => Ok(value),
        left => Err(decoder.error(decoder.offset(), Kind::TrailingBytes(left))),
    }
}

struct Decoder<'a> {
    schema: &'a AvroSchema,
    reader: Reader<'a>,
    /// The input's length, to turn what the reader has left into an offset.
    len: usize,
    path: Vec<Seg<'a>>,
    empty_items: usize,
}

impl<'a> Decoder<'a> {
    fn error(&self, offset: usize, kind: Kind) -> DecodeError {
        DecodeError {
            offset,
            path: render_path(&self.path),
            kind,
        }
    }

    /// How many bytes have been read.
    fn offset(&self) -> usize {
        self.len - self.reader.remaining()
    }

    /// Reads one primitive with `read`. A failure is reported where the primitive starts,
    /// except input that runs out, which is reported where it ran out.
    fn read<T>(
        &mut self,
        read: impl FnOnce(&mut Reader<'a>) -> Result<T, AvroError>,
    ) -> Result<T, DecodeError> {
        let start = self.offset();
        read(&mut self.reader).map_err(|error| {
            let kind = match error {
                AvroError::Truncated(_) => return self.error(self.offset(), Kind::UnexpectedEnd),
                AvroError::VarintOverflow(_) => Kind::VarintOverflow,
                AvroError::BadLength { length, .. } if length < 0 => Kind::NegativeLength(length),
                AvroError::BadLength { length, .. } => Kind::LengthTooLarge {
                    length: length.unsigned_abs(),
                    remaining: self.reader.remaining(),
                },
                AvroError::BadUtf8 => Kind::InvalidUtf8,
                AvroError::BadBoolean(byte) => Kind::InvalidBoolean(byte),
                AvroError::TrailingBytes(left) => Kind::TrailingBytes(left),
                // Union and enum indexes are read as longs and checked against the schema here.
                AvroError::BadUnionBranch(_) | AvroError::BadEnumSymbol { .. } => {
                    unreachable!("the decoder reads no union branch or enum symbol with the reader")
                }
            };
            self.error(start, kind)
        })
    }

    fn string(&mut self) -> Result<String, DecodeError> {
        self.read(Reader::string).map(str::to_owned)
    }

    fn long(&mut self) -> Result<i64, DecodeError> {
        self.read(Reader::long)
    }

    /// The item count of the next array or map block (0 ends the sequence). A negative count
    /// is followed by the block's byte size, which is only checked, not used.
    fn block(&mut self, zero_size_items: bool) -> Result<usize, DecodeError> {
        let start = self.offset();
        let count = self.long()?;
        if count < 0 {
            self.read(|r| r.length("block size"))?;
        }
        let n = count.unsigned_abs();
        if zero_size_items {
            let left = MAX_EMPTY_ITEMS - self.empty_items;
            match usize::try_from(n) {
                Ok(n) if n <= left => {
                    self.empty_items += n;
                    Ok(n)
                }
                _ => Err(self.error(start, Kind::TooManyEmptyItems(MAX_EMPTY_ITEMS))),
            }
        } else {
            // Every item takes at least one byte.
            let remaining = self.reader.remaining();
            match usize::try_from(n) {
                Ok(n) if n <= remaining => Ok(n),
                _ => Err(self.error(
                    start,
                    Kind::LengthTooLarge {
                        length: n,
                        remaining,
                    },
                )),
            }
        }
    }

    /// Dispatches on the type. The recursion runs through this function and the container
    /// functions only, each with a small frame, so that deep input stays within thread stacks
    /// even in debug builds.
    fn value(&mut self, ty: &'a Type, depth: usize) -> Result<Value, DecodeError> {
        if depth >= MAX_DEPTH {
            return Err(self.error(self.offset(), Kind::TooDeep));
        }
        match ty {
            Type::Null => Ok(Value::Null),
            Type::Boolean => self.read(Reader::boolean).map(Value::Bool),
            Type::Int => self.int(),
            Type::Long => self.long().map(Value::from),
            Type::Float => self.read(Reader::float).map(|x| float_json(f64::from(x))),
            Type::Double => self.read(Reader::double).map(float_json),
            Type::Bytes => self.read(Reader::bytes).map(latin1),
            Type::String => self.string().map(Value::String),
            Type::Array(items) => self.array(items, depth),
            Type::Map(values) => self.map(values, depth),
            Type::Union(branches) => self.union(branches, depth),
            Type::Named(i) => match &self.schema.types[*i].kind {
                NamedKind::Record(fields) => self.record(fields, depth),
                NamedKind::Enum(symbols) => self.symbol(symbols),
                NamedKind::Fixed(size) => self.read(|r| r.fixed_bytes(*size)).map(latin1),
            },
        }
    }

    fn int(&mut self) -> Result<Value, DecodeError> {
        let start = self.offset();
        let n = self.long()?;
        match i32::try_from(n) {
            Ok(n) => Ok(Value::from(n)),
            Err(_) => Err(self.error(start, Kind::IntOutOfRange(n))),
        }
    }

    fn symbol(&mut self, symbols: &[String]) -> Result<Value, DecodeError> {
        let start = self.offset();
        let index = self.long()?;
        match usize::try_from(index).ok().and_then(|i| symbols.get(i)) {
            Some(symbol) => Ok(Value::from(symbol.as_str())),
            None => Err(self.error(
                start,
                Kind::EnumIndex {
                    index,
                    symbols: symbols.len(),
                },
            )),
        }
    }

    fn array(&mut self, items: &'a Type, depth: usize) -> Result<Value, DecodeError> {
        let zero_size = self.schema.zero_size(items);
        let mut elements = Vec::new();
        loop {
            let n = self.block(zero_size)?;
            if n == 0 {
                return Ok(Value::Array(elements));
            }
            for _ in 0..n {
                self.path.push(Seg::Index(elements.len()));
                let element = self.value(items, depth + 1)?;
                self.path.pop();
                elements.push(element);
            }
        }
    }

    fn map(&mut self, values: &'a Type, depth: usize) -> Result<Value, DecodeError> {
        let mut entries = Map::new();
        loop {
            let n = self.block(false)?;
            if n == 0 {
                return Ok(Value::Object(entries));
            }
            for _ in 0..n {
                let key = self.string()?;
                self.path.push(Seg::OwnedKey(key.clone()));
                let entry = self.value(values, depth + 1)?;
                self.path.pop();
                entries.insert(key, entry);
            }
        }
    }

    fn union(&mut self, branches: &'a [Type], depth: usize) -> Result<Value, DecodeError> {
        let start = self.offset();
        let index = self.long()?;
        let Some(i) = usize::try_from(index).ok().filter(|&i| i < branches.len()) else {
            return Err(self.error(
                start,
                Kind::UnionIndex {
                    index,
                    branches: branches.len(),
                },
            ));
        };
        let value = self.value(&branches[i], depth + 1)?;
        Ok(union_json(self.schema, branches, i, value))
    }

    fn record(&mut self, fields: &'a [Field], depth: usize) -> Result<Value, DecodeError> {
        let mut obj = Map::new();
        for field in fields {
            self.path.push(Seg::Key(&field.name));
            let value = self.value(&field.ty, depth + 1)?;
            self.path.pop();
            obj.insert(field.name.clone(), value);
        }
        Ok(Value::Object(obj))
    }
}

/// Bytes as Avro's JSON encoding shows them: one character U+0000..=U+00FF per byte.
fn latin1(bytes: &[u8]) -> Value {
    Value::String(bytes.iter().map(|&b| char::from(b)).collect())
}

/// A number, or for the values JSON has no number for, the strings Avro's Java JSON encoding
/// writes.
fn float_json(x: f64) -> Value {
    match Number::from_f64(x) {
        Some(n) => Value::Number(n),
        None if x.is_nan() => Value::from(NAN),
        None if x > 0.0 => Value::from(INFINITY),
        None => Value::from(NEG_INFINITY),
    }
}
