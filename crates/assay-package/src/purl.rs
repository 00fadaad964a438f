//! Package URLs (purl): `pkg:TYPE/NAMESPACE/NAME@VERSION?QUALIFIERS#SUBPATH`.
//!
//! Parsing follows the purl specification's algorithm (split from the right on `#`, `?`, `@`
//! and the last `/`), so any valid purl of any type parses. npm and PyPI purls are also
//! checked against their ecosystem's naming rules, because their name and version end up as
//! arguments of `npm pack` and `pip download`: a name such as `git+https://…` or a version such
//! as `file:../x` would make the client fetch from somewhere else than the registry.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use crate::Ecosystem;

/// Longest purl accepted; real ones are well under 300 characters.
pub const MAX_PURL_LEN: usize = 4096;

/// The purl types [`Purl::ecosystem`] can fetch.
pub const SUPPORTED_TYPES: &[&str] = &["npm", "pypi"];

/// Longest npm package name, scope included (npm's own limit).
const MAX_NPM_NAME_LEN: usize = 214;

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
    /// A purl that is malformed in a way the other variants do not name; the text is the
    /// whole message.
    #[error("{0}")]
    Invalid(String),
    #[error("`{0}` is not a purl: a purl starts with the scheme `pkg:`, as in `pkg:npm/lodash@4.17.21`.")]
    MissingScheme(String),
    #[error("The purl `{0}` has no type: after `pkg:` comes the type and a `/`, as in `pkg:npm/lodash`.")]
    MissingType(String),
    #[error("The purl type `{0}` is not valid: a type is made of ASCII letters, digits, `.`, `+` and `-`, and does not start with a digit.")]
    BadType(String),
    #[error("The purl `{0}` has no name: the name follows the type (and namespace), as in `pkg:pypi/requests`.")]
    MissingName(String),
    #[error("The {part} `{value}` of the purl has a bad percent-encoding: `%` must be followed by two hex digits and the decoded bytes must be UTF-8.")]
    BadEncoding { part: &'static str, value: String },
    #[error("The purl `{0}` has an empty version after `@`: give a version, as in `pkg:npm/lodash@4.17.21`, or leave out the `@` for the latest.")]
    EmptyVersion(String),
    #[error("The qualifier key `{0}` is not valid: a key is made of ASCII letters, digits, `.`, `-` and `_`, and does not start with a digit.")]
    BadQualifierKey(String),
    #[error("The qualifier `{0}` appears more than once in the purl; each key may be given once.")]
    DuplicateQualifier(String),
    #[error("The {ty} name `{name}` is not valid: {rule}.")]
    BadName {
        ty: String,
        name: String,
        rule: &'static str,
    },
    #[error("The {ty} namespace `{namespace}` is not valid: {rule}.")]
    BadNamespace {
        ty: String,
        namespace: String,
        rule: &'static str,
    },
    #[error("The {ty} version `{version}` is not valid: {rule}.")]
    BadVersion {
        ty: String,
        version: String,
        rule: &'static str,
    },
    #[error(
        "Packages of type `{ty}` cannot be fetched yet; the supported types are npm and pypi."
    )]
    UnsupportedEcosystem { ty: String },
}

impl PurlError {
    /// `invalid_purl` (400) or `unsupported_ecosystem` (422).
    pub fn code(&self) -> &'static str {
        match self {
            PurlError::UnsupportedEcosystem { .. } => "unsupported_ecosystem",
            _ => "invalid_purl",
        }
    }
}

