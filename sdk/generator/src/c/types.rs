//! C types from Avro schemas: a struct per record, an enum per enum, a struct holding the
//! bytes per fixed, and one struct per distinct array, map and union type (`kaa_array_…`,
//! `kaa_map_…`, `kaa_union_…`), each with `_init_default`, `_serialize`, `_deserialize`,
//! `_free` and `_to_json` functions (records also `_create_default` and `_destroy`).
//!
//! Named types of every schema share one namespace: a full name defined by two schemas must
//! be defined the same way. Definitions come out in dependency order, records declared ahead;
//! a record that contains itself holds that occurrence through a pointer ([`CType::Boxed`]),
//! since a C struct cannot hold itself by value.

use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;

use kaa_model::schema::{AvroSchema, Field, Named, NamedKind, Type};
use serde_json::Value;

use crate::GeneratorError;
use crate::naming::{identifier, screaming, snake};

/// A type as the C code sees it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(super) enum CType {
    Null,
    Boolean,
    Int,
    Long,
    Float,
    Double,
    Bytes,
    String,
    /// A record, by its C base name.
    Record(String),
    /// A record held through a pointer, where it contains itself (a recursive schema): the
    /// occurrence inside its own definition, by value, which C cannot hold.
    Boxed(String),
    /// An enum: C base name and symbols.
    Enum(String, Vec<String>),
    /// A fixed: C base name and size.
    Fixed(String, usize),
    Array(Box<CType>),
    Map(Box<CType>),
    /// A union: its branches and the Avro name of each (the key of its JSON form).
    Union(Vec<(CType, String)>),
}

/// A record field.
#[derive(Debug, Clone)]
struct CField {
    /// Its C member name.
    member: String,
    /// Its Avro name (JSON key).
    name: String,
    ty: CType,
    default: Option<Value>,
}

/// One C definition.
#[derive(Debug, Clone)]
enum Def {
    Record { name: String, fields: Vec<CField> },
    Enum { name: String, symbols: Vec<String> },
    Fixed { name: String, size: usize },
    Composite { ty: CType },
}

/// Type names of C and POSIX headers a generated `<name>_t` must not take (a fixed `Id` or a
/// record `Time` would otherwise clash with `id_t` or `time_t`).
const RESERVED_TYPES: &[&str] = &[
    "blkcnt",
    "blksize",
    "clock",
    "clockid",
    "dev",
    "div",
    "double",
    "float",
    "fpos",
    "fsblkcnt",
    "fsfilcnt",
    "gid",
    "id",
    "in_addr",
    "in_port",
    "ino",
    "int16",
    "int32",
    "int64",
    "int8",
    "intmax",
    "intptr",
    "key",
    "ldiv",
    "lldiv",
    "locale",
    "max_align",
    "mbstate",
    "mode",
    "nlink",
    "off",
    "pid",
    "ptrdiff",
    "sa_family",
    "sig_atomic",
    "sigset",
    "size",
    "socklen",
    "ssize",
    "suseconds",
    "time",
    "timer",
    "uid",
    "uint16",
    "uint32",
    "uint64",
    "uint8",
    "uintmax",
    "uintptr",
    "useconds",
    "wchar",
    "wctype",
    "wint",
];

/// C words a member name must not be.
const RESERVED: &[&str] = &[
    "auto", "break", "case", "char", "const", "continue", "default", "do", "double", "else",
    "enum", "extern", "float", "for", "goto", "if", "inline", "int", "long", "register",
    "restrict", "return", "short", "signed", "sizeof", "static", "struct", "switch", "typedef",
    "union", "unsigned", "void", "volatile", "while", "bool", "true", "false",
];

impl CType {
    /// The C base name of a named or composite type (`device_profile`, `kaa_array_string`).
    pub(super) fn base(&self) -> String {
        match self {
            CType::Record(n) | CType::Boxed(n) | CType::Enum(n, _) | CType::Fixed(n, _) => {
                n.clone()
            }
            _ => format!("kaa_{}", self.mangle()),
        }
    }

    fn mangle(&self) -> String {
        match self {
            CType::Null => "null".into(),
            CType::Boolean => "boolean".into(),
            CType::Int => "int".into(),
            CType::Long => "long".into(),
            CType::Float => "float".into(),
            CType::Double => "double".into(),
            CType::Bytes => "bytes".into(),
            CType::String => "string".into(),
            CType::Record(n) | CType::Boxed(n) | CType::Enum(n, _) | CType::Fixed(n, _) => {
                n.clone()
            }
            CType::Array(t) => format!("array_{}", t.mangle()),
            CType::Map(t) => format!("map_{}", t.mangle()),
            CType::Union(branches) => {
                let names: Vec<String> = branches.iter().map(|(t, _)| t.mangle()).collect();
                format!("union_{}", names.join("_or_"))
            }
        }
    }

