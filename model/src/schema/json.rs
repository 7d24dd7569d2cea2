//! JSON documents against a schema, in one walk that validates and, when asked, writes Avro
//! binary as it goes: validation and encoding cannot disagree, because they are the same code.
//!
//! The walk runs in one of two modes. *Document* mode reads what the admin API receives: a
//! union value may be bare (`null`, `42`, `{"interval": 5}`) or wrapped as in Avro's JSON
//! encoding (`{"int": 42}`). *Default* mode reads field defaults, where Avro's rule is that a
//! union's default is a bare value of its first branch.
//!
//! A bare union value is matched by its JSON shape first (a string can only be a string,
//! bytes, enum or fixed branch, …) and only the branches of the right shape are tried in full;
//! when several fit, the value is ambiguous and must be wrapped. Only unions with several
//! branches of one shape (two records, `int` and `long`) cost more than one trial per level.

use kaa_idl::avro::Writer;
use serde_json::Value;

use super::error::ValidationError;
use super::types::{
    Field, Named, NamedKind, Seg, Type, describe, non_finite, render_path, value_kind,
};
use super::{AvroSchema, MAX_DEPTH, MAX_ERRORS};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Document,
    Default,
}

/// Every problem in `doc`, or none.
pub(crate) fn validate(schema: &AvroSchema, doc: &Value) -> Result<(), Vec<ValidationError>> {
    let mut walk = Walk::new(schema, Mode::Document, true, false);
    let ok = walk.value(&schema.root, doc, 0);
    walk.finish(ok).map(drop)
}

/// `doc` in Avro binary, missing fields filled from their defaults.
pub(crate) fn encode(schema: &AvroSchema, doc: &Value) -> Result<Vec<u8>, Vec<ValidationError>> {
    let mut walk = Walk::new(schema, Mode::Document, true, true);
    let ok = walk.value(&schema.root, doc, 0);
    walk.finish(ok)
}

/// Whether `default` is a valid default value for `ty`.
pub(crate) fn check_default(
    schema: &AvroSchema,
    ty: &Type,
    default: &Value,
) -> Result<(), Vec<ValidationError>> {
    let mut walk = Walk::new(schema, Mode::Default, true, false);
    let ok = walk.value(ty, default, 0);
    walk.finish(ok).map(drop)
}

struct Walk<'a> {
    schema: &'a AvroSchema,
    mode: Mode,
    /// Collect every error with its path; otherwise (a trial of a union branch) stop at the
    /// first and record nothing.
    report: bool,
    path: Vec<Seg<'a>>,
    errors: Vec<ValidationError>,
    out: Option<Writer>,
}

impl<'a> Walk<'a> {
    fn new(schema: &'a AvroSchema, mode: Mode, report: bool, encode: bool) -> Self {
        Walk {
            schema,
            mode,
            report,
            path: Vec::new(),
            errors: Vec::new(),
            out: encode.then(Writer::new),
        }
    }

    /// The walk's result; `ok` is what the top-level [`value`](Self::value) returned, and a
    /// reporting walk fails exactly when it recorded an error.
    fn finish(self, ok: bool) -> Result<Vec<u8>, Vec<ValidationError>> {
        debug_assert_eq!(ok, self.errors.is_empty(), "{:?}", self.errors);
        if self.errors.is_empty() {
            Ok(self.out.map(Writer::into_bytes).unwrap_or_default())
        } else {
            Err(self.errors)
        }
    }

    /// Whether branch `ty` accepts `value`, without reporting or writing anything.
    fn trial(&self, ty: &'a Type, value: &'a Value, depth: usize) -> bool {
        Walk::new(self.schema, self.mode, false, false).value(ty, value, depth)
    }

    fn fail(&mut self, message: impl FnOnce() -> String) -> bool {
        if self.report && self.errors.len() < MAX_ERRORS {
            self.errors.push(ValidationError {
                path: render_path(&self.path),
                message: message(),
            });
        }
        false
    }

