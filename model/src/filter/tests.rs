//! Unit and property tests for profile filters: representative filters from Kaa deployments,
//! the absent-field rules, every error with its position, the limits, and properties that
//! compiling and evaluating never panic on arbitrary sources and profiles.

use std::cmp::Ordering;

use proptest::prelude::*;
use serde_json::{Value, json};

use super::{FilterError, MAX_DEPTH, MAX_EVAL_STEPS, MAX_SOURCE_LEN, Position, ProfileFilter};

fn compile(source: &str) -> ProfileFilter {
    ProfileFilter::compile(source).unwrap_or_else(|e| panic!("{source:?} should compile: {e}"))
}

/// Evaluates `source` with `cp` as the client profile and `sp` as the server profile.
fn eval(source: &str, cp: &Value, sp: &Value) -> Result<bool, FilterError> {
    compile(source).matches(cp, sp)
}

fn matches(source: &str, cp: Value) -> bool {
    eval(source, &cp, &json!({})).unwrap_or_else(|e| panic!("{source:?} failed: {e}"))
}

fn compile_error(source: &str) -> FilterError {
    ProfileFilter::compile(source).expect_err(source)
}

/// The message and (line, column) of a compile error that has a place.
fn located(source: &str) -> (String, usize, usize) {
    let error = compile_error(source);
    let position = error
        .position()
        .unwrap_or_else(|| panic!("{error:?} has no position"));
    let message = match &error {
        FilterError::Syntax { message, .. } | FilterError::Type { message, .. } => message.clone(),
        other => other.to_string(),
    };
    (message, position.line, position.column)
}

#[test]
fn os_and_version() {
    let filter = "cp.os == \"android\" && cp.version >= 5";
    assert!(matches(filter, json!({"os": "android", "version": 6})));
    assert!(matches(filter, json!({"os": "android", "version": 5})));
    assert!(matches(filter, json!({"os": "android", "version": 5.5})));
    assert!(!matches(filter, json!({"os": "android", "version": 4})));
    assert!(!matches(filter, json!({"os": "ios", "version": 9})));
}

#[test]
fn server_profile_tier_in_list() {
    let filter = compile("sp.tier in [\"gold\", \"silver\"]");
    let cp = json!({});
    assert_eq!(filter.matches(&cp, &json!({"tier": "gold"})), Ok(true));
    assert_eq!(filter.matches(&cp, &json!({"tier": "silver"})), Ok(true));
    assert_eq!(filter.matches(&cp, &json!({"tier": "bronze"})), Ok(false));
    assert_eq!(filter.matches(&cp, &json!({})), Ok(false));
}

#[test]
fn has_guards_a_nested_record() {
    let filter = "has(cp.location) && cp.location.country == \"DE\"";
    assert!(matches(filter, json!({"location": {"country": "DE"}})));
    assert!(!matches(filter, json!({"location": {"country": "FR"}})));
    assert!(!matches(filter, json!({"location": null})));
    assert!(!matches(filter, json!({})));
}

#[test]
fn string_functions() {
    let cp = json!({"model": "SM-G991B", "name": "Ünïcode"});
    for filter in [
        "cp.model.startsWith(\"SM-\")",
        "cp.model.endsWith(\"91B\")",
        "cp.model.contains(\"G99\")",
        "size(cp.model) == 8 && cp.model.size() == 8",
        "size(cp.name) == 7",
        "cp.model.lowerAscii() == \"sm-g991b\"",
        "cp.model.lowerAscii().upperAscii() == cp.model",
        "cp.model + \"/\" + cp.name == \"SM-G991B/Ünïcode\"",
        "'single' == \"single\"",
    ] {
        assert!(matches(filter, cp.clone()), "{filter}");
    }
    assert!(!matches("cp.model.startsWith(\"sm-\")", cp));
}

