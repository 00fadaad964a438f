//! Exact value counts up to a limit, then HyperLogLog for the distinct count while the most
//! frequent values seen so far keep being counted, on a sample of one value in eight.
//!
//! Values are identified by their 64-bit xxh3 hash, which saves a key comparison (and a
//! cache miss) per lookup. The table is a flat linear-probing array kept at most five eighths
//! full, indexed by the hash's low bits and checked against its high 32 bits: two different
//! values are confused with probability about n^2 / 2^(32 + log2 capacity), about one in a
//! million at the default 10 000 distinct values.

use crate::sketch::HyperLogLog;

/// Values still counted once the exact limit is passed.
const CANDIDATES: usize = 1000;
/// Past the limit, about one value in this many is looked up among the candidates and
/// counts for this many: looking up every value cost as much as all the numeric statistics
/// together on high-cardinality columns. Gaps between lookups are drawn uniformly from
/// 1..=15 by a fixed-seed generator, so periodic data cannot alias with the sampling and
/// reports stay reproducible.
const SAMPLE_EVERY: u32 = 8;

/// What [`ValueCounter::add`] did with a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Counted<F> {
    /// Counted exactly, seen before: here is its fact.
    Known(F),
    /// Counted exactly, seen for the first time.
    New,
    /// Past the limit: only the sketches saw it.
    Sketched,
}

#[derive(Debug, Clone, Copy, Default)]
struct Slot<F> {
    /// High half of the value's hash; 0 marks an empty slot (a real 0 is stored as 1).
    tag: u32,
    /// Saturates at u32::MAX (over 4 billion repeats, beyond the default size limit).
    count: u32,
    /// What the caller derived from the value when it was first counted.
    fact: F,
}

/// A distinct value: its full hash and where its bytes are in the arena.
#[derive(Debug, Clone, Copy)]
struct Entry {
    hash: u64,
    start: u32,
    len: u32,
}

/// Counts per distinct value, each with a fact `F` the caller derives from the value once
/// (the column profiler keeps how the value classified, so repeats are not parsed again).
/// Probing touches only the slots (tag, count and fact), so the hot part of a 10 000-value
/// table fits in a core's L2 cache; full hashes and value bytes sit in side arrays read on
/// insert, growth and reporting.
#[derive(Debug, Clone)]
pub(crate) struct ValueCounter<F> {
    slots: Vec<Slot<F>>,
    /// `entry_of[i]` indexes `entries` for the value in `slots[i]`.
    entry_of: Vec<u32>,
    entries: Vec<Entry>,
    arena: Vec<u8>,
    limit: usize,
    /// Set once more than `limit` distinct values were seen.
    overflow: Option<Box<HyperLogLog>>,
    /// Values until the next sampled candidate lookup, once past the limit.
    countdown: u32,
    /// Xorshift state drawing the gaps between sampled lookups.
    rng: u64,
}

fn tag(hash: u64) -> u32 {
    ((hash >> 32) as u32).max(1)
}

impl<F: Copy + Default> ValueCounter<F> {
    pub(crate) fn new(limit: usize) -> Self {
        ValueCounter {
            slots: vec![Slot::default(); 16],
            entry_of: vec![0; 16],
            entries: Vec::new(),
            arena: Vec::new(),
            limit,
            overflow: None,
            countdown: SAMPLE_EVERY,
            rng: 0x9E37_79B9_7F4A_7C15,
        }
    }

    /// The next gap between sampled lookups, uniform in 1..=2 * SAMPLE_EVERY - 1.
    fn next_gap(&mut self) -> u32 {
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        let span = u64::from(2 * SAMPLE_EVERY - 1);
        (((self.rng >> 32) * span) >> 32) as u32 + 1
    }

    fn key(&self, entry: &Entry) -> &[u8] {
        self.arena
            .get(entry.start as usize..(entry.start + entry.len) as usize)
            .unwrap_or_default()
    }

    /// The slot holding `hash`, or the empty slot where it belongs.
    #[inline]
    fn probe(&self, hash: u64) -> usize {
        let mask = self.slots.len() - 1;
        let tag = tag(hash);
        let mut i = (hash as usize) & mask;
        loop {
            let t = self.slots[i].tag;
            if t == tag || t == 0 {
                return i;
            }
            i = (i + 1) & mask;
        }
    }

    /// Counts one value; a new one starts with the default fact (see [`Self::set_fact`]).
    #[inline]
    pub(crate) fn add(&mut self, value: &[u8], hash: u64) -> Counted<F> {
        let Some(hll) = &mut self.overflow else {
            return self.add_n(value, hash, 1, F::default());
        };
        hll.add(hash);
        self.countdown -= 1;
        if self.countdown == 0 {
            self.countdown = self.next_gap();
            let i = self.probe(hash);
            if self.slots[i].tag != 0 {
                self.slots[i].count = self.slots[i].count.saturating_add(SAMPLE_EVERY);
            }
        }
        Counted::Sketched
    }

    /// Sets the fact of the value with `hash`, counted exactly.
    pub(crate) fn set_fact(&mut self, hash: u64, fact: F) {
        let i = self.probe(hash);
        if self.slots[i].tag != 0 {
            self.slots[i].fact = fact;
        }
    }

    #[inline]
    fn add_n(&mut self, value: &[u8], hash: u64, n: u32, fact: F) -> Counted<F> {
        let i = self.probe(hash);
        let slot = &mut self.slots[i];
        if slot.tag != 0 {
            slot.count = slot.count.saturating_add(n);
            if self.overflow.is_none() {
                return Counted::Known(slot.fact);
            }
        } else if self.overflow.is_none() {
            if self.entries.len() < self.limit
                && self.arena.len() + value.len() <= u32::MAX as usize
            {
                self.insert_at(i, value, hash, n, fact);
                return Counted::New;
            }
            self.overflow();
        }
        if let Some(hll) = &mut self.overflow {
            hll.add(hash);
        }
        Counted::Sketched
    }

