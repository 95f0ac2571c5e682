//! Several instances on one PostgreSQL (issue 24), against the real binary,
//! a real PostgreSQL (Debian's, started by tests/common/pg.rs), a real S3
//! server and real origins: an instance lost with its disk mid-transfer, the
//! database restarted during a flood, `state copy` from the embedded store,
//! and the reliability suite's chaos case on two instances.

mod common;

use std::collections::{BTreeMap, HashSet};
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::chaos::{all_done, check_acked, check_archive, workload, Flood, BUCKET};
use common::nginx::Nginx;
use common::origin::{Content, Fault, FileSpec, Origin};
use common::pg::PgCluster;
use common::platforms::{self, Lcg, PLATFORM_BUCKET};
use common::s3::S3Server;
use common::{client, free_port, Daemon};
use serde_json::{json, Value};

fn full() -> bool {
    std::env::var("RELIABILITY_FULL").is_ok_and(|v| v == "1")
}

/// A JD Cloud source whose files come from the test's origins.
const JD: &str = "[[sources]]\nname = \"jd\"\nprovider = \"jdcloud\"\ntoken = \"t\"\nallow_hosts = [\"127.0.0.1\"]\n";

/// Instance `id` on database `url`, listening on `port`; its state
/// directory (the token file) under `dir`, `extra` appended to its config.
fn instance(dir: &Path, url: &str, id: &str, port: u16, extra: &str) -> Daemon {
    std::fs::create_dir_all(dir).unwrap();
    let listen = format!("127.0.0.1:{port}");
    tokio::task::block_in_place(|| {
        Daemon::start_with_env(
            dir,
            extra,
            &[
                ("RECORDING_ARCHIVER__STATE__URL", url),
                ("RECORDING_ARCHIVER__INSTANCE_ID", id),
                ("RECORDING_ARCHIVER__SERVER__LISTEN", listen.as_str()),
            ],
        )
    })
}

/// A JD v1.1 record_done for `url`, the `i`th recording of five streams.
fn record_done(url: &str, i: usize) -> String {
    let ms = 1_764_000_000_000u64 + i as u64 * 60_000;
    json!({"version": "v1.1", "publishDomain": "push.example.com", "appName": "live",
        "streamName": format!("room{}", i % 5), "event": "record_done", "status": "success",
        "format": "flv", "beginTime": ms, "endTime": ms + 60_000, "downloadUrl": url})
    .to_string()
}

/// A JD v1.1 stream event (`publish_started`, `publish_done`) of `stream`.
fn stream_event(event: &str, stream: &str) -> String {
    json!({"version": "v1.1", "publishDomain": "push.example.com", "appName": "live",
        "streamName": stream, "event": event, "status": "success"})
    .to_string()
}

/// POSTs a JD callback to `base` (an instance or the balancer); the status.
async fn post_jd(base: &str, body: &str) -> u16 {
    client()
        .post(format!("{base}/callbacks/jd?token=t"))
        .header("content-type", "application/json")
        .body(body.to_owned())
        .send()
        .await
        .map(|r| r.status().as_u16())
        .unwrap_or(0)
}

/// A listing's items in a stable order (their JSON text), to compare views.
fn sorted(mut items: Vec<Value>) -> Vec<Value> {
    items.sort_by_key(|v| v.to_string());
    items
}

/// The ids of a listing's items.
fn ids(items: &[Value]) -> Vec<String> {
    let mut ids: Vec<String> = items
        .iter()
        .filter_map(|v| v["id"].as_str().map(str::to_owned))
        .collect();
    ids.sort();
    ids
}

