//! Databases for tests, one per test so tests run in parallel: a temporary SQLite file, or a
//! fresh PostgreSQL database (`assay_t_<random>`) on the server at `ASSAY_TEST_POSTGRES_URL`
//! (default `postgres://postgres@127.0.0.1:5432/postgres`), dropped when the value is.

use sqlx::{Connection, Executor, PgConnection};

/// The backends a conformance test runs against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A database that exists for as long as this value.
pub struct TestDatabase {
    url: String,
    /// The PostgreSQL database to drop, and the server's admin URL.
    postgres: Option<(String, String)>,
    _dir: Option<tempfile::TempDir>,
}

fn admin_url() -> String {
    std::env::var("ASSAY_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

impl TestDatabase {
    pub async fn new(backend: Backend) -> TestDatabase {
        match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().expect("a temporary directory");
                TestDatabase {
                    url: format!("sqlite://{}", dir.path().join("assay.db").display()),
                    postgres: None,
                    _dir: Some(dir),
                }
            }
            Backend::Postgres => {
                let admin = admin_url();
                let name = format!("assay_t_{}", uuid::Uuid::new_v4().simple());
                let mut conn = PgConnection::connect(&admin)
                    .await
                    .unwrap_or_else(|e| panic!("PostgreSQL at {admin} is needed: {e}"));
                conn.execute(format!("CREATE DATABASE {name}").as_str())
                    .await
                    .expect("CREATE DATABASE");
                conn.close().await.ok();
                let (base, _) = admin.rsplit_once('/').expect("a URL with a database");
                TestDatabase {
                    url: format!("{base}/{name}"),
                    postgres: Some((name, admin)),
                    _dir: None,
                }
            }
        }
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    /// PostgreSQL only: terminates every session connected to this database (as a failover or
    /// an administrator would) and answers how many there were.
    pub async fn cut_connections(&self) -> u64 {
        let (name, admin) = self.postgres.as_ref().expect("a PostgreSQL test database");
        let mut conn = PgConnection::connect(admin)
            .await
            .expect("the admin database");
        let (cut,): (i64,) = sqlx::query_as(
            "SELECT COUNT(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = $1",
        )
        .bind(name)
        .fetch_one(&mut conn)
        .await
        .expect("pg_terminate_backend");
        conn.close().await.ok();
        cut as u64
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let Some((name, admin)) = self.postgres.take() else {
            return;
        };
        // Best effort, on a thread of its own: drop may run inside or outside a runtime.
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()?;
            runtime.block_on(async {
                let mut conn = PgConnection::connect(&admin).await.ok()?;
                conn.execute(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)").as_str())
                    .await
                    .ok()
            })
        })
        .join();
    }
}

/// For each named `async fn(Backend)`, one `#[tokio::test]` per backend, in modules `sqlite`
/// and `postgres` (so `cargo test postgres::` runs one backend).
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(#[tokio::test]
            async fn $name() {
                super::$name($crate::testing::Backend::Sqlite).await
            })*
        }
        mod postgres {
            $(#[tokio::test]
            async fn $name() {
                super::$name($crate::testing::Backend::Postgres).await
            })*
        }
    };
}