    /// The C type of a value.
    pub(super) fn c_type(&self) -> String {
        match self {
            CType::Null => "uint8_t".into(),
            CType::Boolean => "bool".into(),
            CType::Int => "int32_t".into(),
            CType::Long => "int64_t".into(),
            CType::Float => "float".into(),
            CType::Double => "double".into(),
            CType::Bytes => "kaa_bytes_t".into(),
            CType::String => "char *".into(),
            CType::Boxed(n) => format!("{n}_t *"),
            _ => format!("{}_t", self.base()),
        }
    }

    fn needs_free(&self) -> bool {
        !matches!(
            self,
            CType::Null
                | CType::Boolean
                | CType::Int
                | CType::Long
                | CType::Float
                | CType::Double
                | CType::Enum(..)
                | CType::Fixed(..)
        )
    }
}

/// Every C definition the SDK's schemas need.
#[derive(Default)]
pub(super) struct Types {
    defs: Vec<Def>,
    /// Full name → (C base name, signature).
    named: HashMap<String, (String, String)>,
    defined: HashSet<String>,
    in_progress: HashSet<String>,
    /// Composite types by C base name: the first resolution of a shape is the one defined.
    composites: HashMap<String, CType>,
    /// Short names used by more than one full name.
    ambiguous: HashSet<String>,
}

