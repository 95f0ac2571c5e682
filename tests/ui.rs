//! The web UI in a real browser: Debian's chromium (scripts/test installs
//! it), driven by playwright from the venv scripts/py-env makes. A run with
//! archived recordings, a transfer in progress, a failed job and a rejected
//! callback; the browser signs in with the API token, each view is loaded
//! and checked, Retry is clicked, the browser signs out, and a
//! screenshot of each view is taken (into `UI_SCREENSHOTS`, default
//! target/ui-screenshots; docs/screenshots holds the committed ones).

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::origin::{Content, Fault, FileSpec, Origin};
use common::s3::S3Server;
use common::{random_bytes, until, Daemon};
use serde_json::{json, Value};

/// A real two-second MP4 (ffmpeg's test pattern), so the page's player has
/// something to play.
fn test_mp4(dir: &Path) -> Vec<u8> {
    let out = dir.join("pattern.mp4");
    let made = Command::new("ffmpeg")
        .args(["-loglevel", "error", "-y", "-f", "lavfi", "-i"])
        .arg("testsrc=duration=2:size=320x180:rate=25")
        .args(["-c:v", "libx264", "-pix_fmt", "yuv420p"])
        .arg(&out)
        .status()
        .expect("ffmpeg (scripts/test installs it)");
    assert!(made.success());
    std::fs::read(out).unwrap()
}

fn record_done(url: &str, stream: &str, begin_ms: u64, format: &str) -> String {
    json!({"version": "v1.1", "publishDomain": "push.example.com", "appName": "live",
        "streamName": stream, "event": "record_done", "status": "success", "format": format,
        "beginTime": begin_ms, "endTime": begin_ms + 2_000, "downloadUrl": url})
    .to_string()
}

/// A real HLS recording (ffmpeg's test pattern in one-second MPEG-TS
/// segments): its playlist, then each segment, by name.
fn test_hls(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let out = dir.join("hls");
    std::fs::create_dir_all(&out).unwrap();
    let made = Command::new("ffmpeg")
        .args(["-loglevel", "error", "-y", "-f", "lavfi", "-i"])
        .arg("testsrc=duration=3:size=320x180:rate=25")
        .args([
            "-c:v", "libx264", "-pix_fmt", "yuv420p", "-g", "25", "-f", "hls",
        ])
        .args([
            "-hls_time",
            "1",
            "-hls_list_size",
            "0",
            "-hls_playlist_type",
            "vod",
        ])
        .arg(out.join("index.m3u8"))
        .status()
        .expect("ffmpeg (scripts/test installs it)");
    assert!(made.success());
    let playlist = std::fs::read(out.join("index.m3u8")).unwrap();
    let mut files = vec![("index.m3u8".to_owned(), playlist.clone())];
    for line in String::from_utf8(playlist).unwrap().lines() {
        if !line.starts_with('#') && !line.is_empty() {
            files.push((line.to_owned(), std::fs::read(out.join(line)).unwrap()));
        }
    }
    files
}

/// A real JPEG snapshot.
fn test_jpg(dir: &Path) -> Vec<u8> {
    let out = dir.join("snap.jpg");
    let made = Command::new("ffmpeg")
        .args(["-loglevel", "error", "-y", "-f", "lavfi", "-i"])
        .arg("testsrc=size=320x180")
        .args(["-frames:v", "1"])
        .arg(&out)
        .status()
        .expect("ffmpeg");
    assert!(made.success());
    std::fs::read(out).unwrap()
}