impl Purl {
    pub fn parse(s: &str) -> Result<Purl, PurlError> {
        if s.len() > MAX_PURL_LEN {
            return Err(PurlError::Invalid(format!(
                "The purl is {} characters long; at most {MAX_PURL_LEN} are accepted.",
                s.len()
            )));
        }
        if s.chars().any(|c| c.is_control() || c.is_whitespace()) {
            return Err(PurlError::Invalid(format!(
                "The purl {s:?} contains whitespace or control characters; encode them as `%XX`."
            )));
        }

        let (rest, subpath) = match s.rsplit_once('#') {
            Some((rest, sub)) => (rest, parse_subpath(sub)?),
            None => (s, None),
        };
        let (rest, qualifiers) = match rest.rsplit_once('?') {
            Some((rest, q)) => (rest, parse_qualifiers(q)?),
            None => (rest, BTreeMap::new()),
        };
        let rest = match rest.split_once(':') {
            Some((scheme, rest)) if scheme.eq_ignore_ascii_case("pkg") => rest,
            _ => return Err(PurlError::MissingScheme(s.to_owned())),
        };
        let rest = rest.trim_matches('/');
        let (ty, rest) = match rest.split_once('/') {
            Some((ty, rest)) if !ty.is_empty() => (ty, rest),
            Some(_) => return Err(PurlError::MissingType(s.to_owned())),
            None if rest.is_empty() => return Err(PurlError::MissingType(s.to_owned())),
            None => return Err(PurlError::MissingName(s.to_owned())),
        };
        let ty = parse_type(ty)?;
        let (rest, version) = match rest.rsplit_once('@') {
            // An `@` inside the namespace (an npm scope written raw) is not a version marker.
            Some((rest, v)) if !v.contains('/') => {
                if v.is_empty() {
                    return Err(PurlError::EmptyVersion(s.to_owned()));
                }
                (rest, Some(decode("version", v)?))
            }
            _ => (rest, None),
        };
        let (namespace, name) = match rest.rsplit_once('/') {
            Some((ns, name)) => (Some(ns), name),
            None => (None, rest),
        };
        if name.is_empty() {
            return Err(PurlError::MissingName(s.to_owned()));
        }
        let name = decode("name", name)?;
        let namespace = match namespace {
            Some(ns) => {
                let segments = ns
                    .split('/')
                    .filter(|seg| !seg.is_empty())
                    .map(|seg| decode("namespace", seg))
                    .collect::<Result<Vec<_>, _>>()?;
                (!segments.is_empty()).then(|| segments.join("/"))
            }
            None => None,
        };

        let mut purl = Purl {
            ty,
            namespace,
            name,
            version,
            qualifiers,
            subpath,
        };
        purl.normalise_for_type()?;
        Ok(purl)
    }

    /// The ecosystem assay can fetch this package from, or `unsupported_ecosystem`.
    pub fn ecosystem(&self) -> Result<Ecosystem, PurlError> {
        match self.ty.as_str() {
            "npm" => Ok(Ecosystem::Npm),
            "pypi" => Ok(Ecosystem::Pypi),
            _ => Err(PurlError::UnsupportedEcosystem {
                ty: self.ty.clone(),
            }),
        }
    }

    /// The name the ecosystem's client expects: `@scope/name` for scoped npm packages.
    pub fn package_name(&self) -> String {
        match (&self.namespace, self.ty.as_str()) {
            (Some(scope), "npm") => format!("{scope}/{}", self.name),
            _ => self.name.clone(),
        }
    }

    /// Type-specific rules: the npm scope and name grammar, PEP 503 names for PyPI.
    fn normalise_for_type(&mut self) -> Result<(), PurlError> {
        match self.ty.as_str() {
            "npm" => {
                if let Some(scope) = &self.namespace {
                    check_npm_scope(scope)?;
                }
                check_npm_name(&self.package_name(), &self.name)?;
                if let Some(v) = &self.version {
                    check_version("npm", v, is_npm_version_char)?;
                }
            }
            "pypi" => {
                if let Some(ns) = &self.namespace {
                    return Err(PurlError::BadNamespace {
                        ty: "pypi".into(),
                        namespace: ns.clone(),
                        rule: "PyPI packages have no namespace, as in `pkg:pypi/requests@2.31.0`",
                    });
                }
                self.name = normalise_pypi_name(&self.name)?;
                if let Some(v) = &self.version {
                    check_version("pypi", v, is_pep440_char)?;
                }
            }
            _ => {}
        }
        Ok(())
    }
}

fn parse_type(ty: &str) -> Result<String, PurlError> {
    let valid = ty
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'+' | b'-'))
        && !ty.starts_with(|c: char| c.is_ascii_digit());
    if !valid {
        return Err(PurlError::BadType(ty.to_owned()));
    }
    Ok(ty.to_ascii_lowercase())
}

fn parse_qualifiers(q: &str) -> Result<BTreeMap<String, String>, PurlError> {
    let mut qualifiers = BTreeMap::new();
    for pair in q.split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let key = key.to_ascii_lowercase();
        let valid = !key.is_empty()
            && key
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'))
            && !key.starts_with(|c: char| c.is_ascii_digit());
        if !valid {
            return Err(PurlError::BadQualifierKey(key));
        }
        let value = decode("qualifier value", value)?;
        if value.is_empty() {
            continue;
        }
        if qualifiers.insert(key.clone(), value).is_some() {
            return Err(PurlError::DuplicateQualifier(key));
        }
    }
    Ok(qualifiers)
}

