//! Evaluation of a checked tree against two profile documents.
//!
//! Values borrow from the profiles and the tree ([`Val`]), so reading a field copies nothing;
//! only string concatenation, case conversion and `string()` allocate. Every node evaluated,
//! list element visited and 64 bytes of string scanned or built costs one step from a fixed
//! budget ([`MAX_EVAL_STEPS`]), which bounds time and memory whatever the profiles hold.
//!
//! A read of an absent (or null) value yields [`Fault::Absent`] rather than a value. Like any
//! error, `&&`, `||`, `exists` and `all` absorb it when another operand decides the result
//! (CEL's commutative logic); everywhere else it propagates, and at the top it means "no match".

use std::borrow::Cow;
use std::cmp::Ordering;

use serde_json::{Map, Value};

use super::MAX_EVAL_STEPS;
use super::syntax::{BinOp, Expr, Func, Kind, Lit, Var};

/// How evaluation went wrong.
#[derive(Debug)]
pub(super) enum Fault {
    /// The filter read a field the profile does not have, or whose value is null.
    Absent,
    /// A run-time type error, overflow or division by zero, at a byte offset.
    Error(usize, String),
    /// The step budget ran out; never absorbed.
    Budget,
}

type Eval<'a> = Result<Val<'a>, Fault>;

