//! The reliability suite's flood and checks, shared by its cases on one
//! instance (tests/reliability.rs) and on several over one PostgreSQL
//! (tests/postgres.rs): callbacks sent as platforms send them until each
//! gets its 200, workloads of files in every platform's shape, and the
//! checks that nothing acknowledged is lost and each file is archived once.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::origin::{Content, FileSpec, Origin};
use super::platforms::{self, Callback, Lcg};
use super::s3::S3Server;
use super::Daemon;

/// The bucket the cases archive into.
pub const BUCKET: &str = "archive";

/// One acknowledged callback: which, and the events and jobs it answered.
pub struct Acked {
    pub callback: usize,
    pub at: Instant,
    pub events: Vec<String>,
    pub jobs: Vec<String>,
}

#[derive(Default)]
struct Pending {
    queue: VecDeque<usize>,
    in_flight: usize,
}

/// Callbacks sent the way a platform sends them: each until it gets a 200
/// (a refusal or a dead connection is tried again), by a few senders at
/// once, to wherever the daemon listens now.
pub struct Flood {
    pub callbacks: Vec<Callback>,
    pending: Mutex<Pending>,
    base: RwLock<String>,
    pub acked: Mutex<Vec<Acked>>,
    pub attempts: AtomicU64,
    /// Answers other than 200 (by status).
    pub refused: Mutex<HashMap<u16, u64>>,
    pub unanswered: AtomicU64,
}

impl Flood {
    pub fn new(callbacks: Vec<Callback>, base: &str) -> Arc<Flood> {
        Arc::new(Flood {
            pending: Mutex::new(Pending {
                queue: (0..callbacks.len()).collect(),
                in_flight: 0,
            }),
            callbacks,
            base: RwLock::new(base.to_owned()),
            acked: Mutex::default(),
            attempts: AtomicU64::new(0),
            refused: Mutex::default(),
            unanswered: AtomicU64::new(0),
        })
    }

    pub fn point_at(&self, base: &str) {
        *self.base.write().unwrap() = base.to_owned();
    }

    /// `senders` tasks, each pausing `pace` between callbacks.
    pub fn start(
        self: &Arc<Self>,
        senders: usize,
        pace: Duration,
    ) -> Vec<tokio::task::JoinHandle<()>> {
        (0..senders)
            .map(|_| {
                let flood = Arc::clone(self);
                tokio::spawn(async move { flood.send_all(pace).await })
            })
            .collect()
    }

    async fn send_all(&self, pace: Duration) {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .unwrap();
        loop {
            let next = {
                let mut p = self.pending.lock().unwrap();
                match p.queue.pop_front() {
                    Some(i) => {
                        p.in_flight += 1;
                        Some(i)
                    }
                    None if p.in_flight == 0 => return,
                    None => None,
                }
            };
            let Some(i) = next else {
                tokio::time::sleep(Duration::from_millis(20)).await;
                continue;
            };
            let base = self.base.read().unwrap().clone();
            self.attempts.fetch_add(1, Ordering::Relaxed);
            let sent = self.callbacks[i].send(&http, &base).await;
            let ok = match sent {
                Ok((200, reply)) => {
                    let ids = |k: &str| -> Vec<String> {
                        reply[k]
                            .as_array()
                            .into_iter()
                            .flatten()
                            .filter_map(|v| v.as_str().map(str::to_owned))
                            .collect()
                    };
                    self.acked.lock().unwrap().push(Acked {
                        callback: i,
                        at: Instant::now(),
                        events: ids("events"),
                        jobs: ids("jobs"),
                    });
                    true
                }
                Ok((status, _)) => {
                    *self.refused.lock().unwrap().entry(status).or_default() += 1;
                    false
                }
                Err(_) => {
                    self.unanswered.fetch_add(1, Ordering::Relaxed);
                    false
                }
            };
            {
                let mut p = self.pending.lock().unwrap();
                p.in_flight -= 1;
                if !ok {
                    p.queue.push_back(i);
                }
            }
            let pause = if ok { pace } else { Duration::from_millis(100) };
            tokio::time::sleep(pause).await;
        }
    }

    pub fn refused_total(&self) -> u64 {
        self.refused.lock().unwrap().values().sum()
    }
}

/// A run's files and the callbacks announcing them, with ~10 % of all
/// callbacks sent twice (a platform retrying), in a shuffled order.
pub struct Workload {
    pub files: Vec<Content>,
    pub callbacks: Vec<Callback>,
}

