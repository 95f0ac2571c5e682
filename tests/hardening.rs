//! Issue 22, items 9 and 10: signatures hidden in every encoding; the
//! daemon never fetches itself and `allow_hosts` ports count; redirects carry
//! no Referer; downloads named with control characters stay well-formed;
//! a JSON key forges no log line; the open-files limit is raised; a Tencent
//! signature that would never expire is refused.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::origin::{FileSpec, Origin};
use common::{client, free_port, jd_record_done, md5_hex, Daemon};
use serde_json::{json, Value};

const QUICK: &str = "[transfer]\nworkers = 2\nretry_initial_secs = 1\nretry_max_secs = 2\nrequest_timeout_secs = 5\nlease_secs = 6\n";

const TENCENT: &str = "[[sources]]\nname = \"tc\"\nprovider = \"tencent\"\ntoken = \"tc-token\"\nsign_key = \"tc-key-5f2a\"\n";

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// Waits until `n` jobs exist and every one is done or failed.
async fn settled_jobs(d: &Daemon, n: usize) -> Vec<Value> {
    let start = Instant::now();
    loop {
        let jobs = d.all_items("/api/v1/jobs").await;
        if jobs.len() >= n
            && jobs
                .iter()
                .all(|j| j["state"] == "done" || j["state"] == "failed")
        {
            return jobs;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "jobs did not settle: {jobs:#?}\nlogs:\n{}",
            d.log_text()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A Tencent push-started callback as form / query fields, signed to expire at `t`.
fn tencent_form(event_type: u32, t: i64) -> (String, String) {
    let sign = md5_hex(&format!("tc-key-5f2a{t}"));
    let form = format!(
        "appid=12345&app=push.example.com&appname=live&stream_id=room1&channel_id=room1\
         &event_type={event_type}&event_time=1700000000&user_ip=203.0.113.7&t={t}&sign={sign}"
    );
    (form, sign)
}

#[tokio::test]
async fn tencent_signatures_are_hidden_in_form_and_get_callbacks_and_rejected_requests() {
    let d = Daemon::start(&format!("[transfer]\nworkers = 0\n{TENCENT}"));
    let form_ct = Some("application/x-www-form-urlencoded");
    let (form, form_sign) = tencent_form(1, now() + 600);
    let (status, reply) = d.post("tc?token=tc-token", form_ct, form).await;
    assert_eq!(status, 200, "{reply}");
    let (query, get_sign) = tencent_form(0, now() + 601);
    let r = client()
        .get(d.url(&format!("/callbacks/tc?token=tc-token&{query}")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    // Signed, but no parser knows event_type 999: kept as rejected.
    let (bad, bad_sign) = tencent_form(999, now() + 602);
    let (status, _) = d.post("tc?token=tc-token", form_ct, bad).await;
    assert_eq!(status, 400);
    let (bad_query, bad_get_sign) = tencent_form(999, now() + 603);
    let r = client()
        .get(d.url(&format!("/callbacks/tc?token=tc-token&{bad_query}")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);

    let events = d.all_items("/api/v1/events").await;
    assert_eq!(events.len(), 2);
    for e in &events {
        let raw = e["raw"].as_str().unwrap();
        assert!(raw.contains("sign=***"), "{raw}");
        assert!(raw.contains("event_type="), "the rest is kept: {raw}");
    }
    let rejected = d.all_items("/api/v1/rejected").await;
    assert_eq!(rejected.len(), 2);
    let shown = format!("{events:?}{rejected:?}");
    for sign in [form_sign, get_sign, bad_sign, bad_get_sign] {
        assert!(!shown.contains(&sign), "{sign} shown: {shown}");
    }
    assert!(shown.contains("sign=***"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_daemons_own_listener_is_never_fetched_and_allow_hosts_ports_count() {
    let origin = Origin::start().await;
    let other = Origin::start().await;
    origin.put("/a.flv", FileSpec::bytes(&b"recording a"[..]));
    other.put("/b.flv", FileSpec::bytes(&b"recording b"[..]));
    let port = origin.addr.rsplit(':').next().unwrap().to_owned();
    let d = Daemon::start(&format!(
        "{QUICK}[[sources]]\nname = \"jd\"\nprovider = \"jdcloud\"\ntoken = \"t\"\n\
         allow_hosts = [\"127.0.0.1:{port}\"]\n\
         [[sources]]\nname = \"any\"\nprovider = \"jdcloud\"\ntoken = \"t\"\nallow_hosts = [\"127.0.0.1\"]\n"
    ));
    let own_port = d.base.rsplit(':').next().unwrap().to_owned();
    let cases = [
        ("jd", origin.url("/a.flv"), "done"),
        ("jd", other.url("/b.flv"), "failed"),
        // A bare host means any port, as before, except the daemon's own.
        ("any", other.url("/b.flv"), "done"),
        ("any", d.url("/metrics"), "failed"),
        (
            "any",
            format!("http://localhost:{own_port}/api/v1/jobs"),
            "failed",
        ),
    ];
    for (i, (src, url, _)) in cases.iter().enumerate() {
        let body = jd_record_done(url, &format!("s{i}"));
        let (s, r) = d
            .post(&format!("{src}?token=t"), Some("application/json"), body)
            .await;
        assert_eq!(s, 200, "{r}");
    }
    let jobs = settled_jobs(&d, cases.len()).await;
    for (src, url, state) in &cases {
        let j = jobs
            .iter()
            .find(|j| j["source"] == *src && j["origin"]["value"] == url.as_str())
            .unwrap_or_else(|| panic!("no job for {src} {url}: {jobs:#?}"));
        assert_eq!(j["state"], *state, "{j}");
        if *state == "failed" {
            let why = j["last_error"].as_str().unwrap();
            let expected = if url.contains(&own_port) {
                "own listener"
            } else {
                "allow_hosts"
            };
            assert!(why.contains(expected), "a clear reason: {j}");
            assert_eq!(j["attempts"], 1, "permanent: {j}");
        }
    }
    let catalog = d.all_items("/api/v1/catalog").await;
    assert_eq!(catalog.len(), 2, "only the two allowed files: {catalog:#?}");
    assert_eq!(
        other.requests("/b.flv").len(),
        1,
        "only the bare-host job fetched b"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redirects_send_no_referer() {
    let origin = Origin::start().await;
    origin.put("/final/a.flv", FileSpec::bytes(&b"recording"[..]));
    origin.redirect("/signed/a.flv", &origin.url("/final/a.flv"));
    let d = Daemon::start(&format!(
        "{QUICK}[[sources]]\nname = \"jd\"\nprovider = \"jdcloud\"\ntoken = \"t\"\nallow_hosts = [\"127.0.0.1\"]\n"
    ));
    let signed = format!(
        "{}?auth_key=1700000000-0-0-secretsig",
        origin.url("/signed/a.flv")
    );
    let (s, r) = d
        .post(
            "jd?token=t",
            Some("application/json"),
            jd_record_done(&signed, "cam"),
        )
        .await;
    assert_eq!(s, 200, "{r}");
    let jobs = settled_jobs(&d, 1).await;
    assert_eq!(jobs[0]["state"], "done", "{jobs:#?}");
    let heads = origin.request_heads("/final/a.flv");
    assert!(!heads.is_empty());
    for h in heads {
        assert!(!h.to_ascii_lowercase().contains("\nreferer:"), "{h}");
        assert!(!h.contains("secretsig"), "{h}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_download_named_with_a_control_character_is_well_formed_and_not_sniffed() {
    let outer = tempfile::tempdir().unwrap();
    let root = outer.path().join("rec");
    std::fs::create_dir_all(root.join("live")).unwrap();
    let name = "a\u{1}b\"c\u{e9}.flv";
    std::fs::write(root.join("live").join(name), b"recording").unwrap();
    let d = Daemon::start(&format!(
        "{QUICK}[[sources]]\nname = \"self\"\nprovider = \"aliyun\"\ntoken = \"t\"\n\
         [sources.origin]\ntype = \"file\"\nroots = [\"{}\"]\n",
        root.display()
    ));
    let body = json!({"domain": "d", "app": "live", "stream": "s", "uri": format!("live/{name}"),
                      "start_time": 1700000000, "stop_time": 1700000060});
    let (s, r) = d
        .post("self?token=t", Some("application/json"), body.to_string())
        .await;
    assert_eq!(s, 200, "{r}");
    let jobs = settled_jobs(&d, 1).await;
    assert_eq!(jobs[0]["state"], "done", "{jobs:#?}");
    let catalog = d.all_items("/api/v1/catalog").await;
    let id = catalog[0]["id"].as_str().unwrap();
    let r = d
        .http()
        .get(d.url(&format!("/api/v1/catalog/{id}/download")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let h = r.headers().clone();
    assert_eq!(h["x-content-type-options"], "nosniff");
    let cd = h["content-disposition"].to_str().unwrap().to_owned();
    assert_eq!(
        cd,
        "inline; filename=\"a_b_c_.flv\"; filename*=UTF-8''a%01b%22c%C3%A9.flv"
    );
    assert_eq!(r.bytes().await.unwrap().as_ref(), b"recording");
}

#[test]
fn a_newline_in_a_json_key_forges_no_log_line() {
    // Text logs (journald's): there a newline starts a line of its own.
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let config = dir.path().join("config.toml");
    std::fs::write(
        &config,
        common::config_text(dir.path(), "").replace("127.0.0.1:0", &format!("127.0.0.1:{port}"))
            + "[[sources]]\nname = \"auto\"\nprovider = \"auto\"\ntoken = \"t\"\n",
    )
    .unwrap();
    let mut child = Command::new(common::binary())
        .args(["serve", "--log-format", "text", "--config"])
        .arg(&config)
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let start = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(start.elapsed() < Duration::from_secs(30), "did not listen");
        std::thread::sleep(Duration::from_millis(50));
    }
    let forged =
        "2026-12-03T10:00:00.000000Z  INFO recording_archiver: admin logged in from 10.0.0.1";
    let body = json!({ format!("x\n{forged}\n"): 1 }).to_string();
    let reply = {
        use std::io::{Read, Write};
        let mut sock = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        write!(
            sock,
            "POST /callbacks/auto?token=t HTTP/1.1\r\nhost: 127.0.0.1\r\n\
             content-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        )
        .unwrap();
        let mut answer = String::new();
        sock.read_to_string(&mut answer).unwrap();
        answer
    };
    assert!(reply.starts_with("HTTP/1.1 400"), "{reply}");
    // The rejection is logged; every line up to it is read.
    let mut lines = Vec::new();
    let start = Instant::now();
    while !lines
        .iter()
        .any(|l: &String| l.contains("callback rejected"))
    {
        assert!(start.elapsed() < Duration::from_secs(10), "{lines:#?}");
        if let Ok(l) = rx.recv_timeout(Duration::from_millis(200)) {
            lines.push(l);
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    while let Ok(l) = rx.recv_timeout(Duration::from_millis(200)) {
        lines.push(l);
    }
    // Keys are read case-folded: the forged line would be too.
    let forged = forged.to_lowercase();
    assert!(
        !lines.iter().any(|l| l.to_lowercase().starts_with(&forged)),
        "a forged line: {lines:#?}"
    );
    let rejected = lines
        .iter()
        .find(|l| l.contains("callback rejected"))
        .unwrap();
    assert!(
        rejected.contains("x\\n2026"),
        "the key, escaped: {rejected}"
    );
}

#[tokio::test]
async fn a_tencent_signature_ten_years_ahead_is_refused() {
    let d = Daemon::start(&format!("[transfer]\nworkers = 0\n{TENCENT}"));
    let ct = Some("application/x-www-form-urlencoded");
    let (far, _) = tencent_form(1, now() + 10 * 365 * 24 * 3600);
    let (status, reply) = d.post("tc?token=tc-token", ct, far).await;
    assert_eq!(status, 401, "{reply}");
    assert!(reply.to_string().contains("ahead"), "{reply}");
    assert!(d.all_items("/api/v1/events").await.is_empty());
    assert!(d.all_items("/api/v1/rejected").await.is_empty());
    let (fresh, _) = tencent_form(1, now() + 600);
    assert_eq!(d.post("tc?token=tc-token", ct, fresh).await.0, 200);
}

#[test]
fn the_soft_open_files_limit_is_raised_to_the_hard_one() {
    let dir = tempfile::tempdir().unwrap();
    let d = Daemon::start_under(
        dir.path(),
        "[transfer]\nworkers = 0\n",
        &[],
        &["prlimit", "--nofile=256:4096", "--"],
    );
    let limits = std::fs::read_to_string(format!("/proc/{}/limits", d.inner_pid())).unwrap();
    let line = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .unwrap();
    let numbers: Vec<&str> = line.split_whitespace().skip(3).take(2).collect();
    assert_eq!(numbers, ["4096", "4096"], "{line}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn delete_after_archive_is_not_steered_outside_the_roots_by_a_swapped_directory() {
    use common::delay::DelayProxy;
    use common::s3::S3Server;
    const MIB: usize = 1 << 20;
    let s3 = S3Server::start(&["recordings"]).await;
    // CompleteMultipartUpload waits 3 s: every byte is read, the upload not done.
    let slow = DelayProxy::start(&s3.endpoint, Duration::from_secs(3)).await;
    let t = tempfile::tempdir().unwrap();
    let root = t.path().join("rec");
    let outside = t.path().join("outside");
    std::fs::create_dir_all(root.join("swap")).unwrap();
    std::fs::create_dir_all(root.join("plain")).unwrap();
    std::fs::create_dir_all(&outside).unwrap();
    // A file nobody tampers with: deleted once archived, as before.
    std::fs::write(root.join("plain/w.flv"), b"a small recording").unwrap();
    // The time the callbacks state as the recording's end (stop_time): the
    // file's, so that size and time alone cannot tell the files apart.
    let when = std::time::UNIX_EPOCH + Duration::from_secs(1_700_000_060);
    let plain = std::fs::File::options()
        .write(true)
        .open(root.join("plain/w.flv"))
        .unwrap();
    plain.set_modified(when).unwrap();
    for (path, seed) in [(root.join("swap/v.flv"), 1), (outside.join("v.flv"), 2)] {
        std::fs::write(&path, common::random_bytes(6 * MIB, seed)).unwrap();
        let f = std::fs::File::options().write(true).open(&path).unwrap();
        f.set_modified(when).unwrap();
    }
    let d = Daemon::start(&format!(
        "{}[transfer]\nworkers = 1\npart_size = 5242880\nretry_initial_secs = 1\n\
         [[sources]]\nname = \"self\"\nprovider = \"aliyun\"\ntoken = \"t\"\n\
         [sources.origin]\ntype = \"file\"\nroots = [\"{}\"]\ndelete_after_archive = true\n",
        s3.store_config_via("recordings", &slow.endpoint),
        root.display()
    ));
    let body = json!({"domain": "d", "app": "live", "stream": "s", "uri": "swap/v.flv",
                      "start_time": 1700000000, "stop_time": 1700000060});
    let (s, r) = d
        .post("self?token=t", Some("application/json"), body.to_string())
        .await;
    assert_eq!(s, 200, "{r}");
    let start = Instant::now();
    while slow.held() == 0 {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "{}",
            d.log_text()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // While the upload completes: the directory becomes a link out of the roots.
    std::fs::rename(root.join("swap"), root.join("moved")).unwrap();
    std::os::unix::fs::symlink(&outside, root.join("swap")).unwrap();
    let body = json!({"domain": "d", "app": "live", "stream": "p", "uri": "plain/w.flv",
                      "start_time": 1700000000, "stop_time": 1700000060});
    let (s, r) = d
        .post("self?token=t", Some("application/json"), body.to_string())
        .await;
    assert_eq!(s, 200, "{r}");
    let jobs = settled_jobs(&d, 2).await;
    assert!(jobs.iter().all(|j| j["state"] == "done"), "{jobs:#?}");
    // Each deletion is decided once its job is done (one worker: in order),
    // and the untouched file's is recorded as an event.
    let start = Instant::now();
    let deleted = loop {
        let events = d.all_items("/api/v1/events").await;
        let deleted: Vec<Value> = events
            .into_iter()
            .filter(|e| e["kind"] == "local_file_deleted")
            .collect();
        if !deleted.is_empty() {
            break deleted;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "{}",
            d.log_text()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(outside.join("v.flv").exists(), "the outside file survives");
    assert!(root.join("moved/v.flv").exists());
    assert!(
        !root.join("plain/w.flv").exists(),
        "the untouched file is deleted"
    );
    assert_eq!(
        deleted.len(),
        1,
        "only the untouched file's deletion: {deleted:#?}"
    );
    let path = deleted[0]["file"]["location"]["value"].as_str().unwrap();
    assert!(path.ends_with("plain/w.flv"), "{path}");
    assert!(d.log_text().contains("kept"), "{}", d.log_text());
}
