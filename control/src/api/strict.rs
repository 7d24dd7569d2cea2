//! Deserialization that takes structs only from JSON objects, at any depth.
//!
//! serde's derived `Deserialize` of a struct also reads a sequence of its fields in declaration
//! order: `{"columns": [["a", "record"]]}` would pass as `{"columns": [{"name": "a", "source":
//! "record"}]}`. No client means that, and the OpenAPI document allows only objects. [`Strict`]
//! wraps a deserializer, and everything it hands on (visitors, sequences, maps, enum variants),
//! so that every struct and struct variant must come from a map: a sequence in their place fails
//! with "invalid type: sequence, expected a JSON object". Everything else reads as before.
//!
//! Request bodies use no `#[serde(flatten)]` or untagged or internally tagged enums: those buffer
//! the input and deserialize the struct from the buffer, out of this wrapper's sight.

use std::fmt;

use serde::de::{
    self, DeserializeSeed, Deserializer, EnumAccess, MapAccess, SeqAccess, VariantAccess, Visitor,
};

/// A deserializer whose structs come only from maps (JSON objects), however deeply nested.
pub struct Strict<D>(pub D);

macro_rules! forward_deserialize {
    ($($method:ident)*) => {
        $(
            fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
                self.0.$method(Wrap::new(visitor))
            }
        )*
    };
}

impl<'de, D: Deserializer<'de>> Deserializer<'de> for Strict<D> {
    type Error = D::Error;

    forward_deserialize! {
        deserialize_any deserialize_bool
        deserialize_i8 deserialize_i16 deserialize_i32 deserialize_i64 deserialize_i128
        deserialize_u8 deserialize_u16 deserialize_u32 deserialize_u64 deserialize_u128
        deserialize_f32 deserialize_f64 deserialize_char deserialize_str deserialize_string
        deserialize_bytes deserialize_byte_buf deserialize_option deserialize_unit
        deserialize_seq deserialize_map deserialize_identifier deserialize_ignored_any
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        self.0.deserialize_unit_struct(name, Wrap::new(visitor))
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        self.0.deserialize_newtype_struct(name, Wrap::new(visitor))
    }

    fn deserialize_tuple<V: Visitor<'de>>(
        self,
        len: usize,
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        self.0.deserialize_tuple(len, Wrap::new(visitor))
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        len: usize,
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        self.0
            .deserialize_tuple_struct(name, len, Wrap::new(visitor))
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        self.0
            .deserialize_struct(name, fields, Wrap::object(visitor))
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        self.0.deserialize_enum(name, variants, Wrap::new(visitor))
    }

    fn is_human_readable(&self) -> bool {
        self.0.is_human_readable()
    }
}

/// A visitor that hands on only strict deserializers; with `object`, it refuses sequences.
struct Wrap<V> {
    inner: V,
    object: bool,
}

impl<V> Wrap<V> {
    fn new(inner: V) -> Self {
        Self {
            inner,
            object: false,
        }
    }

    fn object(inner: V) -> Self {
        Self {
            inner,
            object: true,
        }
    }
}

macro_rules! forward_visit {
    ($($method:ident($ty:ty))*) => {
        $(
            fn $method<E: de::Error>(self, value: $ty) -> Result<Self::Value, E> {
                self.inner.$method(value)
            }
        )*
    };
}