#[test]
fn lists_and_quantifiers() {
    let cp = json!({
        "tags": ["beta", "eu"],
        "sensors": [{"kind": "gps", "rate": 10}, {"kind": "temp", "rate": 1}],
        "empty": [],
        "weird-key": 1,
        "labels": {"a": "x", "b": "y"},
    });
    for filter in [
        "\"beta\" in cp.tags",
        "cp.tags[0] == \"beta\" && cp.tags[1] == \"eu\"",
        "size(cp.tags) == 2 && cp.tags.size() == 2",
        "cp.sensors.exists(s, s.kind == \"gps\")",
        "cp.sensors.all(s, s.rate >= 1)",
        "!cp.sensors.exists(s, s.kind == \"camera\")",
        "cp.empty.all(x, false)",
        "!cp.empty.exists(x, true)",
        "cp.sensors.exists(s, cp.tags.exists(s, s == \"eu\"))",
        "cp.sensors.exists(s, cp.tags.exists(t, t == \"eu\" && s.rate == 10))",
        "cp[\"weird-key\"] == 1",
        "\"a\" in cp.labels && !(\"c\" in cp.labels)",
        "cp.labels.exists(k, k == \"b\") && cp.labels[\"b\"] == \"y\"",
        "cp.tags == [\"beta\", \"eu\"] && cp.tags != [\"eu\", \"beta\"]",
    ] {
        assert!(matches(filter, cp.clone()), "{filter}");
    }
    assert!(
        !matches("cp.tags[2] == \"x\"", cp.clone()),
        "index past the end is absent"
    );
    assert!(!matches("cp.tags[-1] == \"eu\"", cp));
}

#[test]
fn numbers_conditionals_and_conversions() {
    let cp =
        json!({"build": "123", "ratio": 0.25, "n": 7, "flag": true, "big": 9007199254740993_i64});
    for filter in [
        "1 == 1.0 && 2 > 1.5 && -1 < 0 && 0x10 == 16",
        "cp.n % 4 == 3 && cp.n / 2 == 3 && cp.n * 2 - 4 == 10",
        "cp.ratio * 4.0 == 1 && cp.n / 2.0 == 3.5",
        "int(cp.build) >= 120 && double(cp.build) == 123.0 && int(cp.ratio) == 0",
        "string(cp.n) == \"7\" && string(true) == \"true\"",
        "cp.flag",
        "cp.flag ? cp.n > 5 : cp.n > 100",
        "cp.big > 9007199254740992.0",
        "1e3 == 1000 && 2.5e-1 == cp.ratio",
        "cp.n == 7 // a comment\n  && cp.flag",
        "cp.n != \"7\" && cp.n != null && !(cp.n == [7])",
        "\"b\" > \"a\" && true > false",
    ] {
        assert!(matches(filter, cp.clone()), "{filter}");
    }
}

#[test]
fn absent_and_null_fields_do_not_match() {
    let cp = json!({"version": 6, "none": null, "nested": {"x": null}});
    for (filter, expected) in [
        ("cp.os == \"ios\"", false),
        ("cp.os != \"ios\"", false),
        ("!(cp.os == \"ios\")", false),
        ("cp.os.startsWith(\"i\")", false),
        ("size(cp.os) > 0", false),
        ("cp.os == \"ios\" || cp.version >= 5", true),
        ("cp.version >= 5 || cp.os == \"ios\"", true),
        ("cp.os == \"ios\" && false", false),
        ("cp.os == \"ios\" && true", false),
        ("!has(cp.os) || cp.os != \"ios\"", true),
        ("has(cp.os.name)", false),
        ("!has(cp.nested.x)", true),
        ("has(cp.nested)", true),
        ("has(cp.none)", false),
        ("cp.none == null", true),
        ("cp.os == null", false),
        ("cp.none >= 5", false),
        ("cp.none.x == 1", false),
        ("cp.none", false),
        ("cp.none ? true : true", false),
        ("[cp.os].size() == 1", false),
        ("sp.anything == 1", false),
    ] {
        assert_eq!(matches(filter, cp.clone()), expected, "{filter}");
    }
}

