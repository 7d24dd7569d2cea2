//! The three ways schema work fails: a schema text that is not an acceptable Avro record schema
//! ([`SchemaError`]), a JSON document that does not fit a schema ([`InvalidDocument`], a list of
//! [`ValidationError`]s), and Avro binary that does not decode ([`DecodeError`]).
//!
//! Each carries a location meant for people: a schema path such as `fields[2].type`, a document
//! path such as `$.settings.interval`, or a byte offset plus the document path being decoded.

use std::fmt;

/// A schema text was rejected: where (`path`) and why (`kind`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}{kind}", at(path))]
pub struct SchemaError {
    /// Where in the schema JSON the problem is, as attribute names and array indices from the
    /// top-level object, e.g. `fields[2].type` or `fields[0].type[1].symbols[3]`; empty for the
    /// schema as a whole.
    pub path: String,
    /// What the problem is.
    pub kind: SchemaErrorKind,
}

fn at(path: &str) -> String {
    if path.is_empty() {
        String::new()
    } else {
        format!("at {path}: ")
    }
}

impl SchemaError {
    pub(crate) fn new(path: impl Into<String>, kind: SchemaErrorKind) -> Self {
        SchemaError {
            path: path.into(),
            kind,
        }
    }
}

/// Why a schema text was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SchemaErrorKind {
    /// The text is not JSON at all.
    #[error("not valid JSON: {0}")]
    NotJson(String),
    /// The schema is valid Avro but its top level is not a record, which Kaa requires.
    #[error("the top-level schema must be a record, found {0}")]
    NotARecord(String),
    /// A JSON value where a schema was expected that can't be one (a number, `true`, …).
    #[error("expected a schema (a type name, an object or a union array), found {0}")]
    NotASchema(&'static str),
    /// A type name that is neither primitive nor defined earlier in the schema.
    #[error("unknown type name `{0}`")]
    UnknownType(String),
    /// A required attribute is absent.
    #[error("missing attribute `{0}`")]
    MissingAttribute(&'static str),
    /// An attribute has the wrong shape.
    #[error("`{attribute}` must be {expected}")]
    InvalidAttribute {
        /// The attribute, e.g. `size`.
        attribute: &'static str,
        /// What it must be, e.g. `a non-negative integer`.
        expected: &'static str,
    },
    /// A type, field or namespace name that Avro's naming rules forbid.
    #[error("invalid name `{0}`: each dot-separated part must match [A-Za-z_][A-Za-z0-9_]*")]
    InvalidName(String),
    /// A named type that would shadow a primitive type.
    #[error("`{0}` is a primitive type name and cannot name a record, enum or fixed")]
    ReservedName(String),
    /// Two named types with one full name.
    #[error("type `{0}` is defined twice")]
    DuplicateType(String),
    /// Two fields with one name in a record.
    #[error("duplicate field `{0}`")]
    DuplicateField(String),
    /// An enum symbol that Avro's naming rules forbid.
    #[error("invalid enum symbol `{0}`: it must match [A-Za-z_][A-Za-z0-9_]*")]
    InvalidSymbol(String),
    /// Two equal symbols in an enum.
    #[error("duplicate enum symbol `{0}`")]
    DuplicateSymbol(String),
    /// A union with no branches.
    #[error("a union needs at least one branch")]
    EmptyUnion,
    /// A union directly inside a union.
    #[error("a union cannot directly contain another union")]
    NestedUnion,
    /// Two union branches of the same type (or two named types of one name).
    #[error("the union has more than one branch of type `{0}`")]
    DuplicateUnionBranch(String),
    /// A default value that does not fit its field's type (for a union, its first branch).
    #[error("invalid default: {0}")]
    BadDefault(String),
    /// The top-level record can only be satisfied by an infinite document.
    #[error("record `{0}` contains itself with no union, array or map to end the recursion")]
    Uninhabited(String),
}

/// One way a JSON document fails its schema.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path}: {message}")]
pub struct ValidationError {
    /// Where, from the document root `$`: `$.settings.interval`, `$.servers[2]`,
    /// `$.tags["not an identifier"]`.
    pub path: String,
    /// What is wrong there, e.g. `expected int, found a string`.
    pub message: String,
}

/// A JSON document failed its schema; holds at least one [`ValidationError`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct InvalidDocument {
    errors: Vec<ValidationError>,
}

impl InvalidDocument {
    pub(crate) fn new(errors: Vec<ValidationError>) -> Self {
        debug_assert!(!errors.is_empty());
        InvalidDocument { errors }
    }

    /// Every problem found, in document order (at most [`MAX_ERRORS`](super::MAX_ERRORS)).
    pub fn errors(&self) -> &[ValidationError] {
        &self.errors
    }
}

impl fmt::Display for InvalidDocument {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, error) in self.errors.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{error}")?;
        }
        Ok(())
    }
}

/// Avro binary that does not decode as the schema's record.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("at byte {offset} ({path}): {kind}")]
pub struct DecodeError {
    /// Offset in the input where the bad item starts (or where input ran out).
    pub offset: usize,
    /// The document path being decoded, as in [`ValidationError::path`].
    pub path: String,
    /// What is wrong.
    pub kind: DecodeErrorKind,
}

/// Why Avro binary does not decode.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeErrorKind {
    /// The input ends inside a value.
    #[error("unexpected end of input")]
    UnexpectedEnd,
    /// A variable-length integer longer than 64 bits.
    #[error("variable-length integer overflows 64 bits")]
    VarintOverflow,
    /// An `int` whose value does not fit 32 bits.
    #[error("int value {0} is out of the 32-bit range")]
    IntOutOfRange(i64),
    /// A negative length for bytes, a string or a block size.
    #[error("negative length {0}")]
    NegativeLength(i64),
    /// A length or item count larger than what the input could hold.
    #[error("length {length} exceeds the {remaining} bytes left")]
    LengthTooLarge {
        /// The length read.
        length: u64,
        /// Bytes left in the input.
        remaining: usize,
    },
    /// More zero-byte array items than the decoder allows in one document.
    #[error("more than {0} zero-size array items")]
    TooManyEmptyItems(usize),
    /// A boolean byte other than 0 or 1.
    #[error("boolean byte {0} is neither 0 nor 1")]
    InvalidBoolean(u8),
    /// A string that is not UTF-8.
    #[error("string is not valid UTF-8")]
    InvalidUtf8,
    /// A union branch index outside the union.
    #[error("union branch index {index} is out of range (the union has {branches} branches)")]
    UnionIndex {
        /// The index read.
        index: i64,
        /// How many branches the union has.
        branches: usize,
    },
    /// An enum symbol index outside the enum.
    #[error("enum index {index} is out of range (the enum has {symbols} symbols)")]
    EnumIndex {
        /// The index read.
        index: i64,
        /// How many symbols the enum has.
        symbols: usize,
    },
    /// Values nested deeper than [`MAX_DEPTH`](super::MAX_DEPTH).
    #[error("values are nested too deeply")]
    TooDeep,
    /// Bytes left over after the record.
    #[error("{0} unexpected bytes after the record")]
    TrailingBytes(usize),
}
