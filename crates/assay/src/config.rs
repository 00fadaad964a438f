//! Configuration, loaded once at start: defaults, then a TOML file (`--config` or
//! `ASSAY_CONFIG`), then `ASSAY_*` environment variables, then command-line flags.
//! Anything invalid stops the process at start with a message naming the setting.

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context};
use assay_worker::WorkerConfig;
use figment::providers::{Env, Format, Serialized, Toml};
use figment::Figment;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// `ASSAY_LISTEN`: the HTTP address.
    pub listen: SocketAddr,
    /// `ASSAY_DATA_DIR`: the SQLite database (unless `database_url` says otherwise) and stored
    /// files live here.
    pub data_dir: PathBuf,
    /// `ASSAY_DATABASE_URL`: `postgres://USER:PASSWORD@HOST/DB`, `sqlite://PATH` or a file path;
    /// unset = SQLite at `data_dir/assay.db`.
    pub database_url: Option<SecretUrl>,
    /// `ASSAY_BROKER`: `nats://HOST:4222`, `redis://HOST:6379` or `amqp://USER:PASSWORD@HOST:5672`;
    /// queued jobs are then announced through it (job state stays in the database).
    pub broker: Option<SecretUrl>,
    /// `ASSAY_BROKER_PREFIX`: the prefix of every stream, queue and key assay creates there.
    pub broker_prefix: String,
    /// `ASSAY_DATABASE_MAX_CONNECTIONS`: the PostgreSQL pool size of each process.
    pub database_max_connections: u32,
    /// `ASSAY_PRUNE_AFTER_SECS`: finished jobs older than this are deleted; 0 = never.
    pub prune_after_secs: u64,
    /// `ASSAY_WORKER_CONCURRENCY`: light jobs (add, ping, message) one worker runs at once.
    pub worker_concurrency: usize,
    /// `ASSAY_HEAVY_CONCURRENCY`: heavy jobs (csv, …) one worker runs at once; 0 = one per core.
    pub heavy_concurrency: usize,
    /// `ASSAY_LEASE_SECS`: how soon a dead worker's job is claimed again.
    pub lease_secs: u64,
    /// `ASSAY_POLL_MS`: how often an idle worker looks for work it was not woken for.
    pub poll_ms: u64,
    /// `ASSAY_GRACE_SECS`: how long running jobs may finish after SIGTERM.
    pub grace_secs: u64,
    /// `ASSAY_RETRY_BASE_MS`: the first retry delay, doubled for each further attempt.
    pub retry_base_ms: u64,
    /// `ASSAY_JSON_BODY_BYTES`: the largest JSON request body.
    pub json_body_bytes: usize,
    /// `ASSAY_CSV_MAX_BYTES`: the largest CSV file uploaded or profiled.
    pub csv_max_bytes: u64,
    /// `ASSAY_IMAGE_MAX_BYTES`: the largest image uploaded.
    pub image_max_bytes: u64,
    /// `ASSAY_CIRCLES_MODE`: `builtin` (assay's detector), `dummy` (fake, deterministic) or
    /// `real` (a KServe model server at `model_server_url`).
    pub circles_mode: CirclesModeName,
    /// `MODEL_SERVER_URL` or `ASSAY_MODEL_SERVER_URL`: the model server for `real` mode.
    pub model_server_url: Option<String>,
    /// `ASSAY_MODEL_NAME`: the model's name on that server.
    pub model_name: String,
    /// `ASSAY_NPM_REGISTRY`: base URL of the npm registry packages are fetched from; unset =
    /// npm's own configuration.
    pub npm_registry: Option<String>,
    /// `ASSAY_PYPI_INDEX`: base URL of the PyPI simple index; unset = pip's own configuration.
    pub pypi_index: Option<String>,
    /// `ASSAY_PACKAGE_TIMEOUT_SECS`: the longest one package analysis may run.
    pub package_timeout_secs: u64,
    /// `ASSAY_PACKAGE_DEDUP_SECS`: a second request for the same purl within this window
    /// returns the first job (unless `"force": true`); 0 = never dedup.
    pub package_dedup_secs: u64,
    /// `ASSAY_PACKAGE_MAX_BYTES`: the largest package archive fetched or uploaded.
    pub package_max_bytes: u64,
    /// `ASSAY_ENABLE_TEST_KINDS`: registers the `sleep` job kind used by crash tests.
    #[serde(deserialize_with = "flag")]
    pub enable_test_kinds: bool,
    /// `ASSAY_LOG_FORMAT`: `text` or `json`.
    pub log_format: LogFormat,
}

