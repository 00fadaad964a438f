//! The job model every other assay crate speaks.
//!
//! All work in assay — a package scan, a CSV profile, a one-line message — is a *job*:
//! a row with a random id, a kind, a JSON input and a status that moves through one state
//! machine (`queued → running → done | failed | cancelled`). This crate holds that model and
//! the [`JobKind`] trait through which each kind declares its payload, limits and body, so the
//! store, the queue, the HTTP layer and the CLI can all handle any kind without knowing it.

mod error;
mod job;
mod kind;

pub use error::{InputError, JobError};
pub use job::{now_ms, rfc3339, sha256_hex, Job, JobId, JobStatus, Stage};
pub use kind::{DynKind, Effect, JobContext, JobKind, Output, Prepared, Registry};
