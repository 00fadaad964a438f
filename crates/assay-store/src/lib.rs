//! assay's durable state in SQLite or PostgreSQL: jobs, users, API keys and messages.
//!
//! The jobs table *is* the queue (see [`queue`]): a job the API acknowledged is a committed
//! row, and every state change is one guarded `UPDATE`, so any number of workers — threads or
//! separate processes sharing the database — can claim work safely.
//!
//! [`Store`] has one public API over two backends, chosen by [`Store::connect`]'s URL:
//!
//! - **SQLite** (`sqlite://PATH` or a bare path; the default). Writes go through a pool of one
//!   connection (SQLite has one writer at a time anyway; queuing in-process avoids lock
//!   retries), reads through a small read-only pool. The database runs in WAL mode with
//!   `synchronous=NORMAL`: a committed job survives a crash of any assay process; a power loss
//!   can take the last few hundred milliseconds of commits.
//! - **PostgreSQL** (`postgres://…`, in [`pg`]). One pool for everything; claims use
//!   `FOR UPDATE SKIP LOCKED`, so workers on many hosts never block on each other's rows. A
//!   trigger sends `NOTIFY assay_jobs` whenever a job becomes queued, and a listener task
//!   turns it into [`Store::wake`], so workers in other processes start at once.
//!
//! With [`StoreOptions::outbox`], every transition to `queued` also writes a `job_outbox` row in
//! the same statement (a per-connection trigger), for a relay that feeds a broker; see
//! [`Store::outbox_take`].

mod batch;
mod jobs;
mod maintenance;
mod messages;
mod outbox;
mod parked;
mod pg;
pub mod queue;
#[cfg(feature = "test-support")]
pub mod testing;
mod users;

use std::collections::{HashMap, VecDeque};
use std::path::Path;
use std::str::FromStr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use assay_core::{Job, JobId};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{ConnectOptions, Connection, Executor};
use thiserror::Error;
use tokio::sync::Notify;

use crate::batch::Batcher;

pub use jobs::{CancelOutcome, JobFilter, JobPage, NewJob, StatusCount};
pub use messages::StoredMessage;
pub use outbox::OutboxEntry;
pub use parked::ParkedJob;
pub use users::{ApiKeyCreated, User, KEY_CACHE_TTL};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

#[derive(Debug, Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("database migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    NotFound(String),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    /// A write batched with others failed; each waiting caller gets this copy of the cause.
    #[error("a batched write failed: {message}")]
    Batch { message: String, unavailable: bool },
    #[error("{0}")]
    Url(String),
}

impl StoreError {
    /// The database could not be reached (connection refused or lost, pool exhausted): the
    /// request may succeed later, and nothing was written.
    pub fn is_unavailable(&self) -> bool {
        matches!(
            self,
            StoreError::Database(
                sqlx::Error::Io(_)
                    | sqlx::Error::Tls(_)
                    | sqlx::Error::PoolTimedOut
                    | sqlx::Error::PoolClosed
                    | sqlx::Error::WorkerCrashed
            ) | StoreError::Batch {
                unavailable: true,
                ..
            }
        )
    }
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// Whose rows a query may see: an admin sees all, a user only their own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    All,
    Owner(String),
}

impl Scope {
    fn owner(&self) -> Option<&str> {
        match self {
            Scope::All => None,
            Scope::Owner(id) => Some(id),
        }
    }
}

/// How a [`Store`] connects, beyond its URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreOptions {
    /// PostgreSQL pool size (SQLite always has one writer and a few readers).
    pub max_connections: u32,
    /// Write a `job_outbox` row whenever a job becomes queued (for broker transports). Off by
    /// default, so the table queue pays nothing for it.
    pub outbox: bool,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            max_connections: 16,
            outbox: false,
        }
    }
}

/// Handle to the database; cheap to clone.
#[derive(Clone)]
pub struct Store {
    db: Db,
    /// Woken on every enqueue so in-process workers start at once instead of at their next poll.
    wake: Arc<Notify>,
    keys: users::KeyCache,
    enqueues: Batcher<NewJob, Job>,
    completions: Batcher<queue::Completion, Option<i64>>,
    claims: Batcher<queue::ClaimById, Option<Job>>,
    finished: FinishedJobs,
}

