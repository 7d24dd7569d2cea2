//! Avro under a hostile schema: the input is schema JSON, a NUL byte, then a datum. Whatever
//! schema parses is decoded from the datum within bounded time and memory (libFuzzer's
//! `-rss_limit_mb` and `-timeout` catch a blow-up), never panics, and round-trips: its Parsing
//! Canonical Form parses to the same form, and a decoded document encodes to bytes that decode
//! to the same document.
#![no_main]

use kaa_model::schema::AvroSchema;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let split = data.iter().position(|&b| b == 0).unwrap_or(data.len());
    let (text, datum) = data.split_at(split);
    let datum = datum.get(1..).unwrap_or_default();
    let Ok(text) = std::str::from_utf8(text) else {
        return;
    };
    let Ok(schema) = AvroSchema::parse(text) else {
        return;
    };
    let canonical = schema.canonical_form();
    let reparsed = AvroSchema::parse(&canonical).expect("the canonical form parses");
    assert_eq!(reparsed.canonical_form(), canonical);
    if let Ok(document) = schema.decode_to_json(datum) {
        let bytes = schema
            .encode_json(&document)
            .expect("a decoded document encodes");
        assert_eq!(schema.decode_to_json(&bytes).ok(), Some(document));
    }
});
