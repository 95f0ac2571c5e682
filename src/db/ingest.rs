//! Recording what a callback brought: its events, the jobs they create (or
//! match, for a platform's retry), stream liveness, and rejected requests.
//! Applied by the writer thread (`writer.rs`), many requests per transaction.

use sled::transaction::{ConflictableTransactionError, TransactionError, TransactionalTree};
use sled::Transactional;

use super::keys::{due_key, TimeKey};
use super::{decode, encode, Db, DbError, Trees};
use crate::event::Event;
use crate::queue::{idempotency_key, Job};
use crate::rejected::RejectedRequest;
use crate::stream::StreamState;
use crate::time::{to_millis, Timestamp};

/// The outcome for one event: it is stored, with its job if it has one.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub event: Event,
    /// The job this event created (not set for a duplicate).
    pub new_job: Option<Job>,
}

type TxResult<T> = Result<T, ConflictableTransactionError<DbError>>;

fn corrupt(e: DbError) -> ConflictableTransactionError<DbError> {
    ConflictableTransactionError::Abort(e)
}

/// An event with its key, and the job it creates unless its file is already queued.
pub struct Prepared {
    key: TimeKey,
    event: Event,
    job: Option<(TimeKey, Job)>,
}

/// One request's writes, as the writer thread applies them.
pub enum Write {
    /// A parsed callback: its events.
    Events(Vec<Prepared>),
    /// A request we could not parse, kept whole.
    Rejected(TimeKey, Box<RejectedRequest>),
    /// Nothing to write: only wait for everything before it to be durable.
    Flush,
}

/// What a [`Write`] came to.
pub enum Outcome {
    Events(Vec<Recorded>),
    Rejected(Box<RejectedRequest>),
    Flushed,
}

/// Applies a batch of writes in one transaction; outcomes in the same order.
pub(super) fn apply(t: &Trees, writes: &[Write]) -> Result<Vec<Outcome>, DbError> {
    let result = (
        &t.events,
        &t.jobs,
        &t.due,
        &t.dedupe,
        &t.streams,
        &t.rejected,
    )
        .transaction(|(events, jobs, due, dedupe, streams, rejected)| {
            let mut outcomes = Vec::with_capacity(writes.len());
            for write in writes {
                outcomes.push(match write {
                    Write::Events(prepared) => {
                        let mut out = Vec::with_capacity(prepared.len());
                        for Prepared { key, event, job } in prepared {
                            let mut event = event.clone();
                            let mut new_job = None;
                            if let Some((job_key, job)) = job {
                                let idem = idempotency_key(&job.source, &job.origin);
                                match dedupe.get(idem.as_bytes())? {
                                    Some(existing) => {
                                        let existing =
                                            TimeKey::from_bytes(&existing).ok_or_else(|| {
                                                corrupt(DbError::Corrupt {
                                                    tree: "dedupe",
                                                    message: "job key is not 16 bytes".to_owned(),
                                                })
                                            })?;
                                        event.job_id = Some(existing.to_string());
                                        event.duplicate = true;
                                    }
                                    None => {
                                        jobs.insert(job_key.as_bytes(), encode(job))?;
                                        due.insert(
                                            &due_key(to_millis(&job.next_attempt_at), job_key)[..],
                                            &[],
                                        )?;
                                        dedupe.insert(idem.as_bytes(), job_key.as_bytes())?;
                                        event.job_id = Some(job.id.clone());
                                        new_job = Some(job.clone());
                                    }
                                }
                            }
                            update_stream(streams, &event)?;
                            events.insert(key.as_bytes(), encode(&event))?;
                            out.push(Recorded { event, new_job });
                        }
                        Outcome::Events(out)
                    }
                    Write::Rejected(key, r) => {
                        rejected.insert(key.as_bytes(), encode(r))?;
                        Outcome::Rejected(r.clone())
                    }
                    Write::Flush => Outcome::Flushed,
                });
            }
            Ok(outcomes)
        });
    result.map_err(|e| match e {
        TransactionError::Abort(e) => e,
        TransactionError::Storage(e) => DbError::Sled(e),
    })
}

impl Db {
    /// Stores `events` (ids assigned here) and a job for each archivable one,
    /// all or nothing, and resolves once that is on disk.
    pub async fn record_events(
        &self,
        events: Vec<Event>,
        now: Timestamp,
    ) -> Result<Vec<Recorded>, DbError> {
        // Ids are drawn here, outside the transaction: a retried transaction
        // must not burn new ones, and generate_id is not transactional anyway.
        let mut prepared = Vec::with_capacity(events.len());
        for mut event in events {
            let key = self.new_key(&event.received_at)?;
            event.id = key.to_string();
            let job = match event.archivable_file() {
                Some(_) => {
                    let job_key = self.new_key(&now)?;
                    Job::for_event(job_key.to_string(), &event, now).map(|j| (job_key, j))
                }
                None => None,
            };
            prepared.push(Prepared { key, event, job });
        }
        match self.inner.writer.submit(Write::Events(prepared)).await? {
            Outcome::Events(recorded) => Ok(recorded),
            _ => unreachable!("the writer answers each write with its own outcome"),
        }
    }

    /// Keeps a request we could not parse (id assigned here); resolves once on disk.
    pub async fn record_rejected(
        &self,
        mut r: RejectedRequest,
    ) -> Result<RejectedRequest, DbError> {
        let key = self.new_key(&r.received_at)?;
        r.id = key.to_string();
        match self
            .inner
            .writer
            .submit(Write::Rejected(key, Box::new(r)))
            .await?
        {
            Outcome::Rejected(r) => Ok(*r),
            _ => unreachable!("the writer answers each write with its own outcome"),
        }
    }

    /// One kept request by id.
    pub fn rejected(&self, id: &str) -> Result<Option<RejectedRequest>, DbError> {
        super::by_id(&self.trees().rejected, "rejected", id)
    }

    /// Notes which events a replay turned a kept request into.
    pub fn mark_replayed(&self, r: &RejectedRequest, events: Vec<String>) -> Result<(), DbError> {
        let Some(key) = TimeKey::parse(&r.id) else {
            return Ok(());
        };
        let mut r = r.clone();
        r.replayed_as = Some(events);
        self.trees().rejected.insert(key.as_bytes(), encode(&r))?;
        Ok(())
    }

    /// Resolves once every write made before the call is on disk. Concurrent
    /// callers share one flush.
    pub async fn durable(&self) -> Result<(), DbError> {
        self.inner.writer.submit(Write::Flush).await.map(|_| ())
    }
}

fn update_stream(streams: &TransactionalTree, event: &Event) -> TxResult<()> {
    if !StreamState::concerns(event) {
        return Ok(());
    }
    let Some(key) = StreamState::key_of(event) else {
        return Ok(());
    };
    let prev = match streams.get(&key)? {
        Some(v) => Some(decode::<StreamState>("streams", &v).map_err(corrupt)?),
        None => None,
    };
    if let Some(next) = StreamState::apply(prev, event) {
        streams.insert(key, encode(&next))?;
    }
    Ok(())
}
