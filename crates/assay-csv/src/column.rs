//! Per-column statistics gathered in one pass, mergeable across chunks in file order.

use serde_json::Value as Json;

use crate::classify::{classify, Kind, Value};
use crate::counter::{Counted, ValueCounter};
use crate::report::{
    ColumnProfile, ColumnType, Histogram, QuantileMethod, Quantiles, Sortedness, TopValue,
    TypeCounts,
};
use crate::sketch::QuantileSketch;

/// Value counts per column, each distinct value with the bits of its classification (see
/// [`Kinds`]).
pub(crate) type Values = ValueCounter<u64>;

/// Which kinds the distinct values counted exactly in a chunk classified as. While they all
/// share one, a repeated value's classification is rebuilt from the bits the counter keeps
/// instead of being parsed again.
#[derive(Debug, Clone, Copy)]
enum Kinds {
    None,
    Only(Kind),
    Mixed,
}

impl Kinds {
    #[inline]
    fn add(&mut self, kind: Kind) {
        *self = match *self {
            Kinds::None => Kinds::Only(kind),
            Kinds::Only(only) if only == kind => Kinds::Only(only),
            _ => Kinds::Mixed,
        };
    }
}

const TOP_VALUES: usize = 10;
/// What a null contributes to a row fingerprint: all null tokens count as the same value.
pub(crate) const NULL_HASH: u64 = 0x6e75_6c6c_6e75_6c6c;
const HISTOGRAM_BINS: usize = 20;

/// Matches null tokens quickly: most values fail the first-byte or length test.
#[derive(Debug, Clone)]
pub(crate) struct NullTokens {
    tokens: Vec<Vec<u8>>,
    first_bytes: [bool; 256],
    max_len: usize,
    empty_is_null: bool,
}

impl NullTokens {
    pub(crate) fn new(tokens: &[String]) -> Self {
        let mut first_bytes = [false; 256];
        let mut kept = Vec::new();
        let mut empty_is_null = false;
        for t in tokens {
            let t = trim(t.as_bytes());
            match t.first() {
                None => empty_is_null = true,
                Some(&b) => {
                    first_bytes[usize::from(b)] = true;
                    kept.push(t.to_vec());
                }
            }
        }
        NullTokens {
            max_len: kept.iter().map(Vec::len).max().unwrap_or(0),
            tokens: kept,
            first_bytes,
            empty_is_null,
        }
    }

    #[inline]
    fn matches(&self, v: &[u8]) -> bool {
        match v.first() {
            None => self.empty_is_null,
            Some(&b) => {
                self.first_bytes[usize::from(b)]
                    && v.len() <= self.max_len
                    && self.tokens.iter().any(|t| t == v)
            }
        }
    }
}

#[inline]
pub(crate) fn trim(v: &[u8]) -> &[u8] {
    let is_space = |b: &u8| *b == b' ' || *b == b'\t';
    match (v.first(), v.last()) {
        // Bytes above the space cannot be spaces or tabs: one comparison per end.
        (Some(&f), Some(&l)) if f > b' ' && l > b' ' => v,
        (Some(f), Some(l)) if !is_space(f) && !is_space(l) => v,
        _ => {
            let start = v.iter().position(|b| !is_space(b)).unwrap_or(v.len());
            let end = v
                .iter()
                .rposition(|b| !is_space(b))
                .map_or(start, |e| e + 1);
            &v[start..end]
        }
    }
}

/// Whether a sequence only went up, only went down, or neither, and its ends for merging.
#[derive(Debug, Clone)]
struct Order<T> {
    first: Option<T>,
    last: Option<T>,
    ascending: bool,
    descending: bool,
}

impl<T: PartialOrd + Clone> Order<T> {
    fn new() -> Self {
        Order {
            first: None,
            last: None,
            ascending: true,
            descending: true,
        }
    }

    #[inline]
    fn is_unsorted(&self) -> bool {
        !(self.ascending | self.descending)
    }

    fn merge(&mut self, other: &Order<T>) {
        match (&self.last, &other.first) {
            (_, None) => {}
            (None, Some(_)) => *self = other.clone(),
            (Some(last), Some(first)) => {
                self.ascending &= other.ascending && *last <= *first;
                self.descending &= other.descending && *last >= *first;
                self.last = other.last.clone();
            }
        }
    }

