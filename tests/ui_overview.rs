//! The overview (`/ui/`) and the streams' day timelines in a real browser
//! (Debian's chromium, driven by tests/ui_overview.py) at 1280x900: each
//! figure labelled and right, the charts drawn from what was archived, the
//! failed job counted by its reason, a stream with a failed recording shown
//! failing, gaps marked; refused callbacks logged (rate-limited), counted
//! and listed; and a banner once the archive store stops answering.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::origin::{Fault, FileSpec, Origin};
use common::s3::S3Server;
use common::{random_bytes, until, Daemon};
use serde_json::{json, Value};

fn record_done(url: &str, stream: &str, begin_ms: i64, minutes: i64) -> String {
    json!({"version": "v1.1", "publishDomain": "push.example.com", "appName": "live",
        "streamName": stream, "event": "record_done", "status": "success", "format": "flv",
        "beginTime": begin_ms, "endTime": begin_ms + minutes * 60_000, "downloadUrl": url})
    .to_string()
}

/// Where the screenshots go: `UI_SCREENSHOTS`, else target/ui-screenshots.
fn shots() -> PathBuf {
    std::env::var_os("UI_SCREENSHOTS")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target/ui-screenshots"))
}

fn browse(d: &Daemon, args: &[&str]) -> Value {
    let shots = shots();
    std::fs::create_dir_all(&shots).unwrap();
    let out = Command::new(common::python())
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/ui_overview.py"))
        .arg(&d.base)
        .arg(&shots)
        .args(args)
        .env("UI_TOKEN", &d.token)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_overview_and_the_timelines_show_the_day_in_a_real_browser() {
    let s3 = S3Server::start(&["archive"]).await;
    let origin = Origin::start().await;
    for (n, name) in ["a", "b", "c"].into_iter().enumerate() {
        let spec = FileSpec::bytes(random_bytes(30_000, n as u64));
        origin.put(&format!("/rec/{name}.flv"), spec);
    }
    // Refused for good (a 403): a failed recording of room2.
    let refused = FileSpec::bytes(random_bytes(9_000, 7)).with_faults(&[Fault::Status(403)]);
    origin.put("/rec/bad.flv", refused);
    let d = Daemon::start(&format!(
        "{}[[sources]]\nname = \"jd\"\nprovider = \"jdcloud\"\ntoken = \"t\"\n\
         allow_hosts = [\"127.0.0.1\"]\n",
        s3.store_config("archive")
    ));
    let day_at_start = chrono::Utc::now().date_naive();
    let post = |body: String| {
        let d = &d;
        async move { d.post("jd?token=t", Some("application/json"), body).await.0 }
    };
    let started = json!({"version": "v1.1", "publishDomain": "push.example.com",
        "appName": "live", "streamName": "room1", "event": "publish_started", "status": "success"});
    assert_eq!(post(started.to_string()).await, 200);
    // Three ten-minute recordings of today, the last ending five minutes
    // ago (or the day's first minutes, just after midnight), a gap of ten
    // minutes before it.
    let now = chrono::Utc::now();
    let midnight = now.date_naive().and_time(chrono::NaiveTime::MIN).and_utc();
    let base = (now - chrono::TimeDelta::minutes(35))
        .max(midnight)
        .timestamp_millis();
    let min = 60_000;
    for (path, stream, begin) in [
        ("/rec/a.flv", "room1", base - 20 * min),
        ("/rec/b.flv", "room1", base - 10 * min),
        ("/rec/c.flv", "room1", base + 10 * min),
        ("/rec/bad.flv", "room2", base),
    ] {
        let begin = begin.max(midnight.timestamp_millis());
        assert_eq!(
            post(record_done(&origin.url(path), stream, begin, 10)).await,
            200
        );
    }
    assert_eq!(post("{\"hello\": <oops>}".into()).await, 400);
    // Refused: no token (twice: logged once), and a source nobody configured.
    for path in ["jd", "jd?token=wrong", "nosuch?token=t"] {
        let (status, _) = d.post(path, Some("application/json"), "{}").await;
        assert!(status == 401 || status == 404, "{path}: {status}");
    }
    until("three archived and one failed", || async {
        let jobs = d.all_items("/api/v1/jobs").await;
        let n = |s: &str| jobs.iter().filter(|j| j["state"] == s).count();
        n("done") == 3 && n("failed") == 1
    })
    .await;

    let refused = d.get_json("/api/v1/refused").await;
    assert_eq!(refused["last_24h"]["total"], 3, "{refused}");
    assert_eq!(
        refused["last_24h"]["by_status"],
        json!({"401": 2, "404": 1})
    );
    assert_eq!(
        refused["last_24h"]["by_source"],
        json!({"jd": 2, "unknown": 1})
    );
    let latest = &refused["recent"][0];
    assert_eq!(
        (latest["source"].as_str(), latest["status"].as_u64()),
        (Some("nosuch"), Some(404))
    );
    assert_eq!(latest["remote_addr"], "127.0.0.1");
    // The same through the CLI (the token from the daemon's config).
    let cli = Command::new(common::binary())
        .args(["refused", "--api", &d.base, "--config"])
        .arg(d.dir.join("config.toml"))
        .env("COLUMNS", "200")
        .output()
        .unwrap();
    let shown = String::from_utf8_lossy(&cli.stdout);
    assert!(
        cli.status.success(),
        "{}",
        String::from_utf8_lossy(&cli.stderr)
    );
    assert!(
        shown.contains("3 callbacks refused in the last 24 hours (2 × 401, 1 × 404)"),
        "{shown}"
    );
    assert!(
        shown.contains("nosuch") && shown.contains("unknown_source"),
        "{shown}"
    );
    let logged = d.log_text().matches("callback refused").count();
    assert_eq!(
        logged,
        2,
        "one line for jd's 401s, one for the 404:\n{}",
        d.log_text()
    );

    let seen = browse(&d, &[]);
    for view in ["overview", "streams"] {
        let png = std::fs::read(shots().join(format!("ui-{view}.png"))).unwrap();
        assert!(png.starts_with(b"\x89PNG") && png.len() > 10_000, "{view}");
    }
    let figure = |k: &str| {
        seen["figures"][k]["value"]
            .as_str()
            .unwrap_or("")
            .to_owned()
    };
    assert_eq!(seen["banners"], json!({}), "{seen}");
    assert_eq!(figure("live"), "1", "{seen}");
    if chrono::Utc::now().date_naive() == day_at_start {
        assert_eq!(figure("files_today"), "3", "{seen}");
    }
    assert_eq!(figure("failed"), "1");
    assert_eq!(figure("running"), "0");
    assert_eq!(figure("rejected"), "1");
    assert_eq!(figure("refused"), "3");
    let label = seen["figures"]["refused"]["label"].as_str().unwrap();
    assert!(label.contains("2 × 401, 1 × 404"), "{label}");
    assert_eq!(seen["bar_counts"], json!([24, 24, 168, 168]));
    // Archived within this hour (or across its end while the test ran).
    for n in seen["bars"].as_array().unwrap() {
        assert!(n == 1 || n == 2, "{seen}");
    }
    assert_eq!(seen["backlog_lines"], 3);
    let reasons = seen["reasons"].as_str().unwrap();
    assert!(reasons.contains("refused by the origin"), "{reasons}");
    assert!(seen["overview_width"].as_u64().unwrap() <= 1280, "{seen}");
    assert!(seen["streams_width"].as_u64().unwrap() <= 1280, "{seen}");
    let room1 = &seen["streams"]["room1"];
    assert!(room1["text"].as_str().unwrap().contains("live"), "{room1}");
    assert_eq!(
        (room1["recordings"].as_u64(), room1["gaps"].as_u64()),
        (Some(3), Some(1)),
        "{seen}"
    );
    let room2 = &seen["streams"]["room2"];
    assert!(
        room2["text"].as_str().unwrap().contains("failing"),
        "{room2}"
    );
    assert_eq!(room2["failed"], 1, "{room2}");

    // The archive store stops answering: the overview says so.
    s3.stop().await;
    until("readiness sees the store down", || async {
        let r = d.get_json("/readyz").await;
        r["store"]["ok"] == false
    })
    .await;
    let seen = browse(&d, &["banner"]);
    let banner = seen["banners"]["store"].as_str().unwrap_or("");
    assert!(banner.contains("archive store is failing"), "{seen}");
}
