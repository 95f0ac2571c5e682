//! Every example in the platforms' callback documents, verbatim from
//! tests/fixtures/, posted over HTTP to the real daemon and checked as
//! normalized — once to a source with the platform's provider, once to an
//! `auto` source.

mod common;

use common::{fixture, Daemon};
use serde_json::{json, Value};

const SOURCES: &str = r#"
[transfer]
workers = 0
[[sources]]
name = "jd"
provider = "jdcloud"
token = "jd-token"

[[sources]]
name = "ali"
provider = "aliyun"
token = "ali-token"

[[sources]]
name = "ks"
provider = "ksyun"
token = "ks-token"

[[sources]]
name = "any"
provider = "auto"
token = "any-token"
"#;

/// Asserts that every member of `expected` is in `actual` with the same value.
fn assert_subset(actual: &Value, expected: &Value, path: &str) {
    match (actual, expected) {
        (Value::Object(a), Value::Object(e)) => {
            for (k, ev) in e {
                let av = a.get(k).unwrap_or(&Value::Null);
                assert_subset(av, ev, &format!("{path}.{k}"));
            }
        }
        (Value::Array(a), Value::Array(e)) => {
            assert_eq!(a.len(), e.len(), "{path}: {actual} vs {expected}");
            for (i, (av, ev)) in a.iter().zip(e).enumerate() {
                assert_subset(av, ev, &format!("{path}[{i}]"));
            }
        }
        _ => assert_eq!(actual, expected, "at {path}"),
    }
}

