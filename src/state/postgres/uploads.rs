//! Uploads kept for the janitor, in PostgreSQL.

use deadpool_postgres::GenericClient;

use super::sql::{exec, json, read, record, rows, E};
use super::PgRepo;
use crate::queue::UploadRecord;
use crate::state::{Abandoned, StateError, UploadRepo};
use crate::time::Timestamp;

pub(super) async fn put(c: &impl GenericClient, a: &Abandoned) -> Result<(), E> {
    let sql = "INSERT INTO abandoned_uploads (upload_id, next_at, upload) VALUES ($1, $2, $3) \
               ON CONFLICT (upload_id) DO UPDATE SET next_at = excluded.next_at, \
               upload = excluded.upload";
    exec(c, sql, &[&a.upload.upload_id, &a.next_at, &json(a)])
        .await
        .map(drop)
}

/// Keeps `rec` for the janitor, in the transaction `c`.
pub async fn abandon_in(
    c: &impl GenericClient,
    rec: UploadRecord,
    now: Timestamp,
) -> Result<(), E> {
    put(c, &Abandoned::new(rec, now)).await
}

#[async_trait::async_trait]
impl UploadRepo for PgRepo {
    async fn abandon(&self, rec: UploadRecord, now: Timestamp) -> Result<(), StateError> {
        read!(self, |c| abandon_in(&c, rec, now).await)
    }

    async fn abandoned_due(&self, now: Timestamp) -> Result<Vec<Abandoned>, StateError> {
        let sql = "SELECT upload FROM abandoned_uploads WHERE next_at <= $1 ORDER BY upload_id";
        read!(self, |c| {
            let found = rows(&c, sql, &[&now]).await?;
            found
                .iter()
                .map(|r| record(r, 0, "abandoned_uploads"))
                .collect()
        })
    }

    async fn abandoned_ids(&self) -> Result<Vec<String>, StateError> {
        let sql = "SELECT upload_id FROM abandoned_uploads ORDER BY upload_id";
        read!(self, |c| Ok(rows(&c, sql, &[])
            .await?
            .iter()
            .map(|r| r.get(0))
            .collect()))
    }

    async fn abandoned_later(&self, a: Abandoned) -> Result<(), StateError> {
        read!(self, |c| put(&c, &a).await)
    }

    async fn abandoned_gone(&self, upload_id: &str) -> Result<(), StateError> {
        let sql = "DELETE FROM abandoned_uploads WHERE upload_id = $1";
        read!(self, |c| exec(&c, sql, &[&upload_id]).await.map(drop))
    }
}
