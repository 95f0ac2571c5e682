//! Huawei Cloud Live, Volcengine live and Tencent CSS, through the real
//! daemon: every example of their callback documents (tests/fixtures/)
//! accepted on the platform's source and on an `auto` source, their
//! signatures checked (a wrong or stale one is 401), and recordings
//! archived end to end from a real HTTP origin and from a real S3 bucket.

mod common;

use std::time::{SystemTime, UNIX_EPOCH};

use common::origin::{FileSpec, Origin};
use common::s3::S3Server;
use common::{catalog_of, fixture, md5_hex, random_bytes, sha256_hex, Daemon};
use hmac::{Hmac, KeyInit, Mac};
use serde_json::{json, Value};

const SOURCES: &str = r#"
[transfer]
workers = 0
[[sources]]
name = "hw"
provider = "huawei"
token = "t"

[[sources]]
name = "vc"
provider = "volcengine"
token = "t"

[[sources]]
name = "tc"
provider = "tencent"
token = "t"

[[sources]]
name = "any"
provider = "auto"
token = "t"
"#;

/// Signed sources: the platform's own and an `auto` one, with one key.
const SIGNED: &str = r#"
[transfer]
workers = 0
[[sources]]
name = "hw"
provider = "huawei"
token = "t"
sign_key = "0123456789abcdef0123456789abcdef"
sign_window_secs = 300

[[sources]]
name = "vc"
provider = "volcengine"
token = "t"
sign_key = "0123456789abcdef0123456789abcdef"
sign_window_secs = 300

[[sources]]
name = "any"
provider = "auto"
token = "t"
sign_key = "0123456789abcdef0123456789abcdef"
sign_window_secs = 300
"#;

const KEY: &str = "0123456789abcdef0123456789abcdef";

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn hmac_hex(key: &str, data: &str) -> String {
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(key.as_bytes()).unwrap();
    mac.update(data.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

/// Asserts that every member of `expected` is in `actual` with the same value.
fn assert_subset(actual: &Value, expected: &Value, path: &str) {
    match (actual, expected) {
        (Value::Object(a), Value::Object(e)) => {
            for (k, ev) in e {
                assert_subset(a.get(k).unwrap_or(&Value::Null), ev, &format!("{path}.{k}"));
            }
        }
        _ => assert_eq!(actual, expected, "at {path}"),
    }
}

/// Posts `body` to `source` and to the `auto` source; checks both stored
/// events against `expected` and that a job was made exactly for files.
async fn check(d: &Daemon, source: &str, body: &str, expected: Value) {
    for s in [source, "any"] {
        let (status, reply) = d
            .post(
                &format!("{s}?token=t"),
                Some("application/json"),
                body.to_owned(),
            )
            .await;
        assert_eq!(status, 200, "{s}: {reply}");
        let id = reply["events"][0].as_str().expect("an event id").to_owned();
        let events = d.all_items(&format!("/api/v1/events?source={s}")).await;
        let e = events
            .iter()
            .find(|e| e["id"] == json!(id))
            .expect("listed");
        assert_subset(e, &expected, s);
        let archivable = expected["kind"] == "recording_ready";
        assert_eq!(e["job_id"].is_string(), archivable, "{s}: {e}");
        if archivable && !expected["file"]["location"].is_null() {
            let job = d
                .get_json(&format!("/api/v1/jobs/{}", e["job_id"].as_str().unwrap()))
                .await;
            assert_eq!(job["origin"], expected["file"]["location"], "{s}");
        }
    }
}

#[tokio::test]
async fn huawei_documented_recording_and_push_examples() {
    let d = Daemon::start(SOURCES);
    check(&d, "hw", &fixture("huawei_record_file_complete.json"), json!({
        "provider": "huawei", "kind": "recording_ready", "platform_event": "RECORD_FILE_COMPLETE",
        "status": "success", "domain": "push.example.com", "app": "live", "stream": "mystream",
        "file": {
            "location": {"type": "url", "value": "https://obs.cn-north-4.myhuaweicloud.com/live/record-xxxx-mystream-1589967495/record-push.example.com-live-mystream-1589967495.m3u8"},
            "size": 3957964, "format": "hls", "duration_s": 120.0,
            "started_at": "2020-03-08T14:10:25.000Z", "ended_at": "2020-03-08T14:12:25.000Z",
            "platform_facts": {"asset_id": "1a0d8e9bfaexxxxxxbe5021e62aa1e96",
                "task_id": "51126d0ebe94b1da00d2e21a10xxxxxx", "obs_bucket": "mybucket"}
        }
    })).await;
    // The push example: a missing comma after "event" and a comma inside
    // "publish_timestamp", as the document prints them.
    check(
        &d,
        "hw",
        &fixture("huawei_publish.json"),
        json!({
            "provider": "huawei", "kind": "stream_started", "platform_event": "PUBLISH",
            "domain": "push.example.com", "app": "live", "stream": "example_stream",
            "client_ip": "100.111.*.*", "occurred_at": "2020-04-27T02:22:14.000Z",
            "params": {"cdn": "hw", "node_ip": "112.11.*.*"}, "file": null
        }),
    )
    .await;
    let done = fixture("huawei_publish.json").replace("\"PUBLISH\"", "\"PUBLISH_DONE\"");
    check(
        &d,
        "hw",
        &done,
        json!({"provider": "huawei", "kind": "stream_stopped"}),
    )
    .await;
    for (name, kind, status) in [
        ("RECORD_NEW_FILE_START", "recording_started", "success"),
        ("RECORD_OVER", "recording_stopped", "success"),
        ("RECORD_FAILED", "recording_stopped", "fail"),
    ] {
        let body = format!(
            r#"{{"project_id":"p","task_id":"t1","event_type":"{name}","publish_domain":"push.example.com",
                "app":"live","stream":"mystream","record_format":"FLV"}}"#
        );
        check(&d, "hw", &body, json!({
            "provider": "huawei", "kind": kind, "status": status, "stream": "mystream", "file": null
        }))
        .await;
    }
}

