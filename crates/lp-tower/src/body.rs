//! Which request bodies can be sent a second time.

use bytes::Bytes;
use http_body_util::combinators::{BoxBody, UnsyncBoxBody};
use http_body_util::{Either, Empty, Full};

/// A request body that may be copied before it is sent, so that the
/// request can be made again after a 401.
///
/// [`AppJwtService`](crate::AppJwtService) calls [`try_clone`](Self::try_clone)
/// once before each attempt that could be followed by a retry. `Some` keeps
/// a copy and allows the retry; `None` means the body can be sent once
/// only, and a 401 goes straight back to the caller.
///
/// | body | retried after a 401 |
/// |---|---|
/// | [`Full<D>`] (`D: Clone`, e.g. [`Bytes`]), [`Empty<D>`], [`Bytes`], `Vec<u8>`, [`String`], `&'static [u8]`, `&'static str` | yes: the copy shares or copies the bytes |
/// | [`BoxBody`], [`UnsyncBoxBody`] (a stream, e.g. a file or another request's body) | no |
/// | [`Either<L, R>`] | as the side it holds |
///
/// Implement it for your own body type: return `None` when the body is a
/// stream that cannot be read twice.
pub trait ReplayableBody: Sized {
    /// A body with the same bytes, or `None` when this one can be sent
    /// only once.
    fn try_clone(&self) -> Option<Self>;
}

/// Bodies that hold their bytes and are cheap or cheap enough to copy.
macro_rules! replayable_by_clone {
    ($($t:ty),* $(,)?) => {
        $(
            impl ReplayableBody for $t {
                fn try_clone(&self) -> Option<Self> {
                    Some(self.clone())
                }
            }
        )*
    };
}

replayable_by_clone!(Bytes, Vec<u8>, String, &'static [u8], &'static str);

impl<D: Clone> ReplayableBody for Full<D> {
    fn try_clone(&self) -> Option<Self> {
        Some(self.clone())
    }
}

impl<D> ReplayableBody for Empty<D> {
    fn try_clone(&self) -> Option<Self> {
        Some(Empty::new())
    }
}

/// A boxed body is usually a stream (a file, a proxied body): it is read
/// as it is sent and cannot be sent twice.
impl<D, E> ReplayableBody for BoxBody<D, E> {
    fn try_clone(&self) -> Option<Self> {
        None
    }
}

/// As [`BoxBody`]: sent once.
impl<D, E> ReplayableBody for UnsyncBoxBody<D, E> {
    fn try_clone(&self) -> Option<Self> {
        None
    }
}

impl<L: ReplayableBody, R: ReplayableBody> ReplayableBody for Either<L, R> {
    fn try_clone(&self) -> Option<Self> {
        match self {
            Either::Left(l) => l.try_clone().map(Either::Left),
            Either::Right(r) => r.try_clone().map(Either::Right),
        }
    }
}