#[test]
fn profiles_that_are_not_objects() {
    // An endpoint without a server profile yet may be given `null`.
    assert_eq!(
        eval("sp.tier == \"gold\"", &json!({}), &Value::Null),
        Ok(false)
    );
    assert_eq!(eval("!has(sp.tier)", &json!({}), &Value::Null), Ok(true));
    let error = eval("cp.os == \"x\"", &json!(5), &json!({})).expect_err("field of an int");
    assert!(matches!(error, FilterError::Evaluation { .. }), "{error:?}");
}

#[test]
fn match_all_is_a_constant_true() {
    const ALL: ProfileFilter = ProfileFilter::match_all();
    assert_eq!(ALL.source(), "true");
    assert_eq!(ALL, compile("true"));
    assert_eq!(ALL.matches(&json!({}), &Value::Null), Ok(true));
    assert_eq!(ALL.matches(&json!([1]), &json!("x")), Ok(true));
    assert_eq!(compile("  cp.a == 1 ").to_string(), "  cp.a == 1 ");
}

#[test]
fn syntax_errors_carry_line_and_column() {
    let (message, line, column) = located("cp.os == ");
    assert_eq!((line, column), (1, 10));
    assert_eq!(message, "expected a value, found end of filter");
    let (message, line, column) = located("cp.os = \"a\"");
    assert_eq!((line, column), (1, 7));
    assert!(message.contains("`==`"), "{message}");

    for (source, fragment) in [
        ("#cp.os == \"a\"", "without Kaa's Spring EL `#`"),
        ("cp.os == \"a\" and cp.v > 1", "write `&&`"),
        ("cp.os == \"a\" || or", "write `||`"),
        ("cp.os == 'a' || not(cp.b)", "write `!`"),
        ("cp.os == \"a\" \"b\"", "after a complete expression"),
        ("cp.os == \"a\" & cp.v > 1", "`&&`"),
        ("foo == 1", "unknown name `foo`"),
        ("cp.os.matches(\"a.*\")", "regular expressions"),
        ("cp.tags.map(t, t)", "use `exists` or `all`"),
        ("cp.os.frobnicate()", "unknown function `frobnicate`"),
        ("startsWith(cp.os, \"a\")", "called on a value"),
        ("cp.os.startsWith()", "takes one argument"),
        ("size(cp.a, cp.b) == 1", "takes one value"),
        ("has(cp) ", "takes a field"),
        ("cp.tags.exists(cp, true)", "`cp` is reserved"),
        ("cp.tags.exists(null, true)", "`null` is reserved"),
        ("cp.tags.exists(x, true) && x == 1", "unknown name `x`"),
        ("{\"a\": 1}", "map literals"),
        ("cp.n == 1u", "unsigned"),
        ("cp.n == 99999999999999999999", "out of range"),
        ("cp.s == \"\\q\"", "unsupported escape"),
        ("cp.s == \"\\u12\"", "four hexadecimal digits"),
        ("cp.s == 'open", "not closed"),
        ("(cp.a == 1", "expected `)`"),
        ("cp.a ? 1", "expected `:`"),
        ("", "empty"),
        ("  // only a comment", "empty"),
    ] {
        let (message, ..) = located(source);
        assert!(message.contains(fragment), "{source}: {message}");
    }

    // Lines and columns count characters, not bytes, across lines.
    let source = "cp.name == \"héllo\" &&\n  cp.version >> 5";
    let error = compile_error(source);
    let position = error.position().expect("a syntax error has a position");
    assert_eq!((position.line, position.column), (2, 15));
    assert_eq!(Some(position.offset), source.find(">>").map(|o| o + 1));
    assert_eq!(
        error.to_string(),
        "line 2, column 15: expected a value, found `>`"
    );
}

