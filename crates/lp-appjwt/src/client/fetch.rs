//! One token fetch: the Sentinel host, the request, the checks (decode,
//! signature, claims), and the lifetime that decides when the token is
//! refreshed and when it must no longer be handed out.

use std::future::Future;
use std::sync::Arc;
use std::task::Poll;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use lp_jwt::{UnverifiedToken, Validation};
use lp_oauth::TokenRequest;
use tokio::time::Instant;
use tracing::Instrument;

use super::token::{AppJwtInner, TokenEntry};
use super::{AppJwt, Inner, MAX_LIFETIME, millis};
use crate::error::Error;
use crate::refresh::{Progress, Stamped};
use crate::retry;

/// The part of a token's life at its end that is not handed out, so that
/// a request made with it does not arrive expired: a tenth of the
/// lifetime, at most this.
pub(super) const END_MARGIN: Duration = Duration::from_secs(1);

/// When a token is refreshed, until when it is handed out, and when it
/// expires.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Window {
    pub(super) lifetime: Duration,
    pub(super) refresh_at: Instant,
    /// The end of the lifetime less [`END_MARGIN`] (or a tenth of it).
    pub(super) serve_until: Instant,
    /// The end of the lifetime.
    pub(super) expires_at: Instant,
}

/// The window of a token sent for at `sent_at`: the lifetime is the shorter
/// of `expires_in` and `exp - now` (whichever Sentinel sent, if only one),
/// at most [`MAX_LIFETIME`]; the refresh comes `margin` before its end, but
/// never before half of it; it is handed out until [`END_MARGIN`] (at most
/// a tenth of the lifetime) before its end. A lifetime of zero is an
/// error: such a token would be handed out already expired.
pub(super) fn window(
    expires_in: Option<Duration>,
    exp: Option<i64>,
    now: SystemTime,
    sent_at: Instant,
    margin: Duration,
) -> Result<Window, Error> {
    let now_secs = match now.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        Err(e) => -i64::try_from(e.duration().as_secs()).unwrap_or(i64::MAX),
    };
    let exp_in = exp.map(|exp| exp.saturating_sub(now_secs));
    // `exp` is whole seconds: the part of the current second already gone
    // counts against the token.
    let subsec = Duration::from_nanos(u64::from(
        now.duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos()),
    ));
    let until_exp =
        exp_in.map(|s| Duration::from_secs(u64::try_from(s).unwrap_or(0)).saturating_sub(subsec));
    let lifetime = match (expires_in, until_exp) {
        (Some(a), Some(b)) => a.min(b),
        (Some(d), None) | (None, Some(d)) => d,
        (None, None) => Duration::ZERO,
    }
    .min(MAX_LIFETIME);
    if lifetime.is_zero() {
        return Err(Error::NoLifetime {
            expires_in: expires_in.map(|d| d.as_secs()),
            exp_in,
        });
    }
    let expires_at = sent_at.checked_add(lifetime).unwrap_or(sent_at);
    let serve_until = expires_at
        .checked_sub(END_MARGIN.min(lifetime / 10))
        .unwrap_or(sent_at);
    let refresh_at = expires_at
        .checked_sub(margin.min(lifetime / 2))
        .unwrap_or(sent_at)
        .min(serve_until);
    Ok(Window {
        lifetime,
        refresh_at,
        serve_until,
        expires_at,
    })
}

/// Runs `a` and `b` at once in this task; both outcomes. (tokio's `join!`
/// needs its `macros` feature, and a proc-macro crate, for these lines.)
async fn both<A: Future, B: Future>(a: A, b: B) -> (A::Output, B::Output) {
    let (mut a, mut b) = (std::pin::pin!(a), std::pin::pin!(b));
    let (mut out_a, mut out_b) = (None, None);
    std::future::poll_fn(|cx| {
        if out_a.is_none() {
            if let Poll::Ready(v) = a.as_mut().poll(cx) {
                out_a = Some(v);
            }
        }
        if out_b.is_none() {
            if let Poll::Ready(v) = b.as_mut().poll(cx) {
                out_b = Some(v);
            }
        }
        match (out_a.take(), out_b.take()) {
            (Some(a), Some(b)) => Poll::Ready((a, b)),
            (a, b) => {
                (out_a, out_b) = (a, b);
                Poll::Pending
            }
        }
    })
    .await
}

impl Inner {
    /// The token cell's fetch: attempts under the retry policy, from now.
    pub(super) async fn fetch_token(
        self: Arc<Self>,
        progress: Progress,
    ) -> Result<Stamped<TokenEntry>, Error> {
        let deadline = retry::deadline_from(&self.retry, Instant::now());
        retry::run_until(
            &self.retry,
            deadline,
            || self.clock.now(),
            "fetch",
            Some(&progress),
            |_| self.attempt(deadline),
        )
        .await
    }

