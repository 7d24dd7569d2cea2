//! Rust types from Avro schemas: a record becomes a struct, an enum a fieldless enum, a fixed
//! `[u8; N]`, a `["null", T]` union `Option<T>` and any other union an enum with one variant per
//! branch; arrays are `Vec`, maps `BTreeMap<String, _>`, bytes `Vec<u8>`. Every generated type
//! derives serde's `Serialize`/`Deserialize` (Avro's names on the wire), implements `Default`
//! from the schema's defaults (zero values where a field has none) and implements
//! `kaa_sdk::avro::AvroRecord` with code written against the runtime's Avro `Writer`/`Reader`.
//!
//! A [`Module`] collects the types of one or more schemas (the event classes of all families
//! share one) under unique Rust names, and renders them as one source file.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use kaa_model::schema::{Named, NamedKind, Type, type_name};
use serde_json::Value;

use crate::GeneratorError;
use crate::naming::{identifier, pascal, snake};

/// Rust's keywords, which fields escape as raw identifiers.
const KEYWORDS: &[&str] = &[
    "as", "break", "const", "continue", "else", "enum", "extern", "false", "fn", "for", "if",
    "impl", "in", "let", "loop", "match", "mod", "move", "mut", "pub", "ref", "return", "static",
    "struct", "trait", "true", "type", "unsafe", "use", "where", "while", "async", "await", "dyn",
    "abstract", "become", "box", "do", "final", "macro", "override", "priv", "typeof", "unsized",
    "virtual", "yield", "try", "gen",
];

/// Keywords that cannot be raw identifiers, and names the generated code relies on; types and
/// fields called so get a suffix.
const RESERVED: &[&str] = &[
    "self",
    "Self",
    "super",
    "crate",
    "String",
    "Vec",
    "Option",
    "Some",
    "None",
    "Result",
    "Ok",
    "Err",
    "Box",
    "Default",
    "BTreeMap",
    "AvroRecord",
    "AvroError",
    "Reader",
    "Writer",
    "EventClass",
    "Serialize",
    "Deserialize",
];

/// The largest fixed that is a plain `[u8; N]`: serde derives for arrays up to 32 items; a
/// larger fixed becomes a newtype over the array with serde written out.
const MAX_FIXED: usize = 32;

/// A resolved type: what a field's value is in Rust.
#[derive(Debug, Clone)]
enum Rust {
    Unit,
    Bool,
    I32,
    I64,
    F32,
    F64,
    Bytes,
    Str,
    /// `[u8; size]` under `alias`, or the newtype `alias` over it when larger than serde's arrays.
    Fixed {
        size: usize,
        alias: String,
    },
    Array(Box<Rust>),
    Map(Box<Rust>),
    /// `["null", T]` or `[T, "null"]`; the index of the null branch.
    Option {
        inner: Box<Rust>,
        null: usize,
    },
    /// A generated record, enum or union enum, boxed when it can contain the value holding it.
    Named {
        name: String,
        boxed: bool,
    },
}

impl Rust {
    fn ty(&self) -> String {
        match self {
            Rust::Unit => "()".into(),
            Rust::Bool => "bool".into(),
            Rust::I32 => "i32".into(),
            Rust::I64 => "i64".into(),
            Rust::F32 => "f32".into(),
            Rust::F64 => "f64".into(),
            Rust::Bytes => "Vec<u8>".into(),
            Rust::Str => "String".into(),
            Rust::Fixed { alias, .. } => alias.clone(),
            Rust::Array(item) => format!("Vec<{}>", item.ty()),
            Rust::Map(value) => format!("BTreeMap<String, {}>", value.ty()),
            Rust::Option { inner, .. } => format!("Option<{}>", inner.ty()),
            Rust::Named { name, boxed: true } => format!("Box<{name}>"),
            Rust::Named { name, .. } => name.clone(),
        }
    }

    /// Statements writing the value `value` (an expression of type `&T`) to `w`.
    fn write(&self, value: &str) -> String {
        match self {
            Rust::Unit => format!("let _ = {value};"),
            Rust::Bool => format!("w.boolean({});", copied(value)),
            Rust::I32 => format!("w.int({});", copied(value)),
            Rust::I64 => format!("w.long({});", copied(value)),
            Rust::F32 => format!("w.float({});", copied(value)),
            Rust::F64 => format!("w.double({});", copied(value)),
            Rust::Bytes => format!("w.bytes({value});"),
            Rust::Str => format!("w.string({value});"),
            Rust::Fixed { size, .. } if *size > MAX_FIXED => {
                format!("w.fixed(&{}.0);", place(value))
            }
            Rust::Fixed { .. } => format!("w.fixed({value});"),
            Rust::Array(item) => {
                format!("w.array({value}, |w, item| {{ {} }});", item.write("item"))
            }
            Rust::Map(item) => {
                format!(
                    "w.map({}.iter(), |w, item| {{ {} }});",
                    place(value),
                    item.write("item")
                )
            }
            Rust::Option { inner, null } => format!(
                "match {value} {{ None => w.union_branch({null}), Some(item) => {{ w.union_branch({}); {} }} }}",
                1 - null,
                inner.write("item")
            ),
            Rust::Named { .. } => format!("{}.write_avro(w);", place(value)),
        }
    }