impl Types {
    /// Prepares for `schemas` (their named types decide which short names are ambiguous).
    pub(super) fn new<'a>(schemas: impl IntoIterator<Item = &'a AvroSchema>) -> Self {
        let mut by_short: HashMap<String, HashSet<String>> = HashMap::new();
        for schema in schemas {
            for named in schema.named_types() {
                by_short
                    .entry(snake(named.short_name()))
                    .or_default()
                    .insert(named.name.clone());
            }
        }
        Self {
            ambiguous: by_short
                .into_iter()
                .filter(|(_, full)| full.len() > 1)
                .map(|(short, _)| short)
                .collect(),
            ..Self::default()
        }
    }

    /// The C type of `schema`'s root, defining whatever it needs.
    pub(super) fn root(&mut self, schema: &AvroSchema) -> Result<CType, GeneratorError> {
        self.resolve(schema, schema.root(), true)
    }

    /// An empty record (for a schema the SDK profile does not pin).
    pub(super) fn empty_record(&mut self) -> CType {
        let name = "kaa_empty_record".to_string();
        if self.defined.insert(name.clone()) {
            self.defs.push(Def::Record {
                name: name.clone(),
                fields: Vec::new(),
            });
        }
        CType::Record(name)
    }

    fn c_name(&self, named: &Named) -> String {
        let short = snake(named.short_name());
        let name = if self.ambiguous.contains(&short) {
            snake(&named.name)
        } else {
            short
        };
        let name = identifier(name, "t_");
        if name.starts_with("kaa")
            || name.starts_with("pthread")
            || RESERVED_TYPES.contains(&name.as_str())
        {
            format!("app_{name}")
        } else {
            name
        }
    }

    /// The C type of `ty`; `by_value` tells whether the place holds it by value (a field, a
    /// union branch) rather than behind a pointer (array items, map values).
    fn resolve(
        &mut self,
        schema: &AvroSchema,
        ty: &Type,
        by_value: bool,
    ) -> Result<CType, GeneratorError> {
        Ok(match ty {
            Type::Null => CType::Null,
            Type::Boolean => CType::Boolean,
            Type::Int => CType::Int,
            Type::Long => CType::Long,
            Type::Float => CType::Float,
            Type::Double => CType::Double,
            Type::Bytes => CType::Bytes,
            Type::String => CType::String,
            Type::Array(item) => {
                let item = self.resolve(schema, item, false)?;
                self.composite(CType::Array(Box::new(item)))
            }
            Type::Map(value) => {
                let value = self.resolve(schema, value, false)?;
                self.composite(CType::Map(Box::new(value)))
            }
            Type::Union(branches) => {
                let mut resolved = Vec::new();
                for branch in branches {
                    resolved.push((
                        self.resolve(schema, branch, by_value)?,
                        avro_name(schema, branch),
                    ));
                }
                self.composite(CType::Union(resolved))
            }
            Type::Named(index) => self.named(schema, &schema.named_types()[*index], by_value)?,
        })
    }

    fn composite(&mut self, ty: CType) -> CType {
        let base = ty.base();
        if let Some(known) = self.composites.get(&base) {
            return known.clone();
        }
        self.defined.insert(base.clone());
        self.composites.insert(base, ty.clone());
        self.defs.push(Def::Composite { ty: ty.clone() });
        ty
    }

    fn named(
        &mut self,
        schema: &AvroSchema,
        named: &Named,
        by_value: bool,
    ) -> Result<CType, GeneratorError> {
        let signature = signature(schema, named);
        if let Some((name, known)) = self.named.get(&named.name) {
            if *known != signature {
                return Err(GeneratorError::Unsupported(format!(
                    "two schemas define {} differently; the C SDK needs one definition per name",
                    named.name
                )));
            }
            if by_value && self.in_progress.contains(&named.name) {
                // Only records can contain themselves (through a union, array or map).
                return Ok(CType::Boxed(name.clone()));
            }
            return Ok(ctype_of(name, named));
        }
        let name = self.c_name(named);
        if self.defined.contains(&name) {
            return Err(GeneratorError::Unsupported(format!(
                "{} clashes with another C type name {name}",
                named.name
            )));
        }
        self.named
            .insert(named.name.clone(), (name.clone(), signature));
        self.in_progress.insert(named.name.clone());
        let def = match &named.kind {
            NamedKind::Record(fields) => Def::Record {
                name: name.clone(),
                fields: self.fields(schema, fields)?,
            },
            NamedKind::Enum(symbols) => Def::Enum {
                name: name.clone(),
                symbols: symbols.clone(),
            },
            NamedKind::Fixed(size) => Def::Fixed {
                name: name.clone(),
                size: *size,
            },
        };
        self.in_progress.remove(&named.name);
        self.defined.insert(name.clone());
        self.defs.push(def);
        Ok(ctype_of(&name, named))
    }

    fn fields(
        &mut self,
        schema: &AvroSchema,
        fields: &[Field],
    ) -> Result<Vec<CField>, GeneratorError> {
        let mut members = HashSet::new();
        let mut out = Vec::new();
        for field in fields {
            let mut member = identifier(snake(&field.name), "f_");
            if RESERVED.contains(&member.as_str()) {
                member.push('_');
            }
            while !members.insert(member.clone()) {
                member.push('_');
            }
            out.push(CField {
                member,
                name: field.name.clone(),
                ty: self.resolve(schema, &field.ty, true)?,
                default: field.default.clone(),
            });
        }
        Ok(out)
    }

    /// The member name and C type of the first `int` or `long` field of record `name`.
    pub(super) fn first_integer_field(&self, name: &str) -> Option<(String, String)> {
        self.defs.iter().find_map(|def| match def {
            Def::Record { name: n, fields } if n == name => fields
                .iter()
                .find(|f| matches!(f.ty, CType::Int | CType::Long))
                .map(|f| (f.member.clone(), f.ty.c_type())),
            _ => None,
        })
    }

    /// `kaa_types.h`: the type definitions and function declarations.
    pub(super) fn header(&self) -> String {
        // Records are declared first: a record may hold itself through a pointer.
        let mut out = String::new();
        for def in &self.defs {
            if let Def::Record { name, .. } = def {
                writeln!(out, "typedef struct kaa_record_{name} {name}_t;").unwrap();
            }
        }
        out.push('\n');
        for def in &self.defs {
            let name = def_base(def);
            match def {
                Def::Record { fields, .. } => {
                    writeln!(out, "struct kaa_record_{name} {{").unwrap();
                    if fields.is_empty() {
                        out.push_str("    char unused_; /* a record without fields */\n");
                    }
                    for f in fields {
                        writeln!(out, "    {}; /* {} */", declare(&f.ty, &f.member), f.name)
                            .unwrap();
                    }
                    out.push_str("};\n\n");
                }
                Def::Enum { symbols, .. } => {
                    out.push_str("typedef enum {\n");
                    for (i, s) in symbols.iter().enumerate() {
                        writeln!(out, "    {} = {i},", enum_constant(&name, s)).unwrap();
                    }
                    writeln!(out, "}} {name}_t;").unwrap();
                    writeln!(
                        out,
                        "#define {}_COUNT {}\n",
                        screaming(&name),
                        symbols.len()
                    )
                    .unwrap();
                }
                Def::Fixed { size, .. } => {
                    writeln!(
                        out,
                        "typedef struct {{\n    uint8_t data[{}];\n}} {name}_t;\n",
                        size.max(&1)
                    )
                    .unwrap();
                }
                Def::Composite { ty } => composite_struct(&mut out, ty),
            }
            let t = format!("{name}_t");
            writeln!(out, "void {name}_init_default({t} *value);").unwrap();
            writeln!(
                out,
                "int {name}_serialize(kaa_writer_t *w, const {t} *value);"
            )
            .unwrap();
            writeln!(out, "int {name}_deserialize(kaa_reader_t *r, {t} *value);").unwrap();
            writeln!(out, "void {name}_free({t} *value);").unwrap();
            writeln!(
                out,
                "void {name}_to_json(kaa_writer_t *w, const {t} *value);"
            )
            .unwrap();
            if matches!(def, Def::Record { .. }) {
                writeln!(
                    out,
                    "/* A heap value with the defaults; NULL without memory. */"
                )
                .unwrap();
                writeln!(out, "{t} *{name}_create_default(void);").unwrap();
                writeln!(out, "/* Frees a value from _create_default. */").unwrap();
                writeln!(out, "void {name}_destroy({t} *value);").unwrap();
            }
            out.push('\n');
        }
        out
    }

    /// `kaa_types.c`: the functions.
    pub(super) fn source(&self) -> String {
        let records: Records = self
            .defs
            .iter()
            .filter_map(|def| match def {
                Def::Record { name, fields } => Some((name.clone(), fields.clone())),
                _ => None,
            })
            .collect();
        let mut out = String::new();
        // Readers that do not check: the public _deserialize checks once at the end.
        for def in &self.defs {
            let name = def_base(def);
            writeln!(
                out,
                "static void {name}_read(kaa_reader_t *r, {name}_t *v);"
            )
            .unwrap();
        }
        out.push('\n');
        for def in &self.defs {
            let name = def_base(def);
            let t = format!("{name}_t");
            let (init, ser, read, free, json) = match def {
                Def::Record { fields, .. } => record_bodies(fields, &records),
                Def::Enum { name, symbols } => enum_bodies(name, symbols),
                Def::Fixed { size, .. } => fixed_bodies(*size),
                Def::Composite { ty } => composite_bodies(ty),
            };
            write!(
                out,
                "void {name}_init_default({t} *v)\n{{\n    memset(v, 0, sizeof(*v));\n{init}}}\n\n\
                 int {name}_serialize(kaa_writer_t *w, const {t} *v)\n{{\n    (void)v;\n{ser}    return w->failed ? -1 : 0;\n}}\n\n\
                 static void {name}_read(kaa_reader_t *r, {t} *v)\n{{\n    (void)r;\n    (void)v;\n{read}}}\n\n\
                 int {name}_deserialize(kaa_reader_t *r, {t} *v)\n{{\n    memset(v, 0, sizeof(*v));\n    {name}_read(r, v);\n    if (r->failed) {{\n        {name}_free(v);\n        return -1;\n    }}\n    return 0;\n}}\n\n\
                 void {name}_free({t} *v)\n{{\n{free}    memset(v, 0, sizeof(*v));\n}}\n\n\
                 void {name}_to_json(kaa_writer_t *w, const {t} *v)\n{{\n    (void)v;\n{json}}}\n\n"
            )
            .unwrap();
            if matches!(def, Def::Record { .. }) {
                write!(
                    out,
                    "{t} *{name}_create_default(void)\n{{\n    {t} *v = malloc(sizeof(*v));\n    if (v) {{\n        {name}_init_default(v);\n    }}\n    return v;\n}}\n\n\
                     void {name}_destroy({t} *v)\n{{\n    if (v) {{\n        {name}_free(v);\n        free(v);\n    }}\n}}\n\n"
                )
                .unwrap();
            }
        }
        out
    }
}

