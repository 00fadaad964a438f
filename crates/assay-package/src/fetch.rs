//! Fetching package artifacts through the ecosystem's own client or a configured registry URL.
//!
//! No registry host is written here: npm uses its own configuration unless `npm_registry` is
//! set, and the PyPI index is `pypi_index` or the one pip itself is configured with, asked of
//! pip at run time. Fetching never runs package code: npm packs with `--ignore-scripts`, pip
//! only downloads wheels (`--only-binary=:all:`), and the sdist is downloaded directly from the
//! index's JSON page and checked against its sha256, because `pip download` of an sdist runs
//! its build backend (`setup.py`) to read its metadata.

use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::purl::{pep503_normalise, Purl};
use crate::Ecosystem;

/// Default for [`Fetcher::max_artifact_bytes`].
pub const DEFAULT_MAX_ARTIFACT_BYTES: u64 = 200 << 20;

const PEP691_JSON: &str = "application/vnd.pypi.simple.v1+json";

/// How much of a client's stderr an error message keeps.
const STDERR_TAIL: usize = 800;

/// How to reach the registries. `None` means the client's own configuration.
#[derive(Debug, Clone)]
pub struct Fetcher {
    /// Base URL of an npm registry (`ASSAY_NPM_REGISTRY`).
    pub npm_registry: Option<String>,
    /// Base URL of a PyPI simple index (`ASSAY_PYPI_INDEX`).
    pub pypi_index: Option<String>,
    /// Longest a single client call may take.
    pub timeout: Duration,
    /// Largest artifact accepted; a larger one is [`FetchError::TooLarge`].
    pub max_artifact_bytes: u64,
    /// The npm client to run.
    pub npm_program: String,
    /// The Python that runs pip (as `python -m pip`).
    pub python_program: String,
}

impl Default for Fetcher {
    fn default() -> Fetcher {
        Fetcher {
            npm_registry: None,
            pypi_index: None,
            timeout: Duration::from_secs(120),
            max_artifact_bytes: DEFAULT_MAX_ARTIFACT_BYTES,
            npm_program: "npm".to_owned(),
            python_program: "python3".to_owned(),
        }
    }
}

/// One downloaded file: a tarball, sdist or wheel.
#[derive(Debug, Clone)]
pub struct Artifact {
    pub filename: String,
    pub bytes: Vec<u8>,
    pub sha256: String,
}

#[derive(Debug, Clone)]
pub struct Fetched {
    pub name: String,
    /// The version fetched: the purl's, or the latest when the purl gave none.
    pub version: String,
    pub artifacts: Vec<Artifact>,
}

#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// The package or version does not exist; the job fails with `package not found`.
    #[error("package not found: {0}")]
    NotFound(String),
    /// The registry could not be reached, failed (5xx) or was too slow; a retry may help.
    #[error("registry unavailable: {0}")]
    Unavailable(String),
    /// The ecosystem's client is not installed.
    #[error(
        "client missing: `{program}` could not be run ({detail}); install {install} on the worker."
    )]
    ClientMissing {
        program: String,
        detail: String,
        install: &'static str,
    },
    /// The client failed for another reason; the message ends with its stderr.
    #[error("fetch failed: {0}")]
    Tool(String),
    /// An artifact is larger than [`Fetcher::max_artifact_bytes`].
    #[error("artifact too large: `{filename}` is over the limit of {limit} bytes.")]
    TooLarge { filename: String, limit: u64 },
    /// A downloaded file does not match the hash the index gave for it (a damaged transfer
    /// or a tampered mirror; retrying tells which).
    #[error("integrity check failed: {0}")]
    Integrity(String),
    /// The purl names an ecosystem assay cannot fetch.
    #[error(transparent)]
    Purl(#[from] crate::purl::PurlError),
}