    /// [`Rust::write`] for a record field, an optional value spread over lines as rustfmt
    /// would.
    fn write_field(&self, value: &str) -> String {
        match self {
            Rust::Option { inner, null } => format!(
                "match {value} {{\n            None => w.union_branch({null}),\n            \
                 Some(item) => {{\n                w.union_branch({});\n                {}\n            \
                 }}\n        }}",
                1 - null,
                inner.write("item")
            ),
            _ => self.write(value),
        }
    }

    /// An expression reading a value from `r` (in a function returning `Result<_, AvroError>`).
    fn read(&self) -> String {
        match self {
            Rust::Unit => "()".into(),
            Rust::Bool => "r.boolean()?".into(),
            Rust::I32 => "r.int()?".into(),
            Rust::I64 => "r.long()?".into(),
            Rust::F32 => "r.float()?".into(),
            Rust::F64 => "r.double()?".into(),
            Rust::Bytes => "r.bytes()?.to_vec()".into(),
            Rust::Str => "r.string()?.to_owned()".into(),
            Rust::Fixed { size, alias } if *size > MAX_FIXED => {
                format!("{alias}(r.fixed::<{size}>()?)")
            }
            Rust::Fixed { size, .. } => format!("r.fixed::<{size}>()?"),
            Rust::Array(item) => format!("r.array(|r| Ok::<_, AvroError>({}))?", item.read()),
            Rust::Map(item) => format!(
                "r.map(|r| Ok::<_, AvroError>({}))?.into_iter().collect()",
                item.read()
            ),
            Rust::Option { inner, null } => format!(
                "match r.union_branch(2)? {{ {null} => None, _ => Some({}) }}",
                inner.read()
            ),
            Rust::Named { name, boxed } => {
                let read = format!("<{name} as AvroRecord>::read_avro(r)?");
                if *boxed {
                    format!("Box::new({read})")
                } else {
                    read
                }
            }
        }
    }
}

/// The value behind `value` (`&self.x` or a reference `item`), copied.
fn copied(value: &str) -> String {
    match value.strip_prefix('&') {
        Some(place) => place.to_string(),
        None => format!("*{value}"),
    }
}

/// `value` (`&self.x` or a reference `item`) as a method receiver.
fn place(value: &str) -> &str {
    value.strip_prefix('&').unwrap_or(value)
}

/// Where a value sits, for messages.
fn at(owner: &str, field: &str) -> String {
    format!("{owner}.{field}")
}

/// One schema being rendered: its named types and their Rust names.
struct Schema<'s> {
    types: &'s [Named],
    /// Rust name per named type.
    names: Vec<String>,
    /// Per record: the records it can reach (itself included when recursive).
    reaches: Vec<BTreeSet<usize>>,
}

/// What a generated type is made of, for rendering it and values of it.
enum Definition {
    /// Fields: Avro name, Rust identifier, type, default.
    Record {
        avro_name: String,
        fields: Vec<(String, String, Rust, Option<Value>)>,
    },
    /// Symbols and their variants.
    Enum(Vec<(String, String)>),
    /// Variants and their payload (none for `null`).
    Union(Vec<(String, Option<Rust>)>),
}

/// The types of one generated module.
pub(crate) struct Module {
    /// Rust names taken, by the Avro full name (or union path) that took them.
    taken: BTreeMap<String, String>,
    /// The generated types by Rust name.
    definitions: BTreeMap<String, Definition>,
    /// Rendered items, in order.
    items: Vec<String>,
    uses_map: bool,
    uses_event_class: bool,
}

impl Module {
    pub(crate) fn new() -> Self {
        Self {
            taken: BTreeMap::new(),
            definitions: BTreeMap::new(),
            items: Vec::new(),
            uses_map: false,
            uses_event_class: false,
        }
    }