#[tokio::test]
async fn volcengine_documented_push_example_and_a_recording() {
    let d = Daemon::start(SOURCES);
    for name in [
        "volcengine_push_start.json",
        "volcengine_push_start_byteplus.json",
    ] {
        check(
            &d,
            "vc",
            &fixture(name),
            json!({
                "provider": "volcengine", "kind": "stream_started", "platform_event": "push_start",
                "app": "live", "stream": "stream-123456", "client_ip": "10.10.10.2",
                "occurred_at": "2021-12-30T07:31:50.029Z", "file": null
            }),
        )
        .await;
    }
    check(&d, "vc", &fixture("volcengine_record_fields.json"), json!({
        "provider": "volcengine", "kind": "recording_ready", "stream": "stream-123456",
        "domain": "push-rtmp.example.com",
        "file": {
            "location": {"type": "path", "value": "live-record/live/stream-123456/1640849510-1640853110.flv"},
            "format": "flv", "duration_s": 3600.0, "started_at": "2021-12-30T07:31:50.000Z",
            "platform_facts": {"session_id": "3693930911_150", "vhost": "push-rtmp.example.com"}
        }
    }))
    .await;
}

#[tokio::test]
async fn tencent_recording_starts_at_end_minus_duration_and_keeps_its_ids() {
    let d = Daemon::start(SOURCES);
    // The document's example: start_time 1545047010 is when the task began
    // writing; the recording runs end_time − duration.
    check(
        &d,
        "tc",
        &fixture("tencent_recording_doc.json"),
        json!({
            "provider": "tencent", "kind": "recording_ready", "stream": "stream_test",
            "file": {
                "started_at": "2018-12-17T11:43:29.000Z", "ended_at": "2018-12-17T12:32:51.000Z",
                "duration_s": 2962.0,
                "platform_facts": {"file_id": "1234567890", "start_time": "1545047010"}
            }
        }),
    )
    .await;
    check(&d, "tc", &fixture("tencent_recording_fields.json"), json!({
        "provider": "tencent", "kind": "recording_ready",
        "file": {
            "started_at": "2022-01-13T15:57:24.000Z", "ended_at": "2022-01-13T15:59:58.000Z",
            "platform_facts": {
                "file_id": "387702294394228858", "record_file_id": "387702294394228858",
                "task_id": "1234567890", "media_start_time": "2931", "start_time_usec": "722000",
                "start_time": "1642089445",
                "callback_ext": "{\"video_codec\":\"h264\",\"audio_codec\":\"aac\",\"resolution\":[1280,720]}"
            }
        }
    }))
    .await;
}