impl FetchError {
    pub fn code(&self) -> &'static str {
        match self {
            FetchError::NotFound(_) => "package_not_found",
            FetchError::Unavailable(_) => "registry_unavailable",
            FetchError::ClientMissing { .. } => "client_missing",
            FetchError::Tool(_) => "fetch_failed",
            FetchError::TooLarge { .. } => "artifact_too_large",
            FetchError::Integrity(_) => "integrity_mismatch",
            FetchError::Purl(e) => e.code(),
        }
    }

    /// Only a registry outage or timeout can go away by itself; a corrupt transfer can too.
    pub fn is_retryable(&self) -> bool {
        matches!(self, FetchError::Unavailable(_) | FetchError::Integrity(_))
    }
}

impl Fetcher {
    /// Downloads every artifact of the purl's version (blocking; run it off the async runtime).
    pub fn fetch(&self, purl: &Purl) -> Result<Fetched, FetchError> {
        let dir = tempfile::Builder::new()
            .prefix("assay-fetch-")
            .tempdir()
            .map_err(|e| FetchError::Tool(format!("cannot create a temporary directory: {e}.")))?;
        match purl.ecosystem()? {
            Ecosystem::Npm => self.fetch_npm(purl, dir.path()),
            Ecosystem::Pypi => self.fetch_pypi(purl, dir.path()),
        }
        // `dir` is removed when dropped, on every path.
    }

    fn fetch_npm(&self, purl: &Purl, dir: &Path) -> Result<Fetched, FetchError> {
        let name = purl.package_name();
        let cache = dir.join("npm-cache");
        let cache = cache.to_string_lossy();
        // A private cache keeps one registry's tarballs out of another's fetches; no retries
        // inside npm, the job queue retries with backoff.
        let mut common = vec![
            "--cache",
            &cache,
            "--fetch-retries=0",
            "--no-update-notifier",
        ];
        // A scope may have its own registry in the user's npmrc; the configured one wins.
        let scope_registry = match (&self.npm_registry, &purl.namespace) {
            (Some(registry), Some(scope)) => Some(format!("--{scope}:registry={registry}")),
            _ => None,
        };
        if let Some(registry) = &self.npm_registry {
            common.extend(["--registry", registry]);
        }
        common.extend(scope_registry.as_deref());

        let version = match &purl.version {
            Some(v) => v.clone(),
            None => {
                let mut args = vec!["view", &name, "version", "--json"];
                args.extend(&common);
                let out = self.run_npm(&args, purl)?;
                match serde_json::from_slice::<serde_json::Value>(&out) {
                    Ok(serde_json::Value::String(v)) if !v.is_empty() => v,
                    _ => {
                        return Err(FetchError::Tool(format!(
                            "`npm view {name} version` did not print a version: {}",
                            tail(&out)
                        )))
                    }
                }
            }
        };

        let spec = format!("{name}@{version}");
        let dest = dir.join("out");
        std::fs::create_dir(&dest)
            .map_err(|e| FetchError::Tool(format!("cannot create a temporary directory: {e}.")))?;
        let dest_arg = dest.to_string_lossy();
        let mut args = vec![
            "pack",
            &spec,
            "--json",
            "--ignore-scripts",
            "--pack-destination",
            &dest_arg,
        ];
        args.extend(&common);
        self.run_npm(&args, purl)?;
        let artifacts = self.read_dir_artifacts(&dest)?;
        if artifacts.len() != 1 {
            return Err(FetchError::Tool(format!(
                "`npm pack {spec}` left {} files instead of one tarball.",
                artifacts.len()
            )));
        }
        Ok(Fetched {
            name,
            version,
            artifacts,
        })
    }

