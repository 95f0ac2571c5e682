//! The archive store's trouble is ours, never the file's: with credentials
//! the bucket refuses, or a bucket that does not exist, no recording fails
//! and no attempt is used up; the workers pause, `/readyz` and `/metrics`
//! say why, the log says it once when it starts and once when it ends, and
//! every waiting job goes once the store answers (a fixed config and a
//! restart, or the bucket appearing). The real daemon against a real
//! S3-protocol server over HTTP and a real HTTP origin.

mod common;

use std::time::{Duration, Instant};

use common::origin::{Content, FileSpec, Origin};
use common::s3::{S3Server, SECRET_KEY};
use common::{jd_record_done, Daemon};
use serde_json::Value;

/// One attempt allowed: any attempt a store failure used up would fail the job.
fn config(store: &str) -> String {
    format!(
        "[transfer]\nworkers = 2\nmax_attempts = 1\nretry_initial_secs = 1\nretry_max_secs = 2\nrequest_timeout_secs = 5\npart_size = 5242880\n\n{store}\n[[sources]]\nname = \"jd\"\nprovider = \"jdcloud\"\ntoken = \"t\"\nallow_hosts = [\"127.0.0.1\"]\n"
    )
}

/// Three files (one of them multipart) on the origin, announced.
async fn announce_three(d: &Daemon, origin: &Origin) -> Vec<Content> {
    let mut files = Vec::new();
    for (i, len) in [(1u64, 300_000u64), (2, 7 << 20), (3, 4096)] {
        let content = Content::Generated { len, seed: 500 + i };
        let path = format!("/r{i}.flv");
        origin.put(&path, FileSpec::new(content.clone()));
        let (status, reply) = d
            .post(
                "jd?token=t",
                Some("application/json"),
                jd_record_done(&origin.url(&path), &format!("s{i}")),
            )
            .await;
        assert_eq!(status, 200, "{reply}");
        files.push(content);
    }
    files
}

