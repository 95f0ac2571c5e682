//! The receiver's contract, over HTTP against the real daemon: who may call,
//! what is refused and kept, what is deduplicated, and what the API answers.

mod common;

use common::{client, fixture, Daemon};
use serde_json::{json, Value};

const SOURCES: &str = r#"
[transfer]
workers = 0
[[sources]]
name = "jd"
provider = "jdcloud"
token = "jd-token"

[[sources]]
name = "any"
provider = "auto"
token = "any-token"
"#;

fn record_done(url: &str) -> String {
    json!({
        "version": "v1.1", "publishDomain": "push.example.com", "appName": "live",
        "streamName": "s1", "event": "record_done", "status": "success", "format": "flv",
        "beginTime": 1553741853968u64, "endTime": 1553741935867u64, "downloadUrl": url
    })
    .to_string()
}

async fn count(d: &Daemon, path: &str) -> usize {
    d.all_items(path).await.len()
}

async fn assert_nothing_stored(d: &Daemon) {
    assert_eq!(count(d, "/api/v1/events").await, 0, "no event");
    assert_eq!(count(d, "/api/v1/jobs").await, 0, "no job");
}

#[tokio::test]
async fn healthz_answers_ok() {
    let d = Daemon::start(SOURCES);
    assert_eq!(d.get_json("/healthz").await, json!({"status": "ok"}));
}

#[tokio::test]
async fn a_wrong_or_missing_token_is_401_and_nothing_is_stored() {
    let d = Daemon::start(SOURCES);
    let body = record_done("http://h.example/a.flv");
    for path in [
        "jd",
        "jd?token=wrong",
        "jd?token=",
        "jd?token=jd-token-and-more",
    ] {
        let (status, reply) = d.post(path, Some("application/json"), body.clone()).await;
        assert_eq!(status, 401, "{path}: {reply}");
        assert_eq!(reply["code"], "unauthorized");
    }
    assert_nothing_stored(&d).await;
    assert_eq!(count(&d, "/api/v1/rejected").await, 0, "401 keeps nothing");
}

#[tokio::test]
async fn a_token_inside_the_body_is_not_a_credential() {
    // Senders copy the publisher's query arguments, token included, into the body.
    let d = Daemon::start(SOURCES);
    let body = json!({
        "version": "v1.1", "publishDomain": "p", "appName": "live", "streamName": "s",
        "event": "publish_started", "token": "jd-token", "pushParams": {"token": "jd-token"}
    })
    .to_string();
    let (status, _) = d.post("jd", Some("application/json"), body).await;
    assert_eq!(status, 401);
    assert_nothing_stored(&d).await;
}

