//! Memory is bounded by configuration, not by file size: a 1 GiB recording
//! passes through the daemon (default transfer settings, S3 multipart) while
//! its peak RSS stays under 150 MiB.

mod common;

use std::time::{Duration, Instant};

use common::origin::{Content, FileSpec, Origin};
use common::s3::S3Server;
use common::Daemon;
use serde_json::json;

/// Peak resident set of a process, in bytes (VmHWM).
fn peak_rss(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM");
    kb * 1024
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_1_gib_recording_streams_through_in_bounded_memory() {
    const GIB: u64 = 1 << 30;
    let s3 = S3Server::start(&["recordings"]).await;
    let origin = Origin::start().await;
    let content = Content::Generated { len: GIB, seed: 7 };
    origin.put("/huge.flv", FileSpec::new(content.clone()));
    let config = format!(
        "{}[[sources]]\nname = \"jd\"\nprovider = \"jdcloud\"\ntoken = \"t\"\nallow_hosts = [\"127.0.0.1\"]\n",
        s3.store_config("recordings")
    );
    let d = Daemon::start(&config);
    let body = json!({
        "version": "v1.1", "publishDomain": "p.example", "appName": "live", "streamName": "huge",
        "event": "record_done", "status": "success", "downloadUrl": origin.url("/huge.flv")
    });
    let (status, _) = d
        .post("jd?token=t", Some("application/json"), body.to_string())
        .await;
    assert_eq!(status, 200);

    let expected_sha = content.sha256();
    let start = Instant::now();
    let entry = loop {
        let items = d.all_items("/api/v1/catalog").await;
        if let Some(e) = items.first() {
            break e.clone();
        }
        let jobs = d.all_items("/api/v1/jobs").await;
        assert!(jobs[0]["state"] != "failed", "{jobs:?}\n{}", d.log_text());
        assert!(start.elapsed() < Duration::from_secs(300), "{jobs:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let peak = peak_rss(d.pid());
    eprintln!(
        "1 GiB archived in {:.1}s; daemon peak RSS {:.1} MiB",
        start.elapsed().as_secs_f64(),
        peak as f64 / (1 << 20) as f64
    );
    assert_eq!(entry["size"], json!(GIB));
    assert_eq!(entry["sha256"], json!(expected_sha));
    let on_disk =
        std::fs::metadata(s3.path("recordings", entry["store"]["key"].as_str().unwrap())).unwrap();
    assert_eq!(on_disk.len(), GIB);
    assert!(
        peak < 150 << 20,
        "peak RSS {peak} bytes is not under 150 MiB"
    );
}