    /// Adds the named types of a schema (whose top-level record is `types[0]`); returns the
    /// Rust name of the top-level record. A full name the module already holds (an event class
    /// family reusing a type) is not rendered again.
    pub(crate) fn add_schema(&mut self, types: &[Named]) -> Result<String, GeneratorError> {
        let mut names = Vec::with_capacity(types.len());
        let mut fresh = Vec::with_capacity(types.len());
        for named in types {
            match self.taken.get(&named.name) {
                Some(name) => {
                    names.push(name.clone());
                    fresh.push(false);
                }
                None => {
                    let name = self.unique_type_name(named.short_name(), &named.name);
                    names.push(name);
                    fresh.push(true);
                }
            }
        }
        let schema = Schema {
            types,
            reaches: reaches(types),
            names,
        };
        // Every type is defined before any default is rendered: a record's defaults may be
        // values of types defined after it.
        for (index, named) in types.iter().enumerate() {
            if fresh[index] {
                self.define(&schema, index, named)?;
            }
        }
        for (index, named) in types.iter().enumerate() {
            if fresh[index] {
                self.render_named(&schema.names[index], named)?;
            }
        }
        Ok(schema.names[0].clone())
    }

    /// Adds an empty record `name` (the type of a schema the SDK profile does not pin).
    pub(crate) fn add_empty(&mut self, name: &str) -> Result<String, GeneratorError> {
        self.add_schema(&[Named {
            name: name.to_string(),
            kind: NamedKind::Record(Vec::new()),
        }])
    }

    /// Adds an item written by the caller; `event_class` when it implements `EventClass`.
    pub(crate) fn push(&mut self, item: String, event_class: bool) {
        self.uses_event_class |= event_class;
        self.items.push(item);
    }

    /// The module's source: `header` (its `//!` doc), imports, the items.
    pub(crate) fn render(&self, header: &str) -> String {
        let mut out = String::from(header);
        if !self.items.is_empty() {
            out.push('\n');
            if self.uses_map {
                out.push_str("use std::collections::BTreeMap;\n\n");
            }
            let event_class = if self.uses_event_class {
                "EventClass, "
            } else {
                ""
            };
            writeln!(
                out,
                "use kaa_sdk::avro::{{AvroError, AvroRecord, {event_class}Reader, Writer}};"
            )
            .unwrap();
            out.push_str("use serde::{Deserialize, Serialize};\n");
        }
        for item in &self.items {
            out.push('\n');
            out.push_str(item);
        }
        out
    }

    /// A Rust type name for `short` not yet taken in the module (the full name's words when the
    /// short name is).
    fn unique_type_name(&mut self, short: &str, key: &str) -> String {
        let taken: BTreeSet<&String> = self.taken.values().collect();
        let mut candidates = vec![type_ident(short), type_ident(key)];
        let mut name = candidates.remove(0);
        if taken.contains(&name) {
            name = candidates.remove(0);
        }
        let base = name.clone();
        let mut n = 2;
        while taken.contains(&name) {
            name = format!("{base}{n}");
            n += 1;
        }
        self.taken.insert(key.to_string(), name.clone());
        name
    }

    fn define(
        &mut self,
        schema: &Schema<'_>,
        index: usize,
        named: &Named,
    ) -> Result<(), GeneratorError> {
        let name = schema.names[index].clone();
        let definition = match &named.kind {
            NamedKind::Record(fields) => {
                let mut idents = Vec::new();
                let mut resolved = Vec::new();
                for field in fields {
                    let ident = unique(&mut idents, field_ident(&field.name));
                    let hint = format!("{name}{}", pascal(&field.name));
                    let ty = self.resolve(schema, Some(index), &field.ty, &hint)?;
                    resolved.push((field.name.clone(), ident, ty, field.default.clone()));
                }
                Definition::Record {
                    avro_name: named.name.clone(),
                    fields: resolved,
                }
            }
            NamedKind::Enum(symbols) => {
                let mut variants = Vec::new();
                let pairs = symbols
                    .iter()
                    .map(|symbol| (symbol.clone(), unique(&mut variants, type_ident(symbol))))
                    .collect();
                Definition::Enum(pairs)
            }
            NamedKind::Fixed(_) => return Ok(()),
        };
        self.definitions.insert(name, definition);
        Ok(())
    }

