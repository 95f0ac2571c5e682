//! Parts streamed rather than buffered: for a file of known size and more
//! than one part, each UploadPart request starts with the part's first
//! bytes and takes the rest as they arrive from the origin, through a
//! channel of a few chunks. Its CRC32C goes last, as an aws-chunked trailer
//! the server checks (`STREAMING-UNSIGNED-PAYLOAD-TRAILER`), so no part needs to be held whole: memory per
//! transfer no longer grows with the part size.
//!
//! A part cut short by a failed request cannot be sent again without its
//! bytes: the attempt fails, and the next one continues from the last part
//! confirmed (re-reading at most the parts that were in flight).

use std::pin::Pin;
use std::task::{Context, Poll};

use aws_runtime::auth::PayloadSigningOverride;
use aws_sdk_s3::config::interceptors::BeforeTransmitInterceptorContextMut;
use aws_sdk_s3::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_s3::error::BoxError;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::CompletedPart;
use bytes::{Bytes, BytesMut};
use http_body::{Body, Frame, SizeHint};
use tokio::sync::mpsc;

use super::{b64, S3Upload};
use crate::retry::Failure;
use crate::upload::PartPlan;

/// Chunks queued for a part's request: with the download's chunks a few
/// dozen KiB, a part in flight holds well under a MiB.
const QUEUED_CHUNKS: usize = 4;

/// The part being streamed.
pub(super) struct Streaming {
    number: i32,
    tx: mpsc::Sender<Bytes>,
    /// Bytes of the part not yet sent.
    left: u64,
}

/// The bytes of each aws-chunked chunk (but the last): fixed, so that the
/// encoded length is known before the first byte.
const CHUNK: usize = 64 * 1024;

/// The trailer that ends a part: its CRC32C, which the server checks.
const TRAILER: &str = "x-amz-checksum-crc32c";

/// The length of a part of `len` bytes in aws-chunked encoding.
fn encoded_len(len: u64) -> u64 {
    let chunk = |n: u64| format!("{n:x}").len() as u64 + 2 + n + 2;
    let full = len / CHUNK as u64;
    let rest = len % CHUNK as u64;
    let last = if rest > 0 { chunk(rest) } else { 0 };
    // The zero chunk, the trailer (base64 of 4 bytes is 8), the blank line.
    full * chunk(CHUNK as u64) + last + 3 + (TRAILER.len() as u64 + 1 + 8 + 2) + 2
}

/// An UploadPart body fed from a channel: `len` bytes, sent aws-chunked in
/// chunks of CHUNK bytes with the CRC32C as a trailer
/// (`STREAMING-UNSIGNED-PAYLOAD-TRAILER`).
struct PartBody {
    rx: mpsc::Receiver<Bytes>,
    /// Bytes not yet received.
    left: u64,
    /// Received, not yet sent.
    pending: BytesMut,
    crc: u32,
    /// Encoded bytes not yet sent.
    remaining: u64,
}

impl PartBody {
    fn new(rx: mpsc::Receiver<Bytes>, len: u64) -> PartBody {
        PartBody {
            rx,
            left: len,
            pending: BytesMut::new(),
            crc: 0,
            remaining: encoded_len(len),
        }
    }

    fn emit(&mut self, frame: Bytes) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
        self.remaining = self.remaining.saturating_sub(frame.len() as u64);
        Poll::Ready(Some(Ok(Frame::data(frame))))
    }
}

impl Body for PartBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
        loop {
            if self.remaining == 0 {
                return Poll::Ready(None);
            }
            let n = self.pending.len();
            if n >= CHUNK || (self.left == 0 && n > 0) {
                let data = self.pending.split_to(n.min(CHUNK));
                let mut frame = BytesMut::with_capacity(data.len() + 16);
                frame.extend_from_slice(format!("{:x}\r\n", data.len()).as_bytes());
                frame.extend_from_slice(&data);
                frame.extend_from_slice(b"\r\n");
                return self.emit(frame.freeze());
            }
            if self.left == 0 {
                let end = format!("0\r\n{TRAILER}:{}\r\n\r\n", b64(&self.crc.to_be_bytes()));
                return self.emit(Bytes::from(end));
            }
            match self.rx.poll_recv(cx) {
                Poll::Ready(Some(chunk)) => {
                    self.left = self.left.saturating_sub(chunk.len() as u64);
                    self.crc = crc32c::crc32c_append(self.crc, &chunk);
                    self.pending.extend_from_slice(&chunk);
                }
                // The attempt stopped before the part's end: the request
                // fails rather than send a short part.
                Poll::Ready(None) => {
                    return Poll::Ready(Some(Err(std::io::Error::new(
                        std::io::ErrorKind::UnexpectedEof,
                        "the part was cut short",
                    ))))
                }
                Poll::Pending => return Poll::Pending,
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.remaining == 0
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.remaining)
    }
}

