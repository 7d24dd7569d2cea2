//! Endpoint configuration: the merge of the active configurations of an endpoint's groups.
//!
//! Each group may hold one active configuration per configuration-schema version. An endpoint's
//! configuration is those of its groups merged in ascending weight (group `all`, weight 0, is the
//! base): an object field a heavier group states replaces the lighter one's, recursively, and
//! fields it leaves out are inherited. Arrays and scalars are replaced whole. The merged JSON is
//! then encoded as Avro binary with the schema, which fills defaults; the SHA-1 of those bytes is
//! the configuration hash endpoints compare with their own.
//!
//! Merged bodies are stored under their hash, never changed or deleted. [`StoredConfigurations`]
//! makes a node write each one once: when a configuration is activated, every connected endpoint
//! of the group is resynced at once, and all of them would otherwise store the same body.

use std::future::Future;

use kaa_model::schema::AvroSchema;
use serde_json::Value;

use crate::once_map::OnceMap;

use kaa_idl::endpoint::crypto::sha1;

/// One group's configuration as input to the merge.
#[derive(Debug, Clone, Copy)]
pub struct Layer<'a> {
    /// The group's weight; heavier layers win.
    pub weight: i64,
    /// The configuration document.
    pub body: &'a Value,
}

/// A merged, encoded configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MergedConfiguration {
    /// Avro binary of the merged document.
    pub body: Vec<u8>,
    /// SHA-1 of `body`.
    pub hash: Vec<u8>,
}

/// Why a merged configuration could not be encoded.
#[derive(Debug, thiserror::Error)]
#[error("merged configuration does not match its schema: {0}")]
pub struct MergeError(String);

