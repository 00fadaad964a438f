//! Exact value counts up to a limit, then HyperLogLog for the distinct count while the most
//! frequent values seen so far keep being counted.
//!
//! Values are identified by their 64-bit xxh3 hash, which saves a key comparison (and a
//! cache miss) per lookup; two different values collide with probability about n^2 / 2^65,
//! below one in ten million for a million distinct values. The table is a flat
//! linear-probing array of 16-byte slots kept at most half full, so a lookup usually reads
//! one cache line.

use crate::sketch::HyperLogLog;

/// Values still counted once the exact limit is passed.
const CANDIDATES: usize = 1000;

#[derive(Debug, Clone, Copy, Default)]
struct Slot {
    /// 0 marks an empty slot; a real hash of 0 is stored as 1.
    hash: u64,
    /// Saturates at u32::MAX (over 4 billion repeats, beyond the default size limit).
    count: u32,
    /// Index into `keys`.
    key: u32,
}

/// Counts per distinct value, with the value bytes kept once in an arena for reporting.
#[derive(Debug, Clone)]
pub(crate) struct ValueCounter {
    slots: Vec<Slot>,
    len: usize,
    keys: Vec<(u32, u32)>,
    arena: Vec<u8>,
    limit: usize,
    /// Set once more than `limit` distinct values were seen.
    overflow: Option<Box<HyperLogLog>>,
}

impl ValueCounter {
    pub(crate) fn new(limit: usize) -> Self {
        ValueCounter {
            slots: vec![Slot::default(); 16],
            len: 0,
            keys: Vec::new(),
            arena: Vec::new(),
            limit,
            overflow: None,
        }
    }

    fn key(&self, slot: &Slot) -> &[u8] {
        self.keys
            .get(slot.key as usize)
            .and_then(|&(start, len)| self.arena.get(start as usize..(start + len) as usize))
            .unwrap_or_default()
    }

    /// The slot holding `hash`, or the empty slot where it belongs.
    #[inline]
    fn probe(&self, hash: u64) -> usize {
        let mask = self.slots.len() - 1;
        let mut i = (hash as usize) & mask;
        loop {
            let h = self.slots[i].hash;
            if h == hash || h == 0 {
                return i;
            }
            i = (i + 1) & mask;
        }
    }

    #[inline]
    pub(crate) fn add(&mut self, value: &[u8], hash: u64) {
        self.add_n(value, hash.max(1), 1);
    }

    #[inline]
    fn add_n(&mut self, value: &[u8], hash: u64, n: u32) {
        let i = self.probe(hash);
        if self.slots[i].hash == hash {
            self.slots[i].count = self.slots[i].count.saturating_add(n);
        } else if self.overflow.is_none() {
            if self.len < self.limit && self.arena.len() + value.len() <= u32::MAX as usize {
                self.insert_at(i, value, hash, n);
                return;
            }
            self.overflow();
        }
        if let Some(hll) = &mut self.overflow {
            hll.add(hash);
        }
    }

    fn insert_at(&mut self, i: usize, value: &[u8], hash: u64, count: u32) {
        self.slots[i] = Slot {
            hash,
            count,
            key: self.keys.len() as u32,
        };
        self.keys
            .push((self.arena.len() as u32, value.len() as u32));
        self.arena.extend_from_slice(value);
        self.len += 1;
        if self.len * 2 > self.slots.len() {
            self.grow(self.slots.len() * 2);
        }
    }

    fn grow(&mut self, capacity: usize) {
        let old = std::mem::replace(&mut self.slots, vec![Slot::default(); capacity]);
        for slot in old.into_iter().filter(|s| s.hash != 0) {
            let i = self.probe(slot.hash);
            self.slots[i] = slot;
        }
    }

    /// Slots in use, most frequent first, ties broken by value.
    fn ranked(&self) -> Vec<Slot> {
        let mut slots: Vec<Slot> = self.slots.iter().copied().filter(|s| s.hash != 0).collect();
        slots.sort_unstable_by(|a, b| {
            b.count
                .cmp(&a.count)
                .then_with(|| self.key(a).cmp(self.key(b)))
        });
        slots
    }