/// Sends a request's body aws-chunked with an unsigned trailer. (The SDK
/// does so itself over HTTPS only; over plain HTTP it signs every chunk,
/// which costs a SHA-256 pass and which Garage 2.5 does not verify right.)
#[derive(Debug)]
struct UnsignedTrailer {
    len: u64,
}

impl Intercept for UnsignedTrailer {
    fn name(&self) -> &'static str {
        "UnsignedTrailer"
    }

    fn modify_before_signing(
        &self,
        ctx: &mut BeforeTransmitInterceptorContextMut<'_>,
        _: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let headers = ctx.request_mut().headers_mut();
        headers.insert("content-encoding", "aws-chunked");
        headers.insert("x-amz-decoded-content-length", self.len.to_string());
        headers.insert("content-length", encoded_len(self.len).to_string());
        headers.insert("x-amz-trailer", TRAILER);
        cfg.interceptor_state()
            .store_put(PayloadSigningOverride::StreamingUnsignedPayloadTrailer);
        Ok(())
    }
}

impl S3Upload {
    /// Whether this upload's parts are streamed: a known size of more than
    /// one part (a file of one part stays one PutObject; a file of unknown
    /// size is buffered, as its last part's length is known only at its end).
    pub(super) fn streams_parts(&self) -> bool {
        self.s.stream_parts && matches!(self.s.plan, PartPlan::Known { size, part } if size > part)
    }

    /// Writes `chunk` into the parts being streamed, opening each as its
    /// first byte comes and closing it at its last.
    pub(super) async fn write_streamed(&mut self, mut chunk: Bytes) -> Result<(), Failure> {
        while !chunk.is_empty() {
            if self.stream.is_none() {
                self.open_part().await?;
            }
            let s = self.stream.as_mut().expect("a part is open");
            let head = chunk.split_to((s.left as usize).min(chunk.len()));
            s.left -= head.len() as u64;
            let ended = s.left == 0;
            self.hasher.update(&head);
            self.part_crc = crc32c::crc32c_append(self.part_crc, &head);
            let tx = s.tx.clone();
            if tx.send(head).await.is_err() {
                return Err(self.request_failure().await);
            }
            if ended {
                self.close_part();
            }
        }
        Ok(())
    }

    /// Starts the next part's request, once a slot is free.
    async fn open_part(&mut self) -> Result<(), Failure> {
        while self.in_flight.len() >= self.s.max_in_flight {
            self.join_one().await?;
        }
        self.create().await?;
        let number = self.next_part;
        let len = self.current_part();
        let (tx, rx) = mpsc::channel(QUEUED_CHUNKS);
        let req = self
            .part_request(number)
            .body(ByteStream::from_body_1_x(PartBody::new(rx, len)))
            .customize()
            .interceptor(UnsignedTrailer { len });
        self.in_flight.spawn(async move {
            let out = req
                .send()
                .await
                .map_err(|e| Failure::from_store(&format!("UploadPart {number}"), e))?;
            Ok(CompletedPart::builder()
                .part_number(number)
                .set_e_tag(out.e_tag)
                .set_checksum_crc32_c(out.checksum_crc32_c)
                .build())
        });
        self.stream = Some(Streaming {
            number,
            tx,
            left: len,
        });
        Ok(())
    }

    /// The part's last byte is sent: its end is a cut, its CRC32C known.
    fn close_part(&mut self) {
        let Some(s) = self.stream.take() else { return };
        let crc = std::mem::take(&mut self.part_crc);
        self.crcs.insert(s.number, b64(&crc.to_be_bytes()));
        self.cuts
            .insert(s.number, (self.hasher.size(), self.hasher.state()));
        self.next_part += 1;
    }

