//! A callback answered 200 is never lost: SIGKILL the real daemon while
//! callbacks are still arriving, restart it on the same state directory, and
//! find every acknowledged event and job.

mod common;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use common::{client, Daemon};
use serde_json::{json, Value};

const SOURCES: &str = r#"
[transfer]
workers = 0
[[sources]]
name = "jd"
provider = "jdcloud"
token = "jd-token"
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_acknowledged_callback_survives_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let mut d = Daemon::start_in(dir.path(), SOURCES);
    // (event id, job id) of every callback answered 200.
    type Acked = Vec<(String, Option<String>)>;
    let acked: Arc<Mutex<Acked>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let sent = Arc::new(AtomicUsize::new(0));
    const TARGET: usize = 600;

    let mut senders = Vec::new();
    for worker in 0..24 {
        let (acked, stop, sent) = (Arc::clone(&acked), Arc::clone(&stop), Arc::clone(&sent));
        let url = d.url("/callbacks/jd?token=jd-token");
        senders.push(tokio::spawn(async move {
            let http = client();
            while !stop.load(Ordering::SeqCst) {
                let n = sent.fetch_add(1, Ordering::SeqCst);
                // Alternate recordings (event + job) and stream starts (event only).
                let body = if n % 2 == 0 {
                    json!({"version":"v1.1","publishDomain":"p","appName":"live","streamName":format!("s{worker}"),
                           "event":"record_done","status":"success",
                           "downloadUrl": format!("http://h.example/{n}.flv")})
                } else {
                    json!({"version":"v1.1","publishDomain":"p","appName":"live","streamName":format!("s{worker}"),
                           "event":"publish_started","status":"success"})
                };
                let Ok(r) = http.post(&url).header("content-type", "application/json").body(body.to_string()).send().await else {
                    break; // the daemon is gone
                };
                if r.status() != 200 {
                    break;
                }
                let Ok(v) = r.json::<Value>().await else { break };
                let event = v["events"][0].as_str().unwrap().to_owned();
                let job = v["jobs"][0].as_str().map(str::to_owned);
                let mut a = acked.lock().unwrap();
                a.push((event, job));
                if a.len() >= TARGET {
                    stop.store(true, Ordering::SeqCst);
                }
            }
        }));
    }
    // Kill the moment enough 200s are in, with other requests in flight.
    while !stop.load(Ordering::SeqCst) {
        tokio::time::sleep(std::time::Duration::from_millis(1)).await;
    }
    d.kill9();
    for s in senders {
        let _ = s.await;
    }
    let acked = acked.lock().unwrap().clone();
    assert!(acked.len() >= TARGET);

    let d = Daemon::start_in(dir.path(), SOURCES);
    let events = d.all_items("/api/v1/events").await;
    let jobs = d.all_items("/api/v1/jobs").await;
    let event_ids: std::collections::HashSet<&str> =
        events.iter().map(|e| e["id"].as_str().unwrap()).collect();
    let job_ids: std::collections::HashSet<&str> =
        jobs.iter().map(|j| j["id"].as_str().unwrap()).collect();
    let mut jobs_expected = 0;
    for (event, job) in &acked {
        assert!(
            event_ids.contains(event.as_str()),
            "acknowledged event {event} lost"
        );
        if let Some(job) = job {
            jobs_expected += 1;
            assert!(
                job_ids.contains(job.as_str()),
                "acknowledged job {job} lost"
            );
        }
    }
    assert!(jobs_expected > 0);
    assert!(jobs.iter().all(|j| j["state"] == "queued"));
}
