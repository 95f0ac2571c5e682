//! A small HTTP proxy in front of a server that holds back chosen requests:
//! S3's CompleteMultipartUpload, to make finishing a transfer take longer
//! than a job's lease, its UploadPart, to crash a daemon mid-part, or its
//! CreateMultipartUpload, to crash one before it hears the upload's id; or
//! refuses AbortMultipartUpload (503) until told to stop.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

pub struct DelayProxy {
    pub endpoint: String,
    /// Held requests received so far.
    completes: Arc<AtomicUsize>,
    /// `Hold::Aborts`: refused while set.
    refusing: Arc<AtomicBool>,
    /// The head of every request forwarded, in order.
    heads: Arc<Mutex<Vec<String>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for DelayProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl DelayProxy {
    /// Forwards to `upstream` (`http://host:port`); a CompleteMultipartUpload
    /// waits `delay` before it is forwarded.
    pub async fn start(upstream: &str, delay: Duration) -> DelayProxy {
        DelayProxy::holding(upstream, delay, Hold::Complete).await
    }

    /// Forwards to `upstream`; the requests `hold` names wait `delay` first.
    pub async fn holding(upstream: &str, delay: Duration, hold: Hold) -> DelayProxy {
        let upstream = upstream.trim_start_matches("http://").to_owned();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        let completes = Arc::new(AtomicUsize::new(0));
        let seen = Arc::clone(&completes);
        let refusing = Arc::new(AtomicBool::new(true));
        let refuse = Arc::clone(&refusing);
        let heads = Arc::new(Mutex::new(Vec::new()));
        let noted = Arc::clone(&heads);
        let task = tokio::spawn(async move {
            loop {
                let Ok((client, _)) = listener.accept().await else {
                    continue;
                };
                let upstream = upstream.clone();
                let seen = Arc::clone(&seen);
                let refuse = Arc::clone(&refuse);
                let noted = Arc::clone(&noted);
                tokio::spawn(async move {
                    let _ = relay(client, &upstream, delay, hold, &seen, &refuse, &noted).await;
                });
            }
        });
        DelayProxy {
            endpoint,
            completes,
            refusing,
            heads,
            task,
        }
    }

    /// Forwards every request to `upstream` as it is, noting its head.
    pub async fn recording(upstream: &str) -> DelayProxy {
        DelayProxy::holding(upstream, Duration::ZERO, Hold::Nothing).await
    }

    /// The heads (request line and headers) of the requests forwarded so far.
    pub fn heads(&self) -> Vec<String> {
        self.heads.lock().unwrap().clone()
    }

    /// Forwards to `upstream`, answering every AbortMultipartUpload 503
    /// until [`DelayProxy::stop_refusing`].
    pub async fn refusing_aborts(upstream: &str) -> DelayProxy {
        DelayProxy::holding(upstream, Duration::ZERO, Hold::Aborts).await
    }

    /// Forwards to `upstream`, answering every request with a 503 and the
    /// S3 error `SlowDown` (a store throttling us) until
    /// [`DelayProxy::stop_refusing`].
    pub async fn throttling(upstream: &str) -> DelayProxy {
        DelayProxy::holding(upstream, Duration::ZERO, Hold::Everything).await
    }

    /// Refused requests go through from now on.
    pub fn stop_refusing(&self) {
        self.refusing.store(false, Ordering::SeqCst);
    }

    /// Held requests received so far (each is forwarded after the delay,
    /// whether or not its sender still waits).
    pub fn held(&self) -> usize {
        self.completes.load(Ordering::SeqCst)
    }
}

/// One request per connection: read it whole, maybe wait, forward it with
/// `connection: close`, and copy the answer back until the server closes.
/// The requests a proxy holds back.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Hold {
    /// CompleteMultipartUpload: `POST ...?uploadId=...`.
    Complete,
    /// UploadPart: `PUT ...?partNumber=...&uploadId=...`.
    Parts,
    /// CreateMultipartUpload: `POST ...?uploads`.
    Create,
    /// AbortMultipartUpload: `DELETE ...?uploadId=...`, refused, not held.
    Aborts,
    /// Every request, refused with `503 SlowDown`, not held.
    Everything,
    /// None: every request is forwarded at once.
    Nothing,
}

async fn relay(
    mut client: TcpStream,
    upstream: &str,
    delay: Duration,
    hold: Hold,
    held: &AtomicUsize,
    refusing: &AtomicBool,
    heads: &Mutex<Vec<String>>,
) -> std::io::Result<()> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 64 * 1024];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let n = client.read(&mut chunk).await?;
        if n == 0 {
            return Ok(());
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let length: usize = head
        .lines()
        .filter_map(|l| l.split_once(':'))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.trim().parse().ok())
        .unwrap_or(0);
    while buf.len() < head_end + length {
        let n = client.read(&mut chunk).await?;
        if n == 0 {
            return Ok(());
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    let request_line = head.lines().next().unwrap_or("");
    let holds = match hold {
        Hold::Complete => {
            request_line.starts_with("POST ")
                && request_line.contains("uploadId=")
                && !request_line.contains("partNumber=")
        }
        Hold::Parts => request_line.starts_with("PUT ") && request_line.contains("partNumber="),
        Hold::Create => {
            request_line.starts_with("POST ")
                && (request_line.contains("?uploads") || request_line.contains("&uploads"))
                && !request_line.contains("uploadId=")
        }
        Hold::Aborts => request_line.starts_with("DELETE ") && request_line.contains("uploadId="),
        Hold::Everything => true,
        Hold::Nothing => false,
    };
    if holds && matches!(hold, Hold::Aborts | Hold::Everything) {
        if refusing.load(Ordering::SeqCst) {
            held.fetch_add(1, Ordering::SeqCst);
            let body = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>SlowDown</Code>\
                        <Message>Please reduce your request rate.</Message></Error>";
            let body = if request_line.starts_with("HEAD ") {
                ""
            } else {
                body
            };
            let answer = format!(
                "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/xml\r\n\
                 content-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            client.write_all(answer.as_bytes()).await?;
            return client.shutdown().await;
        }
    } else if holds {
        held.fetch_add(1, Ordering::SeqCst);
        tokio::time::sleep(delay).await;
    }
    heads.lock().unwrap().push(head.clone());
    let mut head_out = String::new();
    for line in head.trim_end().lines() {
        if !line.to_ascii_lowercase().starts_with("connection:") {
            head_out.push_str(line);
            head_out.push_str("\r\n");
        }
    }
    head_out.push_str("connection: close\r\n\r\n");
    let server = TcpStream::connect(upstream).await?;
    // The body goes up while the answer comes back, as a client sends it:
    // a server may answer (a 400) and close before it reads the body.
    let (mut from_server, mut to_server) = server.into_split();
    let body = buf.split_off(head_end);
    let sending = tokio::spawn(async move {
        to_server.write_all(head_out.as_bytes()).await?;
        to_server.write_all(&body).await?;
        Ok::<_, std::io::Error>(to_server)
    });
    let copied = tokio::io::copy(&mut from_server, &mut client).await;
    sending.abort();
    copied?;
    client.shutdown().await
}
