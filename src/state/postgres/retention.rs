//! Pruning in PostgreSQL: once across instances (the pass takes an
//! advisory lock; an instance that finds it taken skips its turn), in
//! small batches, each its own transaction.

use std::time::Duration;

use super::sql::{exec, read};
use super::PgRepo;
use crate::id::TimeKey;
use crate::state::{Pruned, Retention, RetentionRepo, StateError};
use crate::time::{to_millis, Timestamp};

const PRUNE_LOCK: i64 = 0x7265_635f_7072_756e; // "rec_prun"
const BATCH: i64 = 256;
const PAUSE: Duration = Duration::from_millis(20);

/// Done jobs finished before $1, and the names that find them; a local
/// file's name stays (a sweep must not take the file for a new one).
const JOBS: &str = "WITH doomed AS (
        SELECT id FROM jobs WHERE state = 'done' AND updated_at < $1 LIMIT $2
        FOR UPDATE SKIP LOCKED),
    names AS (
        DELETE FROM job_names n USING doomed d WHERE n.job_id = d.id
        AND substring(n.identity FROM position('\\x0a'::bytea IN n.identity) + 1 FOR 1)
            <> '\\x2f'::bytea)
    DELETE FROM jobs j USING doomed d WHERE j.id = d.id";

/// Events recorded before $1, but not one a kept job was made from.
const EVENTS: &str = "WITH doomed AS (
        SELECT e.id FROM events e WHERE e.id < $1 AND NOT EXISTS (
            SELECT 1 FROM jobs j WHERE j.id = e.job_id
            AND j.job->>'event_id' = encode(e.id, 'hex'))
        ORDER BY e.id LIMIT $2)
    DELETE FROM events e USING doomed d WHERE e.id = d.id";

/// Rejected requests kept before $1.
const REJECTED: &str = "WITH doomed AS (SELECT id FROM rejected WHERE id < $1 ORDER BY id LIMIT $2)
    DELETE FROM rejected r USING doomed d WHERE r.id = d.id";

fn cutoff(now: Timestamp, keep: Duration) -> Timestamp {
    let keep = chrono::Duration::from_std(keep).unwrap_or(chrono::Duration::MAX);
    now.checked_sub_signed(keep)
        .unwrap_or(chrono::DateTime::UNIX_EPOCH)
}

/// The smallest key of records made at `t`.
fn key_at(t: Timestamp) -> Vec<u8> {
    TimeKey::new(to_millis(&t), 0).as_bytes().to_vec()
}

impl PgRepo {
    /// Runs `sql` in batches until it removes nothing more; how many it removed.
    async fn in_batches(
        &self,
        sql: &str,
        bound: &(dyn tokio_postgres::types::ToSql + Sync),
    ) -> Result<u64, StateError> {
        let mut n = 0;
        loop {
            let removed = read!(self, |c| exec(&c, sql, &[bound, &BATCH]).await)?;
            n += removed;
            if removed < BATCH as u64 {
                return Ok(n);
            }
            tokio::time::sleep(PAUSE).await;
        }
    }
}

#[async_trait::async_trait]
impl RetentionRepo for PgRepo {
    async fn prune(&self, r: Retention, now: Timestamp) -> Result<Pruned, StateError> {
        // Held on one connection for the pass; released with it.
        let c = self.client().await?;
        let locked: bool = c
            .query_one("SELECT pg_try_advisory_lock($1)", &[&PRUNE_LOCK])
            .await
            .map_err(super::sql::db_error)?
            .get(0);
        if !locked {
            return Ok(Pruned::default());
        }
        let pass = async {
            Ok::<_, StateError>(Pruned {
                jobs: self.in_batches(JOBS, &cutoff(now, r.finished_jobs)).await?,
                events: self
                    .in_batches(EVENTS, &key_at(cutoff(now, r.events)))
                    .await?,
                rejected: self
                    .in_batches(REJECTED, &key_at(cutoff(now, r.rejected)))
                    .await?,
            })
        }
        .await;
        let _ = c
            .execute("SELECT pg_advisory_unlock($1)", &[&PRUNE_LOCK])
            .await;
        pass
    }
}