    /// One lookup (if needed) and one token request, decoded, verified
    /// (which may fetch the key set) and validated.
    async fn attempt(&self, deadline: Option<Instant>) -> Result<Stamped<TokenEntry>, Error> {
        let sentinel = self.sentinel_host(deadline).await?;
        // A remote key set is needed to check the token. Asked for
        // alongside the token request it costs a cold start no round trip
        // of its own; once getting it has failed, it is asked for first
        // until it is had, so that a key set that cannot be had costs one
        // token request (and one sending of the secret), not one per try.
        let early_keys = if self.verifier.failing(&sentinel) {
            Some(self.verifier.prepare(&sentinel, deadline).await?)
        } else {
            None
        };
        let request = TokenRequest {
            sentinel: sentinel.clone(),
            account: self.account.clone(),
            client_id: self.client_id.clone(),
            client_secret: self.secret.clone(),
            version: self.version,
        }
        .to_http();
        let span = tracing::info_span!(
            "appjwt.fetch",
            account = %self.account,
            sentinel = %sentinel,
            status = tracing::field::Empty,
            latency_ms = tracing::field::Empty,
        );
        let sent_at = Instant::now();
        let sent_at_system = self.clock.now();
        let send = async {
            let response = self.transport.send(request).instrument(span.clone()).await;
            span.record("latency_ms", millis(sent_at.elapsed()));
            response
        };
        let (keys, response) = match early_keys {
            Some(just_fetched) => (Ok(just_fetched), send.await),
            None => both(self.verifier.prepare(&sentinel, deadline), send).await,
        };
        let response = match response {
            Ok(r) => r,
            Err(e) => {
                if e.is_connection_failure() && self.sentinel.is_none() {
                    // The host may come from a stale map: look it up again
                    // in the background, keeping the map meanwhile.
                    self.domains.mark_due(|_| true);
                }
                span.in_scope(|| tracing::info!(error = %e, "token request failed"));
                return Err(Error::Transport(e));
            }
        };
        span.record("status", response.status().as_u16());
        // Sentinel's own refusal (a 401, a 429) is what the failure memory
        // must hear first; a key set that failed only makes a token
        // unusable.
        let parsed = lp_oauth::parse_token_response(&response).map_err(Error::Token)?;
        let keys_just_fetched = keys?;
        let decoded = UnverifiedToken::decode(parsed.access_token.secret())?;
        // The signature first: claims are not worth reading before the
        // token is known to come from Sentinel.
        let verified = self
            .verifier
            .verify(&decoded, &sentinel, keys_just_fetched, deadline)
            .await
            .inspect_err(|e| {
                span.in_scope(|| tracing::info!(error = %e, "token signature refused"));
            })?;
        let now = self.clock.now();
        Validation::new(self.account.as_str())
            .client_id(self.client_id.as_str())
            .issuer(lp_jwt::SENTINEL_ISSUER)
            .leeway(self.leeway)
            .validate(decoded.header(), decoded.claims(), now)?;
        let (header, claims) = decoded.into_parts();
        let margin = self
            .refresh_ahead
            .saturating_add(retry::full_jitter(self.refresh_jitter));
        let window = window(
            parsed.expires_in,
            claims.exp.map(|e| e.as_secs()),
            now,
            sent_at,
            margin,
        )?;
        let token = AppJwt {
            inner: Arc::new(AppJwtInner {
                token: parsed.access_token,
                header,
                claims,
                token_type: parsed.token_type,
                expires_at: window.expires_at,
                usable_until: window.serve_until,
                expires_at_system: sent_at_system
                    .checked_add(window.lifetime)
                    .unwrap_or(sent_at_system),
                verified,
            }),
        };
        span.in_scope(|| {
            tracing::info!(lifetime_s = window.lifetime.as_secs(), "appjwt fetched");
        });
        crate::metrics::token_expires_in(window.lifetime);
        Ok(Stamped::new(
            TokenEntry::new(token),
            sent_at,
            window.refresh_at,
            window.serve_until,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows() {
        let wall = UNIX_EPOCH + Duration::from_secs(1_000_000);
        let sent = Instant::now();
        let s = Duration::from_secs;
        let check = |expires_in: Option<u64>,
                     exp_in: Option<i64>,
                     margin: u64,
                     expected: Option<(u64, u64)>| {
            let got = window(
                expires_in.map(s),
                exp_in.map(|e| e.saturating_add(1_000_000)),
                wall,
                sent,
                s(margin),
            );
            match expected {
                Some((lifetime, refresh_after)) => {
                    let w = got.unwrap_or_else(|e| panic!("{expires_in:?} {exp_in:?}: {e}"));
                    assert_eq!(w.lifetime, s(lifetime), "{expires_in:?} {exp_in:?}");
                    assert_eq!(w.expires_at, sent + s(lifetime));
                    let end_margin = END_MARGIN.min(s(lifetime) / 10);
                    assert_eq!(w.serve_until, sent + s(lifetime) - end_margin);
                    assert_eq!(
                        w.refresh_at,
                        sent + s(refresh_after),
                        "{expires_in:?} {exp_in:?}"
                    );
                }
                None => assert!(
                    matches!(got, Err(Error::NoLifetime { .. })),
                    "{expires_in:?} {exp_in:?}: {got:?}"
                ),
            }
        };
        check(Some(3600), Some(3600), 300, Some((3600, 3300)));
        check(Some(3600), None, 300, Some((3600, 3300)));
        check(None, Some(3600), 300, Some((3600, 3300)));
        // The shorter of both.
        check(Some(3600), Some(60), 300, Some((60, 30)));
        check(Some(60), Some(3600), 300, Some((60, 30)));
        // At most a day.
        check(Some(10 * 86_400), None, 300, Some((86_400, 86_100)));
        // Nothing left: an error, never a token past its `exp`.
        check(Some(0), Some(3600), 300, None);
        check(Some(3600), Some(0), 300, None);
        check(Some(3600), Some(-30), 300, None);
        check(None, None, 300, None);
        check(None, Some(i64::MIN), 300, None);
        check(Some(u64::MAX), Some(i64::MAX), 300, Some((86_400, 86_100)));
    }
}