impl<'de, V: Visitor<'de>> Visitor<'de> for Wrap<V> {
    type Value = V::Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        if self.object {
            f.write_str("a JSON object")
        } else {
            self.inner.expecting(f)
        }
    }

    forward_visit! {
        visit_bool(bool)
        visit_i8(i8) visit_i16(i16) visit_i32(i32) visit_i64(i64) visit_i128(i128)
        visit_u8(u8) visit_u16(u16) visit_u32(u32) visit_u64(u64) visit_u128(u128)
        visit_f32(f32) visit_f64(f64) visit_char(char)
        visit_str(&str) visit_borrowed_str(&'de str) visit_string(String)
        visit_bytes(&[u8]) visit_borrowed_bytes(&'de [u8]) visit_byte_buf(Vec<u8>)
    }

    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        self.inner.visit_none()
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        self.inner.visit_unit()
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        self.inner.visit_some(Strict(deserializer))
    }

    fn visit_newtype_struct<D: Deserializer<'de>>(
        self,
        deserializer: D,
    ) -> Result<Self::Value, D::Error> {
        self.inner.visit_newtype_struct(Strict(deserializer))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        if self.object {
            return Err(de::Error::invalid_type(de::Unexpected::Seq, &self));
        }
        self.inner.visit_seq(StrictSeq(seq))
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        self.inner.visit_map(StrictMap(map))
    }

    fn visit_enum<A: EnumAccess<'de>>(self, data: A) -> Result<Self::Value, A::Error> {
        self.inner.visit_enum(StrictEnum(data))
    }
}

/// A seed that deserializes from a strict deserializer.
struct Seed<S>(S);

impl<'de, S: DeserializeSeed<'de>> DeserializeSeed<'de> for Seed<S> {
    type Value = S::Value;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<S::Value, D::Error> {
        self.0.deserialize(Strict(deserializer))
    }
}

struct StrictSeq<A>(A);

impl<'de, A: SeqAccess<'de>> SeqAccess<'de> for StrictSeq<A> {
    type Error = A::Error;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, A::Error> {
        self.0.next_element_seed(Seed(seed))
    }

    fn size_hint(&self) -> Option<usize> {
        self.0.size_hint()
    }
}

struct StrictMap<A>(A);

impl<'de, A: MapAccess<'de>> MapAccess<'de> for StrictMap<A> {
    type Error = A::Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, A::Error> {
        self.0.next_key_seed(Seed(seed))
    }

    fn next_value_seed<T: DeserializeSeed<'de>>(&mut self, seed: T) -> Result<T::Value, A::Error> {
        self.0.next_value_seed(Seed(seed))
    }

    fn size_hint(&self) -> Option<usize> {
        self.0.size_hint()
    }
}

struct StrictEnum<A>(A);

impl<'de, A: EnumAccess<'de>> EnumAccess<'de> for StrictEnum<A> {
    type Error = A::Error;
    type Variant = StrictVariant<A::Variant>;

    fn variant_seed<T: DeserializeSeed<'de>>(
        self,
        seed: T,
    ) -> Result<(T::Value, Self::Variant), A::Error> {
        let (value, variant) = self.0.variant_seed(Seed(seed))?;
        Ok((value, StrictVariant(variant)))
    }
}

struct StrictVariant<A>(A);