#[test]
fn type_errors_are_caught_at_compile_time() {
    for (source, fragment) in [
        ("1 + 2", "must be true or false, but this one is a int"),
        ("\"android\"", "is a string"),
        ("size(cp.tags)", "is a int"),
        ("[cp.a]", "is a list"),
        (
            "cp.os == \"android\" + 1",
            "cannot apply `+` to string and int",
        ),
        ("size(cp.tags) > \"3\"", "cannot order int and string"),
        ("cp.x in 5", "the right side of `in` must be list"),
        ("!5", "the operand of `!` must be bool"),
        (
            "\"a\".length == 1",
            "cannot read field `length` of a string",
        ),
        ("cp.a && \"yes\"", "each side of `&&` and `||` must be bool"),
        ("[1, 2][\"a\"] == 1", "a list index must be int"),
        ("cp.n % 2.0 == 1", "`%` takes two ints"),
        ("null < cp.n", "cannot order null and dyn"),
        ("5.startsWith(\"a\")", "must be string, not int"),
        (
            "cp.tags.exists(t, t.size())",
            "the condition of `exists`/`all` must be bool",
        ),
        ("true ? 1 : 2", "is a int"),
    ] {
        let error = compile_error(source);
        assert!(
            matches!(error, FilterError::Type { .. }),
            "{source}: {error:?}"
        );
        assert!(error.to_string().contains(fragment), "{source}: {error}");
    }
    // Profile fields have unknown types, so nothing about them is rejected early.
    for source in [
        "cp.os",
        "cp.a + cp.b",
        "cp.a < cp.b",
        "true ? cp.a : 1",
        "cp.x[cp.y]",
    ] {
        compile(source);
    }
}

#[test]
fn evaluation_errors() {
    let cp = json!({"os": "android", "n": i64::MAX, "zero": 0, "list": [1]});
    let sp = json!({});
    let error = eval("cp.os > 5", &cp, &sp).expect_err("string > int");
    assert_eq!(
        error,
        FilterError::Evaluation {
            position: Position {
                offset: 6,
                line: 1,
                column: 7
            },
            message: "cannot order string and int".to_owned(),
        }
    );
    assert_eq!(
        eval("cp.os > 5 || true", &cp, &sp),
        Ok(true),
        "errors are absorbed by ||"
    );
    assert_eq!(
        eval("cp.os > 5 && false", &cp, &sp),
        Ok(false),
        "errors are absorbed by &&"
    );
    assert_eq!(
        eval("cp.missing == 1 && cp.os > 5", &cp, &sp),
        Ok(false),
        "the first fault wins"
    );
    assert_eq!(
        eval("cp.os", &cp, &sp),
        Err(FilterError::NotBoolean { found: "string" })
    );
    assert_eq!(
        eval("cp.list", &cp, &sp),
        Err(FilterError::NotBoolean { found: "list" })
    );
    for (source, message) in [
        ("cp.n + 1 > 0", "integer overflow"),
        ("-(cp.n + 0) - 2 < 0", "integer overflow"),
        ("cp.n / cp.zero == 0", "division by zero"),
        ("cp.n % cp.zero == 0", "division by zero"),
        (
            "int(cp.os) == 1",
            "`int` cannot read \"android\" as an integer",
        ),
        ("int(1e300) == 1", "cannot convert"),
        ("cp.os.x == 1", "cannot read field `x` of a string"),
        ("cp.list[\"a\"] == 1", "cannot index a list with a string"),
        (
            "cp.os.exists(c, true)",
            "need a list or a map, not a string",
        ),
        ("cp.list.exists(x, x)", "need bools, not a int"),
        ("cp.os in cp.os", "`in` needs a list or a map"),
    ] {
        match eval(source, &cp, &sp) {
            Err(FilterError::Evaluation { message: got, .. }) => {
                assert!(got.contains(message), "{source}: {got}");
            }
            other => panic!("{source}: expected an evaluation error, got {other:?}"),
        }
    }
}

