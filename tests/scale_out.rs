//! Several instances, one bucket: two daemons behind a real nginx upstream
//! (round robin, Debian's nginx, which scripts/test installs), platform
//! retries landing on the other instance, one instance killed -9 and
//! restarted; the bucket's `_catalog/` manifests queried with Polars (from
//! PyPI, in the venv scripts/py-env makes). Also `catalog rebuild` on an
//! empty state directory, and download links.

mod common;

use common::free_port;
use common::nginx::Nginx;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::origin::{FileSpec, Origin};
use common::s3::{S3Server, ACCESS_KEY, SECRET_KEY};
use common::{random_bytes, sha256_hex, Daemon};
use serde_json::{json, Value};

fn config(s3: &S3Server) -> String {
    format!(
        "{}[transfer]\nretry_initial_secs = 1\n[catalog]\nmanifest_interval_secs = 1\n\
         [[sources]]\nname = \"jd\"\nprovider = \"jdcloud\"\ntoken = \"t\"\n\
         allow_hosts = [\"127.0.0.1\"]\n",
        s3.store_config("archive")
    )
}

fn instance(dir: &Path, s3: &S3Server, id: &str, port: u16) -> Daemon {
    let listen = format!("127.0.0.1:{port}");
    std::fs::create_dir_all(dir).unwrap();
    Daemon::start_with_env(
        dir,
        &config(s3),
        &[
            ("RECORDING_ARCHIVER__SERVER__LISTEN", listen.as_str()),
            ("RECORDING_ARCHIVER__INSTANCE_ID", id),
        ],
    )
}

fn record_done(url: &str, i: usize) -> String {
    let ms = 1_764_000_000_000u64 + i as u64 * 60_000;
    json!({"version": "v1.1", "publishDomain": "push.example.com", "appName": "live",
        "streamName": format!("room{}", i % 5), "event": "record_done", "status": "success",
        "format": "flv", "beginTime": ms, "endTime": ms + 60_000, "downloadUrl": url})
    .to_string()
}

