//! Python classes from Avro schemas: one module per schema role (profile, configuration,
//! notification, log, events) holding a dataclass per record, an `enum.Enum` per enum and an
//! `avro.Fixed` per fixed, each record carrying its field table (`_avro_fields`) so the
//! runtime's codec (`kaa_sdk.avro`) encodes and decodes it. Field defaults are the schema's
//! defaults as Python literals; a field without one gets its type's zero value, so every class
//! can be built without arguments.

use std::collections::{BTreeSet, HashMap};
use std::fmt::Write as _;

use kaa_model::schema::{AvroSchema, Field, NamedKind, Type};
use serde_json::Value;

use crate::GeneratorError;
use crate::naming::{identifier, pascal, snake};

/// Python's reserved words: an identifier equal to one gets a trailing `_`.
const KEYWORDS: &[&str] = &[
    "False", "None", "True", "and", "as", "assert", "async", "await", "break", "class", "continue",
    "def", "del", "elif", "else", "except", "finally", "for", "from", "global", "if", "import",
    "in", "is", "lambda", "nonlocal", "not", "or", "pass", "raise", "return", "try", "while",
    "with", "yield",
];

/// Attribute names a record field must not take: the methods of `kaa_sdk.avro.Record`.
const RECORD_METHODS: &[&str] = &["to_bytes", "from_bytes", "to_json", "to_avro_json"];

/// The member name of enum symbol `symbol`: Python's `enum` keeps `_sunder_` and `__dunder__`
/// names and `mro` for itself.
fn member(symbol: &str) -> String {
    if symbol.len() > 1 && symbol.starts_with('_') && symbol.ends_with('_') {
        format!("E{symbol}")
    } else if symbol == "mro" {
        "mro_".to_owned()
    } else {
        escape(symbol.to_owned())
    }
}

fn escape(name: String) -> String {
    if KEYWORDS.contains(&name.as_str()) {
        format!("{name}_")
    } else {
        name
    }
}

/// One generated module: the named types of one or more schemas (event classes share a
/// module; a full name defined twice is generated once).
pub(crate) struct Module<'s> {
    schemas: Vec<&'s AvroSchema>,
    /// Per schema, per named-type index: the Python name.
    names: Vec<Vec<String>>,
    /// The named types to generate, as (schema, index), first definitions only.
    defined: Vec<(usize, usize)>,
}

impl<'s> Module<'s> {
    /// The module of `schemas`; `reserved` are names the module defines itself (aliases), which
    /// a named type other than the first schema's root does not take.
    pub(crate) fn new(schemas: Vec<&'s AvroSchema>, reserved: &[&str]) -> Self {
        let mut by_full_name: HashMap<String, String> = HashMap::new();
        let mut taken: BTreeSet<String> = reserved.iter().map(|s| (*s).to_owned()).collect();
        let mut names = Vec::new();
        let mut defined = Vec::new();
        for (s, schema) in schemas.iter().enumerate() {
            let mut schema_names = Vec::new();
            for (i, named) in schema.named_types().iter().enumerate() {
                if let Some(name) = by_full_name.get(&named.name) {
                    schema_names.push(name.clone());
                    continue;
                }
                let is_first_root = s == 0 && i == 0;
                let short = escape(identifier(pascal(named.short_name()), "T"));
                let mut name = if is_first_root && reserved.contains(&short.as_str()) {
                    short.clone()
                } else if taken.contains(&short) {
                    escape(identifier(pascal(&named.name), "T"))
                } else {
                    short
                };
                while taken.contains(&name) && !(is_first_root && reserved.contains(&name.as_str()))
                {
                    name.push('_');
                }
                taken.insert(name.clone());
                by_full_name.insert(named.name.clone(), name.clone());
                schema_names.push(name);
                defined.push((s, i));
            }
            names.push(schema_names);
        }
        Self {
            schemas,
            names,
            defined,
        }
    }

    /// The Python name of schema `s`'s top-level record.
    pub(crate) fn root_name(&self, s: usize) -> &str {
        match self.schemas[s].root() {
            Type::Named(i) => &self.names[s][*i],
            _ => unreachable!("a schema's root is a named record"),
        }
    }

