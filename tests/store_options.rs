//! `[store]`'s object options (storage class, encryption, Object Lock,
//! tags) seen on the requests a real S3 server receives, through a proxy
//! that notes each request's head; the archived files still download.

mod common;

use common::delay::DelayProxy;
use common::origin::{FileSpec, Origin};
use common::s3::S3Server;
use common::{catalog_of, jd_record_done, random_bytes, sha256_hex, Daemon};

// s3s-fs takes only STANDARD and REDUCED_REDUNDANCY on PutObject.
const OPTIONS: &str = r#"storage_class = "REDUCED_REDUNDANCY"
sidecar_storage_class = "STANDARD"
server_side_encryption = "AES256"
object_lock_mode = "GOVERNANCE"
object_lock_retain_days = 30
tags = { team = "live ops", keep = "7y" }
"#;

/// The value of header `name` in a request head, if it has one.
fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines()
        .filter_map(|l| l.split_once(':'))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case(name))
        .map(|(_, v)| v.trim())
}

/// The heads whose request line starts with `method` and whose path part
/// satisfies `pick`.
fn requests<'a>(heads: &'a [String], method: &str, pick: impl Fn(&str) -> bool) -> Vec<&'a str> {
    heads
        .iter()
        .filter(|h| {
            let line = h.lines().next().unwrap_or("");
            line.starts_with(&format!("{method} ")) && pick(line)
        })
        .map(String::as_str)
        .collect()
}