    fn render_named(&mut self, name: &str, named: &Named) -> Result<(), GeneratorError> {
        let item = match (&named.kind, self.definitions.get(name)) {
            (NamedKind::Record(_), Some(Definition::Record { fields, .. })) => {
                self.render_record(name, named, fields)?
            }
            (NamedKind::Enum(_), Some(Definition::Enum(symbols))) => {
                render_enum(name, named, symbols)
            }
            (NamedKind::Fixed(size), _) if *size > MAX_FIXED => {
                render_big_fixed(name, named, *size)
            }
            (NamedKind::Fixed(size), _) => format!(
                "/// Avro fixed `{}`: {size} bytes.\npub type {name} = [u8; {size}];\n",
                named.name
            ),
            _ => {
                return Err(GeneratorError::Internal(format!("{name} is not defined")));
            }
        };
        self.items.push(item);
        Ok(())
    }

    fn render_record(
        &self,
        name: &str,
        named: &Named,
        resolved: &[(String, String, Rust, Option<Value>)],
    ) -> Result<String, GeneratorError> {
        let mut out = String::new();
        writeln!(out, "/// Avro record `{}`.", named.name).unwrap();
        out.push_str("#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]\n");
        out.push_str("#[serde(default)]\n");
        writeln!(out, "pub struct {name} {{").unwrap();
        for (field, ident, ty, default) in resolved {
            match default {
                Some(default) => writeln!(out, "    /// `{field}`, default `{default}`.").unwrap(),
                None => writeln!(out, "    /// `{field}`.").unwrap(),
            }
            if ident.trim_start_matches("r#") != field {
                writeln!(out, "    #[serde(rename = {field:?})]").unwrap();
            }
            writeln!(out, "    pub {ident}: {},", ty.ty()).unwrap();
        }
        out.push_str("}\n\n");
        writeln!(out, "impl Default for {name} {{").unwrap();
        out.push_str("    fn default() -> Self {\n        Self {\n");
        for (field, ident, ty, default) in resolved {
            let value = match default {
                Some(default) => self.default_value(ty, default, &at(&named.name, field))?,
                None => "Default::default()".into(),
            };
            writeln!(out, "            {ident}: {value},").unwrap();
        }
        out.push_str("        }\n    }\n}\n\n");
        writeln!(out, "impl AvroRecord for {name} {{").unwrap();
        out.push_str("    fn write_avro(&self, w: &mut Writer) {\n");
        if resolved.is_empty() {
            out.push_str("        let _ = w;\n");
        }
        for (_, ident, ty, _) in resolved {
            writeln!(out, "        {}", ty.write_field(&format!("&self.{ident}"))).unwrap();
        }
        out.push_str("    }\n\n");
        out.push_str("    fn read_avro(r: &mut Reader<'_>) -> Result<Self, AvroError> {\n");
        if resolved.is_empty() {
            out.push_str("        let _ = r;\n");
        }
        out.push_str("        Ok(Self {\n");
        for (_, ident, ty, _) in resolved {
            writeln!(out, "            {ident}: {},", ty.read()).unwrap();
        }
        out.push_str("        })\n    }\n}\n");
        Ok(out)
    }

    /// The Rust type of `ty`, a value inside record `owner` (for boxing); unions other than
    /// optional values become enums named `hint`.
    fn resolve(
        &mut self,
        schema: &Schema<'_>,
        owner: Option<usize>,
        ty: &Type,
        hint: &str,
    ) -> Result<Rust, GeneratorError> {
        Ok(match ty {
            Type::Null => Rust::Unit,
            Type::Boolean => Rust::Bool,
            Type::Int => Rust::I32,
            Type::Long => Rust::I64,
            Type::Float => Rust::F32,
            Type::Double => Rust::F64,
            Type::Bytes => Rust::Bytes,
            Type::String => Rust::Str,
            Type::Array(item) => Rust::Array(Box::new(self.resolve(
                schema,
                None,
                item,
                &format!("{hint}Item"),
            )?)),
            Type::Map(value) => {
                self.uses_map = true;
                Rust::Map(Box::new(self.resolve(
                    schema,
                    None,
                    value,
                    &format!("{hint}Value"),
                )?))
            }
            Type::Union(branches) => {
                let nulls: Vec<usize> = branches
                    .iter()
                    .enumerate()
                    .filter(|(_, b)| matches!(b, Type::Null))
                    .map(|(i, _)| i)
                    .collect();
                if branches.len() == 2 && nulls.len() == 1 {
                    let null = nulls[0];
                    let inner = self.resolve(schema, owner, &branches[1 - null], hint)?;
                    Rust::Option {
                        inner: Box::new(inner),
                        null,
                    }
                } else {
                    let name = self.render_union(schema, owner, branches, hint)?;
                    Rust::Named { name, boxed: false }
                }
            }
            Type::Named(i) => match &schema.types[*i].kind {
                NamedKind::Fixed(size) => Rust::Fixed {
                    size: *size,
                    alias: schema.names[*i].clone(),
                },
                NamedKind::Enum(_) => Rust::Named {
                    name: schema.names[*i].clone(),
                    boxed: false,
                },
                NamedKind::Record(_) => Rust::Named {
                    name: schema.names[*i].clone(),
                    boxed: owner.is_some_and(|o| schema.reaches[*i].contains(&o)),
                },
            },
        })
    }

