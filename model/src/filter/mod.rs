//! Profile filters: the boolean expressions that decide which endpoint groups an endpoint
//! belongs to.
//!
//! In Kaa 0.10 every endpoint group carries profile filters, one per pair of client-profile and
//! server-profile schema versions, written in Spring EL over `#cp` and `#sp`; an endpoint is in
//! a group when the group's active filter is true for its profiles, and the group "all" matches
//! every endpoint. Spring EL can call arbitrary Java, so kaa-rs replaces it with a small,
//! safe language: a strict subset of Google's [Common Expression Language][cel] (CEL), the
//! language Kubernetes uses for admission and validation rules.
//!
//! Data flows in two steps. [`ProfileFilter::compile`] runs when an administrator saves a
//! filter: it lexes and parses the source (`syntax`), checks types as far as they are known
//! without a profile (`check`), and returns either a filter or a [`FilterError`] with a line and
//! column for the admin UI to show beside the editor. [`ProfileFilter::matches`] runs per
//! endpoint and group: it evaluates the tree against the client and server profile documents
//! (`eval`) and answers whether the endpoint is in the group.
//!
//! # Why a hand-written CEL subset
//!
//! - **Familiar.** CEL's syntax (`cp.os == "android" && cp.version >= 5`) reads like the Spring
//!   EL that Kaa users wrote, minus the `#`, and operators know it from Kubernetes, Envoy and
//!   Google Cloud IAM. A filter accepted here is also a CEL expression (`lowerAscii` and
//!   `upperAscii` come from cel-go's strings extension) and means the same thing, except for
//!   the treatment of absent and null fields below and for arithmetic mixing ints and doubles,
//!   which CEL rejects and this language computes in double. So CEL's documentation applies,
//!   and a later move to a full CEL implementation keeps stored filters.
//! - **Bounded.** The language has no loops, no assignment, no I/O and no user functions. The
//!   source is capped at [`MAX_SOURCE_LEN`] bytes and its nesting at [`MAX_DEPTH`] levels, which
//!   bounds the recursion of parser, checker and evaluator; every evaluation step (a node, a list
//!   element visited, 64 bytes of string scanned or built) is charged against
//!   [`MAX_EVAL_STEPS`], which bounds time and allocation whatever the profile documents hold
//!   (a device chooses its own client profile).
//! - **Small.** About two thousand lines, documentation included, over `serde_json`, with
//!   exact error positions and messages written for the admin UI.
//!
//! Alternatives considered:
//!
//! - the `cel` crate (formerly `cel-interpreter`, 0.15): full CEL, but its parser pulls in the
//!   ANTLR runtime (`antlr4rust`) and `nom`, it evaluates the `map`/`filter`/`all`/`exists`
//!   macros with no cost limit (nested comprehensions over a profile's list are polynomial in
//!   its length), its run-time errors carry no source position, and its API is pre-1.0 and was
//!   renamed and reshaped several times;
//! - `evalexpr`: a small expression language of its own, unfamiliar to operators, with
//!   assignment and chaining operators that a filter does not need;
//! - `rhai` (or Lua, JavaScript): scripting languages with loops and functions, far more power
//!   than a membership test needs and much harder to bound.
//!
//! # The language (help text for the admin UI)
//!
//! A filter is an expression that is `true` for the endpoints that belong to the group.
//!
//! - Profiles: `cp` is the client-side profile (sent by the endpoint), `sp` the server-side
//!   profile (set by the server); read fields with `cp.os` or `sp["field-name"]`, list elements
//!   with `cp.tags[0]`.
//! - Values: `true`, `false`, `null`, integers (`42`, `0x2A`), doubles (`1.5`, `2e3`),
//!   strings (`"text"` or `'text'`, with `\n \t \" \' \\ \uXXXX` escapes), lists (`[1, 2]`).
//! - Operators, loosest first: `c ? a : b`; `||`; `&&`; `== != < <= > >= in`; `+ -`;
//!   `* / %`; `!` and unary `-`; then `.field`, `[index]` and method calls. Ints and doubles
//!   compare by value (`1 == 1.0`); values of different types are never equal; `+` also joins
//!   strings. `x in [..]` tests list membership, `"key" in m` a map key.
//! - Functions: `has(cp.field)` (the field is present and not null), `size(x)` or `x.size()`
//!   (characters of a string, elements of a list or map), `s.startsWith(t)`, `s.endsWith(t)`,
//!   `s.contains(t)`, `s.lowerAscii()`, `s.upperAscii()`, `int(x)`, `double(x)`, `string(x)`,
//!   `list.exists(x, condition)` and `list.all(x, condition)`.
//! - Comments run from `//` to the end of the line.
//!
//! Examples: `cp.os == "android" && cp.version >= 5`; `sp.tier in ["gold", "silver"]`;
//! `has(cp.location) && cp.location.country == "DE"`;
//! `cp.model.lowerAscii().startsWith("x-")`; `cp.sensors.exists(s, s.kind == "gps")`.
//!
//! ## Absent and null fields: no match
//!
//! A filter that needs a field the profile does not have does not match. Reading an absent
//! field, a field of an absent or null value, or a list index out of range gives "absent", and so
//! does using `null` anywhere but in `==`, `!=` or `has` (Avro profiles carry every field, with
//! `null` for an unset optional one, so null and absent are treated alike). "Absent" passes
//! through every operator, `!` and `!=` included, and a filter whose result is absent does not
//! match; `&&`, `||`, `exists` and `all` discard it when another operand decides the result, as
//! CEL does with errors. So, for a profile without `os`: `cp.os == "ios"` does not match,
//! `cp.os != "ios"` does not match either, `cp.os == "ios" || cp.version >= 5` matches when the
//! version is at least 5, and `!has(cp.os) || cp.os != "ios"` matches. `has(cp.a.b)` is false,
//! not absent, when `cp.a` is absent or null. (CEL proper reports an error for a read of an
//! absent field, which with this rule gives the same verdicts, but its `has` is an error when
//! `cp.a` is absent and true for a field that is present with a null value.)
//!
//! ## Errors
//!
//! [`ProfileFilter::compile`] rejects syntax errors, unknown names and functions, a source longer
//! than [`MAX_SOURCE_LEN`] bytes or nested deeper than [`MAX_DEPTH`], and type errors visible
//! without a profile, such as `size(cp.tags) > "3"` or a filter that is a number rather than a
//! boolean. [`ProfileFilter::matches`] returns an error for type errors that depend on the
//! profile (`cp.os > 5` where `os` is a string), integer overflow, division by zero, a result
//! that is not a boolean, and an exhausted step budget; the caller logs it and treats the
//! endpoint as not in the group. `&&` and `||` discard such errors like absent fields.
//!
//! Profiles are plain JSON objects: the caller unwraps Avro's JSON encoding of unions
//! (`{"string": "x"}` becomes `"x"`), so a field reads as its value, as it did from Kaa's
//! `GenericRecord`s. JSON integers that fit an `i64` are ints, all other numbers doubles.
//!
//! [cel]: https://github.com/google/cel-spec/blob/master/doc/langdef.md

