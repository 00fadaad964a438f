//! Mergeable, fixed-memory sketches. Each merges by adding or taking maxima, so the result
//! does not depend on how the input was split, only on the values.

/// Sub-buckets per power of two: 2^8 gives a relative error of at most 2^-9 (about 0.2%).
const SUB_BITS: u32 = 8;
const KEY_SHIFT: u32 = 52 - SUB_BITS;
/// Buckets kept per sign; beyond this the smallest magnitudes are folded together.
const MAX_BUCKETS: usize = 1 << 14;

/// Log-linear buckets over positive magnitudes: the key is the float's exponent and top
/// mantissa bits, so bucketing is a shift (the idea behind DDSketch and HDR histograms).
#[derive(Debug, Clone, Default)]
struct Buckets {
    lo: i64,
    counts: Vec<u64>,
}

impl Buckets {
    fn key(magnitude: f64) -> i64 {
        (magnitude.to_bits() >> KEY_SHIFT) as i64
    }

    fn lower_bound(key: i64) -> f64 {
        f64::from_bits((key as u64) << KEY_SHIFT)
    }

    fn representative(key: i64) -> f64 {
        (Self::lower_bound(key) + Self::lower_bound(key + 1)) / 2.0
    }

    fn total(&self) -> u64 {
        self.counts.iter().sum()
    }

    #[inline]
    fn add(&mut self, key: i64, n: u64) {
        if let Some(count) = usize::try_from(key - self.lo)
            .ok()
            .and_then(|i| self.counts.get_mut(i))
        {
            *count += n;
            return;
        }
        self.add_outside(key, n);
    }

    /// Adds to a key outside the current range, growing or folding the range.
    fn add_outside(&mut self, key: i64, n: u64) {
        if self.counts.is_empty() {
            self.lo = key;
            self.counts.push(n);
            return;
        }
        let hi = self.lo + self.counts.len() as i64 - 1;
        let key = key.max(hi - MAX_BUCKETS as i64 + 1);
        if key < self.lo {
            let need = (self.lo - key) as usize;
            let room = MAX_BUCKETS - self.counts.len();
            let grow = need.max(self.counts.len() / 2).min(room);
            self.counts.splice(0..0, std::iter::repeat_n(0, grow));
            self.lo -= grow as i64;
        } else if key > hi {
            self.counts.resize((key - self.lo + 1) as usize, 0);
            if self.counts.len() > MAX_BUCKETS {
                let excess = self.counts.len() - MAX_BUCKETS;
                let folded: u64 = self.counts[..=excess].iter().sum();
                self.counts.drain(..excess);
                self.counts[0] = folded;
                self.lo += excess as i64;
            }
        }
        self.counts[(key - self.lo) as usize] += n;
    }

    fn merge(&mut self, other: &Buckets) {
        // Largest keys first so folding happens once, at the final top.
        for (i, &n) in other.counts.iter().enumerate().rev() {
            if n > 0 {
                self.add(other.lo + i as i64, n);
            }
        }
    }

    /// (representative value, count) from the smallest magnitude up.
    fn iter(&self) -> impl DoubleEndedIterator<Item = (f64, u64)> + '_ {
        self.counts
            .iter()
            .enumerate()
            .filter(|(_, &n)| n > 0)
            .map(|(i, &n)| (Self::representative(self.lo + i as i64), n))
    }
}

/// A quantile sketch with bounded relative error, in the spirit of DDSketch: values go to
/// log-linear buckets, one set per sign, plus a count of zeros.
#[derive(Debug, Clone, Default)]
pub(crate) struct QuantileSketch {
    negative: Buckets,
    zeros: u64,
    positive: Buckets,
}

impl QuantileSketch {
    #[inline]
    pub(crate) fn add(&mut self, x: f64) {
        if x > 0.0 {
            self.positive.add(Buckets::key(x), 1);
        } else if x < 0.0 {
            self.negative.add(Buckets::key(-x), 1);
        } else {
            self.zeros += 1;
        }
    }

    pub(crate) fn merge(&mut self, other: &QuantileSketch) {
        self.negative.merge(&other.negative);
        self.zeros += other.zeros;
        self.positive.merge(&other.positive);
    }

    /// Every bucket as (representative value, count), in ascending value order.
    pub(crate) fn ascending(&self) -> impl Iterator<Item = (f64, u64)> + '_ {
        let negative = self.negative.iter().rev().map(|(v, n)| (-v, n));
        let zeros = (self.zeros > 0).then_some((0.0, self.zeros));
        negative.chain(zeros).chain(self.positive.iter())
    }

    /// The value at rank `round(q * (n - 1))`, clamped to the observed range.
    pub(crate) fn quantile(&self, q: f64, min: f64, max: f64) -> Option<f64> {
        let n = self.negative.total() + self.zeros + self.positive.total();
        if n == 0 {
            return None;
        }
        let rank = (q * (n - 1) as f64).round() as u64;
        let mut seen = 0;
        for (value, count) in self.ascending() {
            seen += count;
            if seen > rank {
                return Some(value.clamp(min, max));
            }
        }
        Some(max)
    }
}

