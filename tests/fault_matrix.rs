//! The origin fault matrix (issue 11's reliability case 4): one daemon, one
//! real HTTP origin misbehaving a different way per file, and for each the
//! outcome: archived (with the right SHA-256) or failed with which reason,
//! after how many attempts, in how long. Prints the table RELIABILITY.md
//! keeps (`scripts/reliability` runs it with --nocapture).

mod common;

use std::time::{Duration, Instant};

use common::origin::{Fault, FileSpec, Origin};
use common::{jd_record_done, random_bytes, sha256_hex, Daemon};
use serde_json::Value;

/// What a case must end as.
enum Expect {
    Archived,
    /// Failed, the reason containing this.
    Failed(&'static str),
}

struct Case {
    name: &'static str,
    spec: FileSpec,
    expect: Expect,
}

fn case(name: &'static str, expect: Expect, f: impl FnOnce(&mut FileSpec)) -> Case {
    let mut spec = FileSpec::bytes(random_bytes(2 << 20, name.len() as u64));
    f(&mut spec);
    Case { name, spec, expect }
}

fn faults(f: Fault, n: usize) -> std::collections::VecDeque<Fault> {
    std::iter::repeat_n(f, n).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_origin_fault_ends_archived_or_failed_with_its_reason() {
    use Expect::*;
    let cases = [
        case("503 twice, then served", Archived, |s| {
            s.faults = faults(Fault::Status(503), 2)
        }),
        case("connection reset mid-body", Archived, |s| {
            s.faults = faults(Fault::ResetAt(1 << 20), 1)
        }),
        case("short body once", Archived, |s| {
            s.faults = faults(Fault::CloseAt(1 << 20), 1)
        }),
        case(
            "Content-Length never met (every body short)",
            Failed("resumed too often"),
            |s| s.faults = faults(Fault::CloseAt(1000), 1000),
        ),
        case("slow drip (64 KiB per 30 ms)", Archived, |s| {
            s.delay = Some(Duration::from_millis(30))
        }),
        case("404, then there", Archived, |s| {
            s.faults = faults(Fault::Status(404), 1)
        }),
        case("expired URL (403)", Failed("403"), |s| {
            s.faults = faults(Fault::Status(403), 100)
        }),
        case("HTML error page with 200", Failed("text/html"), |s| {
            s.content_type = Some("text/html; charset=utf-8".to_owned())
        }),
    ];
    let origin = Origin::start().await;
    let d = Daemon::start(
        "[transfer]\nworkers = 4\nmax_attempts = 3\nretry_initial_secs = 1\nretry_max_secs = 2\nrequest_timeout_secs = 5\n\
         [[sources]]\nname = \"jd\"\nprovider = \"jdcloud\"\ntoken = \"t\"\nallow_hosts = [\"127.0.0.1\"]\n",
    );
    let start = Instant::now();
    let mut urls = Vec::new();
    for (i, c) in cases.iter().enumerate() {
        let path = format!("/case{i}.flv");
        origin.put(&path, c.spec.clone());
        let url = origin.url(&path);
        let (status, reply) = d
            .post(
                "jd?token=t",
                Some("application/json"),
                jd_record_done(&url, &format!("case{i}")),
            )
            .await;
        assert_eq!(status, 200, "{reply}");
        urls.push(url);
    }
    // Every job ends, one way or the other.
    let jobs = loop {
        let jobs = d.all_items("/api/v1/jobs").await;
        if jobs.len() == cases.len()
            && jobs
                .iter()
                .all(|j| j["state"] == "done" || j["state"] == "failed")
        {
            break jobs;
        }
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "{jobs:#?}\n{}",
            d.log_text()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let catalog = d.all_items("/api/v1/catalog").await;
    println!("| origin fault | outcome | attempts | time to outcome |");
    println!("|---|---|---:|---:|");
    for (c, url) in cases.iter().zip(&urls) {
        let job: &Value = jobs
            .iter()
            .find(|j| j["origin"]["value"] == *url)
            .expect("a job per case");
        let took = chrono::DateTime::parse_from_rfc3339(job["updated_at"].as_str().unwrap())
            .unwrap()
            - chrono::DateTime::parse_from_rfc3339(job["created_at"].as_str().unwrap()).unwrap();
        let outcome = match &c.expect {
            Archived => {
                assert_eq!(job["state"], "done", "{}: {job:#}", c.name);
                let entry = catalog
                    .iter()
                    .find(|e| e["job_id"] == job["id"])
                    .expect("a catalog entry");
                let want = sha256_hex(&c.spec.content.slice(0, c.spec.content.len() as usize));
                assert_eq!(entry["sha256"], want.as_str(), "{}", c.name);
                "archived, SHA-256 matches".to_owned()
            }
            Failed(reason) => {
                assert_eq!(job["state"], "failed", "{}: {job:#}", c.name);
                let error = job["last_error"].as_str().unwrap_or("");
                assert!(error.contains(reason), "{}: {error}", c.name);
                assert!(
                    !catalog.iter().any(|e| e["job_id"] == job["id"]),
                    "{}: nothing archived",
                    c.name
                );
                let error = error.replace(&origin.addr, "origin");
                format!("failed: `{}`", error.chars().take(220).collect::<String>())
            }
        };
        println!(
            "| {} | {outcome} | {} | {:.1} s |",
            c.name,
            job["attempts"],
            took.num_milliseconds() as f64 / 1000.0
        );
    }
}