    fn result(&self) -> Sortedness {
        match (self.ascending, self.descending) {
            (true, true) => Sortedness::Constant,
            (true, false) => Sortedness::Ascending,
            (false, true) => Sortedness::Descending,
            (false, false) => Sortedness::Unsorted,
        }
    }
}

impl Order<f64> {
    #[inline]
    fn add(&mut self, x: f64) {
        if let Some(last) = self.last {
            if self.is_unsorted() {
                return;
            }
            self.ascending &= last <= x;
            self.descending &= last >= x;
        } else {
            self.first = Some(x);
        }
        self.last = Some(x);
    }
}

impl Order<Vec<u8>> {
    #[inline]
    fn add(&mut self, v: &[u8]) {
        match &mut self.last {
            Some(last) => {
                if self.ascending || self.descending {
                    let ord = last.as_slice().cmp(v);
                    self.ascending &= ord.is_le();
                    self.descending &= ord.is_ge();
                    last.clear();
                    last.extend_from_slice(v);
                }
            }
            None => {
                self.first = Some(v.to_vec());
                self.last = Some(v.to_vec());
            }
        }
    }
}

/// Byte-wise smallest and largest value. Each keeps its 8-byte big-endian prefix, and a
/// value whose prefix lies strictly between the two cannot change either, which settles
/// most values with two integer comparisons.
#[derive(Debug, Clone)]
struct TextRange {
    min_prefix: u64,
    max_prefix: u64,
    min: Vec<u8>,
    max: Vec<u8>,
    seen: bool,
}

impl TextRange {
    fn new() -> Self {
        TextRange {
            min_prefix: u64::MAX,
            max_prefix: 0,
            min: Vec::new(),
            max: Vec::new(),
            seen: false,
        }
    }

    #[inline]
    fn add(&mut self, v: &[u8]) {
        let p = prefix(v);
        if p > self.min_prefix && p < self.max_prefix {
            return;
        }
        self.add_slow(v, p);
    }

    fn add_slow(&mut self, v: &[u8], p: u64) {
        if !self.seen {
            self.seen = true;
            (self.min_prefix, self.max_prefix) = (p, p);
            self.min = v.to_vec();
            self.max = v.to_vec();
            return;
        }
        if p <= self.min_prefix && v < self.min.as_slice() {
            self.min_prefix = p;
            self.min.clear();
            self.min.extend_from_slice(v);
        }
        if p >= self.max_prefix && v > self.max.as_slice() {
            self.max_prefix = p;
            self.max.clear();
            self.max.extend_from_slice(v);
        }
    }

    fn merge(&mut self, other: &TextRange) {
        if other.seen {
            self.add(&other.min);
            self.add(&other.max);
        }
    }
}

/// Numeric moments, range and distribution of the values that parsed as numbers.
#[derive(Debug, Clone)]
struct Numbers {
    count: u64,
    mean: f64,
    m2: f64,
    sum: f64,
    int_sum: i128,
    min: f64,
    max: f64,
    int_min: i64,
    int_max: i64,
    /// All values while there are at most `exact_limit` of them.
    exact: Option<Vec<f64>>,
    exact_limit: usize,
    sketch: QuantileSketch,
    order: Order<f64>,
}

impl Numbers {
    fn new(exact_limit: usize, keep_values: bool) -> Self {
        Numbers {
            count: 0,
            mean: 0.0,
            m2: 0.0,
            sum: 0.0,
            int_sum: 0,
            min: f64::INFINITY,
            max: f64::NEG_INFINITY,
            int_min: i64::MAX,
            int_max: i64::MIN,
            exact: keep_values.then(Vec::new),
            exact_limit,
            sketch: QuantileSketch::default(),
            order: Order::new(),
        }
    }

    #[inline]
    fn add(&mut self, x: f64) {
        self.count += 1;
        let delta = x - self.mean;
        self.mean += delta / self.count as f64;
        self.m2 += delta * (x - self.mean);
        self.sum += x;
        self.min = self.min.min(x);
        self.max = self.max.max(x);
        self.sketch.add(x);
        if let Some(exact) = &mut self.exact {
            if exact.len() < self.exact_limit {
                exact.push(x);
            } else {
                self.exact = None;
            }
        }
        self.order.add(x);
    }

