//! The PostgreSQL engine: the state in a database several instances share,
//! so no instance is the only copy of anything. A schema of its own
//! (`postgres/schema.rs`: jobs, events, catalog, streams, ... with the
//! dedupe in unique constraints), migrated at start under an advisory
//! lock. Every operation is one transaction, committed before it
//! resolves (a database with `synchronous_commit = off` is refused at
//! start); claims take `FOR UPDATE SKIP LOCKED` rows under the
//! same lease and fencing generation as the embedded engine; `NOTIFY`
//! wakes every instance's idle workers when a job is pushed.

mod catalog;
mod conn;
mod copy;
mod hls;
mod instance;
mod intake;
mod listen;
mod listing;
mod manifest;
mod push;
mod queue;
mod retention;
mod schema;
mod sql;
mod tls;
mod uploads;

use std::sync::{Arc, Mutex};
use std::time::Duration;

pub use conn::Target;
pub use copy::Copied;

use super::{HealthRepo, StateError};
use crate::config::StateConfig;
use crate::id::TimeKey;
use crate::time::{to_millis, Timestamp};

/// The state in PostgreSQL. Cheap to clone.
#[derive(Clone)]
pub struct PgRepo {
    inner: Arc<Inner>,
}

struct Inner {
    pool: deadpool_postgres::Pool,
    /// Where the pool connects, for the listener's own connection.
    target: Target,
    /// This instance's `instance_id`: its claims and its manifests.
    instance: String,
    /// `state.session_gap_secs`.
    session_gap: Duration,
    /// Ids drawn from the database a block at a time: (next, end).
    keys: Mutex<(u64, u64)>,
}

/// How many ids one draw from the `key_blocks` sequence gives.
const KEY_BLOCK: u64 = 1024;

impl PgRepo {
    /// Connects to the database `[state] url` names, migrating its schema.
    /// The daemon's: one process per `instance_id` (see `instance.rs`).
    pub async fn open(c: &StateConfig, instance: &str) -> Result<PgRepo, StateError> {
        let target = Target::parse(c.url.expose(), c.pool_size)?;
        let gap = Duration::from_secs(c.session_gap_secs);
        let repo = PgRepo::connect(target, instance, gap).await?;
        instance::hold(&repo.inner.target, instance).await?;
        Ok(repo)
    }

    /// Connects to `target` as `instance`, migrating the schema first.
    pub async fn connect(
        target: Target,
        instance: &str,
        session_gap: Duration,
    ) -> Result<PgRepo, StateError> {
        let pool = target.pool()?;
        schema::check_durable(&pool).await?;
        schema::migrate(&pool).await?;
        Ok(PgRepo {
            inner: Arc::new(Inner {
                pool,
                target,
                instance: instance.to_owned(),
                session_gap,
                keys: Mutex::new((0, 0)),
            }),
        })
    }

    /// A connection from the pool.
    async fn client(&self) -> Result<deadpool_postgres::Object, StateError> {
        self.inner.pool.get().await.map_err(conn::pool_error)
    }

    /// A fresh time-ordered key for `at`, unique across instances.
    async fn new_key(&self, at: &Timestamp) -> Result<TimeKey, StateError> {
        Ok(TimeKey::new(to_millis(at), self.seq().await?))
    }

    /// The next unique sequence number, drawn in blocks.
    async fn seq(&self) -> Result<u64, StateError> {
        let take = |k: &mut (u64, u64)| {
            (k.0 < k.1).then(|| {
                k.0 += 1;
                k.0 - 1
            })
        };
        if let Some(n) = take(&mut self.lock_keys()) {
            return Ok(n);
        }
        let c = self.client().await?;
        let base: i64 = c
            .query_one("SELECT nextval('key_blocks')", &[])
            .await
            .map_err(sql::db_error)?
            .get(0);
        let base = u64::try_from(base).unwrap_or_default();
        let mut k = self.lock_keys();
        *k = (base, base + KEY_BLOCK);
        Ok(take(&mut k).unwrap_or(base))
    }

    fn lock_keys(&self) -> std::sync::MutexGuard<'_, (u64, u64)> {
        self.inner.keys.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// `n` fresh job ids for `now`.
    async fn job_ids(
        &self,
        n: usize,
        now: &Timestamp,
    ) -> Result<Vec<crate::id::JobId>, StateError> {
        let mut ids = Vec::with_capacity(n);
        for _ in 0..n {
            ids.push(crate::id::JobId(self.new_key(now).await?));
        }
        Ok(ids)
    }
}

#[async_trait::async_trait]
impl HealthRepo for PgRepo {
    /// Every failure is the failed call's own: a database that is back is
    /// used again by the next call, with no reopening.
    fn write_failure(&self) -> Option<StateError> {
        None
    }

    async fn durable(&self) -> Result<(), StateError> {
        // Every operation resolves after its synchronous COMMIT.
        Ok(())
    }

    async fn probe_write(&self) -> Result<(), StateError> {
        let c = self.client().await?;
        let sql = "INSERT INTO probes (instance, at) VALUES ($1, now()) \
                   ON CONFLICT (instance) DO UPDATE SET at = now()";
        c.execute(sql, &[&self.inner.instance])
            .await
            .map(drop)
            .map_err(sql::db_error)
    }

    async fn flush(&self) -> Result<(), StateError> {
        Ok(())
    }

    async fn heal(&self) {
        // Nothing to reopen: the pool replaces connections a restart closed.
        std::future::pending::<()>().await
    }
}

/// Runs `$body` (which reads `$tx`, a transaction, and returns
/// `Result<_, sql::E>`) and commits it; run again from the start when the
/// database aborted it for a conflict (a deadlock, a serialization failure).
macro_rules! in_tx {
    ($repo:expr, |$tx:ident| $body:expr) => {{
        let mut attempt = 0u32;
        loop {
            let mut client = $repo.client().await?;
            let $tx = client
                .transaction()
                .await
                .map_err($crate::state::postgres::sql::db_error)?;
            let done: Result<_, $crate::state::postgres::sql::E> = async { $body }.await;
            let done = match done {
                Ok(v) => $tx.commit().await.map(|()| v).map_err(Into::into),
                Err(e) => Err(e),
            };
            match done {
                Ok(v) => break Ok::<_, $crate::state::StateError>(v),
                Err(e) if e.is_conflict() && attempt < 8 => attempt += 1,
                Err(e) => break Err(e.into()),
            }
        }
    }};
}
pub(crate) use in_tx;