fn parse_subpath(sub: &str) -> Result<Option<String>, PurlError> {
    let segments = sub
        .split('/')
        .filter(|seg| !matches!(*seg, "" | "." | ".."))
        .map(|seg| decode("subpath", seg))
        .collect::<Result<Vec<_>, _>>()?;
    // A segment that decodes to `..` or contains `/` would escape or reshape the path.
    let segments: Vec<String> = segments
        .into_iter()
        .filter(|seg| !matches!(seg.as_str(), "" | "." | "..") && !seg.contains('/'))
        .collect();
    Ok((!segments.is_empty()).then(|| segments.join("/")))
}

fn check_npm_scope(scope: &str) -> Result<(), PurlError> {
    let bad = |rule| {
        Err(PurlError::BadNamespace {
            ty: "npm".into(),
            namespace: scope.to_owned(),
            rule,
        })
    };
    let Some(body) = scope.strip_prefix('@') else {
        return bad("an npm namespace is a scope starting with `@` (written `%40` in a purl), as in `pkg:npm/%40angular/core`");
    };
    if body.is_empty() || !body.bytes().all(is_npm_name_byte) || body.starts_with('.') {
        return bad("a scope is `@` followed by letters, digits, `-`, `.`, `_` and `~`");
    }
    Ok(())
}

fn check_npm_name(full: &str, name: &str) -> Result<(), PurlError> {
    let bad = |rule| {
        Err(PurlError::BadName {
            ty: "npm".into(),
            name: name.to_owned(),
            rule,
        })
    };
    if full.len() > MAX_NPM_NAME_LEN {
        return bad("npm names are at most 214 characters long, scope included");
    }
    if !name.bytes().all(is_npm_name_byte) {
        return bad("npm names are made of letters, digits, `-`, `.`, `_` and `~`");
    }
    if name.starts_with(['.', '_']) {
        return bad("npm names do not start with `.` or `_`");
    }
    Ok(())
}

fn is_npm_name_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

/// Exact versions and dist-tags; no ranges, URLs or paths.
fn is_npm_version_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'+' | b'_')
}

fn is_pep440_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'+' | b'_' | b'!')
}

fn check_version(ty: &str, v: &str, allowed: fn(u8) -> bool) -> Result<(), PurlError> {
    if v.bytes().all(allowed) && !v.starts_with(['-', '.']) {
        return Ok(());
    }
    Err(PurlError::BadVersion {
        ty: ty.to_owned(),
        version: v.to_owned(),
        rule: "a version is one exact version made of letters, digits, `.`, `-`, `+` and `_` (no ranges, URLs or paths)",
    })
}

/// Checks a PyPI name and returns its PEP 503 form.
fn normalise_pypi_name(name: &str) -> Result<String, PurlError> {
    let valid = name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name.ends_with(|c: char| c.is_ascii_alphanumeric());
    if !valid {
        return Err(PurlError::BadName {
            ty: "pypi".into(),
            name: name.to_owned(),
            rule: "PyPI names are made of ASCII letters, digits, `-`, `_` and `.`, and start and end with a letter or digit",
        });
    }
    Ok(pep503_normalise(name))
}

/// PEP 503: lowercase, each run of `-`, `_` and `.` becomes one `-`.
pub(crate) fn pep503_normalise(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for c in name.chars() {
        if matches!(c, '-' | '_' | '.') {
            if !out.ends_with('-') {
                out.push('-');
            }
        } else {
            out.push(c.to_ascii_lowercase());
        }
    }
    out
}

fn decode(part: &'static str, value: &str) -> Result<String, PurlError> {
    let bad = || PurlError::BadEncoding {
        part,
        value: value.to_owned(),
    };
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3).ok_or_else(bad)?;
            let digit = |b: u8| char::from(b).to_digit(16).ok_or_else(bad);
            // Both digits are checked: `from_str_radix` would also take a sign such as `%+1`.
            let high = digit(hex[0])?;
            let low = digit(hex[1])?;
            out.push((high * 16 + low) as u8);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| bad())
}

