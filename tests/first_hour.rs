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
