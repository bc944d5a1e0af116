//! A small least-recently-used map, enough for the keyed caches (one
//! ConsumerJWS per consumer, one key set per address).
//!
//! Written here rather than taken from a crate: the cache needs `get`,
//! `insert` and `remove` with a bound and nothing else, and this is forty
//! lines with O(log n) operations and no `unsafe`.

use std::collections::{BTreeMap, HashMap};
use std::hash::Hash;

/// A map that holds at most `capacity` entries, dropping the one used
/// least recently when a new one would exceed the bound.
pub(crate) struct Lru<K, V> {
    capacity: usize,
    /// Every entry with the tick of its last use.
    entries: HashMap<K, (V, u64)>,
    /// Ticks in order of use, oldest first.
    order: BTreeMap<u64, K>,
    tick: u64,
}

impl<K: Hash + Eq + Clone, V> Lru<K, V> {
    /// An empty map; a capacity of 0 holds nothing.
    pub(crate) fn new(capacity: usize) -> Self {
        Lru {
            capacity,
            entries: HashMap::new(),
            order: BTreeMap::new(),
            tick: 0,
        }
    }

    fn next_tick(&mut self) -> u64 {
        self.tick = self.tick.wrapping_add(1);
        self.tick
    }

    /// The value for `key`, marked as just used.
    pub(crate) fn get(&mut self, key: &K) -> Option<&V> {
        let tick = self.next_tick();
        let (_, used) = self.entries.get_mut(key)?;
        let old = std::mem::replace(used, tick);
        if let Some(k) = self.order.remove(&old) {
            self.order.insert(tick, k);
        }
        self.entries.get(key).map(|(v, _)| v)
    }

    /// Inserts or replaces `key`, dropping the least recently used entries
    /// if the map is full; returns the entries dropped or replaced.
    pub(crate) fn insert(&mut self, key: K, value: V) -> Vec<(K, V)> {
        if self.capacity == 0 {
            return vec![(key, value)];
        }
        let mut dropped: Vec<(K, V)> = self
            .remove(&key)
            .map(|v| (key.clone(), v))
            .into_iter()
            .collect();
        while self.entries.len() >= self.capacity {
            let Some((_, oldest)) = self.order.pop_first() else {
                break;
            };
            if let Some((v, _)) = self.entries.remove(&oldest) {
                dropped.push((oldest, v));
            }
        }
        let tick = self.next_tick();
        self.order.insert(tick, key.clone());
        self.entries.insert(key, (value, tick));
        dropped
    }

    /// Removes `key` and returns its value.
    pub(crate) fn remove(&mut self, key: &K) -> Option<V> {
        let (value, tick) = self.entries.remove(key)?;
        self.order.remove(&tick);
        Some(value)
    }

    /// Removes every entry and returns the values.
    pub(crate) fn drain(&mut self) -> Vec<V> {
        self.order.clear();
        self.entries.drain().map(|(_, (v, _))| v).collect()
    }

    /// Entries held.
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    /// The bound.
    pub(crate) fn capacity(&self) -> usize {
        self.capacity
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Applies `ops` (`+k` insert, `?k` get, `-k` remove) to an LRU of
    /// `capacity` and compares the keys left, oldest use first.
    fn check(capacity: usize, ops: &[&str], expected: &[&str]) {
        let mut lru = Lru::new(capacity);
        for op in ops {
            let (kind, key) = op.split_at(1);
            match kind {
                "+" => {
                    lru.insert(key.to_owned(), key.len());
                }
                "?" => {
                    lru.get(&key.to_owned());
                }
                "-" => {
                    lru.remove(&key.to_owned());
                }
                other => panic!("bad op {other}"),
            }
        }
        let left: Vec<&str> = lru.order.values().map(String::as_str).collect();
        assert_eq!(left, expected, "{ops:?}");
        assert_eq!(lru.entries.len(), lru.order.len());
        assert!(lru.len() <= lru.capacity());
    }

    #[test]
    fn eviction_order() {
        check(2, &["+a", "+b"], &["a", "b"]);
        check(2, &["+a", "+b", "+c"], &["b", "c"]);
        check(2, &["+a", "+b", "?a", "+c"], &["a", "c"]);
        check(2, &["+a", "+b", "+a", "+c"], &["a", "c"]);
        check(2, &["+a", "+b", "-a", "+c"], &["b", "c"]);
        check(2, &["?x", "-x"], &[]);
        check(1, &["+a", "+b", "+c"], &["c"]);
        check(0, &["+a", "?a"], &[]);
        check(3, &["+a", "+b", "+c", "?a", "?b", "+d"], &["a", "b", "d"]);
    }
}