    #[inline]
    fn add_int(&mut self, i: i64) {
        self.int_sum += i128::from(i);
        self.int_min = self.int_min.min(i);
        self.int_max = self.int_max.max(i);
        self.add(i as f64);
    }

    /// Chan et al.'s pairwise combination of Welford accumulators.
    fn merge(&mut self, other: &Numbers) {
        if other.count == 0 {
            return;
        }
        if self.count == 0 {
            let limit = self.exact_limit;
            *self = other.clone();
            self.exact_limit = limit;
            return;
        }
        let (na, nb) = (self.count as f64, other.count as f64);
        let n = na + nb;
        let delta = other.mean - self.mean;
        self.mean += delta * nb / n;
        self.m2 += other.m2 + delta * delta * na * nb / n;
        self.count += other.count;
        self.sum += other.sum;
        self.int_sum += other.int_sum;
        self.min = self.min.min(other.min);
        self.max = self.max.max(other.max);
        self.int_min = self.int_min.min(other.int_min);
        self.int_max = self.int_max.max(other.int_max);
        self.sketch.merge(&other.sketch);
        self.exact = match (self.exact.take(), &other.exact) {
            (Some(mut a), Some(b)) if a.len() + b.len() <= self.exact_limit => {
                a.extend_from_slice(b);
                Some(a)
            }
            _ => None,
        };
        self.order.merge(&other.order);
    }
}

/// Everything known about one column after some rows.
#[derive(Debug, Clone)]
pub(crate) struct ColumnStats {
    nulls: u64,
    trues: u64,
    types: TypeCounts,
    numbers: Numbers,
    text_range: TextRange,
    text_order: Order<Vec<u8>>,
    values: Values,
    kinds: Kinds,
    len_min: u64,
    len_max: u64,
    len_sum: u64,
}

impl ColumnStats {
    /// `keep_values: false` when the column is already known to hold more numeric values
    /// than `exact_threshold`; `values` starts the value counts (see `ValueCounter::seed`).
    pub(crate) fn new(exact_threshold: usize, keep_values: bool, values: Values) -> Self {
        ColumnStats {
            nulls: 0,
            trues: 0,
            types: TypeCounts::default(),
            numbers: Numbers::new(exact_threshold, keep_values),
            text_range: TextRange::new(),
            text_order: Order::new(),
            values,
            kinds: Kinds::None,
            len_min: u64::MAX,
            len_max: 0,
            len_sum: 0,
        }
    }

    /// True when this column has more numeric values than the exact threshold.
    pub(crate) fn exceeds_exact(&self) -> bool {
        self.numbers.count > self.numbers.exact_limit as u64
    }

    pub(crate) fn values(&self) -> &Values {
        &self.values
    }

    #[inline]
    pub(crate) fn add_null(&mut self) {
        self.nulls += 1;
    }

    /// Adds one raw field; `ascii` says the chunk has no multi-byte characters.
    #[inline]
    /// Returns the value's hash (`NULL_HASH` for nulls) for the row fingerprint.
    pub(crate) fn add(&mut self, raw: &[u8], nulls: &NullTokens, ascii: bool) -> u64 {
        let v = trim(raw);
        if nulls.matches(v) {
            self.nulls += 1;
            return NULL_HASH;
        }
        let hash = xxhash_rust::xxh3::xxh3_64(v);
        let chars = if ascii {
            v.len() as u64
        } else {
            v.iter().filter(|&&b| (b as i8) >= -0x40).count() as u64
        };
        self.len_min = self.len_min.min(chars);
        self.len_max = self.len_max.max(chars);
        self.len_sum += chars;
        if !self.text_order.is_unsorted() {
            self.text_order.add(v);
        }
        // A value counted before in this chunk was classified and moved the text range then.
        let counted = self.values.add(v, hash);
        let class = match (counted, self.kinds) {
            (Counted::Known(bits), Kinds::Only(kind)) => Value::join(kind, bits),
            (counted, _) => {
                if !matches!(counted, Counted::Known(_)) {
                    self.text_range.add(v);
                }
                let class = classify(v);
                if counted == Counted::New {
                    let (kind, bits) = class.split();
                    self.kinds.add(kind);
                    self.values.set_fact(hash, bits);
                }
                class
            }
        };
        match class {
            Value::Int(i) => {
                self.types.integer += 1;
                self.numbers.add_int(i);
            }
            Value::Float(x) => {
                self.types.float += 1;
                self.numbers.add(x);
            }
            Value::Bool(b) => {
                self.types.boolean += 1;
                self.trues += u64::from(b);
            }
            Value::Date => self.types.date += 1,
            Value::DateTime => self.types.datetime += 1,
            Value::Text => self.types.string += 1,
        }
        hash
    }