    /// The module's class definitions (without imports).
    pub(crate) fn code(&self) -> Result<String, GeneratorError> {
        let mut out = String::new();
        // Enums and fixed types first: record defaults may name their members.
        for &(s, i) in &self.defined {
            let named = &self.schemas[s].named_types()[i];
            let name = &self.names[s][i];
            match &named.kind {
                NamedKind::Enum(symbols) => {
                    writeln!(out, "\nclass {name}(enum.Enum):").unwrap();
                    writeln!(out, "    \"\"\"Avro enum `{}`.\"\"\"\n", named.name).unwrap();
                    for (index, symbol) in symbols.iter().enumerate() {
                        writeln!(out, "    {} = {index}", member(symbol)).unwrap();
                    }
                    writeln!(out).unwrap();
                    writeln!(out, "\n{name}._avro_name = {}", literal(&named.name)).unwrap();
                    let symbols: Vec<String> = symbols.iter().map(|s| literal(s)).collect();
                    writeln!(out, "{name}._avro_symbols = [{}]", symbols.join(", ")).unwrap();
                }
                NamedKind::Fixed(size) => {
                    writeln!(
                        out,
                        "\n#: Avro fixed `{}`: `bytes` of length {size}.\n{name} = _avro.Fixed({}, {size})",
                        named.name,
                        literal(&named.name)
                    )
                    .unwrap();
                }
                NamedKind::Record(_) => {}
            }
        }
        for &(s, i) in &self.defined {
            let named = &self.schemas[s].named_types()[i];
            let NamedKind::Record(fields) = &named.kind else {
                continue;
            };
            let name = &self.names[s][i];
            writeln!(out, "\n\n@dataclasses.dataclass").unwrap();
            writeln!(out, "class {name}(_avro.Record):").unwrap();
            writeln!(out, "    \"\"\"Avro record `{}`.\"\"\"", named.name).unwrap();
            for (field, attribute) in fields.iter().zip(attributes(fields)) {
                let hint = self.hint(s, &field.ty);
                let default = match &field.default {
                    Some(value) => self.value(s, &field.ty, value).map_err(|e| {
                        GeneratorError::Unsupported(format!(
                            "default of {}.{}: {e}",
                            named.name, field.name
                        ))
                    })?,
                    None => self.zero(s, &field.ty),
                };
                writeln!(out, "    {attribute}: {hint} = {}", as_default(&default)).unwrap();
            }
        }
        writeln!(out, "\n").unwrap();
        for &(s, i) in &self.defined {
            let named = &self.schemas[s].named_types()[i];
            let NamedKind::Record(fields) = &named.kind else {
                continue;
            };
            let name = &self.names[s][i];
            writeln!(out, "{name}._avro_name = {}", literal(&named.name)).unwrap();
            writeln!(out, "{name}._avro_fields = [").unwrap();
            for (field, attribute) in fields.iter().zip(attributes(fields)) {
                writeln!(
                    out,
                    "    ({}, {}, {}),",
                    literal(&attribute),
                    literal(&field.name),
                    self.descriptor(s, &field.ty)
                )
                .unwrap();
            }
            writeln!(out, "]").unwrap();
        }
        Ok(out)
    }

    /// The `kaa_sdk.avro` type descriptor of `ty`.
    fn descriptor(&self, s: usize, ty: &Type) -> String {
        match ty {
            Type::Null => "\"null\"".into(),
            Type::Boolean => "\"boolean\"".into(),
            Type::Int => "\"int\"".into(),
            Type::Long => "\"long\"".into(),
            Type::Float => "\"float\"".into(),
            Type::Double => "\"double\"".into(),
            Type::Bytes => "\"bytes\"".into(),
            Type::String => "\"string\"".into(),
            Type::Array(items) => format!("_avro.Array({})", self.descriptor(s, items)),
            Type::Map(values) => format!("_avro.Map({})", self.descriptor(s, values)),
            Type::Union(branches) => {
                let branches: Vec<String> =
                    branches.iter().map(|b| self.descriptor(s, b)).collect();
                format!("_avro.Union([{}])", branches.join(", "))
            }
            Type::Named(i) => self.names[s][*i].clone(),
        }
    }