    fn run_npm(&self, args: &[&str], purl: &Purl) -> Result<Vec<u8>, FetchError> {
        let out = self.run(&self.npm_program, args, "Node.js with npm")?;
        if out.success {
            return Ok(out.stdout);
        }
        // npm prints its error as JSON on stdout with `--json`, and as text on stderr.
        let text = format!(
            "{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        Err(classify_npm(&text, purl, &self.npm_program))
    }

    fn fetch_pypi(&self, purl: &Purl, dir: &Path) -> Result<Fetched, FetchError> {
        let index = match &self.pypi_index {
            Some(index) => index.clone(),
            None => self.pip_index_url()?,
        };
        let name = purl.package_name();
        let page_url = format!("{}/{}/", index.trim_end_matches('/'), name);
        let page = self.simple_page(&page_url, purl)?;

        let version = match &purl.version {
            Some(v) => v.clone(),
            None => latest_version(&name, &page.files).ok_or_else(|| {
                FetchError::NotFound(format!("{purl} has no released version on the index."))
            })?,
        };

        let mut artifacts = Vec::new();
        if let Some(file) = page
            .files
            .iter()
            .find(|f| is_sdist_of(&f.filename, &name, &version))
        {
            artifacts.push(self.download_sdist(&page_url, file)?);
        }
        if let Some(wheel) = self.pip_wheel(&index, &name, &version, dir)? {
            artifacts.push(wheel);
        }
        if artifacts.is_empty() {
            return Err(FetchError::NotFound(format!(
                "{name} {version} has no sdist or wheel on the index."
            )));
        }
        Ok(Fetched {
            name,
            version,
            artifacts,
        })
    }

    /// The index pip uses, from its own configuration (files and `PIP_*` variables) or its
    /// built-in default.
    fn pip_index_url(&self) -> Result<String, FetchError> {
        // pip's option parser merges its files, `PIP_*` variables and defaults as pip does;
        // its internals move between releases, hence the fallbacks.
        const SCRIPT: &str = "\
try:
    from pip._internal.commands import create_command
    print(create_command('download').parse_args([])[0].index_url)
except Exception:
    try:
        from pip._internal.configuration import Configuration
        c = Configuration(isolated=False)
        c.load()
        print(c.get_value('global.index-url'))
    except Exception:
        from pip._internal.models.index import PyPI
        print(PyPI.simple_url)
";
        let out = self.run(&self.python_program, &["-c", SCRIPT], "Python 3 with pip")?;
        let url = String::from_utf8_lossy(&out.stdout).trim().to_owned();
        if out.success && !url.is_empty() {
            return Ok(url);
        }
        let err = String::from_utf8_lossy(&out.stderr);
        if err.contains("No module named") {
            return Err(pip_missing(&self.python_program, "pip is not installed"));
        }
        Err(FetchError::Tool(format!(
            "cannot read pip's index URL: {}",
            tail(err.as_bytes())
        )))
    }

    fn simple_page(&self, url: &str, purl: &Purl) -> Result<SimplePage, FetchError> {
        let body = self
            .http_get(url, Some(PEP691_JSON), 64 << 20)
            .map_err(|e| match e {
                HttpError::Status(404) => {
                    FetchError::NotFound(format!("{purl} is not on the index."))
                }
                e => e.into_fetch_error(url),
            })?;
        serde_json::from_slice(&body).map_err(|e| {
            FetchError::Tool(format!(
                "the index page {url} is not a PEP 691 JSON page ({e}); the index must serve `{PEP691_JSON}`."
            ))
        })
    }

    fn download_sdist(&self, page_url: &str, file: &SimpleFile) -> Result<Artifact, FetchError> {
        let url = join_url(page_url, &file.url);
        let expected = file.hashes.get("sha256").ok_or_else(|| {
            FetchError::Tool(format!(
                "the index gives no sha256 for `{}`, so it cannot be verified.",
                file.filename
            ))
        })?;
        let bytes = self
            .http_get(&url, None, self.max_artifact_bytes)
            .map_err(|e| match e {
                HttpError::TooLarge => FetchError::TooLarge {
                    filename: file.filename.clone(),
                    limit: self.max_artifact_bytes,
                },
                HttpError::Status(404) => FetchError::Unavailable(format!(
                    "the index lists `{}` but {url} answers 404.",
                    file.filename
                )),
                e => e.into_fetch_error(&url),
            })?;
        let sha256 = hex::encode(Sha256::digest(&bytes));
        if !sha256.eq_ignore_ascii_case(expected) {
            return Err(FetchError::Integrity(format!(
                "`{}` has sha256 {sha256} but the index says {expected}.",
                file.filename
            )));
        }
        Ok(Artifact {
            filename: file.filename.clone(),
            bytes,
            sha256,
        })
    }

    /// One wheel chosen by pip for this platform, or `None` when the version has none.
    fn pip_wheel(
        &self,
        index: &str,
        name: &str,
        version: &str,
        dir: &Path,
    ) -> Result<Option<Artifact>, FetchError> {
        let dest = dir.join("wheel");
        let dest_arg = dest.to_string_lossy();
        let cache = dir.join("pip-cache");
        let cache_arg = cache.to_string_lossy();
        let requirement = format!("{name}=={version}");
        let mut args = vec![
            "-m",
            "pip",
            "download",
            "--no-deps",
            "--only-binary=:all:",
            "--disable-pip-version-check",
            "--no-input",
            "--retries",
            "0",
            "--cache-dir",
            &cache_arg,
            "--dest",
            &dest_arg,
        ];
        if self.pypi_index.is_some() {
            // Only the configured index: no extra indexes from the user's pip configuration.
            args.extend(["--isolated", "--index-url", index]);
        }
        args.extend(["--", &requirement]);
        let out = self.run(&self.python_program, &args, "Python 3 with pip")?;
        if !out.success {
            let err = String::from_utf8_lossy(&out.stderr);
            if err.contains("No module named pip") {
                return Err(pip_missing(&self.python_program, "pip is not installed"));
            }
            // pip also says there is no matching distribution after failing to reach the
            // index, so an outage is told apart first.
            let error = classify_pip(&err);
            let no_wheel = err.contains("No matching distribution")
                || err.contains("Could not find a version");
            if no_wheel && !error.is_retryable() {
                return Ok(None);
            }
            return Err(error);
        }
        let mut wheels = self.read_dir_artifacts(&dest)?;
        wheels.retain(|a| a.filename.ends_with(".whl"));
        Ok(wheels.into_iter().next())
    }

    /// Reads the files a client left in `dir`, refusing any over the size limit.
    fn read_dir_artifacts(&self, dir: &Path) -> Result<Vec<Artifact>, FetchError> {
        let io_err = |e: std::io::Error| {
            FetchError::Tool(format!(
                "cannot read the downloaded files in {}: {e}.",
                dir.display()
            ))
        };
        let mut artifacts = Vec::new();
        if !dir.exists() {
            return Ok(artifacts);
        }
        for entry in std::fs::read_dir(dir).map_err(io_err)? {
            let entry = entry.map_err(io_err)?;
            let meta = entry.metadata().map_err(io_err)?;
            if !meta.is_file() {
                continue;
            }
            let filename = entry.file_name().to_string_lossy().into_owned();
            if meta.len() > self.max_artifact_bytes {
                return Err(FetchError::TooLarge {
                    filename,
                    limit: self.max_artifact_bytes,
                });
            }
            let bytes = std::fs::read(entry.path()).map_err(io_err)?;
            let sha256 = hex::encode(Sha256::digest(&bytes));
            artifacts.push(Artifact {
                filename,
                bytes,
                sha256,
            });
        }
        artifacts.sort_by(|a, b| a.filename.cmp(&b.filename));
        Ok(artifacts)
    }

    fn http_get(&self, url: &str, accept: Option<&str>, limit: u64) -> Result<Vec<u8>, HttpError> {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_global(Some(self.timeout))
            .http_status_as_error(false)
            // The system's roots, as pip and npm use, so a configured corporate CA works.
            .tls_config(
                ureq::tls::TlsConfig::builder()
                    .root_certs(ureq::tls::RootCerts::PlatformVerifier)
                    .build(),
            )
            .build()
            .into();
        let mut request = agent.get(url);
        if let Some(accept) = accept {
            request = request.header("Accept", accept);
        }
        let mut response = request.call().map_err(HttpError::Transport)?;
        let status = response.status().as_u16();
        if status != 200 {
            return Err(HttpError::Status(status));
        }
        response
            .body_mut()
            .with_config()
            .limit(limit)
            .read_to_vec()
            .map_err(|e| match e {
                ureq::Error::BodyExceedsLimit(_) => HttpError::TooLarge,
                e => HttpError::Transport(e),
            })
    }

    /// Runs a client with a deadline, killing it on expiry.
    fn run(
        &self,
        program: &str,
        args: &[&str],
        install: &'static str,
    ) -> Result<RunOutput, FetchError> {
        let mut command = Command::new(program);
        command
            .args(args)
            .env("npm_config_update_notifier", "false")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        // Its own process group, so a timeout also stops whatever the client started.
        #[cfg(unix)]
        std::os::unix::process::CommandExt::process_group(&mut command, 0);
        let mut child = command.spawn().map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound | std::io::ErrorKind::PermissionDenied => {
                FetchError::ClientMissing {
                    program: program.to_owned(),
                    detail: e.to_string(),
                    install,
                }
            }
            _ => FetchError::Tool(format!("cannot start `{program}`: {e}.")),
        })?;
        let stdout = child.stdout.take().map(read_all_in_thread);
        let stderr = child.stderr.take().map(read_all_in_thread);
        let deadline = Instant::now() + self.timeout;
        let status = loop {
            match child.try_wait() {
                Ok(Some(status)) => break status,
                Ok(None) if Instant::now() >= deadline => {
                    kill_group(&mut child);
                    return Err(FetchError::Unavailable(format!(
                        "`{program} {}` took longer than {} s and was stopped.",
                        args.first().copied().unwrap_or_default(),
                        self.timeout.as_secs_f32()
                    )));
                }
                Ok(None) => thread::sleep(Duration::from_millis(20)),
                Err(e) => {
                    return Err(FetchError::Tool(format!(
                        "cannot wait for `{program}`: {e}."
                    )))
                }
            }
        };
        let join = |h: Option<thread::JoinHandle<Vec<u8>>>| {
            h.and_then(|h| h.join().ok()).unwrap_or_default()
        };
        Ok(RunOutput {
            success: status.success(),
            stdout: join(stdout),
            stderr: join(stderr),
        })
    }
}