/// Posts a body and returns the stored event(s) it produced.
async fn post_and_fetch(
    d: &Daemon,
    source: &str,
    token: &str,
    ct: Option<&str>,
    body: &str,
) -> Vec<Value> {
    let (status, reply) = d
        .post(&format!("{source}?token={token}"), ct, body.to_owned())
        .await;
    assert_eq!(status, 200, "{source}: {reply}");
    assert_eq!(reply["code"], json!(0), "{reply}");
    let ids: Vec<String> = reply["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect();
    assert!(!ids.is_empty());
    let all = d
        .all_items(&format!("/api/v1/events?source={source}"))
        .await;
    ids.iter()
        .map(|id| {
            all.iter()
                .find(|e| e["id"] == json!(id))
                .cloned()
                .expect("event listed")
        })
        .collect()
}

/// Posts `body` to the platform's own source and to the `auto` one, checks
/// both against `expected`, and that both created a job exactly when asked.
async fn check(
    d: &Daemon,
    source: &str,
    token: &str,
    ct: Option<&str>,
    body: &str,
    expected: Value,
) {
    for (s, t) in [(source, token), ("any", "any-token")] {
        let events = post_and_fetch(d, s, t, ct, body).await;
        assert_eq!(events.len(), 1);
        let e = &events[0];
        assert_subset(e, &expected, s);
        assert_eq!(e["raw"], json!(body), "the raw body is kept");
        let archivable =
            expected["kind"] == "recording_ready" || expected["kind"] == "snapshot_ready";
        assert_eq!(
            e["job_id"].is_string(),
            archivable,
            "{s}: job only for files: {e}"
        );
        if archivable {
            let job = d
                .get_json(&format!("/api/v1/jobs/{}", e["job_id"].as_str().unwrap()))
                .await;
            assert_eq!(job["state"], "queued");
            assert_eq!(job["attempts"], 0);
            assert_eq!(job["origin"], expected["file"]["location"]);
            // A file already queued by this source links to the first event's job.
            if e["duplicate"] == json!(true) {
                assert_ne!(job["event_id"], e["id"]);
            } else {
                assert_eq!(job["event_id"], e["id"]);
            }
        }
    }
}

/// The doc tables wrap JSON in HTML line breaks; a real sender sends the
/// JSON alone. Both must be accepted.
fn without_html_breaks(s: &str) -> String {
    s.replace("<br/>", "").replace("<br>", "")
}

/// Checks a JD v1.1 doc example as the doc shows it and as a sender sends it.
async fn check_jd_doc_example(d: &Daemon, name: &str, expected: Value) {
    let verbatim = fixture(name);
    for body in [verbatim.clone(), without_html_breaks(&verbatim)] {
        check(
            d,
            "jd",
            "jd-token",
            Some("application/json"),
            &body,
            expected.clone(),
        )
        .await;
    }
}

#[tokio::test]
async fn jd_legacy_record_part_done_with_every_quirk() {
    // Padded, upper-case event; "sucess"; a URL on its own lines; seconds as
    // padded strings; a trailing comma; no-break spaces between tokens.
    let d = Daemon::start(SOURCES);
    let expected = json!({
        "provider": "jdcloud", "kind": "recording_ready", "platform_event": "RECORD_PART_DONE",
        "status": "success", "domain": "push.test.com", "app": "appname", "stream": "streamname",
        "occurred_at": "2018-04-23T09:50:14.000Z",
        "file": {
            "location": {"type": "path", "value": "bucketname/record/20180423/push.test.com/app/live/20180423174942_20180423180942.flv"},
            "started_at": "2018-04-23T09:49:42.000Z", "ended_at": "2018-04-23T09:50:14.000Z",
            "duration_s": 32.0, "format": "flv"
        }
    });
    for name in [
        "jdcloud_legacy_record_part_done.json",
        "jdcloud_legacy_record_part_done_vod_doc.json",
    ] {
        let body = fixture(name);
        check(
            &d,
            "jd",
            "jd-token",
            Some("application/json"),
            &body,
            expected.clone(),
        )
        .await;
    }
}

#[tokio::test]
async fn jd_v1_1_publish_started_and_done() {
    let d = Daemon::start(SOURCES);
    for (name, kind, event) in [
        (
            "jdcloud_v1_1_publish_started.json",
            "stream_started",
            "publish_started",
        ),
        (
            "jdcloud_v1_1_publish_done.json",
            "stream_stopped",
            "publish_done",
        ),
    ] {
        let mut expected = json!({
            "provider": "jdcloud", "kind": kind, "platform_event": event, "status": "success",
            "domain": "push.yourdomain.com", "app": "live", "stream": "350802",
            // eventTime is documented in milliseconds.
            "occurred_at": "1970-05-23T12:05:12.312Z", "file": null
        });
        if kind == "stream_started" {
            expected["client_ip"] = json!("12.11.112.34");
            expected["params"] = json!({"a": "aaa", "b": "bbb", "c": "ccc"});
        }
        check_jd_doc_example(&d, name, expected).await;
    }
}

#[tokio::test]
async fn jd_v1_1_auto_recording_with_broken_url_missing_comma_and_curly_quote() {
    let d = Daemon::start(SOURCES);
    let expected = json!({
        "provider": "jdcloud", "kind": "recording_ready", "platform_event": "record_done",
        "status": "success", "domain": "push.yourdomain.com", "app": "live", "stream": "350802",
        "file": {
            "location": {"type": "url", "value": "http://s3.cn-north-1.jcloudcs.com/jd-video-formal/record/20190319/57/live/62caee8d6c595e9441be/20190319175419_20190319175422.flv"},
            "size": 6007851133u64, "format": "flv", "duration_s": 18439.0,
            "started_at": "2019-03-28T02:57:33.968Z", "ended_at": "2019-03-28T02:58:55.867Z"
        }
    });
    check_jd_doc_example(&d, "jdcloud_v1_1_record_done_auto.json", expected).await;
}

#[tokio::test]
async fn jd_v1_1_point_recording_keeps_its_group() {
    let d = Daemon::start(SOURCES);
    let expected = json!({
        "provider": "jdcloud", "kind": "recording_ready", "status": "success",
        "stream": "350802",
        "file": {
            "location": {"type": "url", "value": "http://s3.cn-north-1.jcloudcs.com/ngwcloud1oss/record/20190322/jdpush.jd.com/live/347031/20190322122547_20190322173152.mp4"},
            "size": 6007851133u64, "format": "flv",
            "group": [
                {"started_at": "2019-03-22T04:25:47.000Z", "ended_at": "2019-03-22T04:25:47.100Z"},
                {"started_at": "2019-03-22T04:25:47.200Z", "ended_at": "2019-03-22T04:25:47.300Z"}
            ]
        }
    });
    check_jd_doc_example(&d, "jdcloud_v1_1_record_done_point.json", expected).await;
}

#[tokio::test]
async fn jd_v1_1_snapshot_without_an_event_name() {
    let d = Daemon::start(SOURCES);
    let expected = json!({
        "provider": "jdcloud", "kind": "snapshot_ready", "status": "success",
        "domain": "push.yourdomain.com", "app": "jw", "stream": "210235T85E3188001452",
        "occurred_at": "2019-03-29T02:30:18.026Z",
        "file": {
            "location": {"type": "url", "value": "http://s3.cn-north-1.jcloudcs.com/jd-video-formal/snapshot/20190328/43/jw/210235T85E3188001452.jpg"},
            "format": "jpg", "ended_at": "2019-03-29T02:30:18.026Z"
        }
    });
    check_jd_doc_example(&d, "jdcloud_v1_1_snapshot.json", expected).await;
}

#[tokio::test]
async fn aliyun_recording_status() {
    let d = Daemon::start(SOURCES);
    let expected = json!({
        "provider": "aliyun", "kind": "recording_started", "platform_event": "record_started",
        "status": "success", "domain": "gs_domain", "app": "gs_app", "stream": "gs_stream", "file": null
    });
    check(
        &d,
        "ali",
        "ali-token",
        Some("application/json"),
        &fixture("aliyun_record_started.json"),
        expected,
    )
    .await;
}

#[tokio::test]
async fn aliyun_recording_generated_in_seconds_with_push_args() {
    let d = Daemon::start(SOURCES);
    let expected = json!({
        "provider": "aliyun", "kind": "recording_ready", "status": "success",
        "domain": "demo.aliyundoc.com", "app": "liveApp****", "stream": "liveStream****",
        "occurred_at": "2017-03-08T15:10:40.000Z",
        "params": {"callback_args1": "value1", "callback_myid": "1231389741"},
        "file": {
            "location": {"type": "path", "value": "liveApp****/liveStream****/0_2017-03-08-23:09:46_2017-03-08-23:10:40.flv"},
            "duration_s": 69.403, "format": "flv",
            "started_at": "2017-03-08T15:09:46.000Z", "ended_at": "2017-03-08T15:10:40.000Z"
        }
    });
    check(
        &d,
        "ali",
        "ali-token",
        Some("application/json"),
        &fixture("aliyun_record_generated.json"),
        expected,
    )
    .await;
}

#[tokio::test]
async fn aliyun_stream_ingest_get_callbacks() {
    let d = Daemon::start(SOURCES);
    for (name, kind, at) in [
        (
            "aliyun_stream_ingest_publish.query",
            "stream_started",
            "2020-12-29T05:39:45.000Z",
        ),
        (
            "aliyun_stream_ingest_publish_done.query",
            "stream_stopped",
            "2020-12-29T05:40:45.000Z",
        ),
    ] {
        let query = fixture(name);
        for (source, token) in [("ali", "ali-token"), ("any", "any-token")] {
            let r = common::client()
                .get(d.url(&format!("/callbacks/{source}?{query}&token={token}")))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200);
            let reply: Value = r.json().await.unwrap();
            assert_eq!(reply["code"], json!(0));
            let events = d
                .all_items(&format!("/api/v1/events?source={source}&kind={kind}"))
                .await;
            let e = &events[0];
            assert_subset(
                e,
                &json!({
                    "provider": "aliyun", "kind": kind, "domain": "demo.aliyundoc.com", "app": "liveApp",
                    "stream": "liveStream", "client_ip": "42.120.74.183", "occurred_at": at
                }),
                source,
            );
            assert_eq!(e["params"]["vhost"], "demo.aliyundoc.com");
            assert!(
                !e["raw"].as_str().unwrap().contains("token"),
                "our token is not kept: {e}"
            );
        }
    }
    let streams = d.get_json("/api/v1/streams?source=ali").await;
    assert_eq!(streams["items"][0]["live"], json!(false), "{streams}");
}

