//! The consistent-hash ring over live Operations nodes.
//!
//! Work for one endpoint (key: Base64 of its key hash) or one owner (key: user id) belongs to the
//! node whose ring point follows the key's hash, wrapping around. Every node builds the same ring
//! from the same membership, so all agree on owners without talking.
//!
//! Like Kaa, points and keys are MD5 hashes; unlike Kaa's 10 points per node, each node gets
//! [`DEFAULT_VIRTUAL_NODES`] points, which keeps every node's share of keys within a few percent
//! of even and moves only about 1/N of the keys when a node joins or leaves (measured by
//! `cargo bench -p kaa-cluster --bench ring`, figures in `docs/benchmarks.md`). Why this ring
//! and not the `hashring` crate: `docs/decisions/019-hash-ring.md`.

use std::collections::BTreeMap;
use std::sync::Arc;

use md5::{Digest, Md5};

/// Points per node: enough for a near-even spread with up to hundreds of nodes; a lookup stays
/// a `BTreeMap` range query.
pub const DEFAULT_VIRTUAL_NODES: u32 = 4096;

/// An immutable ring; rebuild it on every membership change.
#[derive(Debug, Clone, Default)]
pub struct HashRing {
    points: BTreeMap<u64, Arc<str>>,
    nodes: Vec<Arc<str>>,
}

fn hash64(parts: &[&[u8]]) -> u64 {
    let mut md5 = Md5::new();
    for part in parts {
        md5.update(part);
    }
    let digest = md5.finalize();
    u64::from_be_bytes(digest[..8].try_into().expect("md5 is 16 bytes"))
}

impl HashRing {
    /// A ring over `nodes` with `virtual_nodes` points each. Duplicate ids count once; the
    /// order of `nodes` does not matter.
    pub fn new<I, S>(nodes: I, virtual_nodes: u32) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut ids: Vec<Arc<str>> = nodes.into_iter().map(|n| Arc::from(n.as_ref())).collect();
        ids.sort();
        ids.dedup();
        let mut points = BTreeMap::new();
        for id in &ids {
            for replica in 0..virtual_nodes {
                let point = hash64(&[id.as_bytes(), &replica.to_be_bytes()]);
                // On the (astronomically rare) collision the smaller id keeps the point, so every
                // node still builds the same ring.
                points.entry(point).or_insert_with(|| id.clone());
            }
        }
        Self { points, nodes: ids }
    }

    /// A ring with [`DEFAULT_VIRTUAL_NODES`] points per node.
    pub fn with_nodes<I, S>(nodes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        Self::new(nodes, DEFAULT_VIRTUAL_NODES)
    }

    /// The node that owns `key`, or `None` on an empty ring.
    pub fn owner(&self, key: &str) -> Option<&str> {
        let hash = hash64(&[key.as_bytes()]);
        self.points
            .range(hash..)
            .next()
            .or_else(|| self.points.iter().next())
            .map(|(_, node)| node.as_ref())
    }

    /// The node ids on the ring, sorted.
    pub fn nodes(&self) -> impl Iterator<Item = &str> {
        self.nodes.iter().map(|n| n.as_ref())
    }

    /// Whether the ring has no node.
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use proptest::prelude::*;

    use super::*;

    fn keys(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("endpoint-{i}")).collect()
    }

    #[test]
    fn empty_ring_has_no_owner() {
        assert_eq!(HashRing::default().owner("k"), None);
        assert!(HashRing::with_nodes(Vec::<String>::new()).is_empty());
    }

    #[test]
    fn one_node_owns_everything() {
        let ring = HashRing::with_nodes(["a"]);
        assert!(keys(100).iter().all(|k| ring.owner(k) == Some("a")));
    }

    #[test]
    fn spread_over_five_nodes_is_within_ten_percent_of_even() {
        let ring = HashRing::with_nodes(["n1", "n2", "n3", "n4", "n5"]);
        let mut counts: HashMap<&str, usize> = HashMap::new();
        let keys = keys(50_000);
        for key in &keys {
            *counts.entry(ring.owner(key).unwrap()).or_default() += 1;
        }
        let ideal = keys.len() as f64 / 5.0;
        for (node, count) in counts {
            let off = (count as f64 - ideal).abs() / ideal;
            assert!(
                off < 0.10,
                "{node} owns {count} keys, {:.1}% off even",
                off * 100.0
            );
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(32))]

        #[test]
        fn owner_is_always_a_member(nodes in prop::collection::btree_set("[a-z]{1,8}", 1..8), key in ".*") {
            let ring = HashRing::new(&nodes, 64);
            let owner = ring.owner(&key).unwrap();
            prop_assert!(nodes.contains(owner));
        }

        #[test]
        fn insertion_order_does_not_matter(nodes in prop::collection::vec("[a-z]{1,8}", 1..8), key in ".*") {
            let mut reversed = nodes.clone();
            reversed.reverse();
            let (forward, backward) = (HashRing::new(&nodes, 64), HashRing::new(&reversed, 64));
            prop_assert_eq!(forward.owner(&key), backward.owner(&key));
        }

        #[test]
        fn removing_a_node_moves_only_its_keys(
            nodes in prop::collection::btree_set("[a-z]{1,8}", 2..8),
            victim_index in 0usize..8,
            keys in prop::collection::vec(".{0,16}", 1..200),
        ) {
            let nodes: Vec<String> = nodes.into_iter().collect();
            let victim = nodes[victim_index % nodes.len()].clone();
            let before = HashRing::new(&nodes, 64);
            let after = HashRing::new(nodes.iter().filter(|n| **n != victim), 64);
            for key in &keys {
                let old = before.owner(key).unwrap();
                if old != victim {
                    prop_assert_eq!(after.owner(key).unwrap(), old, "key {:?} moved off a live node", key);
                }
            }
        }

        #[test]
        fn adding_a_node_moves_keys_only_to_it(
            nodes in prop::collection::btree_set("[a-z]{1,8}", 1..8),
            newcomer in "[A-Z]{1,8}",
            keys in prop::collection::vec(".{0,16}", 1..200),
        ) {
            let before = HashRing::new(&nodes, 64);
            let after = HashRing::new(nodes.iter().cloned().chain([newcomer.clone()]), 64);
            for key in &keys {
                let new_owner = after.owner(key).unwrap();
                if new_owner != newcomer {
                    prop_assert_eq!(new_owner, before.owner(key).unwrap());
                }
            }
        }
    }
}