#[test]
fn source_length_is_limited() {
    let long = format!("{}true", "true && ".repeat(MAX_SOURCE_LEN / 8));
    assert_eq!(
        ProfileFilter::compile(&long),
        Err(FilterError::TooLong {
            len: long.len(),
            max: MAX_SOURCE_LEN
        })
    );
    let at_limit = format!("{}true", " ".repeat(MAX_SOURCE_LEN - 4));
    assert!(
        compile(&at_limit)
            .matches(&json!({}), &json!({}))
            .expect("at the limit")
    );
}

#[test]
fn nesting_depth_is_limited() {
    let deep = |open: &str, inner: &str, close: &str, n: usize| {
        format!("{}{inner}{}", open.repeat(n), close.repeat(n))
    };
    for source in [
        deep("(", "true", ")", MAX_DEPTH + 1),
        deep("!", "true", "", MAX_DEPTH + 1),
        deep("-", "1 > 0", "", MAX_DEPTH + 1),
        deep("[", "1", "]", MAX_DEPTH + 1) + " == []",
        format!("cp{} == 1", ".a".repeat(MAX_DEPTH + 1)),
        format!("{}1 > 0", "1 + ".repeat(MAX_DEPTH + 1)),
        format!("has(cp{})", "[0]".repeat(MAX_DEPTH + 1)),
        deep("size(", "cp", ")", MAX_DEPTH + 1) + " > 0",
        deep("(", "1", ")", 10_000),
    ] {
        let error = ProfileFilter::compile(&source).expect_err(&source);
        match error {
            FilterError::TooDeep { max, .. } if max == MAX_DEPTH => {}
            FilterError::TooLong { .. } if source.len() > MAX_SOURCE_LEN => {}
            other => panic!("{source}: {other:?}"),
        }
    }
    // Just inside the limits, and long chains of && that do not count as nesting.
    let cp = json!({"a": true});
    assert!(matches(&deep("(", "true", ")", MAX_DEPTH - 1), cp.clone()));
    assert!(matches(&deep("!", "true", "", MAX_DEPTH - 2), cp.clone()));
    let conjunction = vec!["cp.a == true"; 200].join(" && ");
    assert!(matches(&conjunction, cp));
}

#[test]
fn evaluation_cost_is_bounded() {
    let list: Vec<u32> = (0..100).collect();
    let cp = json!({ "l": list, "s": "x".repeat(64 * 1024) });
    // A million comparisons.
    let nested = "cp.l.exists(a, cp.l.exists(b, cp.l.exists(c, a + b + c < 0)))";
    assert_eq!(
        eval(nested, &cp, &json!({})),
        Err(FilterError::TooCostly {
            max: MAX_EVAL_STEPS
        })
    );
    // Concatenation is charged for the bytes it builds: here 14 MiB in all.
    let concat = format!("size({}cp.s{}) > 0", "(".repeat(20), " + cp.s)".repeat(20));
    assert_eq!(
        eval(&concat, &cp, &json!({})),
        Err(FilterError::TooCostly {
            max: MAX_EVAL_STEPS
        })
    );
    // A budget exhausted inside `||` is not absorbed.
    let absorbed = format!("{nested} || true");
    assert_eq!(
        eval(&absorbed, &cp, &json!({})),
        Err(FilterError::TooCostly {
            max: MAX_EVAL_STEPS
        })
    );
    // Ordinary filters over the same data are cheap.
    assert_eq!(
        eval("cp.l.exists(a, a == 99) && size(cp.s) > 0", &cp, &json!({})),
        Ok(true)
    );
}