/// HyperLogLog with 2^14 one-byte registers (16 KiB; standard error about 0.8%).
#[derive(Debug, Clone)]
pub(crate) struct HyperLogLog {
    registers: Box<[u8]>,
}

const HLL_BITS: u32 = 14;

impl HyperLogLog {
    pub(crate) fn new() -> Self {
        HyperLogLog {
            registers: vec![0; 1 << HLL_BITS].into_boxed_slice(),
        }
    }

    #[inline]
    pub(crate) fn add(&mut self, hash: u64) {
        let index = (hash >> (64 - HLL_BITS)) as usize;
        let rank = ((hash << HLL_BITS) | (1 << (HLL_BITS - 1))).leading_zeros() as u8 + 1;
        // Most adds change nothing; not writing then keeps the line clean.
        if let Some(r) = self.registers.get_mut(index) {
            if rank > *r {
                *r = rank;
            }
        }
    }

    pub(crate) fn merge(&mut self, other: &HyperLogLog) {
        for (a, &b) in self.registers.iter_mut().zip(other.registers.iter()) {
            *a = (*a).max(b);
        }
    }

    pub(crate) fn estimate(&self) -> u64 {
        let m = self.registers.len() as f64;
        let alpha = 0.7213 / (1.0 + 1.079 / m);
        let sum: f64 = self.registers.iter().map(|&r| (-f64::from(r)).exp2()).sum();
        let raw = alpha * m * m / sum;
        let zeros = self.registers.iter().filter(|&&r| r == 0).count();
        let estimate = if raw <= 2.5 * m && zeros > 0 {
            m * (m / zeros as f64).ln()
        } else {
            raw
        };
        estimate.round() as u64
    }
}

/// Row fingerprints kept by hash-based sampling: a row is kept when its hash starts with
/// `level` zero bits, so every copy of a row is kept or dropped together and duplicates
/// among the kept rows, scaled by 2^level, estimate duplicates overall. Exact at level 0.
///
/// The level is always the smallest at which fewer than `ROW_SAMPLE_CAP` of the rows seen
/// are kept. That makes it a function of the rows alone, so a chunk may start at any level
/// another part of the file has already reached without changing the result.
#[derive(Debug, Clone, Default)]
pub(crate) struct RowSample {
    level: u32,
    hashes: Vec<u64>,
}

/// Row fingerprints held before the sampling rate halves (8 MiB).
const ROW_SAMPLE_CAP: usize = 1 << 20;

impl RowSample {
    /// An empty sample that keeps only rows at `level` or above.
    pub(crate) fn at_level(level: u32) -> Self {
        RowSample {
            level,
            hashes: Vec::new(),
        }
    }

    pub(crate) fn level(&self) -> u32 {
        self.level
    }

    fn keeps(level: u32, hash: u64) -> bool {
        hash.leading_zeros() >= level
    }

    #[inline]
    pub(crate) fn add(&mut self, hash: u64) {
        if Self::keeps(self.level, hash) {
            self.hashes.push(hash);
            if self.hashes.len() >= ROW_SAMPLE_CAP {
                self.compact();
            }
        }
    }

    fn compact(&mut self) {
        while self.hashes.len() >= ROW_SAMPLE_CAP {
            self.level += 1;
            let level = self.level;
            self.hashes.retain(|&h| Self::keeps(level, h));
        }
    }

    /// Sorts the kept fingerprints; workers call this so merges are linear.
    pub(crate) fn seal(&mut self) {
        self.hashes.sort_unstable();
    }

    /// Merges two sealed samples, keeping the result sorted.
    pub(crate) fn merge(&mut self, mut other: RowSample) {
        let level = self.level.max(other.level);
        self.level = level;
        self.hashes.retain(|&h| Self::keeps(level, h));
        other.hashes.retain(|&h| Self::keeps(level, h));
        let (a, b) = (std::mem::take(&mut self.hashes), other.hashes);
        let mut merged = Vec::with_capacity(a.len() + b.len());
        let (mut i, mut j) = (0, 0);
        while let (Some(&x), Some(&y)) = (a.get(i), b.get(j)) {
            if x <= y {
                merged.push(x);
                i += 1;
            } else {
                merged.push(y);
                j += 1;
            }
        }
        merged.extend_from_slice(a.get(i..).unwrap_or_default());
        merged.extend_from_slice(b.get(j..).unwrap_or_default());
        self.hashes = merged;
        if self.hashes.len() >= ROW_SAMPLE_CAP {
            self.compact();
        }
    }

