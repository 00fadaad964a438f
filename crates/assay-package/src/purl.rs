//! Package URLs (purl): `pkg:TYPE/NAMESPACE/NAME@VERSION?QUALIFIERS#SUBPATH`.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use crate::Ecosystem;

/// A parsed purl. Built only by [`Purl::parse`], so every value is well formed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Purl {
    /// Lowercase type, such as `npm` or `pypi`.
    pub ty: String,
    pub namespace: Option<String>,
    pub name: String,
    pub version: Option<String>,
    pub qualifiers: BTreeMap<String, String>,
    pub subpath: Option<String>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PurlError {
    #[error("TODO")]
    Invalid(String),
}

impl PurlError {
    /// `invalid_purl` (400) or `unsupported_ecosystem` (422).
    pub fn code(&self) -> &'static str {
        "invalid_purl"
    }
}

impl Purl {
    pub fn parse(s: &str) -> Result<Purl, PurlError> {
        Err(PurlError::Invalid(s.to_owned()))
    }

    /// The ecosystem assay can fetch this package from, or `unsupported_ecosystem`.
    pub fn ecosystem(&self) -> Result<Ecosystem, PurlError> {
        Err(PurlError::Invalid(self.ty.clone()))
    }

    /// The name the ecosystem's client expects: `@scope/name` for scoped npm packages.
    pub fn package_name(&self) -> String {
        self.name.clone()
    }
}

impl FromStr for Purl {
    type Err = PurlError;
    fn from_str(s: &str) -> Result<Purl, PurlError> {
        Purl::parse(s)
    }
}

impl fmt::Display for Purl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "pkg:{}/{}", self.ty, self.name)
    }
}
