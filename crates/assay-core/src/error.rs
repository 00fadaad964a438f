use thiserror::Error;

/// Why a submitted input was refused before anything was queued.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum InputError {
    /// The input is not of the shape the kind expects (a 400).
    #[error("{0}")]
    Invalid(String),
    /// The input is well formed but a value is outside what the kind accepts (a 422).
    #[error("{0}")]
    OutOfRange(String),
    #[error("unknown job kind {kind:?}; valid kinds are: {valid}")]
    UnknownKind { kind: String, valid: String },
    /// A refusal an analyzer names itself, such as `invalid_purl` (400) or
    /// `unsupported_ecosystem` (422).
    #[error("{message}")]
    Coded {
        code: &'static str,
        status: u16,
        message: String,
    },
}

impl InputError {
    pub fn code(&self) -> &'static str {
        match self {
            InputError::Invalid(_) => "invalid_input",
            InputError::OutOfRange(_) => "value_out_of_range",
            InputError::UnknownKind { .. } => "unknown_kind",
            InputError::Coded { code, .. } => code,
        }
    }

    pub fn http_status(&self) -> u16 {
        match self {
            InputError::Invalid(_) | InputError::UnknownKind { .. } => 400,
            InputError::OutOfRange(_) => 422,
            InputError::Coded { status, .. } => *status,
        }
    }
}

/// How a job body failed; the variant tells the queue whether another attempt can help.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum JobError {
    /// A transient fault (network, busy resource): the job is retried with backoff.
    #[error("{0}")]
    Retryable(String),
    /// The input itself cannot succeed: the job fails at once and keeps this message.
    #[error("{0}")]
    Permanent(String),
}

impl JobError {
    pub fn retryable(msg: impl Into<String>) -> Self {
        JobError::Retryable(msg.into())
    }

    pub fn permanent(msg: impl Into<String>) -> Self {
        JobError::Permanent(msg.into())
    }

    pub fn can_retry(&self) -> bool {
        matches!(self, JobError::Retryable(_))
    }
}
