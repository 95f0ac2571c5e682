//! Operating the daemon: readiness that says what is wrong, and the API's
//! bearer-token rule.

mod common;

use common::s3::{S3Server, ACCESS_KEY, SECRET_KEY};
use common::{client, Daemon};
use serde_json::Value;

const SOURCE: &str = "[[sources]]\nname = \"jd\"\nprovider = \"jdcloud\"\ntoken = \"t\"\n";

async fn readyz(d: &Daemon) -> (u16, Value) {
    let r = d.http().get(d.url("/readyz")).send().await.unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

fn s3_store(s3: &S3Server, bucket: &str, secret: &str) -> String {
    format!(
        "[store]\ntype = \"s3\"\nbucket = \"{bucket}\"\nendpoint = \"{}\"\nforce_path_style = true\naccess_key_id = \"{ACCESS_KEY}\"\nsecret_access_key = \"{secret}\"\n{SOURCE}",
        s3.endpoint
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn readiness_means_callbacks_are_safe_here_and_reports_the_archive_store_beside() {
    let s3 = S3Server::start(&["recordings"]).await;

    let d = Daemon::start(&s3_store(&s3, "recordings", SECRET_KEY));
    let (status, body) = readyz(&d).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["store"]["ok"], true, "{body}");
    assert!(metrics(&d).await.contains("archive_store_up 1"));

    // An archive store that does not answer leaves the receiver in rotation:
    // the queue rides it out; the body and the metric say what is wrong.
    let d = Daemon::start(&s3_store(&s3, "no-such-bucket", SECRET_KEY));
    let (status, body) = readyz(&d).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["store"]["ok"], false, "{body}");
    assert!(
        body["store"]["reason"]
            .as_str()
            .unwrap()
            .contains("the bucket \"no-such-bucket\" does not exist"),
        "{body}"
    );
    assert!(metrics(&d).await.contains("archive_store_up 0"));

    let d = Daemon::start(&s3_store(&s3, "recordings", "wrong-secret"));
    let (status, body) = readyz(&d).await;
    assert_eq!(status, 200, "{body}");
    assert!(
        body["store"]["reason"]
            .as_str()
            .unwrap()
            .contains("refused our credentials (403 SignatureDoesNotMatch"),
        "{body}"
    );
    assert!(
        !body.to_string().contains("wrong-secret"),
        "no secret in the answer"
    );

    // The fs store is ready once its root is usable.
    let d = Daemon::start(SOURCE);
    let (status, body) = readyz(&d).await;
    assert_eq!(status, 200);
    assert_eq!(body["store"]["ok"], true, "{body}");
}

async fn metrics(d: &Daemon) -> String {
    d.http()
        .get(d.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

#[tokio::test]
async fn with_an_api_token_every_api_route_needs_the_bearer() {
    let d = Daemon::start(&format!("[api]\ntoken = \"api-secret\"\n{SOURCE}"));
    for path in [
        "/api/v1/jobs",
        "/api/v1/events",
        "/api/v1/catalog",
        "/api/v1/streams",
        "/api/v1/rejected",
    ] {
        let none = client().get(d.url(path)).send().await.unwrap();
        assert_eq!(none.status(), 401, "{path} without a token");
        // The right token first: five wrong ones in a row are all this
        // address may try before it is made to wait (429).
        let right = client()
            .get(d.url(path))
            .bearer_auth("api-secret")
            .send()
            .await
            .unwrap();
        assert_eq!(right.status(), 200, "{path} with the token");
        let wrong = client()
            .get(d.url(path))
            .bearer_auth("nope")
            .send()
            .await
            .unwrap();
        assert_eq!(wrong.status(), 401, "{path} with a wrong token");
    }
    let retry = client()
        .post(d.url("/api/v1/jobs/00/retry"))
        .send()
        .await
        .unwrap();
    assert_eq!(retry.status(), 401);
    // Health and callbacks are not behind the API token.
    assert_eq!(
        client()
            .get(d.url("/healthz"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let (status, _) = d
        .post(
            "jd?token=t",
            Some("application/json"),
            "{\"version\":\"v1.1\",\"event\":\"publish_started\"}",
        )
        .await;
    assert_eq!(status, 200);
    assert!(
        !d.log_text().contains("api-secret"),
        "the token never reaches a log line"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn metrics_move_as_callbacks_and_jobs_happen() {
    use common::origin::{FileSpec, Origin};
    let origin = Origin::start().await;
    origin.put("/a.flv", FileSpec::bytes(vec![7u8; 123_456]));
    let d = Daemon::start(
        "[transfer]\nretry_initial_secs = 1\n[[sources]]\nname = \"jd\"\nprovider = \"jdcloud\"\ntoken = \"t\"\nallow_hosts = [\"127.0.0.1\"]\n",
    );
    let body = serde_json::json!({
        "version": "v1.1", "publishDomain": "p", "appName": "live", "streamName": "s",
        "event": "record_done", "status": "success", "downloadUrl": origin.url("/a.flv")
    })
    .to_string();
    assert_eq!(
        d.post("jd?token=t", Some("application/json"), body.clone())
            .await
            .0,
        200
    );
    assert_eq!(
        d.post("jd?token=t", Some("application/json"), body).await.0,
        200
    );
    assert_eq!(
        d.post("jd?token=wrong", Some("application/json"), "{}")
            .await
            .0,
        401
    );
    assert_eq!(
        d.post("jd?token=t", Some("application/json"), "{nonsense")
            .await
            .0,
        400
    );
    assert_eq!(
        d.post("made-up-name?token=t", Some("application/json"), "{}")
            .await
            .0,
        404
    );

    let start = std::time::Instant::now();
    let text = loop {
        let text = d.get_text("/metrics").await;
        if text.contains("recording_archiver_transfers_total{outcome=\"done\"} 1") {
            break text;
        }
        assert!(
            start.elapsed() < std::time::Duration::from_secs(30),
            "{text}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    for line in [
        "recording_archiver_callbacks_total{source=\"jd\",provider=\"jdcloud\",outcome=\"ok\"} 2",
        "recording_archiver_callbacks_total{source=\"jd\",provider=\"jdcloud\",outcome=\"unauthorized\"} 1",
        "recording_archiver_callbacks_total{source=\"jd\",provider=\"jdcloud\",outcome=\"rejected\"} 1",
        "recording_archiver_callbacks_total{source=\"unknown\",provider=\"\",outcome=\"unknown_source\"} 1",
        "recording_archiver_bytes_archived_total 123456",
        "recording_archiver_transfer_duration_seconds_count 1",
        "recording_archiver_jobs{state=\"done\"} 1",
        "recording_archiver_jobs{state=\"queued\"} 0",
        "recording_archiver_queue_depth 0",
    ] {
        assert!(text.lines().any(|l| l == line), "missing {line:?} in\n{text}");
    }
    assert!(
        !text.contains("made-up-name"),
        "a caller's path never becomes a label"
    );
}

fn cli(d: &Daemon, args: &[&str]) -> (bool, String, String) {
    let out = std::process::Command::new(common::binary())
        .args(args)
        .args(["--api", &d.base, "--config"])
        .arg(d.dir.join("config.toml"))
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_admin_cli_lists_retries_shows_live_streams_and_replays_kept_requests() {
    use common::origin::{Fault, FileSpec, Origin};
    let origin = Origin::start().await;
    origin.put(
        "/a.flv",
        FileSpec::bytes(vec![1u8; 1000]).with_faults(&[Fault::Status(403)]),
    );
    let dir = tempfile::tempdir().unwrap();
    let config = |provider: &str| {
        format!(
            "[transfer]\nretry_initial_secs = 1\n[[sources]]\nname = \"jd\"\nprovider = \"jdcloud\"\ntoken = \"t\"\nallow_hosts = [\"127.0.0.1\"]\n[[sources]]\nname = \"odd\"\nprovider = \"{provider}\"\ntoken = \"t\"\n"
        )
    };
    let d = Daemon::start_in(dir.path(), &config("ksyun"));
    let record = serde_json::json!({"version": "v1.1", "publishDomain": "p", "appName": "live", "streamName": "s",
        "event": "record_done", "status": "success", "downloadUrl": origin.url("/a.flv")});
    d.post("jd?token=t", Some("application/json"), record.to_string())
        .await;
    let live = serde_json::json!({"version": "v1.1", "publishDomain": "p", "appName": "live", "streamName": "on-air",
        "event": "publish_started", "status": "success"});
    d.post("jd?token=t", Some("application/json"), live.to_string())
        .await;
    // A JD body sent to a source configured as Kingsoft: refused and kept.
    let (status, _) = d
        .post("odd?token=t", Some("application/json"), live.to_string())
        .await;
    assert_eq!(status, 400);

    // jobs list / retry
    let start = std::time::Instant::now();
    let failed = loop {
        let (ok, out, err) = cli(&d, &["jobs", "list", "--state", "failed"]);
        assert!(ok, "{err}");
        if out.lines().count() > 1 {
            break out;
        }
        assert!(start.elapsed() < std::time::Duration::from_secs(30));
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    assert!(
        failed.starts_with("ID") && failed.contains("403"),
        "{failed}"
    );
    let (ok, out, err) = cli(&d, &["jobs", "retry", "--all-failed"]);
    assert!(ok && out.contains("queued again"), "{out}{err}");
    let start = std::time::Instant::now();
    while !cli(&d, &["jobs", "list", "--state", "done"])
        .1
        .contains("/a.flv")
    {
        assert!(start.elapsed() < std::time::Duration::from_secs(30));
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let (_, json, _) = cli(&d, &["jobs", "list", "--json"]);
    let v: Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["items"][0]["state"], "done");

    // streams: who is live now
    let (ok, out, _) = cli(&d, &["streams"]);
    assert!(
        ok && out.contains("live/on-air") && out.contains("live"),
        "{out}"
    );

    // rejected list / replay: still unreadable, then readable once the source's format is fixed
    let (_, out, _) = cli(&d, &["rejected", "list", "--json"]);
    let kept: Value = serde_json::from_str(&out).unwrap();
    let id = kept["items"][0]["id"].as_str().unwrap().to_owned();
    let (ok, _, err) = cli(&d, &["rejected", "replay", &id]);
    assert!(!ok && err.contains("still not readable"), "{err}");
    drop(d);
    let d = Daemon::start_in(dir.path(), &config("jdcloud"));
    let (ok, out, err) = cli(&d, &["rejected", "replay", &id]);
    assert!(ok && out.contains("replayed"), "{out}{err}");
    let events = d.all_items("/api/v1/events?source=odd").await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["kind"], "stream_started");
    let (ok, _, err) = cli(&d, &["rejected", "replay", &id]);
    assert!(!ok && err.contains("already replayed"), "{err}");
    let (_, table, _) = cli(&d, &["rejected", "list"]);
    assert!(table.contains("replayed"), "{table}");
}

#[test]
fn shell_completions_are_generated() {
    let out = std::process::Command::new(common::binary())
        .args(["completions", "bash"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let script = String::from_utf8_lossy(&out.stdout);
    assert!(
        script.contains("recording-archiver") && script.contains("replay"),
        "{script}"
    );
}
