//! The command line as a user meets it.

mod common;

use std::process::Command;

use common::binary;

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
