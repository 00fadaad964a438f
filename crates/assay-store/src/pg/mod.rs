//! The PostgreSQL backend: the same queries as the SQLite code beside it, in PostgreSQL's
//! dialect (`$n` parameters, arrays through `UNNEST` so a batch is one cached statement,
//! `FOR UPDATE SKIP LOCKED` wherever many workers may reach for the same rows).

mod jobs;
mod kept;
mod queue;

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgListener, PgPool, PgPoolOptions};
use tokio::sync::Notify;
use tokio::task::AbortHandle;
use tracing::warn;

use self::kept::Kept;
use crate::users::{ApiKeyCreated, User};
use crate::{redact_url, Result, Scope, StoreError, StoreOptions, StoredMessage};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// Connections of the pool for writes that need not be durable: the claim loop's, the claim
/// batcher's, the relay's and the heartbeat's.
const RELAXED_CONNECTIONS: u32 = 4;

/// The channel the `job_queued` trigger notifies; the payload is the job's kind.
const CHANNEL: &str = "assay_jobs";

/// The pool, the connections its serial writers keep, and the listener task that lives as
/// long as any clone of it.
#[derive(Clone)]
pub(crate) struct PgDb {
    pub(crate) pool: PgPool,
    /// The enqueue batcher's.
    enqueues: Kept,
    /// The completion batcher's.
    completions: Kept,
    /// The claim loop's.
    claims: Kept,
    /// The claim batcher's (jobs named by broker deliveries).
    named_claims: Kept,
    /// The outbox relay's.
    relay: Kept,
    /// Connections whose commits do not wait for the disk (see `connect`).
    relaxed: PgPool,
    _listener: Arc<AbortOnDrop>,
}

struct AbortOnDrop(AbortHandle);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl PgDb {
    pub(crate) async fn connect(
        url: &str,
        options: &StoreOptions,
        wake: Arc<Notify>,
    ) -> Result<PgDb> {
        let mut connect = PgConnectOptions::from_str(url).map_err(|e| {
            StoreError::Url(format!("invalid database URL {:?}: {e}", redact_url(url)))
        })?;
        if options.outbox {
            // Read by the `job_queued` trigger: only this store's transitions write the outbox.
            connect = connect.options([("assay.outbox", "on")]);
        }
        // Keep sqlx's ping before each acquire: a server restart or failover kills idle
        // connections, and without it every one of them would fail a request first.
        let pool = PgPoolOptions::new()
            .max_connections(options.max_connections.max(2))
            .min_connections(1)
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(connect.clone())
            .await?;
        // Claims, lease renewals and the relay's deletes do not wait for their commit to reach
        // the disk: if the server loses them in a crash, the job is claimed again or announced
        // again, which the queue already allows for. Results and new jobs are always durable.
        let relaxed = PgPoolOptions::new()
            .max_connections(RELAXED_CONNECTIONS)
            .min_connections(0)
            .acquire_timeout(Duration::from_secs(10))
            .connect_lazy_with(connect.options([("synchronous_commit", "off")]));
        MIGRATOR.run(&pool).await?;
        let listener = tokio::spawn(listen(pool.clone(), wake));
        Ok(PgDb {
            enqueues: Kept::new(pool.clone()),
            completions: Kept::new(pool.clone()),
            claims: Kept::new(relaxed.clone()),
            named_claims: Kept::new(relaxed.clone()),
            relay: Kept::new(relaxed.clone()),
            relaxed,
            pool,
            _listener: Arc::new(AbortOnDrop(listener.abort_handle())),
        })
    }

    pub(crate) async fn close(&self) {
        self.relaxed.close().await;
        self.pool.close().await;
    }

    pub(crate) async fn insert_user(&self, user: &User) -> Result<u64> {
        Ok(sqlx::query(
            "INSERT INTO users (id, name, is_admin, created_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (name) DO NOTHING",
        )
        .bind(&user.id)
        .bind(&user.name)
        .bind(user.is_admin)
        .bind(user.created_at)
        .execute(&self.pool)
        .await?
        .rows_affected())
    }

    pub(crate) async fn find_user(&self, name: &str) -> Result<Option<User>> {
        Ok(
            sqlx::query_as("SELECT id, name, is_admin, created_at FROM users WHERE name = $1")
                .bind(name)
                .fetch_optional(&self.pool)
                .await?,
        )
    }

    pub(crate) async fn insert_api_key(
        &self,
        key: &ApiKeyCreated,
        user_id: &str,
        hash: &str,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO api_keys (id, user_id, prefix, hash, created_at) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&key.id)
        .bind(user_id)
        .bind(&key.prefix)
        .bind(hash)
        .bind(assay_core::now_ms())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub(crate) async fn user_by_key_hash(&self, hash: &str) -> Result<Option<User>> {
        Ok(sqlx::query_as(
            "SELECT u.id, u.name, u.is_admin, u.created_at FROM api_keys k JOIN users u ON u.id = k.user_id \
             WHERE k.hash = $1 AND k.revoked_at IS NULL",
        )
        .bind(hash)
        .fetch_optional(&self.pool)
        .await?)
    }

    pub(crate) async fn list_messages(
        &self,
        scope: &Scope,
        limit: u32,
    ) -> Result<Vec<StoredMessage>> {
        Ok(sqlx::query_as(
            "SELECT job_id, data, template, created_at FROM messages \
             WHERE ($1::text IS NULL OR owner = $1) ORDER BY seq DESC LIMIT $2",
        )
        .bind(scope.owner())
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?)
    }
}

/// Turns `NOTIFY assay_jobs` into wake-ups until the pool closes. Notifications sent while the
/// connection was down are lost, so every reconnect wakes the workers once too; their polling
/// covers the rest.
async fn listen(pool: PgPool, wake: Arc<Notify>) {
    loop {
        match PgListener::connect_with(&pool).await {
            Ok(mut listener) => match listener.listen(CHANNEL).await {
                Ok(()) => loop {
                    wake.notify_one();
                    match listener.try_recv().await {
                        // Woken above; a lost connection is re-established by the next call.
                        Ok(_) => {}
                        Err(sqlx::Error::PoolClosed) => return,
                        Err(e) => {
                            warn!(error = %e, "the job notification listener failed; reconnecting");
                            break;
                        }
                    }
                },
                Err(e) => warn!(error = %e, "cannot listen for job notifications; retrying"),
            },
            Err(sqlx::Error::PoolClosed) => return,
            Err(e) => warn!(error = %e, "cannot connect the job notification listener; retrying"),
        }
        if pool.is_closed() {
            return;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}