/// Kills the child and its process group. Best effort: it may have exited meanwhile.
fn kill_group(child: &mut std::process::Child) {
    #[cfg(unix)]
    if let Ok(pgid) = i32::try_from(child.id()) {
        // SAFETY: kill(2) takes no pointers; the group is the one the child leads, created
        // by `process_group(0)` at spawn and not yet reaped, so its id is not reused.
        unsafe {
            libc::kill(-pgid, libc::SIGKILL);
        }
    }
    let _ = child.kill();
    let _ = child.wait();
}

struct RunOutput {
    success: bool,
    stdout: Vec<u8>,
    stderr: Vec<u8>,
}

fn read_all_in_thread<R: Read + Send + 'static>(mut reader: R) -> thread::JoinHandle<Vec<u8>> {
    thread::spawn(move || {
        let mut buf = Vec::new();
        // A read error only shortens the captured output.
        let _ = reader.read_to_end(&mut buf);
        buf
    })
}

enum HttpError {
    Status(u16),
    TooLarge,
    Transport(ureq::Error),
}

impl HttpError {
    fn into_fetch_error(self, url: &str) -> FetchError {
        match self {
            HttpError::Status(status) if status >= 500 || status == 429 => {
                FetchError::Unavailable(format!("{url} answered HTTP {status}."))
            }
            HttpError::Status(status) => FetchError::Tool(format!("{url} answered HTTP {status}.")),
            HttpError::TooLarge => {
                FetchError::Tool(format!("{url} answered with a body over the limit."))
            }
            HttpError::Transport(e) => FetchError::Unavailable(format!("cannot reach {url}: {e}.")),
        }
    }
}

