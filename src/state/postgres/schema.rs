//! The engine's schema, embedded and versioned: each migration applied
//! once, in order, at start, under an advisory lock so that instances
//! starting together do not race.

use deadpool_postgres::Pool;

use super::sql::db_error;
use crate::state::StateError;

/// The advisory lock migrations run under (any number of our own).
const MIGRATION_LOCK: i64 = 0x7265_635f_6172_6368; // "rec_arch"

/// Every migration, in order; a migration's number is its place + 1.
const MIGRATIONS: &[&str] = &[r#"
CREATE SEQUENCE key_blocks INCREMENT BY 1024 MINVALUE 1 START 1;

-- Jobs: the record whole in `job`; what claims, dedupe and the API ask by
-- in columns. `due_at` is when it may be claimed (a running job's lease).
CREATE TABLE jobs (
    id          bytea PRIMARY KEY,
    lane        smallint NOT NULL,
    state       text NOT NULL,
    due_at      timestamptz,
    claimed_by  text,
    updated_at  timestamptz NOT NULL,
    upload_id   text,
    job         jsonb NOT NULL
);
CREATE INDEX jobs_due ON jobs (lane, due_at) WHERE due_at IS NOT NULL;
CREATE INDEX jobs_state ON jobs (state);
CREATE INDEX jobs_upload ON jobs (upload_id) WHERE upload_id IS NOT NULL;

-- The names a file (or a notification) is known by: one job each.
CREATE TABLE job_names (
    identity    bytea PRIMARY KEY,
    job_id      bytea NOT NULL
);

CREATE TABLE events (
    id          bytea PRIMARY KEY,
    job_id      bytea,
    event       jsonb NOT NULL
);

CREATE TABLE streams (
    key         bytea PRIMARY KEY,
    stream      jsonb NOT NULL
);

CREATE TABLE rejected (
    id          bytea PRIMARY KEY,
    source      text NOT NULL,
    request     jsonb NOT NULL
);
CREATE INDEX rejected_source ON rejected (source);

CREATE TABLE catalog (
    id          bytea PRIMARY KEY,
    stream      text NOT NULL,
    entry       jsonb NOT NULL
);
CREATE INDEX catalog_stream ON catalog (stream, id);

-- Multipart uploads nothing will finish, kept until the store says gone.
CREATE TABLE abandoned_uploads (
    upload_id   text PRIMARY KEY,
    next_at     timestamptz NOT NULL,
    upload      jsonb NOT NULL
);

-- HLS recordings announced segment by segment: the one a stream writes,
-- segments announced but not archived, parts archived ahead of the playlist.
CREATE TABLE hls_open (
    stream_key  bytea PRIMARY KEY,
    open        jsonb NOT NULL
);
CREATE TABLE hls_pending (
    source      text NOT NULL,
    playlist    text NOT NULL,
    since       bigint NOT NULL,
    job_id      bytea NOT NULL,
    PRIMARY KEY (source, playlist, since, job_id)
);
CREATE TABLE hls_parts (
    source      text NOT NULL,
    playlist    text NOT NULL,
    since       bigint NOT NULL,
    origin      text NOT NULL,
    job_id      bytea NOT NULL,
    part        jsonb NOT NULL,
    PRIMARY KEY (source, playlist, since, origin)
);

-- Each instance's manifests: entries queued, batches cut, the next number.
CREATE TABLE manifest_queue (
    instance    text NOT NULL,
    entry_id    bytea NOT NULL,
    PRIMARY KEY (instance, entry_id)
);
CREATE TABLE manifest_batches (
    instance    text NOT NULL,
    n           bigint NOT NULL,
    batch       jsonb NOT NULL,
    PRIMARY KEY (instance, n)
);
CREATE TABLE manifest_numbers (
    instance    text PRIMARY KEY,
    next        bigint NOT NULL
);

-- Readiness probes: a real write per instance.
CREATE TABLE probes (
    instance    text PRIMARY KEY,
    at          timestamptz NOT NULL
);
"#];

/// Refuses a database that acknowledges a COMMIT before its WAL is on
/// disk: a callback answered 200 would not survive the database's crash.
/// (Checked, not set: a startup option would be refused by PgBouncer.)
pub async fn check_durable(pool: &Pool) -> Result<(), StateError> {
    let c = pool.get().await.map_err(super::conn::pool_error)?;
    let row = c.query_one("SHOW synchronous_commit", &[]).await;
    let mode: String = row.map_err(db_error)?.get(0);
    if mode == "off" {
        return Err(StateError::Engine(
            "the database runs with synchronous_commit = off, so a callback answered 200 \
             could be lost if it crashed: set it on for the archiver's role \
             (ALTER ROLE <user> SET synchronous_commit = on)"
                .into(),
        ));
    }
    Ok(())
}

/// Applies the migrations this database lacks; refuses a database a newer
/// build migrated.
pub async fn migrate(pool: &Pool) -> Result<(), StateError> {
    let mut c = pool.get().await.map_err(super::conn::pool_error)?;
    c.batch_execute(
        "CREATE TABLE IF NOT EXISTS archiver_migrations (
             version integer PRIMARY KEY,
             applied_at timestamptz NOT NULL DEFAULT now())",
    )
    .await
    .or_else(already_made)?;
    c.execute("SELECT pg_advisory_lock($1)", &[&MIGRATION_LOCK])
        .await
        .map_err(db_error)?;
    let applied = apply(&mut c).await;
    let unlocked = c
        .execute("SELECT pg_advisory_unlock($1)", &[&MIGRATION_LOCK])
        .await;
    applied?;
    unlocked.map(drop).map_err(db_error)
}

/// `CREATE TABLE IF NOT EXISTS` run by two instances at once may still
/// collide on the catalog's unique index: the other made it.
fn already_made(e: tokio_postgres::Error) -> Result<(), StateError> {
    use tokio_postgres::error::SqlState;
    match e.code() {
        Some(c) if *c == SqlState::UNIQUE_VIOLATION => Ok(()),
        _ => Err(db_error(e)),
    }
}

async fn apply(c: &mut deadpool_postgres::Object) -> Result<(), StateError> {
    let found: i32 = c
        .query_one(
            "SELECT coalesce(max(version), 0) FROM archiver_migrations",
            &[],
        )
        .await
        .map_err(db_error)?
        .get(0);
    let max = MIGRATIONS.len() as u32;
    let found = u32::try_from(found).unwrap_or(0);
    if found > max {
        return Err(StateError::NewerSchema { found, max });
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(found as usize) {
        let tx = c.transaction().await.map_err(db_error)?;
        tx.batch_execute(sql).await.map_err(db_error)?;
        let version = i as i32 + 1;
        tx.execute(
            "INSERT INTO archiver_migrations (version) VALUES ($1)",
            &[&version],
        )
        .await
        .map_err(db_error)?;
        tx.commit().await.map_err(db_error)?;
        tracing::info!(version, "database schema migrated");
    }
    Ok(())
}
