//! Source text to syntax tree: a lexer that turns the whole (length-capped) source into tokens,
//! then a recursive-descent parser, one function per CEL precedence level, that resolves names
//! and functions as it goes. Every node records the byte offset it came from, for error
//! positions, and its depth, so that the depth limit holds for the checker and the evaluator,
//! which recurse over the tree.

use super::{FilterError, MAX_DEPTH, Position};

/// One node of a parsed filter.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Expr {
    pub(super) kind: Kind,
    /// Byte offset into the source: the operator for operations, the start for values.
    pub(super) pos: usize,
    /// 1 for a leaf; one more than the deepest child otherwise.
    depth: usize,
}

impl Expr {
    /// The `true` literal, in a `const` context (for `ProfileFilter::match_all`).
    pub(super) const TRUE: Expr = Expr {
        kind: Kind::Lit(Lit::Bool(true)),
        pos: 0,
        depth: 1,
    };
}

#[derive(Debug, Clone, PartialEq)]
pub(super) enum Lit {
    Null,
    Bool(bool),
    Int(i64),
    Double(f64),
    Str(String),
}

/// A name a filter reads.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Var {
    /// `cp`, the client-side endpoint profile.
    Client,
    /// `sp`, the server-side endpoint profile.
    Server,
    /// The variable of an enclosing `exists`/`all`: the index is how many of them enclose its
    /// binder, which is also its slot in the evaluator's stack of locals.
    Local(usize),
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum BinOp {
    Add,
    Sub,
    Mul,
    Div,
    Rem,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    In,
}

/// The built-in functions; a receiver (`s.startsWith(p)`) is the first argument.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Func {
    Size,
    StartsWith,
    EndsWith,
    Contains,
    LowerAscii,
    UpperAscii,
    Int,
    Double,
    String,
}