fn def_base(def: &Def) -> String {
    match def {
        Def::Record { name, .. } | Def::Enum { name, .. } | Def::Fixed { name, .. } => name.clone(),
        Def::Composite { ty } => ty.base(),
    }
}

fn ctype_of(name: &str, named: &Named) -> CType {
    match &named.kind {
        NamedKind::Record(_) => CType::Record(name.to_string()),
        NamedKind::Enum(symbols) => CType::Enum(name.to_string(), symbols.clone()),
        NamedKind::Fixed(size) => CType::Fixed(name.to_string(), *size),
    }
}

/// The Avro name of a union branch (its key in Avro's JSON form).
fn avro_name(schema: &AvroSchema, ty: &Type) -> String {
    match ty {
        Type::Null => "null".into(),
        Type::Boolean => "boolean".into(),
        Type::Int => "int".into(),
        Type::Long => "long".into(),
        Type::Float => "float".into(),
        Type::Double => "double".into(),
        Type::Bytes => "bytes".into(),
        Type::String => "string".into(),
        Type::Array(_) => "array".into(),
        Type::Map(_) => "map".into(),
        Type::Union(_) => "union".into(),
        Type::Named(i) => schema.named_types()[*i].name.clone(),
    }
}

/// A definition's shape with named references by full name, to compare across schemas.
fn signature(schema: &AvroSchema, named: &Named) -> String {
    fn ty(schema: &AvroSchema, t: &Type) -> String {
        match t {
            Type::Array(i) => format!("array<{}>", ty(schema, i)),
            Type::Map(v) => format!("map<{}>", ty(schema, v)),
            Type::Union(bs) => {
                let parts: Vec<String> = bs.iter().map(|b| ty(schema, b)).collect();
                format!("[{}]", parts.join(","))
            }
            other => avro_name(schema, other),
        }
    }
    match &named.kind {
        NamedKind::Record(fields) => {
            let parts: Vec<String> = fields
                .iter()
                .map(|f| {
                    let default = f.default.as_ref().map(Value::to_string).unwrap_or_default();
                    format!("{}:{}={}", f.name, ty(schema, &f.ty), default)
                })
                .collect();
            format!("record{{{}}}", parts.join(";"))
        }
        NamedKind::Enum(symbols) => format!("enum{{{}}}", symbols.join(",")),
        NamedKind::Fixed(size) => format!("fixed{{{size}}}"),
    }
}

