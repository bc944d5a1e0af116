//! The token handed out ([`AppJwt`]) and the token cell's value, with the
//! per-thread copies that keep the fresh path free of shared writes.

use std::cell::Cell;
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime};

use lp_jwt::{AppJwtClaims, Header};
use lp_oauth::AccessToken;
use tokio::time::Instant;

/// The longest lifetime trusted, whatever `expires_in` or `exp` say.
pub const MAX_LIFETIME: Duration = Duration::from_secs(24 * 60 * 60);

/// A verified and validated AppJWT, as handed out by
/// [`AppJwtClient::token`](crate::AppJwtClient::token).
///
/// Cheap to clone. `Debug` shows the header and claims but not the token.
#[derive(Clone)]
pub struct AppJwt {
    pub(crate) inner: Arc<AppJwtInner>,
}

#[derive(Clone)]
pub(crate) struct AppJwtInner {
    pub(crate) token: AccessToken,
    pub(crate) header: Header,
    pub(crate) claims: AppJwtClaims,
    pub(crate) token_type: String,
    pub(crate) expires_at: Instant,
    pub(crate) usable_until: Instant,
    pub(crate) expires_at_system: SystemTime,
    pub(crate) verified: bool,
    /// The Sentinel host it came from: written to a token store with it,
    /// so that a reader checks it against that host's keys.
    pub(crate) sentinel: lp_ids::Host,
}

impl AppJwt {
    /// The raw compact token, to put in a request.
    pub fn secret(&self) -> &str {
        self.inner.token.secret()
    }

    /// The value for the `Authorization` header of LivePerson's APIs: the
    /// raw token, without a `Bearer ` prefix, as LivePerson's examples send
    /// it.
    pub fn authorization_header_value(&self) -> &str {
        self.inner.token.secret()
    }

    /// The decoded JOSE header.
    pub fn header(&self) -> &Header {
        &self.inner.header
    }

    /// The decoded, validated claims.
    pub fn claims(&self) -> &AppJwtClaims {
        &self.inner.claims
    }

    /// The `token_type` Sentinel sent (`Bearer`).
    pub fn token_type(&self) -> &str {
        &self.inner.token_type
    }

    /// When the token expires, on tokio's monotonic clock: the instant the
    /// request was sent plus the lifetime, the shorter of `expires_in` and
    /// `exp` minus the wall-clock time the answer was checked (whichever is
    /// present when only one is), at most [`MAX_LIFETIME`].
    pub fn expires_at(&self) -> Instant {
        self.inner.expires_at
    }

    /// Until when the client hands this token out, on tokio's monotonic
    /// clock: [`AppJwt::expires_at`] less the part of its life kept back
    /// so that a request made with it does not arrive expired (a tenth
    /// of the lifetime, at most 1 s).
    pub fn usable_until(&self) -> Instant {
        self.inner.usable_until
    }

    /// The same expiry on the wall clock the client was given.
    pub fn expires_at_system(&self) -> SystemTime {
        self.inner.expires_at_system
    }

    /// Whether the signature was checked: `true` unless the client was
    /// built with [`VerifyWith::None`](crate::VerifyWith::None).
    pub fn is_verified(&self) -> bool {
        self.inner.verified
    }

    /// Whether `other` is this very copy (the same fetch). Two fetches
    /// within a second may give the same text (RS256 is deterministic),
    /// so the text would not tell.
    pub(crate) fn same_copy(&self, other: &AppJwt) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }

    /// Life left at `now` on tokio's clock (zero once expired).
    pub fn remaining(&self) -> Duration {
        self.inner
            .expires_at
            .saturating_duration_since(Instant::now())
    }
}

impl fmt::Debug for AppJwt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AppJwt")
            .field("token", &format_args!("[redacted]"))
            .field("token_type", &self.inner.token_type)
            .field("header", &self.inner.header)
            .field("claims", &self.inner.claims)
            .field("expires_at_system", &self.inner.expires_at_system)
            .field("verified", &self.inner.verified)
            .finish()
    }
}