    /// Renders a union as an enum with a variant per branch; returns its name.
    fn render_union(
        &mut self,
        schema: &Schema<'_>,
        owner: Option<usize>,
        branches: &[Type],
        hint: &str,
    ) -> Result<String, GeneratorError> {
        let name = self.unique_type_name(hint, &format!("union {hint}"));
        let mut variants: Vec<(String, Option<Rust>, String)> = Vec::new();
        let mut taken = Vec::new();
        for branch in branches {
            let wire = type_name(schema.types, branch).to_string();
            let variant = match branch {
                Type::Named(i) => type_ident(schema.types[*i].short_name()),
                _ => pascal(&wire),
            };
            let variant = unique(&mut taken, variant);
            let rust = match branch {
                Type::Null => None,
                other => Some(self.resolve(schema, owner, other, &format!("{name}{variant}"))?),
            };
            variants.push((variant, rust, wire));
        }
        self.definitions.insert(
            name.clone(),
            Definition::Union(
                variants
                    .iter()
                    .map(|(variant, rust, _)| (variant.clone(), rust.clone()))
                    .collect(),
            ),
        );
        let mut out = String::new();
        writeln!(out, "/// An Avro union: one of its branches.").unwrap();
        out.push_str("#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]\n");
        writeln!(out, "pub enum {name} {{").unwrap();
        for (variant, rust, wire) in &variants {
            writeln!(out, "    /// Branch `{wire}`.").unwrap();
            writeln!(out, "    #[serde(rename = {wire:?})]").unwrap();
            match rust {
                None => writeln!(out, "    {variant},").unwrap(),
                Some(rust) => writeln!(out, "    {variant}({}),", rust.ty()).unwrap(),
            }
        }
        out.push_str("}\n\n");
        let (first, first_rust, _) = &variants[0];
        writeln!(out, "impl Default for {name} {{").unwrap();
        out.push_str("    fn default() -> Self {\n");
        match first_rust {
            None => writeln!(out, "        Self::{first}").unwrap(),
            Some(_) => writeln!(out, "        Self::{first}(Default::default())").unwrap(),
        }
        out.push_str("    }\n}\n\n");
        writeln!(out, "impl AvroRecord for {name} {{").unwrap();
        out.push_str("    fn write_avro(&self, w: &mut Writer) {\n        match self {\n");
        for (i, (variant, rust, _)) in variants.iter().enumerate() {
            match rust {
                None => writeln!(out, "            Self::{variant} => w.union_branch({i}),").unwrap(),
                Some(rust) => writeln!(
                    out,
                    "            Self::{variant}(item) => {{\n                w.union_branch({i});\n                {}\n            }}",
                    rust.write("item")
                )
                .unwrap(),
            }
        }
        out.push_str("        }\n    }\n\n");
        out.push_str("    fn read_avro(r: &mut Reader<'_>) -> Result<Self, AvroError> {\n");
        writeln!(
            out,
            "        Ok(match r.union_branch({})? {{",
            variants.len()
        )
        .unwrap();
        for (i, (variant, rust, _)) in variants.iter().enumerate() {
            let pattern = if i + 1 == variants.len() {
                "_".to_string()
            } else {
                i.to_string()
            };
            match rust {
                None => writeln!(out, "            {pattern} => Self::{variant},").unwrap(),
                Some(rust) => writeln!(
                    out,
                    "            {pattern} => Self::{variant}({}),",
                    rust.read()
                )
                .unwrap(),
            }
        }
        out.push_str("        })\n    }\n}\n");
        self.items.push(out);
        Ok(name)
    }

