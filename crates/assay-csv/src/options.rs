//! Options and limits of a profile.

use crate::CsvError;

/// The tokens that mean "no value" unless the caller says otherwise. They are matched exactly
/// (case-sensitive) after surrounding spaces and tabs are trimmed.
pub const DEFAULT_NA_TOKENS: &[&str] = &[
    "", "NA", "N/A", "n/a", "null", "NULL", "Null", "None", "NaN", "nan", "-",
];

/// Files with more columns than this are refused: per-column state is the part of memory
/// that grows with the input's shape rather than its length.
pub const MAX_COLUMNS: usize = 10_000;

/// How to read the CSV and how much work and memory a profile may use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CsvOptions {
    /// Field delimiter; `None` sniffs among `,` `;` tab and `|`.
    pub delimiter: Option<u8>,
    /// Whether the first record names the columns.
    pub has_header: bool,
    /// Values that count as null (see [`DEFAULT_NA_TOKENS`]).
    pub na_tokens: Vec<String>,
    /// Inputs larger than this many raw bytes are refused with `csv_too_large`.
    pub max_bytes: u64,
    /// Worker threads parsing chunks; 0 means one per available core.
    pub threads: usize,
    /// How many ragged rows are listed as examples (all are counted).
    pub max_ragged_reported: usize,
    /// Per column, quantiles and the histogram are exact up to this many numeric values;
    /// above it they come from the quantile sketch.
    pub exact_threshold: usize,
    /// Per column, distinct counts and top values are exact up to this many distinct values;
    /// above it HyperLogLog counts distinct values. Each chunk keeps a table this large, so
    /// it trades speed and memory for exactness.
    pub distinct_threshold: usize,
    /// Size of the units of work handed to threads. The report depends on it (chunks are
    /// merged in file order), never on `threads`.
    pub chunk_bytes: usize,
}

impl Default for CsvOptions {
    fn default() -> Self {
        CsvOptions {
            delimiter: None,
            has_header: true,
            na_tokens: DEFAULT_NA_TOKENS.iter().map(|t| t.to_string()).collect(),
            max_bytes: 1 << 30,
            threads: 0,
            max_ragged_reported: 20,
            exact_threshold: 100_000,
            distinct_threshold: 10_000,
            chunk_bytes: 16 << 20,
        }
    }
}

impl CsvOptions {
    pub(crate) fn worker_threads(&self) -> usize {
        match self.threads {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
            n => n,
        }
    }

    pub(crate) fn validate(&self) -> Result<(), CsvError> {
        if let Some(d) = self.delimiter {
            if !d.is_ascii() || matches!(d, b'"' | b'\n' | b'\r') {
                return Err(CsvError::InvalidOption {
                    option: "delimiter",
                    value: format!("{:?}", d as char),
                    expected: "use an ASCII character other than a quote or a line break, such as ',' ';' '\\t' or '|'",
                });
            }
        }
        if self.chunk_bytes < 1024 {
            return Err(CsvError::InvalidOption {
                option: "chunk_bytes",
                value: self.chunk_bytes.to_string(),
                expected: "use at least 1024",
            });
        }
        for (option, value) in [
            ("exact_threshold", self.exact_threshold),
            ("distinct_threshold", self.distinct_threshold),
        ] {
            if value == 0 {
                return Err(CsvError::InvalidOption {
                    option,
                    value: "0".into(),
                    expected: "use at least 1",
                });
            }
        }
        Ok(())
    }
}