fn pip_missing(program: &str, detail: &str) -> FetchError {
    FetchError::ClientMissing {
        program: format!("{program} -m pip"),
        detail: detail.to_owned(),
        install: "Python 3 with pip",
    }
}

/// The last part of a client's output, where its error usually is.
fn tail(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let text = text.trim();
    let start = text
        .char_indices()
        .rev()
        .nth(STDERR_TAIL)
        .map_or(0, |(i, _)| i);
    text[start..].to_owned()
}

fn classify_npm(text: &str, purl: &Purl, program: &str) -> FetchError {
    if text.contains("E404") || text.contains("404 Not Found") {
        return FetchError::NotFound(format!("{purl} is not on the npm registry."));
    }
    if text.contains("ETARGET") || text.contains("No matching version") {
        return FetchError::NotFound(format!("{purl}: no such version on the npm registry."));
    }
    const NETWORK: &[&str] = &[
        "ECONNREFUSED",
        "ECONNRESET",
        "ETIMEDOUT",
        "ENOTFOUND",
        "EAI_AGAIN",
        "ENETUNREACH",
        "socket hang up",
        "network",
    ];
    if NETWORK.iter().any(|s| text.contains(s)) || has_5xx(text) {
        return FetchError::Unavailable(format!(
            "`{program}` could not reach the registry: {}",
            tail(text.as_bytes())
        ));
    }
    FetchError::Tool(format!("`{program}` failed: {}", tail(text.as_bytes())))
}