#[test]
fn deeply_nested_profiles_are_compared_without_overflowing_the_stack() {
    // Built by hand: `json!` would serialize the interpolated value, recursively.
    let mut deep = json!(1);
    for _ in 0..10_000 {
        deep = Value::Array(vec![deep]);
    }
    let cp = Value::Object([("a".to_owned(), deep)].into_iter().collect());
    let error = eval("cp.a == cp.a", &cp, &cp).expect_err("too deep to compare");
    assert!(error.to_string().contains("nested too deeply"), "{error}");
    // Unwind the value iteratively: serde_json drops recursively.
    let Value::Object(mut map) = cp else {
        unreachable!("built as an object")
    };
    let mut next = map.remove("a");
    while let Some(Value::Array(mut items)) = next {
        next = items.pop();
    }
}

// Property tests.

/// Arbitrary JSON, with object keys from a small alphabet so that generated filters find them.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>()
            .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        "[a-c]{0,3}|\\PC{0,8}".prop_map(Value::from),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map("[a-c]", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn profile() -> impl Strategy<Value = Value> {
    prop::collection::btree_map("[a-c]", json_value(), 0..4)
        .prop_map(|m| Value::Object(m.into_iter().collect()))
}

/// Sequences of the language's tokens: mostly invalid, sometimes deep or subtle.
fn token_soup() -> impl Strategy<Value = String> {
    const TOKENS: &[&str] = &[
        "cp",
        "sp",
        ".",
        "a",
        "b",
        "c",
        "x",
        "[",
        "]",
        "(",
        ")",
        ",",
        "==",
        "!=",
        "<",
        ">=",
        "&&",
        "||",
        "!",
        "-",
        "+",
        "*",
        "/",
        "%",
        "in",
        "?",
        ":",
        "0",
        "1",
        "2.5",
        "1e308",
        "9223372036854775807",
        "\"a\"",
        "'b'",
        "\"\"",
        "null",
        "true",
        "false",
        "has",
        "size",
        "int",
        "double",
        "string",
        "exists",
        "all",
        "startsWith",
        "contains",
        "lowerAscii",
    ];
    prop::collection::vec(prop::sample::select(TOKENS), 0..32).prop_map(|tokens| tokens.join(" "))
}

/// Well-formed expressions, type-correct or not, with profile reads that may or may not exist.
fn expression() -> impl Strategy<Value = String> {
    let leaf = prop::sample::select(vec![
        "cp",
        "sp",
        "cp.a",
        "sp.b",
        "cp.a.b",
        "cp.c[0]",
        "x",
        "0",
        "-1",
        "2.5",
        "\"a\"",
        "null",
        "true",
        "false",
        "[]",
        "[1, \"a\"]",
    ])
    .prop_map(str::to_owned);
    leaf.prop_recursive(5, 48, 3, |inner| {
        let op = prop::sample::select(vec![
            "==", "!=", "<", "<=", ">", ">=", "in", "&&", "||", "+", "-", "*", "/", "%",
        ]);
        let method = prop::sample::select(vec![
            "size()",
            "lowerAscii()",
            "startsWith(\"a\")",
            "contains(cp.a)",
            "b",
            "[1]",
        ]);
        let function = prop::sample::select(vec!["size", "int", "double", "string", "!", "-"]);
        prop_oneof![
            (inner.clone(), op, inner.clone()).prop_map(|(a, op, b)| format!("({a} {op} {b})")),
            (inner.clone(), method).prop_map(|(a, m)| format!("{a}.{m}")),
            (function, inner.clone()).prop_map(|(f, a)| format!("{f}({a})")),
            inner.clone().prop_map(|a| format!("has({a}.a)")),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("{a}.exists(x, {b})")),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("{a}.all(x, {b})")),
            (inner.clone(), inner.clone(), inner)
                .prop_map(|(c, a, b)| format!("({c} ? {a} : {b})")),
        ]
    })
}