    /// (estimated duplicate rows, whether the estimate is approximate).
    pub(crate) fn duplicates(mut self) -> (u64, bool) {
        self.seal();
        let repeats = self.hashes.windows(2).filter(|w| w[0] == w[1]).count() as u64;
        (repeats << self.level, self.level > 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sketch_quantiles_are_within_relative_error() {
        let mut s = QuantileSketch::default();
        for i in 1..=10_000 {
            s.add(f64::from(i));
        }
        let p50 = s.quantile(0.5, 1.0, 10_000.0).unwrap();
        assert!((p50 - 5000.0).abs() / 5000.0 < 0.003, "{p50}");
        let p25 = s.quantile(0.25, 1.0, 10_000.0).unwrap();
        assert!((p25 - 2500.0).abs() / 2500.0 < 0.003, "{p25}");
    }

    #[test]
    fn sketch_handles_signs_and_zero() {
        let mut s = QuantileSketch::default();
        for x in [-5.0, -1.0, 0.0, 0.0, 2.0] {
            s.add(x);
        }
        let values: Vec<f64> = s.ascending().map(|(v, _)| v).collect();
        assert!(values.windows(2).all(|w| w[0] < w[1]), "{values:?}");
        assert_eq!(s.quantile(0.5, -5.0, 2.0), Some(0.0));
    }

    #[test]
    fn sketch_merge_equals_single_pass() {
        let values: Vec<f64> = (0..5000)
            .map(|i| ((i * 7919) % 1000) as f64 * 1.37 - 300.0)
            .collect();
        let mut whole = QuantileSketch::default();
        values.iter().for_each(|&x| whole.add(x));
        let mut a = QuantileSketch::default();
        let mut b = QuantileSketch::default();
        values[..1234].iter().for_each(|&x| a.add(x));
        values[1234..].iter().for_each(|&x| b.add(x));
        a.merge(&b);
        let w: Vec<_> = whole.ascending().collect();
        let m: Vec<_> = a.ascending().collect();
        assert_eq!(w, m);
    }

    #[test]
    fn wide_ranges_fold_smallest_magnitudes() {
        let mut s = QuantileSketch::default();
        for e in -300..300 {
            s.add(10f64.powi(e));
        }
        assert!(s.positive.counts.len() <= MAX_BUCKETS);
        assert_eq!(s.positive.total(), 600);
    }

    #[test]
    fn hyperloglog_is_close() {
        let mut h = HyperLogLog::new();
        for i in 0..200_000u64 {
            h.add(xxhash_rust::xxh3::xxh3_64(&i.to_le_bytes()));
        }
        let e = h.estimate() as f64;
        assert!((e - 200_000.0).abs() / 200_000.0 < 0.03, "{e}");
    }

    #[test]
    fn row_sample_counts_duplicates() {
        let mut s = RowSample::default();
        for i in 0..1000u64 {
            s.add(xxhash_rust::xxh3::xxh3_64(&(i % 900).to_le_bytes()));
        }
        assert_eq!(s.duplicates(), (100, false));
    }

    #[test]
    fn row_sample_level_depends_only_on_the_rows() {
        let hash = |i: u64| xxhash_rust::xxh3::xxh3_64(&(i % 2_000_000).to_le_bytes());
        let rows = 2_500_000u64;
        let mut whole = RowSample::default();
        (0..rows).for_each(|i| whole.add(hash(i)));
        whole.seal();
        // Chunks that start at the level merged so far, as workers do.
        let mut merged = RowSample::default();
        for chunk in 0..5 {
            let mut part = RowSample::at_level(merged.level());
            let per = rows / 5;
            (chunk * per..(chunk + 1) * per).for_each(|i| part.add(hash(i)));
            part.seal();
            merged.merge(part);
        }
        assert_eq!(merged.level(), whole.level());
        let (dups, approximate) = merged.duplicates();
        assert_eq!((dups, approximate), whole.duplicates());
        assert!(approximate);
        assert!((dups as f64 - 500_000.0).abs() < 50_000.0, "{dups}");
    }

    #[test]
    fn row_sample_merge_keeps_order_and_duplicates() {
        let mut a = RowSample::default();
        let mut b = RowSample::default();
        for i in 0..500u64 {
            a.add(xxhash_rust::xxh3::xxh3_64(&(i % 300).to_le_bytes()));
            b.add(xxhash_rust::xxh3::xxh3_64(&(i % 400).to_le_bytes()));
        }
        a.seal();
        b.seal();
        a.merge(b);
        assert!(a.hashes.windows(2).all(|w| w[0] <= w[1]));
        // 1000 rows over 400 distinct values.
        assert_eq!(a.duplicates(), (600, false));
    }
}