mod check;
mod eval;
mod syntax;

#[cfg(test)]
mod tests;

use std::borrow::Cow;
use std::fmt;

use serde_json::Value;

use eval::{Evaluator, Fault, Val};
use syntax::Expr;

/// The longest filter source accepted, in bytes.
pub const MAX_SOURCE_LEN: usize = 4096;

/// The deepest nesting accepted: parentheses, operators, field reads and calls each add a level,
/// except that a chain of `&&` or of `||` counts once.
pub const MAX_DEPTH: usize = 32;

/// The evaluation step budget of one [`ProfileFilter::matches`] call: roughly one step per node
/// evaluated, list element visited and 64 bytes of string handled.
pub const MAX_EVAL_STEPS: usize = 100_000;

/// A compiled profile filter: its source and its checked syntax tree.
#[derive(Debug, Clone, PartialEq)]
pub struct ProfileFilter {
    source: Cow<'static, str>,
    expr: Expr,
}

impl ProfileFilter {
    /// The filter of the group "all": `true`, matching every endpoint.
    pub const fn match_all() -> ProfileFilter {
        ProfileFilter {
            source: Cow::Borrowed("true"),
            expr: Expr::TRUE,
        }
    }

    /// Parses and type-checks a filter, as when an administrator saves it.
    pub fn compile(source: &str) -> Result<ProfileFilter, FilterError> {
        if source.len() > MAX_SOURCE_LEN {
            return Err(FilterError::TooLong {
                len: source.len(),
                max: MAX_SOURCE_LEN,
            });
        }
        let expr = syntax::parse(source)?;
        check::check(source, &expr)?;
        Ok(ProfileFilter {
            source: Cow::Owned(source.to_owned()),
            expr,
        })
    }