/// Sends `body` to `url` until it is answered 200, as platforms do.
async fn send(client: &reqwest::Client, url: &str, body: String) -> u32 {
    let mut tries = 0;
    loop {
        tries += 1;
        let r = client
            .post(url)
            .header("content-type", "application/json")
            .body(body.clone())
            .send()
            .await;
        if r.is_ok_and(|r| r.status() == 200) {
            return tries;
        }
        assert!(tries < 100, "never answered 200");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The bucket's `_catalog/` manifests, queried with Polars over S3.
fn query_manifests(s3: &S3Server, scratch: &Path) -> Value {
    let script = r#"
import json, sys
import polars as pl
ep, key, secret = sys.argv[1:4]
opts = {"aws_endpoint_url": ep, "aws_access_key_id": key, "aws_secret_access_key": secret,
        "aws_region": "us-east-1", "aws_allow_http": "true"}
df = pl.scan_ndjson("s3://archive/_catalog/**/*.jsonl", storage_options=opts).collect()
origins = df.select(pl.col("origin").struct.field("value")).to_series()
dup = df.filter(pl.col("id").is_in(df.group_by(origins.alias("o")).agg(pl.col("id")).filter(pl.col("id").list.len() > 1).explode("id")["id"]))
print(json.dumps({
    "dups": [f"{r['id']} {r['instance_id']} {r['store']['key']}" for r in df.with_columns(origins.alias("o")).filter(pl.col("o").is_in(df.with_columns(origins.alias("o")).group_by("o").len().filter(pl.col("len") > 1)["o"])).iter_rows(named=True)],
    "rows": df.height,
    "ids": df["id"].n_unique(),
    "origins": origins.n_unique(),
    "by_instance": {k: v for k, v in df.group_by("instance_id").len().iter_rows()},
    "sha256": dict(zip(origins.to_list(), df["sha256"].to_list())),
}))
"#;
    let out = Command::new(common::python())
        .args(["-c", script, &s3.endpoint, ACCESS_KEY, SECRET_KEY])
        .env_remove("AWS_CA_BUNDLE")
        // Polars keeps what it read from a cloud in a file cache (under
        // /tmp/polars): a run must not see another run's objects.
        .env("POLARS_TEMP_DIR", scratch)
        .env("AWS_ENDPOINT_URL", &s3.endpoint)
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ALLOW_HTTP", "true")
        .env("AWS_ACCESS_KEY_ID", ACCESS_KEY)
        .env("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "polars: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

async fn settled(ds: &[&Daemon]) -> bool {
    for d in ds {
        let jobs = d.all_items("/api/v1/jobs").await;
        if jobs.iter().any(|j| j["state"] != "done") {
            return false;
        }
    }
    true
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_instances_behind_nginx_archive_each_file_once_and_the_manifests_say_so() {
    let s3 = S3Server::start(&["archive"]).await;
    let origin = Origin::start().await;
    let files = 200;
    let mut shas = BTreeMap::new();
    for i in 0..files {
        let bytes = random_bytes(20_000 + (i * 37) % 40_000, i as u64);
        shas.insert(origin.url(&format!("/rec/{i}.flv")), sha256_hex(&bytes));
        origin.put(&format!("/rec/{i}.flv"), FileSpec::bytes(bytes));
    }
    let root = tempfile::tempdir().unwrap();
    let (pa, pb) = (free_port(), free_port());
    let mut a = instance(&root.path().join("a"), &s3, "a", pa);
    let b = instance(&root.path().join("b"), &s3, "b", pb);
    let lb = Nginx::balancer(&root.path().join("nginx"), &[pa, pb]);
    let url = Arc::new(format!("http://127.0.0.1:{}/callbacks/jd?token=t", lb.port));
    let client = reqwest::Client::new();
    let mut rng = common::platforms::Lcg(7);
    let mut sends = Vec::new();
    for i in 0..files {
        // One in five is sent again, as a platform retries: round robin
        // takes the second copy to the other instance.
        let times = if rng.next().is_multiple_of(5) { 2 } else { 1 };
        for _ in 0..times {
            sends.push(record_done(&origin.url(&format!("/rec/{i}.flv")), i));
        }
    }
    let retried = sends.len() - files;
    let half = sends.len() / 2;
    let mut tail = sends.split_off(half);
    let batch = |bodies: Vec<String>| {
        let (client, url) = (client.clone(), Arc::clone(&url));
        futures_util::future::join_all(bodies.into_iter().map(move |body| {
            let (client, url) = (client.clone(), Arc::clone(&url));
            async move { send(&client, &url, body).await }
        }))
    };
    batch(sends).await;
    // Instance a is killed -9 mid-run; nginx passes its share to b.
    a.kill9();
    drop(a);
    let second_half = tail.split_off(tail.len() / 2);
    batch(tail).await;
    let a = instance(&root.path().join("a"), &s3, "a", pa);
    batch(second_half).await;

    let start = Instant::now();
    let manifests = loop {
        if settled(&[&a, &b]).await {
            let q = query_manifests(&s3, &root.path().join("polars"));
            if q["rows"].as_u64().unwrap() >= files as u64 {
                // Settled: nothing more is written.
                tokio::time::sleep(Duration::from_secs(2)).await;
                break query_manifests(&s3, &root.path().join("polars"));
            }
        }
        if start.elapsed() > Duration::from_secs(60) {
            let mut open = Vec::new();
            for d in [&a, &b] {
                open.extend(
                    d.all_items("/api/v1/jobs")
                        .await
                        .into_iter()
                        .filter(|j| j["state"] != "done")
                        .map(|j| format!("{} {} {}", j["state"], j["attempts"], j["last_error"])),
                );
            }
            panic!(
                "not settled: {open:#?}\nmanifests: {}",
                query_manifests(&s3, &root.path().join("polars"))["rows"]
            );
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    // Exactly one object per file, with the origin's bytes.
    let keys = s3.keys("archive").await;
    let objects: Vec<&String> = keys
        .iter()
        .filter(|k| !k.ends_with(".json") && !k.starts_with("_catalog/"))
        .collect();
    if objects.len() != files {
        for k in objects.iter().filter(|k| k.contains('~')) {
            let name = k.rsplit('-').next().unwrap().replace("~2", "");
            for (n, d) in [("a", &a), ("b", &b)] {
                for l in d.log_text().lines().filter(|l| {
                    l.contains(&format!("-{name}"))
                        || l.contains("sidecar")
                        || l.contains("already archived")
                }) {
                    eprintln!("{n}: {}", &l[..l.len().min(500)]);
                }
            }
        }
    }
    assert_eq!(
        objects.len(),
        files,
        "one object per file: {:?}",
        objects
            .iter()
            .filter(|k| k.contains('~'))
            .collect::<Vec<_>>()
    );
    // The manifests of both instances: every file once, right checksums.
    if manifests["rows"] != files {
        let dup = manifests["dups"][0]
            .as_str()
            .unwrap_or("")
            .rsplit('-')
            .next()
            .unwrap_or("")
            .to_owned();
        for (n, d) in [("a", &a), ("b", &b)] {
            for l in d.log_text().lines().filter(|l| {
                l.contains(&format!("/{dup}"))
                    || l.contains(&format!("-{dup}"))
                    || l.contains("sidecar")
                    || l.contains("already archived")
            }) {
                eprintln!("{n}: {}", &l[..l.len().min(400)]);
            }
        }
    }
    assert_eq!(manifests["rows"], files, "{}", manifests["dups"]);
    assert_eq!(manifests["ids"], files);
    assert_eq!(manifests["origins"], files);
    for (origin_url, sha) in &shas {
        assert_eq!(
            manifests["sha256"][origin_url],
            json!(sha),
            "{origin_url} in {:?}",
            manifests["sha256"]
                .as_object()
                .map(|m| m.keys().take(5).collect::<Vec<_>>())
        );
    }
    let by_instance = manifests["by_instance"].as_object().unwrap();
    assert!(
        by_instance.contains_key("a") && by_instance.contains_key("b"),
        "{by_instance:?}"
    );
    // Each instance's catalog: an announced file has one entry id, the same
    // on both instances where both were told of it.
    let mut ids_by_origin: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for d in [&a, &b] {
        for e in d.all_items("/api/v1/catalog").await {
            ids_by_origin
                .entry(e["origin"]["value"].as_str().unwrap().to_owned())
                .or_default()
                .insert(e["id"].as_str().unwrap().to_owned());
        }
    }
    assert_eq!(ids_by_origin.len(), files, "nothing lost across the kill");
    assert!(
        ids_by_origin.values().all(|ids| ids.len() == 1),
        "{:?}",
        ids_by_origin.iter().find(|(_, ids)| ids.len() > 1)
    );
    assert!(a
        .get_text("/metrics")
        .await
        .contains("recording_archiver_instance_info{instance_id=\"a\"} 1"));
    eprintln!(
        "{} callbacks, {retried} platform retries, manifests by instance: {by_instance:?}",
        files + retried
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn catalog_rebuild_on_an_empty_state_dir_recreates_the_same_catalog() {
    let origin = Origin::start().await;
    for i in 0..6 {
        origin.put(
            &format!("/rec/{i}.flv"),
            FileSpec::bytes(random_bytes(10_000 + i, 50 + i as u64)),
        );
    }
    // From the manifests (every entry in one), and from the sidecars alone.
    for manifests in [true, false] {
        let s3 = S3Server::start(&["archive"]).await;
        let root = tempfile::tempdir().unwrap();
        let text = config(&s3).replace(
            "[catalog]\n",
            &format!("[catalog]\nmanifests = {manifests}\n"),
        );
        let mut d = Daemon::start_in(root.path(), &text);
        for i in 0..6 {
            let body = record_done(&origin.url(&format!("/rec/{i}.flv")), i);
            let (status, _) = d.post("jd?token=t", Some("application/json"), body).await;
            assert_eq!(status, 200);
        }
        let start = Instant::now();
        while !settled(&[&d]).await || d.all_items("/api/v1/catalog").await.len() < 6 {
            assert!(start.elapsed() < Duration::from_secs(30));
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let in_manifests = || async {
            let mut rows = 0;
            for k in s3
                .keys("archive")
                .await
                .iter()
                .filter(|k| k.starts_with("_catalog/"))
            {
                rows += std::fs::read_to_string(s3.path("archive", k))
                    .unwrap()
                    .lines()
                    .count();
            }
            rows
        };
        if manifests {
            while in_manifests().await < 6 {
                assert!(start.elapsed() < Duration::from_secs(30));
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        } else {
            assert_eq!(in_manifests().await, 0);
        }
        let before = d.all_items("/api/v1/catalog").await;
        d.terminate();
        std::fs::remove_dir_all(root.path().join("state")).unwrap();
        let out = Command::new(common::binary())
            .args(["catalog", "rebuild", "--config"])
            .arg(root.path().join("config.toml"))
            .env_remove("AWS_CA_BUNDLE")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let report: Value = serde_json::from_slice(&out.stdout).unwrap();
        let from = if manifests {
            "from_manifests"
        } else {
            "from_sidecars"
        };
        assert_eq!(report[from], 6, "{report}");
        let d = Daemon::start_in(root.path(), &text);
        let after = d.all_items("/api/v1/catalog").await;
        assert_eq!(
            after, before,
            "the same catalog: ids, checksums, keys and all"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn download_links_lead_to_the_archived_bytes() {
    let s3 = S3Server::start(&["archive"]).await;
    let origin = Origin::start().await;
    let bytes = random_bytes(70_000, 5);
    origin.put("/rec/x.mp4", FileSpec::bytes(bytes.clone()));
    let fs_dir = tempfile::tempdir().unwrap();
    let on_s3 = Daemon::start(&config(&s3));
    let on_fs = Daemon::start_in(
        fs_dir.path(),
        "[[sources]]\nname = \"jd\"\nprovider = \"jdcloud\"\ntoken = \"t\"\nallow_hosts = [\"127.0.0.1\"]\n",
    );
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    for d in [&on_s3, &on_fs] {
        let body = record_done(&origin.url("/rec/x.mp4"), 1);
        let (status, _) = d.post("jd?token=t", Some("application/json"), body).await;
        assert_eq!(status, 200);
        let start = Instant::now();
        let entry = loop {
            let c = d.all_items("/api/v1/catalog?links=1").await;
            if let Some(e) = c.into_iter().next() {
                break e;
            }
            assert!(start.elapsed() < Duration::from_secs(30));
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        let link = entry["download_url"]
            .as_str()
            .expect("download_url")
            .to_owned();
        let r = d
            .authed(client.get(d.url(&format!(
                "/api/v1/catalog/{}/download",
                entry["id"].as_str().unwrap()
            ))))
            .send()
            .await
            .unwrap();
        let got = if r.status() == 302 {
            let to = r.headers()["location"].to_str().unwrap().to_owned();
            assert!(to.contains("X-Amz-Signature"), "{to}");
            assert!(link.contains("X-Amz-Signature"), "{link}");
            client.get(&to).send().await.unwrap().bytes().await.unwrap()
        } else {
            assert_eq!(r.status(), 200);
            assert_eq!(r.headers()["content-type"], "video/mp4");
            assert_eq!(
                link,
                format!("/api/v1/catalog/{}/download", entry["id"].as_str().unwrap())
            );
            r.bytes().await.unwrap()
        };
        assert_eq!(sha256_hex(&got), sha256_hex(&bytes));
        let one = d
            .get_json(&format!(
                "/api/v1/catalog/{}?links=1",
                entry["id"].as_str().unwrap()
            ))
            .await;
        assert!(one["download_url"].is_string());
        assert!(d.get_json("/api/v1/catalog").await["items"][0]["download_url"].is_null());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_clean_stop_writes_every_queued_manifest_entry() {
    let s3 = S3Server::start(&["archive"]).await;
    let origin = Origin::start().await;
    let dir = tempfile::tempdir().unwrap();
    // An hour between manifests: only the stop can write these.
    let config = config(&s3).replace(
        "manifest_interval_secs = 1",
        "manifest_interval_secs = 3600",
    );
    let mut d = Daemon::start_with_env(
        dir.path(),
        &config,
        &[("RECORDING_ARCHIVER__INSTANCE_ID", "leaving")],
    );
    let http = reqwest::Client::new();
    for i in 0..6 {
        let path = format!("/m{i}.flv");
        origin.put(
            &path,
            FileSpec::bytes(random_bytes(20_000 + i, 900 + i as u64)),
        );
        send(
            &http,
            &d.url("/callbacks/jd?token=t"),
            record_done(&origin.url(&path), i),
        )
        .await;
    }
    let catalog = common::catalog_of(&d, 6).await;
    let manifests = |s3: &S3Server| -> Vec<String> { s3.keys_on_disk("archive", "_catalog/") };
    assert!(manifests(&s3).is_empty(), "nothing written before the stop");
    assert!(d.terminate_inner().success());

    let mut ids = BTreeSet::new();
    for key in manifests(&s3) {
        assert!(key.contains("/leaving-"), "{key}");
        let text = std::fs::read_to_string(s3.path("archive", &key)).unwrap();
        for line in text.lines() {
            let row: Value = serde_json::from_str(line).unwrap();
            assert!(ids.insert(row["id"].as_str().unwrap().to_owned()), "{line}");
        }
    }
    let filed: BTreeSet<String> = catalog
        .iter()
        .map(|e| e["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        ids, filed,
        "every entry filed before the stop is in a manifest, once"
    );
}
