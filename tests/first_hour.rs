//! The operator's first hour (issue 25), against the real binary: errors
//! that say what to do and name the config key, and `/` leading to the UI.

mod common;

use std::process::{Command, Stdio};

use common::Daemon;

/// Runs `serve` on `text` in `dir` and expects it to stop; what it said.
fn refused(dir: &std::path::Path, text: &str) -> String {
    let config = dir.join("config.toml");
    std::fs::write(&config, text).unwrap();
    let out = Command::new(common::binary())
        .args(["serve", "--config"])
        .arg(&config)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!out.status.success(), "it started: {stderr}");
    stderr
}

#[test]
fn a_port_in_use_is_named_with_server_listen_and_what_to_do() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let text = common::config_text(dir.path(), "")
        .replace("listen = \"127.0.0.1:0\"", &format!("listen = \"{addr}\""));
    let stderr = refused(dir.path(), &text);
    assert!(
        stderr.contains(&format!("cannot listen on {addr} (server.listen)")),
        "{stderr}"
    );
    assert!(stderr.contains("another process listens there"), "{stderr}");
    assert!(!stderr.contains("os error"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_daemon_on_the_same_state_dir_is_told_which() {
    let dir = tempfile::tempdir().unwrap();
    let first = tokio::task::block_in_place(|| Daemon::start_in(dir.path(), ""));
    let text = common::config_text(dir.path(), "");
    let second = tempfile::tempdir().unwrap();
    let stderr = refused(second.path(), &text);
    let state = dir.path().join("state");
    assert!(
        stderr.contains(&format!(
            "another running daemon is using [state] dir = {}",
            state.display()
        )),
        "{stderr}"
    );
    assert!(!stderr.contains("WouldBlock"), "{stderr}");
    drop(first);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_root_leads_to_the_ui() {
    let d = tokio::task::block_in_place(|| Daemon::start(""));
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let r = client.get(d.url("/")).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 303);
    assert_eq!(r.headers()["location"], "/ui/");
}

/// `check-config --config` on `text` (written in `dir`) with `env`: exit
/// code and stderr.
fn check_config(dir: &std::path::Path, text: &str, env: &[(&str, &str)]) -> (i32, String) {
    let config = dir.join("check.toml");
    std::fs::write(&config, text).unwrap();
    let out = Command::new(common::binary())
        .args(["check-config", "--config"])
        .arg(&config)
        .envs(env.iter().copied())
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A read-only tmpfs (root bypasses file modes, not a read-only mount),
/// unmounted when dropped.
struct ReadOnlyMount(tempfile::TempDir);

impl ReadOnlyMount {
    fn new() -> ReadOnlyMount {
        let dir = tempfile::tempdir().unwrap();
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", "ro,size=1m", "tmpfs"])
            .arg(dir.path())
            .status()
            .unwrap();
        assert!(status.success(), "this test mounts a tmpfs: it needs root");
        ReadOnlyMount(dir)
    }
}

impl Drop for ReadOnlyMount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.0.path()).status();
    }
}

