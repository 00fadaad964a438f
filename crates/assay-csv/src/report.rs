//! The report: schema version 1, documented field by field in `docs/analyzers/csv.md`.

use std::fmt::Write as _;

use serde::{Deserialize, Serialize};
use serde_json::Value as Json;

/// Bumped whenever a field changes meaning or disappears.
pub const SCHEMA_VERSION: u32 = 1;

/// The profile of one CSV file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CsvReport {
    pub schema_version: u32,
    /// Raw input size in bytes, before any transcoding.
    pub bytes: u64,
    /// SHA-256 of the raw input bytes, lowercase hex.
    pub sha256: String,
    /// `utf-8`, `utf-8-bom`, `utf-16le` or `utf-16be`.
    pub encoding: String,
    /// The delimiter used, sniffed or given.
    pub delimiter: String,
    pub has_header: bool,
    /// Data records, ragged ones included, header excluded.
    pub rows: u64,
    pub column_count: usize,
    /// Empty lines outside quoted fields; they are not records.
    pub blank_lines: u64,
    /// Rows whose trimmed values repeat an earlier row's (null tokens being equal).
    pub duplicate_rows: u64,
    /// True when `duplicate_rows` was estimated by hash sampling.
    pub duplicate_rows_approximate: bool,
    /// Rows whose field count differs from `column_count`.
    pub ragged_rows: u64,
    /// The first ragged rows, in file order.
    pub ragged_examples: Vec<RaggedRow>,
    pub elapsed_ms: u64,
    /// How the statistics are defined.
    pub methods: Methods,
    pub columns: Vec<ColumnProfile>,
}

/// A row with the wrong number of fields.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RaggedRow {
    /// 1-based data row number (the header is not counted).
    pub row: u64,
    /// 1-based physical line where the row starts.
    pub line: u64,
    pub fields: usize,
    pub expected: usize,
}

/// Names of the methods behind the numbers, so a reader need not guess.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Methods {
    pub mean: String,
    pub stddev: String,
    pub distinct: String,
    pub duplicate_rows: String,
    pub exact_threshold: usize,
    pub distinct_threshold: usize,
}

impl Methods {
    pub(crate) fn new(exact_threshold: usize, distinct_threshold: usize) -> Self {
        Methods {
            mean: "welford".into(),
            stddev: "sample (n - 1 denominator), welford with chan merge".into(),
            distinct: format!(
                "exact up to {distinct_threshold} distinct values, hyperloglog (p = 14) above"
            ),
            duplicate_rows: "row fingerprint folded from its trimmed values' xxh3-64 hashes \
                 (all null tokens alike); exact up to 1048576 rows, hash sampling above"
                .into(),
            exact_threshold,
            distinct_threshold,
        }
    }
}

/// The profile of one column.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ColumnProfile {
    pub name: String,
    /// 0-based position.
    pub index: usize,
    pub inferred_type: ColumnType,
    /// Non-null values.
    pub count: u64,
    /// Null tokens, plus fields missing from short ragged rows.
    pub null_count: u64,
    /// How many non-null values looked like each type.
    pub type_counts: TypeCounts,
    /// Typed: a number for numeric columns, a boolean for boolean ones, text otherwise.
    pub min: Option<Json>,
    pub max: Option<Json>,
    pub mean: Option<f64>,
    /// Sample standard deviation (n - 1 denominator).
    pub stddev: Option<f64>,
    pub sum: Option<Json>,
    pub quantiles: Option<Quantiles>,
    pub quantile_method: Option<QuantileMethod>,
    pub histogram: Option<Histogram>,
    pub distinct_count: u64,
    pub distinct_approximate: bool,
    pub top_values: Vec<TopValue>,
    pub top_values_approximate: bool,
    /// Lengths in characters of the non-null values.
    pub min_length: Option<u64>,
    pub max_length: Option<u64>,
    pub mean_length: Option<f64>,
    pub sortedness: Sortedness,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ColumnType {
    Integer,
    Float,
    Boolean,
    Date,
    Datetime,
    String,
    Empty,
}

