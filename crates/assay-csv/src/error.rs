//! The one error type of the crate, with stable codes and HTTP statuses for the service edge.

use std::path::PathBuf;

/// Everything that can stop a profile. Messages are whole sentences that name the bad value
/// and, where there is a choice, the valid options.
#[derive(Debug, thiserror::Error)]
pub enum CsvError {
    #[error("The CSV file is {size} bytes, over the limit of {limit} bytes; split it or raise max_bytes.")]
    TooLarge { size: u64, limit: u64 },

    #[error("The CSV file is empty: it has no header and no rows.")]
    Empty,

    #[error("The CSV file is not valid UTF-8: byte {offset} (0x{byte:02x}) starts an invalid sequence; save it as UTF-8, or as UTF-16 with a byte order mark.")]
    InvalidUtf8 { offset: u64, byte: u8 },

    #[error("The CSV file is not valid UTF-16: byte {offset} holds an unpaired surrogate.")]
    InvalidUtf16 { offset: u64 },

    #[error("The CSV file uses {found}, which is not supported; use UTF-8 (with or without a byte order mark) or UTF-16 with a byte order mark.")]
    UnsupportedEncoding { found: &'static str },

    #[error("The CSV file could not be parsed: {reason}")]
    Parse { reason: String },

    #[error("The CSV file has {found} columns, over the limit of {limit}.")]
    TooManyColumns { found: usize, limit: usize },

    #[error("The option {option} = {value} is not valid; {expected}.")]
    InvalidOption {
        option: &'static str,
        value: String,
        expected: &'static str,
    },

    #[error("The CSV file {} could not be read: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("A profiling worker stopped unexpectedly; this is a bug in assay-csv.")]
    Worker,
}

impl CsvError {
    /// A stable snake_case code that clients can match on.
    pub fn code(&self) -> &'static str {
        match self {
            CsvError::TooLarge { .. } => "csv_too_large",
            CsvError::Empty => "csv_empty",
            CsvError::InvalidUtf8 { .. } => "csv_invalid_utf8",
            CsvError::InvalidUtf16 { .. } => "csv_invalid_utf16",
            CsvError::UnsupportedEncoding { .. } => "csv_unsupported_encoding",
            CsvError::Parse { .. } => "csv_parse",
            CsvError::TooManyColumns { .. } => "csv_too_many_columns",
            CsvError::InvalidOption { .. } => "csv_invalid_option",
            CsvError::Io { .. } => "csv_io",
            CsvError::Worker => "csv_internal",
        }
    }

    /// The HTTP status the service answers with: 413 for size, 422 for content, 500 for the rest.
    pub fn http_status(&self) -> u16 {
        match self {
            CsvError::TooLarge { .. } => 413,
            CsvError::Io { .. } | CsvError::Worker => 500,
            _ => 422,
        }
    }

    /// True when the file could not be read or decoded as CSV at all (the seed's
    /// "Failed to read csv file"); false when it was read but could not be processed.
    pub fn is_read_error(&self) -> bool {
        matches!(
            self,
            CsvError::TooLarge { .. }
                | CsvError::Empty
                | CsvError::InvalidUtf8 { .. }
                | CsvError::InvalidUtf16 { .. }
                | CsvError::UnsupportedEncoding { .. }
                | CsvError::Parse { .. }
                | CsvError::Io { .. }
        )
    }

    /// True when trying again with the same file and options may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(self, CsvError::Io { .. } | CsvError::Worker)
    }
}
