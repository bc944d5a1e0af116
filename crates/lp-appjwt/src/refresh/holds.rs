//! Answers kept until a time, in a bounded map: what a server asked a
//! dropped cell to wait for ([`Holds`], handed to the key's next cell so
//! that no code path asks sooner than the server said), and what a
//! registry's credential source answered for an account it could not
//! serve ([`Expiring`]).

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Mutex;

use tokio::time::Instant;

use super::{Failure, Refresh, lock};

/// A bounded map of values, each kept until its own instant. Entries whose
/// time has passed are dropped as others are added; at most `capacity`
/// are kept, a newer one taking the place of the one that ends soonest.
pub(crate) struct Expiring<K, V> {
    map: Mutex<HashMap<K, (Instant, V)>>,
    capacity: usize,
}

impl<K: Hash + Eq + Clone, V: Clone> Expiring<K, V> {
    pub(crate) fn new(capacity: usize) -> Self {
        Expiring {
            map: Mutex::new(HashMap::new()),
            capacity: capacity.max(1),
        }
    }

    /// Keeps `value` for `key` until `until`.
    pub(crate) fn insert(&self, key: K, until: Instant, value: V) {
        let mut map = lock(&self.map);
        let now = Instant::now();
        map.retain(|_, (t, _)| now < *t);
        if now >= until {
            return;
        }
        if map.len() >= self.capacity && !map.contains_key(&key) {
            let soonest = map
                .iter()
                .min_by_key(|(_, (t, _))| *t)
                .map(|(k, _)| k.clone());
            if let Some(k) = soonest {
                map.remove(&k);
            }
        }
        map.insert(key, (until, value));
    }

    /// The value kept for `key`, while its time has not passed.
    pub(crate) fn get(&self, key: &K) -> Option<V> {
        let map = lock(&self.map);
        let (until, value) = map.get(key)?;
        (Instant::now() < *until).then(|| value.clone())
    }

    /// Removes and returns the value kept for `key`, while its time has
    /// not passed.
    pub(crate) fn take(&self, key: &K) -> Option<V> {
        let (until, value) = lock(&self.map).remove(key)?;
        (Instant::now() < until).then_some(value)
    }

    /// Forgets what is kept for `key` if `forget` says so.
    pub(crate) fn forget_if(&self, key: &K, forget: impl FnOnce(&V) -> bool) {
        let mut map = lock(&self.map);
        if map.get(key).is_some_and(|(_, v)| forget(v)) {
            map.remove(key);
        }
    }

    /// Entries kept (some may have run out).
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        lock(&self.map).len()
    }
}

/// What dropped cells were told to wait for, by key, with the count of
/// failures in a row, until their not-before.
pub(crate) struct Holds<K>(Expiring<K, (Failure, u32)>);

impl<K: Hash + Eq + Clone> Holds<K> {
    pub(crate) fn new(capacity: usize) -> Self {
        Holds(Expiring::new(capacity))
    }

    /// Keeps what `cell`, about to be dropped, was told to wait for.
    pub(crate) fn keep<T: Send + Sync + 'static>(&self, key: K, cell: &Refresh<T>) {
        if let Some(hold) = cell.held() {
            let until = hold.0.not_before;
            self.0.insert(key, until, hold);
        }
    }

    /// Hands what was kept for `key` over to its new `cell`.
    pub(crate) fn pass_to<T: Send + Sync + 'static>(&self, key: &K, cell: &Refresh<T>) {
        if let Some((failure, consecutive)) = self.0.take(key) {
            cell.hold(failure, consecutive);
        }
    }

    /// Forgets what was kept for `key` if `forget` says so.
    pub(crate) fn forget_if(&self, key: &K, forget: impl FnOnce(&Failure) -> bool) {
        self.0.forget_if(key, |(f, _)| forget(f));
    }

    /// Entries kept.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.0.len()
    }
}
