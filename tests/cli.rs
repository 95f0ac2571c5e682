//! The command line as a user meets it.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::origin::{Fault, FileSpec, Origin};
use common::{binary, jd_record_done, random_bytes, Daemon};
use serde_json::Value;

fn check_config(config: &str, env: &[(&str, &str)]) -> std::process::Output {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.toml");
    std::fs::write(&path, config).unwrap();
    let mut cmd = Command::new(binary());
    cmd.args(["check-config", "--config"]).arg(&path);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

#[test]
fn check_config_prints_the_effective_config_with_secrets_hidden() {
    let out = check_config(
        "[api]\ntoken = \"api-secret-1\"\n[[sources]]\nname = \"jd\"\nprovider = \"jdcloud\"\ntoken = \"file-secret-2\"\n",
        &[("RECORDING_ARCHIVER__SOURCES__JD__TOKEN", "env-secret-3")],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    for secret in ["api-secret-1", "file-secret-2", "env-secret-3"] {
        assert!(!text.contains(secret), "{secret} printed:\n{text}");
    }
    assert!(text.contains("token = \"***\""), "{text}");
    assert!(
        text.contains("listen = \"127.0.0.1:8080\""),
        "defaults shown: {text}"
    );
    assert!(text.contains("provider = \"jdcloud\""));
}

#[test]
fn check_config_without_a_file_shows_the_built_in_defaults() {
    let out = Command::new(binary()).arg("check-config").output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("dir = \"var/state\""), "{text}");
    assert!(text.contains("root = \"var/archive\""), "{text}");
    assert!(text.contains("name = \"default\""), "{text}");
}

#[test]
fn check_config_exits_1_naming_the_bad_key() {
    type Case<'a> = (&'a str, &'a [(&'a str, &'a str)], &'a str);
    let cases: &[Case] = &[
        ("[server]\nlisten = \"nowhere\"\n", &[], "server.listen"),
        ("[server]\nlistn = \"127.0.0.1:1\"\n", &[], "listn"),
        (
            "[[sources]]\nname = \"x\"\nprovider = \"youtube\"\n",
            &[],
            "youtube",
        ),
        (
            "[server]\nlisten = \"0.0.0.0:8080\"\n[[sources]]\nname = \"jd\"\n",
            &[],
            "sources[0].token",
        ),
        (
            "",
            &[("RECORDING_ARCHIVER__SERVER__MAX_BODY_BYTES", "big")],
            "RECORDING_ARCHIVER__SERVER__MAX_BODY_BYTES",
        ),
        (
            "[[sources]]\nname = \"a\"\n[[sources]]\nname = \"a\"\n",
            &[],
            "sources[1].name",
        ),
        (
            // An unclosed character class: the sweep could match nothing.
            "[[sources]]\nname = \"s\"\ntoken = \"t\"\n[sources.origin]\ntype = \"file\"\n\
             roots = [\"/srv/rec\"]\nsweep = true\nsweep_glob = \"cam[0-9\"\n",
            &[],
            "sources[0].origin.sweep_glob",
        ),
    ];
    for (config, env, key) in cases {
        let out = check_config(config, env);
        assert_eq!(out.status.code(), Some(1), "{config}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(key), "error for {config:?} names {key}: {err}");
    }
}

#[test]
fn the_shipped_example_config_is_valid() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/config/recording-archiver.toml"
    );
    let out = Command::new(binary())
        .args(["check-config", "--config", path])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn the_log_format_can_come_from_the_config() {
    use std::io::{BufRead, BufReader};
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("c.toml");
    std::fs::write(
        &config,
        format!(
            "[server]\nlisten = \"127.0.0.1:0\"\n[state]\ndir = \"{}\"\n[log]\nformat = \"json\"\n",
            dir.path().join("state").display()
        ),
    )
    .unwrap();
    let mut child = Command::new(binary())
        .args(["serve", "--config"])
        .arg(&config)
        .env("RUST_LOG", "info")
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stderr.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let _ = child.kill();
    let _ = child.wait();
    let v: serde_json::Value =
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line}"));
    assert!(v["fields"]["message"].is_string(), "{v}");
}

