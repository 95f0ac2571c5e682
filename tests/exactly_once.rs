//! Every file archived once, never overwritten: the real daemon, a real
//! S3-protocol server (s3s-fs over HTTP) and a real HTTP origin.

mod common;

use std::time::{Duration, Instant};

use common::origin::{FileSpec, Origin};
use common::s3::S3Server;
use common::{fixture, random_bytes, sha256_hex, Daemon};
use serde_json::{json, Value};

const QUICK: &str = "[transfer]\nworkers = 2\nretry_initial_secs = 1\nretry_max_secs = 2\nrequest_timeout_secs = 5\nlease_secs = 6\n";

async fn start(s3: &S3Server, origin: &Origin) -> Daemon {
    // The origin serves the platform's own URLs, as the source's egress proxy.
    Daemon::start(&format!(
        "{QUICK}{}[[sources]]\nname = \"jd\"\nprovider = \"jdcloud\"\ntoken = \"t\"\nproxy = \"http://{}\"\nallow_hosts = [\"*.jcloudcs.com\", \"127.0.0.1\"]\n",
        s3.store_config("recordings"),
        origin.addr
    ))
}

async fn post(d: &Daemon, body: String) -> Value {
    let (status, reply) = d.post("jd?token=t", Some("application/json"), body).await;
    assert_eq!(status, 200, "{reply}");
    reply
}

