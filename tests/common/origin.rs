//! A real HTTP origin on 127.0.0.1 that serves files and misbehaves on
//! request: error statuses, connections reset or closed mid-body, slowness,
//! no Range support, redirects. It also answers as a forward proxy, so a platform's own
//! download URLs can be served from here unchanged.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// What one request to a file meets.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Fault {
    /// Answer with this status and no file.
    Status(u16),
    /// Send this many body bytes, then reset the connection.
    ResetAt(u64),
    /// Send this many body bytes, then close cleanly (a short body).
    CloseAt(u64),
}

/// The bytes of a file: given, or generated (for sizes that should not sit in memory).
#[derive(Clone)]
pub enum Content {
    Bytes(Bytes),
    Generated { len: u64, seed: u64 },
}

impl Content {
    pub fn len(&self) -> u64 {
        match self {
            Content::Bytes(b) => b.len() as u64,
            Content::Generated { len, .. } => *len,
        }
    }

    /// Bytes [start, start + n).
    pub fn slice(&self, start: u64, n: usize) -> Bytes {
        match self {
            Content::Bytes(b) => b.slice(start as usize..start as usize + n),
            Content::Generated { seed, .. } => Bytes::from(generated(*seed, start, n)),
        }
    }

    /// A cheap identity for an ETag: the length and the bytes at both ends.
    pub fn fingerprint(&self) -> String {
        use std::hash::{Hash, Hasher};
        match self {
            Content::Generated { len, seed } => format!("g{seed}-{len}"),
            Content::Bytes(b) => {
                let mut h = std::collections::hash_map::DefaultHasher::new();
                b.len().hash(&mut h);
                b[..b.len().min(4096)].hash(&mut h);
                b[b.len().saturating_sub(4096)..].hash(&mut h);
                format!("b{:016x}", h.finish())
            }
        }
    }

    /// SHA-256 of the whole content, hex.
    pub fn sha256(&self) -> String {
        use sha2::{Digest, Sha256};
        let mut h = Sha256::new();
        let mut pos = 0;
        while pos < self.len() {
            let n = (self.len() - pos).min(1 << 20) as usize;
            h.update(self.slice(pos, n));
            pos += n as u64;
        }
        h.finalize().iter().map(|b| format!("{b:02x}")).collect()
    }
}

/// Deterministic bytes: position-keyed, so any range can be produced alone.
fn generated(seed: u64, start: u64, n: usize) -> Vec<u8> {
    (start..start + n as u64)
        .map(|i| {
            let mut x = (i / 8).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ seed;
            x ^= x >> 31;
            x = x.wrapping_mul(0xBF58_476D_1CE4_E5B9);
            (x >> ((i % 8) * 8)) as u8
        })
        .collect()
}

#[derive(Clone)]
pub struct FileSpec {
    pub content: Content,
    /// Consumed one per request, in order; then requests are served normally.
    pub faults: VecDeque<Fault>,
    pub ranges: bool,
    pub content_md5: Option<String>,
    /// Pause between 64 KiB chunks.
    pub delay: Option<Duration>,
    /// The Content-Type sent (default application/octet-stream).
    pub content_type: Option<String>,
    /// Sent as ETag (and honoured in If-Range); default: one derived from
    /// the content. `Some("")` sends none.
    pub etag: Option<String>,
    /// After a reset fault fires, the file is replaced by this one (an
    /// origin whose file changes while it is being downloaded).
    pub replaced_on_reset: Option<Box<FileSpec>>,
    /// Serves a requested range whatever `If-Range` says (as some CDNs do).
    pub ignores_if_range: bool,
    /// Sent with `transfer-encoding: chunked`, no length announced.
    pub chunked: bool,
}

impl FileSpec {
    pub fn new(content: Content) -> Self {
        FileSpec {
            content,
            faults: VecDeque::new(),
            ranges: true,
            content_md5: None,
            delay: None,
            content_type: None,
            etag: None,
            replaced_on_reset: None,
            ignores_if_range: false,
            chunked: false,
        }
    }

    pub fn bytes(b: impl Into<Bytes>) -> Self {
        Self::new(Content::Bytes(b.into()))
    }

