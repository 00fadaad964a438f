use crate::{Db, Result, Scope, Store};

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct StoredMessage {
    pub job_id: String,
    pub data: String,
    pub template: String,
    pub created_at: i64,
}

impl Store {
    /// The newest messages first.
    pub async fn list_messages(&self, scope: &Scope, limit: u32) -> Result<Vec<StoredMessage>> {
        let read = match &self.db {
            Db::Sqlite { read, .. } => read,
            Db::Postgres(db) => return db.list_messages(scope, limit).await,
        };
        Ok(sqlx::query_as(
            "SELECT job_id, data, template, created_at FROM messages \
             WHERE (?1 IS NULL OR owner = ?1) ORDER BY seq DESC LIMIT ?2",
        )
        .bind(scope.owner())
        .bind(limit)
        .fetch_all(read)
        .await?)
    }
}