    /// The type hint of `ty` (module-level `from __future__ import annotations`: never
    /// evaluated, so forward references are fine).
    fn hint(&self, s: usize, ty: &Type) -> String {
        match ty {
            Type::Null => "None".into(),
            Type::Boolean => "bool".into(),
            Type::Int | Type::Long => "int".into(),
            Type::Float | Type::Double => "float".into(),
            Type::Bytes => "bytes".into(),
            Type::String => "str".into(),
            Type::Array(items) => format!("_t.List[{}]", self.hint(s, items)),
            Type::Map(values) => format!("_t.Dict[str, {}]", self.hint(s, values)),
            Type::Union(branches) => {
                let others: Vec<String> = branches
                    .iter()
                    .filter(|b| **b != Type::Null)
                    .map(|b| self.hint(s, b))
                    .collect();
                let inner = match others.len() {
                    0 => return "None".into(),
                    1 => others[0].clone(),
                    _ => format!("_t.Union[{}]", others.join(", ")),
                };
                if others.len() < branches.len() {
                    format!("_t.Optional[{inner}]")
                } else {
                    inner
                }
            }
            Type::Named(i) => match &self.schemas[s].named_types()[*i].kind {
                NamedKind::Fixed(_) => "bytes".into(),
                _ => self.names[s][*i].clone(),
            },
        }
    }

    /// The zero value of `ty` as a Python expression.
    fn zero(&self, s: usize, ty: &Type) -> Expr {
        match ty {
            Type::Null => Expr::plain("None"),
            Type::Boolean => Expr::plain("False"),
            Type::Int | Type::Long => Expr::plain("0"),
            Type::Float | Type::Double => Expr::plain("0.0"),
            Type::Bytes => Expr::plain("b\"\""),
            Type::String => Expr::plain("\"\""),
            Type::Array(_) => Expr::fresh("[]"),
            Type::Map(_) => Expr::fresh("{}"),
            Type::Union(branches) => match branches.first() {
                Some(first) => self.zero(s, first),
                None => Expr::plain("None"),
            },
            Type::Named(i) => {
                let name = &self.names[s][*i];
                match &self.schemas[s].named_types()[*i].kind {
                    NamedKind::Enum(symbols) => {
                        Expr::plain(format!("{name}.{}", member(&symbols[0])))
                    }
                    NamedKind::Fixed(size) => Expr::plain(bytes_literal(&vec![0; *size])),
                    NamedKind::Record(_) => Expr::fresh(format!("{name}()")),
                }
            }
        }
    }

