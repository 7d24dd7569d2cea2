//! Measures the hash ring: how evenly 1M random keys spread over 3, 5 and 10 nodes, what share
//! of keys moves when one node joins or leaves, and the cost of a lookup relative to hashing the
//! key alone (the baseline, run in the same process).
//!
//! `cargo bench -p kaa-cluster --bench ring`

use std::collections::HashMap;
use std::hint::black_box;
use std::time::Instant;

use kaa_cluster::ring::{DEFAULT_VIRTUAL_NODES, HashRing};
use md5::{Digest, Md5};

const KEYS: usize = 1_000_000;

/// Deterministic pseudo-random keys shaped like Base64 endpoint key hashes.
fn random_keys(n: usize) -> Vec<String> {
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    (0..n)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            format!("{state:016x}{:08x}", state.rotate_left(29) as u32)
        })
        .collect()
}

fn node_names(n: usize) -> Vec<String> {
    (1..=n).map(|i| format!("ops-{i}")).collect()
}

fn spread(ring: &HashRing, keys: &[String]) -> (usize, usize) {
    let mut counts: HashMap<&str, usize> = HashMap::new();
    for key in keys {
        *counts
            .entry(ring.owner(key).expect("non-empty ring"))
            .or_default() += 1;
    }
    (
        *counts.values().min().unwrap(),
        *counts.values().max().unwrap(),
    )
}

fn moved(before: &HashRing, after: &HashRing, keys: &[String]) -> f64 {
    let moved = keys
        .iter()
        .filter(|k| before.owner(k) != after.owner(k))
        .count();
    moved as f64 / keys.len() as f64
}

fn main() {
    let keys = random_keys(KEYS);
    println!("hash ring, {KEYS} random keys");
    for virtual_nodes in [10, DEFAULT_VIRTUAL_NODES] {
        println!(
            "\nvirtual nodes per node: {virtual_nodes}{}",
            if virtual_nodes == 10 {
                " (Kaa 0.10)"
            } else {
                " (kaa-rs default)"
            }
        );
        println!(
            "{:>5} {:>9} {:>9} {:>9} {:>8} {:>8} {:>10} {:>10} {:>6}",
            "nodes", "ideal", "min", "max", "min/id", "max/id", "moved+1", "moved-1", "1/N"
        );
        for n in [3, 5, 10] {
            let names = node_names(n);
            let ring = HashRing::new(&names, virtual_nodes);
            let (min, max) = spread(&ring, &keys);
            let ideal = KEYS as f64 / n as f64;
            let joined = HashRing::new(node_names(n + 1), virtual_nodes);
            let left = HashRing::new(&names[1..], virtual_nodes);
            println!(
                "{n:>5} {ideal:>9.0} {min:>9} {max:>9} {:>8.3} {:>8.3} {:>9.2}% {:>9.2}% {:>5.1}%",
                min as f64 / ideal,
                max as f64 / ideal,
                100.0 * moved(&ring, &joined, &keys),
                100.0 * moved(&ring, &left, &keys),
                100.0 / n as f64,
            );
        }
    }

    let ring = HashRing::with_nodes(node_names(10));
    let lookups = &keys[..200_000];
    let started = Instant::now();
    for key in lookups {
        black_box(Md5::digest(key.as_bytes()));
    }
    let baseline = started.elapsed();
    let started = Instant::now();
    for key in lookups {
        black_box(ring.owner(key));
    }
    let lookup = started.elapsed();
    println!(
        "\nlookup over 10 nodes: {:.0} ns/key; baseline md5 of the key: {:.0} ns/key; ratio {:.2}",
        lookup.as_nanos() as f64 / lookups.len() as f64,
        baseline.as_nanos() as f64 / lookups.len() as f64,
        lookup.as_secs_f64() / baseline.as_secs_f64()
    );
}