#[tokio::test]
async fn tencent_recording_status_and_exception_are_recording_events() {
    let d = Daemon::start(SOURCES);
    check(&d, "tc", &fixture("tencent_record_exception_fields.json"), json!({
        "provider": "tencent", "kind": "recording_stopped", "status": "fail",
        "platform_event": "event_type 341", "stream": "stream_test",
        "error": "Tencent recording exception (error): Failed to pull the stream. (type -16, 3 times)",
        "occurred_at": "2022-01-13T16:00:00.000Z", "file": null
    }))
    .await;
    for (event, kind, status) in [
        ("record_start_succeeded", "recording_started", "success"),
        ("record_paused", "recording_paused", "success"),
        ("record_resumed", "recording_resumed", "success"),
        ("record_ended", "recording_stopped", "success"),
        ("record_error", "recording_stopped", "fail"),
    ] {
        let body = format!(
            r#"{{"appid":123456789,"appname":"live","domain":"push.example.com","event_time":1642089600,
                "event_type":332,"record_event":"{event}","record_detail":"file_format:1","seq":"1",
                "session_id":"s1","stream_id":"stream_test","sign":"x","t":1642090200}}"#
        );
        check(
            &d,
            "tc",
            &body,
            json!({
                "provider": "tencent", "kind": kind, "status": status, "domain": "push.example.com",
                "app": "live", "stream": "stream_test"
            }),
        )
        .await;
    }
}

/// Posts `body` to the signed `source`: the status.
async fn post_signed(d: &Daemon, source: &str, body: &str) -> u16 {
    d.post(
        &format!("{source}?token=t"),
        Some("application/json"),
        body.to_owned(),
    )
    .await
    .0
}

fn huawei_recording(ts: i64, sign: &str) -> String {
    format!(
        r#"{{"event_type":"RECORD_FILE_COMPLETE","publish_domain":"push.example.com","app":"live",
            "stream":"s1","record_format":"FLV","download_url":"http://127.0.0.1:9/a.flv",
            "auth_timestamp":{ts},"auth_sign":"{sign}"}}"#
    )
}

#[tokio::test]
async fn huawei_signatures_right_wrong_and_stale() {
    let d = Daemon::start(SIGNED);
    let ts = now();
    let hmac = |ts: i64| {
        hmac_hex(
            KEY,
            &format!("{ts}RECORD_FILE_COMPLETEpush.example.comlives1http://127.0.0.1:9/a.flv"),
        )
    };
    for source in ["hw", "any"] {
        assert_eq!(
            post_signed(&d, source, &huawei_recording(ts, &hmac(ts))).await,
            200,
            "{source}"
        );
        // The other documented mode: MD5(key + auth_timestamp).
        let md5 = md5_hex(&format!("{KEY}{ts}"));
        assert_eq!(
            post_signed(&d, source, &huawei_recording(ts, &md5)).await,
            200,
            "{source}"
        );
        let wrong = hmac_hex("another-key", "x");
        assert_eq!(
            post_signed(&d, source, &huawei_recording(ts, &wrong)).await,
            401,
            "{source}"
        );
        // Signed, then altered: another stream under the same signature.
        let moved = huawei_recording(ts, &hmac(ts)).replace("\"s1\"", "\"s2\"");
        assert_eq!(post_signed(&d, source, &moved).await, 401, "{source}");
        let old = ts - 301;
        assert_eq!(
            post_signed(&d, source, &huawei_recording(old, &hmac(old))).await,
            401,
            "{source}"
        );
        let unsigned = fixture("huawei_publish.json");
        assert_eq!(post_signed(&d, source, &unsigned).await, 401, "{source}");
        // The push callback signs event + domain + app + stream + auth_timestamp.
        let sign = hmac_hex(KEY, &format!("PUBLISHpush.example.comlivex{ts}"));
        let push = format!(
            r#"{{"domain":"push.example.com","app":"live","stream":"x","event":"PUBLISH",
                "node_ip":"1.2.3.4","auth_timestamp":{ts},"auth_sign":"{sign}"}}"#
        );
        assert_eq!(post_signed(&d, source, &push).await, 200, "{source}");
        assert_eq!(
            post_signed(&d, source, &push.replace("\"x\"", "\"y\"")).await,
            401
        );
        assert_signatures_hidden(&d, source, &[&hmac(ts), &sign]).await;
    }
}