#[tokio::test]
async fn ksyun_new_json_string_start_and_number_end_times() {
    let d = Daemon::start(SOURCES);
    check(&d, "ks", "ks-token", Some("application/json"), &fixture("ksyun_pub_start.json"), json!({
        "provider": "ksyun", "kind": "stream_started", "platform_event": "PubStart",
        "domain": "xxx.xxx.com", "app": "live", "stream": "test", "client_ip": null,
        "occurred_at": "2016-03-01T02:40:10.000Z", "params": {"param1": "123456", "param2": "11"}
    })).await;
    check(
        &d,
        "ks",
        "ks-token",
        Some("application/json"),
        &fixture("ksyun_pub_end.json"),
        json!({
            "provider": "ksyun", "kind": "stream_stopped", "platform_event": "PubEnd",
            "domain": "xxx.xxx.com", "app": "live", "stream": "test",
            "occurred_at": "2016-03-01T02:40:10.000Z"
        }),
    )
    .await;
}

#[tokio::test]
async fn ksyun_old_form_bodies_with_and_without_content_type() {
    let d = Daemon::start(SOURCES);
    for ct in [None, Some("application/x-www-form-urlencoded")] {
        for (name, kind, event) in [
            (
                "ksyun_old_user_publish.form",
                "stream_started",
                "user_publish",
            ),
            (
                "ksyun_old_user_publish_done.form",
                "stream_stopped",
                "user_publish_done",
            ),
        ] {
            check(
                &d,
                "ks",
                "ks-token",
                ct,
                &fixture(name),
                json!({
                    "provider": "ksyun", "kind": kind, "platform_event": event,
                    "domain": "test.uplive.ks-cdn.com", "app": "live", "stream": "asdf"
                }),
            )
            .await;
        }
    }
}
