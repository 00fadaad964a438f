//! The job kinds assay runs, one module per kind.
//!
//! Each kind implements [`assay_core::JobKind`]: it parses its payload (refusing what can never
//! succeed before anything is queued), declares its limits and runs its body. The body knows
//! nothing about HTTP or the database; durable side effects are returned as
//! [`assay_core::Effect`]s and written by the queue with the result.

mod add;
mod message;
mod ping;
mod sleep;

pub use add::Add;
pub use message::{Message, Template};
pub use ping::Ping;
pub use sleep::Sleep;

use assay_core::Registry;

/// Which optional kinds to register.
#[derive(Debug, Clone, Default)]
pub struct KindsConfig {
    /// Registers `sleep`, a slow no-op used by crash and shutdown tests.
    pub test_kinds: bool,
}

pub fn registry(config: &KindsConfig) -> Registry {
    let mut registry = Registry::new();
    registry.register(Ping).register(Add).register(Message);
    if config.test_kinds {
        registry.register(Sleep);
    }
    registry
}
