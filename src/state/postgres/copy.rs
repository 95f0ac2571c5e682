//! `state copy` into PostgreSQL: the records of another engine written in
//! one transaction (all or nothing), into a database that holds no state.

use std::collections::BTreeMap;

use deadpool_postgres::GenericClient;

use super::sql::{db_error, exec, json, opt, E};
use super::{catalog, hls, manifest, queue, uploads, PgRepo};
use crate::id::TimeKey;
use crate::state::copy::{HlsKey, Record};
use crate::state::StateError;

/// How many records of each kind were copied.
pub type Copied = BTreeMap<&'static str, u64>;

impl PgRepo {
    /// Whether the database holds no state yet (its schema aside).
    pub async fn is_empty(&self) -> Result<bool, StateError> {
        let c = self.client().await?;
        for table in ["jobs", "events", "catalog", "rejected", "streams"] {
            let sql = format!("SELECT 1 FROM {table} LIMIT 1");
            if opt(&c, &sql, &[]).await?.is_some() {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// Writes every record `records` brings, in one transaction committed
    /// only once `export` (what sends them) says it sent them all; the ids
    /// drawn afterwards follow the highest copied.
    pub async fn import(
        &self,
        mut records: tokio::sync::mpsc::Receiver<Record>,
        export: tokio::task::JoinHandle<Result<(), StateError>>,
    ) -> Result<Copied, StateError> {
        let mut c = self.client().await?;
        let tx = c.transaction().await.map_err(db_error)?;
        let (mut copied, mut highest) = (Copied::new(), 0u64);
        while let Some(r) = records.recv().await {
            *copied.entry(r.kind()).or_default() += 1;
            if let Some(k) = key_of(&r) {
                highest = highest.max(u64::from_be_bytes(
                    k.as_bytes()[8..].try_into().unwrap_or([0; 8]),
                ));
            }
            self.write(&tx, r).await?;
        }
        export
            .await
            .map_err(|e| StateError::Engine(format!("the export stopped: {e}")))??;
        let sql = "SELECT setval('key_blocks', greatest($1, (SELECT last_value FROM key_blocks)))";
        let past = i64::try_from(highest.saturating_add(1)).unwrap_or(i64::MAX);
        exec(&tx, sql, &[&past]).await?;
        tx.commit().await.map_err(db_error)?;
        Ok(copied)
    }

    async fn write(&self, c: &impl GenericClient, r: Record) -> Result<(), E> {
        let instance = self.inner.instance.as_str();
        match r {
            Record::Event(e) => {
                let sql = "INSERT INTO events (id, job_id, event) VALUES ($1, $2, $3)";
                let job = e.job_id.map(|j| j.key().to_vec());
                exec(c, sql, &[&&e.id.key()[..], &job, &json(&e)]).await?;
            }
            Record::Job(j) => queue::put(c, &j, instance, true).await?,
            Record::Name(identity, id) => {
                let sql = "INSERT INTO job_names (identity, job_id) VALUES ($1, $2)";
                exec(c, sql, &[&identity, &&id.key()[..]]).await?;
            }
            Record::Rejected(r) => {
                let sql = "INSERT INTO rejected (id, source, request) VALUES ($1, $2, $3)";
                exec(c, sql, &[&&r.id.key()[..], &r.source, &json(&r)]).await?;
            }
            Record::Stream(key, s) => {
                let sql = "INSERT INTO streams (key, stream) VALUES ($1, $2)";
                exec(c, sql, &[&key, &json(&s)]).await?;
            }
            Record::Entry(e) => catalog::file(c, &e).await?,
            Record::Abandoned(a) => uploads::put(c, &a).await?,
            Record::HlsOpen(key, open) => hls::put_open(c, &key, &open).await?,
            Record::HlsPart(k, part) => {
                let sql = "INSERT INTO hls_parts (source, playlist, since, origin, job_id, part) \
                           VALUES ($1, $2, $3, $4, $5, $6)";
                let HlsKey {
                    source,
                    playlist,
                    since,
                } = k;
                let p: super::sql::Params = &[
                    &source,
                    &playlist,
                    &since,
                    &part.origin.as_str(),
                    &&part.job_id.key()[..],
                    &json(&part),
                ];
                exec(c, sql, p).await?;
            }
            Record::HlsPending(k, job) => {
                let sql = "INSERT INTO hls_pending (source, playlist, since, job_id) \
                           VALUES ($1, $2, $3, $4)";
                let p: super::sql::Params = &[&k.source, &k.playlist, &k.since, &&job.key()[..]];
                exec(c, sql, p).await?;
            }
            Record::ManifestQueued(id) => catalog::queue_manifest(c, instance, &id).await?,
            Record::ManifestBatch(b) => manifest::put_batch(c, instance, &b).await?,
            Record::ManifestNext(n) => {
                let sql = "INSERT INTO manifest_numbers (instance, next) VALUES ($1, $2) \
                           ON CONFLICT (instance) DO UPDATE SET next = excluded.next";
                exec(c, sql, &[&instance, &(n as i64)]).await?;
            }
        }
        Ok(())
    }
}

/// The time-ordered key a record is stored under, if it has one.
fn key_of(r: &Record) -> Option<TimeKey> {
    match r {
        Record::Event(e) => Some(e.id.0),
        Record::Job(j) => Some(j.id.0),
        Record::Rejected(r) => Some(r.id.0),
        Record::Entry(e) => Some(e.id.0),
        _ => None,
    }
}