impl<'de, A: VariantAccess<'de>> VariantAccess<'de> for StrictVariant<A> {
    type Error = A::Error;

    fn unit_variant(self) -> Result<(), A::Error> {
        self.0.unit_variant()
    }

    fn newtype_variant_seed<T: DeserializeSeed<'de>>(self, seed: T) -> Result<T::Value, A::Error> {
        self.0.newtype_variant_seed(Seed(seed))
    }

    fn tuple_variant<V: Visitor<'de>>(self, len: usize, visitor: V) -> Result<V::Value, A::Error> {
        self.0.tuple_variant(len, Wrap::new(visitor))
    }

    fn struct_variant<V: Visitor<'de>>(
        self,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, A::Error> {
        self.0.struct_variant(fields, Wrap::object(visitor))
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use serde::Deserialize;
    use serde_json::{Value, json};

    use super::*;

    #[derive(Debug, PartialEq, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Column {
        name: String,
        source: String,
    }

    #[derive(Debug, PartialEq, Deserialize)]
    #[serde(rename_all = "lowercase")]
    enum Shape {
        Point,
        Circle(u32),
        Pair(u8, u8),
        Rect { w: u32, h: u32 },
    }

    #[derive(Debug, PartialEq, Deserialize)]
    struct Meters(f64);

    #[derive(Debug, PartialEq, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Table {
        columns: Vec<Column>,
        primary: Option<Column>,
        #[serde(default)]
        by_name: BTreeMap<String, Column>,
        pair: (u8, String),
        shapes: Vec<Shape>,
        length: Option<Meters>,
        big: i128,
        extra: Value,
    }

    fn from_str<T: for<'de> Deserialize<'de>>(json: &str) -> Result<T, String> {
        let mut de = serde_json::Deserializer::from_str(json);
        serde_path_to_error::deserialize(Strict(&mut de))
            .map_err(|e| format!("{}: {}", e.path(), e.inner()))
    }

    fn from_value<T: for<'de> Deserialize<'de>>(value: &Value) -> Result<T, String> {
        serde_path_to_error::deserialize(Strict(value))
            .map_err(|e| format!("{}: {}", e.path(), e.inner()))
    }

    #[test]
    fn everything_but_structs_from_arrays_reads_as_before() {
        let json = json!({
            "columns": [{ "name": "a", "source": "record" }],
            "primary": { "name": "b", "source": "header.KEYHASH" },
            "by_name": { "c": { "name": "c", "source": "record.x" } },
            "pair": [1, "one"],
            "shapes": ["point", { "circle": 2 }, { "pair": [1, 2] }, { "rect": { "w": 1, "h": 2 } }],
            "length": 1.5,
            "big": -1,
            "extra": [[1, 2], { "x": [null] }],
        });
        let plain: Table = serde_json::from_value(json.clone()).unwrap();
        assert_eq!(from_value::<Table>(&json).unwrap(), plain);
        assert_eq!(from_str::<Table>(&json.to_string()).unwrap(), plain);
        assert_eq!(plain.shapes[3], Shape::Rect { w: 1, h: 2 });
        assert_eq!(
            Vec::<Option<Column>>::deserialize(Strict(
                &json!([null, { "name": "a", "source": "b" }])
            ))
            .unwrap()
            .len(),
            2
        );
    }

    #[test]
    fn structs_from_arrays_fail_at_their_path() {
        let base = json!({
            "columns": [{ "name": "a", "source": "record" }],
            "pair": [1, "one"],
            "shapes": [],
            "big": 1,
            "extra": null,
        });
        // serde_json alone reads every one of these from text.
        for (field, value, path) in [
            ("columns", json!([["a", "record"]]), "columns[0]"),
            (
                "columns",
                json!([{ "name": "a", "source": "record" }, ["b", "record"]]),
                "columns[1]",
            ),
            ("primary", json!(["a", "record"]), "primary"),
            ("by_name", json!({ "k": ["a", "record"] }), "by_name.k"),
            ("shapes", json!([{ "rect": [1, 2] }]), "shapes[0].rect"),
        ] {
            let mut json = base.clone();
            json[field] = value;
            assert!(
                serde_json::from_str::<Table>(&json.to_string()).is_ok(),
                "{json}"
            );
            let expected = format!("{path}: invalid type: sequence, expected a JSON object");
            let error = from_value::<Table>(&json).unwrap_err();
            // A `Value` already refuses a struct variant from an array, in its own words.
            assert!(
                error == expected || (path.ends_with(".rect") && error.starts_with(path)),
                "{error}"
            );
            // The text parser adds where in the text.
            let error = from_str::<Table>(&json.to_string()).unwrap_err();
            assert!(
                error.starts_with(&format!("{expected} at line 1")),
                "{error}"
            );
        }
        assert_eq!(
            from_value::<Table>(&json!(["x"])).unwrap_err(),
            ".: invalid type: sequence, expected a JSON object"
        );
        let mut json = base.clone();
        json["columns"] = json!([1]);
        assert_eq!(
            from_value::<Table>(&json).unwrap_err(),
            "columns[0]: invalid type: integer `1`, expected a JSON object"
        );
    }
}
