//! Streaming, bounded-memory profiling of CSV files.
//!
//! Users upload CSV files of any size and want to know, quickly, what is in them: how many
//! rows, which columns, what types, how values are spread, where the file is broken. This
//! crate answers with a typed [`CsvReport`] and knows nothing of HTTP or databases: it takes
//! a path, a reader or bytes plus [`CsvOptions`], and returns a report or a [`CsvError`] with
//! a stable code.
//!
//! Why it is built this way:
//!
//! - **One pass, bounded memory.** Input is read once in chunks; every statistic is kept in
//!   a structure whose size does not grow with the row count: exact while small (values,
//!   distinct values, row fingerprints up to a threshold), then mergeable sketches
//!   (log-linear quantile buckets, HyperLogLog, hash sampling). Reports say which numbers
//!   are approximate and how they were computed.
//! - **Parallel without changing the answer.** Chunks are cut only at line breaks proven to
//!   be outside quotes, profiled on worker threads, and merged in file order, so a report
//!   depends on the input and options, never on the number of threads.
//! - **Broken input is described, not hidden.** Ragged rows are counted and located, blank
//!   lines counted, invalid bytes reported with their offset; nothing in this crate panics
//!   on untrusted input.
//!
//! ```
//! let report = assay_csv::profile_bytes(b"id,price\n1,9.5\n2,10.5\n", &Default::default())?;
//! assert_eq!(report.rows, 2);
//! assert_eq!(report.columns[1].mean, Some(10.0));
//! # Ok::<(), assay_csv::CsvError>(())
//! ```

mod classify;
mod column;
mod counter;
mod engine;
mod error;
mod input;
mod options;
mod parse;
mod report;
mod sketch;

use std::io::Read;
use std::path::Path;
use std::time::Instant;

pub use error::CsvError;
pub use options::{CsvOptions, DEFAULT_NA_TOKENS, MAX_COLUMNS};
pub use report::{
    ColumnProfile, ColumnType, CsvReport, Histogram, Methods, QuantileMethod, Quantiles, RaggedRow,
    Sortedness, TopValue, TypeCounts, SCHEMA_VERSION,
};

/// Profiles the file at `path`, refusing it before reading when it exceeds `max_bytes`.
pub fn profile_path(path: &Path, opts: &CsvOptions) -> Result<CsvReport, CsvError> {
    let started = Instant::now();
    let io = |source| CsvError::Io {
        path: path.to_path_buf(),
        source,
    };
    let file = std::fs::File::open(path).map_err(io)?;
    let size = file.metadata().map_err(io)?.len();
    if size > opts.max_bytes {
        return Err(CsvError::TooLarge {
            size,
            limit: opts.max_bytes,
        });
    }
    engine::run(file, path, opts, started)
}

/// Profiles CSV held in memory.
pub fn profile_bytes(bytes: &[u8], opts: &CsvOptions) -> Result<CsvReport, CsvError> {
    let started = Instant::now();
    if bytes.len() as u64 > opts.max_bytes {
        return Err(CsvError::TooLarge {
            size: bytes.len() as u64,
            limit: opts.max_bytes,
        });
    }
    engine::run(bytes, Path::new("<memory>"), opts, started)
}

/// Profiles CSV from any reader, such as an upload stream; it is read once, in order.
pub fn profile_reader<R: Read>(reader: R, opts: &CsvOptions) -> Result<CsvReport, CsvError> {
    engine::run(reader, Path::new("<reader>"), opts, Instant::now())
}
