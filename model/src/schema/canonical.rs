//! Avro's Parsing Canonical Form and its 64-bit Rabin fingerprint (CRC-64-AVRO), as the Avro
//! specification defines them: two schemas that read and write the same bytes have the same
//! canonical form, whatever their docs, aliases, defaults, attribute order or whitespace.

use super::AvroSchema;
use super::types::{NamedKind, Type};

/// The Parsing Canonical Form: full names, only the attributes that affect encoding (`name`,
/// `type`, `fields`, `symbols`, `items`, `values`, `size`) in that order, no whitespace, and
/// each named type spelled out at its first use only.
pub(crate) fn canonical_form(schema: &AvroSchema) -> String {
    let mut out = String::new();
    let mut written = vec![false; schema.types.len()];
    write(schema, &schema.root, &mut written, &mut out);
    out
}

fn quoted(s: &str) -> String {
    serde_json::Value::from(s).to_string()
}

fn write(schema: &AvroSchema, ty: &Type, written: &mut [bool], out: &mut String) {
    match ty {
        Type::Array(items) => {
            out.push_str(r#"{"type":"array","items":"#);
            write(schema, items, written, out);
            out.push('}');
        }
        Type::Map(values) => {
            out.push_str(r#"{"type":"map","values":"#);
            write(schema, values, written, out);
            out.push('}');
        }
        Type::Union(branches) => {
            out.push('[');
            for (i, branch) in branches.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write(schema, branch, written, out);
            }
            out.push(']');
        }
        Type::Named(i) if written[*i] => out.push_str(&quoted(&schema.types[*i].name)),
        Type::Named(i) => {
            written[*i] = true;
            let named = &schema.types[*i];
            out.push_str(&format!(r#"{{"name":{},"type":"#, quoted(&named.name)));
            match &named.kind {
                NamedKind::Record(fields) => {
                    out.push_str(r#""record","fields":["#);
                    for (i, field) in fields.iter().enumerate() {
                        if i > 0 {
                            out.push(',');
                        }
                        out.push_str(&format!(r#"{{"name":{},"type":"#, quoted(&field.name)));
                        write(schema, &field.ty, written, out);
                        out.push('}');
                    }
                    out.push(']');
                }
                NamedKind::Enum(symbols) => {
                    let symbols: Vec<String> = symbols.iter().map(|s| quoted(s)).collect();
                    out.push_str(&format!(r#""enum","symbols":[{}]"#, symbols.join(",")));
                }
                NamedKind::Fixed(size) => out.push_str(&format!(r#""fixed","size":{size}"#)),
            }
            out.push('}');
        }
        primitive => out.push_str(&quoted(schema.type_name(primitive))),
    }
}

/// The CRC-64-AVRO fingerprint of `bytes`, as given in the Avro specification.
pub(crate) fn rabin_fingerprint(bytes: &[u8]) -> u64 {
    bytes.iter().fold(EMPTY, |fp, &b| {
        (fp >> 8) ^ TABLE[((fp ^ u64::from(b)) & 0xff) as usize]
    })
}

const EMPTY: u64 = 0xc15d_213a_a4d7_a795;

const TABLE: [u64; 256] = {
    let mut table = [0u64; 256];
    let mut i = 0;
    while i < 256 {
        let mut fp = i as u64;
        let mut bit = 0;
        while bit < 8 {
            fp = (fp >> 1) ^ (EMPTY & 0u64.wrapping_sub(fp & 1));
            bit += 1;
        }
        table[i] = fp;
        i += 1;
    }
    table
};

#[cfg(test)]
mod tests {
    use super::*;

    /// Fingerprints from the Avro project's shared test data (`schema-tests.txt`), which its
    /// Java implementation cross-checks against a direct implementation of the algorithm.
    #[test]
    fn fingerprints_of_primitive_canonical_forms() {
        for (text, fingerprint) in [
            (r#""null""#, 7195948357588979594i64),
            (r#""boolean""#, -6970731678124411036),
            (r#""int""#, 8247732601305521295),
            (r#""string""#, -8142146995180207161),
            (r#"["int","boolean"]"#, 5392556393470105090),
            (r#"{"type":"map","values":"string"}"#, -8732877298790414990),
        ] {
            assert_eq!(
                rabin_fingerprint(text.as_bytes()) as i64,
                fingerprint,
                "{text}"
            );
        }
    }

    #[test]
    fn canonical_forms_and_fingerprints_of_records() {
        for (input, canonical, fingerprint) in [
            (
                r#"{"fields":[], "type":"record", "name":"foo"}"#,
                r#"{"name":"foo","type":"record","fields":[]}"#,
                -4824392279771201922i64,
            ),
            (
                r#"{"fields":[], "type":"record", "name":"foo", "namespace":"x.y"}"#,
                r#"{"name":"x.y.foo","type":"record","fields":[]}"#,
                5916914534497305771,
            ),
            (
                r#"{"fields":[], "type":"record", "name":"a.b.foo", "namespace":"x.y"}"#,
                r#"{"name":"a.b.foo","type":"record","fields":[]}"#,
                -4616218487480524110,
            ),
            (
                r#"{"fields":[], "type":"record", "name":"foo", "doc":"foo", "aliases":["foo","bar"]}"#,
                r#"{"name":"foo","type":"record","fields":[]}"#,
                -4824392279771201922,
            ),
            (
                r#"{"fields":[{"type":{"type":"boolean"}, "name":"f1"}], "type":"record", "name":"foo"}"#,
                r#"{"name":"foo","type":"record","fields":[{"name":"f1","type":"boolean"}]}"#,
                7843277075252814651,
            ),
            (
                r#"{ "fields":[{"type":"boolean", "aliases":[], "name":"f1", "default":true},
                              {"order":"descending","name":"f2","doc":"Hello","type":"int"}],
                     "type":"record", "name":"foo" }"#,
                r#"{"name":"foo","type":"record","fields":[{"name":"f1","type":"boolean"},{"name":"f2","type":"int"}]}"#,
                -4860222112080293046,
            ),
            (
                r#"{"name":"PigValue","type":"record",
                    "fields":[{"name":"value", "type":["null", "int", "long", "PigValue"]}]}"#,
                r#"{"name":"PigValue","type":"record","fields":[{"name":"value","type":["null","int","long","PigValue"]}]}"#,
                -1759257747318642341,
            ),
        ] {
            let schema = AvroSchema::parse(input).unwrap();
            assert_eq!(schema.canonical_form(), canonical);
            assert_eq!(schema.fingerprint() as i64, fingerprint, "{canonical}");
        }
    }

    #[test]
    fn canonical_form_spells_out_nested_types_once() {
        let schema = AvroSchema::parse(
            r#"{"type":"record","name":"R","namespace":"n","fields":[
                {"name":"a","type":{"type":"enum","name":"E","symbols":["X","Y"],"doc":"d"}},
                {"name":"b","type":{"type":"array","items":"E"}},
                {"name":"c","type":{"type":"fixed","name":"F","size":4}},
                {"name":"d","type":{"type":"map","values":{"type":"long","logicalType":"timestamp-millis"}}}]}"#,
        )
        .unwrap();
        assert_eq!(
            schema.canonical_form(),
            r#"{"name":"n.R","type":"record","fields":[{"name":"a","type":{"name":"n.E","type":"enum","symbols":["X","Y"]}},{"name":"b","type":{"type":"array","items":"n.E"}},{"name":"c","type":{"name":"n.F","type":"fixed","size":4}},{"name":"d","type":{"type":"map","values":"long"}}]}"#
        );
    }
}
