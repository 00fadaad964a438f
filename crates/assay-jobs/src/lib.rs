//! The job kinds assay runs, one module per kind.
//!
//! Each kind implements [`assay_core::JobKind`]: it parses its payload (refusing what can never
//! succeed before anything is queued), declares its limits and runs its body. The body knows
//! nothing about HTTP or the database; durable side effects are returned as
//! [`assay_core::Effect`]s and written by the queue with the result.

mod add;
mod csv;
mod files;
mod image;
mod kserve;
mod message;
mod package;
mod ping;
mod sleep;

pub use add::Add;
pub use csv::{Csv, CsvPayload, PROCESS_FAILED, READ_FAILED};
pub use files::{FileAccess, Source};
pub use image::{CirclesMode, Image, ImagePayload};
pub use kserve::{ModelError, ModelServer};
pub use message::{Message, Template};
pub use package::{Package, PackageConfig, PackagePayload};
pub use ping::Ping;
pub use sleep::Sleep;

use assay_core::Registry;

/// A dedup window longer than any job's life: file kinds answer identical uploads forever.
pub(crate) const FOREVER: std::time::Duration =
    std::time::Duration::from_secs(100 * 365 * 24 * 3600);

/// What the kinds need from their surroundings, and which optional kinds to register.
#[derive(Debug, Clone)]
pub struct KindsConfig {
    /// Registers `sleep`, a slow no-op used by crash and shutdown tests.
    pub test_kinds: bool,
    pub files: FileAccess,
    /// The largest CSV file profiled.
    pub csv_max_bytes: u64,
    pub circles_mode: CirclesMode,
    pub image_limits: assay_circles::Limits,
    pub package: PackageConfig,
}

impl Default for KindsConfig {
    fn default() -> Self {
        KindsConfig {
            test_kinds: false,
            files: FileAccess::default(),
            csv_max_bytes: 1 << 30,
            circles_mode: CirclesMode::default(),
            image_limits: assay_circles::Limits::default(),
            package: PackageConfig::default(),
        }
    }
}

pub fn registry(config: &KindsConfig) -> Registry {
    let mut registry = Registry::new();
    registry
        .register(Ping)
        .register(Add)
        .register(Message)
        .register(Csv {
            files: config.files.clone(),
            max_bytes: config.csv_max_bytes,
        })
        .register(Image {
            files: config.files.clone(),
            mode: config.circles_mode.clone(),
            limits: config.image_limits.clone(),
        })
        .register(Package {
            files: config.files.clone(),
            config: config.package.clone(),
        });
    if config.test_kinds {
        registry.register(Sleep);
    }
    registry
}
