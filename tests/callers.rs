//! Who may post to a source that has no token (issue 22, item 6): programs
//! on this machine only. A web page (its `<img>` or `text/plain` POST) and
//! anyone behind a reverse proxy are refused with 403, and nothing they sent
//! is stored, not even as a rejected request. A source with a token works
//! through the proxy as before.

mod common;

use std::path::Path;
use std::process::Command;

use common::nginx::Nginx;
use common::{client, jd_record_done, Daemon};

const SOURCES: &str = "[transfer]\nworkers = 0\n\
    [[sources]]\nname = \"open\"\nprovider = \"auto\"\n\
    [[sources]]\nname = \"closed\"\nprovider = \"auto\"\ntoken = \"closed-token-1\"\n";

const INGEST: &str =
    "action=publish&app=push.example.com&appname=live&id=cam1&ip=1.2.3.4&node=n&time=1700000000";

/// A POST of a JD record_done to `path` with `headers`: its status.
async fn post_with(d: &Daemon, path: &str, ct: &str, headers: &[(&str, &str)]) -> u16 {
    let mut req = client()
        .post(d.url(&format!("/callbacks/{path}")))
        .header("content-type", ct)
        .body(jd_record_done("https://cdn.example.com/a.flv", "cam1"));
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    req.send().await.unwrap().status().as_u16()
}

/// What the daemon kept: events, rejected requests, live streams.
async fn kept(d: &Daemon) -> (usize, usize, usize) {
    (
        d.all_items("/api/v1/events").await.len(),
        d.all_items("/api/v1/rejected").await.len(),
        d.all_items("/api/v1/streams?live=true").await.len(),
    )
}

#[tokio::test]
async fn a_token_less_source_refuses_web_pages_and_proxies_and_stores_nothing() {
    let d = Daemon::start(SOURCES);
    // What a web page's fetch(..., {mode: "no-cors"}) sends.
    let page = [
        ("Origin", "https://evil.example"),
        ("Sec-Fetch-Site", "cross-site"),
    ];
    assert_eq!(post_with(&d, "open", "text/plain", &page).await, 403);
    for h in [
        ("Origin", "https://evil.example"),
        ("Origin", "null"),
        ("Sec-Fetch-Site", "cross-site"),
        ("Sec-Fetch-Site", "same-site"),
        ("Forwarded", "for=203.0.113.9"),
        ("X-Forwarded-For", "203.0.113.9"),
        ("X-Forwarded-Host", "archiver.example.com"),
        ("X-Real-IP", "203.0.113.9"),
        ("True-Client-IP", "203.0.113.9"),
        ("CF-Connecting-IP", "203.0.113.9"),
        ("X-Client-IP", "203.0.113.9"),
        // A browser led here by a rebound DNS name: that name is the Host.
        ("Host", "rebound.evil.example:8080"),
    ] {
        assert_eq!(
            post_with(&d, "open", "application/json", &[h]).await,
            403,
            "{h:?}"
        );
        // A body no parser reads would be kept as rejected: not from these.
        let r = client()
            .post(d.url("/callbacks/open"))
            .header(h.0, h.1)
            .body("not a callback")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 403, "{h:?}");
    }
    // What an <img src="http://127.0.0.1:8080/callbacks/open?action=publish..."> sends.
    let img = client()
        .get(d.url(&format!("/callbacks/open?{INGEST}")))
        .header("Sec-Fetch-Site", "cross-site")
        .header("Sec-Fetch-Dest", "image")
        .send()
        .await
        .unwrap();
    assert_eq!(img.status(), 403);
    let body = img.text().await.unwrap();
    assert!(body.contains("sources.token"), "says what to do: {body}");
    assert_eq!(kept(&d).await, (0, 0, 0), "nothing stored");

    // Programs on this machine, and the daemon's own pages, still get in.
    let own = d.base.clone();
    for headers in [
        vec![],
        vec![("Sec-Fetch-Site", "none")],
        vec![("Sec-Fetch-Site", "same-origin"), ("Origin", own.as_str())],
    ] {
        assert_eq!(
            post_with(&d, "open", "application/json", &headers).await,
            200
        );
    }
    let r = client()
        .get(d.url(&format!("/callbacks/open?{INGEST}")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(kept(&d).await, (4, 0, 1));
    // A source with a token is not held to this: the token is the credential.
    assert_eq!(
        post_with(&d, "closed?token=closed-token-1", "text/plain", &page).await,
        200
    );
}

/// nginx with the docs' own block (docs/platforms.md) in front of `upstream`.
fn docs_nginx(dir: &Path, upstream: &str) -> Nginx {
    Nginx::start(dir, |port| {
        format!(
            "  server {{\n    listen 127.0.0.1:{port};\n\
             location /callbacks/ {{\n      proxy_pass {upstream};\n\
             proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;\n\
             client_max_body_size 64k;\n    }}\n  }}"
        )
    })
}

#[tokio::test]
async fn through_the_docs_nginx_block_only_a_source_with_a_token_is_taken() {
    let d = Daemon::start(SOURCES);
    let dir = tempfile::tempdir().unwrap();
    let nginx = docs_nginx(dir.path(), &d.base);
    let via = |path: &str| format!("http://127.0.0.1:{}/callbacks/{path}", nginx.port);
    let body = jd_record_done("https://cdn.example.com/a.flv", "cam1");
    let r = client()
        .post(via("open"))
        .header("content-type", "application/json")
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let r = client()
        .get(via(&format!("open?{INGEST}")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    assert_eq!(kept(&d).await, (0, 0, 0), "nothing stored");
    let r = client()
        .post(via("closed?token=closed-token-1"))
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap_or_default());
    assert_eq!(kept(&d).await, (1, 0, 0));
}

#[test]
fn check_config_warns_about_every_token_less_source_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("c.toml");
    std::fs::write(
        &config,
        format!("{SOURCES}[[sources]]\nname = \"also-open\"\nprovider = \"srs\"\n"),
    )
    .unwrap();
    let out = Command::new(common::binary())
        .args(["check-config", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    let warnings: Vec<&str> = err.lines().filter(|l| l.starts_with("warning:")).collect();
    assert_eq!(warnings.len(), 2, "{err}");
    assert!(warnings[0].contains("\"open\"") && warnings[0].contains("sources.token"));
    assert!(warnings[1].contains("\"also-open\""), "{err}");
}