pub(super) fn enum_constant(type_name: &str, symbol: &str) -> String {
    format!("{}_{}", screaming(type_name), screaming(symbol))
}

/// A declaration of `name` with type `ty` (`char *text`, `int32_t count`).
fn declare(ty: &CType, name: &str) -> String {
    let c_type = ty.c_type();
    if c_type.ends_with('*') {
        format!("{c_type}{name}")
    } else {
        format!("{c_type} {name}")
    }
}

/// The member of a union holding branch `ty`.
fn branch_member(ty: &CType) -> String {
    format!("as_{}", ty.mangle())
}

fn composite_struct(out: &mut String, ty: &CType) {
    let name = ty.base();
    match ty {
        CType::Array(item) => {
            writeln!(
                out,
                "typedef struct {{\n    {};\n    size_t count;\n}} {name}_t;\n",
                declare(item, "*items")
            )
            .unwrap();
        }
        CType::Map(value) => {
            writeln!(
                out,
                "typedef struct {{\n    char **keys;\n    {};\n    size_t count;\n}} {name}_t;\n",
                declare(value, "*values")
            )
            .unwrap();
        }
        CType::Union(branches) => {
            for (i, (b, _)) in branches.iter().enumerate() {
                writeln!(
                    out,
                    "#define {}_{} {i}",
                    screaming(&name),
                    screaming(&branch_member(b))
                )
                .unwrap();
            }
            writeln!(
                out,
                "typedef struct {{\n    int branch; /* which member holds the value */\n    union {{"
            )
            .unwrap();
            let mut any = false;
            for (b, _) in branches {
                if *b != CType::Null {
                    any = true;
                    writeln!(out, "        {};", declare(b, &branch_member(b))).unwrap();
                }
            }
            if !any {
                out.push_str("        char unused_;\n");
            }
            writeln!(out, "    }} value;\n}} {name}_t;\n").unwrap();
        }
        _ => unreachable!("not a composite"),
    }
}

/// Statements writing value `v` (an lvalue expression) of type `ty`.
fn ser(ty: &CType, v: &str) -> String {
    match ty {
        CType::Null => String::new(),
        CType::Boolean => format!("kaa_avro_write_boolean(w, {v});\n"),
        CType::Int => format!("kaa_avro_write_int(w, {v});\n"),
        CType::Long => format!("kaa_avro_write_long(w, {v});\n"),
        CType::Float => format!("kaa_avro_write_float(w, {v});\n"),
        CType::Double => format!("kaa_avro_write_double(w, {v});\n"),
        CType::Bytes => format!("kaa_avro_write_bytes(w, {v}.data, {v}.size);\n"),
        CType::String => format!("kaa_avro_write_string(w, {v});\n"),
        CType::Boxed(n) => format!(
            "if ({v}) {{\n    {n}_serialize(w, {v});\n}} else {{\n    {n}_t zero_;\n    memset(&zero_, 0, sizeof(zero_));\n    {n}_serialize(w, &zero_);\n}}\n"
        ),
        _ => format!("{}_serialize(w, &{v});\n", ty.base()),
    }
}

/// Statements reading into lvalue `v` (zeroed beforehand).
fn read(ty: &CType, v: &str) -> String {
    match ty {
        CType::Null => String::new(),
        CType::Boolean => format!("{v} = kaa_avro_read_boolean(r);\n"),
        CType::Int => format!("{v} = kaa_avro_read_int(r);\n"),
        CType::Long => format!("{v} = kaa_avro_read_long(r);\n"),
        CType::Float => format!("{v} = kaa_avro_read_float(r);\n"),
        CType::Double => format!("{v} = kaa_avro_read_double(r);\n"),
        CType::Bytes => format!("kaa_avro_read_bytes(r, &{v});\n"),
        CType::String => format!("{v} = kaa_avro_read_string(r);\n"),
        CType::Boxed(n) => format!(
            "if (!({v} = calloc(1, sizeof(*{v})))) {{\n    kaa_reader_fail(r);\n}} else {{\n    {n}_read(r, {v});\n}}\n"
        ),
        _ => format!("{}_read(r, &{v});\n", ty.base()),
    }
}

/// Statements releasing what lvalue `v` owns.
fn release(ty: &CType, v: &str) -> String {
    match ty {
        CType::Bytes => format!("free({v}.data);\n"),
        CType::String => format!("free({v});\n"),
        CType::Boxed(n) => format!("if ({v}) {{\n    {n}_free({v});\n    free({v});\n}}\n"),
        t if t.needs_free() => format!("{}_free(&{v});\n", t.base()),
        _ => String::new(),
    }
}