    /// The source text, as written by the administrator.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// Whether an endpoint with these client (`cp`) and server (`sp`) profiles belongs to the
    /// group. A filter that reads an absent or null field does not match (`Ok(false)`); see the
    /// module docs for the rules and for what is an error.
    pub fn matches(
        &self,
        client_profile: &Value,
        server_profile: &Value,
    ) -> Result<bool, FilterError> {
        let mut evaluator = Evaluator::new(client_profile, server_profile);
        match evaluator.eval(&self.expr) {
            Ok(Val::Bool(matched)) => Ok(matched),
            Ok(Val::Null) | Err(Fault::Absent) => Ok(false),
            Ok(other) => Err(FilterError::NotBoolean {
                found: other.type_name(),
            }),
            Err(Fault::Error(offset, message)) => Err(FilterError::Evaluation {
                position: Position::locate(&self.source, offset),
                message,
            }),
            Err(Fault::Budget) => Err(FilterError::TooCostly {
                max: MAX_EVAL_STEPS,
            }),
        }
    }
}

impl fmt::Display for ProfileFilter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)
    }
}

/// A place in a filter's source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Position {
    /// Byte offset from the start of the source.
    pub offset: usize,
    /// Line, from 1.
    pub line: usize,
    /// Column on that line, from 1, counted in characters (Unicode scalar values).
    pub column: usize,
}

impl Position {
    /// The line and column of a byte offset; an offset inside a character counts as that
    /// character.
    fn locate(source: &str, offset: usize) -> Position {
        let before = source.get(..offset).unwrap_or(source);
        let line_start = before.rfind('\n').map_or(0, |newline| newline + 1);
        Position {
            offset,
            line: before.matches('\n').count() + 1,
            column: before[line_start..].chars().count() + 1,
        }
    }
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}, column {}", self.line, self.column)
    }
}

/// Why a filter was rejected or could not be evaluated. The `Display` text is written to be
/// shown to an administrator next to the filter.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum FilterError {
    /// The source is longer than [`MAX_SOURCE_LEN`].
    #[error("the filter is {len} bytes long; at most {max} are allowed")]
    TooLong {
        /// The source's length in bytes.
        len: usize,
        /// [`MAX_SOURCE_LEN`].
        max: usize,
    },
    /// The source nests deeper than [`MAX_DEPTH`].
    #[error("{position}: the filter is nested more than {max} levels deep")]
    TooDeep {
        /// Where the limit was crossed.
        position: Position,
        /// [`MAX_DEPTH`].
        max: usize,
    },
    /// The source is not a well-formed filter, or names an unknown variable or function.
    #[error("{position}: {message}")]
    Syntax {
        /// Where the problem is.
        position: Position,
        /// What is wrong, and often how to write it instead.
        message: String,
    },
    /// An operator or function is applied to a value it can never accept, or the filter can
    /// never be true or false.
    #[error("{position}: {message}")]
    Type {
        /// The operator, function or value at fault.
        position: Position,
        /// What is wrong.
        message: String,
    },
    /// Evaluation failed on these profiles: a type mismatch, integer overflow or division by
    /// zero.
    #[error("{position}: {message}")]
    Evaluation {
        /// The operator or function that failed.
        position: Position,
        /// What went wrong.
        message: String,
    },
    /// The filter's result on these profiles is not a boolean.
    #[error("the filter gave a {found}, not true or false")]
    NotBoolean {
        /// The result's type, in CEL's words (`int`, `string`, `list`, ...).
        found: &'static str,
    },
    /// Evaluation took more than [`MAX_EVAL_STEPS`] steps.
    #[error("evaluating the filter took more than {max} steps; simplify it")]
    TooCostly {
        /// [`MAX_EVAL_STEPS`].
        max: usize,
    },
}

impl FilterError {
    /// Where in the source the error is, when it has a place.
    pub fn position(&self) -> Option<Position> {
        match self {
            FilterError::TooDeep { position, .. }
            | FilterError::Syntax { position, .. }
            | FilterError::Type { position, .. }
            | FilterError::Evaluation { position, .. } => Some(*position),
            FilterError::TooLong { .. }
            | FilterError::NotBoolean { .. }
            | FilterError::TooCostly { .. } => None,
        }
    }
}