    /// A Rust expression of type `ty` for the Avro default JSON `value` (at `path`, for errors).
    fn default_value(
        &self,
        ty: &Rust,
        value: &Value,
        path: &str,
    ) -> Result<String, GeneratorError> {
        let bad = || {
            GeneratorError::Unsupported(format!("default {value} of {path} does not fit its type"))
        };
        Ok(match ty {
            Rust::Unit => "()".into(),
            Rust::Bool => value.as_bool().ok_or_else(bad)?.to_string(),
            Rust::I32 | Rust::I64 => value.as_i64().ok_or_else(bad).map(|n| n.to_string())?,
            Rust::F32 | Rust::F64 => {
                let suffix = if matches!(ty, Rust::F32) {
                    "f32"
                } else {
                    "f64"
                };
                match value {
                    Value::Number(n) => {
                        let n = n.as_f64().ok_or_else(bad)?;
                        if matches!(ty, Rust::F32) {
                            format!("{:?}_f32", n as f32)
                        } else {
                            format!("{n:?}_f64")
                        }
                    }
                    Value::String(s) if s == "NaN" => format!("{suffix}::NAN"),
                    Value::String(s) if s == "Infinity" => format!("{suffix}::INFINITY"),
                    Value::String(s) if s == "-Infinity" => format!("{suffix}::NEG_INFINITY"),
                    _ => return Err(bad()),
                }
            }
            Rust::Bytes => format!("vec!{}", byte_list(value).ok_or_else(bad)?),
            Rust::Fixed { size, alias } if *size > MAX_FIXED => {
                format!("{alias}({})", byte_list(value).ok_or_else(bad)?)
            }
            Rust::Fixed { .. } => byte_list(value).ok_or_else(bad)?,
            Rust::Str => format!("{:?}.to_owned()", value.as_str().ok_or_else(bad)?),
            Rust::Array(item) => {
                let items = value.as_array().ok_or_else(bad)?;
                if items.is_empty() {
                    "Vec::new()".into()
                } else {
                    let items = items
                        .iter()
                        .map(|v| self.default_value(item, v, path))
                        .collect::<Result<Vec<_>, _>>()?;
                    format!("vec![{}]", items.join(", "))
                }
            }
            Rust::Map(item) => {
                let entries = value.as_object().ok_or_else(bad)?;
                if entries.is_empty() {
                    "BTreeMap::new()".into()
                } else {
                    let entries = entries
                        .iter()
                        .map(|(k, v)| {
                            Ok(format!(
                                "({k:?}.to_owned(), {})",
                                self.default_value(item, v, path)?
                            ))
                        })
                        .collect::<Result<Vec<_>, GeneratorError>>()?;
                    format!("BTreeMap::from([{}])", entries.join(", "))
                }
            }
            Rust::Option { inner, .. } => match value {
                Value::Null => "None".into(),
                other => format!("Some({})", self.default_value(inner, other, path)?),
            },
            Rust::Named { name, boxed } => {
                let value = self.named_default(name, value, path)?;
                if *boxed {
                    format!("Box::new({value})")
                } else {
                    value
                }
            }
        })
    }

    /// The Rust identifier of the first `int` or `long` field of the generated record `name`,
    /// and whether it is a `long`.
    pub(crate) fn first_integer_field(&self, name: &str) -> Option<(&str, bool)> {
        match self.definitions.get(name)? {
            Definition::Record { fields, .. } => {
                fields.iter().find_map(|(_, ident, ty, _)| match ty {
                    Rust::I32 => Some((ident.as_str(), false)),
                    Rust::I64 => Some((ident.as_str(), true)),
                    _ => None,
                })
            }
            _ => None,
        }
    }

    /// The default `value` of the generated record, enum or union `name`.
    fn named_default(
        &self,
        name: &str,
        value: &Value,
        path: &str,
    ) -> Result<String, GeneratorError> {
        let bad = || {
            GeneratorError::Unsupported(format!("default {value} of {path} does not fit its type"))
        };
        match self.definitions.get(name) {
            Some(Definition::Record { avro_name, fields }) => {
                let object = value.as_object().ok_or_else(bad)?;
                let mut parts = Vec::new();
                for (field, ident, ty, _) in fields {
                    if let Some(v) = object.get(field) {
                        let value = self.default_value(ty, v, &at(avro_name, field))?;
                        parts.push(format!("{ident}: {value}"));
                    }
                }
                if parts.is_empty() {
                    return Ok(format!("{name}::default()"));
                }
                if parts.len() < fields.len() {
                    parts.push(format!("..{name}::default()"));
                }
                Ok(format!("{name} {{ {} }}", parts.join(", ")))
            }
            Some(Definition::Enum(symbols)) => {
                let symbol = value.as_str().ok_or_else(bad)?;
                let (_, variant) = symbols.iter().find(|(s, _)| s == symbol).ok_or_else(bad)?;
                Ok(format!("{name}::{variant}"))
            }
            Some(Definition::Union(variants)) => match &variants[0] {
                (variant, None) => Ok(format!("{name}::{variant}")),
                (variant, Some(ty)) => Ok(format!(
                    "{name}::{variant}({})",
                    self.default_value(ty, value, path)?
                )),
            },
            None => Err(GeneratorError::Internal(format!(
                "default of {path}: type {name} is not defined"
            ))),
        }
    }
}

