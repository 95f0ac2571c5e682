//! Memory is bounded by configuration, not by file size: a 1 GiB recording
//! passes through the daemon (default transfer settings, S3 multipart) while
//! its peak RSS stays under 150 MiB; and parts of a file of known size are
//! streamed, not held: with 64 MiB parts, two in flight, the daemon stays
//! under the 128 MiB two buffered parts would take.

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

/// Archives a generated file of `len` bytes (`chunked`: of no announced
/// length) into s3s-fs with `transfer` (TOML for `[transfer]`), checks it,
/// and returns the daemon's peak RSS.
async fn archive_measured(len: u64, chunked: bool, transfer: &str) -> u64 {
    let s3 = S3Server::start(&["recordings"]).await;
    let origin = Origin::start().await;
    let content = Content::Generated { len, seed: 7 };
    let mut spec = FileSpec::new(content.clone());
    spec.chunked = chunked;
    origin.put("/huge.flv", spec);
    let config = format!(
        "{}[transfer]\n{transfer}\n[[sources]]\nname = \"jd\"\nprovider = \"jdcloud\"\ntoken = \"t\"\nallow_hosts = [\"127.0.0.1\"]\n",
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
        "{} MiB archived in {:.1}s ({transfer:?}); daemon peak RSS {:.1} MiB",
        len >> 20,
        start.elapsed().as_secs_f64(),
        peak as f64 / (1 << 20) as f64
    );
    assert_eq!(entry["size"], json!(len));
    assert_eq!(entry["sha256"], json!(expected_sha));
    let on_disk =
        std::fs::metadata(s3.path("recordings", entry["store"]["key"].as_str().unwrap())).unwrap();
    assert_eq!(on_disk.len(), len);
    peak
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_1_gib_recording_streams_through_in_bounded_memory() {
    let peak = archive_measured(1 << 30, false, "").await;
    assert!(
        peak < 150 << 20,
        "peak RSS {peak} bytes is not under 150 MiB"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn parts_of_a_known_size_are_streamed_not_held() {
    let peak = archive_measured(
        512 << 20,
        false,
        "part_size = 67108864\nparts_in_flight = 2\nstream_parts = true",
    )
    .await;
    assert!(
        peak < 100 << 20,
        "peak RSS {} MiB: parts of 64 MiB were held in memory",
        peak >> 20
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_file_of_no_announced_length_goes_up_in_buffered_parts() {
    // 20 MiB in 8 MiB parts, the last one shorter: its length is known
    // only at the end, so even with streaming on each part is held whole.
    let peak = archive_measured(20 << 20, true, "stream_parts = true").await;
    assert!(peak < 150 << 20, "peak RSS {peak}");
}