/// No stored event of `source` shows any of `signs`: a shown signature
/// signs other bodies while it is fresh.
async fn assert_signatures_hidden(d: &Daemon, source: &str, signs: &[&str]) {
    let events = d
        .all_items(&format!("/api/v1/events?source={source}"))
        .await;
    assert!(!events.is_empty());
    for e in events {
        let raw = e["raw"].as_str().unwrap();
        assert!(raw.contains("***"), "{raw}");
        for s in signs {
            assert!(!raw.contains(s), "{source} shows its signature: {raw}");
        }
    }
}

fn volcengine_push(t: i64, sign: &str) -> String {
    format!(
        r#"{{"code":0,"message":"ok","data":{{"vhost":"v.example.com","domain":"v.example.com",
            "app":"live","stream":"s","event_type":"push_start","sign":"{sign}","t":{t},
            "detail":{{"time":{t}}}}}}}"#
    )
}

#[tokio::test]
async fn volcengine_signatures_right_wrong_and_expired() {
    let d = Daemon::start(SIGNED);
    let t = now() + 600;
    for source in ["vc", "any"] {
        let sign = md5_hex(&format!("{KEY}{t}"));
        assert_eq!(
            post_signed(&d, source, &volcengine_push(t, &sign)).await,
            200,
            "{source}"
        );
        assert_signatures_hidden(&d, source, &[&sign]).await;
        assert_eq!(
            post_signed(&d, source, &volcengine_push(t, &md5_hex("x"))).await,
            401
        );
        let expired = now() - 301;
        let sign = md5_hex(&format!("{KEY}{expired}"));
        assert_eq!(
            post_signed(&d, source, &volcengine_push(expired, &sign)).await,
            401
        );
        // What Volcengine sends with authentication off.
        let unsigned = fixture("volcengine_push_start_byteplus.json");
        assert_eq!(post_signed(&d, source, &unsigned).await, 401, "{source}");
    }
}