/// Waits until `n` jobs are done; panics with the jobs and logs otherwise.
async fn done(d: &Daemon, n: usize) {
    let start = Instant::now();
    loop {
        let jobs = d.all_items("/api/v1/jobs").await;
        let finished = jobs.iter().filter(|j| j["state"] == "done").count();
        if finished >= n {
            return;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "{finished} of {n} done: {jobs:#?}\n{}",
            d.log_text()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Every object in the bucket but the sidecars, with its bytes' SHA-256.
async fn objects(s3: &S3Server) -> Vec<(String, String)> {
    let c = s3.client().await;
    let mut out = Vec::new();
    for key in s3.keys("recordings").await {
        if key.ends_with(".json") {
            continue;
        }
        let body = c
            .get_object()
            .bucket("recordings")
            .key(&key)
            .send()
            .await
            .unwrap()
            .body
            .collect()
            .await
            .unwrap()
            .into_bytes();
        out.push((key, sha256_hex(&body)));
    }
    out.sort();
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn snapshots_at_one_url_are_each_archived_and_a_retry_is_not() {
    let s3 = S3Server::start(&["recordings"]).await;
    let origin = Origin::start().await;
    let path = "/jd-video-formal/snapshot/20190328/43/jw/210235T85E3188001452.jpg";
    let first = random_bytes(30_000, 1);
    origin.put(path, FileSpec::bytes(first.clone()));
    let d = start(&s3, &origin).await;

    // JD's own v1.1 example, then the same stream's next snapshot a minute
    // later: the platform overwrites the one URL it names after the stream.
    let example = fixture("jdcloud_v1_1_snapshot.json").replace("<br>", "");
    assert_eq!(post(&d, example.clone()).await["duplicate"], json!(false));
    done(&d, 1).await;
    let second = random_bytes(31_000, 2);
    origin.put(path, FileSpec::bytes(second.clone()));
    let later = example.replace("1553826618026", "1553826678026");
    assert_eq!(post(&d, later.clone()).await["duplicate"], json!(false));
    done(&d, 2).await;
    // A platform's retry of a callback is still the same file.
    assert_eq!(post(&d, later).await["duplicate"], json!(true));

    let stored = objects(&s3).await;
    assert_eq!(stored.len(), 2, "{stored:?}");
    let shas: Vec<&str> = stored.iter().map(|(_, s)| s.as_str()).collect();
    assert!(shas.contains(&sha256_hex(&first).as_str()), "{stored:?}");
    assert!(shas.contains(&sha256_hex(&second).as_str()), "{stored:?}");
    assert_eq!(d.all_items("/api/v1/catalog").await.len(), 2);
    assert_eq!(d.all_items("/api/v1/jobs").await.len(), 2);
}

/// A JD v1.1 record_done for `url` with the given stream and start.
fn record_done(url: &str, begin_ms: u64) -> String {
    json!({
        "version": "v1.1", "publishDomain": "push.example.com", "appName": "live",
        "streamName": "room", "event": "record_done", "status": "success",
        "beginTime": begin_ms, "endTime": begin_ms + 60_000, "downloadUrl": url
    })
    .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn files_with_one_key_are_never_overwritten_and_the_same_bytes_are_stored_once() {
    let s3 = S3Server::start(&["recordings"]).await;
    let origin = Origin::start().await;
    // Same file name, stream and start, different bytes (platforms reuse
    // names: Tencent calls every HLS playlist playlist.m3u8).
    let a = random_bytes(20_000, 3);
    let b = random_bytes(21_000, 4);
    origin.put("/a/record.mp4", FileSpec::bytes(a.clone()));
    origin.put("/b/record.mp4", FileSpec::bytes(b.clone()));
    // And one file announced at two URLs: the same bytes.
    let same = random_bytes(22_000, 5);
    origin.put("/c/rec.flv", FileSpec::bytes(same.clone()));
    origin.put("/d/rec.flv", FileSpec::bytes(same.clone()));
    let d = start(&s3, &origin).await;
    let at = 1_700_000_000_000;
    post(&d, record_done(&origin.url("/a/record.mp4"), at)).await;
    done(&d, 1).await;
    post(&d, record_done(&origin.url("/b/record.mp4"), at)).await;
    done(&d, 2).await;
    post(&d, record_done(&origin.url("/c/rec.flv"), at)).await;
    done(&d, 3).await;
    post(&d, record_done(&origin.url("/d/rec.flv"), at)).await;
    done(&d, 4).await;

    let prefix = "recording/push.example.com/live/room/2023/11/14/20231114T221320Z-";
    let stored = objects(&s3).await;
    assert_eq!(
        stored,
        vec![
            (format!("{prefix}rec.flv"), sha256_hex(&same)),
            (format!("{prefix}record.mp4"), sha256_hex(&a)),
            (format!("{prefix}record~2.mp4"), sha256_hex(&b)),
        ],
        "two objects for two files, neither overwritten; one for the same bytes"
    );
    // Each catalog entry describes bytes that are there.
    let catalog = d.all_items("/api/v1/catalog").await;
    assert_eq!(catalog.len(), 4);
    for e in &catalog {
        let key = e["store"]["key"].as_str().unwrap();
        let sha = &stored.iter().find(|(k, _)| k == key).unwrap().1;
        assert_eq!(e["sha256"], json!(sha), "{e}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_fs_store_never_overwrites_a_file_either() {
    let origin = Origin::start().await;
    let a = random_bytes(20_000, 6);
    let b = random_bytes(21_000, 7);
    origin.put("/a/record.mp4", FileSpec::bytes(a.clone()));
    origin.put("/b/record.mp4", FileSpec::bytes(b.clone()));
    origin.put("/c/record.mp4", FileSpec::bytes(a.clone()));
    let d = Daemon::start(&format!(
        "{QUICK}[[sources]]\nname = \"jd\"\nprovider = \"jdcloud\"\ntoken = \"t\"\nallow_hosts = [\"127.0.0.1\"]\n"
    ));
    for (n, path) in ["/a/record.mp4", "/b/record.mp4", "/c/record.mp4"]
        .iter()
        .enumerate()
    {
        post(&d, record_done(&origin.url(path), 1_700_000_000_000)).await;
        done(&d, n + 1).await;
    }
    let dir = d
        .dir
        .join("archive/recording/push.example.com/live/room/2023/11/14");
    let read = |name: &str| sha256_hex(&std::fs::read(dir.join(name)).unwrap());
    assert_eq!(read("20231114T221320Z-record.mp4"), sha256_hex(&a));
    assert_eq!(read("20231114T221320Z-record~2.mp4"), sha256_hex(&b));
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| !n.ends_with(".json"))
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "20231114T221320Z-record.mp4",
            "20231114T221320Z-record~2.mp4"
        ],
        "the third announcement holds the first's bytes: no third file, no temporary left"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_file_replaced_mid_download_is_never_spliced() {
    use common::origin::Fault;
    let s3 = S3Server::start(&["recordings"]).await;
    let origin = Origin::start().await;
    let len = 3 << 20;
    let old = random_bytes(len, 8);
    let new = random_bytes(len, 9); // the same length: only a validator tells them apart
    let mut spec = FileSpec::bytes(old.clone()).with_faults(&[Fault::ResetAt(1 << 20)]);
    spec.replaced_on_reset = Some(Box::new(FileSpec::bytes(new.clone())));
    origin.put("/swap.flv", spec);
    let d = start(&s3, &origin).await;
    post(&d, record_done(&origin.url("/swap.flv"), 1_700_000_000_000)).await;
    done(&d, 1).await;
    let stored = objects(&s3).await;
    assert_eq!(stored.len(), 1, "{stored:?}");
    // The resume asked for the old bytes only (If-Range); the origin sent the
    // new file whole, and the attempt restarted on it.
    assert_eq!(stored[0].1, sha256_hex(&new), "the new file, whole");
    let mut spliced = old[..1 << 20].to_vec();
    spliced.extend_from_slice(&new[1 << 20..]);
    assert_ne!(stored[0].1, sha256_hex(&spliced));
    let catalog = d.all_items("/api/v1/catalog").await;
    assert_eq!(catalog[0]["sha256"], json!(sha256_hex(&new)));
}