    /// Adds the statistics of the same column in a later chunk.
    pub(crate) fn merge(&mut self, other: &ColumnStats) {
        self.nulls += other.nulls;
        self.trues += other.trues;
        self.types.add(&other.types);
        self.numbers.merge(&other.numbers);
        self.text_range.merge(&other.text_range);
        self.text_order.merge(&other.text_order);
        self.values.merge(&other.values);
        self.kinds = Kinds::Mixed;
        self.len_min = self.len_min.min(other.len_min);
        self.len_max = self.len_max.max(other.len_max);
        self.len_sum += other.len_sum;
    }

    pub(crate) fn finish(self, name: String, index: usize) -> ColumnProfile {
        let t = &self.types;
        let count = t.total();
        let inferred = t.inferred();
        let n = &self.numbers;
        let numeric = matches!(inferred, ColumnType::Integer | ColumnType::Float);
        let range = &self.text_range;
        let text = |v: &[u8]| {
            range
                .seen
                .then(|| Json::String(String::from_utf8_lossy(v).into_owned()))
        };
        let (min, max) = match inferred {
            ColumnType::Integer => (Some(n.int_min.into()), Some(n.int_max.into())),
            ColumnType::Float => (float_json(n.min), float_json(n.max)),
            ColumnType::Boolean => (
                Some(Json::Bool(self.trues == t.boolean)),
                Some(Json::Bool(self.trues > 0)),
            ),
            ColumnType::Empty => (None, None),
            _ => (text(&range.min), text(&range.max)),
        };
        let sortedness = if numeric {
            n.order.result()
        } else {
            self.text_order.result()
        };
        let mut profile = ColumnProfile {
            name,
            index,
            inferred_type: inferred,
            count,
            null_count: self.nulls,
            type_counts: self.types.clone(),
            min,
            max,
            mean: None,
            stddev: None,
            sum: None,
            quantiles: None,
            quantile_method: None,
            histogram: None,
            distinct_count: self.values.distinct(),
            distinct_approximate: self.values.is_approximate(),
            top_values: self
                .values
                .top(TOP_VALUES)
                .into_iter()
                .map(|(value, count)| TopValue { value, count })
                .collect(),
            top_values_approximate: self.values.is_approximate(),
            min_length: (count > 0).then_some(self.len_min),
            max_length: (count > 0).then_some(self.len_max),
            mean_length: (count > 0).then(|| self.len_sum as f64 / count as f64),
            sortedness,
        };
        if numeric && n.count > 0 {
            profile.mean = Some(n.mean);
            profile.stddev = (n.count > 1).then(|| (n.m2 / (n.count - 1) as f64).sqrt());
            profile.sum = Some(match inferred {
                ColumnType::Integer => i64::try_from(n.int_sum)
                    .map(Json::from)
                    .unwrap_or_else(|_| Json::from(n.int_sum as f64)),
                _ => Json::from(n.sum),
            });
            let (quantiles, method, histogram) = distribution(n);
            profile.quantiles = Some(quantiles);
            profile.quantile_method = Some(method);
            profile.histogram = Some(histogram);
        }
        profile
    }
}

/// The first 8 bytes as a big-endian number, zero-padded: ordering prefixes orders values
/// whenever the prefixes differ.
#[inline]
fn prefix(v: &[u8]) -> u64 {
    // Overlapping loads instead of a padded stack copy, which would stall store-to-load
    // forwarding; overlapping bytes are equal, so OR-ing them is harmless.
    let len = v.len();
    if let Some(bytes) = v.first_chunk::<8>() {
        return u64::from_be_bytes(*bytes);
    }
    if let (Some(head), Some(tail)) = (v.first_chunk::<4>(), v.last_chunk::<4>()) {
        let head = u64::from(u32::from_be_bytes(*head)) << 32;
        let tail = u64::from(u32::from_be_bytes(*tail)) << (8 * (8 - len));
        return head | tail;
    }
    v.iter()
        .enumerate()
        .fold(0, |x, (i, &b)| x | u64::from(b) << (56 - 8 * i))
}