    /// The ETag this file is served with, if any.
    pub fn etag_value(&self) -> Option<String> {
        match self.etag.as_deref() {
            Some("") => None,
            Some(e) => Some(e.to_owned()),
            None => Some(format!("\"{}\"", self.content.fingerprint())),
        }
    }

    pub fn with_faults(mut self, f: &[Fault]) -> Self {
        self.faults = f.iter().copied().collect();
        self
    }
}

#[derive(Default)]
struct State {
    files: HashMap<String, FileSpec>,
    /// path → where a 302 sends the client.
    redirects: HashMap<String, String>,
    /// Request log: (path, range start).
    requests: Vec<(String, u64)>,
    /// Request heads as received: (path, head text).
    heads: Vec<(String, String)>,
    /// path → body bytes written to clients.
    served: HashMap<String, u64>,
}

pub struct Origin {
    pub addr: String,
    state: Arc<Mutex<State>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Origin {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Origin {
    pub async fn start() -> Origin {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let state: Arc<Mutex<State>> = Arc::default();
        let s = Arc::clone(&state);
        let task = tokio::spawn(async move {
            loop {
                let Ok((sock, _)) = listener.accept().await else {
                    continue;
                };
                let s = Arc::clone(&s);
                tokio::spawn(async move {
                    let _ = serve(sock, s).await;
                });
            }
        });
        Origin { addr, state, task }
    }

    /// Serves `spec` at `path` (e.g. `/oss/a/b.flv`).
    pub fn put(&self, path: &str, spec: FileSpec) {
        self.state
            .lock()
            .unwrap()
            .files
            .insert(path.to_owned(), spec);
    }

    /// Answers requests for `path` with a 302 to `to`.
    pub fn redirect(&self, path: &str, to: &str) {
        self.state
            .lock()
            .unwrap()
            .redirects
            .insert(path.to_owned(), to.to_owned());
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Body bytes of `path` written to clients so far, over all requests.
    pub fn bytes_served(&self, path: &str) -> u64 {
        self.state
            .lock()
            .unwrap()
            .served
            .get(path)
            .copied()
            .unwrap_or(0)
    }

    /// The heads (request line and headers) of the requests for `path`.
    pub fn request_heads(&self, path: &str) -> Vec<String> {
        self.state
            .lock()
            .unwrap()
            .heads
            .iter()
            .filter(|(p, _)| p == path)
            .map(|(_, h)| h.clone())
            .collect()
    }

    /// Requests seen for `path`, with the byte each started at.
    pub fn requests(&self, path: &str) -> Vec<u64> {
        self.state
            .lock()
            .unwrap()
            .requests
            .iter()
            .filter(|(p, _)| p == path)
            .map(|(_, s)| *s)
            .collect()
    }
}

async fn serve(mut sock: TcpStream, state: Arc<Mutex<State>>) -> std::io::Result<()> {
    let mut head = Vec::new();
    let mut buf = [0u8; 4096];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = sock.read(&mut buf).await?;
        if n == 0 || head.len() > 65536 {
            return Ok(());
        }
        head.extend_from_slice(&buf[..n]);
    }
    let text = String::from_utf8_lossy(&head).into_owned();
    let mut lines = text.lines();
    let target = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .unwrap_or("/")
        .to_owned();
    // Absolute form (we are someone's proxy): keep only the path.
    let path = match target.split_once("://") {
        Some((_, rest)) => format!("/{}", rest.split_once('/').map(|(_, p)| p).unwrap_or("")),
        None => target,
    };
    let path = path.split('?').next().unwrap_or("/").to_owned();
    let range_start = lines
        .filter_map(|l| l.split_once(':'))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case("range"))
        .and_then(|(_, v)| {
            v.trim()
                .strip_prefix("bytes=")?
                .split('-')
                .next()?
                .parse::<u64>()
                .ok()
        });

    let if_range = text
        .lines()
        .filter_map(|l| l.split_once(':'))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case("if-range"))
        .map(|(_, v)| v.trim().to_owned());

