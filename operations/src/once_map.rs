//! A map whose values are loaded once per key, however many tasks ask for one at the same
//! moment: the first caller loads, the others wait for its result (and one of them loads again
//! if it failed).
//!
//! A metadata change drops an application's cached context and wakes every connected endpoint
//! of the application at once; without this each of thousands of resyncs would load the same
//! application from the metadata database (a stampede that delayed a fan-out to 2,000 endpoints
//! by over a second). Removing a key while its load runs leaves that load to the callers that
//! already wait for it; later callers start a fresh one, so nothing read before a change is
//! kept after it.
//!
//! Unless the store cannot be read: [`OnceMap::get_or_try_load_or_last`] keeps the last value it
//! loaded per key, and when a fresh load fails with an error the caller accepts, it holds that
//! value again (until the key is next forgotten), so a metadata database outage right after a
//! change does not leave the endpoints of the application without service.

use std::borrow::Borrow;
use std::collections::HashMap;
use std::future::Future;
use std::hash::Hash;
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

use tokio::sync::OnceCell;

/// Values by key, each loaded once (see the module docs).
#[derive(Debug)]
pub(crate) struct OnceMap<K, V> {
    cells: RwLock<HashMap<K, Arc<OnceCell<V>>>>,
    /// The last value [`OnceMap::get_or_try_load_or_last`] loaded per key, kept when the key is
    /// forgotten.
    last: RwLock<HashMap<K, V>>,
    /// Keys held before the map starts again from nothing (`None`: no limit).
    limit: Option<usize>,
}

impl<K, V> Default for OnceMap<K, V> {
    fn default() -> Self {
        Self {
            cells: RwLock::default(),
            last: RwLock::default(),
            limit: None,
        }
    }
}

impl<K: Eq + Hash, V: Clone> OnceMap<K, V> {
    /// A map that forgets everything once it holds `limit` keys, for values that are cheap to
    /// load again.
    pub(crate) fn bounded(limit: usize) -> Self {
        Self {
            cells: RwLock::default(),
            last: RwLock::default(),
            limit: Some(limit),
        }
    }

    /// The value of `key`, loaded by `load` unless it was loaded before or is being loaded.
    pub(crate) async fn get_or_try_load<Q, E, F, Fut>(&self, key: &Q, load: F) -> Result<V, E>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ToOwned<Owned = K> + ?Sized,
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<V, E>>,
    {
        let found = self.read().get(key).cloned();
        let cell = match found {
            Some(cell) => cell,
            None => {
                let mut cells = self.write();
                if self.limit.is_some_and(|limit| cells.len() >= limit) && !cells.contains_key(key)
                {
                    cells.clear();
                }
                cells.entry(key.to_owned()).or_default().clone()
            }
        };
        cell.get_or_try_init(load).await.cloned()
    }

    /// As [`OnceMap::get_or_try_load`], remembering each value loaded; when the load fails and
    /// `use_last` accepts the error and the value loaded last for `key` (after the key was
    /// forgotten), that value is the result, held again as if loaded.
    pub(crate) async fn get_or_try_load_or_last<Q, E, F, Fut>(
        &self,
        key: &Q,
        load: F,
        use_last: impl FnOnce(&E, &V) -> bool,
    ) -> Result<V, E>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ToOwned<Owned = K> + ?Sized,
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<V, E>>,
    {
        self.get_or_try_load(key, || async {
            match load().await {
                Ok(value) => {
                    write(&self.last).insert(key.to_owned(), value.clone());
                    Ok(value)
                }
                Err(error) => {
                    let last = read(&self.last).get(key).cloned();
                    match last {
                        Some(last) if use_last(&error, &last) => Ok(last),
                        _ => Err(error),
                    }
                }
            }
        })
        .await
    }

    /// Forgets `key` and the value last loaded for it: it is gone from the store.
    pub(crate) fn forget<Q>(&self, key: &Q)
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.remove(key);
        write(&self.last).remove(key);
    }

    /// Forgets `key`.
    pub(crate) fn remove<Q>(&self, key: &Q)
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.write().remove(key);
    }

    /// Keeps the loaded values `keep` says to keep, and forgets every load in progress.
    pub(crate) fn retain_loaded(&self, keep: impl Fn(&V) -> bool) {
        self.write().retain(|_, cell| cell.get().is_some_and(&keep));
    }

    fn read(&self) -> RwLockReadGuard<'_, HashMap<K, Arc<OnceCell<V>>>> {
        read(&self.cells)
    }

    fn write(&self) -> RwLockWriteGuard<'_, HashMap<K, Arc<OnceCell<V>>>> {
        write(&self.cells)
    }
}

// The maps hold plain values; a panic elsewhere cannot leave them half-changed.
fn read<T>(lock: &RwLock<T>) -> RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(|p| p.into_inner())
}