/// The backend behind a [`Store`].
#[derive(Clone)]
enum Db {
    Sqlite { write: SqlitePool, read: SqlitePool },
    Postgres(pg::PgDb),
}

/// Every transition to `queued` also writes an outbox row, in the same statement. Temporary
/// triggers belong to the connection that created them, so only stores opened with the outbox
/// write it.
const SQLITE_OUTBOX_TRIGGERS: [&str; 2] = [
    "CREATE TEMP TRIGGER IF NOT EXISTS job_outbox_insert AFTER INSERT ON main.jobs \
     WHEN NEW.status = 'queued' BEGIN \
         INSERT INTO job_outbox (job_id, kind, available_at) VALUES (NEW.id, NEW.kind, NEW.run_after); \
     END",
    "CREATE TEMP TRIGGER IF NOT EXISTS job_outbox_update AFTER UPDATE OF status ON main.jobs \
     WHEN NEW.status = 'queued' AND OLD.status <> 'queued' BEGIN \
         INSERT INTO job_outbox (job_id, kind, available_at) VALUES (NEW.id, NEW.kind, NEW.run_after); \
     END",
];

impl Store {
    /// Opens (creating if needed) the SQLite database at `path` and applies migrations.
    pub async fn open(path: &Path) -> Result<Store> {
        Store::open_sqlite(path, &StoreOptions::default()).await
    }

    /// Connects to `sqlite://PATH` (or a bare path) or `postgres://…` and applies migrations.
    pub async fn connect(url: &str) -> Result<Store> {
        Store::connect_with(url, &StoreOptions::default()).await
    }

    pub async fn connect_with(url: &str, options: &StoreOptions) -> Result<Store> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return Store::open_postgres(url, options).await;
        }
        let path = url
            .strip_prefix("sqlite://")
            .or_else(|| url.strip_prefix("sqlite:"))
            .unwrap_or(url);
        if path.is_empty() || path.contains("://") {
            return Err(StoreError::Url(format!(
                "unsupported database URL {:?}: use sqlite://PATH, a file path, or postgres://USER@HOST/DB",
                redact_url(url)
            )));
        }
        Store::open_sqlite(Path::new(path), options).await
    }

    async fn open_postgres(url: &str, options: &StoreOptions) -> Result<Store> {
        let wake = Arc::new(Notify::new());
        let db = pg::PgDb::connect(url, options, Arc::clone(&wake)).await?;
        let writer = db.clone();
        let enqueues = Batcher::spawn(move |jobs| {
            let db = writer.clone();
            async move { db.insert_jobs(jobs).await }
        });
        let writer = db.clone();
        let completions = Batcher::spawn(move |batch| {
            let db = writer.clone();
            async move { db.write_completions(batch).await }
        });
        let writer = db.clone();
        let claims = Batcher::spawn(move |batch| {
            let db = writer.clone();
            async move {
                queue::claim_by_id(batch, |ids, worker, lease_ms, kinds| {
                    db.claim_named(ids, worker, lease_ms, kinds)
                })
                .await
            }
        });
        Ok(Store {
            db: Db::Postgres(db),
            wake,
            keys: users::KeyCache::default(),
            finished: FinishedJobs::default(),
            enqueues,
            completions,
            claims,
        })
    }

    async fn open_sqlite(path: &Path, store_options: &StoreOptions) -> Result<Store> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| {
                StoreError::Database(sqlx::Error::Configuration(
                    format!("cannot create database directory {}: {e}", dir.display()).into(),
                ))
            })?;
        }
        let options = SqliteConnectOptions::from_str("sqlite://")?
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(10))
            .foreign_keys(true)
            .pragma("cache_size", "-4000");
        // Migrations first, on a connection of their own: the outbox triggers need the tables.
        let mut migrating = options.connect().await?;
        MIGRATOR.run(&mut migrating).await?;
        migrating.close().await?;
        let outbox = store_options.outbox;
        // No ping before each acquire: a local file cannot silently drop a connection, and the
        // ping is a full round trip to the connection's thread.
        let write = SqlitePoolOptions::new()
            .test_before_acquire(false)
            .max_connections(1)
            .min_connections(1)
            .idle_timeout(None)
            .after_connect(move |conn, _| {
                Box::pin(async move {
                    if outbox {
                        for trigger in SQLITE_OUTBOX_TRIGGERS {
                            conn.execute(trigger).await?;
                        }
                    }
                    Ok(())
                })
            })
            .connect_with(options.clone())
            .await?;
        let read = SqlitePoolOptions::new()
            .test_before_acquire(false)
            .max_connections(4)
            .min_connections(1)
            .connect_with(options.read_only(true))
            .await?;
        let pool = write.clone();
        let enqueues = Batcher::spawn(move |jobs| jobs::insert_jobs(pool.clone(), jobs));
        let pool = write.clone();
        let completions =
            Batcher::spawn(move |batch| queue::write_completions(pool.clone(), batch));
        let pool = write.clone();
        let claims = Batcher::spawn(move |batch| {
            let pool = pool.clone();
            async move {
                queue::claim_by_id(batch, |ids, worker, lease_ms, kinds| {
                    queue::claim_named(&pool, ids, worker, lease_ms, kinds)
                })
                .await
            }
        });
        Ok(Store {
            db: Db::Sqlite { write, read },
            wake: Arc::new(Notify::new()),
            keys: users::KeyCache::default(),
            finished: FinishedJobs::default(),
            enqueues,
            completions,
            claims,
        })
    }

    /// The notifier fired on every enqueue.
    pub fn wake(&self) -> Arc<Notify> {
        Arc::clone(&self.wake)
    }

    /// Answers when both pools can run a query against the jobs table.
    pub async fn check(&self) -> Result<()> {
        match &self.db {
            Db::Sqlite { write, read } => {
                sqlx::query("SELECT 1 FROM jobs LIMIT 1")
                    .execute(read)
                    .await?;
                sqlx::query("SELECT 1").execute(write).await?;
            }
            Db::Postgres(db) => {
                sqlx::query("SELECT 1 FROM jobs LIMIT 1")
                    .execute(&db.pool)
                    .await?;
            }
        }
        Ok(())
    }

    pub async fn close(&self) {
        match &self.db {
            Db::Sqlite { write, read } => {
                read.close().await;
                write.close().await;
            }
            Db::Postgres(db) => db.close().await,
        }
    }
}