/// Statements printing `v` as JSON.
fn json(ty: &CType, v: &str) -> String {
    match ty {
        CType::Null => "kaa_json_raw(w, \"null\");\n".into(),
        CType::Boolean => format!("kaa_json_boolean(w, {v});\n"),
        CType::Int | CType::Long => format!("kaa_json_long(w, {v});\n"),
        CType::Float | CType::Double => format!("kaa_json_double(w, {v});\n"),
        CType::Bytes => format!("kaa_json_bytes(w, {v}.data, {v}.size);\n"),
        CType::String => format!("kaa_json_string(w, {v});\n"),
        CType::Boxed(n) => format!(
            "if ({v}) {{\n    {n}_to_json(w, {v});\n}} else {{\n    {n}_t zero_;\n    memset(&zero_, 0, sizeof(zero_));\n    {n}_to_json(w, &zero_);\n}}\n"
        ),
        _ => format!("{}_to_json(w, &{v});\n", ty.base()),
    }
}

fn indent(code: &str, levels: usize) -> String {
    let pad = "    ".repeat(levels);
    code.lines()
        .map(|l| {
            if l.is_empty() {
                "\n".to_string()
            } else {
                format!("{pad}{l}\n")
            }
        })
        .collect()
}

/// A C string literal of `bytes` (octal escapes outside printable ASCII).
pub(super) fn c_string(bytes: &[u8]) -> String {
    let mut out = String::from("\"");
    for &b in bytes {
        match b {
            b'"' => out.push_str("\\\""),
            b'\\' => out.push_str("\\\\"),
            b'?' => out.push_str("\\?"),
            0x20..=0x7e => out.push(b as char),
            _ => write!(out, "\\{b:03o}").unwrap(),
        }
    }
    out.push('"');
    out
}

/// The bytes of an Avro JSON default of `bytes` or `fixed`: one char per byte.
fn default_bytes(value: &Value) -> Vec<u8> {
    value
        .as_str()
        .unwrap_or_default()
        .chars()
        .map(|c| u8::try_from(u32::from(c)).unwrap_or(b'?'))
        .collect()
}

fn c_double(x: f64) -> String {
    if x.is_finite() {
        let text = format!("{x:?}");
        if text.contains(['.', 'e', 'E']) {
            text
        } else {
            format!("{text}.0")
        }
    } else if x.is_nan() {
        "NAN".into()
    } else if x > 0.0 {
        "INFINITY".into()
    } else {
        "-INFINITY".into()
    }
}

/// Statements setting lvalue `v` (zeroed) to the Avro JSON default `value`.
/// The fields of every record, by C name.
type Records = HashMap<String, Vec<CField>>;

fn default_code(ty: &CType, value: &Value, v: &str, records: &Records) -> String {
    match ty {
        CType::Null => String::new(),
        CType::Boolean => format!("{v} = {};\n", value.as_bool().unwrap_or(false)),
        CType::Int => format!("{v} = {};\n", value.as_i64().unwrap_or(0)),
        CType::Long => format!("{v} = INT64_C({});\n", value.as_i64().unwrap_or(0)),
        CType::Float => format!(
            "{v} = (float){};\n",
            c_double(value.as_f64().unwrap_or(0.0))
        ),
        CType::Double => format!("{v} = {};\n", c_double(value.as_f64().unwrap_or(0.0))),
        CType::String => format!(
            "{v} = kaa_strdup({});\n",
            c_string(value.as_str().unwrap_or_default().as_bytes())
        ),
        CType::Bytes => {
            let bytes = default_bytes(value);
            if bytes.is_empty() {
                String::new()
            } else {
                format!(
                    "{v}.data = malloc({n});\nif ({v}.data) {{\n    memcpy({v}.data, {}, {n});\n    {v}.size = {n};\n}}\n",
                    c_string(&bytes),
                    n = bytes.len()
                )
            }
        }
        CType::Fixed(_, size) => {
            let mut bytes = default_bytes(value);
            bytes.resize(*size, 0);
            if bytes.is_empty() {
                String::new()
            } else {
                format!("memcpy({v}.data, {}, {});\n", c_string(&bytes), size)
            }
        }
        CType::Enum(name, symbols) => {
            let symbol = value
                .as_str()
                .filter(|s| symbols.iter().any(|x| x == s))
                .unwrap_or(&symbols[0]);
            format!("{v} = {};\n", enum_constant(name, symbol))
        }
        CType::Boxed(name) => format!(
            "{v} = calloc(1, sizeof(*{v}));\nif ({v}) {{\n{}}}\n",
            indent(
                &default_code(
                    &CType::Record(name.clone()),
                    value,
                    &format!("(*{v})"),
                    records
                ),
                1
            )
        ),
        CType::Record(name) => {
            let mut out = format!("{name}_init_default(&{v});\n");
            if let Some(object) = value.as_object() {
                for f in records.get(name).into_iter().flatten() {
                    if let Some(given) = object.get(&f.name) {
                        let member = format!("{v}.{}", f.member);
                        out.push_str(&release(&f.ty, &member));
                        out.push_str(&format!("memset(&{member}, 0, sizeof({member}));\n"));
                        out.push_str(&default_code(&f.ty, given, &member, records));
                    }
                }
            }
            out
        }
        CType::Array(item) => {
            let items = value.as_array().cloned().unwrap_or_default();
            if items.is_empty() {
                return String::new();
            }
            let mut body = String::new();
            for (i, item_value) in items.iter().enumerate() {
                body.push_str(&default_code(
                    item,
                    item_value,
                    &format!("{v}.items[{i}]"),
                    records,
                ));
            }
            format!(
                "{v}.items = calloc({n}, sizeof(*{v}.items));\nif ({v}.items) {{\n    {v}.count = {n};\n{}}}\n",
                indent(&body, 1),
                n = items.len()
            )
        }
        CType::Map(value_ty) => {
            let entries = value.as_object().cloned().unwrap_or_default();
            if entries.is_empty() {
                return String::new();
            }
            let mut body = String::new();
            for (i, (key, entry)) in entries.iter().enumerate() {
                body.push_str(&format!(
                    "{v}.keys[{i}] = kaa_strdup({});\n",
                    c_string(key.as_bytes())
                ));
                body.push_str(&default_code(
                    value_ty,
                    entry,
                    &format!("{v}.values[{i}]"),
                    records,
                ));
            }
            format!(
                "{v}.keys = calloc({n}, sizeof(*{v}.keys));\n{v}.values = calloc({n}, sizeof(*{v}.values));\nif ({v}.keys && {v}.values) {{\n    {v}.count = {n};\n{}}}\n",
                indent(&body, 1),
                n = entries.len()
            )
        }
        CType::Union(branches) => {
            let (first, _) = &branches[0];
            let member = format!("{v}.value.{}", branch_member(first));
            let mut out = format!("{v}.branch = 0;\n");
            if *first != CType::Null {
                out.push_str(&default_code(first, value, &member, records));
            }
            out
        }
    }
}

