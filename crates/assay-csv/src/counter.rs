//! Exact value counts up to a limit, then HyperLogLog for the distinct count while the most
//! frequent values seen so far keep being counted.

use hashbrown::HashTable;

use crate::sketch::HyperLogLog;

/// Values still counted once the exact limit is passed.
const CANDIDATES: usize = 1000;

#[derive(Debug, Clone, Copy)]
struct Slot {
    hash: u64,
    start: u32,
    len: u32,
    count: u64,
}

/// Counts per distinct value; keys live in one arena to avoid an allocation per value.
#[derive(Debug, Clone)]
pub(crate) struct ValueCounter {
    table: HashTable<Slot>,
    arena: Vec<u8>,
    limit: usize,
    /// Set once more than `limit` distinct values were seen.
    overflow: Option<Box<HyperLogLog>>,
}

impl ValueCounter {
    pub(crate) fn new(limit: usize) -> Self {
        ValueCounter {
            table: HashTable::new(),
            arena: Vec::new(),
            limit,
            overflow: None,
        }
    }

    fn key<'a>(arena: &'a [u8], slot: &Slot) -> &'a [u8] {
        arena
            .get(slot.start as usize..slot.start as usize + slot.len as usize)
            .unwrap_or_default()
    }

    #[inline]
    pub(crate) fn add(&mut self, value: &[u8], hash: u64) {
        self.add_n(value, hash, 1);
    }

    #[inline]
    fn add_n(&mut self, value: &[u8], hash: u64, n: u64) {
        let arena = &self.arena;
        if let Some(slot) = self
            .table
            .find_mut(hash, |s| s.hash == hash && Self::key(arena, s) == value)
        {
            slot.count += n;
        } else if self.overflow.is_none() {
            if self.table.len() < self.limit && self.arena.len() + value.len() <= u32::MAX as usize
            {
                let slot = Slot {
                    hash,
                    start: self.arena.len() as u32,
                    len: value.len() as u32,
                    count: n,
                };
                self.arena.extend_from_slice(value);
                self.table.insert_unique(hash, slot, |s| s.hash);
                return;
            }
            self.overflow();
        }
        if let Some(hll) = &mut self.overflow {
            hll.add(hash);
        }
    }

    /// Moves every value into the HyperLogLog and keeps only the most frequent as candidates.
    fn overflow(&mut self) {
        let mut hll = Box::new(HyperLogLog::new());
        let mut slots: Vec<Slot> = self.table.drain().collect();
        slots.iter().for_each(|s| hll.add(s.hash));
        slots.sort_unstable_by(|a, b| {
            b.count
                .cmp(&a.count)
                .then_with(|| Self::key(&self.arena, a).cmp(Self::key(&self.arena, b)))
        });
        slots.truncate(CANDIDATES);
        let mut arena = Vec::new();
        for mut slot in slots {
            let key = Self::key(&self.arena, &slot);
            slot.start = arena.len() as u32;
            arena.extend_from_slice(key);
            self.table.insert_unique(slot.hash, slot, |s| s.hash);
        }
        self.arena = arena;
        self.overflow = Some(hll);
    }

    /// Adds the counts of a later chunk.
    pub(crate) fn merge(&mut self, other: &ValueCounter) {
        for slot in other.table.iter() {
            self.add_n(Self::key(&other.arena, slot), slot.hash, slot.count);
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
            None => self.table.len() as u64,
        }
    }

    /// The `n` most frequent values, ties broken by value.
    pub(crate) fn top(&self, n: usize) -> Vec<(String, u64)> {
        let mut slots: Vec<&Slot> = self.table.iter().collect();
        slots.sort_unstable_by(|a, b| {
            b.count
                .cmp(&a.count)
                .then_with(|| Self::key(&self.arena, a).cmp(Self::key(&self.arena, b)))
        });
        slots
            .into_iter()
            .take(n)
            .map(|s| {
                let key = Self::key(&self.arena, s);
                (String::from_utf8_lossy(key).into_owned(), s.count)
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