/// Asserts the data options on one request head.
fn has_data_options(head: &str) {
    let line = head.lines().next().unwrap_or("");
    assert_eq!(
        header(head, "x-amz-storage-class"),
        Some("REDUCED_REDUNDANCY"),
        "{line}"
    );
    assert_eq!(
        header(head, "x-amz-server-side-encryption"),
        Some("AES256"),
        "{line}"
    );
    assert_eq!(
        header(head, "x-amz-object-lock-mode"),
        Some("GOVERNANCE"),
        "{line}"
    );
    assert_eq!(
        header(head, "x-amz-tagging"),
        Some("keep=7y&team=live%20ops"),
        "{line}"
    );
    let until = header(head, "x-amz-object-lock-retain-until-date").expect("a retain-until date");
    let until = chrono::DateTime::parse_from_rfc3339(until).expect(until);
    let days = (until.with_timezone(&chrono::Utc) - chrono::Utc::now()).num_hours() as f64 / 24.0;
    assert!(
        (29.9..=30.1).contains(&days),
        "retained {days} days: {line}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_object_written_carries_the_storage_options_and_still_downloads() {
    let s3 = S3Server::start(&["archive"]).await;
    let proxy = DelayProxy::recording(&s3.endpoint).await;
    let origin = Origin::start().await;
    // One file of one part (PutObject), one of three (multipart).
    let small = random_bytes(1 << 20, 1);
    let large = random_bytes(12 << 20, 2);
    origin.put("/rec/small.flv", FileSpec::bytes(small.clone()));
    origin.put("/rec/large.flv", FileSpec::bytes(large.clone()));
    let config = format!(
        "{store}{OPTIONS}
[transfer]
workers = 2
part_size = 5242880
retry_initial_secs = 1
retry_max_secs = 2

[[sources]]
name = \"jd\"
provider = \"jdcloud\"
token = \"t\"
allow_hosts = [\"127.0.0.1\"]
",
        store = s3.store_config_via("archive", &proxy.endpoint),
    );
    let dir = tempfile::tempdir().unwrap();
    // A class the server refuses: every write would meet it, so the job
    // waits as for any store trouble, naming the key, and loses nothing.
    let refused = config.replace("\"REDUCED_REDUNDANCY\"", "\"GLACIER_IR\"");
    let mut d = Daemon::start_in(dir.path(), &refused);
    let (status, reply) = d
        .post(
            "jd?token=t",
            Some("application/json"),
            jd_record_done(&origin.url("/rec/small.flv"), "small"),
        )
        .await;
    assert_eq!(status, 200, "{reply}");
    let mut last = serde_json::Value::Null;
    common::until("the job names [store] storage_class", async || {
        last = d.all_items("/api/v1/jobs").await[0].clone();
        last["last_error"].as_str().is_some_and(|e| {
            e.contains("[store] storage_class") && e.contains("InvalidStorageClass")
        })
    })
    .await;
    assert_ne!(last["state"], "failed", "{last}");
    d.terminate();
    drop(d);
    let d = Daemon::start_in(dir.path(), &config);
    for (path, stream) in [("/rec/large.flv", "large")] {
        let (status, reply) = d
            .post(
                "jd?token=t",
                Some("application/json"),
                jd_record_done(&origin.url(path), stream),
            )
            .await;
        assert_eq!(status, 200, "{reply}");
    }
    let catalog = catalog_of(&d, 2).await;

    let heads = proxy.heads();
    let is_sidecar = |line: &str| line.contains(".json ") || line.contains(".json?");
    // The one-part file: a PutObject of its bytes with every option.
    let puts = requests(&heads, "PUT", |l| {
        !is_sidecar(l) && !l.contains("partNumber=") && l.contains("small")
    });
    // The refused attempts, then the one that went through.
    assert!(puts.len() >= 2, "{puts:#?}");
    let puts = &puts[puts.len() - 1..];
    has_data_options(puts[0]);
    // The three-part file: its CreateMultipartUpload carries them; its
    // parts need none.
    let creates = requests(&heads, "POST", |l| {
        l.contains("?uploads") && l.contains("large")
    });
    assert_eq!(creates.len(), 1, "{creates:#?}");
    has_data_options(creates[0]);
    let parts = requests(&heads, "PUT", |l| {
        l.contains("partNumber=") && l.contains("large")
    });
    assert_eq!(parts.len(), 3, "{parts:#?}");
    // Sidecars keep their own class, with the same encryption, lock and tags.
    let sidecars = requests(&heads, "PUT", is_sidecar);
    assert_eq!(sidecars.len(), 2, "{sidecars:#?}");
    for head in sidecars {
        assert_eq!(
            header(head, "x-amz-storage-class"),
            Some("STANDARD"),
            "{head}"
        );
        assert_eq!(header(head, "x-amz-server-side-encryption"), Some("AES256"));
        assert_eq!(header(head, "x-amz-object-lock-mode"), Some("GOVERNANCE"));
        assert_eq!(
            header(head, "x-amz-tagging"),
            Some("keep=7y&team=live%20ops")
        );
    }

    // Downloads still work: the presigned link the API gives, byte for byte.
    let no_redirect = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    for entry in catalog {
        let want = match entry["stream"].as_str() {
            Some("small") => &small,
            _ => &large,
        };
        let id = entry["id"].as_str().unwrap();
        let r = d
            .authed(no_redirect.get(d.url(&format!("/api/v1/catalog/{id}/download"))))
            .send()
            .await
            .unwrap();
        assert!(r.status().is_redirection(), "{}", r.status());
        let link = r.headers()["location"].to_str().unwrap().to_owned();
        let body = reqwest::get(&link).await.unwrap().bytes().await.unwrap();
        assert_eq!(sha256_hex(&body), sha256_hex(want), "{link}");
    }
}

#[test]
fn check_config_names_the_option_at_fault() {
    let dir = tempfile::tempdir().unwrap();
    let bad = [
        ("storage_class = \"glacier_ir\"", "store.storage_class"),
        ("sse_kms_key_id = \"k\"", "store.sse_kms_key_id"),
        (
            "object_lock_mode = \"GOVERNANCE\"",
            "store.object_lock_retain_days",
        ),
        ("tags = { \"aws:x\" = \"1\" }", "store.tags.aws:x"),
    ];
    for (line, key) in bad {
        let path = dir.path().join("c.toml");
        std::fs::write(
            &path,
            format!("[store]\ntype = \"s3\"\nbucket = \"b\"\n{line}\n"),
        )
        .unwrap();
        let out = std::process::Command::new(common::binary())
            .args(["check-config", "--config"])
            .arg(&path)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{line} accepted");
        assert!(err.contains(key), "{line}: {err}");
    }
}
