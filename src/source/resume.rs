//! A download that continues from the byte reached when its body breaks or
//! ends short of the announced size, and never takes a short body for a
//! whole one. The origins only say how to open a body from a byte and how to
//! read it.

use bytes::Bytes;

use crate::retry::{Failure, MAX_RESUMES};

/// An origin that can open the same file again from a given byte.
pub(super) trait Reopen {
    /// A body being read.
    type Body;

    /// Opens the file again from byte `from` on.
    async fn reopen(&self, from: u64) -> Result<Self::Body, Failure>;

    /// The body's next bytes, `None` at its end; the error says how it broke.
    async fn chunk(body: &mut Self::Body) -> Result<Option<Bytes>, String>;

    /// False when the origin cannot continue a body, so a break restarts the attempt.
    fn accepts_ranges(&self) -> bool {
        true
    }

    /// The download as named in errors.
    fn name(&self) -> String;

    /// Logs that the body broke (`broke` says how) and is being continued.
    fn log_resume(&self, broke: &str);
}

/// A body read through to the end, reopened at most `MAX_RESUMES` times.
pub(super) struct Resuming<O: Reopen> {
    origin: O,
    body: Option<O::Body>,
    pos: u64,
    total: Option<u64>,
    resumes_left: u32,
}

impl<O: Reopen> Resuming<O> {
    /// Reads `body`, the file from its first byte; `total` is the size announced.
    pub(super) fn new(origin: O, body: O::Body, total: Option<u64>) -> Self {
        Self::starting_at(origin, body, 0, total)
    }

    /// Reads `body`, the file from byte `pos` on.
    pub(super) fn starting_at(origin: O, body: O::Body, pos: u64, total: Option<u64>) -> Self {
        Resuming {
            origin,
            body: Some(body),
            pos,
            total,
            resumes_left: MAX_RESUMES,
        }
    }

    /// The next bytes; `None` at the end of the whole file.
    pub(super) async fn next_chunk(&mut self) -> Result<Option<Bytes>, Failure> {
        loop {
            let body = match &mut self.body {
                Some(b) => b,
                None => self.body.insert(self.origin.reopen(self.pos).await?),
            };
            let broke = match O::chunk(body).await {
                Ok(Some(bytes)) => {
                    self.pos += bytes.len() as u64;
                    return Ok(Some(bytes));
                }
                Ok(None) => match self.total {
                    Some(total) if self.pos < total => {
                        format!("body ended at byte {} of {total}", self.pos)
                    }
                    _ => return Ok(None),
                },
                Err(e) => format!("body broke at byte {}: {e}", self.pos),
            };
            self.body = None;
            let ranges = self.origin.accepts_ranges();
            if !ranges || self.resumes_left == 0 {
                let why = if ranges {
                    "resumed too often"
                } else {
                    "the origin does not accept ranges, so the attempt restarts"
                };
                return Err(Failure::transient(format!(
                    "{}: {broke} ({why})",
                    self.origin.name()
                )));
            }
            self.resumes_left -= 1;
            self.origin.log_resume(&broke);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;
    use crate::retry::FailureKind;

    /// A file of `len` bytes whose bodies break after `breaks_after` bytes each.
    struct Flaky {
        len: u64,
        breaks_after: u64,
        ranges: bool,
        reopened_from: Mutex<Vec<u64>>,
    }

    struct FlakyBody {
        from: u64,
        to: u64,
        len: u64,
    }

    impl Flaky {
        fn body(&self, from: u64) -> FlakyBody {
            FlakyBody {
                from,
                to: (from + self.breaks_after).min(self.len),
                len: self.len,
            }
        }
    }

    impl Reopen for Flaky {
        type Body = FlakyBody;

        async fn reopen(&self, from: u64) -> Result<FlakyBody, Failure> {
            self.reopened_from.lock().unwrap().push(from);
            Ok(self.body(from))
        }

        async fn chunk(body: &mut FlakyBody) -> Result<Option<Bytes>, String> {
            if body.from == body.to {
                return if body.to == body.len {
                    Ok(None)
                } else {
                    Err("connection reset".to_owned())
                };
            }
            let n = (body.to - body.from).min(3);
            body.from += n;
            Ok(Some(Bytes::from(vec![b'x'; n as usize])))
        }

        fn accepts_ranges(&self) -> bool {
            self.ranges
        }

        fn name(&self) -> String {
            "GET flaky".to_owned()
        }

        fn log_resume(&self, _broke: &str) {}
    }

    fn flaky(len: u64, breaks_after: u64, ranges: bool) -> Resuming<Flaky> {
        let origin = Flaky {
            len,
            breaks_after,
            ranges,
            reopened_from: Mutex::new(Vec::new()),
        };
        let body = origin.body(0);
        Resuming::new(origin, body, Some(len))
    }

    async fn read_all(r: &mut Resuming<Flaky>) -> Result<u64, Failure> {
        let mut n = 0;
        while let Some(b) = r.next_chunk().await? {
            n += b.len() as u64;
        }
        Ok(n)
    }

    #[tokio::test]
    async fn a_broken_body_is_continued_from_the_byte_reached() {
        let mut r = flaky(20, 8, true);
        assert_eq!(read_all(&mut r).await, Ok(20));
        assert_eq!(*r.origin.reopened_from.lock().unwrap(), [8, 16]);
    }

    #[tokio::test]
    async fn a_body_ending_short_of_the_announced_size_is_continued() {
        let origin = Flaky {
            len: 10,
            breaks_after: 10,
            ranges: true,
            reopened_from: Mutex::new(Vec::new()),
        };
        let short = FlakyBody {
            from: 0,
            to: 4,
            len: 4,
        };
        let mut r = Resuming::new(origin, short, Some(10));
        assert_eq!(read_all(&mut r).await, Ok(10));
        assert_eq!(*r.origin.reopened_from.lock().unwrap(), [4]);
    }

    #[tokio::test]
    async fn resumes_are_limited() {
        let mut r = flaky(100, 1, true);
        let e = read_all(&mut r).await.unwrap_err();
        assert_eq!(e.kind, FailureKind::Transient);
        assert_eq!(
            e.message,
            format!(
                "GET flaky: body broke at byte {}: connection reset (resumed too often)",
                MAX_RESUMES + 1
            )
        );
    }

    #[tokio::test]
    async fn without_ranges_a_break_restarts_the_attempt() {
        let mut r = flaky(10, 4, false);
        let e = read_all(&mut r).await.unwrap_err();
        assert_eq!(e.kind, FailureKind::Transient);
        assert!(e.message.contains("does not accept ranges"), "{e}");
        assert!(r.origin.reopened_from.lock().unwrap().is_empty());
    }
}