#[tokio::test]
async fn the_token_header_is_accepted() {
    let d = Daemon::start(SOURCES);
    let r = client()
        .post(d.url("/callbacks/jd"))
        .header("X-Archiver-Token", "jd-token")
        .header("content-type", "application/json")
        .body(record_done("http://h.example/a.flv"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn an_unknown_source_is_404_and_nothing_is_stored() {
    let d = Daemon::start(SOURCES);
    let (status, reply) = d
        .post("nope?token=jd-token", Some("application/json"), "{}")
        .await;
    assert_eq!(status, 404);
    assert_eq!(reply["code"], "unknown_source");
    assert_nothing_stored(&d).await;
}

#[tokio::test]
async fn an_oversized_body_is_413_and_nothing_is_stored() {
    let d = Daemon::start(&format!("{SOURCES}\n"));
    let big = format!(
        "{{\"event\":\"publish_started\",\"pad\":\"{}\"}}",
        "x".repeat(70_000)
    );
    let (status, reply) = d
        .post("jd?token=jd-token", Some("application/json"), big)
        .await;
    assert_eq!(status, 413, "{reply}");
    assert_eq!(reply["code"], "body_too_large");
    assert_nothing_stored(&d).await;
}

#[tokio::test]
async fn a_body_we_cannot_read_is_400_with_a_reason_and_is_kept_whole() {
    let d = Daemon::start(SOURCES);
    let cases = [
        ("{\"event\": ", "malformed_body"),
        ("not a callback", "malformed_body"),
        ("{\"hello\": \"world\"}", "unknown_format"),
        ("{\"domain\":\"d\",\"event\":\"teleported\",\"status\":\"success\"}", "unknown_event"),
        ("{\"version\":\"v1.1\",\"event\":\"record_done\",\"status\":\"success\",\"beginTime\":\"soon\",\"downloadUrl\":\"http://h/a.flv\"}", "invalid_field"),
        ("", "empty_body"),
    ];
    for (body, code) in cases {
        let (status, reply) = d
            .post("any?token=any-token", Some("application/json"), body)
            .await;
        assert_eq!(status, 400, "{body:?}: {reply}");
        assert_eq!(reply["code"], code, "{body:?}: {reply}");
        assert!(reply["message"].as_str().is_some_and(|m| !m.is_empty()));
        let id = reply["rejected_id"]
            .as_str()
            .expect("rejected_id")
            .to_owned();
        let kept = d.all_items("/api/v1/rejected").await;
        let r = kept.iter().find(|r| r["id"] == json!(id)).expect("kept");
        assert_eq!(r["body"], json!(body));
        assert_eq!(r["source"], "any");
        assert_eq!(r["method"], "POST");
        assert_eq!(r["error_code"], code);
        assert_eq!(r["headers"]["content-type"], "application/json");
        assert!(
            !r["query"].as_str().unwrap().contains("any-token"),
            "our token is not kept"
        );
    }
    assert_nothing_stored(&d).await;
}

#[tokio::test]
async fn a_binary_body_is_kept_losslessly_as_hex() {
    let d = Daemon::start(SOURCES);
    let (status, reply) = d
        .post("any?token=any-token", None, vec![0xffu8, 0xfe, b'=', 0x00])
        .await;
    assert_eq!(status, 400, "{reply}");
    let kept = d.all_items("/api/v1/rejected").await;
    assert_eq!(kept[0]["body_hex"], "fffe3d00");
}

#[tokio::test]
async fn a_platform_retry_is_answered_200_as_a_duplicate_and_queued_once() {
    let d = Daemon::start(SOURCES);
    let body = record_done("http://h.example/rec/a.flv");
    let (s1, first) = d
        .post("jd?token=jd-token", Some("application/json"), body.clone())
        .await;
    let (s2, second) = d
        .post("jd?token=jd-token", Some("application/json"), body.clone())
        .await;
    assert_eq!((s1, s2), (200, 200));
    assert_eq!(first["duplicate"], json!(false));
    assert_eq!(second["duplicate"], json!(true));
    assert_eq!(second["code"], json!(0));
    assert_eq!(
        first["jobs"], second["jobs"],
        "the retry names the same job"
    );
    assert_eq!(count(&d, "/api/v1/jobs").await, 1);
    assert_eq!(
        count(&d, "/api/v1/events").await,
        2,
        "every callback is in the event log"
    );

    // The same file from another source is that source's own job.
    let (_, other) = d
        .post("any?token=any-token", Some("application/json"), body)
        .await;
    assert_eq!(other["duplicate"], json!(false));
    assert_eq!(count(&d, "/api/v1/jobs").await, 2);
}

#[tokio::test]
async fn a_failed_recording_is_recorded_but_never_archived() {
    let d = Daemon::start(SOURCES);
    let body = json!({
        "domain": "push.test.com", "app": "live", "stream": "s", "event": "record_part_done",
        "status": "fail", "errorMsg": "disk full"
    })
    .to_string();
    let (status, reply) = d
        .post("jd?token=jd-token", Some("application/json"), body)
        .await;
    assert_eq!(status, 200, "{reply}");
    let events = d.all_items("/api/v1/events").await;
    assert_eq!(events[0]["status"], "fail");
    assert_eq!(events[0]["error"], "disk full");
    assert_eq!(events[0]["job_id"], Value::Null);
    assert_eq!(count(&d, "/api/v1/jobs").await, 0);
}

#[tokio::test]
async fn a_json_array_body_records_every_callback_in_it() {
    let d = Daemon::start(SOURCES);
    let body = format!(
        "[{}, {}]",
        record_done("http://h.example/1.flv"),
        record_done("http://h.example/2.flv")
    );
    let (status, reply) = d
        .post("jd?token=jd-token", Some("application/json"), body)
        .await;
    assert_eq!(status, 200, "{reply}");
    assert_eq!(reply["events"].as_array().unwrap().len(), 2);
    assert_eq!(count(&d, "/api/v1/jobs").await, 2);
}

#[tokio::test]
async fn two_hundred_concurrent_callbacks_are_all_stored() {
    let d = Daemon::start(SOURCES);
    let mut tasks = Vec::new();
    for i in 0..200 {
        let url = d.url("/callbacks/jd?token=jd-token");
        let body = record_done(&format!("http://h.example/rec/{i}.flv"));
        tasks.push(tokio::spawn(async move {
            let r = client()
                .post(url)
                .header("content-type", "application/json")
                .body(body)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200);
            let v: Value = r.json().await.unwrap();
            v["events"][0].as_str().unwrap().to_owned()
        }));
    }
    let mut ids = Vec::new();
    for t in tasks {
        ids.push(t.await.unwrap());
    }
    let events = d.all_items("/api/v1/events").await;
    assert_eq!(events.len(), 200);
    for id in &ids {
        assert!(
            events.iter().any(|e| e["id"] == json!(id)),
            "event {id} stored"
        );
    }
    let jobs = d.all_items("/api/v1/jobs?state=queued").await;
    assert_eq!(jobs.len(), 200);
}

#[tokio::test]
async fn listings_page_newest_first_with_cursors() {
    let d = Daemon::start(SOURCES);
    for i in 0..5 {
        d.post(
            "jd?token=jd-token",
            Some("application/json"),
            record_done(&format!("http://h/{i}.flv")),
        )
        .await;
    }
    let p1 = d.get_json("/api/v1/jobs?limit=2").await;
    assert_eq!(p1["items"].as_array().unwrap().len(), 2);
    let c = p1["next_cursor"].as_str().expect("more pages").to_owned();
    let p2 = d
        .get_json(&format!("/api/v1/jobs?limit=2&cursor={c}"))
        .await;
    let p3 = d
        .get_json(&format!(
            "/api/v1/jobs?limit=2&cursor={}",
            p2["next_cursor"].as_str().unwrap()
        ))
        .await;
    assert_eq!(p3["items"].as_array().unwrap().len(), 1);
    assert_eq!(p3["next_cursor"], Value::Null);
    let origins: Vec<String> = [&p1, &p2, &p3]
        .iter()
        .flat_map(|p| p["items"].as_array().unwrap().clone())
        .map(|j| j["origin"]["value"].as_str().unwrap().to_owned())
        .collect();
    let expected: Vec<String> = (0..5).rev().map(|i| format!("http://h/{i}.flv")).collect();
    assert_eq!(origins, expected, "newest first, each once");
    for j in p1["items"].as_array().unwrap() {
        for field in [
            "id",
            "state",
            "attempts",
            "next_attempt_at",
            "last_error",
            "event_id",
            "origin",
            "created_at",
            "updated_at",
        ] {
            assert!(j.get(field).is_some(), "job shows {field}: {j}");
        }
        assert!(
            j["created_at"].as_str().unwrap().ends_with('Z'),
            "RFC 3339 UTC"
        );
    }
}

#[tokio::test]
async fn unknown_query_values_are_400_not_an_empty_list() {
    let d = Daemon::start(SOURCES);
    for path in [
        "/api/v1/events?kind=bogus",
        "/api/v1/jobs?state=sleeping",
        "/api/v1/jobs?limit=0",
        "/api/v1/jobs?limit=lots",
        "/api/v1/events?cursor=not-a-cursor",
        "/api/v1/events?strem=typo",
        "/api/v1/streams?live=maybe",
    ] {
        let r = d.http().get(d.url(path)).send().await.unwrap();
        assert_eq!(r.status(), 400, "{path}");
        let v: Value = r.json().await.unwrap();
        assert!(
            v["code"].is_string() && v["message"].is_string(),
            "{path}: {v}"
        );
    }
}

#[tokio::test]
async fn events_filter_by_stream_and_kind() {
    let d = Daemon::start(SOURCES);
    d.post(
        "jd?token=jd-token",
        Some("application/json"),
        record_done("http://h/a.flv"),
    )
    .await;
    d.post(
        "any?token=any-token",
        Some("application/json"),
        fixture("ksyun_pub_start.json"),
    )
    .await;
    let ready = d.all_items("/api/v1/events?kind=recording_ready").await;
    assert_eq!(ready.len(), 1);
    let test_stream = d
        .all_items("/api/v1/events?stream=test&domain=xxx.xxx.com&app=live")
        .await;
    assert_eq!(test_stream.len(), 1);
    assert_eq!(test_stream[0]["provider"], "ksyun");
    assert_eq!(d.all_items("/api/v1/events?source=jd").await.len(), 1);
}

#[tokio::test]
async fn streams_are_live_between_start_and_stop_even_out_of_order() {
    let d = Daemon::start(SOURCES);
    let ev = |event: &str, t: u64| {
        json!({"version":"v1.1","publishDomain":"p.example","appName":"live","streamName":"s9",
               "event": event, "status":"success","eventTime": t})
        .to_string()
    };
    d.post(
        "jd?token=jd-token",
        Some("application/json"),
        ev("publish_started", 1_700_000_000_000),
    )
    .await;
    let s = d.get_json("/api/v1/streams").await;
    assert_eq!(s["items"][0]["live"], json!(true), "{s}");
    assert_eq!(s["items"][0]["last_started_at"], "2023-11-14T22:13:20.000Z");
    // A stop from before the start arrives late: still live.
    d.post(
        "jd?token=jd-token",
        Some("application/json"),
        ev("publish_done", 1_699_999_999_000),
    )
    .await;
    assert_eq!(
        d.get_json("/api/v1/streams?live=true").await["items"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    d.post(
        "jd?token=jd-token",
        Some("application/json"),
        ev("publish_done", 1_700_000_100_000),
    )
    .await;
    let s = d.get_json("/api/v1/streams").await;
    let item = &s["items"][0];
    assert_eq!(item["live"], json!(false));
    for f in [
        "source",
        "domain",
        "app",
        "stream",
        "last_started_at",
        "last_stopped_at",
    ] {
        assert!(!item[f].is_null(), "{f}: {item}");
    }
}

#[tokio::test]
async fn errors_for_unknown_routes_are_json() {
    let d = Daemon::start(SOURCES);
    let r = client().get(d.url("/nothing/here")).send().await.unwrap();
    assert_eq!(r.status(), 404);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["code"], "no_route");
}

#[tokio::test]
async fn a_source_accepts_every_token_in_its_rotation_and_nothing_else() {
    let d = Daemon::start(
        "[transfer]\nworkers = 0\n[[sources]]\nname = \"jd\"\nprovider = \"jdcloud\"\ntoken = \"old-token\"\ntokens = [\"new-token\"]\n",
    );
    let body = || record_done("http://h.example/a.flv");
    assert_eq!(
        d.post("jd?token=old-token", Some("application/json"), body())
            .await
            .0,
        200
    );
    assert_eq!(
        d.post("jd?token=new-token", Some("application/json"), body())
            .await
            .0,
        200
    );
    assert_eq!(
        d.post("jd?token=older-token", Some("application/json"), body())
            .await
            .0,
        401
    );
}

#[tokio::test]
async fn a_flood_from_one_source_is_answered_429_while_another_source_still_gets_200() {
    // A refill of one per 1000 s: within the test, exactly the burst passes.
    let d = Daemon::start(concat!(
        "[transfer]\nworkers = 0\n",
        "[[sources]]\nname = \"noisy\"\nprovider = \"jdcloud\"\ntoken = \"n\"\nrate_per_sec = 0.001\nrate_burst = 5\n",
        "[[sources]]\nname = \"guarded\"\nprovider = \"jdcloud\"\ntoken = \"g\"\nrate_per_sec = 0.001\nrate_burst = 3\n",
        "[[sources]]\nname = \"calm\"\nprovider = \"jdcloud\"\ntoken = \"c\"\n",
    ));
    let mut statuses = Vec::new();
    for i in 0..40 {
        let (status, reply) = d
            .post(
                "noisy?token=n",
                Some("application/json"),
                record_done(&format!("http://h/{i}.flv")),
            )
            .await;
        if status == 429 {
            assert_eq!(reply["code"], "rate_limited");
        }
        statuses.push(status);
    }
    assert_eq!(
        statuses.iter().filter(|&&s| s == 200).count(),
        5,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|&&s| s == 429).count(),
        35,
        "{statuses:?}"
    );
    assert_eq!(
        count(&d, "/api/v1/events?source=noisy").await,
        5,
        "nothing stored for a 429"
    );
    let (status, _) = d
        .post(
            "calm?token=c",
            Some("application/json"),
            record_done("http://h/calm.flv"),
        )
        .await;
    assert_eq!(status, 200, "another source is not starved");

    // An unauthenticated flood does not spend a source's quota.
    for _ in 0..20 {
        assert_eq!(
            d.post("guarded?token=wrong", Some("application/json"), "{}")
                .await
                .0,
            401
        );
    }
    for i in 0..3 {
        let (status, _) = d
            .post(
                "guarded?token=g",
                Some("application/json"),
                record_done(&format!("http://h/g{i}.flv")),
            )
            .await;
        assert_eq!(status, 200);
    }
    assert_eq!(d.get_json("/healthz").await["status"], "ok");
}

/// An Alibaba-signed request: md5hex("{host}|{timestamp}|{key}"), the host
/// the callback URL's, without its port.
async fn post_signed(d: &Daemon, source: &str, key: &str, age_secs: i64) -> u16 {
    use md5::Digest;
    let host = "127.0.0.1";
    let ts = (chrono::Utc::now().timestamp() - age_secs).to_string();
    let sig: String = md5::Md5::digest(format!("{host}|{ts}|{key}").as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    client()
        .post(d.url(&format!("/callbacks/{source}")))
        .header("content-type", "application/json")
        .header("ALI-LIVE-TIMESTAMP", ts)
        .header("ALI-LIVE-SIGNATURE", sig)
        .body(fixture("aliyun_record_started.json"))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test]
async fn alibaba_signatures_are_verified_with_a_freshness_window() {
    let d = Daemon::start(concat!(
        "[transfer]\nworkers = 0\n",
        "[[sources]]\nname = \"ali\"\nprovider = \"aliyun\"\nsign_key = \"ali-key\"\nauth = \"signature\"\n",
        "[[sources]]\nname = \"both\"\nprovider = \"aliyun\"\ntoken = \"t\"\nsign_key = \"ali-key\"\n",
    ));
    assert_eq!(
        post_signed(&d, "ali", "ali-key", 0).await,
        200,
        "a fresh, right signature"
    );
    assert_eq!(
        post_signed(&d, "ali", "ali-key", 10).await,
        200,
        "within the window"
    );
    assert_eq!(post_signed(&d, "ali", "ali-key", 301).await, 401, "stale");
    assert_eq!(
        post_signed(&d, "ali", "other-key", 0).await,
        401,
        "wrong key"
    );
    let (unsigned, _) = d
        .post(
            "ali",
            Some("application/json"),
            fixture("aliyun_record_started.json"),
        )
        .await;
    assert_eq!(unsigned, 401, "unsigned");
    // With a sign_key and a token, both are required by default.
    assert_eq!(
        post_signed(&d, "both", "ali-key", 0).await,
        401,
        "signature without the token"
    );
    let (token_only, _) = d
        .post(
            "both?token=t",
            Some("application/json"),
            fixture("aliyun_record_started.json"),
        )
        .await;
    assert_eq!(token_only, 401, "token without the signature");
    assert_eq!(
        count(&d, "/api/v1/events").await,
        2,
        "only the two accepted callbacks are stored"
    );
    assert!(!d.log_text().contains("ali-key"));
}
