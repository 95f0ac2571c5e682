//! The API and the UI are closed by default (issue 22, items 5 and 8): a
//! fresh daemon makes its own token and answers nobody without it, not this
//! machine, not through a reverse proxy; the admin commands find the daemon
//! and its token from `--config`; wrong tokens are slowed down and logged.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::nginx::Nginx;
use common::{client, free_port, Daemon};

/// A source whose files are local (for `POST /api/v1/enqueue`), no workers.
fn local_source(rec: &Path) -> String {
    format!(
        "[transfer]\nworkers = 0\n[[sources]]\nname = \"local\"\nprovider = \"nginx_rtmp\"\n\
         token = \"t\"\n[sources.origin]\ntype = \"file\"\nroots = [\"{}\"]\n",
        rec.display()
    )
}

/// The statuses of the four doors an attacker tried (issue 22, item 5) at
/// `base`, each request with `headers`.
async fn doors(base: &str, headers: &[(&str, &str)]) -> Vec<(String, u16)> {
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let mut seen = Vec::new();
    for (post, path) in [
        (false, "/api/v1/jobs"),
        (false, "/ui/jobs"),
        (false, "/metrics"),
        (true, "/api/v1/enqueue?source=local&file=cam1.flv"),
    ] {
        let url = format!("{base}{path}");
        // A POST as curl -X POST -d '' sends it (nginx passes a POST with
        // neither a body nor a length on as one actix refuses, 400).
        let mut req = if post {
            http.post(url).header("content-length", "0")
        } else {
            http.get(url)
        };
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let r = req.send().await.unwrap();
        let status = r.status().as_u16();
        let body = r.text().await.unwrap_or_default();
        seen.push((format!("{path} ({body})"), status));
    }
    seen
}

#[tokio::test]
async fn a_fresh_daemon_makes_a_token_and_answers_nobody_without_it() {
    let dir = tempfile::tempdir().unwrap();
    let rec = dir.path().join("rec");
    std::fs::create_dir_all(&rec).unwrap();
    std::fs::write(rec.join("cam1.flv"), b"FLV recording").unwrap();
    let mut d = Daemon::start_in(dir.path(), &local_source(&rec));
    let file = dir.path().join("state/api-token");
    let mode = std::fs::metadata(&file).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "owner-only");
    let token = std::fs::read_to_string(&file).unwrap().trim().to_owned();
    assert!(token.len() >= 32, "{token}");
    assert_eq!(token, d.token);
    assert!(
        !d.log_text().contains(&token),
        "the token is never logged, only where it is"
    );

    // From 127.0.0.1, asking for 127.0.0.1: still closed.
    for host in [vec![], vec![("Host", "127.0.0.1")]] {
        for (path, status) in doors(&d.base, &host).await {
            assert_eq!(status, 401, "{path} {host:?}");
        }
    }
    let bearer = format!("Bearer {token}");
    for (path, status) in doors(&d.base, &[("Authorization", &bearer)]).await {
        assert_eq!(status, 200, "{path} with the token");
    }
    assert_eq!(
        client()
            .get(d.url("/healthz"))
            .send()
            .await
            .unwrap()
            .status(),
        200,
        "/healthz stays open"
    );

    // The same token after a restart.
    d.terminate();
    let d = Daemon::start_in(dir.path(), &local_source(&rec));
    assert_eq!(d.token, token);
    assert_eq!(
        std::fs::read_to_string(&file).unwrap().trim(),
        token,
        "kept across restarts"
    );
    assert_eq!(
        d.get_json("/api/v1/jobs").await["items"][0]["state"],
        "queued"
    );
}

/// nginx as the docs' and most people's reverse proxy: `location / {
/// proxy_pass ...; }`, which rewrites Host to the upstream's and adds no
/// `X-Forwarded-For`.
fn nginx_in_front_of(dir: &Path, daemon: &str) -> Nginx {
    let upstream = daemon.trim_start_matches("http://").to_owned();
    Nginx::start(dir, |port| {
        format!(
            "  server {{\n    listen 127.0.0.1:{port};\n\
             location / {{ proxy_pass http://{upstream}; }}\n  }}"
        )
    })
}

