//! Compile-time type check: infers a coarse type for each node so that mistakes visible without
//! any profile (`cp.os == "android" + 1`, `size(cp.tags)` as a whole filter) are rejected when
//! the filter is saved rather than when an endpoint registers. Profile fields are `Dyn`, whose
//! type is only known at evaluation, so this check never rejects a filter that could succeed.

use super::syntax::{BinOp, Expr, Func, Kind, Lit};
use super::{FilterError, Position};

#[derive(Debug, Clone, Copy, PartialEq)]
enum Ty {
    Null,
    Bool,
    Int,
    Double,
    Str,
    List,
    /// Read from a profile: any type.
    Dyn,
}

impl Ty {
    fn name(self) -> &'static str {
        match self {
            Ty::Null => "null",
            Ty::Bool => "bool",
            Ty::Int => "int",
            Ty::Double => "double",
            Ty::Str => "string",
            Ty::List => "list",
            Ty::Dyn => "dyn",
        }
    }

    fn numeric(self) -> bool {
        matches!(self, Ty::Int | Ty::Double | Ty::Dyn)
    }

    /// Whether a value of this type may be one of `allowed` at run time.
    fn fits(self, allowed: &[Ty]) -> bool {
        self == Ty::Dyn || allowed.contains(&self)
    }
}

/// Rejects a filter whose result can never be a boolean, or that applies an operator or
/// function to a value it can never accept.
pub(super) fn check(source: &str, expr: &Expr) -> Result<(), FilterError> {
    let checker = Checker { source };
    let ty = checker.ty(expr)?;
    if ty.fits(&[Ty::Bool]) {
        Ok(())
    } else {
        Err(checker.error(
            expr.pos,
            format!(
                "a filter must be true or false, but this one is a {}",
                ty.name()
            ),
        ))
    }
}

struct Checker<'s> {
    source: &'s str,
}