type Bodies = (String, String, String, String, String);

fn record_bodies(fields: &[CField], records: &Records) -> Bodies {
    let (mut init, mut s, mut r, mut f, mut j) = (
        String::new(),
        String::new(),
        String::new(),
        String::new(),
        String::new(),
    );
    // Nesting is bounded, so hostile input to a recursive schema cannot exhaust the stack.
    r.push_str(
        "if (r->depth >= KAA_AVRO_MAX_DEPTH) {\n    kaa_reader_fail(r);\n    return;\n}\nr->depth++;\n",
    );
    j.push_str("kaa_json_raw(w, \"{\");\n");
    for (i, field) in fields.iter().enumerate() {
        let v = format!("v->{}", field.member);
        match (&field.default, &field.ty) {
            (Some(default), ty) => init.push_str(&default_code(ty, default, &v, records)),
            // A nested record without a default of its own still gets its fields' defaults.
            (None, CType::Record(name)) => init.push_str(&format!("{name}_init_default(&{v});\n")),
            (None, _) => {}
        }
        s.push_str(&ser(&field.ty, &v));
        r.push_str(&read(&field.ty, &v));
        f.push_str(&release(&field.ty, &v));
        let key = Value::from(field.name.as_str()).to_string();
        let sep = if i == 0 { "" } else { "," };
        j.push_str(&format!(
            "kaa_json_raw(w, {});\n",
            c_string(format!("{sep}{key}:").as_bytes())
        ));
        j.push_str(&json(&field.ty, &v));
    }
    r.push_str("r->depth--;\n");
    j.push_str("kaa_json_raw(w, \"}\");\n");
    (
        indent(&init, 1),
        indent(&s, 1),
        indent(&r, 1),
        indent(&f, 1),
        indent(&j, 1),
    )
}

fn enum_bodies(name: &str, symbols: &[String]) -> Bodies {
    let names: Vec<String> = symbols.iter().map(|s| c_string(s.as_bytes())).collect();
    (
        String::new(),
        "    kaa_avro_write_long(w, (int64_t)*v);\n".into(),
        format!(
            "    *v = ({name}_t)kaa_avro_read_index(r, {});\n",
            symbols.len()
        ),
        String::new(),
        format!(
            "    static const char *const names[] = {{{}}};\n    size_t i = (size_t)*v;\n    kaa_json_string(w, i < {} ? names[i] : \"\");\n",
            names.join(", "),
            symbols.len()
        ),
    )
}

fn fixed_bodies(size: usize) -> Bodies {
    (
        String::new(),
        format!("    kaa_avro_write_fixed(w, v->data, {size});\n"),
        format!("    kaa_avro_read_fixed(r, v->data, {size});\n"),
        String::new(),
        format!("    kaa_json_bytes(w, v->data, {size});\n"),
    )
}

