//! Sealing a record for a [`TokenStore`](lp_store::TokenStore): what goes in
//! (the token and what its window is computed from), and the AEAD around it.
//!
//! A sealed record is `FORMAT || nonce (12 bytes) || AES-256-GCM(plain) || tag`.
//! The key is HKDF-SHA256 of the client secret, with a salt naming the
//! record format and an info naming account, client id and API version, so
//! one secret gives unrelated keys for unrelated installations. The
//! associated data is the format byte and the record key: a record copied
//! under another key, or written for another secret, fails to open. Every
//! record has a fresh random nonce from ring's `SystemRandom`.
//!
//! Pure apart from the random nonce: no IO, no clock.

use lp_domain::{DomainMap, ServiceName};
use lp_ids::{AccountId, ClientId, Host};
use lp_oauth::{ApiVersion, ClientSecret};
use lp_store::RecordKey;
use ring::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use ring::hkdf;
use ring::rand::{SecureRandom, SystemRandom};

/// The first byte of every sealed record, and part of the key derivation:
/// a later format gets other keys, so an old reader never misreads it.
pub(crate) const FORMAT: u8 = 1;

/// The HKDF salt: names what the key is for and the record format.
const SALT: &[u8] = b"lp-appjwt token store record v1";

/// Why a record could not be opened. Deliberately without detail: a
/// record that fails is dropped, and why it failed helps no attacker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OpenError {
    /// Shorter than a format byte, a nonce and a tag.
    Truncated,
    /// Another format.
    Format,
    /// The tag does not match: another secret, another key, or changed.
    Forged,
    /// Opened, but the plain text is not a record.
    Malformed,
}

impl OpenError {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            OpenError::Truncated => "truncated record",
            OpenError::Format => "unknown record format",
            OpenError::Forged => "record does not open with this client's key",
            OpenError::Malformed => "opened record is malformed",
        }
    }
}

/// Seals and opens the records of one installation (account, client id,
/// secret, API version).
pub(crate) struct Sealer {
    key: LessSafeKey,
    rng: SystemRandom,
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sealer([redacted])")
    }
}

/// The length-prefixed parts of the HKDF info, so that no two
/// installations give the same bytes.
fn info(account: &AccountId, client_id: &ClientId, version: ApiVersion) -> Vec<u8> {
    let api = api_label(version);
    let mut out = Vec::new();
    for part in [
        "appjwt-record".as_bytes(),
        &[FORMAT],
        account.as_str().as_bytes(),
        client_id.as_str().as_bytes(),
        api.as_bytes(),
    ] {
        out.extend_from_slice(&u32::try_from(part.len()).unwrap_or(u32::MAX).to_be_bytes());
        out.extend_from_slice(part);
    }
    out
}

/// `v1` or `v2`, in record keys and the key derivation.
pub(crate) fn api_label(version: ApiVersion) -> &'static str {
    match version {
        ApiVersion::V1 => "v1",
        ApiVersion::V2 => "v2",
    }
}

impl Sealer {
    /// The sealer for one installation; `None` only if ring refuses the
    /// derivation, which it does not for a 32-byte key.
    pub(crate) fn new(
        secret: &ClientSecret,
        account: &AccountId,
        client_id: &ClientId,
        version: ApiVersion,
    ) -> Option<Self> {
        let info = info(account, client_id, version);
        let prk =
            hkdf::Salt::new(hkdf::HKDF_SHA256, SALT).extract(secret.expose_secret().as_bytes());
        let parts = [info.as_slice()];
        let okm = prk.expand(&parts, &AES_256_GCM).ok()?;
        let key = UnboundKey::from(okm);
        Some(Sealer {
            key: LessSafeKey::new(key),
            rng: SystemRandom::new(),
        })
    }

    fn aad(key: &RecordKey) -> Vec<u8> {
        let mut aad = vec![FORMAT];
        aad.extend_from_slice(key.as_str().as_bytes());
        aad
    }