/// Merges `layers` by weight (ties keep their given order) into one JSON document.
pub fn merge(layers: &[Layer<'_>]) -> Value {
    let mut ordered: Vec<&Layer<'_>> = layers.iter().collect();
    ordered.sort_by_key(|layer| layer.weight);
    let mut merged = Value::Null;
    for layer in ordered {
        overlay(&mut merged, layer.body);
    }
    merged
}

/// Merges `layers` and encodes the result with `schema`.
pub fn build(schema: &AvroSchema, layers: &[Layer<'_>]) -> Result<MergedConfiguration, MergeError> {
    let merged = merge(layers);
    let body = schema
        .encode_json(&merged)
        .map_err(|invalid| MergeError(invalid.to_string()))?;
    let hash = sha1(&body).to_vec();
    Ok(MergedConfiguration { body, hash })
}

fn overlay(base: &mut Value, top: &Value) {
    match (base, top) {
        (Value::Object(base), Value::Object(top)) => {
            for (key, value) in top {
                match base.get_mut(key) {
                    Some(existing) => overlay(existing, value),
                    None => {
                        base.insert(key.clone(), value.clone());
                    }
                }
            }
        }
        (base, top) => *base = top.clone(),
    }
}

/// The merged configurations this node has stored (or is storing), by hash, so each is written
/// once however many endpoints receive it at the same moment.
#[derive(Debug)]
pub struct StoredConfigurations(OnceMap<Vec<u8>, ()>);

/// Hashes remembered before the memory starts again from nothing (a body written twice is
/// harmless: the same hash is the same body).
const REMEMBERED: usize = 4096;

impl Default for StoredConfigurations {
    fn default() -> Self {
        Self(OnceMap::bounded(REMEMBERED))
    }
}

impl StoredConfigurations {
    /// Runs `save` for `hash` unless it ran successfully before; callers arriving while it
    /// runs wait for it, and one of them tries again if it failed.
    pub async fn save_once<E, F, Fut>(&self, hash: &[u8], save: F) -> Result<(), E>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<(), E>>,
    {
        self.0.get_or_try_load(hash, save).await
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use proptest::prelude::*;
    use serde_json::json;

    use super::*;

    #[tokio::test]
    async fn a_configuration_many_endpoints_get_at_once_is_stored_once_and_again_after_a_failure() {
        let stored = Arc::new(StoredConfigurations::default());
        let writes = Arc::new(AtomicUsize::new(0));
        let save = |fail: bool| {
            let writes = writes.clone();
            move || async move {
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                writes.fetch_add(1, Ordering::SeqCst);
                if fail { Err("store down") } else { Ok(()) }
            }
        };
        assert_eq!(stored.save_once(b"h1", save(true)).await, Err("store down"));
        let endpoints: Vec<_> = (0..50)
            .map(|_| {
                let (stored, save) = (stored.clone(), save(false));
                tokio::spawn(async move { stored.save_once(b"h1", save).await })
            })
            .collect();
        for endpoint in endpoints {
            assert_eq!(endpoint.await.unwrap(), Ok(()));
        }
        assert_eq!(
            writes.load(Ordering::SeqCst),
            2,
            "the failed write, then one for all 50"
        );
        stored.save_once(b"h2", save(false)).await.unwrap();
        assert_eq!(writes.load(Ordering::SeqCst), 3, "another hash is written");
    }

    #[test]
    fn heavier_groups_override_fields_and_inherit_the_rest() {
        let all = json!({"interval": 10, "led": {"color": "red", "on": true}, "tags": [1, 2]});
        let lab = json!({"led": {"color": "blue"}, "tags": [3]});
        let merged = merge(&[
            Layer {
                weight: 50,
                body: &lab,
            },
            Layer {
                weight: 0,
                body: &all,
            },
        ]);
        assert_eq!(
            merged,
            json!({"interval": 10, "led": {"color": "blue", "on": true}, "tags": [3]})
        );
    }

    #[test]
    fn merged_configuration_is_encoded_and_hashed() {
        let schema = AvroSchema::parse(
            r#"{"type":"record","name":"Conf","fields":[
                {"name":"interval","type":"int"},
                {"name":"name","type":"string","default":"dev"}]}"#,
        )
        .unwrap();
        let all = json!({"interval": 10});
        let merged = build(
            &schema,
            &[Layer {
                weight: 0,
                body: &all,
            }],
        )
        .unwrap();
        // int 10 = zig-zag 20 = 0x14; "dev" = length 3 (0x06) + bytes.
        assert_eq!(merged.body, vec![0x14, 0x06, b'd', b'e', b'v']);
        assert_eq!(merged.hash, sha1(&merged.body).to_vec());
        let bad = json!({"interval": "ten"});
        assert!(
            build(
                &schema,
                &[Layer {
                    weight: 0,
                    body: &bad
                }]
            )
            .is_err()
        );
    }

    fn json_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            any::<i32>().prop_map(Value::from),
            "[a-z]{0,3}".prop_map(Value::from),
        ];
        leaf.prop_recursive(3, 16, 4, |inner| {
            prop::collection::btree_map("[a-c]", inner, 0..4)
                .prop_map(|map| Value::Object(map.into_iter().collect()))
        })
    }

    proptest! {
        #[test]
        fn the_heaviest_layer_always_wins_on_what_it_states(
            base in json_value(),
            top in json_value(),
        ) {
            let merged = merge(&[Layer { weight: 1, body: &top }, Layer { weight: 0, body: &base }]);
            prop_assert!(states(&merged, &top));
            // Merging a document over itself changes nothing.
            prop_assert_eq!(merge(&[Layer { weight: 0, body: &top }, Layer { weight: 1, body: &top }]), top);
        }
    }

    /// Whether everything `top` states appears in `merged`.
    fn states(merged: &Value, top: &Value) -> bool {
        match (merged, top) {
            (Value::Object(merged), Value::Object(top)) => top
                .iter()
                .all(|(key, value)| merged.get(key).is_some_and(|m| states(m, value))),
            (merged, top) => merged == top,
        }
    }
}