    /// Moves every value into the HyperLogLog and keeps only the most frequent as candidates.
    fn overflow(&mut self) {
        let mut hll = Box::new(HyperLogLog::new());
        self.slots
            .iter()
            .filter(|s| s.hash != 0)
            .for_each(|s| hll.add(s.hash));
        let mut kept = self.ranked();
        kept.truncate(CANDIDATES);
        let old = std::mem::replace(self, ValueCounter::new(self.limit));
        self.grow((CANDIDATES * 4).next_power_of_two());
        for slot in kept {
            let i = self.probe(slot.hash);
            self.insert_at(i, old.key(&slot), slot.hash, slot.count);
        }
        self.overflow = Some(hll);
    }

    /// Adds the counts of a later chunk.
    pub(crate) fn merge(&mut self, other: &ValueCounter) {
        // Visiting slots in table order would insert hashes sorted by their low bits, which
        // piles them into long probe runs; an odd stride visits every slot in scattered order.
        let mask = other.slots.len() - 1;
        for k in 0..other.slots.len() {
            let slot = &other.slots[k.wrapping_mul(0x9E37_79B9) & mask];
            if slot.hash != 0 {
                self.add_n(other.key(slot), slot.hash, slot.count);
            }
        }
        if let Some(theirs) = &other.overflow {
            if self.overflow.is_none() {
                self.overflow();
            }
            if let Some(ours) = &mut self.overflow {
                ours.merge(theirs);
            }
        }
    }

    pub(crate) fn is_approximate(&self) -> bool {
        self.overflow.is_some()
    }

    pub(crate) fn distinct(&self) -> u64 {
        match &self.overflow {
            Some(hll) => hll.estimate(),
            None => self.len as u64,
        }
    }

    /// The `n` most frequent values, ties broken by value.
    pub(crate) fn top(&self, n: usize) -> Vec<(String, u64)> {
        self.ranked()
            .iter()
            .take(n)
            .map(|s| {
                let key = String::from_utf8_lossy(self.key(s)).into_owned();
                (key, u64::from(s.count))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use xxhash_rust::xxh3::xxh3_64;

    fn add(c: &mut ValueCounter, v: &str) {
        c.add(v.as_bytes(), xxh3_64(v.as_bytes()));
    }

    #[test]
    fn exact_below_limit() {
        let mut c = ValueCounter::new(10);
        for v in ["a", "b", "a", "c", "a", "b"] {
            add(&mut c, v);
        }
        assert_eq!(c.distinct(), 3);
        assert!(!c.is_approximate());
        assert_eq!(c.top(2), vec![("a".into(), 3), ("b".into(), 2)]);
    }

    #[test]
    fn grows_past_the_initial_capacity() {
        let mut c = ValueCounter::new(100_000);
        for i in 0..50_000 {
            add(&mut c, &(i % 20_000).to_string());
        }
        assert_eq!(c.distinct(), 20_000);
        assert_eq!(c.top(1)[0].1, 3);
    }

    #[test]
    fn overflow_keeps_counting_candidates() {
        let mut c = ValueCounter::new(100);
        for i in 0..5000 {
            add(&mut c, "hot");
            add(&mut c, &i.to_string());
        }
        assert!(c.is_approximate());
        let d = c.distinct() as f64;
        assert!((d - 5001.0).abs() / 5001.0 < 0.05, "{d}");
        assert_eq!(c.top(1), vec![("hot".into(), 5000)]);
    }

    #[test]
    fn merge_adds_counts() {
        let mut a = ValueCounter::new(10);
        let mut b = ValueCounter::new(10);
        add(&mut a, "x");
        add(&mut b, "x");
        add(&mut b, "y");
        a.merge(&b);
        assert_eq!(a.top(5), vec![("x".into(), 2), ("y".into(), 1)]);
    }
}
