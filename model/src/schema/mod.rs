//! Avro record schemas as Kaa uses them: client and server profiles, configurations,
//! notifications and logs are each described by a versioned Avro record schema per
//! application.
//!
//! Data flows through [`AvroSchema`] three ways:
//!
//! - **Upload.** [`AvroSchema::parse`] checks an operator's schema text and points at the
//!   offending attribute (`fields[2].type: unknown type name "Foo"`), so the admin API can
//!   report it. Only a `record` is accepted at the top level.
//! - **JSON in.** [`AvroSchema::validate_json`] checks a JSON document (a configuration, say)
//!   and lists every problem with its document path (`$.settings.interval`);
//!   [`AvroSchema::encode_json`] turns a valid document into the Avro binary that Kaa sends
//!   endpoints, filling absent fields from their defaults.
//! - **Binary in.** [`AvroSchema::decode_to_json`] turns Avro binary from an endpoint (a client
//!   profile) into JSON for the admin UI. It is written for hostile input: lengths are checked
//!   against the input before use, nesting is capped at [`MAX_DEPTH`], and bad bytes are an
//!   error, never a panic.
//!
//! [`AvroSchema::canonical_form`] and [`AvroSchema::fingerprint`] give Avro's Parsing
//! Canonical Form and its CRC-64-AVRO fingerprint, to recognise a schema independent of
//! formatting, docs and defaults.
//!
//! # JSON documents
//!
//! Documents follow Avro's JSON encoding, widened the way Kaa's admin UI and REST API accepted
//! them:
//!
//! | Avro type | JSON |
//! |---|---|
//! | `null`, `boolean`, `string` | `null`, `true`/`false`, a string |
//! | `int`, `long` | an integer within the type's range (`5`, not `5.0`) |
//! | `float`, `double` | a number, or `"NaN"`, `"Infinity"`, `"-Infinity"` |
//! | `bytes`, `fixed` | a string of characters U+0000..=U+00FF, one per byte (`fixed`: exactly its size) |
//! | `enum` | one of its symbols, as a string |
//! | `array`, `map` | an array, an object |
//! | `record` | an object; unknown keys are errors; a key may be left out only if its field has a default |
//! | union | `{"type name": value}` (Avro's form, e.g. `{"int": 5}`, `{"com.acme.Settings": {…}}`), **or** the bare value when it fits exactly one branch (`null`, `5`, `{…}`) |
//!
//! A one-key object whose key names a branch (its primitive name, `array`, `map`, or a named
//! type's full name, or its short name when that is unambiguous) is read as the wrapped form
//! when its value fits that branch. A bare value that fits several branches (`5` for
//! `["int", "long"]`) is an error asking for the wrapped form. Field defaults follow Avro's
//! rule instead: a union's default is a bare value of its *first* branch, and an invalid
//! default is rejected at upload.
//!
//! [`AvroSchema::decode_to_json`] writes union values bare when that reads back as the same
//! branch without ambiguity (always for the common `["null", T]`), and wrapped otherwise, so
//! that decoding and re-encoding reproduces the bytes.
//!
//! # Why not the `apache-avro` crate
//!
//! The schema handling is our own, on `serde_json` and the Avro binary primitives of
//! [`kaa_idl::avro`] (the codec the endpoint protocol uses too), rather than the `apache-avro` crate
//! (0.21–0.22, 0.23 in release candidates; its compression codecs are opt-in, but it always
//! brings `bigdecimal`, `num-bigint`, `uuid`, `strum`, `bon`, `ouroboros`, `regex-lite` and
//! `miniz_oxide`). What Control needs is what that crate does not offer: schema errors located
//! by path, validation that lists every problem with its document path, Kaa's bare union
//! values next to Avro's wrapped form, and a decoder whose limits on hostile input we set and
//! test ourselves. The binary format itself is small and fixed by the Avro specification, and
//! the tests check it byte for byte against the specification's examples and the Avro
//! project's canonical-form fingerprints.
//!
//! # Limits
//!
//! - Logical types (`decimal`, `uuid`, `timestamp-millis`, …) are accepted and encoded as
//!   their underlying type; their JSON is the underlying type's.
//! - Aliases, `doc` and `order` are checked for shape and otherwise ignored: there is no
//!   schema resolution between versions here.
//! - Named types must be defined before they are used (a record may use itself), as in Avro's
//!   Java parser. A short name is looked up in the enclosing namespace, then in the null one.
//! - A schema is self-contained: it cannot refer to types defined in other schemas (Kaa's
//!   common type library, CTL, must be inlined into the text first).
//! - Kaa's own transformations of configuration schemas (the `__uuid` fields and the
//!   "unchanged" unions of its delta protocol) are not applied here.

mod binary;
mod canonical;
mod error;
mod json;
mod parse;
mod types;
mod unions;

#[cfg(test)]
mod tests;

use serde_json::Value;

pub use error::{
    DecodeError, DecodeErrorKind, InvalidDocument, SchemaError, SchemaErrorKind, ValidationError,
};

use types::kind;
pub use types::{Field, Named, NamedKind, Type, type_name};

/// The deepest nesting of values (records, arrays, maps, union branches) that validation,
/// encoding and decoding accept; deeper input is an error, which keeps recursion bounded.
pub const MAX_DEPTH: usize = 512;

/// The most [`ValidationError`]s one validation reports.
pub const MAX_ERRORS: usize = 64;

/// A parsed, checked Avro schema whose top level is a record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AvroSchema {
    /// Every named type; the top-level record is the first.
    types: Vec<Named>,
    root: Type,
    /// Per named type: whether its values can take zero bytes (so a count of them costs no
    /// input, which the decoder must bound separately).
    zero_size: Vec<bool>,
}