    /// The Avro JSON default `value` of `ty` as a Python expression.
    fn value(&self, s: usize, ty: &Type, value: &Value) -> Result<Expr, String> {
        let mismatch = || format!("{value} does not fit its type");
        Ok(match ty {
            Type::Null => match value {
                Value::Null => Expr::plain("None"),
                _ => return Err(mismatch()),
            },
            Type::Boolean => match value {
                Value::Bool(true) => Expr::plain("True"),
                Value::Bool(false) => Expr::plain("False"),
                _ => return Err(mismatch()),
            },
            Type::Int | Type::Long => match value.as_i64() {
                Some(n) => Expr::plain(n.to_string()),
                None => return Err(mismatch()),
            },
            Type::Float | Type::Double => match value {
                Value::Number(n) => Expr::plain(float_literal(n.as_f64().ok_or_else(mismatch)?)),
                Value::String(text) => Expr::plain(match text.as_str() {
                    "NaN" => "float(\"nan\")",
                    "Infinity" => "float(\"inf\")",
                    "-Infinity" => "float(\"-inf\")",
                    _ => return Err(mismatch()),
                }),
                _ => return Err(mismatch()),
            },
            Type::Bytes => Expr::plain(bytes_literal(&latin1(value).ok_or_else(mismatch)?)),
            Type::String => match value {
                Value::String(text) => Expr::plain(literal(text)),
                _ => return Err(mismatch()),
            },
            Type::Array(items) => {
                let Value::Array(values) = value else {
                    return Err(mismatch());
                };
                let items: Result<Vec<String>, String> = values
                    .iter()
                    .map(|v| self.value(s, items, v).map(|e| e.code))
                    .collect();
                Expr::fresh(format!("[{}]", items?.join(", ")))
            }
            Type::Map(values) => {
                let Value::Object(entries) = value else {
                    return Err(mismatch());
                };
                let entries: Result<Vec<String>, String> = entries
                    .iter()
                    .map(|(k, v)| {
                        self.value(s, values, v)
                            .map(|e| format!("{}: {}", literal(k), e.code))
                    })
                    .collect();
                Expr::fresh(format!("{{{}}}", entries?.join(", ")))
            }
            Type::Union(branches) => {
                let first = branches.first().ok_or_else(mismatch)?;
                self.value(s, first, value)?
            }
            Type::Named(i) => {
                let name = &self.names[s][*i];
                match &self.schemas[s].named_types()[*i].kind {
                    NamedKind::Enum(symbols) => match value {
                        Value::String(symbol) if symbols.contains(symbol) => {
                            Expr::plain(format!("{name}.{}", member(symbol)))
                        }
                        _ => return Err(mismatch()),
                    },
                    NamedKind::Fixed(size) => {
                        let bytes = latin1(value).ok_or_else(mismatch)?;
                        if bytes.len() != *size {
                            return Err(mismatch());
                        }
                        Expr::plain(bytes_literal(&bytes))
                    }
                    NamedKind::Record(fields) => {
                        let Value::Object(given) = value else {
                            return Err(mismatch());
                        };
                        let mut arguments = Vec::new();
                        for (field, attribute) in fields.iter().zip(attributes(fields)) {
                            let field_value =
                                match given.get(&field.name).or(field.default.as_ref()) {
                                    Some(v) => self.value(s, &field.ty, v)?,
                                    None => self.zero(s, &field.ty),
                                };
                            arguments.push(format!("{attribute}={}", field_value.code));
                        }
                        Expr::fresh(format!("{name}({})", arguments.join(", ")))
                    }
                }
            }
        })
    }
}

/// A Python expression; `fresh` ones build a mutable value, so a dataclass default takes
/// them through `default_factory`.
pub(crate) struct Expr {
    code: String,
    fresh: bool,
}

impl Expr {
    fn plain(code: impl Into<String>) -> Self {
        Self {
            code: code.into(),
            fresh: false,
        }
    }

    fn fresh(code: impl Into<String>) -> Self {
        Self {
            code: code.into(),
            fresh: true,
        }
    }
}

fn as_default(expr: &Expr) -> String {
    if expr.fresh {
        format!("dataclasses.field(default_factory=lambda: {})", expr.code)
    } else {
        expr.code.clone()
    }
}

/// The attribute name of each field: snake case, reserved words and record methods escaped,
/// clashes numbered.
fn attributes(fields: &[Field]) -> Vec<String> {
    let mut taken = BTreeSet::new();
    fields
        .iter()
        .map(|field| {
            let mut name = escape(identifier(snake(&field.name), "f_"));
            if RECORD_METHODS.contains(&name.as_str()) {
                name.push('_');
            }
            let base = name.clone();
            let mut n = 2;
            while !taken.insert(name.clone()) {
                name = format!("{base}_{n}");
                n += 1;
            }
            name
        })
        .collect()
}

/// A Python string literal (JSON string syntax is valid Python).
pub(crate) fn literal(text: &str) -> String {
    Value::from(text).to_string()
}

/// A Python bytes literal.
pub(crate) fn bytes_literal(bytes: &[u8]) -> String {
    let mut out = String::from("b\"");
    for &b in bytes {
        match b {
            b'"' => out.push_str("\\\""),
            b'\\' => out.push_str("\\\\"),
            0x20..=0x7e => out.push(b as char),
            _ => write!(out, "\\x{b:02x}").unwrap(),
        }
    }
    out.push('"');
    out
}

fn float_literal(value: f64) -> String {
    let text = format!("{value:?}");
    if text.contains(['.', 'e', 'E']) || text.contains("inf") || text.contains("NaN") {
        text
    } else {
        format!("{text}.0")
    }
}

/// Avro JSON bytes: a string of code points U+0000..U+00FF, one per byte.
fn latin1(value: &Value) -> Option<Vec<u8>> {
    let Value::String(text) = value else {
        return None;
    };
    text.chars()
        .map(|c| u8::try_from(u32::from(c)).ok())
        .collect()
}
