//! A pooled connection kept between the statements of one busy, serial caller.
//!
//! sqlx pings a connection when it leaves the pool and again when it comes back, so a
//! one-statement checkout is three round trips to a server process. The batchers, the claim
//! loop and the outbox relay run one statement after another; each keeps its connection while
//! it is busy and skips both pings. A connection kept idle for longer than [`KEEP_FOR`] goes
//! back to the pool, so after a quiet spell (in which the server may have restarted) the next
//! statement gets a connection the pool has tested. A statement that fails drops its
//! connection: the pool tests it on return and closes it if it is broken.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use sqlx::pool::PoolConnection;
use sqlx::{PgPool, Postgres};

use crate::Result;

/// How long an unused kept connection is trusted without the pool's test.
const KEEP_FOR: Duration = Duration::from_secs(1);

/// A kept connection and when its last statement ended.
type Slot = Option<(PoolConnection<Postgres>, Instant)>;

#[derive(Clone)]
pub(crate) struct Kept {
    pool: PgPool,
    slot: Arc<Mutex<Slot>>,
}

impl Kept {
    pub(crate) fn new(pool: PgPool) -> Self {
        Kept {
            pool,
            slot: Arc::default(),
        }
    }

    /// The kept connection if it was used within [`KEEP_FOR`], else one from the pool. Callers
    /// that overlap get pool connections of their own.
    pub(crate) async fn take(&self) -> Result<PoolConnection<Postgres>> {
        let kept = self
            .slot
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        match kept {
            Some((conn, used)) if used.elapsed() < KEEP_FOR => Ok(conn),
            stale => {
                drop(stale); // back to the pool, which tests it before handing it out again
                Ok(self.pool.acquire().await?)
            }
        }
    }

    /// Keeps `conn` for the next [`take`](Kept::take), after a statement that succeeded.
    pub(crate) fn keep(&self, conn: PoolConnection<Postgres>) {
        // A connection kept meanwhile by an overlapping caller goes back to the pool.
        *self.slot.lock().unwrap_or_else(PoisonError::into_inner) = Some((conn, Instant::now()));
    }
}
