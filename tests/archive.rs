//! Archiving, end to end: the real daemon, a real S3-protocol server (s3s-fs
//! over HTTP) and real HTTP origins, some of them faulty.

mod common;

use std::time::{Duration, Instant};

use bytes::Bytes;
use common::origin::{Content, Fault, FileSpec, Origin};
use common::s3::{S3Server, ACCESS_KEY, SECRET_KEY};
use common::{fixture, jd_record_done, random_bytes, sha256_hex, Daemon};
use serde_json::{json, Value};

/// Fast retries, so faults resolve within a test.
const QUICK_TRANSFER: &str = "[transfer]\nworkers = 2\nretry_initial_secs = 1\nretry_max_secs = 2\nrequest_timeout_secs = 5\nlease_secs = 6\n";

/// A source whose full-URL downloads may come from the test origin.
fn url_source(name: &str) -> String {
    format!("[[sources]]\nname = \"{name}\"\nprovider = \"jdcloud\"\ntoken = \"t\"\nallow_hosts = [\"127.0.0.1\"]\n")
}

/// Waits until `n` jobs are in `state`; on timeout shows the jobs and the daemon's logs.
async fn wait_jobs(d: &Daemon, state: &str, n: usize, limit: Duration) -> Vec<Value> {
    let start = Instant::now();
    loop {
        let jobs = d.all_items(&format!("/api/v1/jobs?state={state}")).await;
        if jobs.len() >= n {
            return jobs;
        }
        if start.elapsed() > limit {
            let all = d.all_items("/api/v1/jobs").await;
            panic!(
                "{} of {n} jobs {state} after {limit:?}\njobs: {}\nlogs:\n{}",
                jobs.len(),
                serde_json::to_string_pretty(&all).unwrap(),
                d.log_text()
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits until the (only) job has received more than `n` bytes.
async fn wait_bytes(d: &Daemon, n: u64) {
    let start = Instant::now();
    loop {
        let jobs = d.all_items("/api/v1/jobs").await;
        if jobs[0]["bytes_done"].as_u64().unwrap_or(0) > n {
            return;
        }
        assert!(start.elapsed() < Duration::from_secs(60), "{jobs:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn post(d: &Daemon, source: &str, body: String) -> Value {
    let (status, reply) = d
        .post(&format!("{source}?token=t"), Some("application/json"), body)
        .await;
    assert_eq!(status, 200, "{reply}");
    reply
}

/// Reads an archived object and its metadata.
async fn object(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    key: &str,
) -> (Bytes, std::collections::HashMap<String, String>) {
    let out = s3
        .get_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .unwrap_or_else(|e| {
            panic!(
                "s3://{bucket}/{key}: {}",
                aws_sdk_s3::error::DisplayErrorContext(e)
            )
        });
    let meta = out.metadata.clone().unwrap_or_default();
    (out.body.collect().await.unwrap().into_bytes(), meta)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_seed_example_with_a_file_lands_in_s3_verified_and_catalogued() {
    let s3 = S3Server::start(&["recordings", "bucketname"]).await;
    let origin = Origin::start().await;

    // JD legacy: `url` = bucket/key in JD Cloud OSS (here: the S3 server).
    let legacy_key = "record/20180423/push.test.com/app/live/20180423174942_20180423180942.flv";
    let legacy = random_bytes(3 << 20, 1);
    s3.put_file("bucketname", legacy_key, &legacy);
    // JD v1.1: full download URLs, served by the origin acting as the egress proxy.
    let auto_path = "/jd-video-formal/record/20190319/57/live/62caee8d6c595e9441be/20190319175419_20190319175422.flv";
    let auto = random_bytes(20 << 20, 2); // several parts: multipart upload
    origin.put(auto_path, FileSpec::bytes(auto.clone()));
    let point_path =
        "/ngwcloud1oss/record/20190322/jdpush.jd.com/live/347031/20190322122547_20190322173152.mp4";
    let point = random_bytes(1 << 20, 3);
    origin.put(point_path, FileSpec::bytes(point.clone()));
    let snap_path = "/jd-video-formal/snapshot/20190328/43/jw/210235T85E3188001452.jpg";
    let snap = random_bytes(50_000, 4);
    origin.put(snap_path, FileSpec::bytes(snap.clone()));
    // Alibaba: `uri` relative to the recording bucket, here behind an HTTP origin.
    let ali_path = "/oss/liveApp****/liveStream****/0_2017-03-08-23:09:46_2017-03-08-23:10:40.flv";
    let ali = random_bytes(2 << 20, 5);
    origin.put(ali_path, FileSpec::bytes(ali.clone()));

    let config = format!(
        "{QUICK_TRANSFER}{store}
[[sources]]
name = \"jd\"
provider = \"jdcloud\"
token = \"t\"
proxy = \"http://{proxy}\"
allow_hosts = [\"*.jcloudcs.com\"]
[sources.origin]
type = \"s3\"
endpoint = \"{endpoint}\"
access_key_id = \"{ACCESS_KEY}\"
secret_access_key = \"{SECRET_KEY}\"

[[sources]]
name = \"ali\"
provider = \"aliyun\"
token = \"t\"
[sources.origin]
type = \"http\"
base_url = \"{oss}\"
",
        store = s3.store_config("recordings"),
        proxy = origin.addr,
        endpoint = s3.endpoint,
        oss = origin.url("/oss/"),
    );
    let d = Daemon::start(&config);
    for name in [
        "jdcloud_legacy_record_part_done.json",
        "jdcloud_v1_1_record_done_auto.json",
        "jdcloud_v1_1_record_done_point.json",
        "jdcloud_v1_1_snapshot.json",
    ] {
        post(&d, "jd", fixture(name)).await;
    }
    post(&d, "ali", fixture("aliyun_record_generated.json")).await;
    wait_jobs(&d, "done", 5, Duration::from_secs(60)).await;

    let expected = [
        ("recording/push.test.com/appname/streamname/2018/04/23/20180423T094942Z-20180423174942_20180423180942.flv", &legacy, "streamname", "jdcloud", "jd"),
        ("recording/push.yourdomain.com/live/350802/2019/03/28/20190328T025733Z-20190319175419_20190319175422.flv", &auto, "350802", "jdcloud", "jd"),
        ("recording/push.yourdomain.com/live/350802/2019/03/22/20190322T042547Z-20190322122547_20190322173152.mp4", &point, "350802", "jdcloud", "jd"),
        ("snapshot/push.yourdomain.com/jw/210235T85E3188001452/2019/03/29/20190329T023018Z-210235T85E3188001452.jpg", &snap, "210235T85E3188001452", "jdcloud", "jd"),
        ("recording/demo.aliyundoc.com/liveApp****/liveStream****/2017/03/08/20170308T150946Z-0_2017-03-08-23:09:46_2017-03-08-23:10:40.flv", &ali, "liveStream****", "aliyun", "ali"),
    ];
    let s3c = s3.client().await;
    let catalog = d.all_items("/api/v1/catalog").await;
    assert_eq!(catalog.len(), 5);
    for (key, content, stream, provider, source) in expected {
        let (body, meta) = object(&s3c, "recordings", key).await;
        let sha = sha256_hex(content);
        assert_eq!(sha256_hex(&body), sha, "{key}: bytes as at the origin");
        // Checksums are object metadata for a file of one part; a
        // multipart object's are only in its sidecar (no copy to set them).
        let one_part = content.len() <= 8 << 20;
        let in_meta = one_part.then_some(&sha);
        assert_eq!(meta.get("sha256"), in_meta, "{key}: {meta:?}");
        assert_eq!(
            meta.get("stream").map(String::as_str),
            Some(stream),
            "{key}: {meta:?}"
        );
        assert_eq!(meta.get("provider").map(String::as_str), Some(provider));
        assert_eq!(meta.get("source").map(String::as_str), Some(source));
        let (sidecar, _) = object(&s3c, "recordings", &format!("{key}.json")).await;
        let sidecar: Value = serde_json::from_slice(&sidecar).unwrap();
        assert_eq!(sidecar["sha256"], json!(sha));
        let entry = catalog
            .iter()
            .find(|e| e["store"]["key"] == json!(key))
            .unwrap_or_else(|| panic!("{key} catalogued: {catalog:?}"));
        assert_eq!(entry["sha256"], json!(sha));
        assert_eq!(entry["size"], json!(content.len()));
        assert_eq!(entry["store"]["bucket"], "recordings");
        assert_eq!(entry["store"]["type"], "s3");
        for field in [
            "id",
            "kind",
            "source",
            "provider",
            "domain",
            "app",
            "stream",
            "format",
            "started_at",
            "ended_at",
            "duration_s",
            "origin",
            "md5",
            "archived_at",
            "job_id",
            "event_id",
            "params",
        ] {
            assert!(entry.get(field).is_some(), "{field} in {entry}");
        }
        let by_id = d
            .get_json(&format!(
                "/api/v1/catalog/{}",
                entry["id"].as_str().unwrap()
            ))
            .await;
        assert_eq!(&by_id, entry);
    }
    let point_entry = catalog
        .iter()
        .find(|e| e["store"]["key"].as_str().unwrap().ends_with(".mp4"))
        .unwrap();
    assert_eq!(
        point_entry["group"].as_array().map(Vec::len),
        Some(2),
        "JD's group is kept"
    );
    let ali_entry = catalog.iter().find(|e| e["provider"] == "aliyun").unwrap();
    assert_eq!(ali_entry["params"]["callback_myid"], "1231389741");
    // The catalog filters by stream and kind.
    assert_eq!(d.all_items("/api/v1/catalog?stream=350802").await.len(), 2);
    assert_eq!(
        d.all_items("/api/v1/catalog?stream=350802&kind=snapshot")
            .await
            .len(),
        0
    );
    assert_eq!(d.all_items("/api/v1/catalog?kind=snapshot").await.len(), 1);
    let in_2019 = d
        .all_items("/api/v1/catalog?since=2019-01-01T00:00:00Z&until=2019-12-31T00:00:00Z")
        .await;
    assert_eq!(
        in_2019.len(),
        3,
        "{}",
        serde_json::to_string_pretty(&catalog).unwrap()
    );
    assert!(
        s3.open_uploads().is_empty(),
        "no multipart upload left open"
    );
    let jobs = d.all_items("/api/v1/jobs?state=done").await;
    assert!(
        jobs.iter()
            .all(|j| j["bytes_done"] == j["bytes_total"] && j["bytes_total"].is_u64()),
        "{jobs:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_faulty_origin_still_yields_every_file_intact() {
    let origin = Origin::start().await;
    let files: Vec<(&str, FileSpec)> = vec![
        (
            "/503-first.flv",
            FileSpec::bytes(random_bytes(300_000, 10))
                .with_faults(&[Fault::Status(503), Fault::Status(503)]),
        ),
        (
            "/reset-mid-body.flv",
            FileSpec::bytes(random_bytes(3 << 20, 11)).with_faults(&[Fault::ResetAt(1 << 20)]),
        ),
        (
            "/short-body.flv",
            FileSpec::bytes(random_bytes(2 << 20, 12)).with_faults(&[Fault::CloseAt(500_000)]),
        ),
        (
            "/404-then-200.flv",
            FileSpec::bytes(random_bytes(100_000, 13)).with_faults(&[Fault::Status(404)]),
        ),
        (
            "/429-first.flv",
            FileSpec::bytes(random_bytes(100_000, 14)).with_faults(&[Fault::Status(429)]),
        ),
        ("/slow.flv", {
            let mut f = FileSpec::bytes(random_bytes(1 << 20, 15));
            f.delay = Some(Duration::from_millis(60));
            f
        }),
        ("/no-ranges-reset.flv", {
            let mut f =
                FileSpec::bytes(random_bytes(1 << 20, 16)).with_faults(&[Fault::ResetAt(300_000)]);
            f.ranges = false;
            f
        }),
    ];
    for (path, spec) in &files {
        origin.put(path, spec.clone());
    }
    let d = Daemon::start(&format!("{QUICK_TRANSFER}{}", url_source("jd")));
    for (i, (path, _)) in files.iter().enumerate() {
        post(
            &d,
            "jd",
            jd_record_done(&origin.url(path), &format!("s{i}")),
        )
        .await;
    }
    wait_jobs(&d, "done", files.len(), Duration::from_secs(60)).await;
    let catalog = d.all_items("/api/v1/catalog").await;
    for (path, spec) in &files {
        let entry = catalog
            .iter()
            .find(|e| e["origin"]["value"] == json!(origin.url(path)))
            .unwrap_or_else(|| panic!("{path} archived"));
        assert_eq!(entry["sha256"], json!(spec.content.sha256()), "{path}");
        let on_disk = std::fs::read(entry["store"]["path"].as_str().unwrap()).unwrap();
        assert_eq!(
            sha256_hex(&on_disk),
            spec.content.sha256(),
            "{path}: file on disk"
        );
    }
    // Broken bodies were continued with a Range request inside the attempt.
    assert!(origin
        .requests("/reset-mid-body.flv")
        .iter()
        .any(|&start| start > 0));
    assert!(origin
        .requests("/short-body.flv")
        .iter()
        .any(|&start| start > 0));
    // Without range support the attempt restarted from byte 0.
    assert!(origin
        .requests("/no-ranges-reset.flv")
        .iter()
        .all(|&start| start == 0));
    let jobs = d.all_items("/api/v1/jobs").await;
    let attempts = |p: &str| {
        let e = catalog
            .iter()
            .find(|e| e["origin"]["value"] == json!(origin.url(p)))
            .unwrap();
        jobs.iter().find(|j| j["id"] == e["job_id"]).unwrap()["attempts"]
            .as_u64()
            .unwrap()
    };
    assert_eq!(attempts("/503-first.flv"), 3);
    assert_eq!(
        attempts("/reset-mid-body.flv"),
        1,
        "resumed within the attempt"
    );
    assert_eq!(attempts("/404-then-200.flv"), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_refusing_origin_fails_clearly_and_a_retry_by_hand_succeeds_once_it_recovers() {
    let origin = Origin::start().await;
    let content = random_bytes(200_000, 20);
    origin.put(
        "/denied.flv",
        FileSpec::bytes(content.clone()).with_faults(&[Fault::Status(403)]),
    );
    origin.put(
        "/gone.flv",
        FileSpec::bytes(content.clone()).with_faults(&[Fault::Status(404); 5]),
    );
    let d = Daemon::start(&format!(
        "{QUICK_TRANSFER}not_found_attempts = 2\n{}",
        url_source("jd")
    ));
    post(&d, "jd", jd_record_done(&origin.url("/denied.flv"), "a")).await;
    post(&d, "jd", jd_record_done(&origin.url("/gone.flv"), "b")).await;
    let failed = wait_jobs(&d, "failed", 2, Duration::from_secs(30)).await;
    let denied = failed
        .iter()
        .find(|j| j["origin"]["value"] == json!(origin.url("/denied.flv")))
        .unwrap();
    let err = denied["last_error"].as_str().unwrap();
    assert!(err.contains("403") && err.contains("/denied.flv"), "{err}");
    assert_eq!(denied["attempts"], 1, "a 403 is not retried");
    let gone = failed
        .iter()
        .find(|j| j["origin"]["value"] == json!(origin.url("/gone.flv")))
        .unwrap();
    assert!(gone["last_error"].as_str().unwrap().contains("404"));
    assert_eq!(
        gone["attempts"], 2,
        "a 404 is retried within not_found_attempts"
    );

    // Retrying a job that has not failed is refused.
    let r = d
        .http()
        .post(d.url("/api/v1/jobs/00/retry"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);

    // The origin recovers (its faults are spent); a retry by hand completes it.
    let id = denied["id"].as_str().unwrap();
    let r = d
        .http()
        .post(d.url(&format!("/api/v1/jobs/{id}/retry")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let again: Value = r.json().await.unwrap();
    assert_eq!(again["state"], "queued");
    let start = Instant::now();
    loop {
        let job = d.get_json(&format!("/api/v1/jobs/{id}")).await;
        if job["state"] == "done" {
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(30), "{job}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let r = d
        .http()
        .post(d.url(&format!("/api/v1/jobs/{id}/retry")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 409, "a done job is not retried");
    let entries = d.all_items("/api/v1/catalog?stream=a").await;
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0]["sha256"], json!(sha256_hex(&content)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_sigkill_mid_transfer_then_a_restart_completes_the_job_once_with_no_upload_left() {
    let s3 = S3Server::start(&["recordings"]).await;
    let origin = Origin::start().await;
    let content = random_bytes(40 << 20, 30);
    let mut slow = FileSpec::bytes(content.clone());
    slow.delay = Some(Duration::from_millis(20)); // ~3 MiB/s
    origin.put("/big.flv", slow);
    let dir = tempfile::tempdir().unwrap();
    let config = format!(
        "{QUICK_TRANSFER}{}{}",
        s3.store_config("recordings"),
        url_source("jd")
    );
    let mut d = Daemon::start_in(dir.path(), &config);
    post(&d, "jd", jd_record_done(&origin.url("/big.flv"), "big")).await;

    // Kill once a multipart upload is under way (more than a part received).
    wait_bytes(&d, 12 << 20).await;
    d.kill9();
    assert!(
        !s3.open_uploads().is_empty(),
        "the killed transfer left its multipart upload open"
    );

    origin.put("/big.flv", FileSpec::bytes(content.clone()));
    let d = Daemon::start_in(dir.path(), &config);
    wait_jobs(&d, "done", 1, Duration::from_secs(60)).await;
    let catalog = d.all_items("/api/v1/catalog").await;
    assert_eq!(catalog.len(), 1, "exactly one catalog entry");
    assert_eq!(catalog[0]["sha256"], json!(sha256_hex(&content)));
    let (body, _) = object(
        &s3.client().await,
        "recordings",
        catalog[0]["store"]["key"].as_str().unwrap(),
    )
    .await;
    assert_eq!(sha256_hex(&body), sha256_hex(&content));
    assert!(
        s3.open_uploads().is_empty(),
        "the stale upload was aborted: {:?}",
        s3.open_uploads()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_fs_store_writes_the_file_and_its_sidecar_and_nothing_else() {
    let origin = Origin::start().await;
    let content = random_bytes(1 << 20, 40);
    origin.put("/x/a.flv", FileSpec::bytes(content.clone()));
    let d = Daemon::start(&format!("{QUICK_TRANSFER}{}", url_source("jd")));
    post(
        &d,
        "jd",
        jd_record_done(&origin.url("/x/a.flv"), "../../etc"),
    )
    .await;
    wait_jobs(&d, "done", 1, Duration::from_secs(30)).await;
    let entry = &d.all_items("/api/v1/catalog").await[0];
    let path = std::path::PathBuf::from(entry["store"]["path"].as_str().unwrap());
    let archive = d.dir.join("archive");
    assert_eq!(
        path,
        archive.join("recording/push.example.com/live/.._.._etc/2023/11/14/20231114T221320Z-a.flv")
    );
    assert_eq!(
        sha256_hex(&std::fs::read(&path).unwrap()),
        sha256_hex(&content)
    );
    let sidecar: Value =
        serde_json::from_slice(&std::fs::read(format!("{}.json", path.display())).unwrap())
            .unwrap();
    assert_eq!(sidecar["sha256"], entry["sha256"]);
    let names: Vec<String> = std::fs::read_dir(path.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names.len(), 2, "no temporary file left: {names:?}");

    // Every log line about the job carries its id, source and stream.
    let logs = d.log_text();
    let line = logs
        .lines()
        .find(|l| l.contains("archived to"))
        .unwrap_or_else(|| panic!("{logs}"));
    let v: Value = serde_json::from_str(line).unwrap();
    assert_eq!(v["span"]["job_id"], entry["job_id"], "{v}");
    assert_eq!(v["span"]["source"], "jd", "{v}");
    assert_eq!(v["span"]["stream"], "../../etc", "{v}");

    // The CLI lists it: a table by default, the API's JSON with --json.
    let cli = |args: &[&str]| {
        let out = std::process::Command::new(common::binary())
            .args(["catalog", "list", "--api", &d.base, "--config"])
            .arg(d.dir.join("config.toml"))
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    let table = cli(&["--stream", "../../etc"]);
    assert!(table.starts_with("STARTED"), "{table}");
    assert!(
        table.contains("live/../../etc") && table.contains("1.0 MiB") && table.contains("1 entry"),
        "{table}"
    );
    let listed: Value =
        serde_json::from_str(&cli(&["--json", "--since", "2023-01-01T00:00:00Z"])).unwrap();
    assert_eq!(listed["items"][0]["sha256"], entry["sha256"]);
    let none: Value =
        serde_json::from_str(&cli(&["--json", "--since", "2024-01-01T00:00:00Z"])).unwrap();
    assert_eq!(none["items"].as_array().unwrap().len(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_host_not_allowed_is_never_fetched() {
    let origin = Origin::start().await;
    origin.put("/a.flv", FileSpec::bytes(random_bytes(1000, 50)));
    // The source allows only another host.
    let d = Daemon::start(&format!(
        "{QUICK_TRANSFER}[[sources]]\nname = \"jd\"\nprovider = \"jdcloud\"\ntoken = \"t\"\nallow_hosts = [\"*.jcloudcs.com\"]\n"
    ));
    post(&d, "jd", jd_record_done(&origin.url("/a.flv"), "s")).await;
    let failed = wait_jobs(&d, "failed", 1, Duration::from_secs(30)).await;
    assert!(
        failed[0]["last_error"]
            .as_str()
            .unwrap()
            .contains("not an allowed host"),
        "{}",
        failed[0]
    );
    assert!(origin.requests("/a.flv").is_empty(), "nothing was fetched");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_file_that_does_not_match_the_origins_md5_is_never_catalogued() {
    let origin = Origin::start().await;
    let mut spec = FileSpec::bytes(random_bytes(100_000, 60));
    spec.content_md5 = Some("AAAAAAAAAAAAAAAAAAAAAA==".to_owned()); // 16 zero bytes, not the content's MD5
    origin.put("/tampered.flv", spec);
    let d = Daemon::start(&format!("{QUICK_TRANSFER}{}", url_source("jd")));
    post(&d, "jd", jd_record_done(&origin.url("/tampered.flv"), "s")).await;
    let failed = wait_jobs(&d, "failed", 1, Duration::from_secs(30)).await;
    let err = failed[0]["last_error"].as_str().unwrap();
    assert!(
        err.contains("MD5") && err.contains("00000000000000000000000000000000"),
        "{err}"
    );
    assert_eq!(
        failed[0]["attempts"], 3,
        "a checksum mismatch is retried, then permanent"
    );
    assert!(d.all_items("/api/v1/catalog").await.is_empty());
    let leftovers: Vec<_> = walk(&d.dir.join("archive"));
    assert!(
        leftovers.is_empty(),
        "nothing left in the store: {leftovers:?}"
    );
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .flat_map(|e| {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(&p)
            } else {
                vec![p]
            }
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigterm_mid_transfer_keeps_the_upload_requeues_the_job_and_the_next_start_continues_it() {
    use recording_archiver::queue::JobState;
    use recording_archiver::state::{sled::SledRepo, PageRequest, QueueRepo};
    let s3 = S3Server::start(&["recordings"]).await;
    let origin = Origin::start().await;
    let content = random_bytes(40 << 20, 70);
    let mut slow = FileSpec::bytes(content.clone());
    slow.delay = Some(Duration::from_millis(20));
    origin.put("/big.flv", slow);
    let dir = tempfile::tempdir().unwrap();
    let config = format!(
        "{QUICK_TRANSFER}shutdown_grace_secs = 1\n{}{}",
        s3.store_config("recordings"),
        url_source("jd")
    );
    let mut d = Daemon::start_in(dir.path(), &config);
    post(&d, "jd", jd_record_done(&origin.url("/big.flv"), "big")).await;
    wait_bytes(&d, 12 << 20).await;
    assert!(!s3.open_uploads().is_empty());

    let status = d.terminate();
    assert!(status.success(), "clean exit: {status:?}\n{}", d.log_text());
    assert!(d.log_text().contains("interrupted"), "{}", d.log_text());
    assert_eq!(
        s3.open_uploads().len(),
        1,
        "the interrupted upload is kept, to be continued"
    );
    let offset = {
        let state = dir.path().join("state");
        let repo = SledRepo::open_in(&state, 8 << 20, Duration::from_secs(60)).unwrap();
        let jobs = repo
            .jobs(PageRequest::new(10, None).unwrap(), Box::new(|_| true))
            .await
            .unwrap()
            .items;
        assert_eq!(jobs.len(), 1);
        assert_eq!(
            jobs[0].state,
            JobState::Queued,
            "no job stays running after a clean stop"
        );
        assert_eq!(
            jobs[0].attempts, 0,
            "the interrupted attempt is not counted"
        );
        let progress = jobs[0].upload.as_ref().unwrap().progress.clone().unwrap();
        assert!(
            progress.parts >= 1 && progress.offset >= 5 << 20,
            "{progress:?}"
        );
        progress.offset
    };

    origin.put("/big.flv", FileSpec::bytes(content.clone()));
    let d = Daemon::start_in(dir.path(), &config);
    wait_jobs(&d, "done", 1, Duration::from_secs(60)).await;
    let catalog = d.all_items("/api/v1/catalog").await;
    assert_eq!(catalog.len(), 1);
    assert_eq!(catalog[0]["sha256"], json!(sha256_hex(&content)));
    assert_eq!(
        origin.requests("/big.flv"),
        [0, offset],
        "the second start asks the origin only for the bytes not yet in the store"
    );
    assert!(s3.open_uploads().is_empty(), "{:?}", s3.open_uploads());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn internal_addresses_are_refused_unless_named_exactly_even_behind_a_name() {
    let origin = Origin::start().await;
    origin.put("/a.flv", FileSpec::bytes(random_bytes(1000, 80)));
    let port = origin.addr.rsplit(':').next().unwrap().to_owned();
    let source = |name: &str, allow: &str| {
        format!("[[sources]]\nname = \"{name}\"\nprovider = \"jdcloud\"\ntoken = \"t\"\nallow_hosts = [{allow}]\n")
    };
    let d = Daemon::start(&format!(
        "{QUICK_TRANSFER}{}{}",
        source("any", "\"*\""),
        source("named", "\"localhost\"")
    ));
    // "*" allows any public host, but not a name that resolves to loopback (DNS
    // rebinding), nor the cloud metadata address.
    post(
        &d,
        "any",
        jd_record_done(&format!("http://localhost:{port}/a.flv"), "rebind"),
    )
    .await;
    post(
        &d,
        "any",
        jd_record_done("http://169.254.169.254/latest/meta-data/iam", "metadata"),
    )
    .await;
    let failed = wait_jobs(&d, "failed", 2, Duration::from_secs(30)).await;
    let error_of = |needle: &str| {
        failed
            .iter()
            .find(|j| j["origin"]["value"].as_str().unwrap().contains(needle))
            .unwrap()["last_error"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    assert!(
        error_of("localhost").contains("internal addresses"),
        "{}",
        error_of("localhost")
    );
    assert!(
        error_of("169.254").contains("not an allowed host"),
        "{}",
        error_of("169.254")
    );
    assert!(origin.requests("/a.flv").is_empty(), "nothing was fetched");

    // Listed exactly, the same name is fetched.
    post(
        &d,
        "named",
        jd_record_done(&format!("http://localhost:{port}/a.flv"), "named"),
    )
    .await;
    wait_jobs(&d, "done", 1, Duration::from_secs(30)).await;
    assert_eq!(origin.requests("/a.flv").len(), 1);
}

/// A process's peak virtual memory (VmPeak), in bytes.
fn vm_peak(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmPeak:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap();
    kib * 1024
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_absurd_announced_size_fails_the_job_by_name_before_any_memory_is_reserved() {
    let s3 = S3Server::start(&["recordings"]).await;
    let origin = Origin::start().await;
    let absurd: u64 = 10_000_000_000_000_000;
    origin.put(
        "/huge.flv",
        FileSpec::new(Content::Generated {
            len: absurd,
            seed: 90,
        }),
    );
    let fine = random_bytes(100_000, 91);
    origin.put("/fine.flv", FileSpec::bytes(fine.clone()));
    let d = Daemon::start(&format!(
        "{QUICK_TRANSFER}{}{}",
        s3.store_config("recordings"),
        url_source("jd")
    ));
    post(&d, "jd", jd_record_done(&origin.url("/huge.flv"), "huge")).await;
    let failed = wait_jobs(&d, "failed", 1, Duration::from_secs(30)).await;
    let error = failed[0]["last_error"].as_str().unwrap();
    assert!(error.contains(&absurd.to_string()), "{error}");
    assert_eq!(failed[0]["attempts"], 1, "refused for good, not retried");
    // Before the size was checked, the first part buffer alone reserved
    // 10^12 bytes (VmPeak ~1,281 GiB measured).
    let peak = vm_peak(d.pid());
    assert!(peak < 16 << 30, "VmPeak {} MiB", peak >> 20);

    // The daemon is up and archives the next file.
    post(&d, "jd", jd_record_done(&origin.url("/fine.flv"), "fine")).await;
    wait_jobs(&d, "done", 1, Duration::from_secs(30)).await;
    let catalog = d.all_items("/api/v1/catalog").await;
    assert_eq!(catalog.len(), 1);
    assert_eq!(catalog[0]["sha256"], json!(sha256_hex(&fine)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn error_pages_and_empty_bodies_served_with_200_fail_and_nothing_is_stored() {
    let s3 = S3Server::start(&["recordings"]).await;
    let origin = Origin::start().await;
    let mut page = FileSpec::bytes(&b"<html><body>Access denied</body></html>"[..]);
    page.content_type = Some("text/html; charset=utf-8".to_owned());
    origin.put("/page.flv", page);
    let mut api_error = FileSpec::bytes(&br#"{"code":"NoSuchKey"}"#[..]);
    api_error.content_type = Some("application/json".to_owned());
    origin.put("/error.flv", api_error);
    origin.put("/empty.flv", FileSpec::bytes(Bytes::new()));
    let d = Daemon::start(&format!(
        "{QUICK_TRANSFER}{}{}",
        s3.store_config("recordings"),
        url_source("jd")
    ));
    for name in ["page", "error", "empty"] {
        let url = origin.url(&format!("/{name}.flv"));
        post(&d, "jd", jd_record_done(&url, name)).await;
    }
    let failed = wait_jobs(&d, "failed", 3, Duration::from_secs(30)).await;
    let reason = |name: &str| {
        failed
            .iter()
            .find(|j| {
                j["origin"]["value"]
                    .as_str()
                    .unwrap()
                    .ends_with(&format!("/{name}.flv"))
            })
            .unwrap()["last_error"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    assert!(reason("page").contains("text/html"), "{}", reason("page"));
    assert!(
        reason("error").contains("application/json"),
        "{}",
        reason("error")
    );
    assert!(reason("empty").contains("0 bytes"), "{}", reason("empty"));
    assert!(d.all_items("/api/v1/catalog").await.is_empty());
    let listed = s3
        .client()
        .await
        .list_objects_v2()
        .bucket("recordings")
        .send()
        .await
        .unwrap();
    assert!(listed.contents().is_empty(), "{:?}", listed.contents());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_lease_outlives_a_slow_finish_and_the_job_completes_exactly_once() {
    let s3 = S3Server::start(&["recordings"]).await;
    // CompleteMultipartUpload takes 6 s here; the lease is 2 s.
    let slow_s3 = common::delay::DelayProxy::start(&s3.endpoint, Duration::from_secs(6)).await;
    let origin = Origin::start().await;
    let content = random_bytes(12 << 20, 95); // two parts: a multipart upload
    origin.put("/slow-finish.flv", FileSpec::bytes(content.clone()));
    let d = Daemon::start(&format!(
        "[transfer]\nworkers = 2\nretry_initial_secs = 1\nretry_max_secs = 2\nrequest_timeout_secs = 20\nlease_secs = 2\npart_size = 5242880\n{}{}",
        s3.store_config_via("recordings", &slow_s3.endpoint),
        url_source("jd")
    ));
    post(
        &d,
        "jd",
        jd_record_done(&origin.url("/slow-finish.flv"), "slow"),
    )
    .await;
    let done = wait_jobs(&d, "done", 1, Duration::from_secs(60)).await;
    assert_eq!(done[0]["attempts"], 1, "one attempt: {}", done[0]);
    // Give a (wrong) second claim the time to run and finish too.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let catalog = d.all_items("/api/v1/catalog").await;
    assert_eq!(catalog.len(), 1, "{catalog:?}");
    assert_eq!(catalog[0]["sha256"], json!(sha256_hex(&content)));
    assert_eq!(origin.requests("/slow-finish.flv").len(), 1, "fetched once");
    let logs = d.log_text();
    assert!(!logs.contains("taken over"), "{logs}");
    assert!(!logs.contains("lease was lost"), "{logs}");
}
