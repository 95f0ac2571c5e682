//! The daemon deployed as it is in production: behind a reverse proxy, on a
//! port of its own, downloading through a forward proxy. Alibaba signatures
//! are checked over the domain Alibaba signs; the API and the details of
//! `/metrics` and `/readyz` need the API token, whoever the reverse proxy
//! forwards (issue 22); a source's proxy is reached by name without opening internal
//! targets; a kept binary body replays byte for byte. (Issue 12.)

mod common;

use std::time::{Duration, Instant};

use common::origin::{FileSpec, Origin};
use common::{client, fixture, jd_record_done, md5_hex, random_bytes, sha256_hex, Daemon};
use serde_json::Value;

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// An Alibaba callback (POST JSON, or GET with `query`) with its signature
/// headers; the status it got.
async fn post_ali(d: &Daemon, path: &str, get_query: Option<&str>, ts: &str, sig: &str) -> u16 {
    let url = d.url(&format!("/callbacks/{path}"));
    let req = match get_query {
        Some(q) => client().get(format!("{url}&{q}")),
        None => client()
            .post(url)
            .header("content-type", "application/json")
            .body(fixture("aliyun_record_generated.json")),
    };
    req.header("ALI-LIVE-TIMESTAMP", ts)
        .header("ALI-LIVE-SIGNATURE", sig)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test]
async fn alibaba_signatures_verify_over_the_console_host_and_the_push_domain() {
    // The console's callback URL is https://learn.aliyundoc.com/...; the
    // reverse proxy forwards Host: 127.0.0.1:<port>. The window is wide
    // enough for the document's own 2018 example.
    let d = Daemon::start(concat!(
        "[transfer]\nworkers = 0\n",
        "[[sources]]\nname = \"ali\"\nprovider = \"aliyun\"\ntoken = \"t\"\nsign_key = \"yourkey\"\n",
        "callback_host = \"learn.aliyundoc.com\"\nsign_window_secs = 400000000\n",
        "[[sources]]\nname = \"plain\"\nprovider = \"aliyun\"\ntoken = \"t\"\nsign_key = \"yourkey\"\n",
    ));
    // "Callback authentication": md5sum(learn.aliyundoc.com|1519375990|yourkey).
    let doc = "9e226fc2c250be266e3657e156f68c12";
    assert_eq!(
        post_ali(&d, "ali?token=t", None, "1519375990", doc).await,
        200,
        "the document's example"
    );

    let ts = now().to_string();
    let over = |domain: &str| md5_hex(&format!("{domain}|{ts}|yourkey"));
    let host_header = d.base.trim_start_matches("http://").to_owned();
    assert_eq!(
        post_ali(&d, "ali?token=t", None, &ts, &over(&host_header)).await,
        401,
        "signed over the forwarded Host, not the console's"
    );
    // A stream-ingest callback is signed over its push domain (`app`).
    let ingest = fixture("aliyun_stream_ingest_publish.query");
    let ingest = ingest.trim();
    assert!(ingest.contains("app=demo.aliyundoc.com"));
    assert_eq!(
        post_ali(
            &d,
            "ali?token=t",
            Some(ingest),
            &ts,
            &over("demo.aliyundoc.com")
        )
        .await,
        200,
        "ingest callbacks: the push domain"
    );
    assert_eq!(
        post_ali(
            &d,
            "ali?token=t",
            Some(ingest),
            &ts,
            &over("learn.aliyundoc.com")
        )
        .await,
        401
    );
    // Without callback_host: the Host header, its port left out.
    assert_eq!(
        post_ali(&d, "plain?token=t", None, &ts, &over("127.0.0.1")).await,
        200
    );
    assert_eq!(
        post_ali(&d, "plain?token=t", None, &ts, &over(&host_header)).await,
        401
    );
    assert_eq!(d.all_items("/api/v1/events").await.len(), 3);
}