fn classify_pip(text: &str) -> FetchError {
    const NETWORK: &[&str] = &[
        "ConnectionError",
        "Max retries exceeded",
        "Read timed out",
        "NewConnectionError",
        "Temporary failure in name resolution",
        "HTTP error 5",
    ];
    if NETWORK.iter().any(|s| text.contains(s)) || has_5xx(text) {
        return FetchError::Unavailable(format!(
            "pip could not reach the index: {}",
            tail(text.as_bytes())
        ));
    }
    FetchError::Tool(format!("pip failed: {}", tail(text.as_bytes())))
}

/// An `E500`-style npm code or an `HTTP 5xx`/`500 Internal Server Error` in a message.
fn has_5xx(text: &str) -> bool {
    let bytes = text.as_bytes();
    text.match_indices(['E', ' ']).any(|(i, _)| {
        let rest = &bytes[i + 1..];
        rest.len() >= 3
            && rest[0] == b'5'
            && rest[1].is_ascii_digit()
            && rest[2].is_ascii_digit()
            && rest.get(3).is_none_or(|b| !b.is_ascii_digit())
    })
}

#[derive(Debug, Deserialize)]
struct SimplePage {
    files: Vec<SimpleFile>,
}

#[derive(Debug, Deserialize)]
struct SimpleFile {
    filename: String,
    url: String,
    #[serde(default)]
    hashes: std::collections::HashMap<String, String>,
    /// `false`, `true` or the reason as a string (PEP 592).
    #[serde(default)]
    yanked: serde_json::Value,
}

impl SimpleFile {
    fn is_yanked(&self) -> bool {
        !matches!(
            self.yanked,
            serde_json::Value::Null | serde_json::Value::Bool(false)
        )
    }
}

/// The version in an sdist (`name-1.0.tar.gz`) or wheel (`name-1.0-py3-none-any.whl`) name.
fn file_version(filename: &str, name: &str) -> Option<String> {
    let (stem, is_wheel) = if let Some(stem) = filename.strip_suffix(".whl") {
        (stem, true)
    } else {
        let stem = filename
            .strip_suffix(".tar.gz")
            .or_else(|| filename.strip_suffix(".zip"))?;
        (stem, false)
    };
    let (file_name, version) = if is_wheel {
        let mut parts = stem.split('-');
        (parts.next()?, parts.next()?)
    } else {
        stem.rsplit_once('-')?
    };
    (pep503_normalise(file_name) == name).then(|| version.to_owned())
}

fn is_sdist_of(filename: &str, name: &str, version: &str) -> bool {
    !filename.ends_with(".whl") && file_version(filename, name).as_deref() == Some(version)
}

/// The highest final release (no pre-, dev- or local versions) with a file not yanked.
fn latest_version(name: &str, files: &[SimpleFile]) -> Option<String> {
    files
        .iter()
        .filter(|f| !f.is_yanked())
        .filter_map(|f| file_version(&f.filename, name))
        .filter_map(|v| release_key(&v).map(|key| (key, v)))
        .max_by(|a, b| a.0.cmp(&b.0))
        .map(|(_, v)| v)
}