/// `n` files (every `big_every`th one `big` bytes, served slowly; the rest
/// 4–260 KiB) and `events_per_file` stream events per file.
pub fn workload(
    n: usize,
    big_every: usize,
    big: u64,
    events_per_file: usize,
    origin: &Origin,
    s3: &S3Server,
) -> Workload {
    let mut rng = Lcg(11);
    let mut files = Vec::new();
    let mut callbacks = Vec::new();
    for i in 0..n {
        let len = if i % big_every == big_every - 1 {
            big
        } else {
            rng.range(4096, 266_240)
        };
        let content = Content::Generated {
            len,
            seed: 1000 + i as u64,
        };
        let mut spec = FileSpec::new(content.clone());
        if len == big {
            // 64 KiB per 10 ms: about 6 MB/s, so a transfer lasts seconds.
            spec.delay = Some(Duration::from_millis(10));
        }
        callbacks.push(platforms::announce(i, spec, origin, s3));
        files.push(content);
        for k in 0..events_per_file {
            callbacks.push(platforms::event_only(i * events_per_file + k));
        }
    }
    for _ in 0..callbacks.len() / 10 {
        let copy = callbacks[rng.range(0, callbacks.len() as u64) as usize].clone();
        callbacks.push(copy);
    }
    for i in (1..callbacks.len()).rev() {
        callbacks.swap(i, rng.range(0, i as u64 + 1) as usize);
    }
    Workload { files, callbacks }
}

/// Waits until every job is done (failing on one that failed), then
/// returns them.
pub async fn all_done(d: &Daemon, expected: usize, limit: Duration) -> Vec<Value> {
    let start = Instant::now();
    loop {
        let jobs = d.all_items("/api/v1/jobs").await;
        if let Some(failed) = jobs.iter().find(|j| j["state"] == "failed") {
            panic!("a job failed: {failed:#}");
        }
        if jobs.len() >= expected && jobs.iter().all(|j| j["state"] == "done") {
            assert_eq!(jobs.len(), expected, "one job per file announced");
            return jobs;
        }
        let waiting = jobs.iter().filter(|j| j["state"] != "done").count();
        assert!(
            start.elapsed() < limit,
            "{waiting} of {} jobs not done after {limit:?}",
            jobs.len()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Figures of what the bucket and catalog hold against the files announced.
pub struct Archived {
    pub objects: usize,
    pub duplicated: usize,
    pub matching: usize,
}

/// Checks every announced file is in the bucket exactly once with its
/// SHA-256, nothing else is (but the manifests), the catalog agrees, and
/// no upload is open.
pub async fn check_archive(d: &Daemon, s3: &S3Server, files: &[Content]) -> Archived {
    let want: HashMap<String, usize> = files
        .iter()
        .enumerate()
        .map(|(i, c)| (c.sha256(), i))
        .collect();
    assert_eq!(want.len(), files.len(), "the files differ from each other");
    let mut seen: HashMap<String, usize> = HashMap::new();
    for path in s3.object_files(BUCKET) {
        // The manifests: the catalog's own copy, written as it goes.
        if path.components().any(|c| c.as_os_str() == "_catalog") {
            continue;
        }
        let sha = super::sha256_hex(&std::fs::read(&path).unwrap());
        assert!(
            want.contains_key(&sha),
            "{} is none of the files announced",
            path.display()
        );
        *seen.entry(sha).or_default() += 1;
    }
    let duplicated = seen.values().filter(|n| **n > 1).count();
    let missing: Vec<usize> = want
        .iter()
        .filter(|(sha, _)| !seen.contains_key(*sha))
        .map(|(_, i)| *i)
        .collect();
    assert!(missing.is_empty(), "files never archived: {missing:?}");
    assert_eq!(duplicated, 0, "files archived twice: {seen:?}");
    let catalog = d.all_items("/api/v1/catalog").await;
    assert_eq!(catalog.len(), files.len(), "one catalog entry per file");
    let matching = catalog
        .iter()
        .filter(|e| e["sha256"].as_str().is_some_and(|s| want.contains_key(s)))
        .count();
    assert_eq!(matching, files.len(), "catalog SHA-256s");
    assert!(s3.listed_uploads().is_empty(), "{:?}", s3.listed_uploads());
    assert!(s3.open_uploads().is_empty(), "{:?}", s3.open_uploads());
    Archived {
        objects: seen.values().sum(),
        duplicated,
        matching,
    }
}

/// Checks every acknowledged event is stored and every acknowledged job
/// done; returns (events acknowledged, events found).
pub async fn check_acked(d: &Daemon, flood: &Flood, jobs: &[Value]) -> (usize, usize) {
    let events: HashSet<String> = d
        .all_items("/api/v1/events")
        .await
        .iter()
        .filter_map(|e| e["id"].as_str().map(str::to_owned))
        .collect();
    let done: HashSet<&str> = jobs.iter().filter_map(|j| j["id"].as_str()).collect();
    let acked = flood.acked.lock().unwrap();
    let answered: HashSet<usize> = acked.iter().map(|a| a.callback).collect();
    assert_eq!(
        answered.len(),
        flood.callbacks.len(),
        "every callback got its 200"
    );
    let mut n = 0;
    let mut found = 0;
    for a in acked.iter() {
        for e in &a.events {
            n += 1;
            found += usize::from(events.contains(e));
            assert!(events.contains(e), "acknowledged event {e} lost");
        }
        for j in &a.jobs {
            assert!(done.contains(j.as_str()), "acknowledged job {j} not done");
        }
    }
    (n, found)
}
