//! Running under systemd: the shipped unit verifies and is hardened, and the
//! daemon speaks the notify protocol its `Type=notify` relies on.

mod common;

use std::os::unix::net::UnixDatagram;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::Daemon;

const UNIT: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/systemd/recording-archiver.service"
);

#[test]
fn the_unit_passes_systemd_analyze_verify() {
    // The shipped unit runs /usr/local/bin/recording-archiver; verify the
    // same unit against the binary just built.
    let dir = tempfile::tempdir().unwrap();
    let unit = std::fs::read_to_string(UNIT)
        .unwrap()
        .replace("/usr/local/bin/recording-archiver", common::binary());
    let path = dir.path().join("recording-archiver.service");
    std::fs::write(&path, unit).unwrap();
    let out = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&path)
        .output()
        .expect("systemd-analyze (Debian package systemd)");
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn the_unit_allows_enough_open_files_for_many_connections() {
    // Every connection holds a descriptor: the usual 1024 ran out at 1,100.
    let unit = std::fs::read_to_string(UNIT).unwrap();
    let limit: u64 = unit
        .lines()
        .find_map(|l| l.trim().strip_prefix("LimitNOFILE="))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no numeric LimitNOFILE in the unit:\n{unit}"));
    assert!(limit >= 65536, "LimitNOFILE={limit}");
}

#[test]
fn the_unit_rates_ok_or_better_in_systemd_analyze_security() {
    let out = Command::new("systemd-analyze")
        .args(["security", "--offline=yes", UNIT])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let exposure: f64 = text
        .lines()
        .find_map(|l| {
            l.split("Overall exposure level for recording-archiver.service: ")
                .nth(1)
        })
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no exposure figure in:\n{text}"));
    eprintln!("systemd-analyze security exposure: {exposure}");
    assert!(exposure <= 3.9, "exposure {exposure} is above OK (3.9)");
}

fn wait_for(sock: &UnixDatagram, want: &str, within: Duration) -> Vec<String> {
    let start = Instant::now();
    let mut seen = Vec::new();
    let mut buf = [0u8; 512];
    while start.elapsed() < within {
        if let Ok(n) = sock.recv(&mut buf) {
            let msg = String::from_utf8_lossy(&buf[..n]).into_owned();
            let done = msg.lines().any(|l| l == want);
            seen.push(msg);
            if done {
                return seen;
            }
        }
    }
    panic!("no {want} within {within:?}; saw {seen:?}");
}

#[test]
fn the_daemon_notifies_ready_pings_the_watchdog_and_notifies_stopping() {
    let dir = tempfile::tempdir().unwrap();
    let sock_path = dir.path().join("notify.sock");
    let sock = UnixDatagram::bind(&sock_path).unwrap();
    sock.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let mut d = Daemon::start_with_env(
        dir.path(),
        "",
        &[
            ("NOTIFY_SOCKET", sock_path.to_str().unwrap()),
            ("WATCHDOG_USEC", "400000"),
        ],
    );
    wait_for(&sock, "READY=1", Duration::from_secs(10));
    wait_for(&sock, "WATCHDOG=1", Duration::from_secs(5));
    let status = d.terminate();
    wait_for(&sock, "STOPPING=1", Duration::from_secs(5));
    assert!(status.success(), "{status:?}");
    assert!(Path::new(&sock_path).exists());
}