impl ColumnType {
    pub fn as_str(self) -> &'static str {
        match self {
            ColumnType::Integer => "integer",
            ColumnType::Float => "float",
            ColumnType::Boolean => "boolean",
            ColumnType::Date => "date",
            ColumnType::Datetime => "datetime",
            ColumnType::String => "string",
            ColumnType::Empty => "empty",
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TypeCounts {
    pub integer: u64,
    pub float: u64,
    pub boolean: u64,
    pub date: u64,
    pub datetime: u64,
    pub string: u64,
}

impl TypeCounts {
    pub(crate) fn total(&self) -> u64 {
        self.integer + self.float + self.boolean + self.date + self.datetime + self.string
    }

    pub(crate) fn add(&mut self, other: &TypeCounts) {
        self.integer += other.integer;
        self.float += other.float;
        self.boolean += other.boolean;
        self.date += other.date;
        self.datetime += other.datetime;
        self.string += other.string;
    }

    /// The narrowest type that holds every non-null value.
    pub(crate) fn inferred(&self) -> ColumnType {
        let total = self.total();
        if total == 0 {
            ColumnType::Empty
        } else if self.integer == total {
            ColumnType::Integer
        } else if self.integer + self.float == total {
            ColumnType::Float
        } else if self.boolean == total {
            ColumnType::Boolean
        } else if self.date == total {
            ColumnType::Date
        } else if self.date + self.datetime == total {
            ColumnType::Datetime
        } else {
            ColumnType::String
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Quantiles {
    pub p25: f64,
    pub p50: f64,
    pub p75: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum QuantileMethod {
    /// Every value kept and sorted; linear interpolation between closest ranks (R type 7).
    ExactLinear,
    /// Log-linear bucket sketch, 256 buckets per power of two (relative error <= 0.2%).
    LogLinearSketch,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Histogram {
    /// `counts.len() + 1` bin edges from min to max; the last bin includes max.
    pub edges: Vec<f64>,
    pub counts: Vec<u64>,
    /// True when counts come from the quantile sketch's buckets.
    pub approximate: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TopValue {
    pub value: String,
    pub count: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Sortedness {
    Ascending,
    Descending,
    Unsorted,
    Constant,
}

impl CsvReport {
    /// A short multi-line description for a terminal.
    pub fn summary(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "{} rows x {} columns, {} bytes, {}, delimiter {:?}, sha256 {}",
            self.rows, self.column_count, self.bytes, self.encoding, self.delimiter, self.sha256
        );
        let approx = if self.duplicate_rows_approximate {
            "~"
        } else {
            ""
        };
        let _ = writeln!(
            out,
            "duplicate rows {approx}{}, ragged rows {}, blank lines {}, {} ms",
            self.duplicate_rows, self.ragged_rows, self.blank_lines, self.elapsed_ms
        );
        for r in &self.ragged_examples {
            let _ = writeln!(
                out,
                "  ragged: row {} (line {}) has {} fields, expected {}",
                r.row, r.line, r.fields, r.expected
            );
        }
        for c in &self.columns {
            let show = |v: &Option<Json>| v.as_ref().map_or("-".to_string(), |v| v.to_string());
            let approx = if c.distinct_approximate { "~" } else { "" };
            let _ = write!(
                out,
                "{:>3} {:<20} {:<8} nulls {:<8} distinct {approx}{:<8} min {} max {}",
                c.index,
                c.name,
                c.inferred_type.as_str(),
                c.null_count,
                c.distinct_count,
                show(&c.min),
                show(&c.max)
            );
            if let (Some(mean), Some(q)) = (c.mean, &c.quantiles) {
                let _ = write!(
                    out,
                    " mean {mean:.4} sd {} p25/p50/p75 {}/{}/{}",
                    c.stddev.map_or("-".into(), |s| format!("{s:.4}")),
                    q.p25,
                    q.p50,
                    q.p75
                );
            }
            let _ = writeln!(out);
        }
        out
    }
}
