//! Many cells by key (one per consumer, one per key set address), in a
//! bounded least-recently-used map.

use std::hash::Hash;
use std::sync::{Arc, Mutex};

use super::{Holds, Refresh, lock};
use crate::lru::Lru;

/// A bounded map of [`Refresh`] cells. A cell dropped from the map (least
/// recently used, or the map dropped) is shut down, so that its
/// background task ends with it; what a server told it to wait for is
/// kept ([`Holds`]) and handed to the key's next cell.
pub(crate) struct Keyed<K, T: Send + Sync + 'static> {
    cells: Mutex<Lru<K, Arc<Refresh<T>>>>,
    pub(super) holds: Holds<K>,
}

impl<K: Hash + Eq + Clone, T: Send + Sync + 'static> Keyed<K, T> {
    /// A map of at most `capacity` cells. With 0 no cell is kept: every
    /// call gets a cell of its own.
    pub(crate) fn new(capacity: usize) -> Self {
        Keyed {
            cells: Mutex::new(Lru::new(capacity)),
            holds: Holds::new(capacity),
        }
    }

    /// The cell for `key`, made with `make` when there is none.
    pub(crate) fn cell(&self, key: &K, make: impl FnOnce() -> Arc<Refresh<T>>) -> Arc<Refresh<T>> {
        let mut cells = lock(&self.cells);
        if let Some(cell) = cells.get(key) {
            return Arc::clone(cell);
        }
        let cell = make();
        self.holds.pass_to(key, &cell);
        let dropped = cells.insert(key.clone(), Arc::clone(&cell));
        drop(cells);
        for (old_key, old) in dropped {
            // With capacity 0 the new cell itself comes back: it serves
            // this one call and must not be shut down before it.
            if !Arc::ptr_eq(&old, &cell) {
                self.holds.keep(old_key, &old);
                old.shutdown();
            }
        }
        cell
    }

    /// A caller is done with `cell`, got for `key`: if the map does not
    /// hold it (capacity 0, or evicted meanwhile), what a server told it to
    /// wait for is kept for the key's next cell, as for an evicted one.
    pub(crate) fn settle(&self, key: &K, cell: &Arc<Refresh<T>>) {
        let held = lock(&self.cells)
            .get(key)
            .is_some_and(|c| Arc::ptr_eq(c, cell));
        if !held {
            self.holds.keep(key.clone(), cell);
        }
    }

    /// The cell for `key`, if the map holds one.
    pub(crate) fn existing(&self, key: &K) -> Option<Arc<Refresh<T>>> {
        lock(&self.cells).get(key).cloned()
    }

    /// Cells held.
    pub(crate) fn len(&self) -> usize {
        lock(&self.cells).len()
    }

    /// The bound.
    pub(crate) fn capacity(&self) -> usize {
        lock(&self.cells).capacity()
    }

    /// Shuts every cell down (the client is going away).
    pub(crate) fn shutdown(&self) {
        let cells = lock(&self.cells).drain();
        for cell in cells {
            cell.shutdown();
        }
    }
}
