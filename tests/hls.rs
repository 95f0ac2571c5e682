//! HLS recordings: a playlist and every file it names archived as one
//! catalog entry with its parts, whether the playlist is announced whole
//! (Tencent's `playlist.m3u8`, over HTTP) or segment by segment (SRS
//! `on_hls`, its playlist at `on_unpublish`, from local disk).

mod common;

use common::catalog_of;

use std::path::Path;
use std::time::{Duration, Instant};

use common::origin::{Fault, FileSpec, Origin};
use common::s3::S3Server;
use common::{random_bytes, sha256_hex, Daemon};
use serde_json::{json, Value};

const QUICK: &str = "[transfer]\nretry_initial_secs = 1\n";

/// Waits until `n` jobs are done.
async fn jobs_done(d: &Daemon, n: usize) {
    let start = Instant::now();
    loop {
        let jobs = d.all_items("/api/v1/jobs?state=done").await;
        if jobs.len() >= n {
            return;
        }
        let all = d.all_items("/api/v1/jobs").await;
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "{} of {n} done: {all:#?}",
            jobs.len()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Every object in the bucket but the catalog sidecars, with its SHA-256.
fn stored(s3: &S3Server, keys: &[String]) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = keys
        .iter()
        .filter(|k| !k.ends_with(".json"))
        .map(|k| {
            let bytes = std::fs::read(s3.path("archive", k)).unwrap();
            (k.clone(), sha256_hex(&bytes))
        })
        .collect();
    out.sort();
    out
}

/// Checks an HLS entry: its parts are `files` (name, bytes) then the
/// playlist, each in the bucket with its SHA-256, and the archived playlist
/// plays from the bucket: every URI it names is an object beside it.
fn check_entry(s3: &S3Server, entry: &Value, files: &[(&str, &[u8])], playlist: &[u8]) {
    assert_eq!(entry["format"], "hls", "{entry:#}");
    let parts = entry["parts"].as_array().expect("parts");
    assert_eq!(parts.len(), files.len() + 1, "{entry:#}");
    for (part, (name, bytes)) in parts.iter().zip(files) {
        assert_eq!(part["role"], "segment");
        let origin = part["origin"]["value"].as_str().unwrap();
        assert!(origin.split('?').next().unwrap().ends_with(name), "{part}");
        assert_eq!(part["size"], bytes.len());
        assert_eq!(part["sha256"], sha256_hex(bytes));
        let key = part["store"]["key"].as_str().unwrap();
        let in_bucket = std::fs::read(s3.path("archive", key)).unwrap();
        assert_eq!(sha256_hex(&in_bucket), sha256_hex(bytes), "{key}");
    }
    let last = parts.last().unwrap();
    assert_eq!(last["role"], "playlist");
    assert_eq!(last["sha256"], sha256_hex(playlist));
    assert_eq!(entry["sha256"], sha256_hex(playlist));
    assert_eq!(entry["store"], last["store"]);
    let key = entry["store"]["key"].as_str().unwrap();
    let text = std::fs::read_to_string(s3.path("archive", key)).unwrap();
    assert_eq!(text.as_bytes(), playlist);
    let dir = key.rsplit_once('/').unwrap().0;
    for uri in text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
    {
        let uri = uri.split('?').next().unwrap();
        assert!(
            s3.path("archive", &format!("{dir}/{uri}")).exists(),
            "{uri} beside the playlist at {key}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tencent_hls_recording_is_one_entry_holding_its_playlist_and_every_segment() {
    let s3 = S3Server::start(&["archive"]).await;
    let origin = Origin::start().await;
    let segs: Vec<(&str, bytes::Bytes)> = vec![
        ("1700000000_0.ts", random_bytes(40_000, 1)),
        ("1700000000_1.ts", random_bytes(41_000, 2)),
        ("sub/1700000000_2.ts", random_bytes(9_000, 3)),
    ];
    for (i, (name, bytes)) in segs.iter().enumerate() {
        let spec = FileSpec::bytes(bytes.clone());
        // The last segment fails once: the next attempt goes on from it.
        let spec = if i == 2 {
            spec.with_faults(&[Fault::Status(503)])
        } else {
            spec
        };
        origin.put(&format!("/live/room/{name}"), spec);
    }
    let playlist = "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:10\n\
        #EXT-X-MEDIA-SEQUENCE:0\n#EXTINF:10.000,\n1700000000_0.ts\n#EXTINF:10.000,\n\
        1700000000_1.ts?sign=abc\n#EXTINF:4.500,\nsub/1700000000_2.ts\n#EXT-X-ENDLIST\n";
    origin.put("/live/room/playlist.m3u8", FileSpec::bytes(playlist));
    let d = Daemon::start(&format!(
        "{}{QUICK}[[sources]]\nname = \"tc\"\nprovider = \"tencent\"\ntoken = \"t\"\n\
         allow_hosts = [\"127.0.0.1\"]\n",
        s3.store_config("archive")
    ));
    let body = json!({"appid": 12345, "app": "push.example.com", "appname": "live",
        "stream_id": "room", "channel_id": "room", "event_type": 100, "file_format": "HLS",
        "start_time": 1_700_000_000, "end_time": 1_700_000_025, "duration": 25,
        "video_url": origin.url("/live/room/playlist.m3u8"), "file_id": "f1"});
    let (status, reply) = d
        .post("tc?token=t", Some("application/json"), body.to_string())
        .await;
    assert_eq!(status, 200, "{reply}");
    let catalog = catalog_of(&d, 1).await;
    assert_eq!(catalog.len(), 1, "one entry for the recording");
    let files: Vec<(&str, &[u8])> = segs.iter().map(|(n, b)| (*n, b.as_ref())).collect();
    check_entry(&s3, &catalog[0], &files, playlist.as_bytes());
    assert_eq!(catalog[0]["parts"][2]["duration_s"], 4.5);
    let jobs = d.all_items("/api/v1/jobs").await;
    assert_eq!(jobs[0]["attempts"], 2, "{jobs:#?}");
    for (name, _) in &segs[..2] {
        let path = format!("/live/room/{name}");
        assert_eq!(
            origin.requests(&path).len(),
            1,
            "{name} is not fetched again by the second attempt"
        );
    }
    let objects = stored(&s3, &s3.keys("archive").await);
    assert_eq!(objects.len(), 4, "{objects:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn segments_kept_before_a_kill_9_are_not_fetched_again() {
    let s3 = S3Server::start(&["archive"]).await;
    let origin = Origin::start().await;
    let segs: Vec<(String, bytes::Bytes)> = (0..4)
        .map(|i| (format!("s{i}.ts"), random_bytes(50_000 + i, 10 + i as u64)))
        .collect();
    let mut playlist = "#EXTM3U\n#EXT-X-TARGETDURATION:4\n".to_owned();
    for (i, (name, bytes)) in segs.iter().enumerate() {
        let spec = FileSpec::bytes(bytes.clone());
        // The third fails once: the attempt ends with two parts kept.
        let spec = if i == 2 {
            spec.with_faults(&[Fault::Status(503)])
        } else {
            spec
        };
        origin.put(&format!("/hls/{name}"), spec);
        playlist.push_str(&format!("#EXTINF:4,\n{name}\n"));
    }
    playlist.push_str("#EXT-X-ENDLIST\n");
    origin.put("/hls/index.m3u8", FileSpec::bytes(playlist.clone()));
    let dir = tempfile::tempdir().unwrap();
    let config = format!(
        "{}[transfer]\nretry_initial_secs = 4\n[[sources]]\nname = \"jd\"\n\
         provider = \"jdcloud\"\ntoken = \"t\"\nallow_hosts = [\"127.0.0.1\"]\n",
        s3.store_config("archive")
    );
    let mut d = Daemon::start_in(dir.path(), &config);
    let (status, _) = d
        .post(
            "jd?token=t",
            Some("application/json"),
            common::jd_record_done(&origin.url("/hls/index.m3u8"), "room"),
        )
        .await;
    assert_eq!(status, 200);
    let start = Instant::now();
    while origin.requests("/hls/s2.ts").is_empty() {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "never reached s2"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    d.kill9();
    drop(d);
    let d = Daemon::start_in(dir.path(), &config);
    let catalog = catalog_of(&d, 1).await;
    let files: Vec<(&str, &[u8])> = segs.iter().map(|(n, b)| (n.as_str(), b.as_ref())).collect();
    check_entry(&s3, &catalog[0], &files, playlist.as_bytes());
    for name in ["s0.ts", "s1.ts"] {
        assert_eq!(
            origin.requests(&format!("/hls/{name}")).len(),
            1,
            "{name} was kept before the kill"
        );
    }
    assert_eq!(stored(&s3, &s3.keys("archive").await).len(), 5);
}

/// An SRS on_hls body for `seg` of the stream's playlist, as SRS sends it.
fn on_hls(cwd: &Path, seg: &str, seq: u64) -> String {
    json!({"server_id": "vid-0xk989d", "service_id": "f8a8a8e2", "action": "on_hls",
        "client_id": format!("{seq}a"), "ip": "127.0.0.1", "vhost": "__defaultVhost__",
        "app": "live", "tcUrl": "rtmp://127.0.0.1:1935/live", "stream": "livestream",
        "param": "", "duration": 2.0, "cwd": cwd.display().to_string(),
        "file": format!("./hls/live/{seg}"), "url": format!("live/{seg}"),
        "m3u8": "./hls/live/livestream.m3u8", "m3u8_url": "live/livestream.m3u8",
        "seq_no": seq, "stream_url": "/live/livestream", "stream_id": "vid-124q9y3"})
    .to_string()
}

fn srs_stream_event(action: &str) -> String {
    json!({"server_id": "vid-0xk989d", "action": action, "client_id": "341w361a",
        "ip": "127.0.0.1", "vhost": "__defaultVhost__", "app": "live",
        "stream": "livestream", "param": "", "stream_id": "vid-124q9y3"})
    .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn srs_hls_segments_are_archived_as_they_come_and_the_playlist_at_unpublish() {
    let s3 = S3Server::start(&["archive"]).await;
    let dir = tempfile::tempdir().unwrap();
    // SRS's directory through a symlink: paths are compared canonically.
    std::fs::create_dir_all(dir.path().join("real/hls/live")).unwrap();
    let cwd = dir.path().join("srs");
    std::os::unix::fs::symlink(dir.path().join("real"), &cwd).unwrap();
    let hls = cwd.join("hls/live");
    let d = Daemon::start(&format!(
        "{}{QUICK}[[sources]]\nname = \"srs\"\nprovider = \"srs\"\ntoken = \"t\"\n\
         [sources.origin]\ntype = \"file\"\nroots = [\"{}\"]\nsweep = true\n\
         sweep_interval_secs = 1\nsettle_secs = 1\nsweep_glob = \"*.m3u8\"\n",
        s3.store_config("archive"),
        cwd.display()
    ));
    let post = |body: String| {
        let d = &d;
        async move {
            let (status, reply) = d.post("srs?token=t", Some("application/json"), body).await;
            assert_eq!((status, &reply["code"]), (200, &json!(0)), "{reply}");
        }
    };
    post(srs_stream_event("on_publish")).await;
    let segs: Vec<(String, bytes::Bytes)> = (0..3)
        .map(|i| {
            (
                format!("livestream-{i}.ts"),
                random_bytes(30_000 + i, i as u64),
            )
        })
        .collect();
    for (i, (name, bytes)) in segs.iter().enumerate() {
        std::fs::write(hls.join(name), bytes).unwrap();
        post(on_hls(&cwd, name, i as u64)).await;
        jobs_done(&d, i + 1).await;
    }
    // Archived as they came; no entry until the recording is whole.
    let keys = s3.keys("archive").await;
    assert_eq!(stored(&s3, &keys).len(), 3, "{keys:#?}");
    assert!(d.all_items("/api/v1/catalog").await.is_empty());
    // SRS's window has moved past the first segment; it is still the recording's.
    let playlist = "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-MEDIA-SEQUENCE:1\n\
        #EXT-X-TARGETDURATION:2\n#EXTINF:2.000, no desc\nlivestream-1.ts\n\
        #EXTINF:2.000, no desc\nlivestream-2.ts\n";
    std::fs::write(hls.join("livestream.m3u8"), playlist).unwrap();
    post(srs_stream_event("on_unpublish")).await;
    let catalog = catalog_of(&d, 1).await;
    assert_eq!(catalog.len(), 1, "{catalog:#?}");
    let files: Vec<(&str, &[u8])> = segs.iter().map(|(n, b)| (n.as_str(), b.as_ref())).collect();
    check_entry(&s3, &catalog[0], &files, playlist.as_bytes());
    let first = catalog[0]["id"].clone();
    let after = stored(&s3, &s3.keys("archive").await);
    assert_eq!(after.len(), 4, "no segment stored twice: {after:#?}");
    assert!(
        keys.iter()
            .all(|k| after.iter().any(|(a, _)| a == k) || k.ends_with(".json")),
        "the segments stay where they were archived"
    );
    assert_eq!(catalog[0]["duration_s"], 6.0);
    assert_eq!(d.all_items("/api/v1/jobs").await.len(), 4);

    // The sweep finds the settled playlist: already archived, not again.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(d.all_items("/api/v1/catalog").await.len(), 1);
    assert_eq!(d.all_items("/api/v1/jobs").await.len(), 4);

    // The next publish's stop is lost: once its playlist settles, the sweep
    // files its segments, archived as they came, as the second recording.
    post(srs_stream_event("on_publish")).await;
    let next: Vec<(String, bytes::Bytes)> = (3..5)
        .map(|i| {
            (
                format!("livestream-{i}.ts"),
                random_bytes(30_000 + i, i as u64),
            )
        })
        .collect();
    for (i, (name, bytes)) in next.iter().enumerate() {
        std::fs::write(hls.join(name), bytes).unwrap();
        post(on_hls(&cwd, name, 3 + i as u64)).await;
        jobs_done(&d, 5 + i).await;
    }
    let playlist = "#EXTM3U\n#EXT-X-MEDIA-SEQUENCE:3\n#EXTINF:2.000,\nlivestream-3.ts\n\
        #EXTINF:2.000,\nlivestream-4.ts\n";
    std::fs::write(hls.join("livestream.m3u8"), playlist).unwrap();
    let catalog = catalog_of(&d, 2).await;
    let second = catalog.iter().find(|e| e["id"] != first).unwrap();
    let files: Vec<(&str, &[u8])> = next.iter().map(|(n, b)| (n.as_str(), b.as_ref())).collect();
    check_entry(&s3, second, &files, playlist.as_bytes());
    let jobs = d.all_items("/api/v1/jobs").await;
    let job = jobs.iter().find(|j| j["id"] == second["job_id"]).unwrap();
    assert_eq!(job["found_by"], "sweep", "{job:#}");
    assert_eq!(stored(&s3, &s3.keys("archive").await).len(), 4 + 3);
}