    fn mismatch(&mut self, expected: &str, value: &Value) -> bool {
        self.fail(|| format!("expected {expected}, found {}", describe(value)))
    }

    /// Whether a failed walk should skip the rest of a record, array or map.
    fn give_up(&self, ok: bool) -> bool {
        !ok && (!self.report || self.errors.len() >= MAX_ERRORS)
    }

    fn emit(&mut self, write: impl FnOnce(&mut Writer)) {
        if let Some(out) = &mut self.out {
            write(out);
        }
    }

    /// Dispatches on the type. The recursion runs through this function and the container
    /// functions only, each with a small frame, so that deep documents stay within thread
    /// stacks even in debug builds.
    fn value(&mut self, ty: &'a Type, value: &'a Value, depth: usize) -> bool {
        if depth >= MAX_DEPTH {
            return self.fail(|| "values are nested too deeply".into());
        }
        match ty {
            Type::Null if value.is_null() => true,
            Type::Null => self.mismatch("null", value),
            Type::Boolean => self.boolean(value),
            Type::Int => self.integer("int", i64::from(i32::MIN), i64::from(i32::MAX), value),
            Type::Long => self.integer("long", i64::MIN, i64::MAX, value),
            Type::Float => self.float(value),
            Type::Double => self.double(value),
            Type::Bytes => self.bytes(value),
            Type::String => self.string(value),
            Type::Array(items) => self.array(items, value, depth),
            Type::Map(values) => self.map(values, value, depth),
            Type::Union(branches) => self.union(branches, value, depth),
            Type::Named(i) => {
                let named = &self.schema.types[*i];
                match &named.kind {
                    NamedKind::Record(fields) => self.record(named, fields, value, depth),
                    NamedKind::Enum(symbols) => self.symbol(named, symbols, value),
                    NamedKind::Fixed(size) => self.fixed(named, *size, value),
                }
            }
        }
    }

    fn boolean(&mut self, value: &Value) -> bool {
        match value {
            Value::Bool(b) => {
                self.emit(|out| out.boolean(*b));
                true
            }
            _ => self.mismatch("a boolean", value),
        }
    }

    fn float(&mut self, value: &Value) -> bool {
        match self.number("float", value) {
            Some(x) if x.is_finite() && (x as f32).is_infinite() => {
                self.fail(|| format!("{value} is out of the float range"))
            }
            Some(x) => {
                self.emit(|out| out.float(x as f32));
                true
            }
            None => false,
        }
    }

    fn double(&mut self, value: &Value) -> bool {
        match self.number("double", value) {
            Some(x) => {
                self.emit(|out| out.double(x));
                true
            }
            None => false,
        }
    }

    fn bytes(&mut self, value: &Value) -> bool {
        match self.latin1("bytes", value) {
            Some(bytes) => {
                self.emit(|out| out.bytes(&bytes));
                true
            }
            None => false,
        }
    }

    fn string(&mut self, value: &Value) -> bool {
        match value {
            Value::String(s) => {
                self.emit(|out| out.string(s));
                true
            }
            _ => self.mismatch("a string", value),
        }
    }

    fn integer(&mut self, name: &str, min: i64, max: i64, value: &Value) -> bool {
        let Value::Number(n) = value else {
            return self.mismatch(&format!("{name} (an integer)"), value);
        };
        match n.as_i64() {
            Some(x) if (min..=max).contains(&x) => {
                self.emit(|out| out.long(x));
                true
            }
            _ if n.is_i64() || n.is_u64() => {
                self.fail(|| format!("{n} is out of the {name} range ({min}..={max})"))
            }
            _ => self.fail(|| format!("expected {name} (an integer), found {n}")),
        }
    }

