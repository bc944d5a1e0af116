//! The running emulator: where it listens, what to trust, and the test
//! controls (faults, counts, keys, revocation, what the Send API received).

use std::fmt;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::fault::lock;
use crate::state::State;
use crate::{
    Conversation, EmulatorError, Endpoint, Fault, ReceivedMessage, SigningKey, TlsIdentity, tls,
};

/// A running emulator. Dropping it shuts the server down.
pub struct EmulatorHandle {
    pub(crate) addr: SocketAddr,
    pub(crate) host: lp_ids::Host,
    pub(crate) tls: Option<tls::Tls>,
    pub(crate) state: Arc<State>,
    pub(crate) shutdown: watch::Sender<bool>,
    pub(crate) task: Option<JoinHandle<()>>,
}

impl fmt::Debug for EmulatorHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EmulatorHandle")
            .field("addr", &self.addr)
            .field("tls", &self.tls.is_some())
            .finish_non_exhaustive()
    }
}

impl EmulatorHandle {
    /// The bound socket address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `127.0.0.1:PORT`: what a client uses as Domain API (CSDS) host, and
    /// what the Domain API answers for `sentinel`.
    pub fn host(&self) -> lp_ids::Host {
        self.host.clone()
    }

    /// PEM of the throw-away CA to trust; empty in plain HTTP mode (see
    /// [`EmulatorHandle::is_tls`]).
    pub fn ca_pem(&self) -> &str {
        self.tls.as_ref().map_or("", |t| t.ca_pem.as_str())
    }

    /// This emulator's CA and certificate, to start another one that the
    /// same clients trust ([`crate::EmulatorBuilder::tls_identity`]); `None` in
    /// plain HTTP mode.
    pub fn tls_identity(&self) -> Option<TlsIdentity> {
        self.tls.clone().map(TlsIdentity)
    }

    /// Whether the emulator serves HTTPS (`false` with
    /// [`crate::EmulatorBuilder::plain_http`]).
    pub fn is_tls(&self) -> bool {
        self.tls.is_some()
    }

    /// DER of the throw-away CA to trust; `None` in plain HTTP mode.
    pub fn ca_cert_der(&self) -> Option<&[u8]> {
        self.tls.as_ref().map(|t| t.ca_der.as_ref())
    }

    /// Writes the CA's PEM to `path` (an `Unsupported` error in plain HTTP
    /// mode).
    pub fn write_ca_pem(&self, path: &Path) -> std::io::Result<()> {
        match &self.tls {
            Some(tls) => std::fs::write(path, &tls.ca_pem),
            None => Err(std::io::Error::new(
                std::io::ErrorKind::Unsupported,
                "plain http mode has no ca",
            )),
        }
    }

    /// `https://127.0.0.1:PORT` (`http://` in plain HTTP mode).
    pub fn base_url(&self) -> String {
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        format!("{scheme}://{}", self.host)
    }

    /// The document served at `/sentinel/well-known/jwks`.
    pub fn jwks_json(&self) -> String {
        self.state.jwks_json()
    }

    /// SubjectPublicKeyInfo DER of the current signing key.
    pub fn public_key_spki_der(&self) -> Vec<u8> {
        lock(&self.state.keys)
            .current()
            .public_key_spki_der()
            .to_vec()
    }

    /// The current signing key (public parts and kid; cloning shares it).
    pub fn current_key(&self) -> SigningKey {
        lock(&self.state.keys).current().clone()
    }

    /// The kid new tokens carry.
    pub fn current_kid(&self) -> String {
        lock(&self.state.keys).current().kid().to_owned()
    }

    /// Generates a new key that signs from now on; the old one stays in the
    /// JWKS for the grace period. Blocks for key generation (a fraction of a
    /// second); [`EmulatorHandle::rotate_key_to`] takes a ready key.
    pub fn rotate_key(&self) -> Result<(), EmulatorError> {
        let key = SigningKey::generate()?;
        self.rotate_key_to(key);
        Ok(())
    }

    /// Like [`EmulatorHandle::rotate_key`] with a given key. A kid already
    /// used by this emulator gets a `-2`, `-3`, ... suffix.
    pub fn rotate_key_to(&self, key: SigningKey) {
        lock(&self.state.keys).rotate(key, Instant::now());
    }

    /// A token exactly as the endpoint would issue it to `client_id` for
    /// `account` now, without checking that they are registered.
    pub fn issue_token(&self, account: &str, client_id: &str) -> Result<String, EmulatorError> {
        self.state.mint(account, client_id, None)
    }

    /// Like [`EmulatorHandle::issue_token`], altered by a token fault
    /// ([`Fault::ExpiredToken`], [`Fault::WrongAccountToken`],
    /// [`Fault::WrongIssuerToken`], [`Fault::BadSignatureToken`],
    /// [`Fault::FutureIatToken`]); any other fault changes nothing. Handy to
    /// present a bad AppJWT to the idp endpoint.
    pub fn issue_token_with(
        &self,
        account: &str,
        client_id: &str,
        fault: &Fault,
    ) -> Result<String, EmulatorError> {
        self.state.mint(account, client_id, Some(fault))
    }

    /// A ConsumerJWS exactly as the idp endpoint would issue it now for
    /// `ext_consumer_id` of `account`, without any check.
    pub fn issue_consumer_jws(
        &self,
        account: &str,
        ext_consumer_id: &str,
    ) -> Result<String, EmulatorError> {
        self.state.mint_consumer(account, ext_consumer_id)
    }

    /// Revokes an AppJWT: from now on the idp and the Send API refuse it
    /// with `401` (the idp's message says `the appjwt has been revoked`). A
    /// token fetched afterwards works, even one asked for in the same second
    /// (its `iat` and `exp` are a second earlier, so that it differs).
    /// Returns whether this emulator had issued `token`.
    pub fn revoke_app_jwt(&self, token: &str) -> bool {
        self.state.revocations.revoke(token)
    }

    /// Revokes every AppJWT issued so far (through the token endpoint or
    /// [`EmulatorHandle::issue_token`]), as if Sentinel had dropped them
    /// all; returns how many were not revoked before.
    pub fn revoke_all_app_jwts(&self) -> usize {
        self.state.revocations.revoke_all()
    }

    /// The messages the Send API accepted, in the order it accepted them.
    pub fn messages(&self) -> Vec<ReceivedMessage> {
        self.state.send_api.messages()
    }

    /// The conversations the Send API opened, in the order it opened them.
    pub fn conversations(&self) -> Vec<Conversation> {
        self.state.send_api.conversations()
    }

    /// The next `times` requests to `endpoint` get `fault`. Faults are
    /// used in the order they were injected.
    pub fn inject(&self, endpoint: Endpoint, fault: Fault, times: u32) {
        self.state.faults.inject(endpoint, fault, times);
    }

    /// Forgets every injected fault not used yet.
    pub fn clear_faults(&self) {
        self.state.faults.clear();
    }

    /// Requests received for `endpoint` since start or the last reset,
    /// faulted or not.
    pub fn request_count(&self, endpoint: Endpoint) -> u64 {
        self.state.counts.get(endpoint)
    }

    /// Sets every request count to zero.
    pub fn reset_counts(&self) {
        self.state.counts.reset();
    }

    /// Stops serving and waits until the port is released. Hanging and
    /// delayed requests end with their connections.
    pub async fn shutdown(mut self) {
        let _ = self.shutdown.send(true);
        if let Some(task) = self.task.take() {
            task.abort();
            let _ = task.await;
        }
    }
}

impl Drop for EmulatorHandle {
    fn drop(&mut self) {
        let _ = self.shutdown.send(true);
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}
