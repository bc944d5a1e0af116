//! What the handlers share: keys, registered clients, faults, counts,
//! revocations and the Send API's store; and minting and checking tokens.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tokio::sync::watch;

use crate::fault::{Counts, Faults, lock};
use crate::jwt::{self, Claims, ConsumerClaims, ConsumerIdentity, Rejection};
use crate::revoke::Revocations;
use crate::{EmulatorError, Fault, SigningKey, UnknownService, send_api};

/// Seconds a token of [`Fault::FutureIatToken`] is issued in the future.
const FUTURE_IAT_SECS: i64 = 3600;
/// Seconds ago a token of [`Fault::ExpiredToken`] expired.
const EXPIRED_AGO_SECS: i64 = 60;

/// Most times a token is re-signed a second earlier to differ from a
/// revoked one (see [`State::mint`]).
const MAX_REVOKED_SHIFTS: i64 = 10_000;

/// Everything the handlers share.
pub(crate) struct State {
    /// `host:port` the Domain API answers for every service.
    pub(crate) advertised: String,
    /// (account, client id) -> SHA-256 of the secret.
    pub(crate) clients: HashMap<(String, String), [u8; 32]>,
    pub(crate) accounts: HashSet<String>,
    pub(crate) services: Vec<String>,
    pub(crate) lifetime: Duration,
    pub(crate) send_expires_in: bool,
    pub(crate) unknown_service: UnknownService,
    pub(crate) keys: Mutex<KeyRing>,
    pub(crate) faults: Faults,
    pub(crate) counts: Counts,
    pub(crate) on_request: Option<crate::RequestCallback>,
    pub(crate) rng: ring::rand::SystemRandom,
    pub(crate) shutdown: watch::Receiver<bool>,
    pub(crate) max_body: usize,
    pub(crate) revocations: Revocations,
    pub(crate) send_api: send_api::Store,
}

/// The current signing key and the retired ones still published.
pub(crate) struct KeyRing {
    current: SigningKey,
    /// Retired keys with the instant they were retired, oldest first.
    retired: Vec<(SigningKey, Instant)>,
    /// `None`: a retired key is published until the next rotation.
    grace: Option<Duration>,
    kids_used: HashSet<String>,
}

impl KeyRing {
    pub(crate) fn new(current: SigningKey, grace: Option<Duration>) -> Self {
        let kids_used = HashSet::from([current.kid().to_owned()]);
        KeyRing {
            current,
            retired: Vec::new(),
            grace,
            kids_used,
        }
    }

    pub(crate) fn current(&self) -> &SigningKey {
        &self.current
    }

    /// Makes `key` the signing key, renaming it `kid-2`, `kid-3`, ... when
    /// its kid was used before, so a kid always names one key.
    pub(crate) fn rotate(&mut self, key: SigningKey, now: Instant) {
        let base = key.kid().to_owned();
        let mut kid = base.clone();
        let mut n = 2u64;
        while self.kids_used.contains(&kid) {
            kid = format!("{base}-{n}");
            n += 1;
        }
        self.kids_used.insert(kid.clone());
        let old = std::mem::replace(&mut self.current, key.with_kid(kid));
        if self.grace.is_none() {
            self.retired.clear();
        }
        self.retired.push((old, now));
    }

    /// The keys in the JWKS: the current one first, then retired ones,
    /// newest first.
    pub(crate) fn published(&self, now: Instant) -> Vec<SigningKey> {
        let mut keys = vec![self.current.clone()];
        for (key, retired_at) in self.retired.iter().rev() {
            let live = match self.grace {
                None => true,
                Some(grace) => now.saturating_duration_since(*retired_at) < grace,
            };
            if live {
                keys.push(key.clone());
            }
        }
        keys
    }
}

impl State {
    pub(crate) fn jwks_json(&self) -> String {
        let keys = lock(&self.keys).published(Instant::now());
        let keys: Vec<_> = keys.iter().map(SigningKey::jwk).collect();
        serde_json::json!({ "keys": keys }).to_string()
    }

    /// A token as the endpoint issues it, altered by a token fault.
    pub(crate) fn mint(
        &self,
        account: &str,
        client_id: &str,
        fault: Option<&Fault>,
    ) -> Result<String, EmulatorError> {
        let key = lock(&self.keys).current().clone();
        let now = unix_now();
        let lifetime = i64::try_from(self.lifetime.as_secs()).unwrap_or(i64::MAX / 4);
        let wrong_account = format!("{account}-other");
        let mut claims = Claims {
            aud: account,
            azp: client_id,
            scope: "msg.consumer",
            iss: "Sentinel",
            exp: now.saturating_add(lifetime),
            iat: now,
        };
        match fault {
            Some(Fault::WrongAccountToken) => claims.aud = &wrong_account,
            Some(Fault::WrongIssuerToken) => claims.iss = "NotSentinel",
            Some(Fault::ExpiredToken) => {
                claims.exp = now - EXPIRED_AGO_SECS;
                claims.iat = claims.exp.saturating_sub(lifetime);
            }
            Some(Fault::FutureIatToken) => {
                claims.iat = now + FUTURE_IAT_SECS;
                claims.exp = claims.iat.saturating_add(lifetime);
            }
            _ => {}
        }
        let corrupt = matches!(fault, Some(Fault::BadSignatureToken));
        // RS256 is deterministic: a token asked for in the second a revoked
        // twin was issued in would be that very token, still refused. Moving
        // `iat` and `exp` a second back makes it a new one, as a client that
        // fetches again after a revocation expects.
        for _ in 0..MAX_REVOKED_SHIFTS {
            let token = jwt::encode(&key, &self.rng, &claims, corrupt)?;
            if !self.revocations.is_revoked(&token) {
                self.revocations.issued(&token);
                return Ok(token);
            }
            claims.iat -= 1;
            claims.exp -= 1;
        }
        Err(EmulatorError::Signing)
    }

    /// A ConsumerJWS as the idp endpoint issues it.
    pub(crate) fn mint_consumer(
        &self,
        account: &str,
        ext_consumer_id: &str,
    ) -> Result<String, EmulatorError> {
        let key = lock(&self.keys).current().clone();
        let lp_consumer_id = jwt::lp_consumer_id(account, ext_consumer_id);
        let claims = ConsumerClaims {
            account_id: account,
            ext_consumer_id,
            lp_consumer_id: &lp_consumer_id,
            iat: unix_now(),
        };
        jwt::encode(&key, &self.rng, &claims, false)
    }

    /// Checks an AppJWT against the keys the JWKS publishes now, and that
    /// it was not revoked.
    pub(crate) fn verify_app_jwt(&self, token: &str, account: &str) -> Result<(), Rejection> {
        let keys = lock(&self.keys).published(Instant::now());
        jwt::verify_app_jwt(token, &keys, account, unix_now())?;
        if self.revocations.is_revoked(token) {
            return Err(Rejection::Revoked);
        }
        Ok(())
    }

    /// Checks a ConsumerJWS against the keys the JWKS publishes now.
    pub(crate) fn verify_consumer_jws(
        &self,
        token: &str,
        account: &str,
    ) -> Result<ConsumerIdentity, Rejection> {
        let keys = lock(&self.keys).published(Instant::now());
        jwt::verify_consumer_jws(token, &keys, account)
    }
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX / 4))
        .unwrap_or(0)
}
