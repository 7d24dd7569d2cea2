//! A map by endpoint key hash split into shards, each behind its own short-lived mutex, so work
//! on different endpoints never waits on one global lock. The session registry and the
//! credentials cache keep their per-endpoint state in one.

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::sync::{Mutex, MutexGuard};

/// Per-endpoint values of type `V`, by key hash, in a fixed number of shards.
pub(crate) struct ShardedMap<V> {
    shards: Vec<Mutex<HashMap<Vec<u8>, V>>>,
    hasher: RandomState,
}

impl<V> ShardedMap<V> {
    /// An empty map of `shards` shards (at least one).
    pub(crate) fn new(shards: usize) -> Self {
        Self {
            shards: (0..shards.max(1)).map(|_| Mutex::default()).collect(),
            hasher: RandomState::new(),
        }
    }

    /// The locked shard that holds `key_hash`.
    pub(crate) fn shard(&self, key_hash: &[u8]) -> MutexGuard<'_, HashMap<Vec<u8>, V>> {
        let index = (self.hasher.hash_one(key_hash) as usize) % self.shards.len();
        lock(&self.shards[index])
    }

    /// Every shard, locked one at a time.
    pub(crate) fn each_shard(&self) -> impl Iterator<Item = MutexGuard<'_, HashMap<Vec<u8>, V>>> {
        self.shards.iter().map(lock)
    }
}

/// A poisoned shard is still consistent: every critical section is a few map operations.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_always_lands_in_the_same_shard() {
        let map = ShardedMap::<u32>::new(8);
        for i in 0..100u32 {
            map.shard(&i.to_be_bytes())
                .insert(i.to_be_bytes().to_vec(), i);
        }
        for i in 0..100u32 {
            assert_eq!(
                map.shard(&i.to_be_bytes()).get(&i.to_be_bytes()[..]),
                Some(&i)
            );
        }
        let held: usize = map.each_shard().map(|shard| shard.len()).sum();
        assert_eq!(held, 100);
    }
}