/// Percent-encodes all but unreserved characters, `:` and the extra `keep` bytes.
fn encode(value: &str, keep: &[u8]) -> String {
    let mut out = String::with_capacity(value.len());
    for &b in value.as_bytes() {
        if b.is_ascii_alphanumeric()
            || matches!(b, b'-' | b'.' | b'_' | b'~' | b':')
            || keep.contains(&b)
        {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

impl FromStr for Purl {
    type Err = PurlError;
    fn from_str(s: &str) -> Result<Purl, PurlError> {
        Purl::parse(s)
    }
}

impl fmt::Display for Purl {
    /// The canonical form: lowercase type, each component percent-encoded, qualifiers sorted.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "pkg:{}/", self.ty)?;
        if let Some(ns) = &self.namespace {
            for seg in ns.split('/') {
                write!(f, "{}/", encode(seg, &[]))?;
            }
        }
        f.write_str(&encode(&self.name, &[]))?;
        if let Some(v) = &self.version {
            write!(f, "@{}", encode(v, &[]))?;
        }
        for (i, (key, value)) in self.qualifiers.iter().enumerate() {
            let sep = if i == 0 { '?' } else { '&' };
            write!(f, "{sep}{key}={}", encode(value, b"/"))?;
        }
        if let Some(sub) = &self.subpath {
            write!(f, "#{}", encode(sub, b"/"))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Purl {
        match Purl::parse(s) {
            Ok(p) => p,
            Err(e) => panic!("{s} should parse: {e}"),
        }
    }

    fn parse_err(s: &str) -> PurlError {
        match Purl::parse(s) {
            Ok(p) => panic!("{s} should not parse, got {p:?}"),
            Err(e) => e,
        }
    }

    #[test]
    fn npm_plain_and_scoped() {
        let p = parse("pkg:npm/lodash@4.17.21");
        assert_eq!(p.ty, "npm");
        assert_eq!(p.namespace, None);
        assert_eq!(p.name, "lodash");
        assert_eq!(p.version.as_deref(), Some("4.17.21"));
        assert_eq!(p.package_name(), "lodash");
        assert_eq!(p.ecosystem(), Ok(Ecosystem::Npm));

        let p = parse("pkg:npm/%40angular/animation@12.3.1");
        assert_eq!(p.namespace.as_deref(), Some("@angular"));
        assert_eq!(p.name, "animation");
        assert_eq!(p.package_name(), "@angular/animation");
        assert_eq!(p.to_string(), "pkg:npm/%40angular/animation@12.3.1");
    }

    #[test]
    fn npm_raw_at_scope_is_accepted() {
        let p = parse("pkg:npm/@babel/core@7.24.0");
        assert_eq!(p.package_name(), "@babel/core");
        assert_eq!(p.version.as_deref(), Some("7.24.0"));
        let p = parse("pkg:npm/@babel/core");
        assert_eq!(p.package_name(), "@babel/core");
        assert_eq!(p.version, None);
    }

    #[test]
    fn npm_scope_without_at_is_rejected() {
        // `npm pack scope/name` would fetch a GitHub repository, not a registry package.
        let e = parse_err("pkg:npm/babel/core@7.24.0");
        assert!(matches!(e, PurlError::BadNamespace { .. }), "{e:?}");
        assert_eq!(e.code(), "invalid_purl");
        assert!(e.to_string().contains("`babel`"), "{e}");
    }

    #[test]
    fn npm_names_that_would_redirect_the_client_are_rejected() {
        for s in [
            "pkg:npm/git%2Bhttps%3A%2F%2Fexample.com%2Fx.git",
            "pkg:npm/.hidden",
            "pkg:npm/_private",
            "pkg:npm/a%20b",
        ] {
            let e = parse_err(s);
            assert!(matches!(e, PurlError::BadName { .. }), "{s}: {e:?}");
        }
        for s in [
            "pkg:npm/left-pad@file%3A..%2Fx",
            "pkg:npm/left-pad@%5E1.0.0",
            "pkg:npm/left-pad@git%2Bssh%3A%2F%2Fx",
        ] {
            let e = parse_err(s);
            assert!(matches!(e, PurlError::BadVersion { .. }), "{s}: {e:?}");
        }
        let long = format!("pkg:npm/{}", "a".repeat(215));
        assert!(matches!(parse_err(&long), PurlError::BadName { .. }));
    }

    #[test]
    fn pypi_names_are_pep503_normalised() {
        let p = parse("pkg:pypi/Django_REST.framework@3.14.0");
        assert_eq!(p.name, "django-rest-framework");
        assert_eq!(p.package_name(), "django-rest-framework");
        assert_eq!(p.ecosystem(), Ok(Ecosystem::Pypi));
        assert_eq!(parse("pkg:pypi/a__._-b").name, "a-b");
        assert_eq!(
            parse("pkg:pypi/requests@2.31.0").to_string(),
            "pkg:pypi/requests@2.31.0"
        );
    }

    #[test]
    fn pypi_rejects_namespace_bad_names_and_versions() {
        assert!(matches!(
            parse_err("pkg:pypi/ns/requests"),
            PurlError::BadNamespace { .. }
        ));
        assert!(matches!(
            parse_err("pkg:pypi/-requests"),
            PurlError::BadName { .. }
        ));
        assert!(matches!(
            parse_err("pkg:pypi/req%3Bx"),
            PurlError::BadName { .. }
        ));
        let e = parse_err("pkg:pypi/requests@2.0%3Bos_name%3D%22nt%22");
        assert!(matches!(e, PurlError::BadVersion { .. }), "{e:?}");
        assert!(matches!(
            parse_err("pkg:pypi/requests@%40x"),
            PurlError::BadVersion { .. }
        ));
        assert_eq!(
            parse("pkg:pypi/pkg@1!2.0rc1+local.7").version.as_deref(),
            Some("1!2.0rc1+local.7")
        );
    }

    #[test]
    fn scheme_is_required_and_case_insensitive() {
        let e = parse_err("npm/lodash");
        assert_eq!(e, PurlError::MissingScheme("npm/lodash".into()));
        assert!(e.to_string().contains("`pkg:`"));
        assert!(matches!(
            parse_err("http://x/y"),
            PurlError::MissingScheme(_)
        ));
        assert!(matches!(parse_err(""), PurlError::MissingScheme(_)));
        let p = parse("PKG:NPM/lodash");
        assert_eq!(p.ty, "npm");
        assert_eq!(p.to_string(), "pkg:npm/lodash");
        // The spec lets slashes follow the scheme.
        assert_eq!(parse("pkg://npm/lodash").to_string(), "pkg:npm/lodash");
    }

    #[test]
    fn type_is_required_and_validated() {
        assert!(matches!(parse_err("pkg:"), PurlError::MissingType(_)));
        assert!(matches!(
            parse_err("pkg:/lodash"),
            PurlError::MissingName(_)
        ));
        assert_eq!(
            parse_err("pkg:n%70m/lodash"),
            PurlError::BadType("n%70m".into())
        );
        assert_eq!(
            parse_err("pkg:1npm/lodash"),
            PurlError::BadType("1npm".into())
        );
        assert_eq!(
            parse_err("pkg:n_pm/lodash"),
            PurlError::BadType("n_pm".into())
        );
        let p = parse("pkg:My.Type+x-1/name");
        assert_eq!(p.ty, "my.type+x-1");
        let msg = PurlError::BadType("1npm".into()).to_string();
        assert!(msg.contains("`1npm`") && msg.contains("digit"), "{msg}");
    }

    #[test]
    fn name_is_required() {
        assert!(matches!(parse_err("pkg:npm"), PurlError::MissingName(_)));
        assert!(matches!(parse_err("pkg:npm/"), PurlError::MissingName(_)));
        assert!(matches!(
            parse_err("pkg:npm/@1.0.0"),
            PurlError::MissingName(_)
        ));
        assert!(matches!(
            parse_err("pkg:maven/org.apache/@1.0"),
            PurlError::MissingName(_)
        ));
    }

    #[test]
    fn empty_version_is_rejected() {
        let e = parse_err("pkg:npm/lodash@");
        assert_eq!(e, PurlError::EmptyVersion("pkg:npm/lodash@".into()));
        assert!(e.to_string().contains("after `@`"));
    }

    #[test]
    fn bad_percent_encoding_is_rejected() {
        for (s, part) in [
            ("pkg:npm/lod%zzash", "name"),
            ("pkg:npm/lodash%4", "name"),
            ("pkg:maven/org%ff/x", "namespace"),
            ("pkg:npm/lodash@1%2", "version"),
            ("pkg:npm/lodash@1%+1", "version"),
            ("pkg:npm/lodash?a=%g0", "qualifier value"),
            ("pkg:npm/lodash#a/%", "subpath"),
        ] {
            match parse_err(s) {
                PurlError::BadEncoding { part: p, .. } => assert_eq!(p, part, "{s}"),
                e => panic!("{s}: {e:?}"),
            }
        }
    }

    #[test]
    fn qualifiers_are_lowercased_sorted_and_empty_ones_dropped() {
        let p = parse("pkg:deb/debian/curl@7.50.3-1?Distro=jessie&arch=i386&empty=&flag");
        assert_eq!(
            p.qualifiers.iter().collect::<Vec<_>>(),
            vec![
                (&"arch".to_owned(), &"i386".to_owned()),
                (&"distro".to_owned(), &"jessie".to_owned())
            ]
        );
        assert_eq!(
            p.to_string(),
            "pkg:deb/debian/curl@7.50.3-1?arch=i386&distro=jessie"
        );
        assert_eq!(
            parse_err("pkg:npm/x?1a=b"),
            PurlError::BadQualifierKey("1a".into())
        );
        assert_eq!(
            parse_err("pkg:npm/x?a%20b=c"),
            PurlError::BadQualifierKey("a%20b".into())
        );
        assert_eq!(
            parse_err("pkg:npm/x?a=1&A=2"),
            PurlError::DuplicateQualifier("a".into())
        );
    }

    #[test]
    fn subpath_drops_dot_segments() {
        let p = parse("pkg:golang/google.golang.org/genproto#/googleapis/./../api//annotations/");
        assert_eq!(p.subpath.as_deref(), Some("googleapis/api/annotations"));
        assert_eq!(parse("pkg:npm/x#..%2F..%2Fetc").subpath, None);
        assert_eq!(parse("pkg:npm/x#%2E%2E/a").subpath.as_deref(), Some("a"));
        assert_eq!(parse("pkg:npm/x#").subpath, None);
    }

    #[test]
    fn whitespace_and_overlong_purls_are_rejected() {
        assert!(matches!(
            parse_err("pkg:npm/lo dash"),
            PurlError::Invalid(_)
        ));
        assert!(matches!(
            parse_err("pkg:npm/lodash\n"),
            PurlError::Invalid(_)
        ));
        let long = format!("pkg:generic/{}", "a".repeat(MAX_PURL_LEN));
        let e = parse_err(&long);
        assert!(e.to_string().contains("4096"), "{e}");
        assert_eq!(e.code(), "invalid_purl");
    }

    #[test]
    fn spec_examples_parse_but_are_unsupported() {
        let examples = [
            ("pkg:bitbucket/birkenfeld/pygments-main@244fd47e07d1014f0aed9c", "bitbucket"),
            ("pkg:deb/debian/curl@7.50.3-1?arch=i386&distro=jessie", "deb"),
            ("pkg:docker/cassandra@sha256:244fd47e07d1004f0aed9c", "docker"),
            ("pkg:docker/customer/dockerimage@sha256:244fd47e07d1004f0aed9c?repository_url=gcr.io", "docker"),
            ("pkg:gem/jruby-launcher@1.1.2?platform=java", "gem"),
            ("pkg:gem/ruby-advisory-db-check@0.12.4", "gem"),
            ("pkg:github/package-url/purl-spec@244fd47e07d1004f0aed9c", "github"),
            ("pkg:golang/google.golang.org/genproto#googleapis/api/annotations", "golang"),
            ("pkg:maven/org.apache.xmlgraphics/batik-anim@1.9.1?packaging=sources", "maven"),
            ("pkg:maven/org.apache.xmlgraphics/batik-anim@1.9.1?repository_url=repo.spring.io/release", "maven"),
            ("pkg:nuget/EnterpriseLibrary.Common@6.0.1304", "nuget"),
            ("pkg:rpm/fedora/curl@7.50.3-1.fc25?arch=i386&distro=fedora-25", "rpm"),
            ("pkg:cargo/rand@0.7.2", "cargo"),
            ("pkg:composer/laravel/laravel@5.5.0", "composer"),
            ("pkg:conda/absl-py@0.4.1?build=py36h06a4308_0&channel=main&subdir=linux-64&type=tar.bz2", "conda"),
            ("pkg:cran/A3@1.0.0", "cran"),
            ("pkg:hackage/3d-graphics-examples@0.0.0.2", "hackage"),
            ("pkg:hex/jason@1.1.2", "hex"),
            ("pkg:swift/github.com/Alamofire/Alamofire@5.4.3", "swift"),
            ("pkg:generic/openssl@1.1.10g?download_url=https://openssl.org/source/openssl-1.1.0g.tar.gz&checksum=sha256:de4d501267da", "generic"),
            ("pkg:apk/alpine/curl@7.83.0-r0?arch=x86", "apk"),
            ("pkg:cocoapods/AFNetworking@4.0.1", "cocoapods"),
            ("pkg:oci/debian@sha256%3A244fd47e07d10?repository_url=docker.io/library/debian&arch=amd64&tag=latest", "oci"),
            ("pkg:pub/characters@1.2.0", "pub"),
            ("pkg:qpkg/blackberry/com.qnx.sdp@7.0.0.SGA201702151847", "qpkg"),
            ("pkg:huggingface/distilbert-base-uncased@043235d6088ecd3dd5fb5ca3592b6913fd516027", "huggingface"),
            ("pkg:mlflow/creditfraud@3?repository_url=https://westus2.api.azureml.ms/mlflow/v1.0/subscriptions/a50f2011-fab8-4164-af23-c62881ef8c95/resourceGroups/TestResourceGroup/providers/Microsoft.MachineLearningServices/workspaces/TestWorkspace", "mlflow"),
            ("pkg:conan/openssl.net/zlib@1.2.13?user=bincrafters&channel=stable", "conan"),
            ("pkg:swid/Acme/example.com/Enterprise+Server@ED?tag_id=75b8c285-fa7b-485b-b199-4745e3004d0d", "swid"),
        ];
        for (s, ty) in examples {
            let p = parse(s);
            assert_eq!(p.ty, ty, "{s}");
            let e = match p.ecosystem() {
                Ok(eco) => panic!("{s} should be unsupported, got {eco:?}"),
                Err(e) => e,
            };
            assert_eq!(e.code(), "unsupported_ecosystem", "{s}");
            let msg = e.to_string();
            assert!(
                msg.contains(&format!("`{ty}`")) && msg.contains("npm") && msg.contains("pypi"),
                "{msg}"
            );
            // The canonical form parses back to the same purl.
            assert_eq!(parse(&p.to_string()), p, "{s} -> {p}");
        }
    }

    #[test]
    fn spec_example_components() {
        let p = parse("pkg:maven/org.apache.xmlgraphics/batik-anim@1.9.1?repository_url=repo.spring.io/release");
        assert_eq!(p.namespace.as_deref(), Some("org.apache.xmlgraphics"));
        assert_eq!(p.name, "batik-anim");
        assert_eq!(p.qualifiers["repository_url"], "repo.spring.io/release");
        assert_eq!(
            p.to_string(),
            "pkg:maven/org.apache.xmlgraphics/batik-anim@1.9.1?repository_url=repo.spring.io/release"
        );

        let p = parse("pkg:golang/google.golang.org/genproto#googleapis/api/annotations");
        assert_eq!(p.namespace.as_deref(), Some("google.golang.org"));
        assert_eq!(p.name, "genproto");
        assert_eq!(p.subpath.as_deref(), Some("googleapis/api/annotations"));

        let p = parse("pkg:docker/cassandra@sha256:244fd47e07d1004f0aed9c");
        assert_eq!(p.version.as_deref(), Some("sha256:244fd47e07d1004f0aed9c"));
        assert_eq!(
            p.to_string(),
            "pkg:docker/cassandra@sha256:244fd47e07d1004f0aed9c"
        );

        let p = parse("pkg:swift/github.com/Alamofire/Alamofire@5.4.3");
        assert_eq!(p.namespace.as_deref(), Some("github.com/Alamofire"));
        assert_eq!(p.name, "Alamofire");
    }

    #[test]
    fn display_re_encodes_components() {
        let p = parse("pkg:generic/a%20b%2Fc@1%2B2?x=a%26b%3Dc#d%20e/f");
        assert_eq!(p.name, "a b/c");
        assert_eq!(p.version.as_deref(), Some("1+2"));
        assert_eq!(p.qualifiers["x"], "a&b=c");
        assert_eq!(p.subpath.as_deref(), Some("d e/f"));
        let s = p.to_string();
        assert_eq!(s, "pkg:generic/a%20b%2Fc@1%2B2?x=a%26b%3Dc#d%20e/f");
        assert_eq!(parse(&s), p);
    }

    #[test]
    fn from_str_matches_parse() {
        let p: Purl = "pkg:npm/lodash@4.17.21".parse().expect("valid purl");
        assert_eq!(p, parse("pkg:npm/lodash@4.17.21"));
    }
}