impl AvroSchema {
    /// Parses and checks Avro schema JSON whose top level is a `record`.
    pub fn parse(text: &str) -> Result<AvroSchema, SchemaError> {
        parse::parse(text)
    }

    fn new(types: Vec<Named>, root: Type) -> Self {
        let zero_size = least_fixpoint(&types, |named, zero| match &named.kind {
            NamedKind::Record(fields) => fields.iter().all(|f| match &f.ty {
                Type::Null => true,
                Type::Named(i) => zero[*i],
                _ => false,
            }),
            NamedKind::Fixed(size) => *size == 0,
            NamedKind::Enum(_) => false,
        });
        AvroSchema {
            types,
            root,
            zero_size,
        }
    }

    /// The full name of the top-level record, e.g. `org.kaaproject.sample.Configuration`.
    pub fn name(&self) -> &str {
        &self.types[0].name
    }

    /// Every named type (records, enums, fixed) of the schema; the top-level record is the
    /// first. [`Type::Named`] indexes into it. For code generators.
    pub fn named_types(&self) -> &[Named] {
        &self.types
    }

    /// The top-level type (a [`Type::Named`] record).
    pub fn root(&self) -> &Type {
        &self.root
    }

    /// Avro's Parsing Canonical Form of the schema.
    pub fn canonical_form(&self) -> String {
        canonical::canonical_form(self)
    }

    /// The CRC-64-AVRO (Rabin) fingerprint of [`canonical_form`](Self::canonical_form), as
    /// Avro defines it for identifying schemas.
    pub fn fingerprint(&self) -> u64 {
        canonical::rabin_fingerprint(self.canonical_form().as_bytes())
    }

    /// Checks a JSON document against the schema (see the [module docs](self) for the JSON
    /// rules), reporting up to [`MAX_ERRORS`] problems.
    pub fn validate_json(&self, doc: &Value) -> Result<(), InvalidDocument> {
        json::validate(self, doc).map_err(InvalidDocument::new)
    }

    /// Validates a JSON document and encodes it in Avro binary, filling absent fields from
    /// their defaults.
    pub fn encode_json(&self, doc: &Value) -> Result<Vec<u8>, InvalidDocument> {
        json::encode(self, doc).map_err(InvalidDocument::new)
    }

    /// Decodes Avro binary holding exactly one record of this schema into JSON that
    /// [`encode_json`](Self::encode_json) accepts.
    pub fn decode_to_json(&self, bytes: &[u8]) -> Result<Value, DecodeError> {
        binary::decode(self, bytes)
    }

    /// The name a union branch goes by (and the key of its wrapped JSON form).
    fn type_name(&self, ty: &Type) -> &str {
        types::type_name(&self.types, ty)
    }

    /// The branch of `branches` that `key` names: a type name exactly, else a named type's
    /// short name if only one branch has it.
    fn branch_named(&self, branches: &[Type], key: &str) -> Option<usize> {
        if let Some(i) = branches.iter().position(|b| self.type_name(b) == key) {
            return Some(i);
        }
        let mut by_short_name = branches.iter().enumerate().filter(|(_, b)| match b {
            Type::Named(i) => self.types[*i].short_name() == key,
            _ => false,
        });
        match (by_short_name.next(), by_short_name.next()) {
            (Some((i, _)), None) => Some(i),
            _ => None,
        }
    }

    /// The JSON shapes (see [`types::kind`]) that values of `ty` can take.
    fn kinds(&self, ty: &Type) -> u8 {
        match ty {
            Type::Null => kind::NULL,
            Type::Boolean => kind::BOOL,
            Type::Int | Type::Long => kind::NUMBER,
            Type::Float | Type::Double => kind::NUMBER | kind::NON_FINITE,
            Type::Bytes | Type::String => kind::STRING | kind::NON_FINITE,
            Type::Array(_) => kind::ARRAY,
            Type::Map(_) => kind::OBJECT,
            Type::Union(branches) => branches.iter().fold(0, |k, b| k | self.kinds(b)),
            Type::Named(i) => match self.types[*i].kind {
                NamedKind::Record(_) => kind::OBJECT,
                NamedKind::Enum(_) | NamedKind::Fixed(_) => kind::STRING | kind::NON_FINITE,
            },
        }
    }

    /// Whether values of `ty` may take no bytes at all.
    fn zero_size(&self, ty: &Type) -> bool {
        match ty {
            Type::Null => true,
            Type::Named(i) => self.zero_size[*i],
            _ => false,
        }
    }
}

/// The least solution of `holds(named) = rule(named, holds)` over the named types: starting
/// from "false everywhere", rules are re-applied until nothing changes, so a property that
/// only holds through a cycle of records (a record that contains itself) stays false.
fn least_fixpoint(types: &[Named], rule: impl Fn(&Named, &[bool]) -> bool) -> Vec<bool> {
    let mut holds = vec![false; types.len()];
    loop {
        let mut changed = false;
        for i in 0..types.len() {
            if !holds[i] && rule(&types[i], &holds) {
                holds[i] = true;
                changed = true;
            }
        }
        if !changed {
            return holds;
        }
    }
}

/// Whether each named type has a finite value.
fn inhabited(types: &[Named]) -> Vec<bool> {
    fn has_value(ty: &Type, inhabited: &[bool]) -> bool {
        match ty {
            Type::Union(branches) => branches.iter().any(|b| has_value(b, inhabited)),
            Type::Named(i) => inhabited[*i],
            _ => true,
        }
    }
    least_fixpoint(types, |named, inhabited| match &named.kind {
        NamedKind::Record(fields) => fields.iter().all(|f| has_value(&f.ty, inhabited)),
        NamedKind::Enum(symbols) => !symbols.is_empty(),
        NamedKind::Fixed(_) => true,
    })
}