/// How many copies of the cached token the lock-free path hands out from.
///
/// Cloning an [`AppJwt`] bumps its `Arc`'s reference count. With one shared
/// copy, every `token()` on every thread would write the same cache line,
/// and two threads would spend their time passing it back and forth (the
/// benchmark showed two threads slower than one). Each thread takes its
/// clones from its own copy instead, so a fresh-cache `token()` writes no
/// memory another thread reads. A power of two, so picking is a mask: one
/// per CPU (rounded up), at most 8, since more threads than CPUs cannot
/// all run at once, and every copy costs memory per cached token (a
/// registry of 10,000 accounts holds 10,000 tokens).
fn replicas() -> usize {
    static N: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *N.get_or_init(|| {
        std::thread::available_parallelism()
            .map_or(1, |n| n.get())
            .next_power_of_two()
            .min(8)
    })
}

std::thread_local! {
    /// This thread's replica index, handed out round-robin at first use
    /// (`usize::MAX` until then). A `const` thread-local without `Drop`
    /// needs no lazy-initialisation check on access.
    static REPLICA: Cell<usize> = const { Cell::new(usize::MAX) };
}

/// This thread's replica index.
#[inline]
fn replica() -> usize {
    REPLICA.with(|r| {
        let index = r.get();
        if index != usize::MAX {
            return index;
        }
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let index = NEXT.fetch_add(1, Ordering::Relaxed) & (replicas() - 1);
        r.set(index);
        index
    })
}

/// The token cell's value: a token and its per-thread copies.
#[derive(Clone)]
pub(crate) struct TokenEntry {
    token: AppJwt,
    /// Separate allocations of the same token, one per replica index; see
    /// [`replicas`].
    replicas: Arc<[AppJwt]>,
}

impl TokenEntry {
    pub(crate) fn new(token: AppJwt) -> Self {
        let replicas = (0..replicas())
            .map(|_| AppJwt {
                inner: Arc::new(AppJwtInner::clone(&token.inner)),
            })
            .collect();
        TokenEntry { token, replicas }
    }

    /// The token as first stored.
    pub(crate) fn token(&self) -> &AppJwt {
        &self.token
    }

    /// A clone of the token from this thread's replica.
    #[inline]
    pub(crate) fn local_token(&self) -> AppJwt {
        self.replicas.get(replica()).unwrap_or(&self.token).clone()
    }

    /// Whether `token` is one of this entry's copies.
    pub(crate) fn holds(&self, token: &AppJwt) -> bool {
        std::iter::once(&self.token)
            .chain(self.replicas.iter())
            .any(|t| Arc::ptr_eq(&t.inner, &token.inner))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(text: &str) -> AppJwt {
        AppJwt {
            inner: Arc::new(AppJwtInner {
                token: AccessToken::new(text.to_owned()),
                header: Header::new("RS256"),
                claims: AppJwtClaims::default(),
                token_type: "Bearer".to_owned(),
                expires_at: Instant::now(),
                usable_until: Instant::now(),
                expires_at_system: SystemTime::UNIX_EPOCH,
                verified: true,
                sentinel: lp_ids::Host::parse("va.sentinel.liveperson.net").unwrap(),
            }),
        }
    }

    #[test]
    fn replicas_are_separate_copies_of_the_same_token() {
        let cached = TokenEntry::new(token("a.b.c"));
        assert_eq!(cached.replicas.len(), replicas());
        let mut seen: Vec<*const AppJwtInner> = vec![Arc::as_ptr(&cached.token.inner)];
        for r in cached.replicas.iter() {
            assert_eq!(r.secret(), "a.b.c");
            assert!(cached.holds(r));
            seen.push(Arc::as_ptr(&r.inner));
        }
        seen.sort();
        seen.dedup();
        assert_eq!(
            seen.len(),
            replicas() + 1,
            "every copy is its own allocation"
        );

        let local = cached.local_token();
        assert!(cached.holds(&local));
        assert!(!cached.holds(&token("a.b.c")), "same text, another token");

        // A clone of the entry keeps the very same copies.
        let later = cached.clone();
        assert!(later.holds(&local));
    }

    #[test]
    fn each_thread_keeps_its_replica() {
        let cached = TokenEntry::new(token("a.b.c"));
        let first = cached.local_token();
        let again = cached.local_token();
        assert!(Arc::ptr_eq(&first.inner, &again.inner));
    }
}