/// A boolean that also accepts the `1`/`0` and `yes`/`no` people write in environment variables.
fn flag<'de, D: serde::Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Flag {
        Bool(bool),
        Int(u64),
        Text(String),
    }
    match Flag::deserialize(d)? {
        Flag::Bool(b) => Ok(b),
        Flag::Int(0) => Ok(false),
        Flag::Int(1) => Ok(true),
        Flag::Text(t) if ["yes", "on"].contains(&t.to_lowercase().as_str()) => Ok(true),
        Flag::Text(t) if ["no", "off"].contains(&t.to_lowercase().as_str()) => Ok(false),
        other => Err(serde::de::Error::custom(format!(
            "expected true/false, 1/0, yes/no or on/off, got {}",
            match other {
                Flag::Int(i) => i.to_string(),
                Flag::Text(t) => t,
                Flag::Bool(b) => b.to_string(),
            }
        ))),
    }
}

/// A database or broker URL, which may hold a password: shown only with the password redacted.
#[derive(Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct SecretUrl(String);

impl SecretUrl {
    /// The URL itself, password included: for connecting only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for SecretUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&assay_store::redact_url(&self.0))
    }
}

impl fmt::Debug for SecretUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretUrl({self})")
    }
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum CirclesModeName {
    Builtin,
    Dummy,
    Real,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            data_dir: PathBuf::from("./data"),
            database_url: None,
            broker: None,
            broker_prefix: "assay".into(),
            database_max_connections: 16,
            prune_after_secs: 7 * 24 * 3600,
            worker_concurrency: 256,
            heavy_concurrency: 0,
            lease_secs: 30,
            poll_ms: 250,
            grace_secs: 25,
            retry_base_ms: 1_000,
            json_body_bytes: 64 * 1024,
            csv_max_bytes: 1 << 30,
            image_max_bytes: 50 << 20,
            circles_mode: CirclesModeName::Builtin,
            model_server_url: None,
            model_name: "circles".into(),
            npm_registry: None,
            pypi_index: None,
            package_timeout_secs: 30 * 60,
            package_dedup_secs: 24 * 3600,
            package_max_bytes: 200 << 20,
            enable_test_kinds: false,
            log_format: LogFormat::Text,
        }
    }
}

/// Settings given on the command line, which win over every other source.
#[derive(Debug, Default, Serialize)]
pub struct Overrides {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub listen: Option<SocketAddr>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data_dir: Option<PathBuf>,
}

/// Environment variables that belong to tests or tools rather than to the service.
const NOT_SETTINGS: &[&str] = &["config", "live_registry_tests", "shared_dir"];

impl Config {
    pub fn load(file: Option<&Path>, overrides: &Overrides) -> anyhow::Result<Config> {
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        if let Some(file) = file {
            if !file.exists() {
                bail!("configuration file {} does not exist", file.display());
            }
            figment = figment.merge(Toml::file(file));
        }
        let config: Config = figment
            // The seed's own name for the model server, without the prefix.
            .merge(Env::raw().only(&["model_server_url"]))
            .merge(Env::prefixed("ASSAY_").ignore(NOT_SETTINGS))
            .merge(Serialized::defaults(overrides))
            .extract()
            .context("invalid configuration")?;
        config.validate()?;
        Ok(config)
    }