/// A fixed larger than serde's arrays: a newtype over `[u8; size]`, zeroes by default, in JSON an
/// array of its bytes.
fn render_big_fixed(name: &str, named: &Named, size: usize) -> String {
    format!(
        "/// Avro fixed `{avro}`: {size} bytes.\n\
         #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]\n\
         pub struct {name}(pub [u8; {size}]);\n\n\
         impl Default for {name} {{\n    fn default() -> Self {{\n        Self([0; {size}])\n    }}\n}}\n\n\
         impl Serialize for {name} {{\n    \
         fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {{\n        \
         serializer.collect_seq(self.0.iter())\n    }}\n}}\n\n\
         impl<'de> Deserialize<'de> for {name} {{\n    \
         fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {{\n        \
         let bytes = Vec::<u8>::deserialize(deserializer)?;\n        \
         let length = bytes.len();\n        \
         bytes.try_into().map(Self).map_err(|_| {{\n            \
         serde::de::Error::invalid_length(length, &\"{size} bytes\")\n        }})\n    }}\n}}\n",
        avro = named.name
    )
}

/// A fieldless enum for an Avro enum; the first symbol is its `Default`.
fn render_enum(name: &str, named: &Named, symbols: &[(String, String)]) -> String {
    let mut out = String::new();
    writeln!(out, "/// Avro enum `{}`.", named.name).unwrap();
    out.push_str(
        "#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]\n",
    );
    writeln!(out, "pub enum {name} {{").unwrap();
    for (i, (symbol, variant)) in symbols.iter().enumerate() {
        writeln!(out, "    /// `{symbol}`.").unwrap();
        if i == 0 {
            out.push_str("    #[default]\n");
        }
        writeln!(out, "    #[serde(rename = {symbol:?})]").unwrap();
        writeln!(out, "    {variant},").unwrap();
    }
    out.push_str("}\n\n");
    writeln!(out, "impl AvroRecord for {name} {{").unwrap();
    out.push_str("    fn write_avro(&self, w: &mut Writer) {\n");
    out.push_str("        w.enum_symbol(*self as usize);\n    }\n\n");
    out.push_str("    fn read_avro(r: &mut Reader<'_>) -> Result<Self, AvroError> {\n");
    writeln!(
        out,
        "        Ok(match r.enum_symbol({:?}, {})? {{",
        named.name,
        symbols.len()
    )
    .unwrap();
    for (i, (_, variant)) in symbols.iter().enumerate() {
        if i + 1 == symbols.len() {
            writeln!(out, "            _ => Self::{variant},").unwrap();
        } else {
            writeln!(out, "            {i} => Self::{variant},").unwrap();
        }
    }
    out.push_str("        })\n    }\n}\n");
    out
}

/// Identifies a Rust type name.
fn type_ident(name: &str) -> String {
    let name = identifier(pascal(name), "T");
    if RESERVED.contains(&name.as_str()) {
        format!("{name}Value")
    } else {
        name
    }
}

/// A field name as a Rust identifier.
fn field_ident(name: &str) -> String {
    let name = identifier(snake(name), "f_");
    if KEYWORDS.contains(&name.as_str()) {
        format!("r#{name}")
    } else if RESERVED.contains(&name.as_str()) {
        format!("{name}_")
    } else {
        name
    }
}

/// `name`, or `name2`, `name3`… if `taken` has it; records the result in `taken`.
fn unique(taken: &mut Vec<String>, name: String) -> String {
    let mut candidate = name.clone();
    let mut n = 2;
    while taken.contains(&candidate) {
        candidate = format!("{name}{n}");
        n += 1;
    }
    taken.push(candidate.clone());
    candidate
}

/// `[0, 1, 2]` from Avro's bytes JSON (one char U+0000..U+00FF per byte).
fn byte_list(value: &Value) -> Option<String> {
    let bytes = value
        .as_str()?
        .chars()
        .map(|c| u8::try_from(u32::from(c)).ok().map(|b| b.to_string()))
        .collect::<Option<Vec<_>>>()?;
    Some(format!("[{}]", bytes.join(", ")))
}