impl Func {
    pub(super) fn name(self) -> &'static str {
        match self {
            Func::Size => "size",
            Func::StartsWith => "startsWith",
            Func::EndsWith => "endsWith",
            Func::Contains => "contains",
            Func::LowerAscii => "lowerAscii",
            Func::UpperAscii => "upperAscii",
            Func::Int => "int",
            Func::Double => "double",
            Func::String => "string",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub(super) enum Kind {
    Lit(Lit),
    List(Vec<Expr>),
    Var(Var),
    Field(Box<Expr>, String),
    Index(Box<Expr>, Box<Expr>),
    /// `has(base.field)`.
    Has(Box<Expr>, String),
    Not(Box<Expr>),
    Neg(Box<Expr>),
    /// A whole `a && b && c` chain, flattened so long conjunctions do not count as nesting.
    And(Vec<Expr>),
    Or(Vec<Expr>),
    Binary(BinOp, Box<Expr>, Box<Expr>),
    Cond(Box<Expr>, Box<Expr>, Box<Expr>),
    /// A built-in applied to its subject (the receiver, or the only argument) and, for the
    /// string tests, one argument.
    Call(Func, Box<Expr>, Option<Box<Expr>>),
    /// `range.exists(x, body)` (`all == false`) or `range.all(x, body)`.
    Quantifier {
        all: bool,
        range: Box<Expr>,
        body: Box<Expr>,
    },
}

impl Kind {
    fn child_depth(&self) -> usize {
        fn max<'e>(exprs: impl IntoIterator<Item = &'e Expr>) -> usize {
            exprs.into_iter().map(|e| e.depth).max().unwrap_or(0)
        }
        match self {
            Kind::Lit(_) | Kind::Var(_) => 0,
            Kind::List(items) | Kind::And(items) | Kind::Or(items) => max(items),
            Kind::Call(_, subject, arg) => subject.depth.max(arg.as_ref().map_or(0, |a| a.depth)),
            Kind::Field(base, _) | Kind::Has(base, _) | Kind::Not(base) | Kind::Neg(base) => {
                base.depth
            }
            Kind::Index(a, b) | Kind::Binary(_, a, b) => a.depth.max(b.depth),
            Kind::Quantifier { range, body, .. } => range.depth.max(body.depth),
            Kind::Cond(a, b, c) => max([&**a, &**b, &**c]),
        }
    }
}

/// Parses a whole filter. The caller has already capped the source's length.
pub(super) fn parse(source: &str) -> Result<Expr, FilterError> {
    let tokens = lex(source)?;
    let mut parser = Parser {
        source,
        tokens,
        at: 0,
        nesting: 0,
        locals: Vec::new(),
    };
    if parser.peek() == &Tok::Eof {
        return Err(parser.error(
            0,
            "the filter is empty; write `true` to match every endpoint",
        ));
    }
    let expr = parser.expr()?;
    let message = match parser.peek() {
        Tok::Eof => return Ok(expr),
        Tok::Ident(word) if spring_el_hint(word).is_some() => {
            spring_el_hint(word).unwrap_or_default().to_owned()
        }
        other => format!(
            "unexpected {} after a complete expression",
            other.describe()
        ),
    };
    Err(parser.error(parser.pos(), message))
}

/// Spring EL's word operators, which Kaa 0.10 filters often used.
fn spring_el_hint(word: &str) -> Option<&'static str> {
    match word {
        "and" => Some("`and` is not an operator here: write `&&`"),
        "or" => Some("`or` is not an operator here: write `||`"),
        "not" => Some("`not` is not an operator here: write `!`"),
        _ => None,
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Int(u64),
    Double(f64),
    Str(String),
    Ident(String),
    Punct(&'static str),
    Eof,
}

impl Tok {
    fn describe(&self) -> String {
        match self {
            Tok::Int(n) => format!("number {n}"),
            Tok::Double(d) => format!("number {d}"),
            Tok::Str(_) => "string".to_owned(),
            Tok::Ident(name) => format!("`{name}`"),
            Tok::Punct(p) => format!("`{p}`"),
            Tok::Eof => "end of filter".to_owned(),
        }
    }
}

/// Longest first, so `<=` wins over `<`.
const PUNCTUATION: [&str; 24] = [
    "==", "!=", "<=", ">=", "&&", "||", "<", ">", "!", "+", "-", "*", "/", "%", "(", ")", "[", "]",
    "{", "}", ".", ",", "?", ":",
];

fn lex(source: &str) -> Result<Vec<(Tok, usize)>, FilterError> {
    let bytes = source.as_bytes();
    let error = |at: usize, message: &str| syntax_error(source, at, message.to_owned());
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let start = i;
        let c = bytes[i];
        if c.is_ascii_whitespace() {
            i += 1;
        } else if source[i..].starts_with("//") {
            i = source[i..].find('\n').map_or(bytes.len(), |n| i + n);
        } else if c.is_ascii_digit() {
            let (tok, end) = lex_number(source, i)?;
            tokens.push((tok, start));
            i = end;
        } else if c == b'"' || c == b'\'' {
            let (text, end) = lex_string(source, i)?;
            tokens.push((Tok::Str(text), start));
            i = end;
        } else if c.is_ascii_alphabetic() || c == b'_' {
            while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_') {
                i += 1;
            }
            tokens.push((Tok::Ident(source[start..i].to_owned()), start));
        } else if let Some(p) = PUNCTUATION.iter().find(|p| source[i..].starts_with(**p)) {
            tokens.push((Tok::Punct(p), start));
            i += p.len();
        } else {
            return Err(match c {
                b'#' => error(
                    i,
                    "unexpected `#`: write the profiles as `cp` and `sp`, \
                     without Kaa's Spring EL `#`",
                ),
                b'=' => error(i, "unexpected `=`: compare with `==`"),
                b'&' => error(i, "unexpected `&`: write `&&` for \"and\""),
                b'|' => error(i, "unexpected `|`: write `||` for \"or\""),
                _ => {
                    let ch = source[i..].chars().next().unwrap_or_default();
                    syntax_error(source, i, format!("unexpected character `{ch}`"))
                }
            });
        }
    }
    tokens.push((Tok::Eof, bytes.len()));
    Ok(tokens)
}