fn composite_bodies(ty: &CType) -> Bodies {
    match ty {
        CType::Array(item) => (
            String::new(),
            format!(
                "    if (v->count) {{\n        kaa_avro_write_long(w, (int64_t)v->count);\n        for (size_t i = 0; i < v->count; i++) {{\n{}        }}\n    }}\n    kaa_avro_write_long(w, 0);\n",
                indent(&ser(item, "v->items[i]"), 3)
            ),
            format!(
                "    size_t n;\n    while ((n = kaa_avro_read_block(r)) > 0) {{\n        if (!kaa_grow((void **)&v->items, sizeof(*v->items), v->count, n)) {{\n            kaa_reader_fail(r);\n            return;\n        }}\n        for (size_t i = 0; i < n; i++) {{\n{}        }}\n        v->count += n;\n    }}\n",
                indent(&read(item, "v->items[v->count + i]"), 3)
            ),
            format!(
                "    for (size_t i = 0; i < v->count; i++) {{\n{}    }}\n    free(v->items);\n",
                indent(&release(item, "v->items[i]"), 2)
            ),
            format!(
                "    kaa_json_raw(w, \"[\");\n    for (size_t i = 0; i < v->count; i++) {{\n        if (i) {{\n            kaa_json_raw(w, \",\");\n        }}\n{}    }}\n    kaa_json_raw(w, \"]\");\n",
                indent(&json(item, "v->items[i]"), 2)
            ),
        ),
        CType::Map(value) => (
            String::new(),
            format!(
                "    if (v->count) {{\n        kaa_avro_write_long(w, (int64_t)v->count);\n        for (size_t i = 0; i < v->count; i++) {{\n            kaa_avro_write_string(w, v->keys[i]);\n{}        }}\n    }}\n    kaa_avro_write_long(w, 0);\n",
                indent(&ser(value, "v->values[i]"), 3)
            ),
            format!(
                "    size_t n;\n    while ((n = kaa_avro_read_block(r)) > 0) {{\n        if (!kaa_grow((void **)&v->keys, sizeof(*v->keys), v->count, n) ||\n            !kaa_grow((void **)&v->values, sizeof(*v->values), v->count, n)) {{\n            kaa_reader_fail(r);\n            return;\n        }}\n        for (size_t i = 0; i < n; i++) {{\n            v->keys[v->count + i] = kaa_avro_read_string(r);\n{}        }}\n        v->count += n;\n    }}\n",
                indent(&read(value, "v->values[v->count + i]"), 3)
            ),
            format!(
                "    for (size_t i = 0; i < v->count; i++) {{\n        free(v->keys[i]);\n{}    }}\n    free(v->keys);\n    free(v->values);\n",
                indent(&release(value, "v->values[i]"), 2)
            ),
            format!(
                "    kaa_json_raw(w, \"{{\");\n    for (size_t i = 0; i < v->count; i++) {{\n        if (i) {{\n            kaa_json_raw(w, \",\");\n        }}\n        kaa_json_string(w, v->keys[i]);\n        kaa_json_raw(w, \":\");\n{}    }}\n    kaa_json_raw(w, \"}}\");\n",
                indent(&json(value, "v->values[i]"), 2)
            ),
        ),
        CType::Union(branches) => {
            let (mut s, mut r, mut f, mut j) =
                (String::new(), String::new(), String::new(), String::new());
            for (i, (b, avro)) in branches.iter().enumerate() {
                let member = format!("v->value.{}", branch_member(b));
                let case = |code: String| format!("case {i}:\n{}    break;\n", indent(&code, 1));
                s.push_str(&case(ser(b, &member)));
                r.push_str(&case(read(b, &member)));
                f.push_str(&case(release(b, &member)));
                let print = if *b == CType::Null {
                    "kaa_json_raw(w, \"null\");\n".to_string()
                } else {
                    let key = Value::from(avro.as_str()).to_string();
                    format!(
                        "kaa_json_raw(w, {});\n{}kaa_json_raw(w, \"}}\");\n",
                        c_string(format!("{{{key}:").as_bytes()),
                        json(b, &member)
                    )
                };
                j.push_str(&case(print));
            }
            let n = branches.len();
            (
                String::new(),
                format!(
                    "    if (v->branch < 0 || v->branch >= {n}) {{\n        w->failed = true;\n        return -1;\n    }}\n    kaa_avro_write_long(w, v->branch);\n    switch (v->branch) {{\n{}    default:\n        break;\n    }}\n",
                    indent(&s, 1)
                ),
                format!(
                    "    v->branch = (int)kaa_avro_read_index(r, {n});\n    switch (v->branch) {{\n{}    default:\n        break;\n    }}\n",
                    indent(&r, 1)
                ),
                format!(
                    "    switch (v->branch) {{\n{}    default:\n        break;\n    }}\n",
                    indent(&f, 1)
                ),
                format!(
                    "    switch (v->branch) {{\n{}    default:\n        kaa_json_raw(w, \"null\");\n        break;\n    }}\n",
                    indent(&j, 1)
                ),
            )
        }
        _ => unreachable!("not a composite"),
    }
}