/// `url` with any password replaced by `***`, for logs and error messages.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _password)) => format!("{scheme}://{user}:***@{host}{tail}"),
            None => url.to_owned(),
        },
        None => url.to_owned(),
    }
}

/// Jobs this process recently finished, by id: their rows never change again, so status
/// polls are answered without a database read. Bounded, oldest evicted first.
#[derive(Clone, Default)]
struct FinishedJobs(Arc<Mutex<Recent>>);

/// The cached jobs, and their ids oldest first.
#[derive(Default)]
struct Recent {
    jobs: HashMap<JobId, Job>,
    order: VecDeque<JobId>,
}

const FINISHED_CACHE: usize = 4096;

impl FinishedJobs {
    fn put(&self, job: Job) {
        let mut recent = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if recent.jobs.len() >= FINISHED_CACHE {
            if let Some(oldest) = recent.order.pop_front() {
                recent.jobs.remove(&oldest);
            }
        }
        recent.order.push_back(job.id);
        recent.jobs.insert(job.id, job);
    }

    fn clear(&self) {
        let mut recent = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        recent.jobs.clear();
        recent.order.clear();
    }

    fn get(&self, id: JobId, scope: &Scope) -> Option<Job> {
        let recent = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        recent
            .jobs
            .get(&id)
            .filter(|job| scope.owner().is_none_or(|o| o == job.owner))
            .cloned()
    }
}

fn parse_json(text: &str, what: &str) -> Result<serde_json::Value> {
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt(format!("{what} is not JSON: {e}")))
}

#[cfg(test)]
mod tests {
    use super::redact_url;

    #[test]
    fn passwords_are_redacted_from_urls() {
        assert_eq!(
            redact_url("postgres://app:s3cr%40t@db:5432/assay?sslmode=require"),
            "postgres://app:***@db:5432/assay?sslmode=require"
        );
        assert_eq!(
            redact_url("postgres://app@db/assay"),
            "postgres://app@db/assay"
        );
        assert_eq!(
            redact_url("sqlite://./data/assay.db"),
            "sqlite://./data/assay.db"
        );
        assert_eq!(redact_url("./data/assay.db"), "./data/assay.db");
    }
}