/// A run-time value.
#[derive(Debug, Clone)]
pub(super) enum Val<'a> {
    Null,
    Bool(bool),
    Int(i64),
    Double(f64),
    Str(Cow<'a, str>),
    List(List<'a>),
    Map(&'a Map<String, Value>),
}

#[derive(Debug, Clone)]
pub(super) enum List<'a> {
    /// A list in a profile.
    Json(&'a [Value]),
    /// A list literal in the filter.
    Built(Vec<Val<'a>>),
}

impl<'a> List<'a> {
    fn len(&self) -> usize {
        match self {
            List::Json(items) => items.len(),
            List::Built(items) => items.len(),
        }
    }

    fn get(&self, index: usize) -> Option<Val<'a>> {
        match self {
            List::Json(items) => items.get(index).map(Val::from_json),
            List::Built(items) => items.get(index).cloned(),
        }
    }
}

impl<'a> Val<'a> {
    /// JSON integers that fit an `i64` are ints; every other number is a double.
    fn from_json(value: &'a Value) -> Val<'a> {
        match value {
            Value::Null => Val::Null,
            Value::Bool(b) => Val::Bool(*b),
            Value::Number(n) => n
                .as_i64()
                .map_or_else(|| Val::Double(n.as_f64().unwrap_or(f64::NAN)), Val::Int),
            Value::String(s) => Val::Str(Cow::Borrowed(s)),
            Value::Array(items) => Val::List(List::Json(items)),
            Value::Object(map) => Val::Map(map),
        }
    }

    /// CEL's name for the value's type, for messages.
    pub(super) fn type_name(&self) -> &'static str {
        match self {
            Val::Null => "null",
            Val::Bool(_) => "bool",
            Val::Int(_) => "int",
            Val::Double(_) => "double",
            Val::Str(_) => "string",
            Val::List(_) => "list",
            Val::Map(_) => "map",
        }
    }
}

/// Profiles nested deeper than this are not compared with `==` or `in`; serde_json's own parser
/// stops at 128 levels, so only hand-built documents can reach it.
const MAX_COMPARE_DEPTH: usize = 128;

pub(super) struct Evaluator<'a> {
    client: &'a Value,
    server: &'a Value,
    /// The variables of the enclosing `exists`/`all`, outermost first.
    locals: Vec<Val<'a>>,
    steps: usize,
}

impl<'a> Evaluator<'a> {
    pub(super) fn new(client: &'a Value, server: &'a Value) -> Self {
        Evaluator {
            client,
            server,
            locals: Vec::new(),
            steps: 0,
        }
    }

    fn charge(&mut self, steps: usize) -> Result<(), Fault> {
        self.steps = self.steps.saturating_add(steps);
        if self.steps > MAX_EVAL_STEPS {
            Err(Fault::Budget)
        } else {
            Ok(())
        }
    }

    /// Charges for scanning or building `bytes` bytes of string.
    fn charge_bytes(&mut self, bytes: usize) -> Result<(), Fault> {
        self.charge(1 + bytes / 64)
    }

    pub(super) fn eval(&mut self, expr: &'a Expr) -> Eval<'a> {
        self.charge(1)?;
        let pos = expr.pos;
        match &expr.kind {
            Kind::Lit(lit) => Ok(match lit {
                Lit::Null => Val::Null,
                Lit::Bool(b) => Val::Bool(*b),
                Lit::Int(n) => Val::Int(*n),
                Lit::Double(d) => Val::Double(*d),
                Lit::Str(s) => Val::Str(Cow::Borrowed(s)),
            }),
            Kind::List(items) => {
                let items = items
                    .iter()
                    .map(|item| self.eval(item))
                    .collect::<Result<_, _>>()?;
                Ok(Val::List(List::Built(items)))
            }
            Kind::Var(Var::Client) => Ok(Val::from_json(self.client)),
            Kind::Var(Var::Server) => Ok(Val::from_json(self.server)),
            Kind::Var(Var::Local(slot)) => {
                // The parser numbers locals by enclosing binders, and `logic` pushes one per
                // binder, so the slot is always filled.
                let value = self.locals[*slot].clone();
                match &value {
                    Val::Str(Cow::Owned(s)) => self.charge_bytes(s.len())?,
                    Val::List(List::Built(items)) => self.charge(items.len())?,
                    _ => {}
                }
                Ok(value)
            }
            Kind::Field(base, field) => match self.eval(base)? {
                Val::Map(map) => map.get(field).map(Val::from_json).ok_or(Fault::Absent),
                Val::Null => Err(Fault::Absent),
                other => Err(error_at(
                    pos,
                    format!("cannot read field `{field}` of a {}", other.type_name()),
                )),
            },
            Kind::Index(base, index) => {
                let (base, index) = (self.eval(base)?, self.eval(index)?);
                match (base, index) {
                    (Val::Null, _) | (_, Val::Null) => Err(Fault::Absent),
                    (Val::List(list), Val::Int(i)) => usize::try_from(i)
                        .ok()
                        .and_then(|i| list.get(i))
                        .ok_or(Fault::Absent),
                    (Val::Map(map), Val::Str(key)) => map
                        .get(key.as_ref())
                        .map(Val::from_json)
                        .ok_or(Fault::Absent),
                    (base, index) => Err(error_at(
                        pos,
                        format!(
                            "cannot index a {} with a {}",
                            base.type_name(),
                            index.type_name()
                        ),
                    )),
                }
            }
            Kind::Has(base, field) => match self.eval(base) {
                Ok(Val::Map(map)) => Ok(Val::Bool(map.get(field).is_some_and(|v| !v.is_null()))),
                Ok(Val::Null) | Err(Fault::Absent) => Ok(Val::Bool(false)),
                Ok(other) => Err(error_at(
                    pos,
                    format!("`has` needs a map, not a {}", other.type_name()),
                )),
                Err(fault) => Err(fault),
            },
            Kind::Not(operand) => match self.eval(operand)? {
                Val::Bool(b) => Ok(Val::Bool(!b)),
                Val::Null => Err(Fault::Absent),
                other => Err(error_at(
                    pos,
                    format!("`!` needs a bool, not a {}", other.type_name()),
                )),
            },
            Kind::Neg(operand) => match self.eval(operand)? {
                Val::Int(n) => n.checked_neg().map(Val::Int).ok_or_else(|| overflow(pos)),
                Val::Double(d) => Ok(Val::Double(-d)),
                Val::Null => Err(Fault::Absent),
                other => Err(error_at(
                    pos,
                    format!("`-` needs a number, not a {}", other.type_name()),
                )),
            },
            Kind::And(items) => self.logic(items.iter().map(|item| (item, None)), false, pos),
            Kind::Or(items) => self.logic(items.iter().map(|item| (item, None)), true, pos),
            Kind::Binary(op, left, right) => {
                let (left, right) = (self.eval(left)?, self.eval(right)?);
                self.binary(pos, *op, left, right)
            }
            Kind::Cond(cond, then, otherwise) => match self.eval(cond)? {
                Val::Bool(true) => self.eval(then),
                Val::Bool(false) => self.eval(otherwise),
                Val::Null => Err(Fault::Absent),
                other => Err(error_at(
                    pos,
                    format!(
                        "the condition of `? :` must be a bool, not a {}",
                        other.type_name()
                    ),
                )),
            },
            Kind::Call(func, subject, arg) => {
                let subject = self.eval(subject)?;
                let arg = arg.as_deref().map(|arg| self.eval(arg)).transpose()?;
                self.call(pos, *func, subject, arg)
            }
            Kind::Quantifier { all, range, body } => {
                // Lazily: each item's evaluation of `body` is charged as it happens.
                let items: Box<dyn Iterator<Item = Val<'a>>> = match self.eval(range)? {
                    Val::List(list) => Box::new((0..list.len()).filter_map(move |i| list.get(i))),
                    Val::Map(map) => {
                        Box::new(map.keys().map(|key| Val::Str(Cow::Borrowed(key.as_str()))))
                    }
                    Val::Null => return Err(Fault::Absent),
                    other => {
                        let message = format!(
                            "`exists` and `all` need a list or a map, not a {}",
                            other.type_name()
                        );
                        return Err(error_at(pos, message));
                    }
                };
                // `exists` is an `||` over the items, `all` an `&&`.
                self.logic(items.map(|item| (&**body, Some(item))), !*all, pos)
            }
        }
    }

    /// Evaluates operands until one equals `decisive` (`true` for `||`, `false` for `&&`); with
    /// none decisive the result is the first fault, if any, else `!decisive`. A `Some` binding is
    /// the `exists`/`all` variable's value for that operand.
    fn logic(
        &mut self,
        operands: impl Iterator<Item = (&'a Expr, Option<Val<'a>>)>,
        decisive: bool,
        pos: usize,
    ) -> Eval<'a> {
        let mut first_fault = None;
        for (operand, binding) in operands {
            let bound = binding.is_some();
            if let Some(value) = binding {
                self.locals.push(value);
            }
            let result = self.eval(operand);
            if bound {
                self.locals.pop();
            }
            let fault = match result {
                Ok(Val::Bool(b)) if b == decisive => return Ok(Val::Bool(b)),
                Ok(Val::Bool(_)) => continue,
                Err(Fault::Budget) => return Err(Fault::Budget),
                Ok(Val::Null) | Err(Fault::Absent) => Fault::Absent,
                Ok(other) => error_at(
                    pos,
                    format!(
                        "`&&`, `||`, `exists` and `all` need bools, not a {}",
                        other.type_name()
                    ),
                ),
                Err(fault) => fault,
            };
            first_fault.get_or_insert(fault);
        }
        first_fault.map_or(Ok(Val::Bool(!decisive)), Err)
    }

    fn binary(&mut self, pos: usize, op: BinOp, left: Val<'a>, right: Val<'a>) -> Eval<'a> {
        match op {
            BinOp::Eq => self.equal(pos, &left, &right, 0).map(Val::Bool),
            BinOp::Ne => self.equal(pos, &left, &right, 0).map(|eq| Val::Bool(!eq)),
            BinOp::Lt | BinOp::Le | BinOp::Gt | BinOp::Ge => {
                let ordering = self.order(pos, &left, &right)?;
                let wanted: &[Ordering] = match op {
                    BinOp::Lt => &[Ordering::Less],
                    BinOp::Le => &[Ordering::Less, Ordering::Equal],
                    BinOp::Gt => &[Ordering::Greater],
                    _ => &[Ordering::Greater, Ordering::Equal],
                };
                // NaN is unordered: every comparison with it is false.
                Ok(Val::Bool(ordering.is_some_and(|o| wanted.contains(&o))))
            }
            BinOp::In => match right {
                Val::List(list) => {
                    for i in 0..list.len() {
                        if let Some(item) = list.get(i)
                            && self.equal(pos, &left, &item, 0)?
                        {
                            return Ok(Val::Bool(true));
                        }
                    }
                    Ok(Val::Bool(false))
                }
                Val::Map(map) => match left {
                    Val::Str(key) => Ok(Val::Bool(map.contains_key(key.as_ref()))),
                    Val::Null => Err(Fault::Absent),
                    other => Err(error_at(
                        pos,
                        format!("map keys are strings, not a {}", other.type_name()),
                    )),
                },
                Val::Null => Err(Fault::Absent),
                other => Err(error_at(
                    pos,
                    format!("`in` needs a list or a map, not a {}", other.type_name()),
                )),
            },
            BinOp::Add | BinOp::Sub | BinOp::Mul | BinOp::Div | BinOp::Rem => {
                self.arithmetic(pos, op, left, right)
            }
        }
    }

    fn arithmetic(&mut self, pos: usize, op: BinOp, left: Val<'a>, right: Val<'a>) -> Eval<'a> {
        match (left, right) {
            (Val::Null, _) | (_, Val::Null) => Err(Fault::Absent),
            (Val::Int(a), Val::Int(b)) => {
                if matches!(op, BinOp::Div | BinOp::Rem) && b == 0 {
                    return Err(error_at(pos, "division by zero".to_owned()));
                }
                let result = match op {
                    BinOp::Add => a.checked_add(b),
                    BinOp::Sub => a.checked_sub(b),
                    BinOp::Mul => a.checked_mul(b),
                    BinOp::Div => a.checked_div(b),
                    _ => a.checked_rem(b),
                };
                result.map(Val::Int).ok_or_else(|| overflow(pos))
            }
            (Val::Str(a), Val::Str(b)) if op == BinOp::Add => {
                self.charge_bytes(a.len() + b.len())?;
                Ok(Val::Str(Cow::Owned(a.into_owned() + &b)))
            }
            (a @ (Val::Int(_) | Val::Double(_)), b @ (Val::Int(_) | Val::Double(_)))
                if op != BinOp::Rem =>
            {
                let (a, b) = (as_f64(&a), as_f64(&b));
                Ok(Val::Double(match op {
                    BinOp::Add => a + b,
                    BinOp::Sub => a - b,
                    BinOp::Mul => a * b,
                    _ => a / b,
                }))
            }
            (a, b) => {
                let symbol = match op {
                    BinOp::Add => "+",
                    BinOp::Sub => "-",
                    BinOp::Mul => "*",
                    BinOp::Div => "/",
                    _ => "%",
                };
                Err(error_at(
                    pos,
                    format!(
                        "cannot apply `{symbol}` to {} and {}",
                        a.type_name(),
                        b.type_name()
                    ),
                ))
            }
        }
    }

    /// CEL's heterogeneous equality: values of different types are unequal (numbers compare by
    /// value across int and double), lists and maps compare element by element.
    fn equal(&mut self, pos: usize, a: &Val<'a>, b: &Val<'a>, depth: usize) -> Result<bool, Fault> {
        self.charge(1)?;
        if depth > MAX_COMPARE_DEPTH {
            return Err(error_at(
                pos,
                "profile values are nested too deeply to compare".to_owned(),
            ));
        }
        Ok(match (a, b) {
            (Val::Null, Val::Null) => true,
            (Val::Bool(a), Val::Bool(b)) => a == b,
            (Val::Str(a), Val::Str(b)) => {
                self.charge_bytes(a.len().min(b.len()))?;
                a == b
            }
            (Val::List(a), Val::List(b)) => {
                if a.len() != b.len() {
                    return Ok(false);
                }
                for i in 0..a.len() {
                    if let (Some(x), Some(y)) = (a.get(i), b.get(i))
                        && !self.equal(pos, &x, &y, depth + 1)?
                    {
                        return Ok(false);
                    }
                }
                true
            }
            (Val::Map(a), Val::Map(b)) => {
                if a.len() != b.len() {
                    return Ok(false);
                }
                for (key, x) in a.iter() {
                    let Some(y) = b.get(key) else {
                        return Ok(false);
                    };
                    if !self.equal(pos, &Val::from_json(x), &Val::from_json(y), depth + 1)? {
                        return Ok(false);
                    }
                }
                true
            }
            (a, b) => numeric_order(a, b) == Some(Ordering::Equal),
        })
    }

    /// Ordering for `<`, `<=`, `>`, `>=`: numbers, strings and bools; `None` when NaN is involved.
    fn order(&mut self, pos: usize, a: &Val<'a>, b: &Val<'a>) -> Result<Option<Ordering>, Fault> {
        match (a, b) {
            (Val::Null, _) | (_, Val::Null) => Err(Fault::Absent),
            (Val::Str(a), Val::Str(b)) => {
                self.charge_bytes(a.len().min(b.len()))?;
                Ok(Some(a.cmp(b)))
            }
            (Val::Bool(a), Val::Bool(b)) => Ok(Some(a.cmp(b))),
            (Val::Int(_) | Val::Double(_), Val::Int(_) | Val::Double(_)) => Ok(numeric_order(a, b)),
            (a, b) => Err(error_at(
                pos,
                format!("cannot order {} and {}", a.type_name(), b.type_name()),
            )),
        }
    }

    fn call(
        &mut self,
        pos: usize,
        func: Func,
        first: Val<'a>,
        second: Option<Val<'a>>,
    ) -> Eval<'a> {
        let wrong = |value: &Val<'_>, wanted: &str| {
            let message = format!(
                "`{}` needs {wanted}, not a {}",
                func.name(),
                value.type_name()
            );
            Err(error_at(pos, message))
        };
        if matches!(first, Val::Null) || matches!(second, Some(Val::Null)) {
            return Err(Fault::Absent);
        }
        match func {
            Func::Size => match first {
                Val::Str(s) => {
                    self.charge_bytes(s.len())?;
                    Ok(Val::Int(count(s.chars().count())))
                }
                Val::List(list) => Ok(Val::Int(count(list.len()))),
                Val::Map(map) => Ok(Val::Int(count(map.len()))),
                other => wrong(&other, "a string, list or map"),
            },
            Func::StartsWith | Func::EndsWith | Func::Contains => match (first, second) {
                (Val::Str(s), Some(Val::Str(part))) => {
                    self.charge_bytes(s.len() + part.len())?;
                    Ok(Val::Bool(match func {
                        Func::StartsWith => s.starts_with(part.as_ref()),
                        Func::EndsWith => s.ends_with(part.as_ref()),
                        _ => s.contains(part.as_ref()),
                    }))
                }
                (Val::Str(_), Some(other)) | (other, _) => wrong(&other, "strings"),
            },
            Func::LowerAscii | Func::UpperAscii => match first {
                Val::Str(s) => {
                    self.charge_bytes(s.len())?;
                    let converted = if func == Func::LowerAscii {
                        s.to_ascii_lowercase()
                    } else {
                        s.to_ascii_uppercase()
                    };
                    Ok(Val::Str(Cow::Owned(converted)))
                }
                other => wrong(&other, "a string"),
            },
            Func::Int => match first {
                Val::Int(n) => Ok(Val::Int(n)),
                // In range exactly when truncation towards zero fits an i64.
                Val::Double(d)
                    if d > -9_223_372_036_854_775_809.0 && d < 9_223_372_036_854_775_808.0 =>
                {
                    Ok(Val::Int(d as i64))
                }
                Val::Double(d) => Err(error_at(
                    pos,
                    format!("`int` cannot convert {d} to an integer"),
                )),
                Val::Str(s) => {
                    self.charge_bytes(s.len())?;
                    s.parse().map(Val::Int).map_err(|_| {
                        error_at(
                            pos,
                            format!("`int` cannot read {:?} as an integer", truncate(&s)),
                        )
                    })
                }
                other => wrong(&other, "a number or a string"),
            },
            Func::Double => match first {
                Val::Int(n) => Ok(Val::Double(n as f64)),
                Val::Double(d) => Ok(Val::Double(d)),
                Val::Str(s) => {
                    self.charge_bytes(s.len())?;
                    s.parse().map(Val::Double).map_err(|_| {
                        error_at(
                            pos,
                            format!("`double` cannot read {:?} as a number", truncate(&s)),
                        )
                    })
                }
                other => wrong(&other, "a number or a string"),
            },
            Func::String => {
                let text = match first {
                    Val::Str(s) => return Ok(Val::Str(s)),
                    Val::Int(n) => n.to_string(),
                    Val::Double(d) => d.to_string(),
                    Val::Bool(b) => b.to_string(),
                    other => return wrong(&other, "a number, string or bool"),
                };
                self.charge_bytes(text.len())?;
                Ok(Val::Str(Cow::Owned(text)))
            }
        }
    }
}

