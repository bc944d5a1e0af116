//! Response bodies: whole, streamed padding, or cut off mid-way.

use std::fmt;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use hyper::body::{Body, Frame, SizeHint};

/// Chunk size of a streamed [`crate::Fault::HugeBody`].
const CHUNK: usize = 16 * 1024;
static FILL: [u8; CHUNK] = [b'A'; CHUNK];
/// How a huge body starts, so a client sees the start of a token answer.
const HUGE_PREFIX: &[u8] = b"{\"access_token\":\"";
/// How long a cut-off body waits before failing, so that hyper flushes the
/// headers and the first part instead of dropping them with the connection.
const CUT_DELAY: Duration = Duration::from_millis(20);

/// The body of every response the emulator sends.
pub(crate) struct EmuBody {
    kind: Kind,
}

enum Kind {
    Full(Option<Bytes>),
    /// `remaining` bytes: `prefix`, then `A`s.
    Huge {
        sent: usize,
        total: usize,
    },
    /// `part`, then an error after a short pause.
    Cut {
        part: Option<Bytes>,
        pause: Pin<Box<tokio::time::Sleep>>,
    },
}

/// The error a cut-off body ends with; hyper then aborts the connection
/// (HTTP/1.1) or resets the stream (HTTP/2).
#[derive(Debug)]
pub(crate) struct CutOff;

impl fmt::Display for CutOff {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("body cut off by an injected fault")
    }
}

impl std::error::Error for CutOff {}

impl EmuBody {
    pub(crate) fn full(bytes: impl Into<Bytes>) -> Self {
        let bytes = bytes.into();
        EmuBody {
            kind: Kind::Full((!bytes.is_empty()).then_some(bytes)),
        }
    }

    pub(crate) fn empty() -> Self {
        EmuBody {
            kind: Kind::Full(None),
        }
    }

    pub(crate) fn huge(total: usize) -> Self {
        EmuBody {
            kind: Kind::Huge { sent: 0, total },
        }
    }

    pub(crate) fn cut(part: Bytes) -> Self {
        EmuBody {
            kind: Kind::Cut {
                part: Some(part),
                pause: Box::pin(tokio::time::sleep(CUT_DELAY)),
            },
        }
    }
}

impl Body for EmuBody {
    type Data = Bytes;
    type Error = CutOff;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, CutOff>>> {
        match &mut self.kind {
            Kind::Full(bytes) => Poll::Ready(bytes.take().map(|b| Ok(Frame::data(b)))),
            Kind::Huge { sent, total } => {
                if *sent >= *total {
                    return Poll::Ready(None);
                }
                let chunk = if *sent < HUGE_PREFIX.len() {
                    let end = HUGE_PREFIX.len().min(*total);
                    Bytes::from_static(HUGE_PREFIX).slice(*sent..end)
                } else {
                    let n = CHUNK.min(*total - *sent);
                    Bytes::from_static(&FILL).slice(..n)
                };
                *sent += chunk.len();
                Poll::Ready(Some(Ok(Frame::data(chunk))))
            }
            Kind::Cut { part, pause } => {
                if let Some(b) = part.take() {
                    return Poll::Ready(Some(Ok(Frame::data(b))));
                }
                match pause.as_mut().poll(cx) {
                    Poll::Ready(()) => Poll::Ready(Some(Err(CutOff))),
                    Poll::Pending => Poll::Pending,
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.kind {
            Kind::Full(b) => b.is_none(),
            Kind::Huge { sent, total } => sent >= total,
            Kind::Cut { .. } => false,
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.kind {
            Kind::Full(b) => SizeHint::with_exact(b.as_ref().map_or(0, |b| b.len() as u64)),
            Kind::Huge { sent, total } => SizeHint::with_exact(total.saturating_sub(*sent) as u64),
            Kind::Cut { .. } => SizeHint::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt as _;

    #[tokio::test]
    async fn huge_bodies_have_the_exact_length() {
        for total in [
            0,
            1,
            5,
            HUGE_PREFIX.len(),
            100,
            CHUNK,
            CHUNK + 7,
            3 * CHUNK + 1,
        ] {
            let body = EmuBody::huge(total);
            assert_eq!(body.size_hint().exact(), Some(total as u64));
            let got = match body.collect().await {
                Ok(c) => c.to_bytes(),
                Err(e) => panic!("{e}"),
            };
            assert_eq!(got.len(), total);
            let n = HUGE_PREFIX.len().min(total);
            assert_eq!(&got[..n], &HUGE_PREFIX[..n]);
        }
    }

    #[tokio::test]
    async fn cut_bodies_end_with_an_error() {
        let mut body = EmuBody::cut(Bytes::from_static(b"{\"a\""));
        let first = body.frame().await.map(|f| f.map(|f| f.into_data().ok()));
        assert!(matches!(first, Some(Ok(Some(b))) if b == "{\"a\""));
        assert!(matches!(body.frame().await, Some(Err(CutOff))));
    }
}
