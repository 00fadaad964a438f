//! Static analysis of extracted package files.

use crate::archive::Entry;
use crate::{Ecosystem, Finding, Verdict};

/// Runs every rule over the package's files and its name.
pub fn analyze(ecosystem: Ecosystem, name: &str, files: &[Entry]) -> Vec<Finding> {
    let _ = (ecosystem, name, files);
    Vec::new()
}

/// The 0-10 score, the verdict, and the rule ids that drove them, strongest first.
pub fn score(findings: &[Finding]) -> (f32, Verdict, Vec<String>) {
    let _ = findings;
    (0.0, Verdict::Benign, Vec::new())
}
