//! The state store: sled, its trees, its schema version, and every read and
//! write the daemon makes to it. Only this module knows it is sled.

mod catalog;
mod ingest;
mod jobs;
pub mod keys;
mod listing;
mod writer;

use std::path::Path;
use std::sync::Arc;

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::queue::{Job, JobState};
use crate::time::{to_millis, Timestamp};

pub use ingest::Recorded;
pub use jobs::Guard;
pub use listing::{Page, PageRequest};

use keys::TimeKey;
use writer::Writer;

/// The on-disk layout this build reads and writes.
pub const SCHEMA_VERSION: u32 = 1;

const SCHEMA_KEY: &[u8] = b"schema_version";

/// A state store failure.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("state store: {0}")]
    Sled(#[from] sled::Error),
    #[error("state store: {0}")]
    Transaction(String),
    #[error(
        "the state directory was written by a newer recording-archiver (schema {found}); \
         this build reads schema {SCHEMA_VERSION} at most. Run the newer version, or point \
         state.dir elsewhere"
    )]
    NewerSchema { found: u32 },
    #[error("state store holds unreadable data in {tree}: {message}")]
    Corrupt { tree: &'static str, message: String },
    #[error("cannot start the state writer thread: {0}")]
    Thread(#[from] std::io::Error),
}

/// The named trees.
#[derive(Clone)]
struct Trees {
    meta: sled::Tree,
    /// TimeKey → Event JSON.
    events: sled::Tree,
    /// TimeKey (job id) → Job JSON.
    jobs: sled::Tree,
    /// due millis ++ job TimeKey → (): the jobs due next, first.
    due: sled::Tree,
    /// idempotency key → job TimeKey.
    dedupe: sled::Tree,
    /// TimeKey → RejectedRequest JSON.
    rejected: sled::Tree,
    /// source \0 domain \0 app \0 stream → StreamState JSON.
    streams: sled::Tree,
    /// TimeKey (archived) → CatalogEntry JSON.
    catalog: sled::Tree,
    /// stream \0 entry TimeKey → (): the catalog by stream.
    catalog_by_stream: sled::Tree,
}

/// The open state store. Cheap to clone.
#[derive(Clone)]
pub struct Db {
    inner: Arc<Inner>,
}

struct Inner {
    // Declared first so the writer drains before sled closes.
    writer: Writer,
    db: sled::Db,
    trees: Trees,
}

impl Db {
    /// Opens (or creates) the store under `dir`, checking its schema version.
    pub fn open(dir: &Path) -> Result<Db, DbError> {
        let db = sled::Config::new()
            .path(dir)
            .mode(sled::Mode::HighThroughput)
            .open()?;
        let trees = Trees {
            meta: db.open_tree("meta")?,
            events: db.open_tree("events")?,
            jobs: db.open_tree("jobs")?,
            due: db.open_tree("due")?,
            dedupe: db.open_tree("dedupe")?,
            rejected: db.open_tree("rejected")?,
            streams: db.open_tree("streams")?,
            catalog: db.open_tree("catalog")?,
            catalog_by_stream: db.open_tree("catalog_by_stream")?,
        };
        match trees.meta.get(SCHEMA_KEY)? {
            None => {
                trees
                    .meta
                    .insert(SCHEMA_KEY, &SCHEMA_VERSION.to_be_bytes())?;
                db.flush()?;
            }
            Some(v) => {
                let found = <[u8; 4]>::try_from(v.as_ref())
                    .map(u32::from_be_bytes)
                    .map_err(|_| DbError::Corrupt {
                        tree: "meta",
                        message: "schema_version is not 4 bytes".to_owned(),
                    })?;
                if found > SCHEMA_VERSION {
                    return Err(DbError::NewerSchema { found });
                }
            }
        }
        let writer = Writer::start(db.clone(), trees.clone())?;
        Ok(Db {
            inner: Arc::new(Inner { writer, db, trees }),
        })
    }

    fn trees(&self) -> &Trees {
        &self.inner.trees
    }

    /// Flushes synchronously (at shutdown).
    pub fn flush_now(&self) -> Result<(), DbError> {
        self.inner.db.flush()?;
        Ok(())
    }

    /// A fresh time-ordered key for `at`.
    fn new_key(&self, at: &Timestamp) -> Result<TimeKey, DbError> {
        Ok(TimeKey::new(to_millis(at), self.inner.db.generate_id()?))
    }

    /// Puts jobs a crash left `running` back to `queued`, due now. Their
    /// multipart upload, if any, stays recorded so the next claim aborts it.
    /// Returns how many.
    pub fn requeue_running(&self, now: Timestamp) -> Result<usize, DbError> {
        let mut ids = Vec::new();
        for item in self.trees().jobs.iter() {
            let (_, v) = item?;
            let job: Job = decode("jobs", &v)?;
            if job.state == JobState::Running {
                ids.push(job.id);
            }
        }
        let mut n = 0;
        for id in ids {
            let moved = self.transition(
                &id,
                Guard::State(JobState::Running),
                |j| {
                    j.state = JobState::Queued;
                    j.next_attempt_at = now;
                    j.lease_until = None;
                    j.updated_at = now;
                },
                None,
            )?;
            n += usize::from(moved.is_some());
        }
        Ok(n)
    }

    /// One job by id.
    pub fn job(&self, id: &str) -> Result<Option<Job>, DbError> {
        let Some(key) = TimeKey::parse(id) else {
            return Ok(None);
        };
        self.trees()
            .jobs
            .get(key.as_bytes())?
            .map(|v| decode("jobs", &v))
            .transpose()
    }
}

/// A record by its id (the hex of its time key); `None` for ids that are not ours.
fn by_id<T: DeserializeOwned>(
    tree: &sled::Tree,
    name: &'static str,
    id: &str,
) -> Result<Option<T>, DbError> {
    let Some(key) = TimeKey::parse(id) else {
        return Ok(None);
    };
    tree.get(key.as_bytes())?
        .map(|v| decode(name, &v))
        .transpose()
}

fn encode<T: Serialize>(v: &T) -> Vec<u8> {
    // Our own types always serialize; a failure here is a bug, not input.
    serde_json::to_vec(v).expect("state records serialize to JSON")
}

fn decode<T: DeserializeOwned>(tree: &'static str, bytes: &[u8]) -> Result<T, DbError> {
    serde_json::from_slice(bytes).map_err(|e| DbError::Corrupt {
        tree,
        message: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_newer_schema_is_refused_with_a_clear_message() {
        let dir = tempfile::tempdir().unwrap();
        {
            let db = sled::open(dir.path()).unwrap();
            let meta = db.open_tree("meta").unwrap();
            meta.insert(SCHEMA_KEY, &99u32.to_be_bytes()).unwrap();
            db.flush().unwrap();
        }
        // sled's background flusher may hold the directory's lock a moment
        // after the handle is dropped: wait that out, not the assertion.
        let mut e = String::new();
        for _ in 0..100 {
            e = Db::open(dir.path()).err().expect("must refuse").to_string();
            if !e.contains("lock") {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        assert!(e.contains("newer recording-archiver (schema 99)"), "{e}");
    }

    #[tokio::test]
    async fn jobs_left_running_by_a_crash_are_queued_again_on_start() {
        use crate::event::{EventKind, FileInfo, Location, ParsedEvent};
        use crate::providers::Provider;
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(dir.path()).unwrap();
        let now = chrono::Utc::now();
        let mut p = ParsedEvent::new(Provider::Jdcloud, EventKind::RecordingReady, "record_done");
        p.file = Some(FileInfo {
            location: Location::Url("http://h/a.flv".into()),
            size: None,
            format: None,
            started_at: None,
            ended_at: None,
            duration_s: None,
            group: Vec::new(),
        });
        let rec = db
            .record_events(vec![p.into_event("jd", now, "{}")], now)
            .await
            .unwrap();
        let mut job = rec[0].new_job.clone().unwrap();
        job.state = JobState::Running;
        let key = TimeKey::parse(&job.id).unwrap();
        db.trees()
            .jobs
            .insert(key.as_bytes(), encode(&job))
            .unwrap();

        assert_eq!(db.requeue_running(now).unwrap(), 1);
        assert_eq!(db.job(&job.id).unwrap().unwrap().state, JobState::Queued);
        assert_eq!(
            db.requeue_running(now).unwrap(),
            0,
            "only running jobs move"
        );
    }

    #[test]
    fn the_schema_version_is_written_on_creation() {
        let dir = tempfile::tempdir().unwrap();
        drop(Db::open(dir.path()).unwrap());
        let db = sled::open(dir.path()).unwrap();
        let v = db
            .open_tree("meta")
            .unwrap()
            .get(SCHEMA_KEY)
            .unwrap()
            .unwrap();
        assert_eq!(v.as_ref(), &SCHEMA_VERSION.to_be_bytes());
    }
}
