//! Store-only ingest throughput (no HTTP): N threads record callbacks and
//! wait for durability, as the receiver does.
use std::time::Instant;

use recording_archiver::body::{decode_body, Encoding};
use recording_archiver::providers::{parse, Provider};
use recording_archiver::state::{sled::SledRepo, Callback, Repo};

fn main() {
    let threads: usize = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(2);
    let per: usize = std::env::args()
        .nth(2)
        .and_then(|s| s.parse().ok())
        .unwrap_or(20000);
    let dir = tempfile::tempdir().unwrap();
    let gap = std::time::Duration::from_secs(60);
    let repo: Repo = std::sync::Arc::new(SledRepo::open_in(dir.path(), 64 << 20, gap).unwrap());
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .enable_all()
        .build()
        .unwrap();
    let start = Instant::now();
    rt.block_on(async {
        let mut tasks = Vec::new();
        for t in 0..64 {
            let repo = repo.clone();
            tasks.push(tokio::spawn(async move {
                for i in 0..per * threads / 64 {
                    let body = format!(r#"{{"version":"v1.1","publishDomain":"push.example.com","appName":"live","streamName":"s{t}","event":"record_done","status":"success","format":"flv","beginTime":1553741853968,"endTime":1553741935867,"downloadUrl":"http://s3.example.com/rec/{t}/{i}.flv"}}"#);
                    let p = decode_body(Encoding::Json, body.as_bytes()).unwrap();
                    let now = chrono::Utc::now();
                    let evs = parse(Provider::Jdcloud, &p).unwrap().into_iter().map(|e| e.into_event("bench", now, &body)).collect();
                    repo.record_callback(Callback::untold(evs, now)).await.unwrap();
                }
            }));
        }
        for t in tasks { t.await.unwrap(); }
    });
    let n = per * threads / 64 * 64;
    let secs = start.elapsed().as_secs_f64();
    println!("{n} callbacks in {secs:.2}s = {:.0}/s", n as f64 / secs);
}