    /// A float or double: a JSON number, or `"NaN"`, `"Infinity"`, `"-Infinity"`.
    fn number(&mut self, name: &str, value: &Value) -> Option<f64> {
        let x = match value {
            Value::Number(n) => n.as_f64(),
            Value::String(s) => non_finite(s),
            _ => None,
        };
        if x.is_none() {
            self.mismatch(
                &format!("{name} (a number, \"NaN\", \"Infinity\" or \"-Infinity\")"),
                value,
            );
        }
        x
    }

    /// Bytes as Avro's JSON encoding writes them: a string of code points U+0000..=U+00FF, one
    /// per byte.
    fn latin1(&mut self, name: &str, value: &Value) -> Option<Vec<u8>> {
        let Value::String(s) = value else {
            self.mismatch(
                &format!("{name} (a string of characters U+0000..U+00FF)"),
                value,
            );
            return None;
        };
        let bytes: Result<Vec<u8>, char> =
            s.chars().map(|c| u8::try_from(c).map_err(|_| c)).collect();
        match bytes {
            Ok(bytes) => Some(bytes),
            Err(c) => {
                self.fail(|| {
                    format!(
                        "character {c:?} (U+{:04X}) is above U+00FF; {name} are written one \
                         character per byte",
                        u32::from(c)
                    )
                });
                None
            }
        }
    }

    fn fixed(&mut self, named: &Named, size: usize, value: &Value) -> bool {
        match self.latin1(&format!("fixed `{}`", named.name), value) {
            Some(bytes) if bytes.len() == size => {
                self.emit(|out| out.fixed(&bytes));
                true
            }
            Some(bytes) => self.fail(|| {
                format!(
                    "fixed `{}` takes exactly {size} bytes, found {}",
                    named.name,
                    bytes.len()
                )
            }),
            None => false,
        }
    }

    fn symbol(&mut self, named: &Named, symbols: &[String], value: &Value) -> bool {
        let Value::String(s) = value else {
            return self.mismatch(&format!("a symbol of enum `{}`", named.name), value);
        };
        match symbols.iter().position(|symbol| symbol == s) {
            Some(i) => {
                self.emit(|out| out.enum_symbol(i));
                true
            }
            None => self.fail(|| {
                format!(
                    "{s:?} is not a symbol of enum `{}` ({})",
                    named.name,
                    symbols.join(", ")
                )
            }),
        }
    }

    fn array(&mut self, items: &'a Type, value: &'a Value, depth: usize) -> bool {
        let Value::Array(elements) = value else {
            return self.mismatch("an array", value);
        };
        if !elements.is_empty() {
            self.emit(|out| out.long(elements.len() as i64));
        }
        let mut ok = true;
        for (i, element) in elements.iter().enumerate() {
            self.path.push(Seg::Index(i));
            ok &= self.value(items, element, depth + 1);
            self.path.pop();
            if self.give_up(ok) {
                return false;
            }
        }
        self.emit(|out| out.long(0));
        ok
    }

    fn map(&mut self, values: &'a Type, value: &'a Value, depth: usize) -> bool {
        let Value::Object(entries) = value else {
            return self.mismatch("an object (a map)", value);
        };
        if !entries.is_empty() {
            self.emit(|out| out.long(entries.len() as i64));
        }
        let mut ok = true;
        for (key, entry) in entries {
            self.emit(|out| out.string(key));
            self.path.push(Seg::Key(key));
            ok &= self.value(values, entry, depth + 1);
            self.path.pop();
            if self.give_up(ok) {
                return false;
            }
        }
        self.emit(|out| out.long(0));
        ok
    }

