//! The parsed form of a schema: a tree of [`Type`]s whose named types (records, enums, fixed)
//! live in one arena and are referenced by index, so recursive records need no pointers.
//! Also the document-path rendering and the JSON "kinds" that union matching uses.

use serde_json::Value;

/// One Avro type. Named types are indices into [`AvroSchema`](super::AvroSchema)'s arena
/// ([`AvroSchema::named_types`](super::AvroSchema::named_types)).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Type {
    /// `null`.
    Null,
    /// `boolean`.
    Boolean,
    /// `int` (32-bit).
    Int,
    /// `long` (64-bit).
    Long,
    /// `float`.
    Float,
    /// `double`.
    Double,
    /// `bytes`.
    Bytes,
    /// `string`.
    String,
    /// An array of the item type.
    Array(Box<Type>),
    /// A map from strings to the value type.
    Map(Box<Type>),
    /// A union of its branches, in order (the branch index is on the wire).
    Union(Vec<Type>),
    /// The named type (record, enum, fixed) at this index of the arena.
    Named(usize),
}

impl Type {
    /// The primitive type called `name`, if `name` is a primitive type name.
    pub(crate) fn primitive(name: &str) -> Option<Type> {
        Some(match name {
            "null" => Type::Null,
            "boolean" => Type::Boolean,
            "int" => Type::Int,
            "long" => Type::Long,
            "float" => Type::Float,
            "double" => Type::Double,
            "bytes" => Type::Bytes,
            "string" => Type::String,
            _ => return None,
        })
    }
}

/// A record, enum or fixed, under its full name (`namespace.name`, or `name` in the null
/// namespace).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Named {
    /// The full name.
    pub name: String,
    /// What it is.
    pub kind: NamedKind,
}

impl Named {
    /// The name without its namespace.
    pub fn short_name(&self) -> &str {
        self.name.rsplit('.').next().unwrap_or(&self.name)
    }
}

/// The kinds of named types.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NamedKind {
    /// A record and its fields, in order.
    Record(Vec<Field>),
    /// An enum and its symbols, in order (the index is on the wire).
    Enum(Vec<String>),
    /// A fixed of this many bytes.
    Fixed(usize),
}

/// A record field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Field {
    /// The field name.
    pub name: String,
    /// Its type.
    pub ty: Type,
    /// In Avro's default-value JSON: a union's default is a bare value of its first branch.
    pub default: Option<Value>,
}

/// The name a union branch is known by: its primitive name, `array`, `map`, or a named type's
/// full name. Also the key of Avro's `{"type": value}` union JSON.
pub fn type_name<'t>(types: &'t [Named], ty: &Type) -> &'t str {
    match ty {
        Type::Null => "null",
        Type::Boolean => "boolean",
        Type::Int => "int",
        Type::Long => "long",
        Type::Float => "float",
        Type::Double => "double",
        Type::Bytes => "bytes",
        Type::String => "string",
        Type::Array(_) => "array",
        Type::Map(_) => "map",
        Type::Union(_) => "union",
        Type::Named(i) => &types[*i].name,
    }
}

/// Whether `name` is one Avro name part: `[A-Za-z_][A-Za-z0-9_]*`.
pub(crate) fn is_simple_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Whether `name` is a full name: simple names joined by dots.
pub(crate) fn is_full_name(name: &str) -> bool {
    name.split('.').all(is_simple_name)
}

/// One step of a document path.
#[derive(Debug, Clone)]
pub(crate) enum Seg<'a> {
    Key(&'a str),
    OwnedKey(String),
    Index(usize),
}

/// Renders a document path: `$`, `$.a.b`, `$.list[3]`, `$.map["key with spaces"]`.
pub(crate) fn render_path(path: &[Seg<'_>]) -> String {
    let mut out = String::from("$");
    for seg in path {
        match seg {
            Seg::Key(key) => push_key(&mut out, key),
            Seg::OwnedKey(key) => push_key(&mut out, key),
            Seg::Index(i) => out.push_str(&format!("[{i}]")),
        }
    }
    out
}

fn push_key(out: &mut String, key: &str) {
    if is_simple_name(key) {
        out.push('.');
        out.push_str(key);
    } else {
        out.push('[');
        out.push_str(&Value::from(key).to_string());
        out.push(']');
    }
}

/// The JSON shapes a value can have, as bits, for matching bare values to union branches. A
/// string naming a non-finite number gets its own bit, since both float/double and string-like
/// types accept it.
pub(crate) mod kind {
    pub(crate) const NULL: u8 = 1;
    pub(crate) const BOOL: u8 = 1 << 1;
    pub(crate) const NUMBER: u8 = 1 << 2;
    pub(crate) const STRING: u8 = 1 << 3;
    pub(crate) const NON_FINITE: u8 = 1 << 4;
    pub(crate) const ARRAY: u8 = 1 << 5;
    pub(crate) const OBJECT: u8 = 1 << 6;
}

/// The strings that stand for non-finite floats and doubles in JSON, as Avro's Java JSON
/// encoding writes them.
pub(crate) const NAN: &str = "NaN";
pub(crate) const INFINITY: &str = "Infinity";
pub(crate) const NEG_INFINITY: &str = "-Infinity";

pub(crate) fn non_finite(s: &str) -> Option<f64> {
    match s {
        NAN => Some(f64::NAN),
        INFINITY => Some(f64::INFINITY),
        NEG_INFINITY => Some(f64::NEG_INFINITY),
        _ => None,
    }
}

/// The kind bit of a JSON value.
pub(crate) fn value_kind(value: &Value) -> u8 {
    match value {
        Value::Null => kind::NULL,
        Value::Bool(_) => kind::BOOL,
        Value::Number(_) => kind::NUMBER,
        Value::String(s) if non_finite(s).is_some() => kind::NON_FINITE,
        Value::String(_) => kind::STRING,
        Value::Array(_) => kind::ARRAY,
        Value::Object(_) => kind::OBJECT,
    }
}

/// A short description of a JSON value's shape for error messages.
pub(crate) fn describe(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert!(is_simple_name("_a9"));
        assert!(!is_simple_name("9a"));
        assert!(!is_simple_name(""));
        assert!(!is_simple_name("a-b"));
        assert!(is_full_name("org.kaaproject.Config"));
        assert!(!is_full_name("org..Config"));
        assert!(!is_full_name(".Config"));
    }

    #[test]
    fn paths() {
        let path = [
            Seg::Key("settings"),
            Seg::Index(2),
            Seg::OwnedKey("a b".into()),
        ];
        assert_eq!(render_path(&path), r#"$.settings[2]["a b"]"#);
        assert_eq!(render_path(&[]), "$");
    }
}