fn float_json(x: f64) -> Option<Json> {
    serde_json::Number::from_f64(x).map(Json::Number)
}

fn distribution(n: &Numbers) -> (Quantiles, QuantileMethod, Histogram) {
    let (min, max) = (n.min, n.max);
    match &n.exact {
        Some(values) => {
            let mut sorted = values.clone();
            sorted.sort_unstable_by(f64::total_cmp);
            let q = |p: f64| exact_quantile(&sorted, p);
            let quantiles = Quantiles {
                p25: q(0.25),
                p50: q(0.5),
                p75: q(0.75),
            };
            let histogram = histogram(min, max, sorted.iter().map(|&x| (x, 1)), false);
            (quantiles, QuantileMethod::ExactLinear, histogram)
        }
        None => {
            let q = |p: f64| n.sketch.quantile(p, min, max).unwrap_or(f64::NAN);
            let quantiles = Quantiles {
                p25: q(0.25),
                p50: q(0.5),
                p75: q(0.75),
            };
            let histogram = histogram(min, max, n.sketch.ascending(), true);
            (quantiles, QuantileMethod::LogLinearSketch, histogram)
        }
    }
}

/// Linear interpolation between the closest ranks (numpy's default, R type 7).
fn exact_quantile(sorted: &[f64], p: f64) -> f64 {
    let Some(last) = sorted.len().checked_sub(1) else {
        return f64::NAN;
    };
    let h = p * last as f64;
    let lo = h.floor() as usize;
    let hi = (lo + 1).min(last);
    let (a, b) = (sorted[lo.min(last)], sorted[hi]);
    a + (h - lo as f64) * (b - a)
}

/// Equal-width bins between min and max; one bin when all values are equal.
fn histogram(
    min: f64,
    max: f64,
    values: impl Iterator<Item = (f64, u64)>,
    approximate: bool,
) -> Histogram {
    let bins = if max > min { HISTOGRAM_BINS } else { 1 };
    let width = (max - min) / bins as f64;
    let mut counts = vec![0u64; bins];
    for (x, n) in values {
        let bin = if width > 0.0 {
            (((x - min) / width) as usize).min(bins - 1)
        } else {
            0
        };
        counts[bin] += n;
    }
    let edges = (0..=bins)
        .map(|i| {
            if i == bins {
                max
            } else {
                min + width * i as f64
            }
        })
        .collect();
    Histogram {
        edges,
        counts,
        approximate,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_interpolate_like_numpy() {
        let v = [1.0, 2.0, 3.0, 4.0];
        assert_eq!(exact_quantile(&v, 0.25), 1.75);
        assert_eq!(exact_quantile(&v, 0.5), 2.5);
        assert_eq!(exact_quantile(&v, 0.75), 3.25);
        assert_eq!(exact_quantile(&[7.0], 0.5), 7.0);
    }

    #[test]
    fn prefix_is_the_zero_padded_big_endian_head() {
        for v in [
            "",
            "a",
            "ab",
            "abc",
            "abcd",
            "abcde",
            "abcdef",
            "abcdefg",
            "abcdefgh",
            "abcdefghi",
        ] {
            let mut padded = [0u8; 8];
            let n = v.len().min(8);
            padded[..n].copy_from_slice(&v.as_bytes()[..n]);
            assert_eq!(prefix(v.as_bytes()), u64::from_be_bytes(padded), "{v}");
        }
    }

    #[test]
    fn trim_spaces_and_tabs() {
        assert_eq!(trim(b"  a b\t"), b"a b");
        assert_eq!(trim(b"   "), b"");
        assert_eq!(trim(b"x"), b"x");
    }

    #[test]
    fn histogram_puts_max_in_last_bin() {
        let h = histogram(
            0.0,
            10.0,
            [0.0, 5.0, 10.0].into_iter().map(|x| (x, 1)),
            false,
        );
        assert_eq!(h.counts.len(), 20);
        assert_eq!(h.counts[0], 1);
        assert_eq!(h.counts[10], 1);
        assert_eq!(h.counts[19], 1);
        assert_eq!(h.edges.len(), 21);
    }
}