/// Sort key of a final release `[N!]N(.N)*[.postN]`; `None` for anything else.
fn release_key(version: &str) -> Option<(u64, Vec<u64>, u64)> {
    let (epoch, rest) = match version.split_once('!') {
        Some((e, rest)) => (e.parse().ok()?, rest),
        None => (0, version),
    };
    let (release, post) = match rest.split_once(".post") {
        Some((release, post)) => (release, post.parse::<u64>().ok()? + 1),
        None => (rest, 0),
    };
    let mut parts = release
        .split('.')
        .map(|p| p.parse::<u64>().ok())
        .collect::<Option<Vec<_>>>()?;
    while parts.len() > 1 && parts.last() == Some(&0) {
        parts.pop();
    }
    Some((epoch, parts, post))
}

/// Resolves a file URL from a simple page against the page's URL; drops any `#fragment`.
fn join_url(base: &str, url: &str) -> String {
    let url = url.split('#').next().unwrap_or_default();
    if url.starts_with("http://") || url.starts_with("https://") {
        return url.to_owned();
    }
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let scheme = &base[..scheme_end.saturating_sub(3)];
    if let Some(rest) = url.strip_prefix("//") {
        return format!("{scheme}://{rest}");
    }
    let host_end = base[scheme_end..]
        .find('/')
        .map_or(base.len(), |i| scheme_end + i);
    if url.starts_with('/') {
        return format!("{}{url}", &base[..host_end]);
    }
    let dir_end = base
        .rfind('/')
        .filter(|&i| i >= host_end)
        .map_or(base.len(), |i| i + 1);
    let mut joined = base[..dir_end].to_owned();
    if !joined.ends_with('/') {
        joined.push('/');
    }
    // Resolve `../` segments, never above the host.
    let mut rel = url;
    while let Some(rest) = rel.strip_prefix("../") {
        rel = rest;
        let trimmed = joined.trim_end_matches('/');
        if let Some(i) = trimmed.rfind('/').filter(|&i| i >= host_end) {
            joined.truncate(i + 1);
        }
    }
    joined.push_str(rel.strip_prefix("./").unwrap_or(rel));
    joined
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn joins_index_urls() {
        let page = "http://127.0.0.1:8080/simple/demo/";
        assert_eq!(
            join_url(page, "demo-1.0.tar.gz#sha256=ab"),
            "http://127.0.0.1:8080/simple/demo/demo-1.0.tar.gz"
        );
        assert_eq!(
            join_url(page, "../../files/demo-1.0.tar.gz"),
            "http://127.0.0.1:8080/files/demo-1.0.tar.gz"
        );
        assert_eq!(join_url(page, "../../../../x"), "http://127.0.0.1:8080/x");
        assert_eq!(
            join_url(page, "/files/x.whl"),
            "http://127.0.0.1:8080/files/x.whl"
        );
        assert_eq!(
            join_url(page, "//mirror.test/x.whl"),
            "http://mirror.test/x.whl"
        );
        assert_eq!(
            join_url(page, "https://files.test/a/x.whl"),
            "https://files.test/a/x.whl"
        );
    }

    #[test]
    fn reads_versions_from_file_names() {
        assert_eq!(
            file_version("Demo_Pkg-1.0.tar.gz", "demo-pkg").as_deref(),
            Some("1.0")
        );
        assert_eq!(
            file_version("demo_pkg-2.0rc1-py3-none-any.whl", "demo-pkg").as_deref(),
            Some("2.0rc1")
        );
        assert_eq!(file_version("other-1.0.tar.gz", "demo-pkg"), None);
        assert_eq!(file_version("demo-pkg-1.0.exe", "demo-pkg"), None);
        assert!(is_sdist_of("demo-1.0.zip", "demo", "1.0"));
        assert!(!is_sdist_of("demo-1.0-py3-none-any.whl", "demo", "1.0"));
    }

    #[test]
    fn latest_skips_prereleases_and_yanked() {
        let file = |filename: &str, yanked: bool| SimpleFile {
            filename: filename.to_owned(),
            url: filename.to_owned(),
            hashes: Default::default(),
            yanked: serde_json::Value::Bool(yanked),
        };
        let files = [
            file("demo-1.9.tar.gz", false),
            file("demo-1.10.tar.gz", false),
            file("demo-1.10.post1-py3-none-any.whl", false),
            file("demo-2.0rc1.tar.gz", false),
            file("demo-3.0.tar.gz", true),
        ];
        assert_eq!(
            latest_version("demo", &files).as_deref(),
            Some("1.10.post1")
        );
        assert_eq!(latest_version("demo", &files[3..]), None);
        assert!(release_key("1.0") == release_key("1.0.0"));
        assert!(release_key("1!0.1") > release_key("9.9"));
    }

    #[test]
    fn classifies_client_errors() {
        let purl = Purl::parse("pkg:npm/left-pad@9.9.9").expect("valid purl");
        let e = classify_npm("npm error code ETARGET\nnpm error notarget No matching version found for left-pad@9.9.9.", &purl, "npm");
        assert_eq!(e.code(), "package_not_found");
        assert!(e.to_string().starts_with("package not found"));
        assert_eq!(
            classify_npm(
                "npm error code E404\nnpm error 404 Not Found - GET",
                &purl,
                "npm"
            )
            .code(),
            "package_not_found"
        );
        let e = classify_npm(
            "npm error code E500\nnpm error 500 Internal Server Error - GET",
            &purl,
            "npm",
        );
        assert!(e.is_retryable(), "{e}");
        assert_eq!(
            classify_npm("npm error code ECONNREFUSED", &purl, "npm").code(),
            "registry_unavailable"
        );
        let e = classify_npm(
            "npm error code EBADTHING\nnpm error something odd",
            &purl,
            "npm",
        );
        assert_eq!(e.code(), "fetch_failed");
        assert!(!e.is_retryable());
        assert!(e.to_string().contains("something odd"));
        assert_eq!(
            classify_pip("ERROR: HTTP error 503 while getting").code(),
            "registry_unavailable"
        );
        assert_eq!(classify_pip("ERROR: weird").code(), "fetch_failed");
        assert!(!has_5xx("E4040 version 1.2.500"));
    }

    #[test]
    fn tail_keeps_the_end() {
        let long = "x".repeat(5000) + "the end";
        let t = tail(long.as_bytes());
        assert!(t.ends_with("the end"));
        assert!(t.chars().count() <= STDERR_TAIL + 1);
    }

    #[test]
    fn error_codes_and_retryability() {
        let cases: Vec<(FetchError, &str, bool)> = vec![
            (FetchError::NotFound("x".into()), "package_not_found", false),
            (
                FetchError::Unavailable("x".into()),
                "registry_unavailable",
                true,
            ),
            (
                FetchError::ClientMissing {
                    program: "npm".into(),
                    detail: "not found".into(),
                    install: "Node.js with npm",
                },
                "client_missing",
                false,
            ),
            (FetchError::Tool("x".into()), "fetch_failed", false),
            (
                FetchError::TooLarge {
                    filename: "a.tgz".into(),
                    limit: 1,
                },
                "artifact_too_large",
                false,
            ),
            (
                FetchError::Integrity("x".into()),
                "integrity_mismatch",
                true,
            ),
        ];
        for (e, code, retry) in cases {
            assert_eq!(e.code(), code);
            assert_eq!(e.is_retryable(), retry, "{code}");
        }
    }

    #[test]
    fn missing_client_is_reported() {
        let fetcher = Fetcher {
            npm_program: "assay-no-such-npm".into(),
            ..Fetcher::default()
        };
        let purl = Purl::parse("pkg:npm/left-pad@1.3.0").expect("valid purl");
        let e = fetcher.fetch(&purl).expect_err("no client");
        assert_eq!(e.code(), "client_missing");
        assert!(e.to_string().contains("install Node.js with npm"), "{e}");
    }

    #[test]
    fn unsupported_purl_is_refused_before_any_call() {
        let purl = Purl::parse("pkg:cargo/rand@0.8.5").expect("valid purl");
        let e = Fetcher::default().fetch(&purl).expect_err("unsupported");
        assert_eq!(e.code(), "unsupported_ecosystem");
    }
}