fn error_at(pos: usize, message: String) -> Fault {
    Fault::Error(pos, message)
}

fn overflow(pos: usize) -> Fault {
    error_at(pos, "integer overflow".to_owned())
}

fn count(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// The start of a profile string, for an error message.
fn truncate(s: &str) -> &str {
    s.char_indices().nth(32).map_or(s, |(end, _)| &s[..end])
}

fn as_f64(value: &Val<'_>) -> f64 {
    match value {
        Val::Int(n) => *n as f64,
        Val::Double(d) => *d,
        _ => f64::NAN,
    }
}

/// Exact ordering of two numbers, ints against doubles included; `None` for NaN or non-numbers.
fn numeric_order(a: &Val<'_>, b: &Val<'_>) -> Option<Ordering> {
    match (a, b) {
        (Val::Int(a), Val::Int(b)) => Some(a.cmp(b)),
        (Val::Double(a), Val::Double(b)) => a.partial_cmp(b),
        (Val::Int(i), Val::Double(d)) => int_double_order(*i, *d),
        (Val::Double(d), Val::Int(i)) => int_double_order(*i, *d).map(Ordering::reverse),
        _ => None,
    }
}

/// Compares without rounding the int, which an `as f64` conversion would do above 2^53.
fn int_double_order(i: i64, d: f64) -> Option<Ordering> {
    const TWO_POW_63: f64 = 9_223_372_036_854_775_808.0;
    if d.is_nan() {
        None
    } else if d >= TWO_POW_63 {
        Some(Ordering::Less)
    } else if d < -TWO_POW_63 {
        Some(Ordering::Greater)
    } else {
        let whole = d.trunc();
        // `whole` is integral and within i64's range, so the cast is exact.
        match i.cmp(&(whole as i64)) {
            Ordering::Equal => 0.0.partial_cmp(&(d - whole)),
            unequal => Some(unequal),
        }
    }
}