/// Decimal or `0x` hexadecimal integers, and decimal doubles (`1.5`, `2e3`, `1.5e-3`).
fn lex_number(source: &str, start: usize) -> Result<(Tok, usize), FilterError> {
    let bytes = source.as_bytes();
    let digits_from = |mut i: usize, hex: bool| {
        while i < bytes.len()
            && (bytes[i].is_ascii_digit() || (hex && bytes[i].is_ascii_hexdigit()))
        {
            i += 1;
        }
        i
    };
    let out_of_range = || {
        syntax_error(
            source,
            start,
            "integer is out of range (at most 9223372036854775807)".into(),
        )
    };
    let mut i;
    let tok = if source[start..].starts_with("0x") || source[start..].starts_with("0X") {
        i = digits_from(start + 2, true);
        if i == start + 2 {
            return Err(syntax_error(
                source,
                start,
                "`0x` needs hexadecimal digits".into(),
            ));
        }
        Tok::Int(u64::from_str_radix(&source[start + 2..i], 16).map_err(|_| out_of_range())?)
    } else {
        i = digits_from(start, false);
        let mut double = false;
        if bytes.get(i) == Some(&b'.') && bytes.get(i + 1).is_some_and(u8::is_ascii_digit) {
            i = digits_from(i + 1, false);
            double = true;
        }
        if matches!(bytes.get(i), Some(b'e' | b'E')) {
            let sign = usize::from(matches!(bytes.get(i + 1), Some(b'+' | b'-')));
            if bytes.get(i + 1 + sign).is_some_and(u8::is_ascii_digit) {
                i = digits_from(i + 1 + sign, false);
                double = true;
            }
        }
        let text = &source[start..i];
        if double {
            // Digits, a dot and an exponent always parse; overflow gives infinity.
            Tok::Double(text.parse().unwrap_or(f64::INFINITY))
        } else {
            Tok::Int(text.parse().map_err(|_| out_of_range())?)
        }
    };
    if bytes
        .get(i)
        .is_some_and(|b| b.is_ascii_alphanumeric() || *b == b'_')
    {
        let message = if matches!(bytes[i], b'u' | b'U') {
            "unsigned literals (`1u`) are not supported; write the plain number"
        } else {
            "a number runs into letters here"
        };
        return Err(syntax_error(source, i, message.into()));
    }
    Ok((tok, i))
}

/// A single- or double-quoted string on one line, with `\\ \" \' \n \r \t \uXXXX` escapes.
fn lex_string(source: &str, start: usize) -> Result<(String, usize), FilterError> {
    let quote = source.as_bytes()[start] as char;
    let mut text = String::new();
    let mut chars = source[start + 1..]
        .char_indices()
        .map(|(i, c)| (start + 1 + i, c));
    while let Some((i, c)) = chars.next() {
        match c {
            c if c == quote => return Ok((text, i + 1)),
            '\n' | '\r' => break,
            '\\' => {
                let escaped = match chars.next() {
                    Some((_, 'n')) => '\n',
                    Some((_, 'r')) => '\r',
                    Some((_, 't')) => '\t',
                    Some((_, c @ ('\\' | '"' | '\''))) => c,
                    Some((_, 'u')) => {
                        let hex: String = chars.by_ref().take(4).map(|(_, c)| c).collect();
                        Some(&hex)
                            .filter(|h| h.len() == 4 && h.bytes().all(|b| b.is_ascii_hexdigit()))
                            .and_then(|h| u32::from_str_radix(h, 16).ok())
                            .and_then(char::from_u32)
                            .ok_or_else(|| {
                                syntax_error(
                                    source,
                                    i,
                                    "`\\u` needs four hexadecimal digits of a valid character"
                                        .into(),
                                )
                            })?
                    }
                    _ => {
                        let message =
                            "unsupported escape; use \\\\, \\\", \\', \\n, \\r, \\t or \\uXXXX";
                        return Err(syntax_error(source, i, message.into()));
                    }
                };
                text.push(escaped);
            }
            c => text.push(c),
        }
    }
    Err(syntax_error(
        source,
        start,
        "string is not closed on this line".into(),
    ))
}

fn syntax_error(source: &str, offset: usize, message: String) -> FilterError {
    FilterError::Syntax {
        position: Position::locate(source, offset),
        message,
    }
}

struct Parser<'s> {
    source: &'s str,
    tokens: Vec<(Tok, usize)>,
    at: usize,
    /// How many `expr`/unary-operator calls are active: bounds the parser's own recursion,
    /// which parentheses grow without adding tree nodes.
    nesting: usize,
    /// Names bound by the enclosing `exists`/`all`, outermost first.
    locals: Vec<String>,
}

type Parsed = Result<Expr, FilterError>;