    fn validate(&self) -> anyhow::Result<()> {
        if self.worker_concurrency == 0 || self.worker_concurrency > 1024 {
            bail!(
                "worker_concurrency must be between 1 and 1024, got {}",
                self.worker_concurrency
            );
        }
        if self.lease_secs == 0 || self.lease_secs > 3600 {
            bail!(
                "lease_secs must be between 1 and 3600, got {}",
                self.lease_secs
            );
        }
        if self.poll_ms == 0 {
            bail!("poll_ms must be at least 1");
        }
        if self.circles_mode == CirclesModeName::Real {
            match &self.model_server_url {
                None => bail!("circles_mode = real needs model_server_url (MODEL_SERVER_URL), e.g. http://model.svc:8080"),
                Some(url) if !url.starts_with("http://") => {
                    bail!("model_server_url must be a plain http:// URL inside the cluster, got {url:?}")
                }
                Some(_) => {}
            }
        }
        for (name, url) in [
            ("npm_registry", &self.npm_registry),
            ("pypi_index", &self.pypi_index),
        ] {
            if let Some(url) = url {
                if !(url.starts_with("http://") || url.starts_with("https://")) {
                    bail!("{name} must be an http:// or https:// URL, got {url:?}");
                }
            }
        }
        if self.package_timeout_secs == 0 {
            bail!("package_timeout_secs must be at least 1");
        }
        if let Some(url) = &self.database_url {
            let url = url.expose();
            let known = ["postgres://", "postgresql://", "sqlite:"]
                .iter()
                .any(|scheme| url.starts_with(scheme));
            if url.is_empty() || (url.contains("://") && !known) {
                bail!(
                    "database_url must be postgres://USER@HOST/DB, sqlite://PATH or a file path, got {:?}",
                    assay_store::redact_url(url)
                );
            }
        }
        if let Some(url) = &self.broker {
            let url = url.expose();
            if !["nats://", "redis://", "amqp://"]
                .iter()
                .any(|scheme| url.starts_with(scheme))
            {
                bail!(
                    "broker must be a nats://, redis:// or amqp:// URL, got {:?}",
                    assay_store::redact_url(url)
                );
            }
        }
        if self.database_max_connections < 2 || self.database_max_connections > 1000 {
            bail!(
                "database_max_connections must be between 2 and 1000, got {}",
                self.database_max_connections
            );
        }
        if self.json_body_bytes < 1024 {
            bail!(
                "json_body_bytes must be at least 1024, got {}",
                self.json_body_bytes
            );
        }
        Ok(())
    }

    /// The database to use: `database_url`, else SQLite under `data_dir`.
    pub fn database_url(&self) -> SecretUrl {
        self.database_url.clone().unwrap_or_else(|| {
            SecretUrl(format!(
                "sqlite://{}",
                self.data_dir.join("assay.db").display()
            ))
        })
    }

    pub fn blob_dir(&self) -> PathBuf {
        self.data_dir.join("blobs")
    }

    pub fn worker(&self, id: String) -> WorkerConfig {
        WorkerConfig {
            id,
            concurrency: self.worker_concurrency,
            heavy_concurrency: match self.heavy_concurrency {
                0 => assay_worker::cores(),
                n => n,
            },
            lease: Duration::from_secs(self.lease_secs),
            poll: Duration::from_millis(self.poll_ms),
            grace: Duration::from_secs(self.grace_secs),
            retry_base: Duration::from_millis(self.retry_base_ms),
            prune_after: (self.prune_after_secs > 0)
                .then(|| Duration::from_secs(self.prune_after_secs)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_file_and_overrides_layer() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("assay.toml");
        std::fs::write(
            &file,
            "worker_concurrency = 3\nlisten = \"127.0.0.1:9000\"\n",
        )
        .unwrap();
        let overrides = Overrides {
            listen: Some("127.0.0.1:9100".parse().unwrap()),
            data_dir: None,
        };
        let config = Config::load(Some(&file), &overrides).unwrap();
        assert_eq!(config.worker_concurrency, 3);
        assert_eq!(config.listen.port(), 9100);
    }

    #[test]
    fn bad_values_fail_with_the_setting_named() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("assay.toml");
        std::fs::write(&file, "lease_secs = 0\n").unwrap();
        let err = Config::load(Some(&file), &Overrides::default()).unwrap_err();
        assert!(format!("{err:#}").contains("lease_secs"), "{err:#}");
        std::fs::write(&file, "listen = \"nowhere\"\n").unwrap();
        let err = Config::load(Some(&file), &Overrides::default()).unwrap_err();
        assert!(format!("{err:#}").contains("listen"), "{err:#}");
        std::fs::write(&file, "database_url = \"mysql://root:hunter2@db/x\"\n").unwrap();
        let err = format!(
            "{:#}",
            Config::load(Some(&file), &Overrides::default()).unwrap_err()
        );
        assert!(err.contains("database_url"), "{err}");
        assert!(!err.contains("hunter2"), "the password is redacted: {err}");
    }

    #[test]
    fn the_database_url_defaults_to_sqlite_and_hides_its_password() {
        let config = Config::default();
        assert_eq!(
            config.database_url().expose(),
            format!(
                "sqlite://{}",
                Path::new("./data").join("assay.db").display()
            )
        );
        let url = SecretUrl("postgres://app:hunter2@db/assay".into());
        assert_eq!(url.to_string(), "postgres://app:***@db/assay");
        assert!(!format!("{url:?}").contains("hunter2"));
    }
}