    /// Fields in schema order; an absent field takes its default; unknown keys are errors.
    fn record(
        &mut self,
        named: &Named,
        fields: &'a [Field],
        value: &'a Value,
        depth: usize,
    ) -> bool {
        let Value::Object(obj) = value else {
            return self.mismatch(&format!("an object (record `{}`)", named.name), value);
        };
        let mut ok = true;
        for field in fields {
            ok &= match (obj.get(&field.name), &field.default) {
                (Some(v), _) => {
                    self.path.push(Seg::Key(&field.name));
                    let field_ok = self.value(&field.ty, v, depth + 1);
                    self.path.pop();
                    field_ok
                }
                (None, Some(default)) => {
                    self.path.push(Seg::Key(&field.name));
                    let mode = std::mem::replace(&mut self.mode, Mode::Default);
                    let field_ok = self.value(&field.ty, default, depth + 1);
                    self.mode = mode;
                    self.path.pop();
                    field_ok
                }
                (None, None) => {
                    self.fail(|| format!("missing field `{}`, which has no default", field.name))
                }
            };
            if self.give_up(ok) {
                return false;
            }
        }
        for key in obj.keys() {
            if !fields.iter().any(|f| f.name == *key) {
                self.path.push(Seg::Key(key));
                ok = self.fail(|| {
                    format!(
                        "unknown field: record `{}` has no field `{key}`",
                        named.name
                    )
                });
                self.path.pop();
                if self.give_up(ok) {
                    return false;
                }
            }
        }
        ok
    }

    fn union(&mut self, branches: &'a [Type], value: &'a Value, depth: usize) -> bool {
        if self.mode == Mode::Default {
            return self.branch(branches, 0, None, value, depth);
        }
        // `{"type name": inner}`, Avro's own JSON for unions, when the key names a branch.
        let mut wrapped = None;
        if let Value::Object(obj) = value
            && obj.len() == 1
            && let Some((key, inner)) = obj.iter().next()
            && let Some(i) = self.schema.branch_named(branches, key)
        {
            if self.trial(&branches[i], inner, depth + 1) {
                return self.branch(branches, i, Some(key), inner, depth);
            }
            wrapped = Some((i, key, inner));
        }
        // A bare value: the one branch it fits.
        let kind = value_kind(value);
        let shaped: Vec<usize> = (0..branches.len())
            .filter(|&i| self.schema.kinds(&branches[i]) & kind != 0)
            .collect();
        let fitting: Vec<usize> = if shaped.len() == 1 && wrapped.is_none() {
            // The only candidate: walk it for real so that errors point inside it.
            shaped.clone()
        } else {
            shaped
                .iter()
                .copied()
                .filter(|&i| self.trial(&branches[i], value, depth + 1))
                .collect()
        };
        match (fitting.as_slice(), wrapped) {
            ([i], _) => self.branch(branches, *i, None, value, depth),
            ([], Some((i, key, inner))) => self.branch(branches, i, Some(key), inner, depth),
            ([], None) => {
                let names = self.names(branches, 0..branches.len());
                if shaped.is_empty() {
                    self.fail(|| format!("expected one of {names}, found {}", describe(value)))
                } else {
                    self.fail(|| format!("matches none of the union's branches {names}"))
                }
            }
            (several, _) => {
                let names = self.names(branches, several.iter().copied());
                let first = self.schema.type_name(&branches[several[0]]);
                self.fail(|| {
                    format!(
                        "ambiguous: fits the union branches {names}; wrap it as \
                         {{\"{first}\": …}} to choose one"
                    )
                })
            }
        }
    }

    fn branch(
        &mut self,
        branches: &'a [Type],
        index: usize,
        key: Option<&'a str>,
        value: &'a Value,
        depth: usize,
    ) -> bool {
        self.emit(|out| out.union_branch(index as i64));
        if let Some(key) = key {
            self.path.push(Seg::Key(key));
        }
        let ok = self.value(&branches[index], value, depth + 1);
        if key.is_some() {
            self.path.pop();
        }
        ok
    }

    fn names(&self, branches: &[Type], indices: impl Iterator<Item = usize>) -> String {
        let names: Vec<&str> = indices
            .map(|i| self.schema.type_name(&branches[i]))
            .collect();
        format!("({})", names.join(", "))
    }
}