impl Checker<'_> {
    fn error(&self, offset: usize, message: String) -> FilterError {
        FilterError::Type {
            position: Position::locate(self.source, offset),
            message,
        }
    }

    /// The type of `expr`, after checking it is one of `allowed`; `what` names its role.
    fn expect(&self, expr: &Expr, allowed: &[Ty], what: &str) -> Result<Ty, FilterError> {
        let ty = self.ty(expr)?;
        if ty.fits(allowed) {
            return Ok(ty);
        }
        let names: Vec<_> = allowed.iter().map(|t| t.name()).collect();
        let message = format!("{what} must be {}, not {}", names.join(" or "), ty.name());
        Err(self.error(expr.pos, message))
    }

    fn ty(&self, expr: &Expr) -> Result<Ty, FilterError> {
        const LOGIC: &[Ty] = &[Ty::Bool];
        const NUMBER: &[Ty] = &[Ty::Int, Ty::Double];
        Ok(match &expr.kind {
            Kind::Lit(Lit::Null) => Ty::Null,
            Kind::Lit(Lit::Bool(_)) => Ty::Bool,
            Kind::Lit(Lit::Int(_)) => Ty::Int,
            Kind::Lit(Lit::Double(_)) => Ty::Double,
            Kind::Lit(Lit::Str(_)) => Ty::Str,
            Kind::List(items) => {
                for item in items {
                    self.ty(item)?;
                }
                Ty::List
            }
            Kind::Var(_) => Ty::Dyn,
            Kind::Field(base, field) | Kind::Has(base, field) => {
                let ty = self.ty(base)?;
                if ty != Ty::Dyn {
                    let message = format!("cannot read field `{field}` of a {}", ty.name());
                    return Err(self.error(expr.pos, message));
                }
                if matches!(expr.kind, Kind::Has(..)) {
                    Ty::Bool
                } else {
                    Ty::Dyn
                }
            }
            Kind::Index(base, index) => {
                match self.expect(base, &[Ty::List], "the value before `[`")? {
                    Ty::List => self.expect(index, &[Ty::Int], "a list index")?,
                    _ => self.expect(index, &[Ty::Int, Ty::Str], "an index")?,
                };
                Ty::Dyn
            }
            Kind::Not(operand) => {
                self.expect(operand, LOGIC, "the operand of `!`")?;
                Ty::Bool
            }
            Kind::Neg(operand) => self.expect(operand, NUMBER, "the operand of `-`")?,
            Kind::And(items) | Kind::Or(items) => {
                for item in items {
                    self.expect(item, LOGIC, "each side of `&&` and `||`")?;
                }
                Ty::Bool
            }
            Kind::Binary(op, left, right) => self.binary(expr.pos, *op, left, right)?,
            Kind::Cond(cond, then, otherwise) => {
                self.expect(cond, LOGIC, "the condition of `? :`")?;
                let (then, otherwise) = (self.ty(then)?, self.ty(otherwise)?);
                // Differing branches could be anything at run time.
                if then == otherwise { then } else { Ty::Dyn }
            }
            Kind::Call(func, subject, arg) => self.call(*func, subject, arg.as_deref())?,
            Kind::Quantifier { range, body, .. } => {
                self.expect(range, &[Ty::List], "the value before `.exists`/`.all`")?;
                self.expect(body, LOGIC, "the condition of `exists`/`all`")?;
                Ty::Bool
            }
        })
    }

    fn binary(&self, pos: usize, op: BinOp, left: &Expr, right: &Expr) -> Result<Ty, FilterError> {
        let (l, r) = (self.ty(left)?, self.ty(right)?);
        let symbol = match op {
            BinOp::Add => "+",
            BinOp::Sub => "-",
            BinOp::Mul => "*",
            BinOp::Div => "/",
            BinOp::Rem => "%",
            BinOp::Eq | BinOp::Ne => return Ok(Ty::Bool),
            BinOp::In => {
                self.expect(right, &[Ty::List], "the right side of `in`")?;
                return Ok(Ty::Bool);
            }
            BinOp::Lt | BinOp::Le | BinOp::Gt | BinOp::Ge => {
                let comparable = match (l, r) {
                    (Ty::Dyn, other) | (other, Ty::Dyn) => {
                        matches!(other, Ty::Int | Ty::Double | Ty::Str | Ty::Bool | Ty::Dyn)
                    }
                    _ => {
                        (l.numeric() && r.numeric()) || (l == r && matches!(l, Ty::Str | Ty::Bool))
                    }
                };
                if comparable {
                    return Ok(Ty::Bool);
                }
                let message = format!("cannot order {} and {}", l.name(), r.name());
                return Err(self.error(pos, message));
            }
        };
        Ok(match (op, l, r) {
            (BinOp::Add, Ty::Str, Ty::Str) => Ty::Str,
            (BinOp::Add, Ty::Str | Ty::Dyn, Ty::Str | Ty::Dyn) => Ty::Dyn,
            (BinOp::Rem, Ty::Int | Ty::Dyn, Ty::Int | Ty::Dyn) if l == r => l,
            (BinOp::Rem, Ty::Int | Ty::Dyn, Ty::Int | Ty::Dyn) => Ty::Dyn,
            (BinOp::Rem, ..) => {
                return Err(self.error(
                    pos,
                    format!("`%` takes two ints, not {} and {}", l.name(), r.name()),
                ));
            }
            (_, Ty::Int, Ty::Int) => Ty::Int,
            (_, Ty::Dyn, _) | (_, _, Ty::Dyn) if l.numeric() && r.numeric() => Ty::Dyn,
            _ if l.numeric() && r.numeric() => Ty::Double,
            _ => {
                let message = format!("cannot apply `{symbol}` to {} and {}", l.name(), r.name());
                return Err(self.error(pos, message));
            }
        })
    }

    fn call(&self, func: Func, subject: &Expr, arg: Option<&Expr>) -> Result<Ty, FilterError> {
        const STRING: &[Ty] = &[Ty::Str];
        Ok(match func {
            Func::Size => {
                self.expect(subject, &[Ty::Str, Ty::List], "the argument of `size`")?;
                Ty::Int
            }
            Func::StartsWith | Func::EndsWith | Func::Contains => {
                self.expect(subject, STRING, "the value before the string function")?;
                if let Some(arg) = arg {
                    self.expect(arg, STRING, "the argument of the string function")?;
                }
                Ty::Bool
            }
            Func::LowerAscii | Func::UpperAscii => {
                self.expect(subject, STRING, "the value before the string function")?;
                Ty::Str
            }
            Func::Int => {
                self.expect(
                    subject,
                    &[Ty::Int, Ty::Double, Ty::Str],
                    "the argument of `int`",
                )?;
                Ty::Int
            }
            Func::Double => {
                self.expect(
                    subject,
                    &[Ty::Int, Ty::Double, Ty::Str],
                    "the argument of `double`",
                )?;
                Ty::Double
            }
            Func::String => {
                let allowed = &[Ty::Int, Ty::Double, Ty::Str, Ty::Bool];
                self.expect(subject, allowed, "the argument of `string`")?;
                Ty::Str
            }
        })
    }
}
