//! Retention keeps the state bounded: events, done jobs (with their dedupe
//! keys) and rejected requests go once past their keeping; the catalog and
//! failed jobs stay, and so does the event a kept job needs. The real
//! daemon, with a retention of seconds (fractions of a day).

mod common;

use std::time::{Duration, Instant};

use common::origin::{Fault, FileSpec, Origin};
use common::{jd_record_done, random_bytes, Daemon};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_is_past_its_keeping_is_pruned_and_the_catalog_stays() {
    let origin = Origin::start().await;
    origin.put("/ok.flv", FileSpec::bytes(random_bytes(4096, 1)));
    let mut refused = FileSpec::bytes(random_bytes(4096, 2));
    refused.faults = std::iter::repeat_n(Fault::Status(403), 20).collect();
    origin.put("/refused.flv", refused);
    // 0.00003 days: about 2.6 s.
    let dir = tempfile::tempdir().unwrap();
    let keep = "0.00003";
    let d = Daemon::start_with_env(
        dir.path(),
        "[transfer]\nretry_initial_secs = 1\n\
         [[sources]]\nname = \"jd\"\nprovider = \"jdcloud\"\ntoken = \"t\"\nallow_hosts = [\"127.0.0.1\"]\n",
        &[
            ("RECORDING_ARCHIVER__STATE__KEEP_EVENTS_DAYS", keep),
            ("RECORDING_ARCHIVER__STATE__KEEP_FINISHED_JOBS_DAYS", keep),
            ("RECORDING_ARCHIVER__STATE__KEEP_REJECTED_DAYS", keep),
            ("RECORDING_ARCHIVER__STATE__PRUNE_EVERY_SECS", "1"),
        ],
    );
    let post = |body: String| d.post("jd?token=t", Some("application/json"), body);
    for i in 0..5 {
        let body = json!({"version": "v1.1", "publishDomain": "push.example.com", "appName": "live",
            "streamName": format!("s{i}"), "event": "publish_started", "status": "success"});
        assert_eq!(post(body.to_string()).await.0, 200);
    }
    let done = jd_record_done(&origin.url("/ok.flv"), "ok");
    assert_eq!(post(done.clone()).await.0, 200);
    assert_eq!(
        post(jd_record_done(&origin.url("/refused.flv"), "no"))
            .await
            .0,
        200
    );
    assert_eq!(post("{\"hello\": 1}".to_owned()).await.0, 400);
    assert_eq!(d.all_items("/api/v1/events").await.len(), 7);
    assert_eq!(d.all_items("/api/v1/rejected").await.len(), 1);

    let start = Instant::now();
    loop {
        let jobs = d.all_items("/api/v1/jobs").await;
        let events = d.all_items("/api/v1/events").await;
        let rejected = d.all_items("/api/v1/rejected").await;
        if jobs.len() == 1 && events.len() == 1 && rejected.is_empty() {
            assert_eq!(jobs[0]["state"], "failed", "{jobs:#?}");
            assert_eq!(
                events[0]["id"], jobs[0]["event_id"],
                "the failed job keeps its event"
            );
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "jobs {jobs:#?}\nevents {}\nrejected {}\n{}",
            events.len(),
            rejected.len(),
            d.log_text()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let catalog = d.all_items("/api/v1/catalog").await;
    assert_eq!(catalog.len(), 1, "the catalog is kept: {catalog:#?}");
    assert!(d.log_text().contains("pruned the state store"));

    // The pruned job's dedupe key went with it: the same file announced
    // again is a new job, and it archives (the same bytes are found in place).
    let (status, reply) = post(done).await;
    assert_eq!(status, 200);
    assert_eq!(reply["duplicate"], false, "{reply}");
}
