//! The platform's own bucket, swept (a real S3 server): recordings whose
//! callback never came are archived, with their stream read from the
//! platform's key layout; those announced too, and those announced while
//! the sweep finds them, are archived once; a restart between two sweeps
//! changes nothing.

mod common;

use std::collections::HashMap;
use std::time::Duration;

use common::s3::{S3Server, ACCESS_KEY, SECRET_KEY};
use common::{random_bytes, sha256_hex, Daemon};
use serde_json::{json, Value};

/// Alibaba's layout: `{app}/{stream}/{seq}_{start}_{end}.{format}`, Beijing time.
fn key(stream: &str, minute: u32) -> String {
    format!(
        "record/liveApp/{stream}/0_2024-05-01-10:{minute:02}:00_2024-05-01-10:{:02}:00.flv",
        minute + 1
    )
}

/// Alibaba's recording callback for the object at `key`.
fn announce(key: &str, stream: &str) -> String {
    json!({"domain": "demo.aliyundoc.com", "app": "liveApp", "stream": stream,
        "uri": key, "duration": 60, "start_time": 1714528800, "stop_time": 1714528860})
    .to_string()
}

fn config(s3: &S3Server) -> String {
    format!(
        "{store}
[transfer]
workers = 2
retry_initial_secs = 1
retry_max_secs = 2

[[sources]]
name = \"ali\"
provider = \"aliyun\"
token = \"t\"
[sources.origin]
type = \"s3\"
endpoint = \"{endpoint}\"
bucket = \"platform\"
force_path_style = true
access_key_id = \"{ACCESS_KEY}\"
secret_access_key = \"{SECRET_KEY}\"
sweep = true
sweep_prefix = \"record/\"
sweep_interval_secs = 1
settle_secs = 0
",
        store = s3.store_config("archive"),
        endpoint = s3.endpoint,
    )
}

/// Waits until the catalog holds `n` entries and the queue is empty; the entries.
async fn settled(d: &Daemon, n: usize) -> Vec<Value> {
    let mut entries = Vec::new();
    common::until(&format!("{n} entries, no job pending"), async || {
        entries = d.all_items("/api/v1/catalog").await;
        let jobs = d.all_items("/api/v1/jobs").await;
        entries.len() >= n && jobs.iter().all(|j| j["state"] == "done")
    })
    .await;
    entries
}

async fn post(d: &Daemon, key: &str, stream: &str) {
    let (status, reply) = d
        .post(
            "ali?token=t",
            Some("application/json"),
            announce(key, stream),
        )
        .await;
    assert_eq!(status, 200, "{reply}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_recording_in_the_bucket_is_archived_once_across_a_restart() {
    let s3 = S3Server::start(&["platform", "archive"]).await;
    let mut bytes = HashMap::new();
    let mut put = |stream: &str, minute: u32, seed: u64| {
        let k = key(stream, minute);
        let b = random_bytes(200_000 + seed as usize, seed);
        s3.put_file("platform", &k, &b);
        bytes.insert(k.clone(), sha256_hex(&b));
        k
    };
    // Two announced (one as the first sweep runs), two never.
    let a1 = put("cam1", 0, 1);
    let a2 = put("cam2", 0, 2);
    put("cam3", 0, 3);
    put("cam1", 5, 4);
    // Not the platform's recordings: outside the prefix, or an HLS piece.
    s3.put_file("platform", "other/x.flv", b"not swept");
    s3.put_file("platform", "record/liveApp/cam1/seg-1.ts", b"a piece");

    let dir = tempfile::tempdir().unwrap();
    let mut d = Daemon::start_in(dir.path(), &config(&s3));
    post(&d, &a1, "cam1").await;
    post(&d, &a2, "cam2").await;
    settled(&d, 4).await;
    // A sweep or two more finds nothing new.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(d.all_items("/api/v1/catalog").await.len(), 4);
    d.terminate();
    drop(d);

    // Between two sweeps: one more announced, one more never; the
    // restart's full listing meets the four archived again.
    let a3 = put("cam2", 5, 5);
    put("cam3", 5, 6);
    let d = Daemon::start_in(dir.path(), &config(&s3));
    post(&d, &a3, "cam2").await;
    settled(&d, 6).await;
    // Written while it runs, after the watermark: an incremental listing finds it.
    put("cam4", 0, 7);
    let entries = settled(&d, 7).await;
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let entries_after = d.all_items("/api/v1/catalog").await;
    assert_eq!(entries_after.len(), 7, "{entries_after:#?}");

    // Each object once, its bytes verified, its facts from the key.
    let mut seen = HashMap::new();
    for e in &entries {
        let origin = e["origin"]["value"].as_str().unwrap_or_default().to_owned();
        assert!(
            seen.insert(origin.clone(), e.clone()).is_none(),
            "{origin} twice"
        );
        assert_eq!(
            e["sha256"].as_str(),
            bytes.get(&origin).map(String::as_str),
            "{e:#}"
        );
        assert_eq!(e["app"], "liveApp", "{e:#}");
    }
    assert_eq!(seen.len(), 7);
    // Never announced: found by the sweep. Announced: by whichever of the
    // two came first (the sweep runs as the daemon starts), the other
    // finding its job.
    for (stream, minute) in [("cam3", 0), ("cam1", 5), ("cam3", 5), ("cam4", 0)] {
        let e = seen.get(&key(stream, minute)).unwrap();
        assert_eq!(e["found_by"], "sweep", "{e:#}");
        assert_eq!(e["stream"], stream, "{e:#}");
    }
    let cam3 = seen.get(&key("cam3", 0)).unwrap();
    // 10:00 in Beijing is 02:00 UTC.
    assert_eq!(cam3["started_at"], "2024-05-01T02:00:00.000Z", "{cam3:#}");
    let events = d.all_items("/api/v1/events?kind=recording_ready").await;
    let callbacks = events.iter().filter(|e| e["found_by"] != "sweep").count();
    assert_eq!(callbacks, 3, "{events:#?}");
    let stored: Vec<_> = s3
        .object_files("archive")
        .into_iter()
        .filter(|p| !p.to_string_lossy().contains("/_catalog/"))
        .collect();
    assert_eq!(stored.len(), 7, "{stored:#?}");
}
