//! Multipart uploads are continued, never restarted from zero nor left
//! behind: the real daemon, a real S3-protocol server (s3s-fs over HTTP,
//! stopped and started again), a real HTTP origin that counts what it sends.

mod common;

use std::time::{Duration, Instant};

use common::origin::{Content, FileSpec, Origin};
use common::s3::S3Server;
use common::{jd_record_done, Daemon};
use serde_json::{json, Value};

const MIB: u64 = 1 << 20;

fn config(s3: &S3Server, transfer: &str, store: &str) -> String {
    format!(
        "[transfer]\nworkers = 1\nretry_initial_secs = 1\nretry_max_secs = 2\nrequest_timeout_secs = 5\nlease_secs = 6\n{transfer}\n{}{store}\n[[sources]]\nname = \"jd\"\nprovider = \"jdcloud\"\ntoken = \"t\"\nallow_hosts = [\"127.0.0.1\"]\n",
        s3.store_config("recordings"),
    )
}

async fn announce(d: &Daemon, url: &str) {
    let (status, reply) = d
        .post(
            "jd?token=t",
            Some("application/json"),
            jd_record_done(url, "s"),
        )
        .await;
    assert_eq!(status, 200, "{reply}");
}

/// Polls the one job until `done` says so; shows the jobs and logs on timeout.
async fn wait_job(d: &Daemon, limit: Duration, done: impl Fn(&Value) -> bool) -> Value {
    let start = Instant::now();
    loop {
        let jobs = d.all_items("/api/v1/jobs").await;
        if let Some(j) = jobs.first().filter(|j| done(j)) {
            return j.clone();
        }
        assert!(start.elapsed() < limit, "{jobs:#?}\n{}", d.log_text());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn catalog_entry(d: &Daemon) -> Value {
    wait_job(d, Duration::from_secs(300), |j| j["state"] == "done").await;
    let items = d.all_items("/api/v1/catalog").await;
    assert_eq!(items.len(), 1, "{items:#?}");
    items[0].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn kill9_at_70_percent_of_1_gib_continues_from_the_parts_in_the_store() {
    const GIB: u64 = 1 << 30;
    let s3 = S3Server::start(&["recordings"]).await;
    let origin = Origin::start().await;
    let content = Content::Generated { len: GIB, seed: 70 };
    origin.put("/big.flv", FileSpec::new(content.clone()));
    let dir = tempfile::tempdir().unwrap();
    let config = config(&s3, "", "");
    let mut d = Daemon::start_in(dir.path(), &config);
    announce(&d, &origin.url("/big.flv")).await;
    wait_job(&d, Duration::from_secs(300), |j| {
        j["bytes_done"].as_u64().unwrap_or(0) >= GIB * 7 / 10
    })
    .await;
    d.kill9();
    let served_before = origin.bytes_served("/big.flv");
    assert!(
        served_before < GIB,
        "killed before the end: {served_before}"
    );

    let d = Daemon::start_in(dir.path(), &config);
    let entry = catalog_entry(&d).await;
    assert_eq!(entry["size"], json!(GIB));
    assert_eq!(entry["sha256"], json!(content.sha256()));
    let again = origin.bytes_served("/big.flv") - served_before;
    eprintln!(
        "killed after the origin sent {} MiB; the origin sent {} MiB again",
        served_before / MIB,
        again / MIB
    );
    assert!(
        again < GIB / 2,
        "the origin served {again} bytes again, more than half the file: {:?}\n{}",
        origin.requests("/big.flv"),
        d.log_text()
    );
    let requests = origin.requests("/big.flv");
    assert_eq!(requests.len(), 2, "{requests:?}");
    assert!(requests[1] > GIB / 2, "continued from {}", requests[1]);
    assert!(s3.open_uploads().is_empty(), "{:?}", s3.open_uploads());
    assert!(s3.listed_uploads().is_empty());
}

/// A slow 48 MiB recording: a few seconds to transfer.
fn slow_file(seed: u64) -> (Content, FileSpec) {
    let content = Content::Generated {
        len: 48 * MIB,
        seed,
    };
    let mut spec = FileSpec::new(content.clone());
    spec.delay = Some(Duration::from_millis(10));
    (content, spec)
}

/// A daemon (`transfer`: more `[transfer]` lines) 16 MiB into archiving
/// the slow file of `seed`, served at `/r.flv`.
async fn mid_transfer(
    s3: &S3Server,
    origin: &Origin,
    seed: u64,
    transfer: &str,
) -> (Content, Daemon) {
    let (content, spec) = slow_file(seed);
    origin.put("/r.flv", spec);
    let d = Daemon::start(&config(s3, &format!("part_size = 5242880\n{transfer}"), ""));
    announce(&d, &origin.url("/r.flv")).await;
    wait_job(&d, Duration::from_secs(60), |j| {
        j["bytes_done"].as_u64().unwrap_or(0) >= 16 * MIB
    })
    .await;
    (content, d)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn s3_down_mid_transfer_the_upload_is_continued_once_it_is_back_and_none_is_left() {
    let s3 = S3Server::start(&["recordings"]).await;
    let origin = Origin::start().await;
    let (content, d) = mid_transfer(&s3, &origin, 71, "").await;
    s3.stop().await;
    let failed = wait_job(&d, Duration::from_secs(60), |j| j["state"] == "retrying").await;
    assert!(failed["upload"]["upload_id"].is_string(), "{failed:#}");
    tokio::time::sleep(Duration::from_secs(2)).await;
    s3.restart().await;

    let entry = catalog_entry(&d).await;
    assert_eq!(entry["sha256"], json!(content.sha256()));
    assert!(s3.open_uploads().is_empty(), "{:?}", s3.open_uploads());
    assert!(s3.listed_uploads().is_empty());
    let requests = origin.requests("/r.flv");
    assert!(
        requests.iter().skip(1).any(|from| *from >= 10 * MIB),
        "a later attempt continued from the parts in the store: {requests:?}"
    );
    let jobs = d.all_items("/api/v1/jobs").await;
    assert!(jobs[0]["upload"].is_null(), "{jobs:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_abort_the_store_refuses_is_retried_until_no_upload_is_left() {
    let s3 = S3Server::start(&["recordings"]).await;
    // Every AbortMultipartUpload is answered 503 until the test says.
    let refusing = common::delay::DelayProxy::refusing_aborts(&s3.endpoint).await;
    let origin = Origin::start().await;
    // The origin breaks at 20 MiB, then refuses the file for good: the job
    // fails for good with parts in the store, so its upload is aborted.
    let (content, mut spec) = slow_file(72);
    spec.faults = std::iter::once(common::origin::Fault::ResetAt(20 * MIB))
        .chain(std::iter::repeat_n(common::origin::Fault::Status(403), 20))
        .collect();
    origin.put("/r.flv", spec);
    let config = config(&s3, "part_size = 5242880\n", "").replace(&s3.endpoint, &refusing.endpoint);
    let d = Daemon::start(&config);
    announce(&d, &origin.url("/r.flv")).await;
    let failed = wait_job(&d, Duration::from_secs(60), |j| j["state"] == "failed").await;
    assert!(
        failed["last_error"].as_str().unwrap().contains("403"),
        "{failed:#}"
    );
    assert!(
        failed["upload"].is_null(),
        "forgotten by the job: {failed:#}"
    );
    assert!(d.log_text().contains("multipart upload not aborted"));
    assert_eq!(s3.listed_uploads().len(), 1);
    refusing.stop_refusing();
    let start = Instant::now();
    while !s3.listed_uploads().is_empty() || !s3.open_uploads().is_empty() {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "the kept upload is aborted once the store takes aborts\n{}",
            d.log_text()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    origin.put("/r.flv", FileSpec::new(content.clone()));
    let id = failed["id"].as_str().unwrap();
    let r = d
        .http()
        .post(d.url(&format!("/api/v1/jobs/{id}/retry")))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{r:?}");
    let entry = catalog_entry(&d).await;
    assert_eq!(entry["sha256"], json!(content.sha256()));
    assert!(s3.open_uploads().is_empty(), "{:?}", s3.open_uploads());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_origin_file_replaced_between_attempts_is_archived_whole_never_spliced() {
    replaced_between_attempts(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_replaced_file_is_caught_even_where_the_origin_ignores_if_range() {
    // The ranged answer is a part of the new file: its ETag gives it away.
    replaced_between_attempts(true).await;
}

async fn replaced_between_attempts(ignores_if_range: bool) {
    let s3 = S3Server::start(&["recordings"]).await;
    let origin = Origin::start().await;
    let (_, spec) = slow_file(73);
    origin.put("/r.flv", spec);
    let dir = tempfile::tempdir().unwrap();
    let config = config(&s3, "part_size = 5242880\nshutdown_grace_secs = 1", "");
    let mut d = Daemon::start_in(dir.path(), &config);
    announce(&d, &origin.url("/r.flv")).await;
    wait_job(&d, Duration::from_secs(60), |j| {
        j["bytes_done"].as_u64().unwrap_or(0) >= 16 * MIB
    })
    .await;
    assert!(d.terminate().success());
    // The same name and length, other bytes (and so another ETag).
    let replaced = Content::Generated {
        len: 48 * MIB,
        seed: 74,
    };
    let mut spec = FileSpec::new(replaced.clone());
    spec.ignores_if_range = ignores_if_range;
    origin.put("/r.flv", spec);

    let d = Daemon::start_in(dir.path(), &config);
    let entry = catalog_entry(&d).await;
    assert_eq!(entry["sha256"], json!(replaced.sha256()));
    let requests = origin.requests("/r.flv");
    assert_eq!(
        requests.len(),
        3,
        "first attempt, refused continuation, whole new file: {requests:?}"
    );
    assert!(requests[1] > 0 && requests[2] == 0, "{requests:?}");
    assert!(s3.open_uploads().is_empty(), "{:?}", s3.open_uploads());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn uploads_no_job_knows_under_the_archive_prefixes_are_swept_at_start() {
    let s3 = S3Server::start(&["recordings"]).await;
    let c = s3.client().await;
    let mut ids = Vec::new();
    for key in ["recording/a/old.flv", "elsewhere/theirs.bin"] {
        let up = c
            .create_multipart_upload()
            .bucket("recordings")
            .key(key)
            .send()
            .await
            .unwrap();
        ids.push(up.upload_id().unwrap().to_owned());
    }
    assert_eq!(s3.open_uploads().len(), 2);
    let d = Daemon::start(&config(&s3, "", "orphan_upload_age_secs = 0\n"));
    let start = Instant::now();
    while s3.listed_uploads().contains(&ids[0]) {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "{}",
            d.log_text()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        s3.listed_uploads(),
        [ids[1].clone()],
        "an upload outside the archive's prefixes is not ours to abort"
    );
    assert_eq!(s3.open_uploads().len(), 1);
    // The log line follows the abort; it may take a moment to be read.
    while !d
        .log_text()
        .contains("aborted a multipart upload no job knows")
    {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "{}",
            d.log_text()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_upload_the_store_completes_after_a_crash_is_taken_as_is_not_copied_again() {
    let s3 = S3Server::start(&["recordings"]).await;
    // CompleteMultipartUpload reaches the server 3 s after it is sent,
    // whether or not the daemon still waits for it.
    let slow = common::delay::DelayProxy::start(&s3.endpoint, Duration::from_secs(3)).await;
    let origin = Origin::start().await;
    let content = Content::Generated {
        len: 24 * MIB,
        seed: 75,
    };
    origin.put("/r.flv", FileSpec::new(content.clone()));
    let dir = tempfile::tempdir().unwrap();
    let config = proxied_config(&s3.store_config_via("recordings", &slow.endpoint));
    let mut d = Daemon::start_in(dir.path(), &config);
    announce(&d, &origin.url("/r.flv")).await;
    kill9_once_held(&mut d, &slow).await;
    // The held request goes through: the server completes the object.
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert!(s3.open_uploads().is_empty());

    let d = Daemon::start_in(dir.path(), &config);
    let entry = catalog_entry(&d).await;
    assert_eq!(entry["sha256"], json!(content.sha256()));
    let keys = s3.keys("recordings").await;
    assert_eq!(keys.len(), 2, "the object and its sidecar, once: {keys:?}");
    let key = entry["store"]["key"].as_str().unwrap();
    assert!(keys.iter().any(|k| k == key), "{keys:?}");
    let c = s3.client().await;
    let head = c
        .head_object()
        .bucket("recordings")
        .key(key)
        .send()
        .await
        .unwrap();
    assert_eq!(
        head.metadata().unwrap().get("job-id"),
        entry["job_id"].as_str().map(str::to_owned).as_ref(),
        "the object is this job's"
    );
    assert_eq!(
        origin.requests("/r.flv"),
        [0],
        "nothing is fetched again: every byte was in the store"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_upload_is_recorded_before_its_first_part_so_a_crash_during_it_leaves_none() {
    // Every UploadPart reaches the server 3 s late: the daemon dies meanwhile.
    let c = crash_while_held(common::delay::Hold::Parts, 76).await;
    let (s3, content, dir, config) = (&c.s3, &c.content, &c.dir, &c.config);
    assert_eq!(s3.listed_uploads().len(), 1, "part 1 was on its way");

    // Restarted straight to the server: the recorded upload is dealt with.
    let d = Daemon::start_in(dir.path(), config);
    let entry = catalog_entry(&d).await;
    assert_eq!(entry["sha256"], json!(content.sha256()));
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(
        s3.listed_uploads().is_empty() && s3.open_uploads().is_empty(),
        "the upload begun before the crash is not left behind: {:?}\n{}",
        s3.open_uploads(),
        d.log_text()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_crash_before_the_store_answers_a_create_leaves_no_upload_after_the_restart() {
    // CreateMultipartUpload reaches the server 3 s late: the daemon is
    // killed before it can hear the new upload's id, which the server
    // creates all the same.
    let c = crash_while_held(common::delay::Hold::Create, 78).await;
    let (s3, content, dir, config) = (&c.s3, &c.content, &c.dir, &c.config);
    let start = Instant::now();
    while s3.listed_uploads().is_empty() {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "the held create reaches the server"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let orphan = s3.listed_uploads();

    // Restarted straight to the server: the next attempt aborts the upload
    // no record names before it creates its own, not a sweep a day later.
    let d = Daemon::start_in(dir.path(), config);
    let entry = catalog_entry(&d).await;
    assert_eq!(entry["sha256"], json!(content.sha256()));
    assert!(
        s3.listed_uploads().is_empty() && s3.open_uploads().is_empty(),
        "the upload created as the daemon died ({orphan:?}) is aborted: {:?}\n{}",
        s3.listed_uploads(),
        d.log_text()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_job_failing_for_good_before_its_recorded_upload_is_opened_leaves_no_upload() {
    let s3 = S3Server::start(&["recordings"]).await;
    let origin = Origin::start().await;
    let (_, d) = mid_transfer(&s3, &origin, 77, "").await;
    s3.stop().await;
    wait_job(&d, Duration::from_secs(60), |j| j["state"] == "retrying").await;
    // The signed URL expires meanwhile: the origin now refuses it for good.
    let mut expired = FileSpec::new(Content::Generated {
        len: 48 * MIB,
        seed: 77,
    });
    expired.faults = std::iter::repeat_n(common::origin::Fault::Status(403), 50).collect();
    origin.put("/r.flv", expired);
    s3.restart().await;

    let failed = wait_job(&d, Duration::from_secs(60), |j| j["state"] == "failed").await;
    assert!(
        failed["last_error"].as_str().unwrap().contains("403"),
        "{failed:#}"
    );
    assert!(failed["upload"].is_null(), "{failed:#}");
    let start = Instant::now();
    while !s3.listed_uploads().is_empty() || !s3.open_uploads().is_empty() {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "the failed job's upload is aborted: {:?}\n{}",
            s3.open_uploads(),
            d.log_text()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// One worker, quick retries, 5 MiB parts, into the `[store]` given.
fn proxied_config(store: &str) -> String {
    format!(
        "[transfer]\nworkers = 1\nretry_initial_secs = 1\nretry_max_secs = 2\npart_size = 5242880\n\n{store}\n[[sources]]\nname = \"jd\"\nprovider = \"jdcloud\"\ntoken = \"t\"\nallow_hosts = [\"127.0.0.1\"]\n"
    )
}

/// A daemon killed -9 while a proxy holds its first request of `hold`
/// (3 s late to the server), archiving a 12 MiB file; what a restart needs.
struct Crashed {
    s3: S3Server,
    content: Content,
    dir: tempfile::TempDir,
    /// Straight to the server.
    config: String,
    _origin: Origin,
    _proxy: common::delay::DelayProxy,
}

async fn crash_while_held(hold: common::delay::Hold, seed: u64) -> Crashed {
    let s3 = S3Server::start(&["recordings"]).await;
    let slow = common::delay::DelayProxy::holding(&s3.endpoint, Duration::from_secs(3), hold).await;
    let origin = Origin::start().await;
    let content = Content::Generated {
        len: 12 * MIB,
        seed,
    };
    origin.put("/r.flv", FileSpec::new(content.clone()));
    let dir = tempfile::tempdir().unwrap();
    let config = proxied_config(&s3.store_config("recordings"));
    let crashing = config.replace(&s3.endpoint, &slow.endpoint);
    let mut d = Daemon::start_in(dir.path(), &crashing);
    announce(&d, &origin.url("/r.flv")).await;
    kill9_once_held(&mut d, &slow).await;
    Crashed {
        s3,
        content,
        dir,
        config,
        _origin: origin,
        _proxy: slow,
    }
}

/// Kills the daemon once the proxy holds its first request.
async fn kill9_once_held(d: &mut Daemon, slow: &common::delay::DelayProxy) {
    let start = Instant::now();
    while slow.held() == 0 {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "{}",
            d.log_text()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    d.kill9();
}
