use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use assay_core::now_ms;
use rand::distr::{Alphanumeric, SampleString};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::{Db, Result, Store, StoreError};

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct User {
    pub id: String,
    pub name: String,
    pub is_admin: bool,
    pub created_at: i64,
}

/// A freshly created key: `secret` is shown once and never stored.
#[derive(Debug, Clone)]
pub struct ApiKeyCreated {
    pub id: String,
    pub prefix: String,
    pub secret: String,
}

const KEY_PREFIX: &str = "assay_";

/// How long a validated key is trusted without asking the database again.
pub const KEY_CACHE_TTL: Duration = Duration::from_secs(10);
/// How long a validated key still authenticates while the database cannot be reached, so the
/// API can keep taking the jobs it parks in the broker (seed 001).
pub const KEY_OFFLINE_TTL: Duration = Duration::from_secs(15 * 60);
const KEY_CACHE_MAX: usize = 10_000;

/// Recently validated keys, by hash.
#[derive(Clone, Default)]
pub(crate) struct KeyCache(Arc<Mutex<HashMap<String, (User, Instant)>>>);

impl KeyCache {
    fn get(&self, hash: &str, max_age: Duration) -> Option<User> {
        let cache = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        cache
            .get(hash)
            .filter(|(_, at)| at.elapsed() < max_age)
            .map(|(user, _)| user.clone())
    }

    fn put(&self, hash: String, user: User) {
        let mut cache = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if cache.len() >= KEY_CACHE_MAX {
            cache.retain(|_, (_, at)| at.elapsed() < KEY_OFFLINE_TTL);
            if cache.len() >= KEY_CACHE_MAX {
                cache.clear();
            }
        }
        cache.insert(hash, (user, Instant::now()));
    }
}

fn hash_key(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

impl Store {
    pub async fn create_user(&self, name: &str, is_admin: bool) -> Result<User> {
        let valid = !name.is_empty()
            && name.len() <= 64
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "._-@".contains(c));
        if !valid {
            return Err(StoreError::Conflict(format!(
                "invalid user name {name:?}: use 1-64 letters, digits, '.', '_', '-' or '@'"
            )));
        }
        let user = User {
            id: Uuid::new_v4().to_string(),
            name: name.to_owned(),
            is_admin,
            created_at: now_ms(),
        };
        let inserted = match &self.db {
            Db::Sqlite { write, .. } => sqlx::query("INSERT INTO users (id, name, is_admin, created_at) VALUES (?, ?, ?, ?) ON CONFLICT (name) DO NOTHING")
                .bind(&user.id)
                .bind(&user.name)
                .bind(user.is_admin)
                .bind(user.created_at)
                .execute(write)
                .await?
                .rows_affected(),
            Db::Postgres(db) => db.insert_user(&user).await?,
        };
        if inserted == 0 {
            return Err(StoreError::Conflict(format!(
                "a user named {name:?} already exists"
            )));
        }
        Ok(user)
    }

    pub async fn find_user(&self, name: &str) -> Result<Option<User>> {
        let read = match &self.db {
            Db::Sqlite { read, .. } => read,
            Db::Postgres(db) => return db.find_user(name).await,
        };
        Ok(
            sqlx::query_as("SELECT id, name, is_admin, created_at FROM users WHERE name = ?")
                .bind(name)
                .fetch_optional(read)
                .await?,
        )
    }

    pub async fn create_api_key(&self, user_name: &str) -> Result<ApiKeyCreated> {
        let user = self.find_user(user_name).await?.ok_or_else(|| {
            StoreError::NotFound(format!(
                "no user named {user_name:?}; create one with `assay user create {user_name}`"
            ))
        })?;
        let secret = format!(
            "{KEY_PREFIX}{}",
            Alphanumeric.sample_string(&mut rand::rng(), 40)
        );
        let key = ApiKeyCreated {
            id: Uuid::new_v4().to_string(),
            prefix: secret[..KEY_PREFIX.len() + 6].to_owned(),
            secret,
        };
        let hash = hash_key(&key.secret);
        match &self.db {
            Db::Sqlite { write, .. } => {
                sqlx::query(
                    "INSERT INTO api_keys (id, user_id, prefix, hash, created_at) VALUES (?, ?, ?, ?, ?)",
                )
                .bind(&key.id)
                .bind(&user.id)
                .bind(&key.prefix)
                .bind(hash)
                .bind(now_ms())
                .execute(write)
                .await?;
            }
            Db::Postgres(db) => db.insert_api_key(&key, &user.id, &hash).await?,
        }
        Ok(key)
    }

    /// The user owning a live key, or `None` for an unknown or revoked key. Valid keys are
    /// remembered for [`KEY_CACHE_TTL`], so most requests cost no database read; while the
    /// database is unreachable, for [`KEY_OFFLINE_TTL`].
    pub async fn authenticate(&self, secret: &str) -> Result<Option<User>> {
        if !secret.starts_with(KEY_PREFIX) {
            return Ok(None);
        }
        let hash = hash_key(secret);
        if let Some(user) = self.keys.get(&hash, KEY_CACHE_TTL) {
            return Ok(Some(user));
        }
        match self.look_up_key(&hash).await {
            Err(e) if e.is_unavailable() => {
                self.keys.get(&hash, KEY_OFFLINE_TTL).map(Some).ok_or(e)
            }
            found => found,
        }
    }

    /// [`Store::authenticate`] without asking the database: a key validated within
    /// [`KEY_OFFLINE_TTL`], for when the database is known to be down.
    pub fn authenticate_offline(&self, secret: &str) -> Option<User> {
        self.keys.get(&hash_key(secret), KEY_OFFLINE_TTL)
    }

    async fn look_up_key(&self, hash: &str) -> Result<Option<User>> {
        let user: Option<User> = match &self.db {
            Db::Sqlite { read, .. } => sqlx::query_as(
                "SELECT u.id, u.name, u.is_admin, u.created_at FROM api_keys k JOIN users u ON u.id = k.user_id \
                 WHERE k.hash = ? AND k.revoked_at IS NULL",
            )
            .bind(hash)
            .fetch_optional(read)
            .await?,
            Db::Postgres(db) => db.user_by_key_hash(hash).await?,
        };
        if let Some(user) = &user {
            self.keys.put(hash.to_owned(), user.clone());
        }
        Ok(user)
    }
}
