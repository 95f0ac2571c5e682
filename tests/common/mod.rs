//! Test harness: starts the real `recording-archiver` binary on 127.0.0.1
//! with a temporary state directory and talks to it over HTTP.
#![allow(dead_code)]

pub mod chaos;
pub mod delay;
pub mod nginx;
pub mod origin;
pub mod pg;
pub mod platforms;
pub mod s3;
pub mod tmpfs;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;

/// The binary under test.
pub fn binary() -> &'static str {
    env!("CARGO_BIN_EXE_recording-archiver")
}

/// The Python with the tests' checking libraries (tests/requirements.txt),
/// which scripts/py-env installs (scripts/test runs it first).
pub fn python() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let py = root.join("target/py-venv/bin/python");
    if !py.exists() {
        let made = std::process::Command::new(root.join("scripts/py-env")).status();
        assert!(
            made.is_ok_and(|s| s.success()) && py.exists(),
            "scripts/py-env could not make {}",
            py.display()
        );
    }
    py
}

/// A port nothing listens on now.
/// Waits (checking every 100 ms, at most a minute) until `done`, failing
/// the test with `what` if it never is.
pub async fn until(what: &str, mut done: impl AsyncFnMut() -> bool) {
    let start = std::time::Instant::now();
    while !done().await {
        assert!(start.elapsed() < Duration::from_secs(60), "never: {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Waits until `d`'s catalog holds `n` entries (at most 60 s); the entries.
pub async fn catalog_of(d: &Daemon, n: usize) -> Vec<Value> {
    let start = std::time::Instant::now();
    loop {
        let c = d.all_items("/api/v1/catalog").await;
        if c.len() >= n {
            return c;
        }
        let jobs = d.all_items("/api/v1/jobs").await;
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "{} of {n} archived; jobs {jobs:#?}",
            c.len()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A fixture file's text.
pub fn fixture(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("fixture {}: {e}", path.display()))
}

/// A running daemon; killed when dropped.
pub struct Daemon {
    child: Child,
    pub base: String,
    pub dir: PathBuf,
    pub logs: Arc<Mutex<Vec<String>>>,
    /// The API token: `[api] token` of its config, else the one it generated.
    pub token: String,
    _temp: Option<tempfile::TempDir>,
}

/// Config text with the state and archive under `dir` and an ephemeral port;
/// `extra` is appended (sources, etc.).
pub fn config_text(dir: &Path, extra: &str) -> String {
    let store = if extra.contains("[store]") {
        String::new()
    } else {
        format!(
            "[store]\ntype = \"fs\"\nroot = \"{}\"\n",
            dir.join("archive").display()
        )
    };
    format!(
        "[server]\nlisten = \"127.0.0.1:0\"\n\n[state]\ndir = \"{}\"\n\n{store}\n{extra}\n",
        dir.join("state").display(),
    )
}

impl Daemon {
    /// Starts on a fresh temporary directory with `extra` config appended.
    pub fn start(extra: &str) -> Daemon {
        let temp = tempfile::tempdir().expect("tempdir");
        let mut d = Daemon::start_in(temp.path(), extra);
        d._temp = Some(temp);
        d
    }

    /// Starts on `dir` (reused across restarts) with `extra` config appended.
    pub fn start_in(dir: &Path, extra: &str) -> Daemon {
        Daemon::start_with_env(dir, extra, &[])
    }

    /// [`Daemon::start_in`] with extra environment variables.
    pub fn start_with_env(dir: &Path, extra: &str, env: &[(&str, &str)]) -> Daemon {
        Daemon::start_under(dir, extra, env, &[])
    }

    /// [`Daemon::start_with_env`], the daemon run by `wrapper` (a command
    /// and its arguments, such as `strace -f -o ...`), if not empty.
    pub fn start_under(dir: &Path, extra: &str, env: &[(&str, &str)], wrapper: &[&str]) -> Daemon {
        Daemon::start_config(dir, &config_text(dir, extra), env, wrapper)
    }

    /// Starts on `dir` with `text` as its whole config (`dir/config.toml`).
    pub fn start_config(dir: &Path, text: &str, env: &[(&str, &str)], wrapper: &[&str]) -> Daemon {
        let config = dir.join("config.toml");
        std::fs::write(&config, text).expect("write config");
        let mut command = match wrapper.split_first() {
            Some((program, args)) => {
                let mut c = Command::new(program);
                c.args(args).arg(binary());
                c
            }
            None => Command::new(binary()),
        };
        let mut child = command
            .args(["serve", "--log-format", "json", "--config"])
            .arg(&config)
            .envs(env.iter().copied())
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start the daemon");
        let stderr = child.stderr.take().expect("stderr");
        let logs = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = mpsc::channel();
        let sink = Arc::clone(&logs);
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Ok(v) = serde_json::from_str::<Value>(&line) {
                    if v["fields"]["message"] == "listening" {
                        let _ = tx.send(v["fields"]["address"].as_str().unwrap_or("").to_owned());
                    }
                }
                sink.lock().unwrap().push(line);
            }
        });
        let addr = match rx.recv_timeout(Duration::from_secs(30)) {
            Ok(a) => a,
            Err(_) => {
                let _ = child.kill();
                panic!(
                    "daemon did not start; logs:\n{}",
                    logs.lock().unwrap().join("\n")
                );
            }
        };
        let token = api_token(&config, env);
        Daemon {
            child,
            base: format!("http://{addr}"),
            dir: dir.to_owned(),
            logs,
            token,
            _temp: None,
        }
    }

    /// A client that presents the API token with every request.
    pub fn http(&self) -> reqwest::Client {
        let mut headers = reqwest::header::HeaderMap::new();
        let bearer = format!("Bearer {}", self.token);
        headers.insert(
            reqwest::header::AUTHORIZATION,
            bearer.parse().expect("a header value"),
        );
        reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .default_headers(headers)
            .build()
            .expect("client")
    }

    /// `req` with the API token.
    pub fn authed(&self, req: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        req.bearer_auth(&self.token)
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// The daemon's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Under a wrapper: the daemon's own process id (the wrapper's child).
    pub fn inner_pid(&self) -> u32 {
        let pid = self.child.id();
        std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"))
            .ok()
            .and_then(|c| c.split_whitespace().next()?.parse().ok())
            .unwrap_or(pid)
    }

    /// SIGTERM to the daemon itself (not a wrapper), then waits for the
    /// exit status of what was started.
    pub fn terminate_inner(&mut self) -> std::process::ExitStatus {
        let _ = Command::new("kill")
            .args(["-TERM", &self.inner_pid().to_string()])
            .status();
        self.child.wait().expect("wait")
    }

    /// Waits up to `limit` for the daemon to exit by itself.
    pub fn wait_exit(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        let start = std::time::Instant::now();
        while start.elapsed() < limit {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }

    /// SIGKILL: no shutdown code runs.
    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM, then waits for the exit status.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        self.child.wait().expect("wait")
    }

    pub fn log_text(&self) -> String {
        self.logs.lock().unwrap().join("\n")
    }

    /// GET a JSON API path, expecting 200.
    pub async fn get_json(&self, path: &str) -> Value {
        let r = self.http().get(self.url(path)).send().await.expect("GET");
        let status = r.status();
        let body: Value = r.json().await.expect("JSON body");
        assert_eq!(status, 200, "GET {path}: {body}");
        body
    }

    /// A GET's body as text, whatever the status (metrics, errors).
    pub async fn get_text(&self, path: &str) -> String {
        let r = self.http().get(self.url(path)).send().await.expect("GET");
        r.text().await.expect("a body")
    }

    /// Every item of a listing, following cursors.
    pub async fn all_items(&self, path: &str) -> Vec<Value> {
        let mut items = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let sep = if path.contains('?') { '&' } else { '?' };
            let url = match &cursor {
                Some(c) => format!("{path}{sep}limit=1000&cursor={c}"),
                None => format!("{path}{sep}limit=1000"),
            };
            let page = self.get_json(&url).await;
            items.extend(page["items"].as_array().expect("items").iter().cloned());
            match page["next_cursor"].as_str() {
                Some(c) => cursor = Some(c.to_owned()),
                None => return items,
            }
        }
    }

    /// POST a body to a source's callback URL.
    pub async fn post(
        &self,
        source_and_query: &str,
        content_type: Option<&str>,
        body: impl Into<reqwest::Body>,
    ) -> (u16, Value) {
        let mut req = client()
            .post(self.url(&format!("/callbacks/{source_and_query}")))
            .body(body);
        if let Some(ct) = content_type {
            req = req.header("content-type", ct);
        }
        let r = req.send().await.expect("POST");
        let status = r.status().as_u16();
        let text = r.text().await.unwrap_or_default();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The token a daemon started on `config` (with `env`) uses: `[api] token`
/// (the environment's override first), else the one it keeps in
/// `<[state] dir>/api-token`, which exists once it listens.
pub fn api_token(config: &Path, env: &[(&str, &str)]) -> String {
    if let Some((_, t)) = env
        .iter()
        .find(|(k, _)| *k == "RECORDING_ARCHIVER__API__TOKEN")
    {
        return (*t).to_owned();
    }
    let text = std::fs::read_to_string(config).expect("the config");
    let table: toml::Table = toml::from_str(&text).expect("the config is TOML");
    if let Some(t) = table
        .get("api")
        .and_then(|a| a.get("token"))
        .and_then(|t| t.as_str())
        .filter(|t| !t.is_empty())
    {
        return t.to_owned();
    }
    let state = table
        .get("state")
        .and_then(|s| s.get("dir"))
        .and_then(|d| d.as_str())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("var/state"));
    let file = state.join("api-token");
    std::fs::read_to_string(&file)
        .unwrap_or_else(|e| panic!("the generated token {}: {e}", file.display()))
        .trim()
        .to_owned()
}

/// A JD v1.1 record_done callback announcing `url` for `stream`.
pub fn jd_record_done(url: &str, stream: &str) -> String {
    serde_json::json!({
        "version": "v1.1", "publishDomain": "push.example.com", "appName": "live", "streamName": stream,
        "event": "record_done", "status": "success", "format": "flv",
        "beginTime": 1700000000000u64, "endTime": 1700000060000u64, "downloadUrl": url
    })
    .to_string()
}

/// `n` deterministic pseudo-random bytes (the same for the same `seed`).
pub fn random_bytes(n: usize, seed: u64) -> bytes::Bytes {
    origin::Content::Generated {
        len: n as u64,
        seed,
    }
    .slice(0, n)
}

/// MD5 of `s`, lower-case hex (the platforms' signatures).
pub fn md5_hex(s: &str) -> String {
    use md5::Digest;
    md5::Md5::digest(s.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// SHA-256 of `b`, lower-case hex.
pub fn sha256_hex(b: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    Sha256::digest(b)
        .iter()
        .map(|x| format!("{x:02x}"))
        .collect()
}

/// A client that does not pool connections across daemons.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("client")
}