/// Polls the jobs until `ok` holds for all three; shows them and the logs on timeout.
async fn jobs_until(d: &Daemon, limit: Duration, ok: impl Fn(&Value) -> bool) -> Vec<Value> {
    let start = Instant::now();
    loop {
        let jobs = d.all_items("/api/v1/jobs").await;
        if jobs.len() == 3 && jobs.iter().all(&ok) {
            return jobs;
        }
        assert!(start.elapsed() < limit, "{jobs:#?}\n{}", d.log_text());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Log lines (JSON) at WARN whose message contains `text`.
fn warnings(d: &Daemon, text: &str) -> usize {
    d.logs
        .lock()
        .unwrap()
        .iter()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v["level"] == "WARN")
        .filter(|v| {
            v["fields"]["message"]
                .as_str()
                .is_some_and(|m| m.contains(text))
        })
        .count()
}

/// Checks the jobs wait, uncounted, with a readable `last_error` naming
/// `check`, and `/readyz` and `/metrics` tell of the pause.
async fn paused_for(d: &Daemon, code: &str, check: &str) {
    let jobs = jobs_until(d, Duration::from_secs(60), |j| {
        j["last_error"].as_str().is_some_and(|e| e.contains(code))
    })
    .await;
    // Long enough for several trials (1 s, 2 s, 4 s) to have failed too.
    tokio::time::sleep(Duration::from_secs(8)).await;
    let jobs_after = d.all_items("/api/v1/jobs").await;
    println!("last_error: {}", jobs_after[0]["last_error"]);
    for j in jobs.iter().chain(&jobs_after) {
        assert_ne!(j["state"], "failed", "{j:#}");
        assert_eq!(
            j["attempts"], 0,
            "the store's failures use no attempt: {j:#}"
        );
        let e = j["last_error"].as_str().unwrap_or_default();
        assert!(e.starts_with("store: ") && e.contains(check), "{e}");
        for debug in ["ServiceError", "Unhandled", "ErrorMetadata", "{", "\n"] {
            assert!(!e.contains(debug), "one readable line, no debug dump: {e}");
        }
    }
    let ready = d.get_json("/readyz").await;
    assert_eq!(
        ready["status"], "ready",
        "callbacks are still taken: {ready}"
    );
    assert_eq!(ready["store"]["ok"], false, "{ready}");
    assert_eq!(ready["store"]["transfers"], "paused", "{ready}");
    assert!(
        ready["store"]["reason"]
            .as_str()
            .is_some_and(|r| r.contains(check)),
        "{ready}"
    );
    let metrics = d.get_text("/metrics").await;
    assert!(
        metrics.contains("recording_archiver_store_paused 1"),
        "{metrics}"
    );
    assert_eq!(
        warnings(d, "the archive store fails"),
        1,
        "one WARN when it starts, none per job or trial:\n{}",
        d.log_text()
    );
}

/// Checks every file is in `bucket` with its SHA-256, each job done after one attempt.
async fn all_archived(d: &Daemon, s3: &S3Server, bucket: &str, files: &[Content]) {
    let jobs = jobs_until(d, Duration::from_secs(60), |j| j["state"] == "done").await;
    for j in &jobs {
        assert_eq!(j["attempts"], 1, "{j:#}");
    }
    let mut stored: Vec<String> = s3
        .object_files(bucket)
        .iter()
        .map(|p| common::sha256_hex(&std::fs::read(p).unwrap()))
        .collect();
    let mut want: Vec<String> = files.iter().map(Content::sha256).collect();
    stored.sort();
    want.sort();
    assert_eq!(stored, want);
    assert!(s3.listed_uploads().is_empty(), "{:?}", s3.listed_uploads());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn credentials_the_bucket_refuses_fail_no_recording_and_a_fixed_config_archives_all() {
    let s3 = S3Server::start(&["recordings"]).await;
    let origin = Origin::start().await;
    let dir = tempfile::tempdir().unwrap();
    let good = config(&s3.store_config("recordings"));
    let wrong = good.replace(SECRET_KEY, "not-the-secret");
    assert_ne!(good, wrong);
    let mut d = Daemon::start_in(dir.path(), &wrong);
    let files = announce_three(&d, &origin).await;
    paused_for(
        &d,
        "SignatureDoesNotMatch",
        "check [store] secret_access_key",
    )
    .await;

    // The operator fixes the config and restarts: every job goes, no retry by hand.
    assert!(d.terminate_inner().success());
    let d = Daemon::start_in(dir.path(), &good);
    all_archived(&d, &s3, "recordings", &files).await;
    let ready = d.get_json("/readyz").await;
    assert_eq!(ready["store"]["ok"], true, "{ready}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_missing_bucket_holds_every_job_until_it_exists_then_all_go_within_a_minute() {
    let s3 = S3Server::start(&["other"]).await;
    let origin = Origin::start().await;
    let dir = tempfile::tempdir().unwrap();
    let d = Daemon::start_in(dir.path(), &config(&s3.store_config("recordings")));
    let files = announce_three(&d, &origin).await;
    paused_for(&d, "NoSuchBucket", "check [store] bucket").await;

    // The bucket appears (the outage ends): no restart, no retry by hand.
    let made = Instant::now();
    s3.client()
        .await
        .create_bucket()
        .bucket("recordings")
        .send()
        .await
        .unwrap();
    all_archived(&d, &s3, "recordings", &files).await;
    assert!(
        made.elapsed() < Duration::from_secs(60),
        "{:?}",
        made.elapsed()
    );
    assert_eq!(
        warnings(&d, "the archive store answers again"),
        1,
        "one WARN when it ends:\n{}",
        d.log_text()
    );
    let metrics = d.get_text("/metrics").await;
    assert!(
        metrics.contains("recording_archiver_store_paused 0"),
        "{metrics}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_store_throttling_us_fails_no_recording_and_all_go_when_it_stops() {
    let s3 = S3Server::start(&["recordings"]).await;
    // Every request to the store answered 503 SlowDown until the test says.
    let throttling = common::delay::DelayProxy::throttling(&s3.endpoint).await;
    let origin = Origin::start().await;
    let dir = tempfile::tempdir().unwrap();
    let store = s3.store_config_via("recordings", &throttling.endpoint);
    let d = Daemon::start_in(dir.path(), &config(&store));
    let files = announce_three(&d, &origin).await;
    paused_for(&d, "SlowDown", "store: the store is throttling us").await;

    let eased = Instant::now();
    throttling.stop_refusing();
    all_archived(&d, &s3, "recordings", &files).await;
    assert!(
        eased.elapsed() < Duration::from_secs(60),
        "{:?}",
        eased.elapsed()
    );
}