    /// `plain` sealed for `key`; `None` when the system has no randomness
    /// to give (then nothing is stored).
    pub(crate) fn seal(&self, key: &RecordKey, plain: &[u8]) -> Option<Vec<u8>> {
        let mut nonce = [0u8; NONCE_LEN];
        self.rng.fill(&mut nonce).ok()?;
        let mut body = plain.to_vec();
        self.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(Self::aad(key)),
                &mut body,
            )
            .ok()?;
        let mut out = Vec::with_capacity(1 + NONCE_LEN + body.len());
        out.push(FORMAT);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&body);
        Some(out)
    }

    /// The plain text of `record`, if it was sealed by this sealer for
    /// `key` and not changed since.
    pub(crate) fn open(&self, key: &RecordKey, record: &[u8]) -> Result<Vec<u8>, OpenError> {
        let tag_len = AES_256_GCM.tag_len();
        let (&format, rest) = record.split_first().ok_or(OpenError::Truncated)?;
        if rest.len() < NONCE_LEN + tag_len {
            return Err(OpenError::Truncated);
        }
        if format != FORMAT {
            return Err(OpenError::Format);
        }
        let (nonce, sealed) = rest.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| OpenError::Truncated)?;
        let mut body = sealed.to_vec();
        let plain = self
            .key
            .open_in_place(nonce, Aad::from(Self::aad(key)), &mut body)
            .map_err(|_| OpenError::Forged)?;
        Ok(plain.to_vec())
    }
}

/// What a record holds: the token as Sentinel sent it, and what its
/// window is computed from when another process reads it.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct Plain {
    /// The compact token.
    pub(crate) token: String,
    /// `token_type` as Sentinel sent it.
    pub(crate) token_type: String,
    /// When the writer's lifetime for the token ends, in Unix
    /// milliseconds (the shorter of `expires_in` and `exp`).
    pub(crate) expires_at_ms: u64,
    /// The Sentinel host the token came from (its key set checks it).
    pub(crate) sentinel: String,
}

impl std::fmt::Debug for Plain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Plain")
            .field("token", &"[redacted]")
            .field("token_type", &self.token_type)
            .field("expires_at_ms", &self.expires_at_ms)
            .field("sentinel", &self.sentinel)
            .finish()
    }
}

/// The longest text field a record may carry: far more than any token.
const MAX_FIELD: usize = 64 * 1024;

impl Plain {
    /// `expires_at_ms (u64 BE) || (len u32 BE || bytes) x 3`.
    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(8 + 12 + self.token.len() + 64);
        out.extend_from_slice(&self.expires_at_ms.to_be_bytes());
        for field in [&self.token, &self.token_type, &self.sentinel] {
            out.extend_from_slice(&u32::try_from(field.len()).unwrap_or(u32::MAX).to_be_bytes());
            out.extend_from_slice(field.as_bytes());
        }
        out
    }

    /// The inverse of [`Plain::encode`]; anything else is refused.
    pub(crate) fn decode(bytes: &[u8]) -> Result<Self, OpenError> {
        let mut r = Reader(bytes);
        let expires_at_ms = u64::from_be_bytes(r.array()?);
        let token = r.text()?;
        let token_type = r.text()?;
        let sentinel = r.text()?;
        if !r.0.is_empty() {
            return Err(OpenError::Malformed);
        }
        Ok(Plain {
            token,
            token_type,
            expires_at_ms,
            sentinel,
        })
    }
}

/// The most services a stored Domain API map may name.
const MAX_SERVICES: usize = 1024;

/// A Domain API map as a record holds it: `expires_at_ms (u64 BE) ||
/// count (u32 BE) || (service, host) x count`, each a length-prefixed text.
/// Only the valid entries are kept.
pub(crate) fn encode_map(expires_at_ms: u64, map: &DomainMap) -> Vec<u8> {
    let mut out = expires_at_ms.to_be_bytes().to_vec();
    let entries: Vec<(&str, String)> = map.iter().map(|(s, h)| (s, h.to_string())).collect();
    out.extend_from_slice(
        &u32::try_from(entries.len())
            .unwrap_or(u32::MAX)
            .to_be_bytes(),
    );
    for (service, host) in &entries {
        for field in [*service, host.as_str()] {
            out.extend_from_slice(&u32::try_from(field.len()).unwrap_or(u32::MAX).to_be_bytes());
            out.extend_from_slice(field.as_bytes());
        }
    }
    out
}

/// The inverse of [`encode_map`]; every service name and host is checked
/// as the Domain API's own answer would be.
pub(crate) fn decode_map(bytes: &[u8]) -> Result<(u64, DomainMap), OpenError> {
    let mut r = Reader(bytes);
    let expires_at_ms = u64::from_be_bytes(r.array()?);
    let count =
        usize::try_from(u32::from_be_bytes(r.array()?)).map_err(|_| OpenError::Malformed)?;
    if count > MAX_SERVICES {
        return Err(OpenError::Malformed);
    }
    let mut map = DomainMap::new();
    for _ in 0..count {
        let service = ServiceName::new(r.text()?).map_err(|_| OpenError::Malformed)?;
        let host = Host::parse(&r.text()?).map_err(|_| OpenError::Malformed)?;
        map.insert(service, host);
    }
    if !r.0.is_empty() {
        return Err(OpenError::Malformed);
    }
    Ok((expires_at_ms, map))
}