/// What a run of the CLI gave: exit code, stdout, stderr.
struct Run {
    code: Option<i32>,
    out: String,
    err: String,
}

/// Runs the CLI against `d` (its address and config) in `cwd` with `env`
/// (COLUMNS and the token variables unset unless given there).
fn cli_in(d: &Daemon, cwd: &Path, env: &[(&str, &str)], args: &[&str]) -> Run {
    let mut cmd = Command::new(binary());
    cmd.args(args)
        .arg("--api")
        .arg(&d.base)
        .arg("--config")
        .arg(d.dir.join("config.toml"))
        .current_dir(cwd)
        .env_remove("COLUMNS")
        .env_remove("RECORDING_ARCHIVER_API_TOKEN")
        .env_remove("RECORDING_ARCHIVER__API__TOKEN")
        .envs(env.iter().copied());
    let out = tokio::task::block_in_place(|| cmd.output().unwrap());
    Run {
        code: out.status.code(),
        out: String::from_utf8_lossy(&out.stdout).into_owned(),
        err: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// [`cli_in`] from the test's own directory, without extra environment;
/// the run must succeed.
fn cli(d: &Daemon, args: &[&str]) -> String {
    let r = cli_in(d, Path::new("."), &[], args);
    assert_eq!(r.code, Some(0), "{args:?}: {}{}", r.out, r.err);
    r.out
}

/// Posts a JD record_done callback to source `jd` (token `t`).
async fn announce(d: &Daemon, url: &str, stream: &str) {
    let (status, reply) = d
        .post(
            "jd?token=t",
            Some("application/json"),
            jd_record_done(url, stream),
        )
        .await;
    assert_eq!(status, 200, "{reply}");
}

/// Waits until `path` (an API listing) holds at least `n` items.
async fn wait_items(d: &Daemon, path: &str, n: usize) -> Vec<Value> {
    let start = Instant::now();
    loop {
        let items = d.all_items(path).await;
        if items.len() >= n {
            return items;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "{} of {n} in {path}: {items:#?}\n{}",
            items.len(),
            d.log_text()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

const JD: &str = "[[sources]]\nname = \"jd\"\nprovider = \"jdcloud\"\ntoken = \"t\"\nallow_hosts = [\"127.0.0.1\"]\n";

fn local(rec: &Path) -> String {
    format!(
        "[[sources]]\nname = \"local\"\nprovider = \"nginx_rtmp\"\ntoken = \"t\"\n\
         [sources.origin]\ntype = \"file\"\nroots = [\"{}\"]\n",
        rec.display()
    )
}

/// The rows of a table (neither the heading nor the count line).
fn rows(table: &str) -> Vec<&str> {
    let lines: Vec<&str> = table.lines().collect();
    lines[1..lines.len().saturating_sub(1)].to_vec()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn catalog_list_shows_ids_and_durations_and_filters_by_source_kind_and_day() {
    let origin = Origin::start().await;
    origin.put("/a.flv", FileSpec::bytes(random_bytes(5000, 1)));
    let dir = tempfile::tempdir().unwrap();
    let rec = dir.path().join("rec");
    std::fs::create_dir_all(&rec).unwrap();
    std::fs::write(rec.join("cam2.jpg"), b"JPEG").unwrap();
    let d = Daemon::start_in(dir.path(), &format!("{JD}{}", local(&rec)));
    // A 60 s recording of 2023-11-14 22:13 UTC, and a snapshot of today.
    announce(&d, &origin.url("/a.flv"), "s1").await;
    cli(&d, &["enqueue", "--source", "local", "--file", "cam2.jpg"]);
    let entries = common::catalog_of(&d, 2).await;
    let id_of = |source: &str| {
        let e = entries.iter().find(|e| e["source"] == source).unwrap();
        e["id"].as_str().unwrap().to_owned()
    };
    let (jd, snap) = (id_of("jd"), id_of("local"));

    let all = cli(&d, &["catalog", "list"]);
    let head = all.lines().next().unwrap();
    assert!(head.contains(" ID ") && head.contains("DURATION"), "{all}");
    let row = |t: &str, id: &str| t.lines().find(|l| l.contains(id)).map(str::to_owned);
    let jd_row = row(&all, &jd).unwrap_or_else(|| panic!("{jd} in {all}"));
    assert!(jd_row.contains("1m00s"), "{all}");
    assert!(
        row(&all, &snap).is_some() && all.ends_with("2 entries\n"),
        "{all}"
    );

    let only = |args: &[&str], want: &[&str]| {
        let mut full = vec!["catalog", "list"];
        full.extend_from_slice(args);
        let t = cli(&d, &full);
        for id in [&jd, &snap] {
            let listed = row(&t, id).is_some();
            assert_eq!(listed, want.contains(&id.as_str()), "{args:?}: {id}\n{t}");
        }
    };
    only(&["--source", "local"], &[&snap]);
    only(&["--kind", "snapshot"], &[&snap]);
    only(&["--kind", "recording"], &[&jd]);
    only(&["--since", "2023-11-14", "--source", "jd"], &[&jd]);
    only(&["--since", "2023-11-15"], &[&snap]);
    only(&["--until", "2023-11-15"], &[&jd]);
    only(&["--until", "2023-11-14"], &[]);
    only(
        &[
            "--since",
            "2023-11-14T22:00:00Z",
            "--until",
            "2023-11-14T23:00:00Z",
        ],
        &[&jd],
    );

    // JSON Lines, the only format, with or without --jsonl.
    for args in [
        &["catalog", "export"][..],
        &["catalog", "export", "--jsonl"],
    ] {
        let lines = cli(&d, args);
        let ids: Vec<String> = lines
            .lines()
            .map(|l| serde_json::from_str::<Value>(l).unwrap()["id"].to_string())
            .collect();
        assert_eq!(ids.len(), 2, "{args:?}: {lines}");
    }

    // The API takes the day too.
    let page = d.get_json("/api/v1/catalog?until=2023-11-15").await;
    assert_eq!(page["items"].as_array().map(Vec::len), Some(1), "{page}");
    let bad = cli_in(
        &d,
        Path::new("."),
        &[],
        &["catalog", "list", "--since", "yesterday"],
    );
    assert_eq!(bad.code, Some(2));
    assert!(
        bad.err.contains("2024-05-01"),
        "says what a day looks like: {}",
        bad.err
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jobs_list_names_source_and_stream_and_no_next_attempt_once_finished() {
    let origin = Origin::start().await;
    origin.put("/done.flv", FileSpec::bytes(random_bytes(1000, 2)));
    let denied = FileSpec::bytes(random_bytes(1000, 3)).with_faults(&[Fault::Status(403); 8]);
    origin.put("/denied.flv", denied);
    let d = Daemon::start(&format!(
        "[transfer]\nretry_initial_secs = 1\nretry_max_secs = 2\n{JD}"
    ));
    announce(&d, &origin.url("/done.flv"), "cam-done").await;
    announce(&d, &origin.url("/denied.flv"), "cam-denied").await;
    wait_items(&d, "/api/v1/jobs?state=done", 1).await;
    wait_items(&d, "/api/v1/jobs?state=failed", 1).await;
    let jobs = d.all_items("/api/v1/jobs").await;

    let table = cli(&d, &["jobs", "list"]);
    let head = table.lines().next().unwrap();
    assert!(
        head.contains("SOURCE") && head.contains("STREAM"),
        "{table}"
    );
    for j in &jobs {
        let id = j["id"].as_str().unwrap();
        let line = table.lines().find(|l| l.contains(id)).unwrap();
        let stream = if line.contains("done.flv") {
            "live/cam-done"
        } else {
            "live/cam-denied"
        };
        assert!(line.contains(" jd ") && line.contains(stream), "{line}");
        let next = j["next_attempt_at"].as_str().unwrap();
        assert!(
            !line.contains(next),
            "a finished job has no next attempt: {line}"
        );
    }
    assert!(table.ends_with("2 jobs\n"), "{table}");

    let newest = cli(&d, &["jobs", "list", "--limit", "1"]);
    assert_eq!(rows(&newest).len(), 1, "{newest}");
    assert!(newest.contains(jobs[0]["id"].as_str().unwrap()), "{newest}");
    let json: Value =
        serde_json::from_str(&cli(&d, &["jobs", "list", "--limit", "1", "--json"])).unwrap();
    assert_eq!(json["items"].as_array().map(Vec::len), Some(1));
    assert_eq!(
        cli(&d, &["jobs", "list", "--source", "jd"]).lines().count(),
        4
    );
    assert_eq!(cli(&d, &["jobs", "list", "--source", "other"]), "0 jobs\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_empty_listing_says_so_in_one_line() {
    let d = Daemon::start("[transfer]\nworkers = 0\n");
    assert_eq!(cli(&d, &["jobs", "list"]), "0 jobs\n");
    assert_eq!(cli(&d, &["catalog", "list"]), "0 entries\n");
    assert_eq!(cli(&d, &["rejected", "list"]), "0 rejected requests\n");
    assert_eq!(cli(&d, &["notifications", "list"]), "0 notifications\n");
    assert_eq!(cli(&d, &["streams", "--all"]), "0 streams\n");
    let live = cli(&d, &["streams"]);
    assert!(
        live.starts_with("0 live streams") && live.lines().count() == 1,
        "{live}"
    );
}

/// A daemon holding `n` queued jobs (no worker) for files with `len`-long
/// URLs on stream names of 40 characters.
async fn queued_jobs(n: usize, len: usize) -> Daemon {
    let d = Daemon::start(&format!("[transfer]\nworkers = 0\n{JD}"));
    for i in 0..n {
        let url = format!("http://127.0.0.1:9/{}/{i}.flv", "d".repeat(len));
        announce(&d, &url, &format!("{i}-{}", "s".repeat(40))).await;
    }
    d
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tables_fit_the_terminal_width_cutting_text_never_ids() {
    let d = queued_jobs(3, 200).await;
    let jobs = d.all_items("/api/v1/jobs").await;
    let fitted = cli_in(&d, Path::new("."), &[("COLUMNS", "80")], &["jobs", "list"]);
    assert_eq!(fitted.code, Some(0), "{}", fitted.err);
    for line in fitted.out.lines() {
        assert!(
            line.chars().count() <= 80,
            "{} wide: {line}",
            line.chars().count()
        );
    }
    assert!(fitted.out.contains('…'), "{}", fitted.out);
    for j in &jobs {
        let id = j["id"].as_str().unwrap();
        assert!(fitted.out.contains(id), "ids are never cut: {}", fitted.out);
    }
    // Not a terminal, no COLUMNS: whole cells, for grep and scripts.
    let whole = cli(&d, &["jobs", "list"]);
    let url = jobs[0]["origin"]["value"].as_str().unwrap();
    assert!(whole.contains(url) && !whole.contains('…'), "{whole}");
    let catalog = cli_in(
        &d,
        Path::new("."),
        &[("COLUMNS", "80")],
        &["streams", "--all"],
    );
    assert!(
        catalog.out.lines().all(|l| l.chars().count() <= 80),
        "{}",
        catalog.out
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_closed_pipe_ends_the_command_quietly_with_0() {
    // Far more than a pipe holds, so the reader is gone before the last write.
    let d = queued_jobs(150, 2000).await;
    let config = d.dir.join("config.toml");
    for args in ["jobs list --json", "jobs list"] {
        let api = format!("--api {}", d.base);
        let script = format!(
            "\"$0\" {args} {api} --config \"$1\" | head -1 >/dev/null; exit ${{PIPESTATUS[0]}}"
        );
        let out = tokio::task::block_in_place(|| {
            Command::new("bash")
                .args(["-c", &script, binary()])
                .arg(&config)
                .output()
                .unwrap()
        });
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{args} | head -1: {err}");
        assert!(err.is_empty(), "{args} | head -1 says nothing: {err}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_token_variable_serves_the_daemon_and_the_cli() {
    let dir = tempfile::tempdir().unwrap();
    let token = [("RECORDING_ARCHIVER__API__TOKEN", "one-for-both")];
    let d = Daemon::start_with_env(dir.path(), "", &token);
    // The CLI needs no readable config when the address and token are known.
    let run = |env: &[(&str, &str)]| {
        let mut cmd = Command::new(binary());
        cmd.args([
            "jobs",
            "list",
            "--api",
            &d.base,
            "--config",
            "/nonexistent/c.toml",
        ])
        .env_remove("RECORDING_ARCHIVER_API_TOKEN")
        .env_remove("RECORDING_ARCHIVER__API__TOKEN")
        .envs(env.iter().copied());
        tokio::task::block_in_place(|| cmd.output().unwrap())
    };
    let out = run(&token);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "0 jobs\n");
    // The CLI's own name first, as documented.
    let both = [
        ("RECORDING_ARCHIVER_API_TOKEN", "one-for-both"),
        ("RECORDING_ARCHIVER__API__TOKEN", "stale"),
    ];
    assert!(run(&both).status.success());
    let out = run(&[("RECORDING_ARCHIVER__API__TOKEN", "wrong")]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("401")
            && err.contains("RECORDING_ARCHIVER_API_TOKEN, RECORDING_ARCHIVER__API__TOKEN"),
        "names both variables in the order they are read: {err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enqueue_takes_a_path_from_the_shell_and_a_refusal_lists_the_roots() {
    let dir = tempfile::tempdir().unwrap();
    let rec = dir.path().join("rec");
    std::fs::create_dir_all(&rec).unwrap();
    std::fs::write(rec.join("cam1-a.mp4"), b"MP4 a").unwrap();
    std::fs::write(rec.join("cam1-b.mp4"), b"MP4 b").unwrap();
    std::fs::write(dir.path().join("elsewhere.mp4"), b"not under a root").unwrap();
    let d = Daemon::start_in(
        dir.path(),
        &format!("[transfer]\nworkers = 0\n{}", local(&rec)),
    );
    let enqueue = |file: &str| {
        cli_in(
            &d,
            dir.path(),
            &[],
            &["enqueue", "--source", "local", "--file", file],
        )
    };

    // From the shell's directory, as a shell user means it.
    let r = enqueue("rec/cam1-a.mp4");
    assert_eq!(r.code, Some(0), "{}", r.err);
    assert!(
        r.out.starts_with("queued")
            && r.out
                .contains(&rec.join("cam1-a.mp4").display().to_string()),
        "{}",
        r.out
    );
    // Not there from here: still relative to the roots, as before.
    let r = enqueue("cam1-b.mp4");
    assert_eq!(r.code, Some(0), "{}", r.err);
    let jobs = d.all_items("/api/v1/jobs").await;
    assert_eq!(jobs.len(), 2, "{jobs:#?}");

    let r = enqueue("elsewhere.mp4");
    assert_eq!(r.code, Some(1));
    let root = rec.display().to_string();
    assert!(
        r.err.contains("not a regular file under")
            && r.err.contains(&root)
            && r.err.contains("sources[0].origin.roots"),
        "lists the roots and names the key: {}",
        r.err
    );
    assert_eq!(r.err.lines().count(), 1, "{}", r.err);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_callbacks_text_cannot_reach_the_terminal_as_an_escape_sequence() {
    let d = Daemon::start(&format!("[transfer]\nworkers = 0\n{JD}"));
    // Clears the screen and retitles the window, were it printed raw.
    announce(
        &d,
        "http://127.0.0.1:9/a.flv",
        "cam\u{1b}[2J\u{1b}]0;pwned\u{7}",
    )
    .await;
    let out = cli(&d, &["jobs", "list"]);
    assert!(!out.contains('\u{1b}') && !out.contains('\u{7}'), "{out:?}");
    assert!(out.contains("cam\\u{1b}[2J"), "shown written out: {out}");
}
