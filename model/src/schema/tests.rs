//! Tests of the whole schema module through its public API: schema errors, document
//! validation, byte-exact encodings from the Avro specification, hostile binary, and property
//! tests that generated documents survive encode → decode → encode.

use proptest::prelude::*;
use proptest::{collection::vec, sample::select};
use serde_json::{Value, json};

use super::types::{NamedKind, Type, value_kind};
use super::*;

/// A configuration schema in the style of Kaa's samples, touching every type.
const CONFIG: &str = r#"{
  "type": "record", "name": "Configuration", "namespace": "org.kaaproject.sample",
  "fields": [
    {"name": "message", "type": "string", "default": "hi"},
    {"name": "interval", "type": "int", "default": 10},
    {"name": "enabled", "type": ["null", "boolean"], "default": null},
    {"name": "level", "type": {"type": "enum", "name": "Level", "symbols": ["LOW", "HIGH"]},
     "default": "LOW"},
    {"name": "servers", "default": [], "type": {"type": "array", "items": {
      "type": "record", "name": "Server", "fields": [
        {"name": "host", "type": "string"},
        {"name": "port", "type": "int", "default": 9997}]}}},
    {"name": "settings", "default": null, "type": ["null", {
      "type": "record", "name": "Settings", "fields": [
        {"name": "interval", "type": "long"},
        {"name": "ratio", "type": "float", "default": 0.5}]}]},
    {"name": "tags", "type": {"type": "map", "values": "string"}, "default": {}},
    {"name": "id", "type": {"type": "fixed", "name": "Id", "size": 2}, "default": "\u0001\u00ff"},
    {"name": "blob", "type": "bytes", "default": ""},
    {"name": "choice", "type": ["int", "long", "string"], "default": 1},
    {"name": "ts", "type": {"type": "long", "logicalType": "timestamp-millis"}, "default": 0}
  ]}"#;

/// The specification's recursive example: a union with two number branches and itself.
const PIG: &str = r#"{"name": "PigValue", "type": "record",
  "fields": [{"name": "value", "type": ["null", "int", "long", "PigValue"]}]}"#;

/// One union with a branch of nearly every kind, several sharing a JSON shape.
const UNIONS: &str = r#"{"type": "record", "name": "U", "namespace": "t", "fields": [
  {"name": "u", "type": ["null", "string", "double", "float", "boolean",
    {"type": "enum", "name": "E", "symbols": ["NaN", "A"]},
    {"type": "fixed", "name": "F", "size": 1},
    {"type": "map", "values": "int"},
    {"type": "record", "name": "R", "fields": [{"name": "x", "type": "int"}]},
    {"type": "array", "items": ["null", "bytes", "R"]}]},
  {"name": "list", "type": {"type": "record", "name": "Node", "fields": [
    {"name": "next", "type": ["null", "Node"]}]}}]}"#;

fn schema(text: &str) -> AvroSchema {
    AvroSchema::parse(text).unwrap_or_else(|e| panic!("{e}"))
}

fn record(fields: &str) -> AvroSchema {
    schema(&format!(
        r#"{{"type":"record","name":"T","fields":[{fields}]}}"#
    ))
}

fn parse_error(text: &str) -> SchemaError {
    AvroSchema::parse(text).expect_err("the schema should be rejected")
}

fn record_error(fields: &str) -> SchemaError {
    parse_error(&format!(
        r#"{{"type":"record","name":"T","fields":[{fields}]}}"#
    ))
}

fn errors(schema: &AvroSchema, doc: Value) -> Vec<(String, String)> {
    let error = schema
        .validate_json(&doc)
        .expect_err("the document should be rejected");
    error
        .errors()
        .iter()
        .map(|e| (e.path.clone(), e.message.clone()))
        .collect()
}

fn encode(schema: &AvroSchema, doc: Value) -> Vec<u8> {
    schema.encode_json(&doc).unwrap_or_else(|e| panic!("{e}"))
}

fn decode_error(schema: &AvroSchema, bytes: &[u8]) -> DecodeErrorKind {
    schema
        .decode_to_json(bytes)
        .expect_err("the bytes should be rejected")
        .kind
}

// ---- schema errors ----

#[test]
fn rejects_text_that_is_not_json() {
    let e = parse_error("{\"type\": ");
    assert!(matches!(&e.kind, SchemaErrorKind::NotJson(_)), "{e}");
    assert_eq!(e.path.as_str(), "");
}