/// Config archiving into `recordings` on `s3`: Huawei, Volcengine, Tencent
/// and `auto` sources fetching URLs from 127.0.0.1 (the HTTP origin) and
/// `bucket/key` paths from `s3`.
fn archiving(s3: &S3Server) -> String {
    let s3_origin = format!(
        "[sources.origin]\ntype = \"s3\"\nendpoint = \"{}\"\nregion = \"us-east-1\"\nforce_path_style = true\naccess_key_id = \"{}\"\nsecret_access_key = \"{}\"\n",
        s3.endpoint,
        common::s3::ACCESS_KEY,
        common::s3::SECRET_KEY
    );
    let mut text = s3.store_config("recordings");
    for (name, provider) in [
        ("hw", "huawei"),
        ("vc", "volcengine"),
        ("tc", "tencent"),
        ("any", "auto"),
    ] {
        text.push_str(&format!(
            "\n[[sources]]\nname = \"{name}\"\nprovider = \"{provider}\"\ntoken = \"t\"\nallow_hosts = [\"127.0.0.1\"]\n{s3_origin}"
        ));
    }
    text
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn recordings_are_archived_from_an_http_origin_and_from_the_platforms_bucket() {
    let origin = Origin::start().await;
    let s3 = S3Server::start(&["recordings", "obs-bucket", "tos-bucket"]).await;
    let d = Daemon::start(&archiving(&s3));
    let mut expected = Vec::new();
    let post = async |source: &str, body: String| {
        let (status, reply) = d
            .post(&format!("{source}?token=t"), Some("application/json"), body)
            .await;
        assert_eq!(status, 200, "{source}: {reply}");
    };
    for (i, source) in ["hw", "any"].iter().enumerate() {
        // Huawei: download_url over HTTP, then the OBS object over S3.
        let bytes = random_bytes(300_000 + i, 10 + i as u64);
        origin.put(&format!("/hw/{i}.flv"), FileSpec::bytes(bytes.clone()));
        expected.push((format!("hw-http-{i}"), sha256_hex(&bytes), bytes.len()));
        post(source, format!(
            r#"{{"event_type":"RECORD_FILE_COMPLETE","publish_domain":"push.example.com","app":"live",
                "stream":"hw-http-{i}","record_format":"FLV","download_url":"{}","record_duration":60,
                "start_time":"2026-12-01T10:00:00Z","end_time":"2026-12-01T10:01:00Z"}}"#,
            origin.url(&format!("/hw/{i}.flv"))
        )).await;
        let bytes = random_bytes(200_000 + i, 20 + i as u64);
        s3.put_file("obs-bucket", &format!("live/hw-obs-{i}/1.flv"), &bytes);
        expected.push((format!("hw-obs-{i}"), sha256_hex(&bytes), bytes.len()));
        post(source, format!(
            r#"{{"event_type":"RECORD_FILE_COMPLETE","publish_domain":"push.example.com","app":"live",
                "stream":"hw-obs-{i}","record_format":"FLV","obs_bucket":"obs-bucket",
                "obs_object":"live/hw-obs-{i}/1.flv"}}"#
        )).await;
        // Both: with an S3 origin the bucket is read with its credentials
        // (the URL, a private bucket's, is not there to be read).
        let bytes = random_bytes(180_000 + i, 60 + i as u64);
        s3.put_file("obs-bucket", &format!("live/hw-both-{i}/1.flv"), &bytes);
        expected.push((format!("hw-both-{i}"), sha256_hex(&bytes), bytes.len()));
        post(source, format!(
            r#"{{"event_type":"RECORD_FILE_COMPLETE","publish_domain":"push.example.com","app":"live",
                "stream":"hw-both-{i}","record_format":"FLV","download_url":"{}",
                "obs_bucket":"obs-bucket","obs_object":"live/hw-both-{i}/1.flv"}}"#,
            origin.url("/private/not-here.flv")
        )).await;
    }
    for (i, source) in ["vc", "any"].iter().enumerate() {
        let bytes = random_bytes(250_000 + i, 30 + i as u64);
        origin.put(&format!("/vc/{i}.flv"), FileSpec::bytes(bytes.clone()));
        expected.push((format!("vc-http-{i}"), sha256_hex(&bytes), bytes.len()));
        post(source, format!(
            r#"{{"code":0,"message":"ok","data":{{"vhost":"v","domain":"v","app":"live","stream":"vc-http-{i}",
                "event_type":"record","detail":{{"url":"{}","duration":60}}}}}}"#,
            origin.url(&format!("/vc/{i}.flv"))
        )).await;
        let bytes = random_bytes(150_000 + i, 40 + i as u64);
        s3.put_file("tos-bucket", &format!("live/vc-tos-{i}.flv"), &bytes);
        expected.push((format!("vc-tos-{i}"), sha256_hex(&bytes), bytes.len()));
        let body = fixture("volcengine_record_fields.json")
            .replace("\"live-record\"", "\"tos-bucket\"")
            .replace(
                "live/stream-123456/1640849510-1640853110.flv",
                &format!("live/vc-tos-{i}.flv"),
            )
            .replace("\"stream-123456\"", &format!("\"vc-tos-{i}\""));
        post(source, body).await;
        let bytes = random_bytes(160_000 + i, 70 + i as u64);
        s3.put_file("tos-bucket", &format!("vc-both-{i}.flv"), &bytes);
        expected.push((format!("vc-both-{i}"), sha256_hex(&bytes), bytes.len()));
        post(
            source,
            format!(
                r#"{{"data":{{"vhost":"v","app":"live","stream":"vc-both-{i}","event_type":"record",
                "detail":{{"url":"{}","bucket":"tos-bucket","object":"vc-both-{i}.flv"}}}}}}"#,
                origin.url("/private/not-here.flv")
            ),
        )
        .await;
    }
    // Tencent over HTTP: its ids reach the catalog entry.
    let bytes = random_bytes(120_000, 50);
    origin.put("/tc/0.flv", FileSpec::bytes(bytes.clone()));
    expected.push(("tc-0".to_owned(), sha256_hex(&bytes), bytes.len()));
    let body = fixture("tencent_recording_fields.json")
        .replace(
            "http://1234567890.vod2.myqcloud.com/a/b/playlist.m3u8",
            &origin.url("/tc/0.flv"),
        )
        .replace("\"hls\"", "\"flv\"")
        .replace("8456740", &bytes.len().to_string())
        .replace("\"stream_test\"", "\"tc-0\"");
    post("tc", body).await;

    let catalog = catalog_of(&d, expected.len()).await;
    assert_eq!(catalog.len(), expected.len(), "{catalog:#?}");
    for (stream, sha, size) in &expected {
        let e = catalog
            .iter()
            .find(|e| e["stream"] == json!(stream))
            .unwrap_or_else(|| panic!("{stream} archived: {catalog:#?}"));
        assert_eq!(e["sha256"], json!(sha), "{stream}");
        assert_eq!(e["size"], json!(size), "{stream}");
    }
    let tc = catalog.iter().find(|e| e["stream"] == "tc-0").unwrap();
    assert_eq!(
        tc["platform_facts"]["record_file_id"], "387702294394228858",
        "{tc}"
    );
    assert_eq!(tc["platform_facts"]["start_time"], "1642089445", "{tc}");
    assert_eq!(tc["started_at"], "2022-01-13T15:57:24.000Z", "{tc}");
    let obs = catalog.iter().find(|e| e["stream"] == "hw-obs-0").unwrap();
    assert_eq!(
        obs["origin"]["value"], "obs-bucket/live/hw-obs-0/1.flv",
        "{obs}"
    );
}

