//! Outbound notifications, checked by a receiver that verifies each one
//! with a Standard Webhooks library from PyPI (`standardwebhooks`, in the
//! venv scripts/py-env makes) and reads each archived object back from the
//! S3 server (boto3) as the notification arrives.

mod common;

use common::free_port;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::origin::{Fault, FileSpec, Origin};
use common::s3::{S3Server, ACCESS_KEY, SECRET_KEY};
use common::{random_bytes, Daemon};
use serde_json::{json, Value};

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

/// The receiver script, running; killed when dropped.
struct Receiver {
    child: Child,
    log: PathBuf,
    port: u16,
}

impl Receiver {
    fn start(dir: &Path, port: u16, fail_first: u32, s3: Option<&S3Server>) -> Receiver {
        let log = dir.join(format!("receiver-{port}.jsonl"));
        let mut cmd = Command::new(common::python());
        cmd.arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/receiver.py"))
            .args([port.to_string(), SECRET.to_owned()])
            .arg(&log)
            .arg(fail_first.to_string())
            .env_remove("AWS_CA_BUNDLE")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        if let Some(s3) = s3 {
            cmd.args([s3.endpoint.as_str(), ACCESS_KEY, SECRET_KEY]);
        }
        let mut child = cmd.spawn().expect("python receiver");
        let mut line = String::new();
        use std::io::BufRead;
        std::io::BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert_eq!(line.trim(), "listening");
        Receiver { child, log, port }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}/hook", self.port)
    }

    /// Every request so far, in order.
    fn requests(&self) -> Vec<Value> {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    /// The verified deliveries, by webhook-id (a redelivery keeps the first).
    fn delivered(&self) -> BTreeMap<String, Value> {
        let mut out = BTreeMap::new();
        for r in self.requests().into_iter().filter(|r| r["answer"] == 200) {
            out.entry(r["id"].as_str().unwrap().to_owned()).or_insert(r);
        }
        out
    }

    async fn wait_for(&self, n: usize) -> BTreeMap<String, Value> {
        let start = Instant::now();
        loop {
            let d = self.delivered();
            if d.len() >= n {
                return d;
            }
            assert!(
                start.elapsed() < Duration::from_secs(90),
                "{} of {n} delivered: {:#?}",
                d.len(),
                self.requests()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn post(d: &Daemon, body: String) {
    let (status, reply) = d.post("jd?token=t", Some("application/json"), body).await;
    assert_eq!(status, 200, "{reply}");
}

fn record_done(url: &str, stream: &str, begin_ms: u64) -> String {
    json!({"version": "v1.1", "publishDomain": "push.example.com", "appName": "live",
        "streamName": stream, "event": "record_done", "status": "success", "format": "flv",
        "beginTime": begin_ms, "endTime": begin_ms + 60_000, "downloadUrl": url})
    .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_notification_is_signed_sent_once_archived_and_survives_a_kill_9() {
    let s3 = S3Server::start(&["archive"]).await;
    let origin = Origin::start().await;
    let dir = tempfile::tempdir().unwrap();
    let receiver = Receiver::start(dir.path(), free_port(), 3, Some(&s3));
    let files = 8;
    for i in 0..files {
        let spec = FileSpec::bytes(random_bytes(3_000_000 + i, i as u64));
        origin.put(&format!("/rec/{i}.flv"), spec);
    }
    // And one the origin refuses for good: a `failed` notification.
    origin.put(
        "/rec/gone.flv",
        FileSpec::bytes(random_bytes(10, 99)).with_faults(&[Fault::Status(403); 50]),
    );
    let config = format!(
        "{}[transfer]\nretry_initial_secs = 1\nworkers = 2\n\
         [[sources]]\nname = \"jd\"\nprovider = \"jdcloud\"\ntoken = \"t\"\n\
         allow_hosts = [\"127.0.0.1\"]\n\
         [[notify]]\nname = \"app\"\nurl = \"{}\"\nsecret = \"{SECRET}\"\n\
         events = [\"archived\", \"failed\", \"stream_started\"]\nallow_hosts = [\"127.0.0.1\"]\n",
        s3.store_config("archive"),
        receiver.url()
    );
    let mut d = Daemon::start_in(dir.path(), &config);
    post(
        &d,
        json!({"version": "v1.1", "publishDomain": "push.example.com", "appName": "live",
            "streamName": "room", "event": "publish_started", "status": "success"})
        .to_string(),
    )
    .await;
    for i in 0..files {
        let url = origin.url(&format!("/rec/{i}.flv"));
        post(
            &d,
            record_done(&url, "room", 1_700_000_000_000 + i as u64 * 60_000),
        )
        .await;
    }
    post(
        &d,
        record_done(&origin.url("/rec/gone.flv"), "room", 1_699_000_000_000),
    )
    .await;
    // Killed once the receiver has refused its first three and taken a few.
    let start = Instant::now();
    while receiver.delivered().len() < 2 {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "{:#?}",
            receiver.requests()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    d.kill9();
    drop(d);
    let d = Daemon::start_in(dir.path(), &config);
    let expected = files + 2;
    let delivered = receiver.wait_for(expected).await;
    tokio::time::sleep(Duration::from_secs(2)).await; // nothing more comes
    let delivered_after = receiver.delivered();
    assert_eq!(delivered_after.len(), expected, "{delivered_after:#?}");
    let requests = receiver.requests();
    assert!(
        requests.iter().all(|r| r["answer"] != 400),
        "every request verifies: {requests:#?}"
    );
    assert_eq!(
        requests.iter().filter(|r| r["answer"] == 500).count(),
        3,
        "the first three were refused"
    );
    // One webhook-id per notification: by subject, each is one id.
    let mut by_subject: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (id, r) in &delivered {
        let p = &r["payload"];
        let subject = match p["type"].as_str().unwrap() {
            "archived" => format!("archived {}", p["id"]),
            "failed" => format!("failed {}", p["job"]["id"]),
            t => format!("{t} {}", p["event"]["id"]),
        };
        by_subject.entry(subject).or_default().insert(id.clone());
    }
    assert!(
        by_subject.values().all(|ids| ids.len() == 1),
        "{by_subject:#?}"
    );
    let types: Vec<&str> = delivered
        .values()
        .map(|r| r["type"].as_str().unwrap())
        .collect();
    assert_eq!(types.iter().filter(|t| **t == "archived").count(), files);
    assert_eq!(types.iter().filter(|t| **t == "failed").count(), 1);
    assert_eq!(types.iter().filter(|t| **t == "stream_started").count(), 1);
    // Each archived notification came once its object was in the bucket.
    let catalog = d.all_items("/api/v1/catalog").await;
    for r in delivered.values().filter(|r| r["type"] == "archived") {
        let p = &r["payload"];
        assert_eq!(r["sha256_in_bucket"], p["sha256"], "{r:#}");
        assert!(catalog.iter().any(|e| e["id"] == p["id"]), "{p}");
    }
    let failed = delivered.values().find(|r| r["type"] == "failed").unwrap();
    assert!(
        failed["payload"]["last_error"]
            .as_str()
            .unwrap()
            .contains("403"),
        "{failed:#}"
    );
    let redelivered = requests.iter().filter(|r| r["answer"] == 200).count() - expected;
    eprintln!("redelivered after the kill (same webhook-id): {redelivered}");
    // Delivered jobs are done; none failed.
    let notes = d.all_items("/api/v1/notifications").await;
    assert_eq!(notes.len(), expected);
    assert!(notes.iter().all(|n| n["state"] == "done"), "{notes:#?}");
    assert!(d
        .all_items("/api/v1/jobs")
        .await
        .iter()
        .all(|j| j["kind"] != "notification"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delivery_that_gave_up_is_listed_and_sent_again_by_hand_and_internal_hosts_need_listing()
{
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let config = format!(
        "[transfer]\nretry_initial_secs = 1\nmax_attempts = 2\n\
         [[sources]]\nname = \"jd\"\nprovider = \"jdcloud\"\ntoken = \"t\"\n\
         [[notify]]\nname = \"down\"\nurl = \"http://127.0.0.1:{port}/hook\"\n\
         secret = \"{SECRET}\"\nevents = [\"stream_started\"]\nallow_hosts = [\"127.0.0.1\"]\n\
         [[notify]]\nname = \"unlisted\"\nurl = \"http://127.0.0.1:{port}/hook\"\n\
         secret = \"{SECRET}\"\nevents = [\"stream_started\"]\n"
    );
    let d = Daemon::start_in(dir.path(), &config);
    let (status, _) = d
        .post(
            "jd?token=t",
            Some("application/json"),
            json!({"version": "v1.1", "publishDomain": "push.example.com", "appName": "live",
                "streamName": "room", "event": "publish_started", "status": "success"})
            .to_string(),
        )
        .await;
    assert_eq!(status, 200);
    let start = Instant::now();
    let failed = loop {
        let failed = d.all_items("/api/v1/notifications?state=failed").await;
        if failed.len() == 2 {
            break failed;
        }
        assert!(start.elapsed() < Duration::from_secs(30), "{failed:#?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let of = |name: &str| {
        failed
            .iter()
            .find(|n| n["notification"]["target"] == name)
            .unwrap()
            .clone()
    };
    assert_eq!(of("down")["attempts"], 2, "retried, then gave up");
    let unlisted = of("unlisted");
    assert_eq!(unlisted["attempts"], 1, "refused at once: {unlisted:#}");
    assert!(
        unlisted["last_error"]
            .as_str()
            .unwrap()
            .contains("internal address"),
        "{unlisted:#}"
    );
    // The endpoint is back: sent again from the command line.
    let receiver = Receiver::start(dir.path(), port, 0, None);
    let out = Command::new(common::binary())
        .args([
            "notifications",
            "retry",
            "--all-failed",
            "--api",
            &d.base,
            "--config",
        ])
        .arg(d.dir.join("config.toml"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let delivered = receiver.wait_for(1).await;
    let r = delivered.values().next().unwrap();
    assert_eq!(r["type"], "stream_started");
    assert_eq!(r["payload"]["event"]["stream"], "room");
    assert_eq!(r["id"], of("down")["id"], "the same webhook-id as before");
    let start = Instant::now();
    loop {
        let failed = d.all_items("/api/v1/notifications?state=failed").await;
        if failed.len() == 1 {
            assert_eq!(failed[0]["notification"]["target"], "unlisted");
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(30), "{failed:#?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let listed = Command::new(common::binary())
        .args([
            "notifications",
            "list",
            "--state",
            "failed",
            "--api",
            &d.base,
            "--config",
        ])
        .arg(d.dir.join("config.toml"))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&listed.stdout);
    assert!(
        text.contains("unlisted") && !text.contains(" down "),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unnamed_entry_is_delivered_to_with_no_transfer_worker() {
    let dir = tempfile::tempdir().unwrap();
    let receiver = Receiver::start(dir.path(), free_port(), 0, None);
    // Written to the entry's contract (url, secret, events): no `name`.
    // No transfer worker, and no store answering: notifications need
    // neither.
    let config = format!(
        "[store]\ntype = \"s3\"\nbucket = \"archive\"\nendpoint = \"http://127.0.0.1:{}\"\n\
         region = \"us-east-1\"\nforce_path_style = true\naccess_key_id = \"k\"\n\
         secret_access_key = \"s\"\n\
         [transfer]\nworkers = 0\n\
         [[sources]]\nname = \"jd\"\nprovider = \"jdcloud\"\ntoken = \"t\"\n\
         [[notify]]\nurl = \"{}\"\nsecret = \"{SECRET}\"\n\
         events = [\"stream_started\", \"stream_stopped\"]\nallow_hosts = [\"127.0.0.1\"]\n",
        free_port(),
        receiver.url()
    );
    let d = Daemon::start_in(dir.path(), &config);
    for event in ["publish_started", "publish_stopped"] {
        post(
            &d,
            json!({"version": "v1.1", "publishDomain": "push.example.com", "appName": "live",
                "streamName": "room", "event": event, "status": "success"})
            .to_string(),
        )
        .await;
    }
    let delivered = receiver.wait_for(2).await;
    let types: BTreeSet<&str> = delivered
        .values()
        .map(|r| r["payload"]["type"].as_str().unwrap())
        .collect();
    assert_eq!(types, BTreeSet::from(["stream_started", "stream_stopped"]));
    let listed = d.get_json("/api/v1/notifications").await;
    let target = listed["items"][0]["notification"]["target"].clone();
    assert_eq!(target, json!("127.0.0.1-0"), "{listed:#}");
}