#[test]
fn requires_a_record_at_the_top() {
    for (text, found) in [
        (r#""string""#, "`string`"),
        (r#"["null", "int"]"#, "a union"),
        (
            r#"{"type": "enum", "name": "E", "symbols": ["A"]}"#,
            "`enum`",
        ),
        (r#"{"type": "array", "items": "int"}"#, "`array`"),
        ("42", "a number"),
    ] {
        assert_eq!(
            &parse_error(text).kind,
            &SchemaErrorKind::NotARecord(found.into()),
            "{text}"
        );
    }
}

#[test]
fn locates_unknown_type_names() {
    let e = record_error(
        r#"{"name":"a","type":"int"},{"name":"b","type":"int"},{"name":"c","type":"Foo"}"#,
    );
    assert_eq!(e.path.as_str(), "fields[2].type");
    assert_eq!(&e.kind, &SchemaErrorKind::UnknownType("Foo".into()));
    assert_eq!(e.to_string(), "at fields[2].type: unknown type name `Foo`");

    let e = record_error(r#"{"name":"a","type":{"type":"array","items":["null","Bar"]}}"#);
    assert_eq!(e.path.as_str(), "fields[0].type.items[1]");
}

#[test]
fn named_types_must_be_defined_before_use() {
    let e = record_error(
        r#"{"name":"a","type":"E"},{"name":"b","type":{"type":"enum","name":"E","symbols":["X"]}}"#,
    );
    assert_eq!(
        (e.path.as_str(), &e.kind),
        ("fields[0].type", &SchemaErrorKind::UnknownType("E".into()))
    );
}

#[test]
fn rejects_duplicate_fields_types_and_symbols() {
    let e = record_error(r#"{"name":"a","type":"int"},{"name":"a","type":"long"}"#);
    assert_eq!(
        (e.path.as_str(), &e.kind),
        (
            "fields[1].name",
            &SchemaErrorKind::DuplicateField("a".into())
        )
    );

    let e = record_error(
        r#"{"name":"a","type":{"type":"fixed","name":"X","size":1}},
           {"name":"b","type":{"type":"enum","name":"X","symbols":["A"]}}"#,
    );
    assert_eq!(
        (e.path.as_str(), &e.kind),
        (
            "fields[1].type.name",
            &SchemaErrorKind::DuplicateType("X".into())
        )
    );

    let e =
        record_error(r#"{"name":"a","type":{"type":"enum","name":"E","symbols":["A","B","A"]}}"#);
    assert_eq!(
        (e.path.as_str(), &e.kind),
        (
            "fields[0].type.symbols[2]",
            &SchemaErrorKind::DuplicateSymbol("A".into())
        )
    );
}

#[test]
fn rejects_bad_enum_symbols_and_enum_defaults() {
    let e = record_error(r#"{"name":"a","type":{"type":"enum","name":"E","symbols":["A","1B"]}}"#);
    assert_eq!(
        (e.path.as_str(), &e.kind),
        (
            "fields[0].type.symbols[1]",
            &SchemaErrorKind::InvalidSymbol("1B".into())
        )
    );

    let e = record_error(r#"{"name":"a","type":{"type":"enum","name":"E","symbols":["A",3]}}"#);
    assert_eq!(e.path.as_str(), "fields[0].type.symbols[1]");

    let e = record_error(
        r#"{"name":"a","type":{"type":"enum","name":"E","symbols":["A"],"default":"B"}}"#,
    );
    assert_eq!(e.path.as_str(), "fields[0].type.default");
    assert!(matches!(&e.kind, SchemaErrorKind::BadDefault(_)));
}

#[test]
fn rejects_bad_field_defaults() {
    for (fields, message) in [
        (
            r#"{"name":"a","type":"int","default":"x"}"#,
            "expected int (an integer), found a string",
        ),
        (
            r#"{"name":"a","type":"int","default":2147483648}"#,
            "out of the int range",
        ),
        (
            r#"{"name":"a","type":"boolean","default":"true"}"#,
            "expected a boolean",
        ),
        (
            r#"{"name":"a","type":["null","int"],"default":5}"#,
            "expected null",
        ),
        (
            r#"{"name":"a","type":["int","null"],"default":null}"#,
            "expected int",
        ),
        (
            r#"{"name":"a","type":{"type":"fixed","name":"F","size":2},"default":"x"}"#,
            "exactly 2 bytes",
        ),
        (
            r#"{"name":"a","type":"bytes","default":"\u0100"}"#,
            "above U+00FF",
        ),
        (
            r#"{"name":"a","type":{"type":"enum","name":"E","symbols":["A"]},"default":"B"}"#,
            "not a symbol",
        ),
        (
            r#"{"name":"a","type":{"type":"record","name":"S","fields":[{"name":"x","type":"int"}]},"default":{}}"#,
            "missing field `x`",
        ),
        (
            r#"{"name":"a","type":{"type":"array","items":"int"},"default":[1,"2"]}"#,
            "at $[1]: expected int",
        ),
    ] {
        let e = record_error(&format!(r#"{{"name":"ok","type":"int"}},{fields}"#));
        assert_eq!(e.path.as_str(), "fields[1].default", "{fields}");
        let SchemaErrorKind::BadDefault(text) = &e.kind else {
            panic!("{e}")
        };
        assert!(text.contains(message), "{fields}: {text}");
    }
}

#[test]
fn rejects_malformed_declarations() {
    for (fields, path, kind) in [
        (
            r#"{"name":"a"}"#,
            "fields[0]",
            SchemaErrorKind::MissingAttribute("type"),
        ),
        (
            r#"{"type":"int"}"#,
            "fields[0]",
            SchemaErrorKind::MissingAttribute("name"),
        ),
        (
            r#"{"name":"a-b","type":"int"}"#,
            "fields[0].name",
            SchemaErrorKind::InvalidName("a-b".into()),
        ),
        (
            r#"{"name":"a","type":{"type":"array"}}"#,
            "fields[0].type",
            SchemaErrorKind::MissingAttribute("items"),
        ),
        (
            r#"{"name":"a","type":{"type":"map"}}"#,
            "fields[0].type",
            SchemaErrorKind::MissingAttribute("values"),
        ),
        (
            r#"{"name":"a","type":{"type":"fixed","name":"F"}}"#,
            "fields[0].type",
            SchemaErrorKind::MissingAttribute("size"),
        ),
        (
            r#"{"name":"a","type":{"type":"fixed","name":"F","size":-1}}"#,
            "fields[0].type.size",
            SchemaErrorKind::InvalidAttribute {
                attribute: "size",
                expected: "a non-negative integer",
            },
        ),
        (
            r#"{"name":"a","type":{"type":"record","fields":[]}}"#,
            "fields[0].type",
            SchemaErrorKind::MissingAttribute("name"),
        ),
        (
            r#"{"name":"a","type":{"type":"record","name":"int","fields":[]}}"#,
            "fields[0].type.name",
            SchemaErrorKind::ReservedName("int".into()),
        ),
        (
            r#"{"name":"a","type":{"type":"record","name":"x.9","fields":[]}}"#,
            "fields[0].type.name",
            SchemaErrorKind::InvalidName("x.9".into()),
        ),
        (
            r#"{"name":"a","type":[]}"#,
            "fields[0].type",
            SchemaErrorKind::EmptyUnion,
        ),
        (
            r#"{"name":"a","type":["null",["int"]]}"#,
            "fields[0].type[1]",
            SchemaErrorKind::NestedUnion,
        ),
        (
            r#"{"name":"a","type":["int","string","int"]}"#,
            "fields[0].type[2]",
            SchemaErrorKind::DuplicateUnionBranch("int".into()),
        ),
        (
            r#"{"name":"a","type":[{"type":"array","items":"int"},{"type":"array","items":"long"}]}"#,
            "fields[0].type[1]",
            SchemaErrorKind::DuplicateUnionBranch("array".into()),
        ),
        (
            r#"{"name":"a","type":true}"#,
            "fields[0].type",
            SchemaErrorKind::NotASchema("a boolean"),
        ),
        (
            r#"{"name":"a","type":{"type":7}}"#,
            "fields[0].type.type",
            SchemaErrorKind::InvalidAttribute {
                attribute: "type",
                expected: "a string",
            },
        ),
        (
            r#"{"name":"a","type":{"type":"error"}}"#,
            "fields[0].type.type",
            SchemaErrorKind::UnknownType("error".into()),
        ),
        (
            r#"{"name":"a","type":"int","order":"up"}"#,
            "fields[0].order",
            SchemaErrorKind::InvalidAttribute {
                attribute: "order",
                expected: "one of \"ascending\", \"descending\", \"ignore\"",
            },
        ),
        (
            r#"{"name":"a","type":"int","aliases":"b"}"#,
            "fields[0].aliases",
            SchemaErrorKind::InvalidAttribute {
                attribute: "aliases",
                expected: "an array of names",
            },
        ),
    ] {
        let e = record_error(fields);
        assert_eq!((e.path.as_str(), &e.kind), (path, &kind), "{fields}");
    }
    let e = parse_error(r#"{"type":"record","name":"T"}"#);
    assert_eq!(
        (e.path.as_str(), &e.kind),
        ("", &SchemaErrorKind::MissingAttribute("fields"))
    );
    let e = parse_error(r#"{"type":"record","name":"T","namespace":"a..b","fields":[]}"#);
    assert_eq!(
        (e.path.as_str(), &e.kind),
        ("namespace", &SchemaErrorKind::InvalidName("a..b".into()))
    );
}

#[test]
fn rejects_a_record_without_finite_values() {
    let e =
        parse_error(r#"{"type":"record","name":"Loop","fields":[{"name":"next","type":"Loop"}]}"#);
    assert_eq!(&e.kind, &SchemaErrorKind::Uninhabited("Loop".into()));
    // Through a union, an array or a map, recursion ends.
    schema(r#"{"type":"record","name":"L","fields":[{"name":"n","type":["null","L"]}]}"#);
    schema(
        r#"{"type":"record","name":"L","fields":[{"name":"n","type":{"type":"array","items":"L"}}]}"#,
    );
}

#[test]
fn resolves_names_through_namespaces() {
    let s = schema(
        r#"{"type":"record","name":"Outer","namespace":"a.b","fields":[
            {"name":"e","type":{"type":"enum","name":"E","symbols":["X"]}},
            {"name":"e2","type":"E"},
            {"name":"e3","type":"a.b.E"},
            {"name":"e4","type":{"type":"E"}},
            {"name":"g","type":{"type":"fixed","name":"G","namespace":"","size":1}},
            {"name":"g2","type":"G"},
            {"name":"h","type":{"type":"record","name":"c.H","fields":[
                {"name":"inner","type":{"type":"enum","name":"I","symbols":["Y"]}}]}},
            {"name":"i","type":"c.I"}]}"#,
    );
    assert_eq!(s.name(), "a.b.Outer");
    assert!(
        s.canonical_form().contains(r#""name":"c.I""#),
        "{}",
        s.canonical_form()
    );
    assert!(s.canonical_form().contains(r#""name":"G""#));
}

#[test]
fn tolerates_docs_aliases_logical_types_and_unknown_attributes() {
    let s = schema(
        r#"{"type":"record","name":"T","doc":"d","aliases":["Old"],"x-custom":1,"fields":[
            {"name":"d","type":{"type":"bytes","logicalType":"decimal","precision":4,"scale":2}},
            {"name":"u","type":{"type":"string","logicalType":"uuid"},"doc":"id","order":"ignore"},
            {"name":"t","type":{"type":"int","logicalType":"date"}}]}"#,
    );
    assert_eq!(
        encode(&s, json!({"d": "\u{1}", "u": "x", "t": 1})),
        [2, 1, 2, b'x', 2]
    );
}

// ---- validation ----

#[test]
fn accepts_documents_with_defaults_left_out() {
    let s = schema(CONFIG);
    s.validate_json(&json!({})).unwrap();
    s.validate_json(&json!({
        "message": "m", "interval": -5, "enabled": true, "level": "HIGH",
        "servers": [{"host": "a"}, {"host": "b", "port": 1}],
        "settings": {"interval": 9007199254740993i64, "ratio": 1},
        "tags": {"k": "v", "key with spaces": ""},
        "id": "ab", "blob": "\u{0}\u{ff}", "choice": {"long": 5}, "ts": 1700000000000i64
    }))
    .unwrap();
}

#[test]
fn reports_every_problem_with_its_path() {
    let s = schema(CONFIG);
    let found = errors(
        &s,
        json!({
            "interval": "x",
            "servers": [{"host": "a"}, {"host": 1, "prt": 2}],
            "settings": {"interval": 1.5},
            "tags": {"a b": 3},
            "extra": true
        }),
    );
    let expected = [
        ("$.interval", "expected int (an integer), found a string"),
        ("$.servers[1].host", "expected a string, found a number"),
        (
            "$.servers[1].prt",
            "unknown field: record `org.kaaproject.sample.Server` has no field `prt`",
        ),
        (
            "$.settings.interval",
            "expected long (an integer), found 1.5",
        ),
        ("$.tags[\"a b\"]", "expected a string, found a number"),
        (
            "$.extra",
            "unknown field: record `org.kaaproject.sample.Configuration` has no field `extra`",
        ),
    ];
    assert_eq!(found.len(), expected.len(), "{found:?}");
    for (path, message) in expected {
        assert!(
            found.iter().any(|(p, m)| *p == path && m.contains(message)),
            "no {path}: {message} in {found:?}"
        );
    }
}

#[test]
fn requires_fields_without_defaults() {
    let s = schema(CONFIG);
    assert_eq!(
        errors(&s, json!({"servers": [{"port": 1}]})),
        [(
            "$.servers[0]".to_string(),
            "missing field `host`, which has no default".to_string()
        )]
    );
    assert_eq!(
        errors(&s, json!([]))[0].1,
        "expected an object (record `org.kaaproject.sample.Configuration`), found an array"
    );
}

#[test]
fn checks_number_ranges() {
    let s = record(
        r#"{"name":"i","type":"int"},{"name":"l","type":"long"},{"name":"f","type":"float"},{"name":"d","type":"double"}"#,
    );
    let ok = |doc: Value| s.validate_json(&doc).map_err(|e| e.to_string());
    ok(json!({"i": i32::MAX, "l": i64::MIN, "f": 3.4e38, "d": 1e308})).unwrap();
    ok(json!({"i": 1, "l": 1, "f": "NaN", "d": "-Infinity"})).unwrap();
    ok(json!({"i": 1, "l": 1, "f": 1, "d": 2})).unwrap();
    for (doc, message) in [
        (
            json!({"i": 2147483648i64, "l": 1, "f": 1, "d": 1}),
            "$.i: 2147483648 is out of the int range",
        ),
        (
            json!({"i": -2147483649i64, "l": 1, "f": 1, "d": 1}),
            "$.i: -2147483649 is out of the int range",
        ),
        (
            json!({"i": 1, "l": u64::MAX, "f": 1, "d": 1}),
            "$.l: 18446744073709551615 is out of the long range",
        ),
        (
            json!({"i": 1.0, "l": 1, "f": 1, "d": 1}),
            "$.i: expected int (an integer), found 1.0",
        ),
        (
            json!({"i": 1, "l": 1, "f": 1e39, "d": 1}),
            "$.f: 1e+39 is out of the float range",
        ),
        (
            json!({"i": 1, "l": 1, "f": 1, "d": "nan"}),
            "$.d: expected double",
        ),
    ] {
        let error = ok(doc).unwrap_err();
        assert!(error.starts_with(message), "{error}");
    }
}

#[test]
fn checks_bytes_fixed_and_enums() {
    let s = schema(CONFIG);
    let found = errors(
        &s,
        json!({"blob": "\u{100}", "id": "abc", "level": "MEDIUM"}),
    );
    assert!(
        found.contains(&(
            "$.blob".into(),
            "character 'Ā' (U+0100) is above U+00FF; bytes are written one character per byte"
                .into()
        )),
        "{found:?}"
    );
    assert!(
        found.contains(&(
            "$.id".into(),
            "fixed `org.kaaproject.sample.Id` takes exactly 2 bytes, found 3".into()
        )),
        "{found:?}"
    );
    assert!(
        found.contains(&(
            "$.level".into(),
            "\"MEDIUM\" is not a symbol of enum `org.kaaproject.sample.Level` (LOW, HIGH)".into()
        )),
        "{found:?}"
    );
}

#[test]
fn unions_take_bare_or_wrapped_values() {
    let s = schema(CONFIG);
    for settings in [
        json!(null),
        json!({"null": null}),
        json!({"interval": 1}),
        json!({"org.kaaproject.sample.Settings": {"interval": 1}}),
        json!({"Settings": {"interval": 1}}),
    ] {
        s.validate_json(&json!({ "settings": settings }))
            .unwrap_or_else(|e| panic!("{settings}: {e}"));
    }
    // The wrapped form chooses the branch; the bare form needs exactly one that fits.
    assert_eq!(encode(&s, json!({"choice": {"long": 5}}))[12..], [2, 10, 0]);
    assert_eq!(encode(&s, json!({"choice": "s"}))[12..], [4, 2, b's', 0]);
    let found = errors(&s, json!({"choice": 5}));
    assert_eq!(found[0].0, "$.choice");
    assert!(
        found[0]
            .1
            .starts_with("ambiguous: fits the union branches (int, long)"),
        "{found:?}"
    );
    // A wrapped value that does not fit is reported inside the wrapper.
    let found = errors(&s, json!({"settings": {"Settings": {"interval": "x"}}}));
    assert_eq!(
        found,
        [(
            "$.settings.Settings.interval".into(),
            "expected long (an integer), found a string".into()
        )]
    );
    // A bare value of the only branch of its shape is reported inside that branch.
    let found = errors(&s, json!({"settings": {"interval": 1, "x": 0}}));
    assert_eq!(found[0].0, "$.settings.x");
    let found = errors(&s, json!({"enabled": "yes"}));
    assert_eq!(
        found,
        [(
            "$.enabled".into(),
            "expected one of (null, boolean), found a string".into()
        )]
    );
}

#[test]
fn wrapper_keys_take_short_names_only_when_unambiguous() {
    let s = record(
        r#"{"name":"u","type":[
            {"type":"record","name":"a.X","fields":[{"name":"v","type":"int"}]},
            {"type":"record","name":"b.X","fields":[{"name":"v","type":"int"}]}]}"#,
    );
    assert_eq!(encode(&s, json!({"u": {"b.X": {"v": 1}}})), [0x02, 0x02]);
    let found = errors(&s, json!({"u": {"X": {"v": 1}}}));
    assert_eq!(found[0].0, "$.u");
    let found = errors(&s, json!({"u": {"v": 1}}));
    assert!(
        found[0]
            .1
            .starts_with("ambiguous: fits the union branches (a.X, b.X)"),
        "{found:?}"
    );
}

#[test]
fn caps_the_number_of_errors() {
    let s = record(r#"{"name":"a","type":{"type":"array","items":"int"}}"#);
    let doc = json!({"a": vec!["x"; 1000]});
    assert_eq!(
        s.validate_json(&doc).unwrap_err().errors().len(),
        MAX_ERRORS
    );
}

// ---- byte-exact encodings (examples from the Avro specification) ----

#[test]
fn encodes_the_specification_examples() {
    let s = schema(
        r#"{"type":"record","name":"test","fields":[{"name":"a","type":"long"},{"name":"b","type":"string"}]}"#,
    );
    assert_eq!(
        encode(&s, json!({"a": 27, "b": "foo"})),
        [0x36, 0x06, 0x66, 0x6f, 0x6f]
    );

    let s = record(r#"{"name":"n","type":"long"}"#);
    for (n, bytes) in [
        (0i64, &[0x00][..]),
        (-1, &[0x01]),
        (1, &[0x02]),
        (-2, &[0x03]),
        (2, &[0x04]),
        (-64, &[0x7f]),
        (64, &[0x80, 0x01]),
        (
            i64::MAX,
            &[0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01],
        ),
        (
            i64::MIN,
            &[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01],
        ),
    ] {
        assert_eq!(encode(&s, json!({ "n": n })), bytes, "{n}");
        assert_eq!(s.decode_to_json(bytes).unwrap(), json!({ "n": n }));
    }

    let s = record(r#"{"name":"a","type":{"type":"array","items":"long"}}"#);
    assert_eq!(encode(&s, json!({"a": [3, 27]})), [0x04, 0x06, 0x36, 0x00]);
    assert_eq!(encode(&s, json!({"a": []})), [0x00]);

    let s = record(r#"{"name":"u","type":["null","string"]}"#);
    assert_eq!(encode(&s, json!({"u": null})), [0x00]);
    assert_eq!(encode(&s, json!({"u": "a"})), [0x02, 0x02, 0x61]);
    assert_eq!(
        encode(&s, json!({"u": {"string": "a"}})),
        [0x02, 0x02, 0x61]
    );
}

#[test]
fn encodes_every_type() {
    let s = record(
        r#"{"name":"b","type":"boolean"},{"name":"f","type":"float"},{"name":"d","type":"double"},
           {"name":"y","type":"bytes"},{"name":"m","type":{"type":"map","values":"int"}},
           {"name":"e","type":{"type":"enum","name":"E","symbols":["A","B"]}},
           {"name":"x","type":{"type":"fixed","name":"F","size":2}},
           {"name":"n","type":"null"}"#,
    );
    let doc = json!({"b": true, "f": 1.0, "d": 1.0, "y": "\u{0}\u{ff}", "m": {"a": 1},
                     "e": "B", "x": "\u{1}\u{ff}", "n": null});
    let bytes = encode(&s, doc.clone());
    #[rustfmt::skip]
    assert_eq!(bytes, [
        0x01,
        0x00, 0x00, 0x80, 0x3f,
        0, 0, 0, 0, 0, 0, 0xf0, 0x3f,
        0x04, 0x00, 0xff,
        0x02, 0x02, b'a', 0x02, 0x00,
        0x02,
        0x01, 0xff,
    ]);
    assert_eq!(s.decode_to_json(&bytes).unwrap(), doc);
}

#[test]
fn fills_defaults_for_absent_fields() {
    let s = schema(CONFIG);
    #[rustfmt::skip]
    let expected = [
        0x04, b'h', b'i',   // message "hi"
        0x14,               // interval 10
        0x00,               // enabled: null, branch 0
        0x00,               // level LOW
        0x00,               // servers []
        0x00,               // settings: null, branch 0
        0x00,               // tags {}
        0x01, 0xff,         // id
        0x00,               // blob ""
        0x00, 0x02,         // choice: branch 0 (int) 1
        0x00,               // ts 0
    ];
    assert_eq!(encode(&s, json!({})), expected);
    // A record default inside an array item.
    let bytes = encode(&s, json!({"servers": [{"host": "h"}]}));
    assert_eq!(bytes[6..13], [0x02, 0x02, b'h', 0x9a, 0x9c, 0x01, 0x00]);
}

#[test]
fn decodes_blocks_with_byte_sizes() {
    let s = record(r#"{"name":"a","type":{"type":"array","items":"long"}}"#);
    // Count -2 (then a byte size of 2), items 3 and 27, then the end.
    assert_eq!(
        s.decode_to_json(&[0x03, 0x04, 0x06, 0x36, 0x00]).unwrap(),
        json!({"a": [3, 27]})
    );
}

#[test]
fn decodes_unions_bare_when_unambiguous() {
    let s = schema(UNIONS);
    let decode = |branch: u8, rest: &[u8]| {
        let mut bytes = vec![branch * 2];
        bytes.extend_from_slice(rest);
        bytes.push(0); // list.next = null
        s.decode_to_json(&bytes).unwrap()["u"].clone()
    };
    assert_eq!(decode(0, &[]), json!(null));
    // "a" could also be a 1-byte fixed: wrapped.
    assert_eq!(decode(1, &[2, b'a']), json!({"string": "a"}));
    assert_eq!(decode(1, &[6, b'N', b'a', b'N']), json!({"string": "NaN"}));
    assert_eq!(
        decode(2, &[0, 0, 0, 0, 0, 0, 0xf0, 0x3f]),
        json!({"double": 1.0})
    );
    assert_eq!(decode(4, &[1]), json!(true));
    assert_eq!(decode(5, &[2]), json!({"t.E": "A"}));
    assert_eq!(decode(7, &[2, 2, b'k', 2, 0]), json!({"map": {"k": 1}}));
    assert_eq!(decode(8, &[2]), json!({"t.R": {"x": 1}}));
    assert_eq!(decode(9, &[2, 0, 0]), json!([null]));
    assert_eq!(decode(9, &[2, 4, 0, 0]), json!([{"x": 0}]));
}

// ---- hostile binary ----

#[test]
fn every_truncation_is_an_error() {
    let s = schema(CONFIG);
    let bytes = encode(
        &s,
        json!({"servers": [{"host": "h"}], "settings": {"interval": 1}, "tags": {"k": "v"}}),
    );
    for len in 0..bytes.len() {
        let kind = decode_error(&s, &bytes[..len]);
        assert!(
            matches!(
                kind,
                DecodeErrorKind::UnexpectedEnd | DecodeErrorKind::LengthTooLarge { .. }
            ),
            "{len}: {kind}"
        );
    }
    assert_eq!(
        decode_error(&s, &[bytes.as_slice(), &[0]].concat()),
        DecodeErrorKind::TrailingBytes(1)
    );
}

#[test]
fn rejects_lengths_the_input_cannot_hold() {
    let s = record(r#"{"name":"s","type":"string"}"#);
    let huge = [0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01];
    assert_eq!(
        decode_error(&s, &huge),
        DecodeErrorKind::LengthTooLarge {
            length: i64::MAX as u64,
            remaining: 0
        }
    );
    assert_eq!(
        decode_error(&s, &[0x01]),
        DecodeErrorKind::NegativeLength(-1)
    );
    assert_eq!(
        decode_error(&s, &[0x02, 0xff]),
        DecodeErrorKind::InvalidUtf8
    );

    let s = record(r#"{"name":"a","type":{"type":"array","items":"long"}}"#);
    assert!(matches!(
        decode_error(&s, &huge),
        DecodeErrorKind::LengthTooLarge { .. }
    ));
    // i64::MIN as a count.
    let min = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01];
    assert!(matches!(
        decode_error(&s, &min),
        DecodeErrorKind::UnexpectedEnd | DecodeErrorKind::LengthTooLarge { .. }
    ));

    let s = record(r#"{"name":"m","type":{"type":"map","values":"null"}}"#);
    assert!(matches!(
        decode_error(&s, &huge),
        DecodeErrorKind::LengthTooLarge { .. }
    ));
}

#[test]
fn bounds_arrays_of_zero_byte_items() {
    let s = record(r#"{"name":"a","type":{"type":"array","items":"null"}}"#);
    assert_eq!(
        s.decode_to_json(&[0xc8, 0x01, 0x00]).unwrap(),
        json!({"a": vec![Value::Null; 100]})
    );
    let huge = [
        0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01, 0x00,
    ];
    assert_eq!(
        decode_error(&s, &huge),
        DecodeErrorKind::TooManyEmptyItems(1 << 16)
    );
    // The budget is per document, not per block.
    let mut blocks = Vec::new();
    for _ in 0..3 {
        blocks.extend_from_slice(&[0x80, 0x80, 0x04]); // 2^15 items
    }
    blocks.push(0);
    assert_eq!(
        decode_error(&s, &blocks),
        DecodeErrorKind::TooManyEmptyItems(1 << 16)
    );

    let s = record(
        r#"{"name":"a","type":{"type":"array","items":{"type":"record","name":"E","fields":[]}}}"#,
    );
    assert_eq!(
        decode_error(&s, &huge),
        DecodeErrorKind::TooManyEmptyItems(1 << 16)
    );
}

#[test]
fn rejects_bad_integers_indices_and_booleans() {
    let s = record(r#"{"name":"n","type":"long"}"#);
    assert_eq!(
        decode_error(&s, &[0xff; 11]),
        DecodeErrorKind::VarintOverflow
    );
    let overflow = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02];
    assert_eq!(decode_error(&s, &overflow), DecodeErrorKind::VarintOverflow);

    let s = record(r#"{"name":"n","type":"int"}"#);
    assert_eq!(
        decode_error(&s, &[0x80, 0x80, 0x80, 0x80, 0x10]),
        DecodeErrorKind::IntOutOfRange(1 << 31)
    );

    let s = record(r#"{"name":"u","type":["null","int"]}"#);
    assert_eq!(
        decode_error(&s, &[0x04]),
        DecodeErrorKind::UnionIndex {
            index: 2,
            branches: 2
        }
    );
    assert_eq!(
        decode_error(&s, &[0x01]),
        DecodeErrorKind::UnionIndex {
            index: -1,
            branches: 2
        }
    );

    let s = record(r#"{"name":"e","type":{"type":"enum","name":"E","symbols":["A"]}}"#);
    assert_eq!(
        decode_error(&s, &[0x02]),
        DecodeErrorKind::EnumIndex {
            index: 1,
            symbols: 1
        }
    );

    let s = record(r#"{"name":"b","type":"boolean"}"#);
    assert_eq!(
        decode_error(&s, &[0x02]),
        DecodeErrorKind::InvalidBoolean(2)
    );
}

#[test]
fn decode_errors_say_where() {
    let s = schema(CONFIG);
    let mut bytes = encode(&s, json!({"servers": [{"host": "h"}]}));
    bytes[8] = 0xff; // the host's first byte: invalid UTF-8
    let error = s.decode_to_json(&bytes).unwrap_err();
    assert_eq!(
        (error.offset, error.path.as_str()),
        (7, "$.servers[0].host")
    );
    assert_eq!(
        error.to_string(),
        "at byte 7 ($.servers[0].host): string is not valid UTF-8"
    );
}

const LIST: &str =
    r#"{"type":"record","name":"Node","fields":[{"name":"next","type":["null","Node"]}]}"#;

fn nested_list(depth: usize) -> Value {
    (0..depth).fold(json!({"next": null}), |inner, _| json!({ "next": inner }))
}

#[test]
fn bounds_nesting_without_overflowing_the_stack() {
    let s = schema(LIST);
    // Two values (the union and the record) per level.
    let limit = MAX_DEPTH / 2 - 2;
    let mut bytes = vec![0x02; limit];
    bytes.push(0);
    // On a thread with tokio's default worker stack, at the limit and far past it.
    std::thread::Builder::new()
        .stack_size(2 << 20)
        .spawn(move || {
            let doc = s.decode_to_json(&bytes).unwrap();
            assert_eq!(s.encode_json(&doc).unwrap(), bytes);

            let too_deep = [vec![0x02; limit + 1], vec![0]].concat();
            assert_eq!(decode_error(&s, &too_deep), DecodeErrorKind::TooDeep);
            assert_eq!(
                decode_error(&s, &vec![0x02; 1_000_000]),
                DecodeErrorKind::TooDeep
            );
            let found = errors(&s, nested_list(limit + 1));
            assert_eq!(found.len(), 1);
            assert!(found[0].1.contains("nested too deeply"));
        })
        .unwrap()
        .join()
        .unwrap();
}

// ---- property tests ----

/// How deep generated documents go before unions pick leaf branches and arrays stay empty.
const GEN_DEPTH: usize = 4;

fn float_json(x: f64) -> Value {
    if x.is_nan() {
        json!("NaN")
    } else if x.is_infinite() {
        json!(if x > 0.0 { "Infinity" } else { "-Infinity" })
    } else {
        json!(x)
    }
}

fn latin1(len: impl Into<proptest::collection::SizeRange>) -> BoxedStrategy<Value> {
    vec(any::<u8>(), len)
        .prop_map(|b| Value::String(b.into_iter().map(char::from).collect()))
        .boxed()
}

/// Documents valid for `ty`. `canonical` documents are spelled as the decoder writes them:
/// every field present, and a union value bare exactly when it is the only branch of its JSON
/// shape. Other documents leave out fields with defaults at random and wrap unions at random.
fn arb_value(
    schema: &AvroSchema,
    ty: &Type,
    depth: usize,
    canonical: bool,
) -> BoxedStrategy<Value> {
    let key = || vec(any::<char>(), 0..6).prop_map(String::from_iter);
    match ty {
        Type::Null => Just(Value::Null).boxed(),
        Type::Boolean => any::<bool>().prop_map(Value::from).boxed(),
        Type::Int => any::<i32>().prop_map(Value::from).boxed(),
        Type::Long => any::<i64>().prop_map(Value::from).boxed(),
        Type::Float => any::<f32>().prop_map(|x| float_json(f64::from(x))).boxed(),
        Type::Double => any::<f64>().prop_map(float_json).boxed(),
        Type::Bytes => latin1(0..6),
        Type::String => key().prop_map(Value::String).boxed(),
        Type::Array(_) | Type::Map(_) if depth >= GEN_DEPTH => {
            Just(if matches!(ty, Type::Array(_)) {
                json!([])
            } else {
                json!({})
            })
            .boxed()
        }
        Type::Array(items) => vec(arb_value(schema, items, depth + 1, canonical), 0..3)
            .prop_map(Value::Array)
            .boxed(),
        Type::Map(values) => vec(
            (key(), arb_value(schema, values, depth + 1, canonical)),
            0..3,
        )
        .prop_map(|entries| Value::Object(entries.into_iter().collect()))
        .boxed(),
        Type::Union(branches) => {
            let leaf = |b: &Type| !matches!(b, Type::Named(_) | Type::Array(_) | Type::Map(_));
            let chosen: Vec<usize> = (0..branches.len())
                .filter(|&i| depth < GEN_DEPTH || leaf(&branches[i]) || !branches.iter().any(leaf))
                .collect();
            let kinds: Vec<u8> = branches.iter().map(|b| schema.kinds(b)).collect();
            let names: Vec<String> = branches
                .iter()
                .map(|b| schema.type_name(b).to_string())
                .collect();
            // What a one-key object's key must not be for the object to pass as bare.
            let keys: Vec<String> = names
                .iter()
                .flat_map(|n| [n.clone(), n.rsplit('.').next().unwrap_or(n).to_string()])
                .collect();
            let options: Vec<BoxedStrategy<Value>> = chosen
                .into_iter()
                .map(|i| {
                    let (kinds, keys, name) = (kinds.clone(), keys.clone(), names[i].clone());
                    (
                        arb_value(schema, &branches[i], depth + 1, canonical),
                        any::<bool>(),
                    )
                        .prop_map(move |(value, want_bare)| {
                            let kind = value_kind(&value);
                            let unique = kinds.iter().filter(|&&k| k & kind != 0).count() == 1;
                            let looks_wrapped = value.as_object().is_some_and(|o| {
                                o.len() == 1 && o.keys().all(|k| keys.contains(k))
                            });
                            if unique && !looks_wrapped && (canonical || want_bare) {
                                value
                            } else {
                                Value::Object([(name.clone(), value)].into_iter().collect())
                            }
                        })
                        .boxed()
                })
                .collect();
            proptest::strategy::Union::new(options).boxed()
        }
        Type::Named(i) => match &schema.types[*i].kind {
            NamedKind::Record(fields) => {
                let names: Vec<String> = fields.iter().map(|f| f.name.clone()).collect();
                let values: Vec<BoxedStrategy<Option<Value>>> = fields
                    .iter()
                    .map(|f| {
                        let value = arb_value(schema, &f.ty, depth + 1, canonical);
                        if f.default.is_some() && !canonical {
                            (value, any::<bool>())
                                .prop_map(|(v, keep)| keep.then_some(v))
                                .boxed()
                        } else {
                            value.prop_map(Some).boxed()
                        }
                    })
                    .collect();
                values
                    .prop_map(move |values| {
                        Value::Object(
                            names
                                .iter()
                                .zip(values)
                                .filter_map(|(n, v)| Some((n.clone(), v?)))
                                .collect(),
                        )
                    })
                    .boxed()
            }
            NamedKind::Enum(symbols) => select(symbols.clone()).prop_map(Value::from).boxed(),
            NamedKind::Fixed(size) => latin1(*size),
        },
    }
}

fn schemas() -> Vec<AvroSchema> {
    [CONFIG, PIG, UNIONS, LIST]
        .into_iter()
        .map(schema)
        .collect()
}

fn arb_case(canonical: bool) -> impl Strategy<Value = (usize, Value)> {
    let strategies: Vec<_> = schemas()
        .iter()
        .enumerate()
        .map(|(i, s)| arb_value(s, &s.root, 0, canonical).prop_map(move |doc| (i, doc)))
        .collect();
    proptest::strategy::Union::new(strategies)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Any valid document encodes; its decoding is valid and encodes to the same bytes.
    #[test]
    fn documents_survive_encode_decode_encode((i, doc) in arb_case(false)) {
        let s = &schemas()[i];
        prop_assert!(s.validate_json(&doc).is_ok(), "{}", s.validate_json(&doc).unwrap_err());
        let bytes = s.encode_json(&doc).unwrap();
        let decoded = s.decode_to_json(&bytes).unwrap();
        prop_assert_eq!(s.encode_json(&decoded).unwrap(), bytes);
    }

    /// A document written as the decoder writes it comes back unchanged.
    #[test]
    fn canonical_documents_round_trip((i, doc) in arb_case(true)) {
        let s = &schemas()[i];
        let bytes = s.encode_json(&doc).unwrap();
        prop_assert_eq!(s.decode_to_json(&bytes).unwrap(), doc);
    }

    /// Arbitrary bytes never panic the decoder, and whatever decodes re-encodes.
    #[test]
    fn arbitrary_bytes_decode_or_fail_cleanly(i in 0..4usize, bytes in vec(any::<u8>(), 0..48)) {
        let s = &schemas()[i];
        if let Ok(doc) = s.decode_to_json(&bytes) {
            let again = s.encode_json(&doc).unwrap();
            prop_assert_eq!(s.decode_to_json(&again).unwrap(), doc);
        }
    }

    /// Valid encodings with one byte changed or cut short never panic the decoder.
    #[test]
    fn damaged_encodings_fail_cleanly(
        (i, doc) in arb_case(false),
        at in any::<prop::sample::Index>(),
        byte in any::<u8>(),
        cut in any::<bool>(),
    ) {
        let s = &schemas()[i];
        let mut bytes = s.encode_json(&doc).unwrap();
        let at = at.index(bytes.len());
        if cut {
            bytes.truncate(at);
        } else {
            bytes[at] = byte;
        }
        if let Ok(doc) = s.decode_to_json(&bytes) {
            prop_assert!(s.encode_json(&doc).is_ok());
        }
    }
}
