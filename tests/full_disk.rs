//! A full disk under the state store: callbacks get 503 with a reason (the
//! platform retries), `/readyz` says so, and once room returns the daemon
//! heals by itself (it exits 75 to be started again, as systemd's
//! `Restart=on-failure` does here), losing nothing it acknowledged. The
//! state lives on a small tmpfs mounted for the test (root, or sudo).

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::tmpfs::Tmpfs;
use common::{jd_record_done, Daemon};
use serde_json::Value;

/// Fills the file system holding `dir` to the last byte; returns the filler.
fn fill(dir: &Path) -> PathBuf {
    let filler = dir.join("filler");
    let mut f = std::fs::File::create(&filler).unwrap();
    let chunk = vec![0u8; 64 << 10];
    while f.write_all(&chunk).is_ok() {}
    let byte = [0u8; 1];
    while f.write_all(&byte).is_ok() {}
    filler
}

const SOURCE: &str =
    "[transfer]\nworkers = 0\n[[sources]]\nname = \"jd\"\nprovider = \"jdcloud\"\ntoken = \"t\"\n";

async fn post(d: &Daemon, i: usize) -> (u16, Value) {
    let url = format!("http://example.com/rec/{i}.flv");
    d.post(
        "jd?token=t",
        Some("application/json"),
        jd_record_done(&url, &format!("s{i}")),
    )
    .await
}

async fn readyz(d: &Daemon) -> (u16, Value) {
    let r = d.http().get(d.url("/readyz")).send().await.unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_answers_503_and_heals_by_itself_losing_nothing_acknowledged() {
    let fs = Tmpfs::mount("64m");
    let mut d = Daemon::start_in(fs.path(), SOURCE);
    let mut acked = Vec::new();
    for i in 0..20 {
        assert_eq!(post(&d, i).await.0, 200);
        acked.push(i);
    }
    let filler = fill(fs.path());

    // Callbacks now fail, each with a reason, and none is half-taken.
    let mut refused = None;
    for i in 20..5000 {
        let (status, body) = post(&d, i).await;
        match status {
            200 => acked.push(i),
            503 => {
                refused = Some(body);
                break;
            }
            s => panic!("answer {s}: {body}"),
        }
    }
    let refused = refused.expect("a full disk refuses callbacks");
    assert_eq!(refused["code"], "state_unavailable", "{refused}");
    assert!(
        refused["message"].as_str().unwrap().contains("retry later"),
        "{refused}"
    );
    let (status, body) = readyz(&d).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["code"], "state_unwritable", "{body}");

    // Room again: the daemon reopens its store by exiting 75; started again
    // (as systemd would), it takes callbacks and still holds every one it
    // acknowledged.
    std::fs::remove_file(&filler).unwrap();
    let exit = d.wait_exit(Duration::from_secs(20));
    assert_eq!(
        exit.and_then(|s| s.code()),
        Some(75),
        "exits to be restarted once there is room\n{}",
        d.log_text()
    );
    let d = Daemon::start_in(fs.path(), SOURCE);
    let start = Instant::now();
    loop {
        let (status, body) = readyz(&d).await;
        if status == 200 {
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(10), "{body}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(post(&d, 9999).await.0, 200);
    let events = d.all_items("/api/v1/events").await;
    let urls: std::collections::HashSet<String> = events
        .iter()
        .filter_map(|e| e["file"]["location"]["value"].as_str().map(str::to_owned))
        .collect();
    for i in &acked {
        let url = format!("http://example.com/rec/{i}.flv");
        assert!(
            urls.contains(&url),
            "acknowledged callback {i} is lost: {urls:?}"
        );
    }
    eprintln!(
        "{} callbacks acknowledged before the disk filled up; all kept",
        acked.len()
    );
}