    /// A part's request stopped taking bytes: its error.
    async fn request_failure(&mut self) -> Failure {
        self.stream = None;
        while !self.in_flight.is_empty() {
            if let Err(f) = self.join_one().await {
                return f;
            }
        }
        Failure::transient("a part's upload ended before its last byte")
    }

    /// A streamed part as it lands: with the CRC32C computed here, which the
    /// server's echo (when it sends one) must match.
    pub(super) fn checked(&mut self, part: CompletedPart) -> Result<CompletedPart, Failure> {
        let n = part.part_number().unwrap_or_default();
        let Some(ours) = self.crcs.remove(&n) else {
            return Ok(part);
        };
        if let Some(theirs) = part.checksum_crc32_c() {
            if theirs != ours {
                return Err(Failure::integrity(format!(
                    "part {n}: the store holds CRC32C {theirs}, the bytes sent {ours}"
                )));
            }
        }
        Ok(CompletedPart::builder()
            .part_number(n)
            .set_e_tag(part.e_tag().map(str::to_owned))
            .checksum_crc32_c(ours)
            .build())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn frame(body: &mut PartBody) -> Option<Result<Frame<Bytes>, std::io::Error>> {
        std::future::poll_fn(|cx| Pin::new(&mut *body).poll_frame(cx)).await
    }

    async fn encode(data: &[u8], pieces: usize) -> Vec<u8> {
        let (tx, rx) = mpsc::channel(QUEUED_CHUNKS);
        let mut body = PartBody::new(rx, data.len() as u64);
        assert_eq!(
            body.size_hint().exact(),
            Some(encoded_len(data.len() as u64))
        );
        let owned = data.to_vec();
        tokio::spawn(async move {
            for piece in owned.chunks(pieces.max(1)) {
                tx.send(Bytes::copy_from_slice(piece)).await.unwrap();
            }
        });
        let mut out = Vec::new();
        while let Some(f) = frame(&mut body).await {
            out.extend_from_slice(&f.unwrap().into_data().unwrap());
        }
        assert!(body.is_end_stream());
        out
    }

    #[tokio::test]
    async fn a_part_is_sent_aws_chunked_with_its_crc32c_as_trailer_and_its_exact_length() {
        for len in [1, CHUNK - 1, CHUNK, CHUNK + 1, 3 * CHUNK + 7] {
            let data: Vec<u8> = (0..len).map(|i| (i * 31 % 251) as u8).collect();
            let out = encode(&data, 10_000).await;
            assert_eq!(out.len() as u64, encoded_len(len as u64), "{len}");
            // Decoded back: the chunks give the bytes, then the trailer.
            let mut rest = &out[..];
            let mut decoded = Vec::new();
            loop {
                let eol = rest.windows(2).position(|w| w == b"\r\n").unwrap();
                let n =
                    usize::from_str_radix(std::str::from_utf8(&rest[..eol]).unwrap(), 16).unwrap();
                rest = &rest[eol + 2..];
                if n == 0 {
                    break;
                }
                assert!(n <= CHUNK);
                decoded.extend_from_slice(&rest[..n]);
                assert_eq!(&rest[n..n + 2], b"\r\n");
                rest = &rest[n + 2..];
            }
            assert_eq!(decoded, data);
            let trailer = format!(
                "{TRAILER}:{}\r\n\r\n",
                b64(&crc32c::crc32c(&data).to_be_bytes())
            );
            assert_eq!(rest, trailer.as_bytes());
        }
    }

    #[tokio::test]
    async fn a_part_cut_short_fails_its_request() {
        let (tx, rx) = mpsc::channel(QUEUED_CHUNKS);
        let mut body = PartBody::new(rx, 5);
        tx.send(Bytes::from_static(b"abc")).await.unwrap();
        drop(tx);
        let err = loop {
            match frame(&mut body).await {
                Some(Err(e)) => break e,
                Some(Ok(_)) => continue,
                None => panic!("a short part ended as if whole"),
            }
        };
        assert_eq!(err.kind(), std::io::ErrorKind::UnexpectedEof);
    }
}