/// A file name long enough to push a table past the window, were it not wrapped.
const LONG_NAME: &str = "camera-north-entrance-recording-2025-12-01T00-00-00Z-\
    part-0001-of-0001-with-a-name-nobody-would-choose-on-purpose-0123456789abcdef.flv";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_view_shows_the_run_and_retry_requeues_a_failed_job_in_a_real_browser() {
    let s3 = S3Server::start(&["archive"]).await;
    let origin = Origin::start().await;
    let tmp = tempfile::tempdir().unwrap();
    let mp4 = test_mp4(tmp.path());
    origin.put("/rec/a.mp4", FileSpec::bytes(mp4.clone()));
    origin.put("/rec/b.mp4", FileSpec::bytes(mp4));
    origin.put("/rec/c.flv", FileSpec::bytes(random_bytes(90_000, 3)));
    for (name, bytes) in test_hls(tmp.path()) {
        origin.put(&format!("/hls/{name}"), FileSpec::bytes(bytes));
    }
    origin.put("/snap/room1.jpg", FileSpec::bytes(test_jpg(tmp.path())));
    // Refused once (for good, as 403s are): the job fails, then Retry works.
    origin.put(
        "/rec/late.flv",
        FileSpec::bytes(random_bytes(40_000, 4)).with_faults(&[Fault::Status(403)]),
    );
    // Refused too, and dismissed: it stays so.
    origin.put(
        &format!("/rec/{LONG_NAME}"),
        FileSpec::bytes(random_bytes(1_000, 5)).with_faults(&[Fault::Status(403)]),
    );
    // Slow: still being transferred while the pages are read.
    let mut slow = FileSpec::new(Content::Generated {
        len: 64 << 20,
        seed: 9,
    });
    slow.delay = Some(Duration::from_millis(40));
    origin.put("/rec/long.flv", slow);
    let d = Daemon::start(&format!(
        "{}[transfer]\nretry_initial_secs = 1\n[[sources]]\nname = \"jd\"\n\
         provider = \"jdcloud\"\ntoken = \"t\"\nallow_hosts = [\"127.0.0.1\"]\n",
        s3.store_config("archive")
    ));
    let post = |body: String| {
        let d = &d;
        async move { d.post("jd?token=t", Some("application/json"), body).await }
    };
    let started = json!({"version": "v1.1", "publishDomain": "push.example.com",
        "appName": "live", "streamName": "room1", "event": "publish_started", "status": "success"});
    assert_eq!(post(started.to_string()).await.0, 200);
    let t0 = 1_764_547_200_000u64; // 2025-12-01T00:00:00Z
    let long = format!("/rec/{LONG_NAME}");
    for (i, (path, stream, format)) in [
        ("/rec/a.mp4", "room1", "mp4"),
        ("/rec/b.mp4", "room1", "mp4"),
        ("/rec/c.flv", "room2", "flv"),
        ("/hls/index.m3u8", "room4", "m3u8"),
        ("/rec/late.flv", "room2", "flv"),
        (long.as_str(), "room2", "flv"),
        ("/rec/long.flv", "room3", "flv"),
    ]
    .into_iter()
    .enumerate()
    {
        let body = record_done(&origin.url(path), stream, t0 + i as u64 * 60_000, format);
        assert_eq!(post(body).await.0, 200);
    }
    let snapshot = json!({"version": "v1.1", "publishDomain": "push.example.com",
        "appName": "live", "streamName": "room1", "snapshotTime": t0 + 30_000,
        "downloadUrl": origin.url("/snap/room1.jpg"), "status": "success"});
    assert_eq!(post(snapshot.to_string()).await.0, 200);
    // Kept as rejected: not a callback of any platform.
    let (status, _) = d
        .post(
            "jd?token=t",
            Some("application/json"),
            "{\"hello\": <oops>}",
        )
        .await;
    assert_eq!(status, 400);
    until("five archived, two failed, one running", || async {
        let jobs = d.all_items("/api/v1/jobs").await;
        let n = |s: &str| jobs.iter().filter(|j| j["state"] == s).count();
        n("done") == 5 && n("failed") == 2 && n("running") == 1
    })
    .await;
    until("the running transfer's progress known", || async {
        let jobs = d.all_items("/api/v1/jobs?state=running").await;
        jobs.first().is_some_and(|j| j["bytes_total"].is_u64())
    })
    .await;

    let shots = std::env::var_os("UI_SCREENSHOTS")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target/ui-screenshots"));
    std::fs::create_dir_all(&shots).unwrap();
    let out = Command::new(common::python())
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/ui_check.py"))
        .arg(&d.base)
        .arg(&shots)
        .env("UI_TOKEN", &d.token)
        .env("UI_DISMISS", LONG_NAME)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let seen: Value = serde_json::from_slice(&out.stdout).unwrap();
    let text = |k: &str| seen[k].as_str().unwrap_or("").to_owned();
    // Unsigned, a page leads to the sign-in form, and signing in leads back
    // to it; signed out, the page leads to the form again.
    assert_eq!(seen["before_sign_in_status"], 200, "{seen}");
    assert!(
        text("before_sign_in_url").ends_with("/ui/login?next=%2Fui%2Fjobs"),
        "{seen}"
    );
    assert!(text("after_sign_in_url").ends_with("/ui/jobs"), "{seen}");
    assert!(text("after_sign_out_url").ends_with("/ui/login"), "{seen}");
    assert!(
        text("after_sign_out_landing").contains("/ui/login?next="),
        "{seen}"
    );

    let streams = text("streams");
    assert!(
        streams.contains("room1") && streams.contains("live"),
        "{streams}"
    );
    let recordings = text("recordings");
    for want in ["room1", "room2", "room4", "mp4", "flv", "87.9 KiB"] {
        assert!(recordings.contains(want), "{want} in {recordings}");
    }
    // Headings name the stream, the span and the files, not a session id.
    let headings: Vec<&str> = seen["headings"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(
        headings.iter().all(|h| !h.contains("Session")),
        "{headings:?}"
    );
    assert!(
        headings
            .iter()
            .any(|h| h.starts_with("room1 · ") && h.ends_with(" · 3 files")),
        "{headings:?}"
    );
    assert!(
        headings
            .iter()
            .any(|h| h.starts_with("room4 · ") && h.ends_with(" · 1 file")),
        "{headings:?}"
    );
    // No player until Play: then one, and it plays (MP4, and HLS through
    // the vendored hls.js).
    assert_eq!(seen["videos_before_play"], 0);
    assert_eq!(seen["play_buttons"], 3, "two MP4s and the HLS recording");
    assert_eq!(seen["mp4"]["playing"], true, "{}", seen["mp4"]);
    assert_eq!(seen["mp4"]["videos"], 1);
    assert_eq!(seen["hls"]["playing"], true, "{}", seen["hls"]);
    assert_eq!(seen["hls"]["videoWidth"], 320, "{}", seen["hls"]);
    let mut downloads: Vec<&str> = seen["downloads"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    downloads.sort_unstable();
    assert_eq!(downloads, ["Download flv", "Download mp4", "Download mp4"]);
    assert_eq!(seen["thumbnails"], json!([320]), "the snapshot shown");
    assert_eq!(seen["sources_menu"], json!(["all", "jd"]));
    // 2025-12-01T00:00:00Z is 08:00 in Shanghai, the zone named; the HTML says UTC.
    let times: Vec<&str> = seen["times"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(
        times
            .iter()
            .any(|t| t.contains("08:00:00 CST") || t.contains("08:00:00 GMT+8")),
        "{times:?}"
    );
    assert!(times.iter().all(|t| !t.contains("UTC")), "{times:?}");
    // Two to a page: every recording reached with Next, once.
    let pages = seen["pages"].as_array().unwrap();
    let paged: Vec<&Value> = pages.iter().flat_map(|p| p.as_array().unwrap()).collect();
    assert_eq!(pages.len(), 3, "{pages:?}");
    assert_eq!(paged.len(), 5, "{pages:?}");
    assert!(pages.iter().all(|p| p.as_array().unwrap().len() <= 2));
    assert_eq!(seen["previous"], pages[1], "Previous leads back");
    // Filters: source and prefix; dates.
    assert!(text("filtered_url").contains("prefix=room2"));
    let filtered = seen["filtered"].as_array().unwrap();
    assert_eq!(filtered.len(), 1, "{filtered:?}");
    assert!(filtered[0].as_str().unwrap().contains("room2"));
    assert!(text("from_later").contains("No recording matches."));
    assert_eq!(seen["on_the_day"].as_array().unwrap().len(), 5);

    let jobs = text("jobs");
    assert!(
        jobs.contains("Running (1)") && jobs.contains("long.flv"),
        "{jobs}"
    );
    assert!(
        jobs.contains("Failed (2)") && jobs.contains("403"),
        "{jobs}"
    );
    // Each failed row names its stream and source.
    for row in seen["failed_rows"].as_array().unwrap() {
        let row = row.as_str().unwrap();
        assert!(row.contains("live/room2") && row.contains("jd"), "{row}");
    }
    assert_eq!(seen["failed_rows"].as_array().unwrap().len(), 2);
    // Nothing past 1280 px: the page does not scroll sideways, and every
    // Retry is in the window.
    assert!(seen["jobs_width"].as_u64().unwrap() <= 1280, "{seen}");
    assert!(seen["recordings_width"].as_u64().unwrap() <= 1280, "{seen}");
    let edges = seen["retry_right_edges"].as_array().unwrap();
    assert_eq!(edges.len(), 3, "two rows' Retry and Retry all");
    assert!(
        edges.iter().all(|x| x.as_f64().unwrap() <= 1280.0),
        "{edges:?}"
    );
    let progress = &seen["progress"][0];
    assert_eq!(progress[1], json!((64u64 << 20).to_string()), "{progress}");
    // A done job leads to its catalog entry.
    let entry = seen["entry_of_done_job"].as_array().unwrap();
    assert_eq!(entry.len(), 1, "{entry:?}");
    assert!(entry[0].as_str().unwrap().contains("room2"), "{entry:?}");
    // Dismiss one: it leaves the failed list; Retry all takes the other.
    assert!(text("after_dismiss_url").ends_with("/ui/jobs"));
    let after = text("after_dismiss");
    assert!(
        after.contains("Failed (1)") && after.contains("1 dismissed"),
        "{after}"
    );
    assert!(text("after_retry_url").ends_with("/ui/jobs"));
    assert!(
        text("after_retry").contains("Failed (0)"),
        "{}",
        text("after_retry")
    );
    until("the retried job archived", || async {
        d.all_items("/api/v1/catalog").await.len() == 6
    })
    .await;
    // The dismissed job is on record, and counted as failed nowhere.
    let dismissed = d.all_items("/api/v1/jobs?state=dismissed").await;
    assert_eq!(dismissed.len(), 1);
    assert!(dismissed[0]["origin"]["value"]
        .as_str()
        .unwrap()
        .ends_with(LONG_NAME));
    assert!(d.all_items("/api/v1/jobs?state=failed").await.is_empty());
    let metrics = d.http().get(d.url("/metrics")).send().await.unwrap();
    let metrics = metrics.text().await.unwrap();
    let gauge = |state: &str| {
        metrics
            .lines()
            .find(|l| l.contains("jobs") && l.contains(&format!("state=\"{state}\"")))
            .map(str::to_owned)
    };
    assert!(
        gauge("failed").is_some_and(|l| l.ends_with(" 0")),
        "{metrics}"
    );
    assert!(
        gauge("dismissed").is_some_and(|l| l.ends_with(" 1")),
        "{metrics}"
    );

    let rejected = text("rejected");
    assert!(
        rejected.contains("hello") && rejected.contains("malformed_body"),
        "{rejected}"
    );
    assert_eq!(seen["replay_buttons"], 1);
    // A form another site's page posts through the viewer's browser is
    // refused, here and on the API: the browser is on this machine.
    let job = d.all_items("/api/v1/jobs").await[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    for path in [
        format!("/ui/jobs/{job}/retry"),
        format!("/api/v1/jobs/{job}/retry"),
        format!("/ui/jobs/{job}/dismiss"),
        format!("/api/v1/jobs/{job}/dismiss"),
        "/ui/jobs/retry-failed".to_owned(),
        "/api/v1/jobs/dismiss-failed".to_owned(),
    ] {
        let r = common::client()
            .post(d.url(&path))
            .header("origin", "https://evil.example")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 403, "{path}");
        let r = common::client()
            .post(d.url(&path))
            .header("sec-fetch-site", "cross-site")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 403, "{path}");
    }
    // The streams view is shot by ui_overview.rs, with its timelines.
    for view in ["recordings", "jobs", "rejected"] {
        let png = std::fs::read(shots.join(format!("ui-{view}.png"))).unwrap();
        assert!(png.starts_with(b"\x89PNG") && png.len() > 10_000, "{view}");
    }
}

/// A client that shows redirects instead of following them.
fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// Signs in at `/ui/login` with `token`; the session cookie's whole
/// `Set-Cookie` value.
async fn sign_in(d: &Daemon, token: &str) -> String {
    let r = no_redirects()
        .post(d.url("/ui/login"))
        .form(&[("token", token)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    r.headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .find(|c| c.starts_with("recording_archiver_session="))
        .expect("a session cookie")
}

/// The status of `/ui/jobs` for a browser carrying `cookie` (`name=value`).
async fn jobs_page_with(d: &Daemon, cookie: &str) -> u16 {
    no_redirects()
        .get(d.url("/ui/jobs"))
        .header("cookie", cookie)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test]
async fn a_browser_signs_in_for_a_session_that_is_not_the_token_and_signs_out() {
    let d = Daemon::start("[api]\ntoken = \"s3cret-token\"\n");
    let client = no_redirects();
    let r = client.get(d.url("/ui/jobs")).send().await.unwrap();
    assert_eq!(r.status(), 401, "a script hears JSON");
    assert!(r.text().await.unwrap().contains("/ui/login"));
    // A browser is sent to sign in, and back to the page once signed in;
    // never elsewhere, whatever `next` says.
    let html = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8";
    let r = client
        .get(d.url("/ui/jobs?state=failed"))
        .header("accept", html)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(
        r.headers()["location"],
        "/ui/login?next=%2Fui%2Fjobs%3Fstate%3Dfailed"
    );
    let r = client.get(d.url("/api/v1/jobs")).header("accept", html);
    assert_eq!(r.send().await.unwrap().status(), 401, "the API stays JSON");
    let form = client
        .get(d.url("/ui/login?next=%2Fui%2Fjobs"))
        .send()
        .await
        .unwrap();
    let form = form.text().await.unwrap();
    assert!(form.contains("name=\"next\" value=\"/ui/jobs\""), "{form}");
    for (next, lands) in [
        ("/ui/jobs", "/ui/jobs"),
        ("//evil.example/ui/", "/ui/"),
        ("https://evil.example/", "/ui/"),
        ("/\\evil.example", "/ui/"),
        ("/api/v1/jobs", "/ui/"),
    ] {
        let r = client
            .post(d.url("/ui/login"))
            .form(&[("token", "s3cret-token"), ("next", next)])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 303, "{next}");
        assert_eq!(r.headers()["location"], lands, "{next}");
    }
    let wrong = client
        .post(d.url("/ui/login"))
        .form(&[("token", "nope")])
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
    let cookie = sign_in(&d, "s3cret-token").await;
    assert!(
        cookie.contains("HttpOnly")
            && cookie.contains("SameSite=Lax")
            && cookie.contains("Max-Age=43200"),
        "{cookie}"
    );
    let pair = cookie.split(';').next().unwrap().to_owned();
    let (_, id) = pair.split_once('=').unwrap();
    assert!(
        !id.contains("s3cret-token"),
        "the token is never the cookie: {pair}"
    );
    assert!(id.len() >= 32, "at least 128 random bits: {id}");
    // The raw token as a cookie, as browsers signed in before sessions
    // still carry it, opens nothing.
    let old = "recording_archiver_token=s3cret-token";
    assert_eq!(jobs_page_with(&d, old).await, 401);
    let r = client
        .get(d.url("/ui/jobs"))
        .header("cookie", &pair)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let page = r.text().await.unwrap();
    assert!(page.contains("<h1>Jobs</h1>"));
    assert!(page.contains("action=\"/ui/logout\""), "a sign-out button");
    // A sign-out another site's page asks for is refused.
    let r = client
        .post(d.url("/ui/logout"))
        .header("cookie", &pair)
        .header("sec-fetch-site", "cross-site")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    assert_eq!(jobs_page_with(&d, &pair).await, 200);
    let r = client
        .post(d.url("/ui/logout"))
        .header("cookie", &pair)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(r.headers()["location"], "/ui/login");
    let cleared = r.headers()["set-cookie"].to_str().unwrap();
    assert!(cleared.contains("Max-Age=0"), "{cleared}");
    assert_eq!(jobs_page_with(&d, &pair).await, 401, "signed out");
    let r = client
        .get(d.url("/api/v1/jobs"))
        .header("cookie", &pair)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401, "nor does it open the API");
}

#[tokio::test]
async fn an_expired_session_is_refused() {
    let d = Daemon::start("[api]\nui_session_secs = 3\n");
    let cookie = sign_in(&d, &d.token).await;
    assert!(cookie.contains("Max-Age=3"), "{cookie}");
    let pair = cookie.split(';').next().unwrap().to_owned();
    assert_eq!(jobs_page_with(&d, &pair).await, 200);
    // The daemon's own clock ends it, whatever the browser keeps.
    let start = Instant::now();
    while jobs_page_with(&d, &pair).await != 401 {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "a 3 s session still open after 30 s"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn markup_sent_in_a_callback_is_shown_as_text() {
    let d = Daemon::start("[[sources]]\nname = \"jd\"\nprovider = \"jdcloud\"\ntoken = \"t\"\n");
    let attack = "<script>alert(1)</script><img src=x onerror=alert(2)>";
    // A stream named with markup, and a body kept as rejected that carries it.
    let started = json!({"version": "v1.1", "publishDomain": "push.example.com",
        "appName": "live", "streamName": attack, "event": "publish_started", "status": "success"});
    let (status, body) = d
        .post("jd?token=t", Some("application/json"), started.to_string())
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, _) = d
        .post(
            "jd?token=t",
            Some("application/json"),
            format!("{{\"x\": {attack}"),
        )
        .await;
    assert_eq!(status, 400);
    let shown = "&lt;script&gt;alert(1)&lt;/script&gt;&lt;img src=x onerror=alert(2)&gt;";
    for view in ["/ui/streams", "/ui/rejected"] {
        let r = d.http().get(d.url(view)).send().await.unwrap();
        assert_eq!(r.status(), 200, "{view}");
        let page = r.text().await.unwrap();
        assert!(
            page.contains(shown),
            "{view} shows the markup as text: {page}"
        );
        assert!(!page.contains("<script>alert"), "{view}: {page}");
        assert!(!page.contains("<img src=x"), "{view}: {page}");
    }
}
