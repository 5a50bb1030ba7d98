//! Giving back the room a spike made collections grow. A `HashMap` keeps its table when entries
//! are removed: after 4,000 peers waited out their reconnect grace at once, the hub's maps would
//! hold tables for 4,000 until the process exits. The periodic sweep shrinks the sparse ones.

use std::collections::HashMap;
use std::hash::Hash;

/// Below this many slots a table is not worth shrinking.
const MIN_SHRINK_CAPACITY: usize = 64;

/// Shrinks `map` to twice its length when fewer than a quarter of its slots are used (and it
/// has at least [`MIN_SHRINK_CAPACITY`]). Twice, not exactly: a map that fills again does not
/// grow at once, and one that shrinks and refills in a cycle pays a rehash per cycle at most.
pub fn shrink_sparse<K: Eq + Hash, V, S: std::hash::BuildHasher>(map: &mut HashMap<K, V, S>) {
    let cap = map.capacity();
    if cap >= MIN_SHRINK_CAPACITY && map.len() * 4 < cap {
        map.shrink_to(map.len() * 2);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_spike_gives_its_room_back_and_a_busy_map_keeps_it() {
        let mut m: HashMap<u32, u32> = (0..4000).map(|i| (i, i)).collect();
        let spike = m.capacity();
        m.retain(|k, _| *k < 10);
        shrink_sparse(&mut m);
        assert!(
            m.capacity() < 64,
            "capacity {} after the spike",
            m.capacity()
        );
        assert_eq!(m.len(), 10);
        assert!(spike >= 4000);

        let mut busy: HashMap<u32, u32> = (0..1000).map(|i| (i, i)).collect();
        busy.retain(|k, _| *k < 600);
        let cap = busy.capacity();
        shrink_sparse(&mut busy);
        assert_eq!(busy.capacity(), cap);

        let mut small: HashMap<u32, u32> = (0..40).map(|i| (i, i)).collect();
        small.clear();
        let cap = small.capacity();
        shrink_sparse(&mut small);
        assert_eq!(small.capacity(), cap);
    }
}