impl Parser<'_> {
    fn peek(&self) -> &Tok {
        &self.tokens[self.at].0
    }

    fn pos(&self) -> usize {
        self.tokens[self.at].1
    }

    fn bump(&mut self) -> Tok {
        let tok = self.tokens[self.at].0.clone();
        if tok != Tok::Eof {
            self.at += 1;
        }
        tok
    }

    fn eat(&mut self, punct: &str) -> bool {
        let found = matches!(self.peek(), Tok::Punct(p) if *p == punct);
        if found {
            self.at += 1;
        }
        found
    }

    fn expect(&mut self, punct: &str, context: &str) -> Result<(), FilterError> {
        if self.eat(punct) {
            return Ok(());
        }
        let message = format!(
            "expected `{punct}` {context}, found {}",
            self.peek().describe()
        );
        Err(self.error(self.pos(), message))
    }

    fn ident(&mut self, what: &str) -> Result<String, FilterError> {
        if let Tok::Ident(name) = self.peek() {
            let name = name.clone();
            self.at += 1;
            return Ok(name);
        }
        let message = format!("expected {what}, found {}", self.peek().describe());
        Err(self.error(self.pos(), message))
    }

    fn error(&self, offset: usize, message: impl Into<String>) -> FilterError {
        syntax_error(self.source, offset, message.into())
    }

    fn too_deep(&self, offset: usize) -> FilterError {
        FilterError::TooDeep {
            position: Position::locate(self.source, offset),
            max: MAX_DEPTH,
        }
    }

    fn node(&self, kind: Kind, pos: usize) -> Parsed {
        let depth = kind.child_depth() + 1;
        if depth > MAX_DEPTH {
            return Err(self.too_deep(pos));
        }
        Ok(Expr { kind, pos, depth })
    }

    fn nested<T>(
        &mut self,
        parse: impl FnOnce(&mut Self) -> Result<T, FilterError>,
    ) -> Result<T, FilterError> {
        if self.nesting >= MAX_DEPTH {
            return Err(self.too_deep(self.pos()));
        }
        self.nesting += 1;
        let result = parse(self);
        self.nesting -= 1;
        result
    }

    /// `or ? or : expr`, CEL's lowest precedence.
    fn expr(&mut self) -> Parsed {
        self.nested(|p| {
            let cond = p.or()?;
            let pos = p.pos();
            if !p.eat("?") {
                return Ok(cond);
            }
            let then = p.or()?;
            p.expect(":", "between the branches of `? :`")?;
            let otherwise = p.expr()?;
            p.node(
                Kind::Cond(Box::new(cond), Box::new(then), Box::new(otherwise)),
                pos,
            )
        })
    }

    fn or(&mut self) -> Parsed {
        self.chain("||", Self::and, Kind::Or)
    }

    fn and(&mut self) -> Parsed {
        self.chain("&&", Self::relation, Kind::And)
    }

    fn chain(
        &mut self,
        op: &str,
        operand: fn(&mut Self) -> Parsed,
        kind: fn(Vec<Expr>) -> Kind,
    ) -> Parsed {
        let first = operand(self)?;
        let pos = self.pos();
        if !matches!(self.peek(), Tok::Punct(p) if *p == op) {
            return Ok(first);
        }
        let mut items = vec![first];
        while self.eat(op) {
            items.push(operand(self)?);
        }
        self.node(kind(items), pos)
    }

    fn relation(&mut self) -> Parsed {
        let mut left = self.additive()?;
        loop {
            let op = match self.peek() {
                Tok::Punct("==") => BinOp::Eq,
                Tok::Punct("!=") => BinOp::Ne,
                Tok::Punct("<") => BinOp::Lt,
                Tok::Punct("<=") => BinOp::Le,
                Tok::Punct(">") => BinOp::Gt,
                Tok::Punct(">=") => BinOp::Ge,
                Tok::Ident(name) if name == "in" => BinOp::In,
                _ => return Ok(left),
            };
            let pos = self.pos();
            self.bump();
            let right = self.additive()?;
            left = self.node(Kind::Binary(op, Box::new(left), Box::new(right)), pos)?;
        }
    }

    fn additive(&mut self) -> Parsed {
        let mut left = self.multiplicative()?;
        loop {
            let op = match self.peek() {
                Tok::Punct("+") => BinOp::Add,
                Tok::Punct("-") => BinOp::Sub,
                _ => return Ok(left),
            };
            let pos = self.pos();
            self.bump();
            let right = self.multiplicative()?;
            left = self.node(Kind::Binary(op, Box::new(left), Box::new(right)), pos)?;
        }
    }

    fn multiplicative(&mut self) -> Parsed {
        let mut left = self.unary()?;
        loop {
            let op = match self.peek() {
                Tok::Punct("*") => BinOp::Mul,
                Tok::Punct("/") => BinOp::Div,
                Tok::Punct("%") => BinOp::Rem,
                _ => return Ok(left),
            };
            let pos = self.pos();
            self.bump();
            let right = self.unary()?;
            left = self.node(Kind::Binary(op, Box::new(left), Box::new(right)), pos)?;
        }
    }

    fn unary(&mut self) -> Parsed {
        let pos = self.pos();
        let kind: fn(Box<Expr>) -> Kind = match self.peek() {
            Tok::Punct("!") => Kind::Not,
            Tok::Punct("-") => Kind::Neg,
            _ => return self.member(),
        };
        self.bump();
        let operand = self.nested(Self::unary)?;
        self.node(kind(Box::new(operand)), pos)
    }

    /// A primary followed by any number of `.field`, `.method(...)` and `[index]`.
    fn member(&mut self) -> Parsed {
        let mut expr = self.primary()?;
        loop {
            let pos = self.pos();
            if self.eat(".") {
                let name = self.ident("a field or function name after `.`")?;
                expr = if self.peek() == &Tok::Punct("(") {
                    self.method(expr, name, pos)?
                } else {
                    self.node(Kind::Field(Box::new(expr), name), pos)?
                };
            } else if self.eat("[") {
                let index = self.expr()?;
                self.expect("]", "to close the index")?;
                expr = self.node(Kind::Index(Box::new(expr), Box::new(index)), pos)?;
            } else {
                return Ok(expr);
            }
        }
    }

    fn method(&mut self, receiver: Expr, name: String, pos: usize) -> Parsed {
        if let quantifier @ ("exists" | "all") = name.as_str() {
            let all = quantifier == "all";
            self.expect("(", "after the function name")?;
            let var_pos = self.pos();
            let var = self.ident("a variable name, as in `list.exists(x, x == 1)`")?;
            if matches!(var.as_str(), "cp" | "sp" | "true" | "false" | "null" | "in") {
                return Err(self.error(
                    var_pos,
                    format!("`{var}` is reserved; pick another variable name"),
                ));
            }
            self.expect(",", "after the variable name")?;
            self.locals.push(var);
            let body = self.expr();
            self.locals.pop();
            let body = body?;
            self.expect(")", "to close the argument list")?;
            let kind = Kind::Quantifier {
                all,
                range: Box::new(receiver),
                body: Box::new(body),
            };
            return self.node(kind, pos);
        }
        let func = match name.as_str() {
            "size" => Func::Size,
            "startsWith" => Func::StartsWith,
            "endsWith" => Func::EndsWith,
            "contains" => Func::Contains,
            "lowerAscii" => Func::LowerAscii,
            "upperAscii" => Func::UpperAscii,
            _ => return Err(self.unknown_function(&name, pos)),
        };
        let mut args = vec![receiver];
        args.extend(self.args()?);
        self.call(func, args, pos)
    }

    fn unknown_function(&self, name: &str, pos: usize) -> FilterError {
        if let Some(hint) = spring_el_hint(name) {
            return self.error(pos, hint);
        }
        let message = match name {
            "matches" => "regular expressions (`matches`) are not supported; \
                          use startsWith, endsWith or contains"
                .to_owned(),
            "map" | "filter" | "exists_one" => {
                format!("`{name}` is not supported; use `exists` or `all`")
            }
            _ => format!(
                "unknown function `{name}`; available: has, size, int, double, string, \
                 startsWith, endsWith, contains, lowerAscii, upperAscii, exists, all"
            ),
        };
        self.error(pos, message)
    }

    fn args(&mut self) -> Result<Vec<Expr>, FilterError> {
        self.expect("(", "after the function name")?;
        let mut args = Vec::new();
        if !self.eat(")") {
            loop {
                args.push(self.expr()?);
                if self.eat(")") {
                    break;
                }
                self.expect(",", "or `)` after an argument")?;
            }
        }
        Ok(args)
    }

    /// Checks the arity of a built-in call; `args` includes any receiver.
    fn call(&self, func: Func, args: Vec<Expr>, pos: usize) -> Parsed {
        let takes_argument = matches!(func, Func::StartsWith | Func::EndsWith | Func::Contains);
        let mut args = args.into_iter().map(Box::new);
        let (subject, arg, rest) = (args.next(), args.next(), args.next());
        let Some(subject) = subject.filter(|_| rest.is_none() && arg.is_some() == takes_argument)
        else {
            let name = func.name();
            let message = match func {
                Func::Size => "`size` takes one value: `size(x)` or `x.size()`".to_owned(),
                Func::Int | Func::Double | Func::String => {
                    format!("`{name}` takes one value: `{name}(x)`")
                }
                Func::LowerAscii | Func::UpperAscii => {
                    format!("`{name}` takes no arguments: `s.{name}()`")
                }
                Func::StartsWith | Func::EndsWith | Func::Contains => {
                    format!("`{name}` takes one argument: `s.{name}(\"text\")`")
                }
            };
            return Err(self.error(pos, message));
        };
        self.node(Kind::Call(func, subject, arg), pos)
    }

    fn primary(&mut self) -> Parsed {
        let pos = self.pos();
        match self.bump() {
            Tok::Int(n) => {
                let n = i64::try_from(n).map_err(|_| {
                    self.error(pos, "integer is out of range (at most 9223372036854775807)")
                })?;
                self.node(Kind::Lit(Lit::Int(n)), pos)
            }
            Tok::Double(d) => self.node(Kind::Lit(Lit::Double(d)), pos),
            Tok::Str(s) => self.node(Kind::Lit(Lit::Str(s)), pos),
            Tok::Punct("(") => {
                let inner = self.expr()?;
                self.expect(")", "to close the parenthesis")?;
                Ok(inner)
            }
            Tok::Punct("[") => {
                let mut items = Vec::new();
                while !self.eat("]") {
                    items.push(self.expr()?);
                    if !self.eat(",") {
                        self.expect("]", "or `,` in the list")?;
                        break;
                    }
                }
                self.node(Kind::List(items), pos)
            }
            Tok::Punct("{") => Err(self.error(
                pos,
                "map literals are not supported; use a list, as in `x in [\"a\", \"b\"]`",
            )),
            Tok::Ident(name) if self.peek() == &Tok::Punct("(") => self.global_call(&name, pos),
            Tok::Ident(name) => self.name(&name, pos),
            other => Err(self.error(pos, format!("expected a value, found {}", other.describe()))),
        }
    }

    fn global_call(&mut self, name: &str, pos: usize) -> Parsed {
        let func = match name {
            "has" => {
                self.expect("(", "after `has`")?;
                let arg = self.expr()?;
                self.expect(")", "to close `has(`")?;
                return match arg.kind {
                    Kind::Field(base, field) => self.node(Kind::Has(base, field), pos),
                    _ => Err(self.error(arg.pos, "`has` takes a field, as in `has(cp.location)`")),
                };
            }
            "size" => Func::Size,
            "int" => Func::Int,
            "double" => Func::Double,
            "string" => Func::String,
            "startsWith" | "endsWith" | "contains" | "lowerAscii" | "upperAscii" | "exists"
            | "all" => {
                return Err(self.error(
                    pos,
                    format!("`{name}` is called on a value, as in `cp.name.{name}(...)`"),
                ));
            }
            _ => return Err(self.unknown_function(name, pos)),
        };
        let args = self.args()?;
        self.call(func, args, pos)
    }

    fn name(&self, name: &str, pos: usize) -> Parsed {
        let kind = match name {
            "true" => Kind::Lit(Lit::Bool(true)),
            "false" => Kind::Lit(Lit::Bool(false)),
            "null" => Kind::Lit(Lit::Null),
            "cp" => Kind::Var(Var::Client),
            "sp" => Kind::Var(Var::Server),
            _ => match self.locals.iter().rposition(|local| local == name) {
                Some(slot) => Kind::Var(Var::Local(slot)),
                None => {
                    let message = match spring_el_hint(name) {
                        Some(hint) => hint.to_owned(),
                        None => format!(
                            "unknown name `{name}`; profile fields are read through `cp` \
                             (client profile) or `sp` (server profile), as in `cp.{name}`"
                        ),
                    };
                    return Err(self.error(pos, message));
                }
            },
        };
        self.node(kind, pos)
    }
}