/// Waits (at most `limit`) until `ready` holds, failing with `what`.
async fn wait_for<F, Fut>(limit: Duration, what: &str, mut ready: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = Instant::now();
    while !ready().await {
        assert!(start.elapsed() < limit, "not within {limit:?}: {what}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[test]
fn a_test_cluster_starts_serves_a_database_and_restarts_on_its_port() {
    let pg = PgCluster::start();
    let url = pg.database("probe");
    assert_eq!(
        url,
        format!("postgres://postgres@127.0.0.1:{}/probe", pg.port)
    );
    pg.psql("probe", "CREATE TABLE t (x int); INSERT INTO t VALUES (7)");
    let stopping = Instant::now();
    pg.stop_fast();
    let stopped_in = stopping.elapsed();
    assert!(!pg.ready(), "stopped");
    let starting = Instant::now();
    pg.start_again();
    assert_eq!(pg.psql("probe", "SELECT x FROM t"), "7");
    println!(
        "PostgreSQL: initdb and start {:.2} s, fast stop {:.2} s, start again {:.2} s",
        pg.started_in.as_secs_f64(),
        stopped_in.as_secs_f64(),
        starting.elapsed().as_secs_f64()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_instance_killed_mid_transfer_with_its_disk_lost_leaves_its_job_to_the_other() {
    let db = tokio::task::block_in_place(|| PgCluster::shared().fresh_database("handover"));
    let s3 = S3Server::start(&[BUCKET]).await;
    let origin = Origin::start().await;
    // 32 MiB at 64 KiB per 20 ms: about 10 s, several 5 MiB parts.
    let big = Content::Generated {
        len: 32 << 20,
        seed: 77,
    };
    let mut spec = FileSpec::new(big.clone());
    spec.delay = Some(Duration::from_millis(20));
    origin.put("/rec/big.flv", spec);
    let mut files = vec![big.clone()];
    for i in 1..=6 {
        let c = Content::Generated {
            len: 30_000 + i * 1000,
            seed: 100 + i,
        };
        origin.put(&format!("/rec/{i}.flv"), FileSpec::new(c.clone()));
        files.push(c);
    }
    let bodies: Vec<String> = (0..files.len())
        .map(|i| {
            let path = if i == 0 {
                "/rec/big.flv".to_owned()
            } else {
                format!("/rec/{i}.flv")
            };
            record_done(&origin.url(&path), i)
        })
        .collect();
    let config = format!(
        "[transfer]\nworkers = 2\npart_size = 5242880\nlease_secs = 3\nretry_initial_secs = 1\n{}{JD}",
        s3.store_config(BUCKET)
    );
    let root = tempfile::tempdir().unwrap();
    let (pa, pb) = (free_port(), free_port());
    // a alone first: the big file's job is a's.
    let mut a = instance(&root.path().join("a"), &db, "a", pa, &config);
    assert_eq!(post_jd(&a.base, &bodies[0]).await, 200);
    wait_for(
        Duration::from_secs(30),
        "a downloads the big file",
        || async { origin.bytes_served("/rec/big.flv") >= 8 << 20 },
    )
    .await;
    let b = instance(&root.path().join("b"), &db, "b", pb, &config);
    let lb = Nginx::balancer(&root.path().join("nginx"), &[pa, pb]);
    // The small files through the balancer; every callback sent again, as
    // a platform retries, to each instance and through the balancer.
    for body in &bodies[1..] {
        assert_eq!(post_jd(&lb.base(), body).await, 200);
    }
    for body in &bodies {
        for base in [&a.base, &b.base, &lb.base()] {
            assert_eq!(post_jd(base, body).await, 200);
        }
    }
    // One view: the same jobs and events on both, one job per file.
    let jobs_a = a.all_items("/api/v1/jobs").await;
    assert_eq!(jobs_a.len(), files.len(), "one job per file: {jobs_a:#?}");
    assert_eq!(ids(&jobs_a), ids(&b.all_items("/api/v1/jobs").await));
    assert_eq!(
        ids(&a.all_items("/api/v1/events").await),
        ids(&b.all_items("/api/v1/events").await)
    );
    let big_job = jobs_a
        .iter()
        .find(|j| j["origin"]["value"].as_str() == Some(origin.url("/rec/big.flv").as_str()))
        .unwrap_or_else(|| panic!("the big file's job in {jobs_a:#?}"))
        .clone();
    let big_id = big_job["id"].as_str().unwrap().to_owned();
    let served_at_kill = origin.bytes_served("/rec/big.flv");
    assert!(
        served_at_kill < big.len(),
        "the big file is mid-way when a dies"
    );
    // a is lost for good, its disk with it.
    a.kill9();
    drop(a);
    std::fs::remove_dir_all(root.path().join("a")).unwrap();
    for body in &bodies {
        assert_eq!(
            post_jd(&lb.base(), body).await,
            200,
            "nginx passes a's share to b"
        );
    }
    let began = Instant::now();
    let jobs = all_done(&b, files.len(), Duration::from_secs(120)).await;
    let done = jobs.iter().find(|j| j["id"] == big_id.as_str()).unwrap();
    assert!(
        done["claims"].as_u64().unwrap_or(0) >= 2,
        "b took the job over: {done:#}"
    );
    let archived = check_archive(&b, &s3, &files).await;
    let catalog = b.all_items("/api/v1/catalog").await;
    let entry = catalog
        .iter()
        .find(|e| e["job_id"] == big_id.as_str())
        .expect("the big file's entry");
    assert_eq!(entry["instance_id"], "b", "{entry:#}");
    assert_eq!(entry["sha256"], big.sha256());
    // A new machine in a's place, empty state directory: the same view.
    let a2 = instance(&root.path().join("a2"), &db, "a", pa, &config);
    for body in &bodies {
        assert_eq!(post_jd(&a2.base, body).await, 200);
        assert_eq!(post_jd(&lb.base(), body).await, 200);
    }
    for path in [
        "/api/v1/jobs",
        "/api/v1/catalog",
        "/api/v1/events",
        "/api/v1/streams",
    ] {
        assert_eq!(
            sorted(a2.all_items(path).await),
            sorted(b.all_items(path).await),
            "{path}: one view"
        );
    }
    assert_eq!(a2.all_items("/api/v1/jobs").await.len(), files.len());
    println!(
        "handover: a killed -9 with {:.1} of {} MiB served, its state directory deleted; b \
         archived it {:.1} s later (claims {}); {} files, {} objects, duplicated {}",
        served_at_kill as f64 / 1048576.0,
        big.len() >> 20,
        began.elapsed().as_secs_f64(),
        done["claims"],
        files.len(),
        archived.objects,
        archived.duplicated
    );
}

/// One callback's outcome in the restart flood.
struct Answer {
    sent: Instant,
    answered: Instant,
    /// None: no HTTP answer at all.
    status: Option<u16>,
    events: Vec<String>,
    jobs: Vec<String>,
}

/// One `/readyz` reading.
struct Reading {
    at: Instant,
    status: u16,
    body: String,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_database_restart_during_a_flood_loses_no_acknowledged_callback() {
    // A cluster of its own: it is restarted.
    let pg = tokio::task::block_in_place(PgCluster::start);
    let url = pg.database("restart");
    let dir = tempfile::tempdir().unwrap();
    let sources = "[transfer]\nworkers = 0\n[[sources]]\nname = \"jd\"\nprovider = \"jdcloud\"\ntoken = \"t\"\n";
    let d = instance(dir.path(), &url, "a", free_port(), sources);
    let answers: Arc<Mutex<Vec<Answer>>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let counter = Arc::new(AtomicUsize::new(0));
    let mut senders = Vec::new();
    for worker in 0..12 {
        let (answers, stop, counter) = (
            Arc::clone(&answers),
            Arc::clone(&stop),
            Arc::clone(&counter),
        );
        let url = d.url("/callbacks/jd?token=t");
        senders.push(tokio::spawn(async move {
            let http = reqwest::Client::builder()
                .timeout(Duration::from_secs(60))
                .build()
                .unwrap();
            while !stop.load(Ordering::SeqCst) {
                let n = counter.fetch_add(1, Ordering::SeqCst);
                // Recordings (an event and a job) and stream starts (an event).
                let body = if n % 2 == 0 {
                    record_done(&format!("http://h.example/{n}.flv"), n)
                } else {
                    stream_event("publish_started", &format!("s{worker}-{n}"))
                };
                let sent = Instant::now();
                let r = http
                    .post(&url)
                    .header("content-type", "application/json")
                    .body(body)
                    .send()
                    .await;
                let (status, reply) = match r {
                    Ok(r) => {
                        let s = r.status().as_u16();
                        (Some(s), r.json::<Value>().await.unwrap_or_default())
                    }
                    Err(_) => (None, Value::Null),
                };
                let list = |k: &str| -> Vec<String> {
                    reply[k]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(|v| v.as_str().map(str::to_owned))
                        .collect()
                };
                answers.lock().unwrap().push(Answer {
                    sent,
                    answered: Instant::now(),
                    status,
                    events: list("events"),
                    jobs: list("jobs"),
                });
                if status != Some(200) {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }));
    }
    let readings: Arc<Mutex<Vec<Reading>>> = Arc::default();
    let sampler = {
        let (readings, url, http) = (Arc::clone(&readings), d.url("/readyz"), d.http());
        tokio::spawn(async move {
            loop {
                if let Ok(r) = http.get(&url).send().await {
                    let status = r.status().as_u16();
                    let body = r.text().await.unwrap_or_default();
                    readings.lock().unwrap().push(Reading {
                        at: Instant::now(),
                        status,
                        body,
                    });
                }
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
        })
    };
    let acked = |answers: &Mutex<Vec<Answer>>, after: Instant| {
        answers
            .lock()
            .unwrap()
            .iter()
            .filter(|a| a.status == Some(200) && a.sent > after)
            .count()
    };
    let began = Instant::now();
    wait_for(
        Duration::from_secs(30),
        "200 callbacks acknowledged",
        || async { acked(&answers, began) >= 200 },
    )
    .await;
    // The restart: a fast stop, 6 s down (longer than /readyz's 3 s cache),
    // then the same directory and port again.
    let stopping = Instant::now();
    tokio::task::block_in_place(|| pg.stop_fast());
    let down = Instant::now();
    tokio::time::sleep(Duration::from_secs(6)).await;
    let restarting = Instant::now();
    tokio::task::block_in_place(|| pg.start_again());
    let up = Instant::now();
    wait_for(
        Duration::from_secs(60),
        "callbacks acknowledged again after the restart",
        || async { acked(&answers, up) >= 200 },
    )
    .await;
    wait_for(Duration::from_secs(30), "/readyz 200 again", || async {
        readings
            .lock()
            .unwrap()
            .iter()
            .any(|r| r.at > up && r.status == 200)
    })
    .await;
    let healed = readings
        .lock()
        .unwrap()
        .iter()
        .find(|r| r.at > up && r.status == 200)
        .map(|r| r.at - up)
        .unwrap();
    stop.store(true, Ordering::SeqCst);
    for s in senders {
        s.await.unwrap();
    }
    sampler.abort();

    let answers = std::mem::take(&mut *answers.lock().unwrap());
    let unanswered = answers.iter().filter(|a| a.status.is_none()).count();
    assert_eq!(unanswered, 0, "the daemon answered every callback");
    let mut refused: BTreeMap<u16, usize> = BTreeMap::new();
    for a in answers.iter().filter(|a| a.status != Some(200)) {
        *refused.entry(a.status.unwrap_or(0)).or_default() += 1;
    }
    assert!(
        refused.keys().all(|s| *s == 503),
        "callbacks the state cannot take are answered 503: {refused:?}"
    );
    let during: Vec<&Answer> = answers
        .iter()
        .filter(|a| a.sent > down && a.answered < restarting)
        .collect();
    assert!(!during.is_empty(), "callbacks were sent during the outage");
    assert!(
        during.iter().all(|a| a.status == Some(503)),
        "no 200 while the database is down"
    );
    {
        let readings = readings.lock().unwrap();
        let not_ready = readings
            .iter()
            .find(|r| r.at > down && r.at < restarting && r.status == 503)
            .expect("/readyz says 503 while the database is down");
        assert!(
            not_ready.body.contains("state"),
            "/readyz names the state store: {}",
            not_ready.body
        );
    }
    // Everything acknowledged is there, on the same daemon (no restart).
    let events: HashSet<String> = d
        .all_items("/api/v1/events")
        .await
        .iter()
        .filter_map(|e| e["id"].as_str().map(str::to_owned))
        .collect();
    let jobs: HashSet<String> = d
        .all_items("/api/v1/jobs")
        .await
        .iter()
        .filter_map(|j| j["id"].as_str().map(str::to_owned))
        .collect();
    let ok: Vec<&Answer> = answers.iter().filter(|a| a.status == Some(200)).collect();
    let (mut n_events, mut n_jobs) = (0, 0);
    for a in &ok {
        assert!(!a.events.is_empty(), "a 200 names its events");
        for e in &a.events {
            n_events += 1;
            assert!(events.contains(e), "acknowledged event {e} lost");
        }
        for j in &a.jobs {
            n_jobs += 1;
            assert!(jobs.contains(j), "acknowledged job {j} lost");
        }
    }
    assert!(
        Path::new(&format!("/proc/{}", d.pid())).exists(),
        "the same daemon process throughout"
    );
    println!(
        "database restart: stop took {:.2} s, down {:.1} s, start {:.2} s; callbacks answered \
         {} ({} acknowledged: {n_events} events, {n_jobs} jobs, all found; refused {refused:?}, \
         {} of them during the outage, unanswered 0); /readyz 503 during, 200 {:.1} s after the \
         return",
        (down - stopping).as_secs_f64(),
        (restarting - down).as_secs_f64(),
        (up - restarting).as_secs_f64(),
        answers.len(),
        ok.len(),
        during.len(),
        healed.as_secs_f64()
    );
}

/// `recording-archiver state copy --config <config> --to <url>`.
fn state_copy(config: &Path, url: &str) -> std::process::Output {
    Command::new(common::binary())
        .args(["state", "copy", "--config"])
        .arg(config)
        .args(["--to", url])
        .env_remove("AWS_CA_BUNDLE")
        .output()
        .expect("run state copy")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn state_copy_moves_an_embedded_state_with_archived_failed_and_waiting_jobs() {
    let url = tokio::task::block_in_place(|| PgCluster::shared().fresh_database("copy"));
    let s3 = S3Server::start(&[BUCKET]).await;
    let origin = Origin::start().await;
    for i in 0..3 {
        origin.put(
            &format!("/rec/ok{i}.flv"),
            FileSpec::bytes(common::random_bytes(20_000 + i, 300 + i as u64)),
        );
    }
    for i in 0..2 {
        origin.put(
            &format!("/rec/queued{i}.flv"),
            FileSpec::bytes(common::random_bytes(25_000 + i, 400 + i as u64)),
        );
    }
    // Cut after its first 5 MiB part is uploaded, and unavailable when the
    // daemon asks for the rest: retried in an hour, its multipart upload
    // recorded to be continued.
    origin.put(
        "/rec/cut.flv",
        FileSpec::new(Content::Generated {
            len: 12 << 20,
            seed: 3,
        })
        .with_faults(&[
            Fault::ResetAt(7 << 20),
            Fault::Status(503),
            Fault::Status(503),
            Fault::Status(503),
        ]),
    );
    // Refused for good; unavailable once, then retried only in an hour.
    origin.put(
        "/rec/denied.flv",
        FileSpec::bytes(common::random_bytes(1000, 1)).with_faults(&[Fault::Status(403)]),
    );
    origin.put(
        "/rec/later.flv",
        FileSpec::bytes(common::random_bytes(1000, 2)).with_faults(&[Fault::Status(503)]),
    );
    // Notifications to an app that is down: retried in an hour too.
    let app = free_port();
    let transfer = |workers: usize| {
        format!(
            "[transfer]\nworkers = {workers}\npart_size = 5242880\nretry_initial_secs = 3600\n\
             retry_max_secs = 3600\n{}{JD}\n[[notify]]\nname = \"app\"\n\
             url = \"http://127.0.0.1:{app}/hook\"\nsecret = \"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\"\n\
             events = [\"archived\"]\nallow_hosts = [\"127.0.0.1\"]\n",
            s3.store_config(BUCKET)
        )
    };
    // Jobs by state: files, and notifications.
    let states = |jobs: &[Value], notifications: bool| -> BTreeMap<String, usize> {
        let mut m = BTreeMap::new();
        for j in jobs
            .iter()
            .filter(|j| notifications || j["kind"] != "notification")
        {
            *m.entry(j["state"].as_str().unwrap_or("").to_owned())
                .or_insert(0) += 1;
        }
        m
    };
    let counts = |pairs: &[(&str, usize)]| -> BTreeMap<String, usize> {
        pairs.iter().map(|(k, n)| ((*k).to_owned(), *n)).collect()
    };
    let dir = tempfile::tempdir().unwrap();
    let mut d = tokio::task::block_in_place(|| Daemon::start_in(dir.path(), &transfer(2)));
    let mut n = 0;
    for path in ["ok0", "ok1", "ok2", "denied", "later", "cut"] {
        let body = record_done(&origin.url(&format!("/rec/{path}.flv")), n);
        n += 1;
        assert_eq!(post_jd(&d.base, &body).await, 200);
    }
    for (event, stream) in [
        ("publish_started", "room1"),
        ("publish_started", "room2"),
        ("publish_done", "room2"),
    ] {
        assert_eq!(post_jd(&d.base, &stream_event(event, stream)).await, 200);
    }
    // A body no platform sends: refused and kept.
    assert_eq!(post_jd(&d.base, "{not json").await, 400);
    let settled = counts(&[("done", 3), ("failed", 1), ("retrying", 2)]);
    let waiting = Instant::now();
    loop {
        let jobs = d.all_items("/api/v1/jobs").await;
        let (files, notes) = (
            states(&jobs, false),
            states(&d.all_items("/api/v1/notifications").await, true),
        );
        if files == settled && notes == counts(&[("retrying", 3)]) {
            break;
        }
        assert!(
            waiting.elapsed() < Duration::from_secs(60),
            "want 3 archived, 1 failed, 2 retrying, 3 notifications retrying; files {files:?}, \
             notifications {notes:?}: {jobs:#?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(d.terminate().success());
    // Then queued jobs: no workers to take them.
    let mut d = tokio::task::block_in_place(|| Daemon::start_in(dir.path(), &transfer(0)));
    for i in 0..2 {
        let body = record_done(&origin.url(&format!("/rec/queued{i}.flv")), n);
        n += 1;
        assert_eq!(post_jd(&d.base, &body).await, 200);
    }
    let paths = [
        "/api/v1/jobs",
        "/api/v1/events",
        "/api/v1/catalog",
        "/api/v1/streams",
        "/api/v1/rejected",
        "/api/v1/notifications",
    ];
    let mut before = BTreeMap::new();
    for path in paths {
        before.insert(path, sorted(d.all_items(path).await));
    }
    let kept = states(&before["/api/v1/jobs"], false);
    for s in ["done", "failed", "retrying", "queued"] {
        assert!(kept.contains_key(s), "a {s} job to copy: {kept:?}");
    }
    assert!(
        before["/api/v1/jobs"]
            .iter()
            .any(|j| j["upload"]["upload_id"].is_string()),
        "a job with a multipart upload to continue: {:#?}",
        before["/api/v1/jobs"]
    );
    assert!(!before["/api/v1/notifications"].is_empty());
    assert!(!before["/api/v1/streams"].is_empty());
    assert!(!before["/api/v1/rejected"].is_empty());
    assert!(d.terminate().success());

    let out = tokio::task::block_in_place(|| state_copy(&dir.path().join("config.toml"), &url));
    assert!(
        out.status.success(),
        "state copy: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let copied = String::from_utf8_lossy(&out.stdout).into_owned();

    // A daemon on the database (`[state] url` in its file) sees it all.
    let pg_dir = tempfile::tempdir().unwrap();
    let on_pg = |workers: usize| {
        format!(
            "[server]\nlisten = \"127.0.0.1:0\"\n\n[state]\ndir = \"{}\"\nurl = \"{url}\"\n\n{}",
            pg_dir.path().join("state").display(),
            transfer(workers)
        )
    };
    let mut p =
        tokio::task::block_in_place(|| Daemon::start_config(pg_dir.path(), &on_pg(0), &[], &[]));
    for path in paths {
        assert_eq!(
            sorted(p.all_items(path).await),
            before[path],
            "{path}: the same after the copy"
        );
    }
    // Into a database that holds a state already: refused, saying why.
    let again = tokio::task::block_in_place(|| state_copy(&dir.path().join("config.toml"), &url));
    let err = String::from_utf8_lossy(&again.stderr);
    assert!(!again.status.success(), "a second copy is refused");
    assert!(
        err.to_lowercase().contains("empty") && err.trim().lines().count() == 1,
        "one line saying the database is not empty: {err}"
    );
    // The copied jobs are workable: the queued ones archive.
    assert!(p.terminate().success());
    let p =
        tokio::task::block_in_place(|| Daemon::start_config(pg_dir.path(), &on_pg(2), &[], &[]));
    let catalog = common::catalog_of(&p, 5).await;
    assert_eq!(catalog.len(), 5);
    let jobs = p.all_items("/api/v1/jobs").await;
    assert_eq!(
        states(&jobs, false),
        counts(&[("done", 5), ("failed", 1), ("retrying", 2)])
    );
    println!(
        "state copy: {} jobs, {} events, {} entries, {} streams, {} rejected, {} notifications \
         copied; {}",
        before["/api/v1/jobs"].len(),
        before["/api/v1/events"].len(),
        before["/api/v1/catalog"].len(),
        before["/api/v1/streams"].len(),
        before["/api/v1/rejected"].len(),
        before["/api/v1/notifications"].len(),
        copied.trim()
    );
}

/// The sockets process `pid` holds connected to 127.0.0.1:`port` (inodes):
/// the origins close every connection after a response, so an open one is
/// a download in progress.
fn downloads(pid: u32, port: u16) -> HashSet<u64> {
    let mine: HashSet<u64> = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|fd| {
            let link = std::fs::read_link(fd.path()).ok()?;
            link.to_str()?
                .strip_prefix("socket:[")?
                .strip_suffix(']')?
                .parse()
                .ok()
        })
        .collect();
    let table = std::fs::read_to_string(format!("/proc/{pid}/net/tcp")).unwrap_or_default();
    table
        .lines()
        .skip(1)
        .filter_map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            let remote_port = u16::from_str_radix(f.get(2)?.rsplit(':').next()?, 16).ok()?;
            let inode: u64 = f.get(9)?.parse().ok()?;
            // 01: ESTABLISHED.
            (remote_port == port && *f.get(3)? == "01" && mine.contains(&inode)).then_some(inode)
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn chaos_sigkill_of_either_instance_on_one_database_loses_nothing_and_archives_each_file_once(
) {
    let (files, kills) = if full() { (600, 20) } else { (48, 3) };
    let db = tokio::task::block_in_place(|| PgCluster::shared().fresh_database("chaos"));
    let s3 = S3Server::start(&[BUCKET, PLATFORM_BUCKET]).await;
    let origin = Origin::start().await;
    let origin_port: u16 = origin.addr.rsplit(':').next().unwrap().parse().unwrap();
    let work = workload(files, 6, 12 << 20, 3, &origin, &s3);
    // A lease short enough that a killed instance's jobs are taken over
    // within the case, long enough for a heartbeat on a busy machine.
    let lease = Duration::from_secs(4);
    let config = format!(
        "[transfer]\nworkers = 4\npart_size = 5242880\nretry_initial_secs = 2\nretry_max_secs = 10\n\
         lease_secs = {}\n{}{}",
        lease.as_secs(),
        s3.store_config(BUCKET),
        platforms::sources(&origin, &s3)
    );
    let root = tempfile::tempdir().unwrap();
    let ports = [free_port(), free_port()];
    let names = ["a", "b"];
    let dirs = [root.path().join("a"), root.path().join("b")];
    let began = Instant::now();
    let mut instances = [
        instance(&dirs[0], &db, names[0], ports[0], &config),
        instance(&dirs[1], &db, names[1], ports[1], &config),
    ];
    let lb = Nginx::balancer(&root.path().join("nginx"), &ports);
    // The flood lasts about as long as the kills (each instance down for a
    // lease and a bit), so they land in it and in the transfers.
    let senders = 8;
    let window = (lease + Duration::from_secs(3)) * kills;
    let pace = window * senders / work.callbacks.len() as u32;
    let flood = Flood::new(work.callbacks, &lb.base());
    let senders = flood.start(senders as usize, pace);
    let mut rng = Lcg(5);
    // Per kill: (victim, callbacks acknowledged, jobs running, of which
    // taken over by the other while the victim was down).
    let mut at_kills = Vec::new();
    let mut with_download = 0;
    // Outcomes a worker dropped because its claim was taken over (fencing).
    let superseded_in = |d: &Daemon| {
        d.log_text()
            .matches("lease was taken over while it ran")
            .count()
    };
    let mut superseded = 0;
    for _ in 0..kills {
        tokio::time::sleep(Duration::from_millis(rng.range(400, 2000))).await;
        // The victim: an instance in the middle of a download (a socket to
        // the origin open 300 ms apart), if one is within 10 s.
        let first = rng.range(0, 2) as usize;
        let mut victim = None;
        let looking = Instant::now();
        while victim.is_none() && looking.elapsed() < Duration::from_secs(10) {
            let before: Vec<HashSet<u64>> = instances
                .iter()
                .map(|d| downloads(d.pid(), origin_port))
                .collect();
            tokio::time::sleep(Duration::from_millis(300)).await;
            victim = [first, 1 - first].into_iter().find(|&k| {
                let now = downloads(instances[k].pid(), origin_port);
                before[k].intersection(&now).next().is_some()
            });
        }
        let downloading = victim.is_some();
        with_download += usize::from(downloading);
        let v = victim.unwrap_or(first);
        let s = 1 - v;
        let running: BTreeMap<String, u64> = instances[s]
            .all_items("/api/v1/jobs?state=running")
            .await
            .iter()
            .filter_map(|j| Some((j["id"].as_str()?.to_owned(), j["claims"].as_u64()?)))
            .collect();
        let acked = flood.acked.lock().unwrap().len();
        instances[v].kill9();
        // The victim's jobs stay running (its lease) until the survivor
        // takes them: wait for each to leave its claim of the kill.
        let taking = Instant::now();
        let mut taken = 0;
        for (id, claims) in &running {
            loop {
                let j = instances[s].get_json(&format!("/api/v1/jobs/{id}")).await;
                let now = j["claims"].as_u64().unwrap_or(0);
                if j["state"] != "running" || now > *claims {
                    taken += usize::from(now > *claims);
                    break;
                }
                assert!(
                    taking.elapsed() < lease * 10,
                    "job {id}, running when {} was killed, not taken over: {j:#}",
                    names[v]
                );
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
        at_kills.push((names[v], downloading, acked, running.len(), taken));
        superseded += superseded_in(&instances[v]);
        instances[v] = instance(&dirs[v], &db, names[v], ports[v], &config);
    }
    let killed_at = began.elapsed();
    for s in senders {
        s.await.unwrap();
    }
    let [a, b] = &instances;
    let jobs = all_done(a, files, Duration::from_secs(600)).await;
    superseded += superseded_in(a) + superseded_in(b);
    let (events, found) = check_acked(a, &flood, &jobs).await;
    let archived = check_archive(a, &s3, &work.files).await;
    // One view: b lists what a lists.
    for path in ["/api/v1/jobs", "/api/v1/catalog", "/api/v1/events"] {
        assert_eq!(
            ids(&a.all_items(path).await),
            ids(&b.all_items(path).await),
            "{path}: one view"
        );
    }
    let adopted: usize = at_kills.iter().map(|k| k.4).sum();
    assert!(
        with_download > 0,
        "a kill landed on an instance mid-download: {at_kills:?}"
    );
    assert!(
        adopted > 0,
        "the killed instances' running jobs were taken over by the other: {at_kills:?}"
    );
    let catalog = a.all_items("/api/v1/catalog").await;
    let by_instance = catalog.iter().fold(BTreeMap::new(), |mut m, e| {
        *m.entry(e["instance_id"].as_str().unwrap_or("").to_owned())
            .or_insert(0) += 1;
        m
    });
    let acked = flood.acked.lock().unwrap().len();
    println!(
        "chaos on PostgreSQL: (victim, mid-download, callbacks acknowledged, jobs running, taken \
         over by the other) at each kill: {at_kills:?}"
    );
    println!(
        "chaos on PostgreSQL: 2 instances, {kills} SIGKILLs in {:.0} s ({with_download} \
         mid-download), {adopted} running jobs taken over by the other instance; callbacks: {} \
         distinct, {} sent, {acked} acknowledged ({} refused, {} unanswered, sent again), events \
         acknowledged {events}, found {found}; files announced {files}, archived {}, duplicated \
         {}, SHA-256 matches {}/{files}; archived by instance {by_instance:?}; outcomes dropped \
         by a superseded claim {superseded}; all done after {:.0} s",
        killed_at.as_secs_f64(),
        flood.callbacks.len(),
        flood.attempts.load(Ordering::Relaxed),
        flood.refused_total(),
        flood.unanswered.load(Ordering::Relaxed),
        archived.objects,
        archived.duplicated,
        archived.matching,
        began.elapsed().as_secs_f64()
    );
}
