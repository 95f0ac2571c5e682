//! The attack suite: what a hostile caller can send to the internet-facing
//! callback endpoint, over real HTTP against the real daemon, with real
//! origins. Each test checks that nothing was fetched, nothing was written
//! outside its key, nothing secret leaked, and the daemon is still healthy.
//! (Token, Alibaba-signature and rate-limit attacks are in tests/receiver.rs;
//! SECURITY.md maps every threat to its test.)

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::origin::{FileSpec, Origin};
use common::{client, jd_record_done, Daemon};
use serde_json::{json, Value};

const QUICK: &str = "[transfer]\nworkers = 2\nretry_initial_secs = 1\nretry_max_secs = 2\nrequest_timeout_secs = 5\nlease_secs = 6\n";

async fn post_ok(d: &Daemon, path: &str, body: String) {
    let (status, reply) = d.post(path, Some("application/json"), body).await;
    assert_eq!(status, 200, "{path}: {reply}");
}

/// Waits until every job is done or failed.
async fn settled_jobs(d: &Daemon, n: usize) -> Vec<Value> {
    let start = Instant::now();
    loop {
        let jobs = d.all_items("/api/v1/jobs").await;
        let settled = jobs
            .iter()
            .filter(|j| j["state"] == "done" || j["state"] == "failed")
            .count();
        if jobs.len() >= n && settled == jobs.len() {
            return jobs;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "jobs did not settle: {}\nlogs:\n{}",
            serde_json::to_string_pretty(&jobs).unwrap(),
            d.log_text()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn assert_healthy(d: &Daemon) {
    assert_eq!(d.get_json("/healthz").await["status"], "ok");
}

fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if e.file_type().unwrap().is_dir() {
                stack.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out
}

use common::md5_hex;

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// A Tencent callback signed with `key`, its signature expiring at `t`.
fn tencent_body(key: &str, t: i64) -> Value {
    json!({
        "appid": 12345, "app": "push.example.com", "appname": "live", "stream_id": "room1",
        "channel_id": "room1", "event_type": 1, "event_time": 1700000000, "user_ip": "203.0.113.7",
        "t": t, "sign": md5_hex(&format!("{key}{t}"))
    })
}

#[tokio::test]
async fn tencent_signatures_that_are_missing_stale_wrong_or_tampered_are_401() {
    let d = Daemon::start(concat!(
        "[transfer]\nworkers = 0\n",
        "[[sources]]\nname = \"tc\"\nprovider = \"tencent\"\ntoken = \"tc-token\"\nsign_key = \"tc-key-5f2a\"\n",
    ));
    let key = "tc-key-5f2a";
    let fresh = now() + 600;
    let mut tampered = tencent_body(key, fresh);
    tampered["t"] = json!(fresh + 86_400); // extend the expiry without the key
    let mut unsigned = tencent_body(key, fresh);
    unsigned.as_object_mut().unwrap().remove("sign");
    let cases: Vec<(&str, Value)> = vec![
        ("stale", tencent_body(key, now() - 5)),
        ("wrong key", tencent_body("guess", fresh)),
        ("tampered expiry", tampered),
        ("no sign", unsigned),
        (
            "an unsigned record smuggled beside a signed one",
            json!([tencent_body(key, fresh), {"event_type": 0, "stream_id": "x"}]),
        ),
    ];
    for (what, body) in cases {
        let (status, reply) = d
            .post(
                "tc?token=tc-token",
                Some("application/json"),
                body.to_string(),
            )
            .await;
        assert_eq!(status, 401, "{what}: {reply}");
        assert!(!reply.to_string().contains(key), "{what}: key in reply");
    }
    assert!(d.all_items("/api/v1/events").await.is_empty());
    assert!(
        d.all_items("/api/v1/rejected").await.is_empty(),
        "401 keeps nothing"
    );

    // A right signature without the token: the pair is not bound to the
    // body, so it alone proves nothing.
    let signed = tencent_body(key, fresh);
    let (status, _) = d
        .post("tc", Some("application/json"), signed.to_string())
        .await;
    assert_eq!(status, 401, "a signature without the token");

    // The real thing passes, and is read as Tencent's.
    post_ok(&d, "tc?token=tc-token", signed.to_string()).await;
    let events = d.all_items("/api/v1/events").await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["provider"], "tencent");
    assert_eq!(events[0]["kind"], "stream_started");
    assert_eq!(events[0]["stream"], "room1");
    // The API never shows a signature that could sign other bodies.
    let raw = events[0]["raw"].as_str().unwrap();
    let sign = signed["sign"].as_str().unwrap();
    assert!(!raw.contains(sign), "{raw}");
    assert!(raw.contains(r#""sign":"***""#), "{raw}");
    assert!(!d.log_text().contains(key));
    assert_healthy(&d).await;
}

#[test]
fn tencent_sources_cannot_accept_a_signature_alone() {
    for provider in ["tencent", "auto"] {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("c.toml");
        std::fs::write(
            &config,
            format!("[[sources]]\nname = \"tc\"\nprovider = \"{provider}\"\nsign_key = \"k\"\nauth = \"signature\"\n"),
        )
        .unwrap();
        let out = std::process::Command::new(common::binary())
            .args(["check-config", "--config"])
            .arg(&config)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{provider}: {err}");
        assert!(
            err.contains("sources[0].auth") && err.contains("not bound"),
            "{err}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn no_callback_can_point_the_daemon_at_an_internal_or_unlisted_address() {
    let origin = Origin::start().await;
    origin.put("/a.flv", FileSpec::bytes(vec![7u8; 4096]));
    let port = origin.addr.rsplit(':').next().unwrap().to_owned();
    // Allowed hop, then off the list: to another name, and to the metadata service.
    origin.redirect(
        "/to-other-host.flv",
        &format!("http://localhost:{port}/a.flv"),
    );
    origin.redirect(
        "/to-metadata.flv",
        "http://169.254.169.254/latest/meta-data/",
    );
    let d = Daemon::start(&format!(
        "{QUICK}{}{}",
        "[[sources]]\nname = \"open\"\nprovider = \"jdcloud\"\ntoken = \"t\"\nallow_hosts = [\"*\"]\n",
        "[[sources]]\nname = \"listed\"\nprovider = \"jdcloud\"\ntoken = \"t\"\nallow_hosts = [\"127.0.0.1\"]\n",
    ));
    let attacks = [
        (
            "open",
            "http://169.254.169.254/latest/meta-data/iam/".to_owned(),
            "metadata",
        ),
        (
            "open",
            "http://[fd00:ec2::254]/latest/".to_owned(),
            "metadata-v6",
        ),
        (
            "open",
            format!("http://127.0.0.1:{port}/a.flv"),
            "loopback-literal",
        ),
        (
            "open",
            format!("http://[::ffff:127.0.0.1]:{port}/a.flv"),
            "mapped-loopback",
        ),
        (
            "open",
            format!("http://localhost:{port}/a.flv"),
            "name-to-loopback",
        ),
        (
            "listed",
            format!("http://127.0.0.1:{port}/to-other-host.flv"),
            "redirect-off-list",
        ),
        (
            "listed",
            format!("http://127.0.0.1:{port}/to-metadata.flv"),
            "redirect-to-metadata",
        ),
        ("listed", "file:///etc/passwd".to_owned(), "file-scheme"),
        (
            "listed",
            format!("gopher://127.0.0.1:{port}/_GET%20/a.flv"),
            "gopher-scheme",
        ),
    ];
    for (source, url, stream) in &attacks {
        post_ok(
            &d,
            &format!("{source}?token=t"),
            jd_record_done(url, stream),
        )
        .await;
    }
    let jobs = settled_jobs(&d, attacks.len()).await;
    for j in &jobs {
        assert_eq!(j["state"], "failed", "{j}");
        assert_eq!(j["attempts"], 1, "refused at once, never retried: {j}");
    }
    let reason = |stream: &str| {
        let (_, url, _) = attacks.iter().find(|a| a.2 == stream).unwrap();
        let j = jobs.iter().find(|j| j["origin"]["value"] == *url).unwrap();
        j["last_error"].as_str().unwrap().to_owned()
    };
    assert!(reason("name-to-loopback").contains("internal addresses"));
    assert!(reason("redirect-off-list").contains("redirect to localhost refused"));
    assert!(reason("redirect-to-metadata").contains("refused"));
    assert!(reason("file-scheme").contains("only http and https"));
    assert!(reason("gopher-scheme").contains("only http and https"));
    assert!(reason("loopback-literal").contains("not an allowed host"));
    assert!(
        origin.requests("/a.flv").is_empty(),
        "the file was never fetched"
    );
    assert_eq!(
        origin.requests("/to-other-host.flv").len(),
        1,
        "only the listed hop"
    );
    assert!(
        files_under(&d.dir.join("archive")).is_empty(),
        "nothing written"
    );
    assert_healthy(&d).await;

    // Not vacuous: named exactly, the same origin is fetched.
    post_ok(
        &d,
        "listed?token=t",
        jd_record_done(&format!("http://127.0.0.1:{port}/a.flv"), "allowed"),
    )
    .await;
    let jobs = settled_jobs(&d, attacks.len() + 1).await;
    let allowed = jobs
        .iter()
        .find(|j| j["origin"]["value"] == format!("http://127.0.0.1:{port}/a.flv"))
        .unwrap();
    assert_eq!(allowed["state"], "done", "{allowed}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_file_origin_reads_nothing_outside_its_roots() {
    let outer = tempfile::tempdir().unwrap();
    let root = outer.path().join("rec");
    std::fs::create_dir_all(root.join("live")).unwrap();
    std::fs::write(root.join("live/a.flv"), b"recording").unwrap();
    std::fs::create_dir_all(outer.path().join("secret")).unwrap();
    std::fs::write(outer.path().join("secret/key"), b"TOP-SECRET").unwrap();
    std::os::unix::fs::symlink(outer.path().join("secret"), root.join("escape")).unwrap();
    // A FIFO never ends (and opening one waits for a writer): refused unopened.
    let fifo = std::process::Command::new("mkfifo")
        .arg(root.join("live/pipe.flv"))
        .status()
        .unwrap();
    assert!(fifo.success());
    let d = Daemon::start(&format!(
        "{QUICK}[[sources]]\nname = \"self\"\nprovider = \"aliyun\"\ntoken = \"t\"\n[sources.origin]\ntype = \"file\"\nroots = [\"{}\"]\n",
        root.display()
    ));
    let secret = outer.path().join("secret/key");
    let attempts = [
        ("../secret/key", "climb"),
        ("escape/key", "symlink-out"),
        (secret.to_str().unwrap(), "absolute-outside"),
        ("/etc/passwd", "system-file"),
        ("/dev/zero", "device"),
        ("live/pipe.flv", "fifo"),
    ];
    for (uri, stream) in attempts {
        let body = json!({"domain": "d", "app": "live", "stream": stream, "uri": uri,
                          "start_time": 1700000000, "stop_time": 1700000060});
        post_ok(&d, "self?token=t", body.to_string()).await;
    }
    let jobs = settled_jobs(&d, attempts.len()).await;
    for j in &jobs {
        assert_eq!(j["state"], "failed", "{j}");
    }
    let fifo_job = jobs
        .iter()
        .find(|j| j["origin"]["value"] == "live/pipe.flv")
        .unwrap();
    assert!(
        fifo_job["last_error"]
            .as_str()
            .unwrap()
            .contains("not a regular file"),
        "{fifo_job}"
    );
    let body = json!({"domain": "d", "app": "live", "stream": "ok", "uri": "live/a.flv",
                      "start_time": 1700000000, "stop_time": 1700000060});
    post_ok(&d, "self?token=t", body.to_string()).await;
    let jobs = settled_jobs(&d, attempts.len() + 1).await;
    // A local file is recorded by its canonical path.
    let canonical = std::fs::canonicalize(root.join("live/a.flv")).unwrap();
    let ok = jobs
        .iter()
        .find(|j| j["origin"]["value"] == canonical.to_str().unwrap())
        .unwrap();
    assert_eq!(ok["state"], "done", "{ok}");
    for f in files_under(&d.dir.join("archive")) {
        let bytes = std::fs::read(&f).unwrap();
        assert!(
            !bytes.windows(10).any(|w| w == b"TOP-SECRET"),
            "{} holds the secret",
            f.display()
        );
    }
    assert_healthy(&d).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn hostile_stream_names_never_leave_their_key_segment() {
    let origin = Origin::start().await;
    origin.put("/a.flv", FileSpec::bytes(vec![1u8; 1000]));
    let d = Daemon::start(&format!(
        "{QUICK}[[sources]]\nname = \"jd\"\nprovider = \"jdcloud\"\ntoken = \"t\"\nallow_hosts = [\"127.0.0.1\"]\n"
    ));
    let long = "n".repeat(5000);
    let names = [
        "../../etc",
        "/abs",
        "..",
        "a\u{0}b\nc\r\n",
        "..\\..\\win",
        long.as_str(),
    ];
    for (i, name) in names.iter().enumerate() {
        // Distinct URLs: a file location is queued once per source.
        let url = format!("{}?n={i}", origin.url("/a.flv"));
        post_ok(&d, "jd?token=t", jd_record_done(&url, name)).await;
    }
    let jobs = settled_jobs(&d, names.len()).await;
    for j in &jobs {
        assert_eq!(j["state"], "done", "{j}");
    }
    let archive = d.dir.join("archive");
    for entry in d.all_items("/api/v1/catalog").await {
        let path = entry["store"]["path"].as_str().unwrap();
        let key = path
            .strip_prefix(&format!("{}/", archive.display()))
            .unwrap_or_else(|| panic!("{path} is not under {}", archive.display()));
        assert!(!key.starts_with('/'), "{key}");
        assert!(!key.split('/').any(|s| s == ".." || s == "."), "{key}");
        assert!(!key.chars().any(char::is_control), "{key:?}");
        assert!(key.split('/').all(|s| s.len() <= 255), "{key}");
    }
    // Every file the run wrote is inside the archive root or the state dir.
    for f in files_under(&d.dir) {
        assert!(
            f.starts_with(&archive)
                || f.starts_with(d.dir.join("state"))
                || f.ends_with("config.toml"),
            "written outside: {}",
            f.display()
        );
    }
    assert_eq!(
        files_under(&archive)
            .iter()
            .filter(|f| f.extension().is_some_and(|e| e == "flv"))
            .count(),
        names.len()
    );
    assert_healthy(&d).await;
}

#[tokio::test]
async fn bodies_and_headers_built_to_hurt_are_refused_and_the_daemon_stays_healthy() {
    let dir = tempfile::tempdir().unwrap();
    let d = Daemon::start_with_env(
        dir.path(),
        "[transfer]\nworkers = 0\n[[sources]]\nname = \"jd\"\nprovider = \"jdcloud\"\ntoken = \"t\"\n",
        &[("RECORDING_ARCHIVER__SERVER__BODY_TIMEOUT_SECS", "1")],
    );
    let post = |body: String| d.post("jd?token=t", Some("application/json"), body);

    let (status, reply) = post(format!("{{\"pad\":\"{}\"}}", "x".repeat(70_000))).await;
    assert_eq!(
        (status, reply["code"].as_str()),
        (413, Some("body_too_large"))
    );

    let deep = format!("{}{}", "[".repeat(20_000), "]".repeat(20_000));
    let (status, reply) = post(deep).await;
    assert_eq!(
        (status, reply["code"].as_str()),
        (400, Some("too_deep")),
        "{reply}"
    );

    let deep_objects = format!("{}1{}", "{\"a\":".repeat(5_000), "}".repeat(5_000));
    let (status, reply) = post(deep_objects).await;
    assert_eq!(
        (status, reply["code"].as_str()),
        (400, Some("too_deep")),
        "{reply}"
    );

    let wide: serde_json::Map<String, Value> =
        (0..3000).map(|i| (format!("k{i}"), json!(i))).collect();
    let (status, reply) = post(Value::Object(wide).to_string()).await;
    assert_eq!(
        (status, reply["code"].as_str()),
        (400, Some("too_many_fields")),
        "{reply}"
    );

    let form: String = (0..3000).map(|i| format!("k{i}=v&")).collect();
    let (status, reply) = d
        .post(
            "jd?token=t",
            Some("application/x-www-form-urlencoded"),
            form,
        )
        .await;
    assert_eq!(
        (status, reply["code"].as_str()),
        (400, Some("too_many_fields")),
        "{reply}"
    );

    // Headers: too large, too many.
    let r = client()
        .post(d.url("/callbacks/jd?token=t"))
        .header("x-pad", "y".repeat(9000))
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 431);
    let mut many = client().post(d.url("/callbacks/jd?token=t")).body("{}");
    for i in 0..80 {
        many = many.header(format!("x-h{i}"), "v");
    }
    assert_eq!(many.send().await.unwrap().status(), 431);

    // A body that trickles in is cut off, and the connection freed.
    let started = Instant::now();
    let status = slow_body(&d).await;
    assert_eq!(status, 408);
    assert!(started.elapsed() < Duration::from_secs(5));

    assert!(
        d.all_items("/api/v1/events").await.is_empty(),
        "nothing recorded"
    );
    assert_healthy(&d).await;
}

/// Sends a head announcing 100 bytes, then one byte a second; returns the status.
async fn slow_body(d: &Daemon) -> u16 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = d.base.trim_start_matches("http://").to_owned();
    let mut sock = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let head = format!(
        "POST /callbacks/jd?token=t HTTP/1.1\r\nhost: {addr}\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{{"
    );
    sock.write_all(head.as_bytes()).await.unwrap();
    let mut reply = Vec::new();
    let read = async {
        let mut buf = [0u8; 1024];
        loop {
            match sock.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    reply.extend_from_slice(&buf[..n]);
                    if reply.windows(4).any(|w| w == b"\r\n\r\n") {
                        break;
                    }
                }
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(10), read)
        .await
        .expect("an answer");
    let text = String::from_utf8_lossy(&reply);
    text.split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status in {text:?}"))
}

#[tokio::test]
async fn rejected_requests_are_kept_up_to_a_cap_per_source_and_drops_are_counted() {
    let dir = tempfile::tempdir().unwrap();
    let env = [("RECORDING_ARCHIVER__STATE__MAX_REJECTED_PER_SOURCE", "3")];
    let config = concat!(
        "[transfer]\nworkers = 0\n",
        "[[sources]]\nname = \"noisy\"\nprovider = \"jdcloud\"\ntoken = \"n\"\n",
        "[[sources]]\nname = \"calm\"\nprovider = \"jdcloud\"\ntoken = \"c\"\n",
    );
    let mut d = Daemon::start_with_env(dir.path(), config, &env);
    let mut kept = Vec::new();
    for i in 0..5 {
        let (status, reply) = d
            .post(
                "noisy?token=n",
                Some("application/json"),
                format!("garbage {i}"),
            )
            .await;
        assert_eq!(status, 400, "{reply}");
        kept.push(reply["kept"].as_bool().unwrap());
    }
    assert_eq!(kept, [true, true, true, false, false]);
    let (status, reply) = d
        .post("calm?token=c", Some("application/json"), "garbage")
        .await;
    assert_eq!(
        (status, reply["kept"].as_bool()),
        (400, Some(true)),
        "calm keeps its own quota"
    );
    let metrics = d.get_text("/metrics").await;
    assert!(
        metrics.contains("recording_archiver_rejected_dropped_total{source=\"noisy\"} 2"),
        "{metrics}"
    );
    assert_eq!(d.all_items("/api/v1/rejected").await.len(), 4);

    // The cap survives a restart: it counts what the state store holds.
    d.terminate();
    let d = Daemon::start_with_env(dir.path(), config, &env);
    let (_, reply) = d
        .post("noisy?token=n", Some("application/json"), "garbage again")
        .await;
    assert_eq!(reply["kept"], false);
    assert_eq!(d.all_items("/api/v1/rejected").await.len(), 4);
    assert_healthy(&d).await;
}

#[tokio::test]
async fn no_secret_reaches_a_log_line_an_answer_the_metrics_or_check_config() {
    let secrets = [
        "tok-SECRET-1",
        "tok-SECRET-2",
        "sign-SECRET-3",
        "api-SECRET-4",
        "proxy-SECRET-5",
    ];
    let config = format!(
        "[api]\ntoken = \"{}\"\n[transfer]\nworkers = 0\n\
         [[sources]]\nname = \"ali\"\nprovider = \"aliyun\"\ntoken = \"{}\"\ntokens = [\"{}\"]\nsign_key = \"{}\"\n\
         proxy = \"http://user:{}@127.0.0.1:9\"\n",
        secrets[3], secrets[0], secrets[1], secrets[2], secrets[4]
    );
    let d = Daemon::start(&config);
    let mut seen = String::new();
    // Right token, no signature; wrong token; right token and a bad signature.
    for path in [
        format!("ali?token={}", secrets[0]),
        "ali?token=wrong".to_owned(),
        format!("ali?token={}", secrets[1]),
    ] {
        let r = client()
            .post(d.url(&format!("/callbacks/{path}")))
            .header("ALI-LIVE-TIMESTAMP", now().to_string())
            .header("ALI-LIVE-SIGNATURE", "0".repeat(32))
            .body("{\"event\":\"record_started\"}")
            .send()
            .await
            .unwrap();
        seen.push_str(&r.text().await.unwrap());
    }
    let api = client().get(d.url("/api/v1/events"));
    seen.push_str(
        &api.bearer_auth("wrong")
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
    );
    for path in ["/metrics", "/readyz", "/healthz"] {
        seen.push_str(&d.get_text(path).await);
    }
    let path = d.dir.join("config.toml");
    let out = std::process::Command::new(common::binary())
        .args(["check-config", "--config"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(out.status.success());
    seen.push_str(&String::from_utf8_lossy(&out.stdout));
    seen.push_str(&String::from_utf8_lossy(&out.stderr));
    seen.push_str(&d.log_text());
    for s in secrets {
        assert!(!seen.contains(s), "{s} leaked:\n{seen}");
    }
    assert!(seen.contains("unauthorized"), "the requests were answered");
}