/// Mostly well-typed filters: comparisons and tests over profile fields, combined with the
/// logical operators, conditionals and quantifiers; `x` is the quantifiers' variable.
fn filter_like() -> impl Strategy<Value = String> {
    let field = prop_oneof![
        8 => prop::sample::select(vec![
            "cp.a", "cp.b", "sp.a", "cp.a.b", "cp.c[0]", "cp.a[\"b\"]", "cp",
        ]),
        1 => prop::sample::select(vec!["x", "x.a"]),
    ];
    let text = prop_oneof![
        field.clone().prop_map(str::to_owned),
        prop::sample::select(vec!["\"a\"", "\"\""]).prop_map(str::to_owned),
    ];
    let value = prop_oneof![
        field.clone().prop_map(str::to_owned),
        prop::sample::select(vec![
            "0",
            "1",
            "-1",
            "2.5",
            "1e300",
            "\"a\"",
            "\"\"",
            "null",
            "true",
            "[1, \"a\"]",
        ])
        .prop_map(str::to_owned),
        (
            field.clone(),
            prop::sample::select(vec!["+", "-", "*", "/", "%"]),
            field.clone()
        )
            .prop_map(|(a, op, b)| format!("({a} {op} {b})")),
        field.clone().prop_map(|a| format!("size({a})")),
        field.clone().prop_map(|a| format!("int({a})")),
        field.clone().prop_map(|a| format!("string({a})")),
        field.clone().prop_map(|a| format!("{a}.lowerAscii()")),
    ];
    let comparison = prop::sample::select(vec!["==", "!=", "<", "<=", ">", ">=", "in"]);
    let test = prop_oneof![
        (value.clone(), comparison, value.clone()).prop_map(|(a, op, b)| format!("{a} {op} {b}")),
        field.clone().prop_map(|a| format!("has({a}.a)")),
        (field.clone(), text.clone()).prop_map(|(a, b)| format!("{a}.startsWith({b})")),
        (field.clone(), text).prop_map(|(a, b)| format!("{a}.contains({b})")),
        field.clone().prop_map(str::to_owned),
        prop::sample::select(vec!["true", "false"]).prop_map(str::to_owned),
    ];
    let body = test.prop_recursive(4, 24, 3, move |inner| {
        prop_oneof![
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("({a} && {b})")),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("({a} || {b})")),
            inner.clone().prop_map(|a| format!("!({a})")),
            (inner.clone(), inner.clone(), inner.clone())
                .prop_map(|(c, a, b)| format!("({c} ? {a} : {b})")),
            (field.clone(), inner.clone()).prop_map(|(r, a)| format!("{r}.exists(x, {a})")),
            (field.clone(), inner).prop_map(|(r, a)| format!("{r}.all(x, {a})")),
        ]
    });
    prop_oneof![
        body.clone(),
        body.prop_map(|b| format!("cp.c.exists(x, {b})"))
    ]
}

/// Evaluation errors are about the profiles: never a syntax, type or length problem.
fn assert_evaluation_outcome(result: &Result<bool, FilterError>) {
    if let Err(error) = result {
        assert!(
            matches!(
                error,
                FilterError::Evaluation { .. }
                    | FilterError::NotBoolean { .. }
                    | FilterError::TooCostly { .. }
            ),
            "{error:?}"
        );
    }
}

fn assert_compile_outcome(source: &str, result: &Result<ProfileFilter, FilterError>) {
    if let Err(error) = result {
        if let Some(position) = error.position() {
            assert!(position.offset <= source.len(), "{error:?}");
            assert_eq!(position, Position::locate(source, position.offset));
        }
        assert!(!matches!(
            error,
            FilterError::Evaluation { .. } | FilterError::NotBoolean { .. }
        ));
    }
}

