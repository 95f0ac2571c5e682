//! Self-hosted ingest: nginx-rtmp's and SRS's own hook bodies, and a real
//! stream, ffmpeg → nginx-rtmp (Debian's nginx and libnginx-mod-rtmp, which
//! scripts/test installs) → its hooks → the daemon → the S3 server.

mod common;

use common::catalog_of;

use common::free_port;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::s3::S3Server;
use common::{fixture, sha256_hex, Daemon};
use serde_json::{json, Value};

/// Posts a fixture as its server sends it; the one event it became.
async fn event_of(d: &Daemon, source: &str, name: &str) -> Value {
    let ct = if name.ends_with(".json") {
        "application/json"
    } else {
        "application/x-www-form-urlencoded"
    };
    let (status, reply) = d
        .post(&format!("{source}?token=t"), Some(ct), fixture(name))
        .await;
    assert_eq!(status, 200, "{name}: {reply}");
    assert_eq!(reply["code"], 0, "SRS wants code 0: {reply}");
    let id = reply["events"][0].as_str().unwrap().to_owned();
    let events = d.all_items("/api/v1/events").await;
    events.into_iter().find(|e| e["id"] == id.as_str()).unwrap()
}

#[tokio::test]
async fn nginx_rtmp_and_srs_hook_bodies_become_the_same_events_as_the_platforms() {
    let d = Daemon::start(
        "[transfer]\nworkers = 0\n\
         [[sources]]\nname = \"ng\"\nprovider = \"nginx_rtmp\"\ntoken = \"t\"\n\
         [[sources]]\nname = \"srs\"\nprovider = \"srs\"\ntoken = \"t\"\n\
         [[sources]]\nname = \"any\"\nprovider = \"auto\"\ntoken = \"t\"\n",
    );
    for source in ["ng", "any"] {
        let e = event_of(&d, source, "nginx_rtmp_on_publish.form").await;
        assert_eq!(
            (
                &e["provider"],
                &e["kind"],
                &e["stream"],
                &e["app"],
                &e["domain"]
            ),
            (
                &json!("nginx_rtmp"),
                &json!("stream_started"),
                &json!("test"),
                &json!("live"),
                &json!("127.0.0.1")
            ),
            "{e:#}"
        );
        let e = event_of(&d, source, "nginx_rtmp_on_record_done.form").await;
        assert_eq!(e["kind"], "recording_ready");
        assert_eq!(
            e["file"]["location"],
            json!({"type": "path", "value": "/var/rec/live/test-1700000000.flv"})
        );
        assert_eq!(e["file"]["format"], "flv");
        assert!(e["job_id"].is_string(), "a job for the file");
        let e = event_of(&d, source, "nginx_rtmp_on_publish_done.form").await;
        assert_eq!(e["kind"], "stream_stopped");
        let e = event_of(&d, source, "nginx_rtmp_on_done.form").await;
        assert_eq!(e["kind"], "session_ended");
    }
    // A body we cannot read is kept, but never refuses a publish: both
    // servers stop the stream on any refusal and never retry a hook.
    for source in ["ng", "srs"] {
        let (status, reply) = d
            .post(
                &format!("{source}?token=t"),
                Some("application/x-www-form-urlencoded"),
                "call=update&app=live",
            )
            .await;
        assert_eq!(status, 200, "{reply}");
        assert_eq!(
            (&reply["code"], &reply["kept"]),
            (&json!(0), &json!(true)),
            "{reply}"
        );
    }
    assert_eq!(d.all_items("/api/v1/rejected").await.len(), 2);
    for source in ["srs", "any"] {
        let e = event_of(&d, source, "srs_on_publish.json").await;
        assert_eq!(
            (&e["provider"], &e["kind"], &e["stream"], &e["app"]),
            (
                &json!("srs"),
                &json!("stream_started"),
                &json!("livestream"),
                &json!("live")
            ),
            "{e:#}"
        );
        let e = event_of(&d, source, "srs_on_unpublish.json").await;
        assert_eq!(
            (&e["kind"], &e["domain"]),
            (&json!("stream_stopped"), &json!("video.test.com"))
        );
        assert_eq!(e["params"]["salt"], "yyy");
        let e = event_of(&d, source, "srs_on_dvr.json").await;
        assert_eq!(e["kind"], "recording_ready");
        assert_eq!(
            e["file"]["location"]["value"],
            "/usr/local/srs/objs/nginx/html/live/livestream.1420254068776.flv"
        );
        let e = event_of(&d, source, "srs_on_hls.json").await;
        assert_eq!(e["kind"], "recording_ready");
        assert_eq!(e["file"]["format"], "ts");
        assert_eq!(e["file"]["duration_s"], 9.36);
        assert_eq!(
            e["file"]["playlist"], "/usr/local/srs/objs/nginx/html/live/livestream/live.m3u8",
            "the segment's recording, archived at on_unpublish"
        );
    }
}