#[test]
fn huawei_and_volcengine_sources_cannot_accept_a_signature_alone() {
    // Volcengine's md5(key + t) and Huawei's MD5 mode sign no field of the
    // body; Huawei's HMAC leaves the OBS object out.
    for provider in ["huawei", "volcengine"] {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("c.toml");
        std::fs::write(
            &config,
            format!("[[sources]]\nname = \"s\"\nprovider = \"{provider}\"\nsign_key = \"k\"\nauth = \"signature\"\n"),
        )
        .unwrap();
        let out = std::process::Command::new(common::binary())
            .args(["check-config", "--config"])
            .arg(&config)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{provider}: {err}");
        assert!(
            err.contains("sources[0].auth") && err.contains("not bound"),
            "{err}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_documented_huawei_hls_recording_is_archived_from_its_obs_bucket() {
    // The document's own example, as sent: an HLS recording whose
    // download_url is a host this test cannot reach, and whose OBS object is
    // read through the source's S3 origin, with every segment it names.
    let s3 = S3Server::start(&["recordings", "mybucket"]).await;
    let dir = "live/record-xxxx-mystream-1589967495";
    let segments = [
        ("mystream-0.ts", random_bytes(64_000, 81)),
        ("mystream-1.ts", random_bytes(65_000, 82)),
    ];
    let mut playlist = "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:60\n".to_owned();
    for (name, bytes) in &segments {
        s3.put_file("mybucket", &format!("{dir}/{name}"), bytes);
        playlist.push_str(&format!("#EXTINF:60.000,\n{name}\n"));
    }
    playlist.push_str("#EXT-X-ENDLIST\n");
    let object = format!("{dir}/record-hwpublish.myun.tv-live-mystream-1589967495.m3u8");
    s3.put_file("mybucket", &object, playlist.as_bytes());
    // A short key: the test S3 server (s3s-fs) keeps each object's metadata
    // in a file named after the whole key, which this key would take past
    // the file system's 255 bytes (S3 itself takes 1024).
    let config = archiving(&s3).replacen(
        "[store]\n",
        "[store]\nkey_template = \"{stream}/{filename}\"\n",
        1,
    );
    let d = Daemon::start(&config);
    let (status, reply) = d
        .post(
            "hw?token=t",
            Some("application/json"),
            fixture("huawei_record_file_complete.json"),
        )
        .await;
    assert_eq!(status, 200, "{reply}");
    let catalog = catalog_of(&d, 1).await;
    let e = &catalog[0];
    assert_eq!(e["origin"]["value"], format!("mybucket/{object}"), "{e:#}");
    assert_eq!(e["format"], "hls", "{e:#}");
    assert_eq!(e["sha256"], sha256_hex(playlist.as_bytes()), "{e:#}");
    let parts = e["parts"].as_array().expect("parts");
    assert_eq!(parts.len(), segments.len() + 1, "{e:#}");
    for (part, (name, bytes)) in parts.iter().zip(&segments) {
        assert!(
            part["origin"]["value"].as_str().unwrap().ends_with(name),
            "{part}"
        );
        assert_eq!(part["sha256"], sha256_hex(bytes), "{part}");
    }
    assert_eq!(
        e["platform_facts"]["asset_id"],
        "1a0d8e9bfaexxxxxxbe5021e62aa1e96"
    );
    assert_eq!(e["started_at"], "2020-03-08T14:10:25.000Z");
}
