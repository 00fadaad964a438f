//! assay's durable state in SQLite: jobs, users, API keys and messages.
//!
//! The jobs table *is* the queue (see [`queue`]): a job the API acknowledged is a committed
//! row, and every state change is one guarded `UPDATE`, so any number of workers — threads or
//! separate processes sharing the file — can claim work safely. Writes go through a pool of
//! one connection (SQLite has one writer at a time anyway; queuing in-process avoids lock
//! retries), reads through a small read-only pool. The database runs in WAL mode with
//! `synchronous=NORMAL`: a committed job survives a crash of any assay process; a power loss
//! can take the last few hundred milliseconds of commits.

mod batch;
mod jobs;
mod messages;
pub mod queue;
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
use thiserror::Error;
use tokio::sync::Notify;

use crate::batch::Batcher;

pub use jobs::{CancelOutcome, JobFilter, JobPage, NewJob, StatusCount};
pub use messages::StoredMessage;
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
    #[error("a batched write failed: {0}")]
    Batch(String),
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

/// Handle to the database; cheap to clone.
#[derive(Clone)]
pub struct Store {
    write: SqlitePool,
    read: SqlitePool,
    /// Woken on every enqueue so in-process workers start at once instead of at their next poll.
    wake: Arc<Notify>,
    keys: users::KeyCache,
    enqueues: Batcher<NewJob, Job>,
    completions: Batcher<queue::Completion, Option<i64>>,
    finished: FinishedJobs,
}

impl Store {
    /// Opens (creating if needed) the SQLite database at `path` and applies migrations.
    pub async fn open(path: &Path) -> Result<Store> {
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
        // No ping before each acquire: a local file cannot silently drop a connection, and the
        // ping is a full round trip to the connection's thread.
        let write = SqlitePoolOptions::new()
            .test_before_acquire(false)
            .max_connections(1)
            .min_connections(1)
            .idle_timeout(None)
            .connect_with(options.clone())
            .await?;
        MIGRATOR.run(&write).await?;
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
        Ok(Store {
            write,
            read,
            wake: Arc::new(Notify::new()),
            keys: users::KeyCache::default(),
            finished: FinishedJobs::default(),
            enqueues,
            completions,
        })
    }

    /// The notifier fired on every enqueue.
    pub fn wake(&self) -> Arc<Notify> {
        Arc::clone(&self.wake)
    }

    /// Answers when both pools can run a query against the jobs table.
    pub async fn check(&self) -> Result<()> {
        sqlx::query("SELECT 1 FROM jobs LIMIT 1")
            .execute(&self.read)
            .await?;
        sqlx::query("SELECT 1").execute(&self.write).await?;
        Ok(())
    }

    pub async fn close(&self) {
        self.read.close().await;
        self.write.close().await;
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