fn write<T>(lock: &RwLock<T>) -> RwLockWriteGuard<'_, T> {
    lock.write().unwrap_or_else(|p| p.into_inner())
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    use super::*;

    /// A load counting itself that takes 20 ms and fails when `fail`.
    fn load(
        loads: &Arc<AtomicUsize>,
        fail: bool,
        value: u32,
    ) -> impl FnOnce() -> std::pin::Pin<Box<dyn Future<Output = Result<u32, &'static str>> + Send>> + use<>
    {
        let loads = loads.clone();
        move || {
            Box::pin(async move {
                tokio::time::sleep(Duration::from_millis(20)).await;
                loads.fetch_add(1, Ordering::SeqCst);
                if fail { Err("store down") } else { Ok(value) }
            })
        }
    }

    #[tokio::test]
    async fn many_callers_at_once_share_one_load_and_a_failed_load_is_tried_again() {
        let map = Arc::new(OnceMap::<String, u32>::default());
        let loads = Arc::new(AtomicUsize::new(0));
        assert_eq!(
            map.get_or_try_load("app", load(&loads, true, 1)).await,
            Err("store down")
        );
        let callers: Vec<_> = (0..50)
            .map(|_| {
                let (map, load) = (map.clone(), load(&loads, false, 1));
                tokio::spawn(async move { map.get_or_try_load("app", load).await })
            })
            .collect();
        for caller in callers {
            assert_eq!(caller.await.unwrap(), Ok(1));
        }
        assert_eq!(
            loads.load(Ordering::SeqCst),
            2,
            "the failed load, then one for all 50"
        );
        assert_eq!(
            map.get_or_try_load("app", load(&loads, false, 9)).await,
            Ok(1)
        );
        assert_eq!(loads.load(Ordering::SeqCst), 2, "loaded values are kept");
    }

    #[tokio::test]
    async fn a_key_removed_while_it_loads_is_loaded_afresh_for_later_callers() {
        let map = Arc::new(OnceMap::<String, u32>::default());
        let loads = Arc::new(AtomicUsize::new(0));
        let early = {
            let (map, load) = (map.clone(), load(&loads, false, 1));
            tokio::spawn(async move { map.get_or_try_load("app", load).await })
        };
        tokio::time::sleep(Duration::from_millis(5)).await;
        map.remove("app");
        let late = map.get_or_try_load("app", load(&loads, false, 2)).await;
        assert_eq!(early.await.unwrap(), Ok(1), "the caller before the change");
        assert_eq!(late, Ok(2), "the caller after it loads again");
        assert_eq!(
            map.get_or_try_load("app", load(&loads, false, 3)).await,
            Ok(2)
        );
    }

    #[tokio::test]
    async fn a_failed_load_falls_back_to_the_value_loaded_last_when_the_caller_accepts_it() {
        let map = OnceMap::<String, u32>::default();
        let loads = Arc::new(AtomicUsize::new(0));
        let accept = |_: &&str, _: &u32| true;
        assert_eq!(
            map.get_or_try_load_or_last("app", load(&loads, true, 1), accept)
                .await,
            Err("store down"),
            "nothing loaded before"
        );
        assert_eq!(
            map.get_or_try_load_or_last("app", load(&loads, false, 1), accept)
                .await,
            Ok(1)
        );
        map.remove("app");
        assert_eq!(
            map.get_or_try_load_or_last("app", load(&loads, true, 2), |_, _| false)
                .await,
            Err("store down"),
            "an error the caller does not accept"
        );
        assert_eq!(
            map.get_or_try_load_or_last("app", load(&loads, true, 2), accept)
                .await,
            Ok(1),
            "the last value loaded"
        );
        assert_eq!(
            map.get_or_try_load_or_last("app", load(&loads, false, 3), accept)
                .await,
            Ok(1),
            "held again until the key is forgotten"
        );
        map.remove("app");
        assert_eq!(
            map.get_or_try_load_or_last("app", load(&loads, false, 3), accept)
                .await,
            Ok(3)
        );
        map.forget("app");
        assert_eq!(
            map.get_or_try_load_or_last("app", load(&loads, true, 4), accept)
                .await,
            Err("store down"),
            "forgotten for good"
        );
    }

    #[tokio::test]
    async fn retain_keeps_only_the_loaded_values_asked_for_and_a_bounded_map_starts_again() {
        let map = OnceMap::<String, u32>::default();
        let loads = Arc::new(AtomicUsize::new(0));
        for (key, value) in [("a", 1), ("b", 2)] {
            map.get_or_try_load(key, load(&loads, false, value))
                .await
                .unwrap();
        }
        map.retain_loaded(|value| *value != 1);
        assert_eq!(
            map.get_or_try_load("a", load(&loads, false, 10)).await,
            Ok(10)
        );
        assert_eq!(
            map.get_or_try_load("b", load(&loads, false, 20)).await,
            Ok(2)
        );

        let bounded = OnceMap::<String, u32>::bounded(2);
        for (key, value) in [("a", 1), ("b", 2), ("c", 3)] {
            bounded
                .get_or_try_load(key, load(&loads, false, value))
                .await
                .unwrap();
        }
        assert_eq!(
            bounded.get_or_try_load("a", load(&loads, false, 4)).await,
            Ok(4)
        );
    }
}