/// A GET with `headers`: the status and the body.
async fn get_with(d: &Daemon, path: &str, headers: &[(&str, &str)]) -> (u16, String) {
    let mut req = client().get(d.url(path));
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let r = req.send().await.unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

/// Marks of a reverse proxy in front, and a browser here led by a
/// rebound DNS name (its Host is that name).
const NOT_LOCAL: [(&str, &str); 6] = [
    ("X-Forwarded-For", "203.0.113.9"),
    ("Forwarded", "for=203.0.113.9;proto=https"),
    ("X-Real-IP", "203.0.113.9"),
    ("Via", "1.1 proxy"),
    ("X-Forwarded-Proto", "https"),
    ("Host", "evil.example"),
];

#[tokio::test]
async fn the_api_and_the_details_are_closed_by_default_even_to_this_machine() {
    let d = Daemon::start("[transfer]\nworkers = 0\n");
    let bearer = format!("Bearer {}", d.token);
    let bearer = ("Authorization", bearer.as_str());
    // What a TCP forwarder (stunnel, ssh -R) or a proxy that adds no header
    // delivers looks exactly like this machine: nothing opens to it.
    let mut seen_as = vec![
        vec![],
        vec![("Host", "127.0.0.1")],
        vec![("Host", "localhost:8080")],
    ];
    seen_as.extend(NOT_LOCAL.iter().map(|h| vec![*h]));
    for headers in &seen_as {
        for path in ["/api/v1/events", "/metrics", "/ui/jobs"] {
            let (status, body) = get_with(&d, path, headers).await;
            assert_eq!(status, 401, "{path} {headers:?}: {body}");
        }
        let (status, body) = get_with(&d, "/readyz", headers).await;
        assert_eq!(
            (status, body.as_str()),
            (200, ""),
            "{headers:?}: the status alone"
        );
        assert_eq!(get_with(&d, "/healthz", headers).await.0, 200);
        // The token opens the API and the details from anywhere.
        let mut h = headers.clone();
        h.push(bearer);
        assert_eq!(get_with(&d, "/api/v1/events", &h).await.0, 200, "{h:?}");
        let (status, body) = get_with(&d, "/metrics", &h).await;
        assert_eq!(status, 200);
        assert!(body.contains("recording_archiver_"));
        let (status, body) = get_with(&d, "/readyz", &h).await;
        assert_eq!(status, 200);
        assert!(body.contains("\"store\""), "{body}");
    }

    // A configured [api] token is the one, and none is generated.
    let d = Daemon::start("[api]\ntoken = \"api-secret-1\"\n[transfer]\nworkers = 0\n");
    assert!(!d.dir.join("state/api-token").exists());
    let bearer = ("Authorization", "Bearer api-secret-1");
    let (status, body) = get_with(&d, "/metrics", &[NOT_LOCAL[0], bearer]).await;
    assert_eq!(status, 200);
    assert!(body.contains("recording_archiver_"));
    assert_eq!(get_with(&d, "/metrics", &[NOT_LOCAL[0]]).await.0, 401);
    assert_eq!(get_with(&d, "/api/v1/events", &[]).await.0, 401);
}

#[tokio::test]
async fn loopback_without_token_opens_the_api_to_this_machine_only() {
    let d = Daemon::start("[api]\nloopback_without_token = true\n[transfer]\nworkers = 0\n");
    assert_eq!(get_with(&d, "/api/v1/events", &[]).await.0, 200, "local");
    let named = get_with(&d, "/api/v1/events", &[("Host", "localhost:8080")]).await;
    assert_eq!(named.0, 200);
    let (status, body) = get_with(&d, "/readyz", &[]).await;
    assert_eq!(status, 200);
    assert!(
        body.contains("\"store\""),
        "local callers see the details: {body}"
    );
    assert!(get_with(&d, "/metrics", &[])
        .await
        .1
        .contains("recording_archiver_"));
    for h in NOT_LOCAL {
        let (status, body) = get_with(&d, "/api/v1/events", &[h]).await;
        assert_eq!(status, 401, "{h:?}: {body}");
        assert_eq!(get_with(&d, "/metrics", &[h]).await.0, 401, "{h:?}");
        assert_eq!(
            get_with(&d, "/readyz", &[h]).await,
            (200, String::new()),
            "{h:?}"
        );
    }
    // The generated token still opens it from elsewhere.
    let bearer = format!("Bearer {}", d.token);
    let h = [NOT_LOCAL[0], ("Authorization", bearer.as_str())];
    assert_eq!(get_with(&d, "/api/v1/events", &h).await.0, 200);
}

#[test]
fn a_listener_other_machines_reach_needs_a_long_enough_api_token() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("c.toml");
    let write = |extra: &str| {
        std::fs::write(
            &config,
            format!(
                "[server]\nlisten = \"0.0.0.0:8080\"\n{extra}[[sources]]\nname = \"jd\"\ntoken = \"jd-token\"\n"
            ),
        )
        .unwrap()
    };
    let run = |command: &str, env: &[(&str, &str)]| {
        std::process::Command::new(common::binary())
            .args([command, "--config"])
            .arg(&config)
            .envs(env.iter().copied())
            .output()
            .unwrap()
    };
    let refused = |command: &str, env: &[(&str, &str)], key: &str| {
        let out = run(command, env);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{command}: {err}");
        assert!(
            err.contains(key) && err.contains("0.0.0.0:8080"),
            "{command}: {err}"
        );
    };
    write("");
    refused("check-config", &[], "api.token");
    // Guessable in a day at the rate failures are let through: refused,
    // by check-config and by serve alike.
    for short in ["a", "api-secret-2"] {
        for command in ["check-config", "serve"] {
            refused(
                command,
                &[("RECORDING_ARCHIVER__API__TOKEN", short)],
                "[api] token",
            );
        }
    }
    let out = run(
        "check-config",
        &[("RECORDING_ARCHIVER__API__TOKEN", "api-secret-2-long-enough")],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The opt-in to an open loopback is refused where others reach.
    write("[api]\ntoken = \"api-secret-2-long-enough\"\nloopback_without_token = true\n");
    for command in ["check-config", "serve"] {
        refused(command, &[], "api.loopback_without_token");
    }
}

/// Waits for `n` jobs to be done or failed.
async fn settled(d: &Daemon, n: usize) -> Vec<Value> {
    let start = Instant::now();
    loop {
        let jobs = d.all_items("/api/v1/jobs").await;
        if jobs.len() == n
            && jobs
                .iter()
                .all(|j| j["state"] == "done" || j["state"] == "failed")
        {
            return jobs;
        }
        assert!(start.elapsed() < Duration::from_secs(60), "{jobs:#?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_source_proxy_is_reached_by_name_and_internal_targets_are_refused() {
    // The test origin is a forward proxy too; it is named `localhost`,
    // which resolves to an internal address, as a proxy on the LAN would.
    let origin = Origin::start().await;
    let bytes = random_bytes(300_000, 12);
    origin.put("/a.flv", FileSpec::bytes(bytes.clone()));
    origin.put("/b.flv", FileSpec::bytes(random_bytes(1000, 13)));
    let port = origin.addr.rsplit(':').next().unwrap();
    // A public name whose answer (from the proxy) redirects to an internal one.
    origin.redirect("/c.flv", &format!("http://localhost:{port}/b.flv"));
    let d = Daemon::start(&format!(
        "[transfer]\nretry_initial_secs = 1\nmax_attempts = 2\n\
         [[sources]]\nname = \"cdn\"\nprovider = \"jdcloud\"\ntoken = \"t\"\n\
         allow_hosts = [\"recordings.example.com\"]\nproxy = \"http://localhost:{port}\"\n\
         [[sources]]\nname = \"any\"\nprovider = \"jdcloud\"\ntoken = \"t\"\n\
         allow_hosts = [\"*\"]\nproxy = \"http://localhost:{port}\"\n"
    ));
    let announce = |source: &'static str, url: String, stream: &'static str| {
        let d = &d;
        async move {
            let path = format!("{source}?token=t");
            let (status, reply) = d
                .post(
                    &path,
                    Some("application/json"),
                    jd_record_done(&url, stream),
                )
                .await;
            assert_eq!(status, 200, "{reply}");
        }
    };
    // A name this machine cannot resolve is the proxy's to resolve.
    announce("cdn", "http://recordings.example.com/a.flv".into(), "a").await;
    // A name resolving here to an internal address is refused, proxy or not.
    announce("any", format!("http://localhost:{port}/b.flv"), "b").await;
    // So is a redirect to one.
    announce("any", "http://recordings.example.com/c.flv".into(), "c").await;
    let jobs = settled(&d, 3).await;
    let by_file = |f: &str| {
        let found = jobs
            .iter()
            .find(|j| j["origin"]["value"].as_str().unwrap().ends_with(f));
        found.unwrap().clone()
    };
    let a = by_file("/a.flv");
    assert_eq!(a["state"], "done", "{a:#}\n{}", d.log_text());
    let catalog = d.all_items("/api/v1/catalog").await;
    assert_eq!(catalog.len(), 1);
    assert_eq!(catalog[0]["sha256"], sha256_hex(&bytes).as_str());
    let b = by_file("/b.flv");
    assert_eq!(b["state"], "failed", "{b:#}");
    let error = b["last_error"].as_str().unwrap();
    assert!(
        error.contains("localhost resolves") && error.contains("internal"),
        "{error}"
    );
    let c = by_file("/c.flv");
    assert_eq!(c["state"], "failed", "{c:#}");
    let error = c["last_error"].as_str().unwrap();
    assert!(
        error.contains("redirect refused") && error.contains("internal"),
        "{error}"
    );
    assert_eq!(
        origin.requests("/c.flv").len(),
        1,
        "the redirect was asked for"
    );
    assert!(origin.requests("/b.flv").is_empty(), "its target never was");
}

#[tokio::test]
async fn a_long_binary_rejected_body_replays_byte_for_byte() {
    let d = Daemon::start("[transfer]\nworkers = 0\n[[sources]]\nname = \"jd\"\nprovider = \"jdcloud\"\ntoken = \"t\"\n");
    // 3000 bytes of UTF-8, then one that is not: a body cut anywhere
    // before it would be answered otherwise.
    let mut body = b"{\"version\": \"v1.1\", \"note\": \"".to_vec();
    body.extend((0..3000u32).map(|i| b'a' + (i % 26) as u8));
    body.extend(b"\xff\"}");
    let (status, reply) = d
        .post("jd?token=t", Some("application/json"), body.clone())
        .await;
    assert_eq!(status, 400, "{reply}");
    let kept = d.all_items("/api/v1/rejected").await;
    assert_eq!(kept.len(), 1);
    let hex: String = body.iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(kept[0]["body_hex"], hex.as_str(), "kept whole");
    let id = kept[0]["id"].as_str().unwrap();
    let r = d
        .http()
        .post(d.url(&format!("/api/v1/rejected/{id}/replay")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    let replayed: Value = r.json().await.unwrap();
    let original = kept[0]["error"].as_str().unwrap();
    assert!(
        original.contains("index 3029"),
        "the bad byte's place: {original}"
    );
    assert!(
        replayed["message"].as_str().unwrap().contains(original),
        "the same bytes, the same answer: {replayed} vs {original}"
    );
}