#[test]
fn a_store_root_that_cannot_be_written_is_refused_naming_store_root() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("a-file");
    std::fs::write(&file, b"").unwrap();
    let ro = ReadOnlyMount::new();
    for root in [file.join("archive"), ro.0.path().join("archive")] {
        let store = format!("[store]\nroot = \"{}\"\n", root.display());
        let text = common::config_text(dir.path(), &store);
        let (code, stderr) = check_config(dir.path(), &text, &[]);
        assert_eq!(code, 1, "check-config passed {}: {stderr}", root.display());
        assert!(stderr.contains("store.root = "), "{stderr}");
        assert!(stderr.contains("cannot be written"), "{stderr}");
        let stderr = refused(dir.path(), &text);
        assert!(stderr.contains("store.root = "), "{stderr}");
        // Said once, not as a log line and again as "error:".
        assert_eq!(stderr.matches("cannot be written").count(), 1, "{stderr}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_that_meets_an_unwritable_store_root_names_store_root() {
    let dir = tempfile::tempdir().unwrap();
    let rec = dir.path().join("rec");
    std::fs::create_dir_all(&rec).unwrap();
    std::fs::write(rec.join("a.flv"), common::random_bytes(10_000, 1)).unwrap();
    let extra = format!(
        "[[sources]]\nname = \"local\"\nprovider = \"nginx_rtmp\"\n[sources.origin]\n\
         type = \"file\"\nroots = [\"{}\"]\n",
        rec.display()
    );
    let d = tokio::task::block_in_place(|| Daemon::start_in(dir.path(), &extra));
    // The archive directory turns into a file after the start's probe.
    let archive = dir.path().join("archive");
    let _ = std::fs::remove_dir_all(&archive);
    std::fs::write(&archive, b"").unwrap();
    let body = format!(
        "call=record_done&app=live&name=a&path={}",
        rec.join("a.flv").display()
    );
    let (status, _) = d
        .post("local", Some("application/x-www-form-urlencoded"), body)
        .await;
    assert_eq!(status, 200);
    let start = std::time::Instant::now();
    let error = loop {
        let jobs = d.all_items("/api/v1/jobs").await;
        let e = jobs
            .iter()
            .find_map(|j| j["last_error"].as_str().map(str::to_owned));
        match e {
            Some(e) => break e,
            None if start.elapsed() < std::time::Duration::from_secs(30) => {
                tokio::time::sleep(std::time::Duration::from_millis(100)).await
            }
            None => panic!("no job error: {jobs:?}"),
        }
    };
    assert!(error.contains("store.root"), "{error}");
}

#[test]
fn check_config_refuses_a_file_origin_root_that_does_not_exist() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no-such-dir");
    let extra = format!(
        "[[sources]]\nname = \"local\"\nprovider = \"srs\"\n[sources.origin]\ntype = \"file\"\n\
         roots = [\"{}\"]\n",
        missing.display()
    );
    let (code, stderr) = check_config(dir.path(), &common::config_text(dir.path(), &extra), &[]);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("sources[0].origin.roots"), "{stderr}");
    assert!(stderr.contains("does not exist"), "{stderr}");
    // The daemon starts all the same (the recording server may make the
    // directory after it), and says so, naming the key.
    let d = common::Daemon::start_in(dir.path(), &extra);
    let log = d.log_text();
    assert!(
        log.contains("sources[0].origin.roots") && log.contains("does not exist"),
        "{log}"
    );
    drop(d);
    std::fs::create_dir(&missing).unwrap();
    let (code, stderr) = check_config(dir.path(), &common::config_text(dir.path(), &extra), &[]);
    assert_eq!(code, 0, "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn environment_variables_are_named_when_misspelt() {
    let dir = tempfile::tempdir().unwrap();
    let text = common::config_text(dir.path(), "");
    let (code, stderr) = check_config(
        dir.path(),
        &text,
        &[("RECORDING_ARCHIVER__SERVER__LISTNE", "127.0.0.1:1")],
    );
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains(
            "RECORDING_ARCHIVER__SERVER__LISTNE: unknown key server.listne (did you mean \
             server.listen?)"
        ),
        "{stderr}"
    );
    let loose = [
        ("RECORDING_ARCHIVER_SERVER_LISTEN", "127.0.0.1:1"),
        ("RECORDING_ARCHIVER_API_TOKEN", "read-by-the-cli-0123"),
    ];
    let (code, stderr) = check_config(dir.path(), &text, &loose);
    assert_eq!(code, 0, "{stderr}");
    let warning = "RECORDING_ARCHIVER_SERVER_LISTEN is ignored: the daemon reads overrides \
                   spelled with double underscores, RECORDING_ARCHIVER__SERVER__LISTEN";
    assert!(stderr.contains(warning), "{stderr}");
    assert!(!stderr.contains("RECORDING_ARCHIVER_API_TOKEN"), "{stderr}");
    let d = tokio::task::block_in_place(|| Daemon::start_with_env(dir.path(), "", &loose));
    assert!(d.log_text().contains(warning), "{}", d.log_text());
}