/// Orders an int and a finite double exactly, from the double's bits: `d = ±m·2^e`.
fn exact_order(i: i64, d: f64) -> Ordering {
    let bits = d.to_bits();
    let exponent = ((bits >> 52) & 0x7ff) as i32;
    let fraction = i128::from(bits & ((1 << 52) - 1));
    let (m, e) = if exponent == 0 {
        (fraction, -1074)
    } else {
        (fraction | 1 << 52, exponent - 1075)
    };
    let m = if bits >> 63 == 1 { -m } else { m };
    let i = i128::from(i);
    if e > 11 {
        // |d| >= 2^64: beyond every i64, so the double's sign decides.
        0.cmp(&m)
    } else if e >= 0 {
        i.cmp(&(m << e))
    } else if e >= -64 {
        (i << -e).cmp(&m)
    } else if i == 0 {
        // 0 < |d| < 2^53 · 2^-65 < 1 (or d is zero): signs decide.
        0.cmp(&m)
    } else {
        i.cmp(&0)
    }
}

/// Escapes `text` as a double-quoted filter string literal.
fn string_literal(text: &str) -> String {
    let mut literal = String::from("\"");
    for c in text.chars() {
        match c {
            '"' | '\\' => literal.extend(['\\', c]),
            '\n' | '\r' => literal.push_str(&format!("\\u{:04x}", c as u32)),
            c => literal.push(c),
        }
    }
    literal.push('"');
    literal
}

proptest! {
    #[test]
    fn arbitrary_text_never_panics(
        source in "\\PC{0,48}|.{0,48}",
        cp in profile(),
        sp in profile(),
    ) {
        let compiled = ProfileFilter::compile(&source);
        assert_compile_outcome(&source, &compiled);
        if let Ok(filter) = compiled {
            assert_evaluation_outcome(&filter.matches(&cp, &sp));
        }
    }

    #[test]
    fn token_soup_never_panics(source in token_soup(), cp in profile(), sp in profile()) {
        let compiled = ProfileFilter::compile(&source);
        assert_compile_outcome(&source, &compiled);
        if let Ok(filter) = compiled {
            assert_evaluation_outcome(&filter.matches(&cp, &sp));
        }
    }

    #[test]
    fn expressions_evaluate_without_panicking(
        source in prop_oneof![expression(), filter_like()],
        cp in profile(),
        sp in profile(),
    ) {
        let compiled = ProfileFilter::compile(&source);
        assert_compile_outcome(&source, &compiled);
        if let Ok(filter) = compiled {
            assert_evaluation_outcome(&filter.matches(&cp, &sp));
            // `||` and `&&` absorb whatever the other operand does, short of the budget.
            let either = compile(&format!("({source}) || true")).matches(&cp, &sp);
            let absorbed = matches!(either, Ok(true) | Err(FilterError::TooCostly { .. }));
            prop_assert!(absorbed, "{source} || true gave {either:?}");
            let both = compile(&format!("({source}) && false")).matches(&cp, &sp);
            let absorbed = matches!(both, Ok(false) | Err(FilterError::TooCostly { .. }));
            prop_assert!(absorbed, "{source} && false gave {both:?}");
        }
    }

    #[test]
    fn string_literals_round_trip(text in "\\PC{0,32}|.{0,32}") {
        let filter = compile(&format!(
            "cp.a == {} && size(cp.a) == {}",
            string_literal(&text),
            text.chars().count()
        ));
        prop_assert_eq!(filter.matches(&json!({ "a": text }), &json!({})), Ok(true));
        prop_assert_eq!(filter.matches(&json!({ "a": format!("{text}!") }), &json!({})), Ok(false));
    }

    #[test]
    fn int_double_comparisons_are_exact(i in any::<i64>(), d in any::<f64>()) {
        // JSON has no NaN or infinities.
        prop_assume!(d.is_finite());
        let cp = json!({ "i": i, "d": d });
        let expected = exact_order(i, d);
        let less = eval("cp.i < cp.d", &cp, &json!({}));
        let equal = eval("cp.i == cp.d", &cp, &json!({}));
        let greater = eval("cp.d < cp.i", &cp, &json!({}));
        prop_assert_eq!(less, Ok(expected == Ordering::Less));
        prop_assert_eq!(equal, Ok(expected == Ordering::Equal));
        prop_assert_eq!(greater, Ok(expected == Ordering::Greater));
    }
}