    let redirect = {
        let mut st = state.lock().unwrap();
        st.requests.push((path.clone(), range_start.unwrap_or(0)));
        st.heads.push((path.clone(), text.clone()));
        st.redirects.get(&path).cloned()
    };
    if let Some(to) = redirect {
        let msg = format!(
            "HTTP/1.1 302 Found\r\nlocation: {to}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
        );
        sock.write_all(msg.as_bytes()).await?;
        return Ok(());
    }
    let (spec, fault) = {
        let mut st = state.lock().unwrap();
        match st.files.get_mut(&path) {
            Some(f) => {
                let fault = f.faults.pop_front();
                (Some(f.clone()), fault)
            }
            None => (None, None),
        }
    };
    let Some(spec) = spec else {
        sock.write_all(b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
            .await?;
        return Ok(());
    };
    if let Some(Fault::Status(code)) = fault {
        let msg =
            format!("HTTP/1.1 {code} Injected\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
        sock.write_all(msg.as_bytes()).await?;
        return Ok(());
    }
    let len = spec.content.len();
    let etag = spec.etag_value();
    // If-Range: the range only if the file is still the one named; else all of it.
    let range_start = match (&if_range, range_start) {
        (Some(v), Some(r)) if Some(v) == etag.as_ref() || spec.ignores_if_range => Some(r),
        (Some(_), Some(_)) => None,
        (None, r) => r,
        (_, None) => None,
    };
    let start = if spec.ranges {
        range_start.unwrap_or(0).min(len)
    } else {
        0
    };
    let mut resp = if spec.ranges && range_start.is_some() {
        format!(
            "HTTP/1.1 206 Partial Content\r\ncontent-range: bytes {start}-{}/{len}\r\n",
            len.saturating_sub(1)
        )
    } else {
        "HTTP/1.1 200 OK\r\n".to_owned()
    };
    let length = if spec.chunked {
        "transfer-encoding: chunked".to_owned()
    } else {
        format!("content-length: {}", len - start)
    };
    resp.push_str(&format!(
        "{length}\r\nconnection: close\r\ncontent-type: {}\r\n",
        spec.content_type
            .as_deref()
            .unwrap_or("application/octet-stream")
    ));
    if spec.ranges {
        resp.push_str("accept-ranges: bytes\r\n");
    }
    if let Some(e) = &etag {
        resp.push_str(&format!("etag: {e}\r\n"));
    }
    if let Some(md5) = &spec.content_md5 {
        resp.push_str(&format!("content-md5: {md5}\r\n"));
    }
    resp.push_str("\r\n");
    sock.write_all(resp.as_bytes()).await?;
    let stop_at = match fault {
        Some(Fault::ResetAt(n)) | Some(Fault::CloseAt(n)) => Some(n),
        _ => None,
    };
    let mut pos = start;
    while pos < len {
        let mut n = (len - pos).min(64 * 1024);
        if let Some(stop) = stop_at {
            if pos >= stop {
                break;
            }
            n = n.min(stop - pos);
        }
        let bytes = spec.content.slice(pos, n as usize);
        if spec.chunked {
            sock.write_all(format!("{n:x}\r\n").as_bytes()).await?;
            sock.write_all(&bytes).await?;
            sock.write_all(b"\r\n").await?;
        } else {
            sock.write_all(&bytes).await?;
        }
        *state
            .lock()
            .unwrap()
            .served
            .entry(path.clone())
            .or_default() += n;
        pos += n;
        if let Some(d) = spec.delay {
            tokio::time::sleep(d).await;
        }
    }
    if spec.chunked && stop_at.is_none() {
        sock.write_all(b"0\r\n\r\n").await?;
    }
    if let Some(Fault::ResetAt(_)) = fault {
        if let Some(next) = &spec.replaced_on_reset {
            state
                .lock()
                .unwrap()
                .files
                .insert(path.clone(), (**next).clone());
        }
        // Linger 0 turns the close into a RST; with zero it never blocks.
        #[allow(deprecated)]
        sock.set_linger(Some(Duration::ZERO))?;
        drop(sock);
        return Ok(());
    }
    sock.shutdown().await
}