/// Reads a record's fields front to back, refusing to run past its end.
struct Reader<'a>(&'a [u8]);

impl Reader<'_> {
    fn take(&mut self, n: usize) -> Result<&[u8], OpenError> {
        if self.0.len() < n {
            return Err(OpenError::Malformed);
        }
        let (head, tail) = self.0.split_at(n);
        self.0 = tail;
        Ok(head)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], OpenError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }

    fn text(&mut self) -> Result<String, OpenError> {
        let len =
            usize::try_from(u32::from_be_bytes(self.array()?)).map_err(|_| OpenError::Malformed)?;
        if len > MAX_FIELD {
            return Err(OpenError::Malformed);
        }
        String::from_utf8(self.take(len)?.to_vec()).map_err(|_| OpenError::Malformed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const TOKEN: &str = "eyJhbGciOiJSUzI1NiJ9.eyJpc3MiOiJTZW50aW5lbCJ9.c2lnbmF0dXJl";
    const SECRET: &str = "s3cr3t-for-the-seal-tests";

    fn sealer(secret: &str, account: &str, client: &str, version: ApiVersion) -> Sealer {
        Sealer::new(
            &ClientSecret::new(secret).unwrap(),
            &AccountId::new(account).unwrap(),
            &ClientId::new(client).unwrap(),
            version,
        )
        .unwrap()
    }

    fn ours() -> Sealer {
        sealer(SECRET, "56072331", "client-1", ApiVersion::V1)
    }

    fn key(text: &str) -> RecordKey {
        RecordKey::new(text).unwrap()
    }

    fn plain() -> Plain {
        Plain {
            token: TOKEN.to_owned(),
            token_type: "Bearer".to_owned(),
            expires_at_ms: 1_572_886_847_000,
            sentinel: "va.sentinel.liveperson.net".to_owned(),
        }
    }

    #[test]
    fn round_trip() {
        let s = ours();
        let k = key("appjwt:v1:token:56072331:client-1:v1");
        let sealed = s.seal(&k, &plain().encode()).unwrap();
        assert_eq!(sealed[0], FORMAT);
        let opened = s.open(&k, &sealed).unwrap();
        assert_eq!(Plain::decode(&opened).unwrap(), plain());
        // A fresh nonce each time: the same record seals differently.
        assert_ne!(s.seal(&k, &plain().encode()).unwrap(), sealed);
    }

    /// Each way a record can be foreign: it must not open.
    #[test]
    fn foreign_records_do_not_open() {
        let k = key("appjwt:v1:token:56072331:client-1:v1");
        let sealed = ours().seal(&k, &plain().encode()).unwrap();
        let check = |sealer: Sealer, k: &RecordKey, record: &[u8], want: OpenError| {
            assert_eq!(sealer.open(k, record), Err(want));
        };
        check(
            sealer("another-secret", "56072331", "client-1", ApiVersion::V1),
            &k,
            &sealed,
            OpenError::Forged,
        );
        check(
            sealer(SECRET, "56072332", "client-1", ApiVersion::V1),
            &k,
            &sealed,
            OpenError::Forged,
        );
        check(
            sealer(SECRET, "56072331", "client-2", ApiVersion::V1),
            &k,
            &sealed,
            OpenError::Forged,
        );
        check(
            sealer(SECRET, "56072331", "client-1", ApiVersion::V2),
            &k,
            &sealed,
            OpenError::Forged,
        );
        // Moved to another key.
        check(
            ours(),
            &key("appjwt:v1:token:other"),
            &sealed,
            OpenError::Forged,
        );
        check(ours(), &k, &[], OpenError::Truncated);
        check(ours(), &k, &sealed[..sealed.len() - 1], OpenError::Forged);
        check(
            ours(),
            &k,
            &sealed[..1 + NONCE_LEN + 15],
            OpenError::Truncated,
        );
        let mut other_format = sealed.clone();
        other_format[0] = 2;
        check(ours(), &k, &other_format, OpenError::Format);
    }

    #[test]
    fn sealed_bytes_show_neither_token_nor_secret() {
        let k = key("appjwt:v1:token:56072331:client-1:v1");
        let sealed = ours().seal(&k, &plain().encode()).unwrap();
        for needle in [TOKEN.as_bytes(), b"eyJ", SECRET.as_bytes(), b"Bearer"] {
            assert!(
                !sealed.windows(needle.len()).any(|w| w == needle),
                "{:?} in the sealed record",
                String::from_utf8_lossy(needle)
            );
        }
        assert!(!format!("{:?}", ours()).contains(SECRET));
        assert!(!format!("{:?}", plain()).contains(TOKEN));
    }

    #[test]
    fn malformed_plain_text_is_refused() {
        let good = plain().encode();
        let check = |bytes: &[u8]| assert_eq!(Plain::decode(bytes), Err(OpenError::Malformed));
        check(&[]);
        check(&good[..good.len() - 1]);
        check(&[good.as_slice(), b"x"].concat());
        let mut huge = good.clone();
        huge[8..12].copy_from_slice(&u32::MAX.to_be_bytes());
        check(&huge);
        let mut not_utf8 = good.clone();
        not_utf8[12] = 0xff;
        check(&not_utf8);
    }

    #[test]
    fn domain_maps_round_trip_and_are_checked() {
        let mut map = DomainMap::new();
        map.insert(
            ServiceName::sentinel(),
            Host::parse("va.sentinel.liveperson.net").unwrap(),
        );
        map.insert(ServiceName::idp(), Host::parse("127.0.0.1:8443").unwrap());
        let bytes = encode_map(42, &map);
        let (at, back) = decode_map(&bytes).unwrap();
        assert_eq!(at, 42);
        let entries = |m: &DomainMap| {
            m.iter()
                .map(|(s, h)| (s.to_owned(), h.to_string()))
                .collect::<Vec<_>>()
        };
        assert_eq!(entries(&back), entries(&map));
        let check = |bytes: &[u8]| assert!(decode_map(bytes).is_err());
        check(&bytes[..bytes.len() - 1]);
        check(&[bytes.as_slice(), b"x"].concat());
        // A host the Domain API's answer could not carry either.
        let mut evil = DomainMap::new();
        evil.insert(
            ServiceName::sentinel(),
            Host::parse("evil.example").unwrap(),
        );
        let mut bytes = encode_map(1, &evil);
        let at = bytes.len() - "evil.example".len();
        bytes.splice(at.., b"user@evil/x".iter().copied());
        let len = bytes.len() - at;
        bytes[at - 4..at].copy_from_slice(&u32::try_from(len).unwrap().to_be_bytes());
        check(&bytes);
    }

    proptest! {
        #[test]
        fn map_decoding_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = decode_map(&bytes);
        }

        #[test]
        fn any_flipped_bit_fails(index in 0usize..200, bit in 0u8..8) {
            let s = ours();
            let k = key("appjwt:v1:token:56072331:client-1:v1");
            let mut sealed = s.seal(&k, &plain().encode()).unwrap();
            let i = index % sealed.len();
            sealed[i] ^= 1 << bit;
            prop_assert!(s.open(&k, &sealed).is_err());
        }

        #[test]
        fn any_truncation_fails(cut in 0usize..400) {
            let s = ours();
            let k = key("appjwt:v1:token:56072331:client-1:v1");
            let sealed = s.seal(&k, &plain().encode()).unwrap();
            let cut = cut % sealed.len();
            prop_assert!(s.open(&k, &sealed[..cut]).is_err());
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            let k = key("appjwt:v1:token:56072331:client-1:v1");
            let _ = ours().open(&k, &bytes);
            let _ = Plain::decode(&bytes);
        }

        #[test]
        fn plain_round_trips(
            token in "[A-Za-z0-9._-]{0,600}",
            token_type in "\\PC{0,20}",
            expires_at_ms in any::<u64>(),
            sentinel in "[a-z0-9.:-]{0,80}",
        ) {
            let p = Plain { token, token_type, expires_at_ms, sentinel };
            prop_assert_eq!(Plain::decode(&p.encode()), Ok(p.clone()));
            let s = ours();
            let k = key("k");
            let opened = s.open(&k, &s.seal(&k, &p.encode()).unwrap()).unwrap();
            prop_assert_eq!(Plain::decode(&opened), Ok(p));
        }
    }
}
