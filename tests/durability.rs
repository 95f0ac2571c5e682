//! A `200` means the callback survives a power cut: the real daemon runs
//! under `strace -f` (installed by scripts/test), and every `200` it sends to
//! a callback follows a write of the state store's log and an `fdatasync` of
//! that log, both after the request was read.

mod common;

use std::collections::HashMap;
use std::time::Duration;

use common::{jd_record_done, Daemon};

/// One system call as strace saw it: thread, name, first argument (the fd
/// with its path, `-y`), the rest of the line, and when it began and ended.
#[derive(Debug, Clone)]
struct Call {
    name: String,
    fd: String,
    rest: String,
    /// Microseconds since the epoch.
    start: u64,
    end: u64,
}

/// Parses `strace -f -ttt -T -y` output, joining unfinished/resumed halves.
fn parse(trace: &str) -> Vec<Call> {
    let mut open: HashMap<String, Call> = HashMap::new();
    let mut calls = Vec::new();
    for line in trace.lines() {
        // `<pid> <seconds since the epoch> <call>`, padded with spaces.
        let mut f = line.split_whitespace();
        let (Some(pid), Some(ts)) = (f.next(), f.next()) else {
            continue;
        };
        let text = line[line.find(ts).unwrap_or(0) + ts.len()..].trim_start();
        let Some(ts) = micros(ts) else { continue };
        if let Some(rest) = text.strip_prefix("<... ") {
            // `<... fdatasync resumed>) = 0 <0.000123>`
            if let Some(mut call) = open.remove(pid) {
                call.end = ts;
                call.rest.push_str(rest);
                calls.push(call);
            }
            continue;
        }
        let Some((name, args)) = text.split_once('(') else {
            continue;
        };
        // A call another thread interrupts ends `<unfinished ...>` with no
        // closing parenthesis: `fdatasync(4</x/state/db> <unfinished ...>`.
        let fd = args
            .trim_end_matches("<unfinished ...>")
            .trim_end()
            .split([',', ')'])
            .next()
            .unwrap_or("")
            .to_owned();
        let call = Call {
            name: name.to_owned(),
            fd,
            rest: args.to_owned(),
            start: ts,
            end: ts + duration(text),
        };
        if text.ends_with("<unfinished ...>") {
            open.insert(pid.to_owned(), call);
        } else {
            calls.push(call);
        }
    }
    calls
}

/// `seconds.micros` as microseconds.
fn micros(t: &str) -> Option<u64> {
    let (s, us) = t.split_once('.')?;
    Some(s.parse::<u64>().ok()? * 1_000_000 + format!("{us:0<6}")[..6].parse::<u64>().ok()?)
}

/// The `<seconds>` strace -T appends, in microseconds.
fn duration(text: &str) -> u64 {
    text.rsplit_once('<')
        .and_then(|(_, d)| micros(d.strip_suffix('>')?))
        .unwrap_or(0)
}

fn is_db_log(c: &Call) -> bool {
    c.fd.ends_with("/state/db>")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_callback_answered_200_was_fdatasynced_first() {
    assert!(
        std::process::Command::new("strace")
            .arg("-V")
            .output()
            .is_ok(),
        "strace is missing: scripts/test installs it (Debian package strace)"
    );
    let dir = tempfile::tempdir().unwrap();
    let trace_path = dir.path().join("trace");
    let trace_arg = trace_path.to_str().unwrap();
    let wrapper = [
        "strace",
        "-f",
        "-ttt",
        "-T",
        "-y",
        "-s",
        "48",
        "-e",
        "trace=pwrite64,pwritev,write,writev,sendto,sendmsg,read,recvfrom,readv,recvmsg,fsync,fdatasync",
        "-o",
        trace_arg,
    ];
    // Receive only: nothing but callbacks writes to the state store.
    let extra = "[transfer]\nworkers = 0\n[[sources]]\nname = \"jd\"\nprovider = \"jdcloud\"\ntoken = \"t\"\n";
    let mut d = Daemon::start_under(dir.path(), extra, &[], &wrapper);
    const N: usize = 20;
    for i in 0..N {
        let url = format!("http://example.com/rec/{i}.flv");
        let (status, reply) = d
            .post(
                "jd?token=t",
                Some("application/json"),
                jd_record_done(&url, "s"),
            )
            .await;
        assert_eq!(status, 200, "{reply}");
    }
    // strace (which blocks SIGTERM itself) ends with the daemon it runs.
    let status = d.terminate_inner();
    assert!(status.success(), "{status:?}\n{}", d.log_text());
    tokio::time::sleep(Duration::from_millis(200)).await;

    let text = std::fs::read_to_string(&trace_path).unwrap();
    let calls = parse(&text);
    let mut checked = 0;
    for (i, answer) in calls.iter().enumerate() {
        let is_200 = matches!(
            answer.name.as_str(),
            "write" | "writev" | "sendto" | "sendmsg"
        ) && answer.fd.contains("<socket:")
            && answer.rest.contains("HTTP/1.1 200");
        if !is_200 {
            continue;
        }
        let request = calls[..i]
            .iter()
            .rev()
            .find(|c| c.fd == answer.fd && c.rest.contains("POST /callbacks/"))
            .unwrap_or_else(|| panic!("no request read before {answer:?}"));
        let synced = calls.iter().any(|sync| {
            // fdatasync only: sled's own background flusher fsyncs the log
            // every 500 ms, which must not count.
            sync.name == "fdatasync"
                && is_db_log(sync)
                && sync.start > request.end
                && sync.end <= answer.start
                && calls.iter().any(|w| {
                    w.name.starts_with("pwrite")
                        && is_db_log(w)
                        && w.end > request.end
                        && w.end <= sync.start
                })
        });
        assert!(
            synced,
            "a 200 went out at {} µs with no write+fdatasync of the state log since its request \
             was read at {} µs",
            answer.start, request.end
        );
        checked += 1;
    }
    assert_eq!(checked, N, "every callback's 200 was found in the trace");
}