fn need(program: &str) {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {program}")])
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(found, "{program} is missing: scripts/test installs it (Debian's nginx, libnginx-mod-rtmp, ffmpeg)");
}

/// nginx with the RTMP module, recording `live` in 5 s fragments under
/// `rec` and calling the daemon at `daemon` back on every hook.
struct Nginx {
    child: Child,
    port: u16,
    rec: PathBuf,
    dir: PathBuf,
}

impl Nginx {
    fn start(dir: &Path, daemon: &str) -> Nginx {
        need("nginx");
        let rec = dir.join("rec");
        std::fs::create_dir_all(&rec).unwrap();
        let port = free_port();
        let hook = format!("{daemon}/callbacks/local?token=t");
        let conf = format!(
            "load_module /usr/lib/nginx/modules/ngx_rtmp_module.so;\n\
             daemon off;\nmaster_process off;\nerror_log {dir}/error.log info;\npid {dir}/nginx.pid;\n\
             events {{}}\n\
             rtmp {{\n  server {{\n    listen 127.0.0.1:{port};\n    application live {{\n\
             live on;\n      record all;\n      record_path {rec};\n      record_unique on;\n\
             record_interval 5s;\n      on_publish {hook};\n      on_publish_done {hook};\n\
             on_record_done {hook};\n      on_done {hook};\n    }}\n  }}\n}}\n",
            dir = dir.display(),
            rec = rec.display(),
        );
        let path = dir.join("nginx.conf");
        std::fs::write(&path, conf).unwrap();
        let child = Command::new("nginx")
            .args(["-p"])
            .arg(dir)
            .arg("-c")
            .arg(&path)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("nginx");
        let start = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "nginx did not listen; {}",
                Self::log(dir)
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Nginx {
            child,
            port,
            rec,
            dir: dir.to_owned(),
        }
    }

    fn log(dir: &Path) -> String {
        std::fs::read_to_string(dir.join("error.log")).unwrap_or_default()
    }

    /// The fragments recorded so far.
    fn fragments(&self) -> Vec<PathBuf> {
        let mut v: Vec<PathBuf> = std::fs::read_dir(&self.rec)
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|e| e == "flv"))
            .collect();
        v.sort();
        v
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// ffmpeg pushing a test pattern for `secs` to `url`, in real time.
fn push(url: &str, secs: u32) -> Child {
    need("ffmpeg");
    Command::new("ffmpeg")
        .args([
            "-hide_banner",
            "-loglevel",
            "error",
            "-re",
            "-f",
            "lavfi",
            "-i",
        ])
        .arg("testsrc2=size=320x240:rate=25")
        .args([
            "-t",
            &secs.to_string(),
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-g",
            "25",
        ])
        .args(["-f", "flv", url])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("ffmpeg")
}