    fn insert_at(&mut self, i: usize, value: &[u8], hash: u64, count: u32, fact: F) {
        self.slots[i] = Slot {
            tag: tag(hash),
            count,
            fact,
        };
        self.entry_of[i] = self.entries.len() as u32;
        self.entries.push(Entry {
            hash,
            start: self.arena.len() as u32,
            len: value.len() as u32,
        });
        self.arena.extend_from_slice(value);
        if self.entries.len() * 8 > self.slots.len() * 5 {
            self.grow(self.slots.len() * 2);
        }
    }

    fn grow(&mut self, capacity: usize) {
        let slots = std::mem::replace(&mut self.slots, vec![Slot::default(); capacity]);
        let entry_of = std::mem::replace(&mut self.entry_of, vec![0; capacity]);
        for (slot, e) in slots.into_iter().zip(entry_of).filter(|(s, _)| s.tag != 0) {
            let Some(entry) = self.entries.get(e as usize) else {
                continue;
            };
            let i = self.probe(entry.hash);
            self.slots[i] = slot;
            self.entry_of[i] = e;
        }
    }

    /// Used slots as (entry, count), visited in a scattered order: inserting hashes in
    /// table order into another table would pile them into long probe runs.
    fn used(&self) -> impl Iterator<Item = (&Entry, Slot<F>)> + '_ {
        let mask = self.slots.len() - 1;
        (0..self.slots.len()).filter_map(move |k| {
            let i = k.wrapping_mul(0x9E37_79B9) & mask;
            let slot = self.slots[i];
            let entry = self.entries.get(self.entry_of[i] as usize)?;
            (slot.tag != 0).then_some((entry, slot))
        })
    }

    /// The `n` most frequent values with their counts, most frequent first, ties broken by
    /// value.
    fn ranked(&self, n: usize) -> Vec<(Entry, Slot<F>)> {
        let mut used: Vec<(Entry, Slot<F>)> = self.used().map(|(e, s)| (*e, s)).collect();
        let order = |a: &(Entry, Slot<F>), b: &(Entry, Slot<F>)| {
            b.1.count
                .cmp(&a.1.count)
                .then_with(|| self.key(&a.0).cmp(self.key(&b.0)))
        };
        if n < used.len() {
            used.select_nth_unstable_by(n, order);
            used.truncate(n);
        }
        used.sort_unstable_by(order);
        used
    }

    /// Moves every value into the HyperLogLog and keeps only the most frequent as candidates.
    fn overflow(&mut self) {
        let mut hll = Box::new(HyperLogLog::new());
        self.entries.iter().for_each(|e| hll.add(e.hash));
        let kept = self.ranked(CANDIDATES);
        let old = std::mem::replace(self, ValueCounter::new(self.limit));
        self.grow((CANDIDATES * 2).next_power_of_two());
        for (entry, slot) in kept {
            let i = self.probe(entry.hash);
            self.insert_at(i, old.key(&entry), entry.hash, slot.count, slot.fact);
        }
        self.overflow = Some(hll);
    }

    /// Adds the counts of a later chunk.
    pub(crate) fn merge(&mut self, other: &ValueCounter<F>) {
        for (entry, slot) in other.used() {
            let _ = self.add_n(other.key(entry), entry.hash, slot.count, slot.fact);
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

    /// An empty counter for a later chunk, already past the limit and counting only this
    /// counter's candidates. Merging a later chunk into an overflowed counter keeps only
    /// these candidates anyway, so later chunks skip the exact phase without changing the
    /// result.
    pub(crate) fn seed(&self) -> Option<ValueCounter<F>> {
        self.overflow.as_ref()?;
        let mut seed = self.clone();
        seed.slots.iter_mut().for_each(|s| s.count = 0);
        seed.overflow = Some(Box::new(HyperLogLog::new()));
        Some(seed)
    }

    pub(crate) fn is_approximate(&self) -> bool {
        self.overflow.is_some()
    }

    pub(crate) fn distinct(&self) -> u64 {
        match &self.overflow {
            Some(hll) => hll.estimate(),
            None => self.entries.len() as u64,
        }
    }

    /// The `n` most frequent values, ties broken by value.
    pub(crate) fn top(&self, n: usize) -> Vec<(String, u64)> {
        self.ranked(n)
            .iter()
            .map(|(e, slot)| {
                let key = String::from_utf8_lossy(self.key(e)).into_owned();
                (key, u64::from(slot.count))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use xxhash_rust::xxh3::xxh3_64;

    fn add(c: &mut ValueCounter<usize>, v: &str) -> Counted<usize> {
        c.add(v.as_bytes(), xxh3_64(v.as_bytes()))
    }

    #[test]
    fn keeps_a_fact_per_value_until_the_limit() {
        let mut c = ValueCounter::new(2);
        assert_eq!(add(&mut c, "a"), Counted::New);
        c.set_fact(xxh3_64(b"a"), 7);
        assert_eq!(add(&mut c, "a"), Counted::Known(7));
        assert_eq!(add(&mut c, "bb"), Counted::New);
        assert_eq!(add(&mut c, "bb"), Counted::Known(0));
        assert_eq!(add(&mut c, "c"), Counted::Sketched);
        assert_eq!(add(&mut c, "a"), Counted::Sketched);
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
        let (value, count) = &c.top(1)[0];
        assert_eq!(value, "hot");
        assert!((4500..=5500).contains(count), "{count}");
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
