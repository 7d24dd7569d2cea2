//! How a union value looks in JSON when the decoder writes it, kept apart from the JSON walk
//! ([`json`](super::json)) and the binary decoder ([`binary`](super::binary)) so that neither
//! imports the other: the decoder chooses the form here, by the same shape rules
//! ([`AvroSchema::kinds`], [`AvroSchema::branch_named`]) the walk reads unions with.

use serde_json::{Map, Value};

use super::AvroSchema;
use super::types::{Type, value_kind};

/// How the decoder shows branch `index`'s `value` of a union: bare when reading it back picks
/// the same branch without trying any in full (it is the union's only branch of that JSON
/// shape), otherwise wrapped as `{"type name": value}`. Either way
/// `encode(decode(bytes)) == bytes` for canonical input.
pub(crate) fn union_json(
    schema: &AvroSchema,
    branches: &[Type],
    index: usize,
    value: Value,
) -> Value {
    let kind = value_kind(&value);
    let sharing = branches
        .iter()
        .filter(|b| schema.kinds(b) & kind != 0)
        .count();
    let looks_wrapped = match &value {
        Value::Object(obj) if obj.len() == 1 => obj
            .keys()
            .next()
            .is_some_and(|key| schema.branch_named(branches, key).is_some()),
        _ => false,
    };
    if sharing == 1 && !looks_wrapped {
        value
    } else {
        let mut wrapper = Map::new();
        wrapper.insert(schema.type_name(&branches[index]).to_string(), value);
        Value::Object(wrapper)
    }
}