fn config(s3: &S3Server, rec: &Path) -> String {
    format!(
        "{}[transfer]\nretry_initial_secs = 1\n\
         [[sources]]\nname = \"local\"\nprovider = \"nginx_rtmp\"\ntoken = \"t\"\n\
         [sources.origin]\ntype = \"file\"\nroots = [\"{}\"]\n",
        s3.store_config("archive"),
        rec.display()
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ffmpeg_stream_through_nginx_rtmp_is_archived_fragment_by_fragment() {
    let s3 = S3Server::start(&["archive"]).await;
    let dir = tempfile::tempdir().unwrap();
    let rec = dir.path().join("nginx/rec");
    let d = Daemon::start(&config(&s3, &rec));
    let nginx = Nginx::start(&dir.path().join("nginx"), &d.base);
    let out = push(
        &format!("rtmp://127.0.0.1:{}/live/test?room=42", nginx.port),
        15,
    )
    .wait_with_output()
    .unwrap();
    assert!(
        out.status.success(),
        "ffmpeg: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The last fragment is announced when the publisher goes.
    let start = Instant::now();
    while !d.log_text().contains("\"call=done") && start.elapsed() < Duration::from_secs(10) {
        let events = d.all_items("/api/v1/events").await;
        if events.iter().any(|e| e["kind"] == "session_ended") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let fragments = nginx.fragments();
    assert!(
        fragments.len() >= 3,
        "15 s in 5 s fragments: {fragments:?}\n{}",
        Nginx::log(&nginx.dir)
    );
    let catalog = catalog_of(&d, fragments.len()).await;
    assert_eq!(catalog.len(), fragments.len(), "each fragment once");
    for f in &fragments {
        let sha = sha256_hex(&std::fs::read(f).unwrap());
        let entry = catalog.iter().find(|e| e["sha256"] == sha.as_str());
        assert!(entry.is_some(), "{} archived with its SHA-256", f.display());
        let key = entry.unwrap()["store"]["key"].as_str().unwrap();
        let stored = std::fs::read(s3.path("archive", key)).unwrap();
        assert_eq!(sha256_hex(&stored), sha, "{key} in the bucket");
    }
    // One publish session: every fragment in it, in the order recorded.
    let session = catalog[0]["session"]
        .as_str()
        .expect("a session")
        .to_owned();
    let mut listed = d
        .all_items(&format!("/api/v1/catalog?session={session}"))
        .await;
    assert_eq!(listed.len(), fragments.len(), "all in one session");
    listed.sort_by(|a, b| a["ended_at"].as_str().cmp(&b["ended_at"].as_str()));
    let in_order: Vec<String> = listed
        .iter()
        .map(|e| e["origin"]["value"].as_str().unwrap().to_owned())
        .collect();
    let on_disk: Vec<String> = fragments
        .iter()
        .map(|f| {
            std::fs::canonicalize(f)
                .unwrap()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    assert_eq!(in_order, on_disk, "by recording time, the fragments' order");
    // What nginx-rtmp really sent reads as the documented bodies do.
    let events = d.all_items("/api/v1/events").await;
    let recorded: Vec<&Value> = events
        .iter()
        .filter(|e| e["kind"] == "recording_ready")
        .collect();
    assert_eq!(recorded.len(), fragments.len());
    for e in &recorded {
        assert_eq!(
            (&e["provider"], &e["stream"], &e["app"]),
            (&json!("nginx_rtmp"), &json!("test"), &json!("live"))
        );
        assert_eq!(e["params"]["room"], "42", "the publisher's own argument");
        assert!(e["raw"].as_str().unwrap().contains("call=record_done"));
    }
    assert!(events.iter().any(|e| e["kind"] == "stream_started"));
    assert!(events.iter().any(|e| e["kind"] == "stream_stopped"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fragments_whose_hook_was_lost_while_the_daemon_was_down_are_swept_once() {
    let s3 = S3Server::start(&["archive"]).await;
    let dir = tempfile::tempdir().unwrap();
    let rec = dir.path().join("nginx/rec");
    let port = free_port();
    let config = format!(
        "{}sweep = true\nsweep_interval_secs = 1\nsettle_secs = 2\nsweep_glob = \"*.flv\"\n",
        config(&s3, &rec)
    );
    let listen = format!("127.0.0.1:{port}");
    let env = [("RECORDING_ARCHIVER__SERVER__LISTEN", listen.as_str())];
    let start =
        |dir: &Path| tokio::task::block_in_place(|| Daemon::start_with_env(dir, &config, &env));
    let mut d = start(dir.path());
    let nginx = Nginx::start(&dir.path().join("nginx"), &d.base);
    let mut ffmpeg = push(&format!("rtmp://127.0.0.1:{}/live/test", nginx.port), 16);
    // Down from 6 s to 11.5 s: the fragment closed at about 10 s is
    // announced to nobody (nginx-rtmp sends each hook once).
    tokio::time::sleep(Duration::from_secs(6)).await;
    d.kill9();
    tokio::time::sleep(Duration::from_millis(5500)).await;
    d = start(dir.path());
    let out = tokio::task::block_in_place(|| ffmpeg.wait()).unwrap();
    assert!(out.success());
    tokio::time::sleep(Duration::from_secs(1)).await;
    let fragments = nginx.fragments();
    assert!(fragments.len() >= 3, "{fragments:?}");
    let catalog = catalog_of(&d, fragments.len()).await;
    // Settled: a late sweep or hook must not add a second copy.
    tokio::time::sleep(Duration::from_secs(4)).await;
    let catalog_after = d.all_items("/api/v1/catalog").await;
    assert_eq!(catalog_after.len(), catalog.len(), "nothing archived twice");
    assert_eq!(catalog.len(), fragments.len());
    for f in &fragments {
        let sha = sha256_hex(&std::fs::read(f).unwrap());
        assert!(
            catalog.iter().any(|e| e["sha256"] == sha.as_str()),
            "{} archived",
            f.display()
        );
    }
    let jobs = d.all_items("/api/v1/jobs").await;
    assert_eq!(
        jobs.len(),
        fragments.len(),
        "one job per fragment: {jobs:#?}"
    );
    let swept = jobs.iter().filter(|j| j["found_by"] == "sweep").count();
    let announced = jobs.iter().filter(|j| j["found_by"] == "callback").count();
    assert!(swept >= 1, "the lost hook's fragment was swept: {jobs:#?}");
    assert!(announced >= 2, "the others came by callback: {jobs:#?}");
    println!(
        "{} fragments: {announced} announced, {swept} swept",
        fragments.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_delete_after_archive_a_fragment_goes_only_once_its_archive_is_verified() {
    let s3 = S3Server::start(&["archive"]).await;
    let dir = tempfile::tempdir().unwrap();
    let rec = dir.path().join("nginx/rec");
    let d = Daemon::start(&format!(
        "{}delete_after_archive = true\nsweep = true\nsweep_interval_secs = 1\nsettle_secs = 2\n",
        config(&s3, &rec)
    ));
    let nginx = Nginx::start(&dir.path().join("nginx"), &d.base);
    let out = push(&format!("rtmp://127.0.0.1:{}/live/test", nginx.port), 11)
        .wait_with_output()
        .unwrap();
    assert!(out.status.success());
    // Every fragment archived, then deleted, each deletion an event.
    let start = Instant::now();
    let (catalog, deleted) = loop {
        let catalog = d.all_items("/api/v1/catalog").await;
        let events = d.all_items("/api/v1/events").await;
        let deleted: Vec<Value> = events
            .into_iter()
            .filter(|e| e["kind"] == "local_file_deleted")
            .collect();
        if !catalog.is_empty() && deleted.len() == catalog.len() && nginx.fragments().is_empty() {
            break (catalog, deleted);
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "{} archived, {} deleted",
            catalog.len(),
            deleted.len()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert!(catalog.len() >= 2, "{catalog:#?}");
    for entry in &catalog {
        let path = entry["origin"]["value"].as_str().unwrap();
        let gone = deleted
            .iter()
            .find(|e| e["file"]["location"]["value"] == path)
            .expect("its deletion");
        assert!(
            gone["received_at"].as_str().unwrap() >= entry["archived_at"].as_str().unwrap(),
            "deleted after it was archived"
        );
        let key = entry["store"]["key"].as_str().unwrap();
        assert_eq!(
            sha256_hex(&std::fs::read(s3.path("archive", key)).unwrap()),
            entry["sha256"].as_str().unwrap()
        );
    }

    // A fragment whose upload fails stays on disk, until it is archived.
    s3.stop().await;
    let late = rec.join("late-1.flv");
    std::fs::write(&late, common::random_bytes(50_000, 9)).unwrap();
    let body = format!(
        "app=live&name=late&call=record_done&path={}",
        late.display()
    );
    let (status, reply) = d
        .post(
            "local?token=t",
            Some("application/x-www-form-urlencoded"),
            body,
        )
        .await;
    assert_eq!(status, 200, "{reply}");
    let start = Instant::now();
    loop {
        let jobs = d.all_items("/api/v1/jobs?state=retrying").await;
        if !jobs.is_empty() {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "the upload never failed"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(late.exists(), "kept while its upload fails");
    // One that changes after it was announced is archived, but never
    // deleted: it is not the file the server said was done.
    let changed = rec.join("changed-1.flv");
    std::fs::write(&changed, common::random_bytes(30_000, 10)).unwrap();
    let body = format!(
        "app=live&name=changed&call=record_done&path={}",
        changed.display()
    );
    let (status, _) = d
        .post(
            "local?token=t",
            Some("application/x-www-form-urlencoded"),
            body,
        )
        .await;
    assert_eq!(status, 200);
    std::thread::sleep(Duration::from_millis(20));
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&changed)
        .unwrap();
    std::io::Write::write_all(&mut f, b"more").unwrap();
    drop(f);
    s3.restart().await;
    let start = Instant::now();
    while late.exists() {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "deleted once archived"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    catalog_of(&d, catalog.len() + 1).await;
    // The changed one: the size stated when it was announced no longer
    // holds, so it is never taken for the file the server finished.
    let start = Instant::now();
    loop {
        let jobs = d.all_items("/api/v1/jobs").await;
        let job = jobs
            .iter()
            .find(|j| {
                j["origin"]["value"]
                    .as_str()
                    .unwrap()
                    .ends_with("changed-1.flv")
            })
            .unwrap();
        if job["last_error"]
            .as_str()
            .is_some_and(|e| e.contains("announced 30000"))
        {
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(20), "{job:#}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // Once it has settled, the sweep archives it as it now is (a file no
    // callback announced in that state), and never deletes it either.
    let start = Instant::now();
    let swept = loop {
        let entries = d.all_items("/api/v1/catalog").await;
        let of_it: Vec<&Value> = entries
            .iter()
            .filter(|e| {
                e["origin"]["value"]
                    .as_str()
                    .is_some_and(|v| v.ends_with("changed-1.flv"))
            })
            .collect();
        if let Some(e) = of_it.first() {
            assert_eq!(of_it.len(), 1, "archived once: {of_it:#?}");
            break (*e).clone();
        }
        assert!(start.elapsed() < Duration::from_secs(30), "{entries:#?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(swept["size"], 30_004, "{swept:#}");
    let jobs = d.all_items("/api/v1/jobs").await;
    let by = jobs.iter().find(|j| j["id"] == swept["job_id"]).unwrap();
    assert_eq!(by["found_by"], "sweep", "{by:#}");
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(changed.exists(), "changed since announced: kept");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enqueue_queues_a_local_file_once_through_the_running_daemon() {
    // MediaMTX's runOnRecordSegmentComplete runs a command: this one.
    let s3 = S3Server::start(&["archive"]).await;
    let dir = tempfile::tempdir().unwrap();
    let rec = dir.path().join("rec");
    std::fs::create_dir_all(rec.join("cam1")).unwrap();
    let d = Daemon::start(&config(&s3, &rec));
    let segment = rec.join("cam1/2026-12-01_10-00-00-000000.mp4");
    let bytes = common::random_bytes(200_000, 31);
    std::fs::write(&segment, &bytes).unwrap();
    let enqueue = |file: &Path| {
        let out = Command::new(common::binary())
            .args([
                "enqueue", "--api", &d.base, "--source", "local", "--stream", "cam1",
            ])
            .arg("--config")
            .arg(d.dir.join("config.toml"))
            .arg("--file")
            .arg(file)
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, out, err) = tokio::task::block_in_place(|| enqueue(&segment));
    assert_eq!(code, Some(0), "{err}");
    assert!(out.starts_with("queued"), "{out}");
    let (code, out, _) = tokio::task::block_in_place(|| enqueue(&segment));
    assert_eq!(code, Some(0));
    assert!(
        out.starts_with("already known"),
        "a hook run twice archives once: {out}"
    );
    let catalog = catalog_of(&d, 1).await;
    assert_eq!(catalog[0]["sha256"], sha256_hex(&bytes).as_str());
    assert_eq!(catalog[0]["stream"], "cam1");
    let jobs = d.all_items("/api/v1/jobs").await;
    assert_eq!((jobs.len(), &jobs[0]["found_by"]), (1, &json!("enqueue")));
    let (code, _, err) = tokio::task::block_in_place(|| enqueue(&rec.join("missing.mp4")));
    assert_eq!(code, Some(1));
    assert!(err.contains("not a regular file under"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn below_min_free_percent_the_oldest_archived_files_go_first_and_nothing_unarchived() {
    // A 16 MiB disk for the recordings (tmpfs: root or passwordless sudo).
    let disk = common::tmpfs::Tmpfs::mount("16m");
    let rec = disk.path().to_owned();
    let s3 = S3Server::start(&["archive"]).await;
    let d = Daemon::start(&format!(
        "{}sweep = true\nsweep_interval_secs = 1\nsettle_secs = 1\nsweep_glob = \"cam-*\"\nmin_free_percent = 80\n",
        config(&s3, &rec)
    ));
    // Five 2 MiB recordings archived, oldest first; then 5 MiB that is
    // not archived (the sweep only takes cam-*, nobody announces it).
    let mut archived = Vec::new();
    for i in 0..5u64 {
        let f = rec.join(format!("cam-{i}.flv"));
        std::fs::write(&f, common::random_bytes(2 << 20, 40 + i)).unwrap();
        // Recorded hours ago: the sweep found them, and eviction waits an
        // hour before a swept file may go (its writer might have stalled).
        let t = std::time::SystemTime::now() - Duration::from_secs(5 * 3600 - i * 1800);
        std::fs::File::options()
            .write(true)
            .open(&f)
            .unwrap()
            .set_modified(t)
            .unwrap();
        archived.push(f);
    }
    catalog_of(&d, 5).await;
    let unarchived = rec.join("live-now.flv");
    let mut out = std::fs::File::create(&unarchived).unwrap();
    use std::io::Write;
    out.write_all(&common::random_bytes(5 << 20, 99)).unwrap();
    out.flush().unwrap();
    // 15 MiB of 16 used, 80 % to be free: every archived file goes, oldest
    // first, and the daemon stops there, short of its goal.
    let start = Instant::now();
    while archived.iter().any(|f| f.exists()) {
        assert!(start.elapsed() < Duration::from_secs(20), "not evicted");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(unarchived.exists(), "a file not archived is never deleted");
    let events = d.all_items("/api/v1/events?kind=local_file_deleted").await;
    assert_eq!(events.len(), 5);
    // Listed newest first: deleted in the order the files were recorded.
    let order: Vec<&str> = events
        .iter()
        .rev()
        .map(|e| e["file"]["location"]["value"].as_str().unwrap())
        .collect();
    let expected: Vec<String> = archived
        .iter()
        .map(|f| {
            std::fs::canonicalize(f.parent().unwrap())
                .unwrap()
                .join(f.file_name().unwrap())
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    assert_eq!(order, expected, "oldest first");
    assert!(d.log_text().contains("nothing archived is left to delete"));
    assert!(events
        .iter()
        .all(|e| e["raw"].as_str().unwrap().contains("min_free_percent")));
}