/// The block the daemon logs once serving.
fn whereabouts(d: &Daemon) -> String {
    let start = std::time::Instant::now();
    loop {
        let found = d
            .log_text()
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter_map(|v| v["fields"]["message"].as_str().map(str::to_owned))
            .find(|m| m.starts_with("recording-archiver is serving"));
        if let Some(block) = found {
            return block;
        }
        assert!(
            start.elapsed() < std::time::Duration::from_secs(10),
            "no whereabouts in:\n{}",
            d.log_text()
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_start_says_where_things_are_and_a_root_alone_is_a_directory_store() {
    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().join("elsewhere");
    // `root` alone, no `type`: a directory store (was: missing field `type`).
    let store = format!(
        "[store]\nroot = \"{}\"\n[[sources]]\nname = \"cam\"\n",
        archive.display()
    );
    let d = tokio::task::block_in_place(|| Daemon::start_in(dir.path(), &store));
    let block = tokio::task::block_in_place(|| whereabouts(&d));
    let addr = d.base.trim_start_matches("http://");
    for line in [
        format!("web UI:  http://{addr}/ui/"),
        format!("state:   {}", dir.path().join("state").display()),
        format!("archive: {}", archive.display()),
        format!("config:  {}", dir.path().join("config.toml").display()),
        "sources: cam (auto)".to_owned(),
    ] {
        assert!(block.contains(&line), "{line:?} in:\n{block}");
    }
    // The file's [[sources]] replace the built-in `default`: said at start.
    assert!(
        block.contains("no source `default`: the [[sources]] of the config file replace"),
        "{block}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_of_a_source_no_longer_configured_names_the_file_that_lacks_it() {
    let dir = tempfile::tempdir().unwrap();
    let receive_only = "[transfer]\nworkers = 0\n[[sources]]\nname = \"default\"\n";
    let mut d = tokio::task::block_in_place(|| Daemon::start_in(dir.path(), receive_only));
    let (status, _) = d
        .post(
            "default",
            Some("application/json"),
            common::fixture("jdcloud_legacy_record_part_done.json"),
        )
        .await;
    assert_eq!(status, 200);
    d.terminate();
    let d = tokio::task::block_in_place(|| {
        Daemon::start_in(dir.path(), "[[sources]]\nname = \"other\"\n")
    });
    let start = std::time::Instant::now();
    let error = loop {
        let failed = d.all_items("/api/v1/jobs?state=failed").await;
        if let Some(e) = failed.first().and_then(|j| j["last_error"].as_str()) {
            break e.to_owned();
        }
        assert!(
            start.elapsed() < std::time::Duration::from_secs(30),
            "the job never failed:\n{}",
            d.log_text()
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    let config = dir.path().join("config.toml");
    assert!(
        error.contains(&format!(
            "{} has no [[sources]] entry named \"default\"",
            config.display()
        )),
        "{error}"
    );
    assert!(error.contains("add [[sources]]"), "{error}");
    assert!(
        error.contains("exists only while the config lists no [[sources]]"),
        "{error}"
    );
}

/// The `sh` blocks of README.md's section headed `heading`, in order.
fn readme_blocks(heading: &str) -> Vec<String> {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md"))
        .expect("README.md");
    let start = readme
        .find(heading)
        .unwrap_or_else(|| panic!("README.md has no {heading:?}"));
    let section = &readme[start + heading.len()..];
    let section = &section[..section.find("\n## ").unwrap_or(section.len())];
    section
        .split("```sh\n")
        .skip(1)
        .map(|b| b[..b.find("```").expect("a closed block")].to_owned())
        .collect()
}

/// Processes the README starts "each in its own terminal", killed by pid
/// when the test ends.
struct Terminals(Vec<std::process::Child>);

impl Drop for Terminals {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Waits (bounded) until something accepts connections on `port`.
fn wait_listening(port: u16, what: &str, terminals: &mut Terminals) {
    let start = std::time::Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        for c in &mut terminals.0 {
            assert!(c.try_wait().unwrap().is_none(), "{what} ended early");
        }
        assert!(
            start.elapsed() < std::time::Duration::from_secs(30),
            "{what} does not listen on {port}"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// README.md's "Archive a real file", run as written in a fresh directory
/// (the daemon's and the HTTP server's ports moved to free ones, `cargo run
/// --release --` being the binary under test): a file from a `file` origin
/// and one from an `http` origin end in the catalog and the archive.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_readme_try_it_archives_a_file_from_a_file_and_an_http_origin() {
    let blocks = readme_blocks("### Archive a real file");
    assert_eq!(blocks.len(), 5, "{blocks:#?}");
    let dir = tempfile::tempdir().unwrap();
    let (port, http_port) = (common::free_port(), common::free_port());
    let as_here = |b: &str| {
        b.replace("cargo run --release --", common::binary())
            .replace("127.0.0.1:8080", &format!("127.0.0.1:{port}"))
            .replace("127.0.0.1:8000", &format!("127.0.0.1:{http_port}"))
            .replace("http.server 8000", &format!("http.server {http_port}"))
    };
    let run = |b: &str| {
        let out = Command::new("bash")
            .args(["-euo", "pipefail", "-c", &as_here(b)])
            .current_dir(dir.path())
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{b}\n{stdout}\n{stderr}");
        stdout
    };
    let mut terminals = Terminals(Vec::new());
    let daemon_log = dir.path().join("daemon.log");
    let start = |b: &str, env: &[(&str, String)], log: std::fs::File| {
        Command::new("bash")
            .args(["-c", &format!("exec {}", as_here(b).trim())])
            .current_dir(dir.path())
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap()
    };
    // Make a file and the config; check it.
    assert!(run(&blocks[0]).contains("config ok"));
    // The daemon: the listen address is the documented default, 8080,
    // moved to a free port from outside the README's commands.
    assert!(
        blocks[1].contains(" serve --config try.toml"),
        "{}",
        blocks[1]
    );
    let listen = [(
        "RECORDING_ARCHIVER__SERVER__LISTEN",
        format!("127.0.0.1:{port}"),
    )];
    let log = std::fs::File::create(&daemon_log).unwrap();
    terminals.0.push(start(&blocks[1], &listen, log));
    wait_listening(port, "the daemon", &mut terminals);
    assert!(blocks[2].contains("http.server"), "{}", blocks[2]);
    let log = std::fs::File::create(dir.path().join("http.log")).unwrap();
    terminals.0.push(start(&blocks[2], &[], log));
    wait_listening(http_port, "the HTTP server", &mut terminals);
    // The two callbacks.
    let answers = run(&blocks[3]);
    assert_eq!(answers.matches("\"code\":0").count(), 2, "{answers}");
    // "A moment later": until both are catalogued, bounded.
    let token = std::fs::read_to_string(dir.path().join("var/state/api-token")).unwrap();
    let client = reqwest::Client::new();
    let started = std::time::Instant::now();
    loop {
        let catalog: serde_json::Value = client
            .get(format!("http://127.0.0.1:{port}/api/v1/catalog"))
            .bearer_auth(token.trim())
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if catalog["items"].as_array().map_or(0, Vec::len) == 2 {
            break;
        }
        assert!(
            started.elapsed() < std::time::Duration::from_secs(60),
            "not archived: {catalog}\n{}",
            std::fs::read_to_string(&daemon_log).unwrap_or_default()
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    let shown = run(&blocks[4]);
    for source in ["\"source\": \"local\"", "\"source\": \"web\""] {
        assert!(shown.contains(source), "{source} in:\n{shown}");
    }
    let original = std::fs::read(dir.path().join("var/rec/live/demo-1.flv")).unwrap();
    let archived: Vec<&str> = shown.lines().filter(|l| l.ends_with(".flv")).collect();
    assert_eq!(archived.len(), 2, "{shown}");
    for path in archived {
        let copy = std::fs::read(dir.path().join(path)).unwrap();
        assert!(copy == original, "{path} holds the recording's bytes");
    }
    // The start said that the built-in `default` source is not there.
    let logged = std::fs::read_to_string(&daemon_log).unwrap();
    assert!(
        logged.contains("no source `default`: the [[sources]] of the config file replace"),
        "{logged}"
    );
}
