//! Avro binary: the writing primitives the JSON walk encodes with, and the decoder from binary
//! to JSON.
//!
//! The decoder reads bytes that come from endpoints, so every length is checked against what
//! is left before anything is read, nothing is allocated from a length read, nesting is capped
//! at [`MAX_DEPTH`], and arrays of zero-byte items (which cost no input) are capped at
//! [`MAX_EMPTY_ITEMS`] per document. Bad input is an error, never a panic.

use serde_json::{Map, Number, Value};

use super::error::{DecodeError, DecodeErrorKind as Kind};
use super::json::union_json;
use super::types::{Field, INFINITY, NAN, NEG_INFINITY, NamedKind, Seg, Type, render_path};
use super::{AvroSchema, MAX_DEPTH};

/// The most zero-byte array items (`null`s, empty records) one document may decode to.
pub(crate) const MAX_EMPTY_ITEMS: usize = 1 << 16;

/// A `long` (or `int`) as a zig-zag variable-length integer.
pub(crate) fn write_long(out: &mut Vec<u8>, n: i64) {
    let mut z = ((n << 1) ^ (n >> 63)) as u64;
    while z >= 0x80 {
        out.push((z as u8) | 0x80);
        z >>= 7;
    }
    out.push(z as u8);
}

/// `bytes` or `string`: the length, then the bytes.
pub(crate) fn write_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    write_long(out, bytes.len() as i64);
    out.extend_from_slice(bytes);
}

/// Decodes one datum of the schema's top-level record, which must use every byte.
pub(crate) fn decode(schema: &AvroSchema, bytes: &[u8]) -> Result<Value, DecodeError> {
    let mut decoder = Decoder {
        schema,
        bytes,
        pos: 0,
        path: Vec::new(),
        empty_items: 0,
    };
    let value = decoder.value(&schema.root, 0)?;
    match decoder.remaining() {
        0 => Ok(value),
        left => Err(decoder.error(decoder.pos, Kind::TrailingBytes(left))),
    }
}

struct Decoder<'a> {
    schema: &'a AvroSchema,
    bytes: &'a [u8],
    pos: usize,
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

    fn remaining(&self) -> usize {
        self.bytes.len() - self.pos
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        if n > self.remaining() {
            return Err(self.error(self.pos, Kind::UnexpectedEnd));
        }
        let taken = &self.bytes[self.pos..self.pos + n];
        self.pos += n;
        Ok(taken)
    }

    fn byte(&mut self) -> Result<u8, DecodeError> {
        let b = *self
            .bytes
            .get(self.pos)
            .ok_or_else(|| self.error(self.pos, Kind::UnexpectedEnd))?;
        self.pos += 1;
        Ok(b)
    }

    fn array_of<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        let mut array = [0; N];
        array.copy_from_slice(self.take(N)?);
        Ok(array)
    }

    fn string(&mut self) -> Result<String, DecodeError> {
        let start = self.pos;
        let len = self.length()?;
        let bytes = self.take(len)?;
        match std::str::from_utf8(bytes) {
            Ok(s) => Ok(s.to_string()),
            Err(_) => Err(self.error(start, Kind::InvalidUtf8)),
        }
    }

    fn long(&mut self) -> Result<i64, DecodeError> {
        let start = self.pos;
        let mut z: u64 = 0;
        for i in 0..10 {
            let b = self.byte()?;
            // The tenth byte holds bit 63 only.
            if i == 9 && b > 1 {
                return Err(self.error(start, Kind::VarintOverflow));
            }
            z |= u64::from(b & 0x7f) << (7 * i);
            if b & 0x80 == 0 {
                return Ok(((z >> 1) as i64) ^ -((z & 1) as i64));
            }
        }
        Err(self.error(start, Kind::VarintOverflow))
    }

    /// A length that the rest of the input can hold.
    fn length(&mut self) -> Result<usize, DecodeError> {
        let start = self.pos;
        let n = self.long()?;
        let remaining = self.remaining();
        match usize::try_from(n) {
            Err(_) => Err(self.error(start, Kind::NegativeLength(n))),
            Ok(len) if len > remaining => Err(self.error(
                start,
                Kind::LengthTooLarge {
                    length: n.unsigned_abs(),
                    remaining,
                },
            )),
            Ok(len) => Ok(len),
        }
    }

    /// The item count of the next array or map block (0 ends the sequence). A negative count
    /// is followed by the block's byte size, which is only checked, not used.
    fn block(&mut self, zero_size_items: bool) -> Result<usize, DecodeError> {
        let start = self.pos;
        let count = self.long()?;
        if count < 0 {
            self.length()?;
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
            let remaining = self.remaining();
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
            return Err(self.error(self.pos, Kind::TooDeep));
        }
        match ty {
            Type::Null => Ok(Value::Null),
            Type::Boolean => self.boolean(),
            Type::Int => self.int(),
            Type::Long => self.long().map(Value::from),
            Type::Float => self
                .array_of()
                .map(|b| float_json(f64::from(f32::from_le_bytes(b)))),
            Type::Double => self.array_of().map(|b| float_json(f64::from_le_bytes(b))),
            Type::Bytes => self.length().and_then(|len| self.take(len)).map(latin1),
            Type::String => self.string().map(Value::String),
            Type::Array(items) => self.array(items, depth),
            Type::Map(values) => self.map(values, depth),
            Type::Union(branches) => self.union(branches, depth),
            Type::Named(i) => match &self.schema.types[*i].kind {
                NamedKind::Record(fields) => self.record(fields, depth),
                NamedKind::Enum(symbols) => self.symbol(symbols),
                NamedKind::Fixed(size) => self.take(*size).map(latin1),
            },
        }
    }

    fn boolean(&mut self) -> Result<Value, DecodeError> {
        match self.byte()? {
            0 => Ok(Value::Bool(false)),
            1 => Ok(Value::Bool(true)),
            b => Err(self.error(self.pos - 1, Kind::InvalidBoolean(b))),
        }
    }

    fn int(&mut self) -> Result<Value, DecodeError> {
        let start = self.pos;
        let n = self.long()?;
        match i32::try_from(n) {
            Ok(n) => Ok(Value::from(n)),
            Err(_) => Err(self.error(start, Kind::IntOutOfRange(n))),
        }
    }

    fn symbol(&mut self, symbols: &[String]) -> Result<Value, DecodeError> {
        let start = self.pos;
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
        let start = self.pos;
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