/// Per record: the records reachable from its fields (through any nesting).
fn reaches(types: &[Named]) -> Vec<BTreeSet<usize>> {
    fn direct(ty: &Type, out: &mut BTreeSet<usize>) {
        match ty {
            Type::Array(inner) | Type::Map(inner) => direct(inner, out),
            Type::Union(branches) => branches.iter().for_each(|b| direct(b, out)),
            Type::Named(i) => {
                out.insert(*i);
            }
            _ => {}
        }
    }
    let edges: Vec<BTreeSet<usize>> = types
        .iter()
        .map(|named| {
            let mut out = BTreeSet::new();
            if let NamedKind::Record(fields) = &named.kind {
                fields.iter().for_each(|f| direct(&f.ty, &mut out));
            }
            out
        })
        .collect();
    (0..types.len())
        .map(|start| {
            let mut seen = BTreeSet::new();
            let mut stack: Vec<usize> = edges[start].iter().copied().collect();
            while let Some(next) = stack.pop() {
                if seen.insert(next) {
                    stack.extend(edges[next].iter().copied());
                }
            }
            seen
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use kaa_model::schema::AvroSchema;

    use super::*;

    fn module_of(schema: &str) -> String {
        let schema = AvroSchema::parse(schema).unwrap();
        let mut module = Module::new();
        module.add_schema(schema.named_types()).unwrap();
        module.render("//! test\n")
    }

    #[test]
    fn unions_recursion_keywords_and_reserved_names_become_valid_rust() {
        let code = module_of(
            r#"{"type":"record","name":"Node","namespace":"a.b","fields":[
                {"name":"type","type":"string","default":"x"},
                {"name":"self","type":"int","default":1},
                {"name":"value","type":["int","string","null",{"type":"record","name":"Inner",
                    "fields":[{"name":"Self","type":"long","default":2}]}],"default":5},
                {"name":"next","type":["null","Node"],"default":null},
                {"name":"children","type":{"type":"array","items":"Node"},"default":[]},
                {"name":"opt","type":["string","null"],"default":"s"},
                {"name":"lists","type":{"type":"map","values":{"type":"array",
                    "items":["null","float","Inner"]}},"default":{"k":[null]}},
                {"name":"inner","type":"Inner","default":{}},
                {"name":"f","type":"float","default":"NaN"},
                {"name":"String","type":{"type":"enum","name":"Result",
                    "symbols":["A","b_c","Self"]},"default":"b_c"}]}"#,
        );
        for expected in [
            "pub r#type: String,",
            "#[serde(rename = \"self\")]\n    pub self_: i32,",
            "pub value: NodeValue,",
            "value: NodeValue::Int(5),",
            "    #[serde(rename = \"a.b.Inner\")]\n    Inner(Inner),",
            "2 => Self::Null,",
            // A record that contains itself is boxed where it would otherwise be infinite.
            "pub next: Option<Box<Node>>,",
            "Some(Box::new(<Node as AvroRecord>::read_avro(r)?))",
            "pub children: Vec<Node>,",
            // `[T, "null"]`: the null branch is the second.
            "None => w.union_branch(1),\n            Some(item) => {\n                w.union_branch(0);\n                w.string(item);",
            "opt: Some(\"s\".to_owned()),",
            "pub lists: BTreeMap<String, Vec<NodeListsValueItem>>,",
            "lists: BTreeMap::from([(\"k\".to_owned(), vec![NodeListsValueItem::Null])]),",
            "inner: Inner::default(),",
            "f: f32::NAN,",
            "pub enum ResultValue {",
            "string: ResultValue::BC,",
            "    SelfValue,",
            "#[serde(rename = \"Self\")]\n    pub self_: i64,",
        ] {
            assert!(code.contains(expected), "{expected}\n---\n{code}");
        }
    }

    #[test]
    fn a_fixed_larger_than_serde_arrays_is_a_newtype_over_the_array() {
        let code = module_of(
            r#"{"type":"record","name":"R","fields":[
                {"name":"sig","type":{"type":"fixed","name":"Sig","size":33},
                    "default":"\u0001\u0001\u0001\u0001\u0001\u0001\u0001\u0001\u0001\u0001\u0001\u0001\u0001\u0001\u0001\u0001\u0001\u0001\u0001\u0001\u0001\u0001\u0001\u0001\u0001\u0001\u0001\u0001\u0001\u0001\u0001\u0001\u0001"},
                {"name":"sigs","type":{"type":"array","items":"Sig"}}]}"#,
        );
        for expected in [
            "pub struct Sig(pub [u8; 33]);",
            "pub sig: Sig,",
            "sig: Sig([1, 1,",
            "w.fixed(&self.sig.0);",
            "sig: Sig(r.fixed::<33>()?),",
            "w.array(&self.sigs, |w, item| { w.fixed(&item.0); });",
        ] {
            assert!(code.contains(expected), "{expected}\n---\n{code}");
        }
    }
}
