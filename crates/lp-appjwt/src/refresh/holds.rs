//! What a server asked a cell to wait for, kept after the cell is dropped
//! (evicted from a bounded map, removed, replaced), so that the key's next
//! cell waits as told: no code path asks sooner than the server said.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Mutex;

use tokio::time::Instant;

use super::{Failure, Refresh, lock};

/// A bounded map from key to the failure its dropped cell remembered, with
/// the count of failures in a row. Entries whose not-before has passed are
/// dropped as others are added; at most `capacity` are kept, a newer one
/// taking the place of the one that ends soonest.
pub(crate) struct Holds<K> {
    map: Mutex<HashMap<K, (Failure, u32)>>,
    capacity: usize,
}

impl<K: Hash + Eq + Clone> Holds<K> {
    pub(crate) fn new(capacity: usize) -> Self {
        Holds {
            map: Mutex::new(HashMap::new()),
            capacity: capacity.max(1),
        }
    }

    /// Keeps what `cell`, about to be dropped, was told to wait for.
    pub(crate) fn keep<T: Send + Sync + 'static>(&self, key: K, cell: &Refresh<T>) {
        let Some(hold) = cell.held() else {
            return;
        };
        let mut map = lock(&self.map);
        let now = Instant::now();
        map.retain(|_, (f, _)| now < f.not_before);
        if map.len() >= self.capacity && !map.contains_key(&key) {
            let soonest = map
                .iter()
                .min_by_key(|(_, (f, _))| f.not_before)
                .map(|(k, _)| k.clone());
            if let Some(k) = soonest {
                map.remove(&k);
            }
        }
        map.insert(key, hold);
    }

    /// Hands what was kept for `key` over to its new `cell`.
    pub(crate) fn pass_to<T: Send + Sync + 'static>(&self, key: &K, cell: &Refresh<T>) {
        let hold = lock(&self.map).remove(key);
        if let Some((failure, consecutive)) = hold {
            cell.hold(failure, consecutive);
        }
    }

    /// Forgets what was kept for `key` if `forget` says so.
    pub(crate) fn forget_if(&self, key: &K, forget: impl FnOnce(&Failure) -> bool) {
        let mut map = lock(&self.map);
        if map.get(key).is_some_and(|(f, _)| forget(f)) {
            map.remove(key);
        }
    }

    /// Entries kept.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        lock(&self.map).len()
    }
}