#[tokio::test]
async fn behind_nginx_the_api_the_ui_and_the_metrics_stay_closed() {
    let dir = tempfile::tempdir().unwrap();
    let rec = dir.path().join("rec");
    std::fs::create_dir_all(&rec).unwrap();
    std::fs::write(rec.join("cam1.flv"), b"FLV recording").unwrap();
    let d = Daemon::start_in(dir.path(), &local_source(&rec));
    let nginx = nginx_in_front_of(&dir.path().join("nginx"), &d.base);
    for (path, status) in doors(&nginx.base(), &[]).await {
        assert_eq!(status, 401, "{path} through nginx");
    }
    let bearer = format!("Bearer {}", d.token);
    for (path, status) in doors(&nginx.base(), &[("Authorization", &bearer)]).await {
        assert_eq!(status, 200, "{path} through nginx with the token");
    }
    let r = client()
        .get(format!("{}/readyz", nginx.base()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "readiness stays public");
    assert_eq!(r.text().await.unwrap(), "", "the status alone");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admin_commands_find_the_daemon_and_its_token_from_the_config_alone() {
    let dir = tempfile::tempdir().unwrap();
    let rec = dir.path().join("rec");
    std::fs::create_dir_all(&rec).unwrap();
    std::fs::write(rec.join("cam1.flv"), b"FLV recording").unwrap();
    let port = free_port();
    let text = common::config_text(dir.path(), &local_source(&rec))
        .replace("127.0.0.1:0", &format!("127.0.0.1:{port}"));
    let _d = Daemon::start_config(dir.path(), &text, &[], &[]);
    let config = dir.path().join("config.toml");
    let cli = |args: &[&str]| {
        let out = Command::new(common::binary())
            .args(args)
            .arg("--config")
            .arg(&config)
            .env_remove("RECORDING_ARCHIVER_API_TOKEN")
            .output()
            .unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (ok, out, err) = tokio::task::block_in_place(|| {
        cli(&["enqueue", "--source", "local", "--file", "cam1.flv"])
    });
    assert!(ok && out.starts_with("queued"), "{out}{err}");
    let (ok, out, err) = tokio::task::block_in_place(|| cli(&["jobs", "list"]));
    assert!(ok && out.contains("cam1.flv"), "{out}{err}");
    // A wrong token given is not replaced by the right one: refused, and
    // the error says where the token is looked for.
    let out = tokio::task::block_in_place(|| {
        Command::new(common::binary())
            .args(["jobs", "list", "--token", "wrong", "--config"])
            .arg(&config)
            .output()
            .unwrap()
    });
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("401") && err.contains("--token"), "{err}");
}

/// Logs in with `token`; the status.
async fn login(http: &reqwest::Client, d: &Daemon, token: &str) -> u16 {
    http.post(d.url("/ui/login"))
        .form(&[("token", token)])
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// The status of `req`; a 429 must say when to come back.
async fn status_and_wait(req: reqwest::RequestBuilder) -> u16 {
    let r = req.send().await.unwrap();
    if r.status() == 429 {
        assert!(r.headers().contains_key("retry-after"), "{:?}", r.headers());
    }
    r.status().as_u16()
}

#[tokio::test]
async fn wrong_tokens_are_slowed_down_per_address_and_logged() {
    let d = Daemon::start("[transfer]\nworkers = 0\n");
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let mut statuses = Vec::new();
    for i in 0..500 {
        statuses.push(login(&http, &d, &format!("guess-{i}")).await);
    }
    assert_eq!(&statuses[..5], &[401; 5], "a few mistakes are let through");
    let limited = statuses.iter().filter(|s| **s == 429).count();
    let mut compared = statuses.iter().filter(|s| **s == 401).count();
    assert!(
        limited > 0 && compared < 500 && limited + compared == 500,
        "{compared} compared, {limited} refused unread"
    );
    // While limited, even the right token is not looked at, at the login,
    // on the API and on the metrics. (A few wrong ones first, so that the
    // address is limited now, however slowly this machine ran the above.)
    let limited_now = |path: &'static str| {
        let (d, http) = (&d, &http);
        async move {
            let mut wrong = 0;
            for _ in 0..6 {
                if login(http, d, "wrong").await == 401 {
                    wrong += 1;
                }
            }
            let req = match path {
                "/ui/login" => http.post(d.url(path)).form(&[("token", d.token.as_str())]),
                _ => d.authed(http.get(d.url(path))),
            };
            let status = status_and_wait(req).await;
            (wrong, status)
        }
    };
    for path in ["/ui/login", "/api/v1/jobs", "/metrics"] {
        let mut tries = 0;
        loop {
            let (wrong, status) = limited_now(path).await;
            compared += wrong;
            if status == 429 {
                break;
            }
            tries += 1;
            assert!(
                tries < 10,
                "{path}: the right token never refused while limited"
            );
        }
    }
    let r = client()
        .get(d.url("/api/v1/jobs"))
        .bearer_auth("wrong")
        .send()
        .await
        .unwrap();
    if r.status() == 401 {
        compared += 1; // the address had waited long enough: compared
    } else {
        assert_eq!(r.status(), 429);
        assert!(r.headers().contains_key("retry-after"));
        let body: serde_json::Value = r.json().await.unwrap();
        assert!(body["retry_after_secs"].as_u64().is_some(), "{body}");
    }
    // Once the address has waited, the right token opens again (a bounded
    // wait for the condition, not a sleep that guesses).
    let start = Instant::now();
    loop {
        let r = d.http().get(d.url("/metrics")).send().await.unwrap();
        if r.status() == 200 {
            break;
        }
        assert_eq!(r.status(), 429);
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "still limited after 30 s"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // Every compared failure is one WARN line: the route and the address,
    // never what was presented.
    let failures = |logs: &str| -> Vec<serde_json::Value> {
        logs.lines()
            .filter(|l| l.contains("authentication failed"))
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    };
    let start = Instant::now();
    while failures(&d.log_text()).len() < compared {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "{}",
            d.log_text()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let logs = d.log_text();
    let lines = failures(&logs);
    assert_eq!(lines.len(), compared, "one line per compared failure");
    for v in &lines {
        assert_eq!(v["level"], "WARN", "{v}");
        assert_eq!(v["fields"]["peer"], "127.0.0.1", "{v}");
        assert!(
            v["fields"]["route"] == "/ui/login" || v["fields"]["route"] == "/api/v1/jobs",
            "{v}"
        );
    }
    assert!(
        !logs.contains("guess-") && !logs.contains("\"wrong\""),
        "no presented token is logged"
    );
}
