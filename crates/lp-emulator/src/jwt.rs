//! AppJWT encoding, written independently of the client crates so that a
//! misreading of the format there is not mirrored here.

use std::fmt::Write as _;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Serialize;

use crate::{EmulatorError, SigningKey};

/// Seconds an AppJWT's `iat` may lie in the future (clock skew between
/// Sentinel and the idp) before the idp endpoint refuses it.
const IAT_SKEW_SECS: i64 = 60;

/// The claims of an AppJWT, serialised in the seed's order.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Claims<'a> {
    pub(crate) aud: &'a str,
    pub(crate) azp: &'a str,
    pub(crate) scope: &'a str,
    pub(crate) iss: &'a str,
    pub(crate) exp: i64,
    pub(crate) iat: i64,
}

#[derive(Serialize)]
struct Header<'a> {
    kid: &'a str,
    typ: &'a str,
    alg: &'a str,
}

/// The claims of a ConsumerJWS, in the order of LivePerson's example
/// payload description.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct ConsumerClaims<'a> {
    pub(crate) account_id: &'a str,
    pub(crate) ext_consumer_id: &'a str,
    pub(crate) lp_consumer_id: &'a str,
    pub(crate) iat: i64,
}

/// `base64url(header).base64url(claims).base64url(RS256 signature)`; with
/// `corrupt_signature` one bit of the signature is flipped.
pub(crate) fn encode(
    key: &SigningKey,
    rng: &ring::rand::SystemRandom,
    claims: &impl Serialize,
    corrupt_signature: bool,
) -> Result<String, EmulatorError> {
    let header = Header {
        kid: key.kid(),
        typ: "JWT",
        alg: "RS256",
    };
    // Serialising these plain structs cannot fail; map it anyway.
    let header = serde_json::to_vec(&header).map_err(|_| EmulatorError::Signing)?;
    let claims = serde_json::to_vec(claims).map_err(|_| EmulatorError::Signing)?;
    let mut token = URL_SAFE_NO_PAD.encode(header);
    token.push('.');
    token.push_str(&URL_SAFE_NO_PAD.encode(claims));
    let mut signature = key.sign(rng, token.as_bytes())?;
    if corrupt_signature {
        let middle = signature.len() / 2;
        if let Some(b) = signature.get_mut(middle) {
            *b ^= 0x01;
        }
    }
    token.push('.');
    token.push_str(&URL_SAFE_NO_PAD.encode(signature));
    Ok(token)
}

/// Why the idp endpoint refuses an AppJWT. The message goes into the 401
/// body; it never quotes the token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Rejection {
    Missing,
    Malformed,
    WrongAlgorithm,
    UnknownKey,
    BadSignature,
    WrongIssuer,
    WrongAudience,
    Expired,
    NotYetValid,
    Revoked,
}

impl Rejection {
    pub(crate) fn message(self) -> &'static str {
        match self {
            Rejection::Missing => "authorization header with an appjwt is required",
            Rejection::Malformed => "the appjwt is not a well-formed jwt",
            Rejection::WrongAlgorithm => "the appjwt is not signed with rs256",
            Rejection::UnknownKey => "the appjwt's kid names no key of this sentinel",
            Rejection::BadSignature => "the appjwt's signature does not verify",
            Rejection::WrongIssuer => "the appjwt was not issued by sentinel",
            Rejection::WrongAudience => "the appjwt is for another account",
            Rejection::Expired => "the appjwt has expired",
            Rejection::NotYetValid => "the appjwt is issued in the future",
            Rejection::Revoked => "the appjwt has been revoked",
        }
    }
}

/// Checks an AppJWT as the idp would: RS256 with one of `keys` (found by
/// kid), `iss` `Sentinel`, `aud` equal to `account`, `exp` after `now` and
/// `iat` not more than a minute after it.
pub(crate) fn verify_app_jwt(
    token: &str,
    keys: &[SigningKey],
    account: &str,
    now: i64,
) -> Result<(), Rejection> {
    let claims = verify_rs256(token, keys)?;
    let text = |name: &str| claims.get(name).and_then(|v| v.as_str());
    let number = |name: &str| claims.get(name).and_then(serde_json::Value::as_i64);
    if text("iss") != Some("Sentinel") {
        return Err(Rejection::WrongIssuer);
    }
    if text("aud") != Some(account) {
        return Err(Rejection::WrongAudience);
    }
    match number("exp") {
        Some(exp) if exp > now => {}
        Some(_) => return Err(Rejection::Expired),
        None => return Err(Rejection::Malformed),
    }
    match number("iat") {
        Some(iat) if iat <= now.saturating_add(IAT_SKEW_SECS) => Ok(()),
        Some(_) => Err(Rejection::NotYetValid),
        None => Err(Rejection::Malformed),
    }
}

/// Who a valid ConsumerJWS speaks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ConsumerIdentity {
    pub(crate) ext_consumer_id: String,
    pub(crate) lp_consumer_id: String,
}

/// Checks a ConsumerJWS as the Send API would: RS256 with one of `keys`,
/// `account_id` equal to `account`, and the `ext_consumer_id` and
/// `lp_consumer_id` the idp endpoint puts there. No expiry: LivePerson's
/// ConsumerJWS "never expires"; it stops working only when its key leaves
/// the JWKS.
pub(crate) fn verify_consumer_jws(
    token: &str,
    keys: &[SigningKey],
    account: &str,
) -> Result<ConsumerIdentity, Rejection> {
    let claims = verify_rs256(token, keys)?;
    let text = |name: &str| claims.get(name).and_then(|v| v.as_str());
    if text("account_id") != Some(account) {
        return Err(Rejection::WrongAudience);
    }
    let (Some(ext), Some(lp), Some(_iat)) = (
        text("ext_consumer_id").filter(|e| !e.is_empty()),
        text("lp_consumer_id"),
        claims.get("iat").and_then(serde_json::Value::as_i64),
    ) else {
        return Err(Rejection::Malformed);
    };
    // Only this emulator's idp signs with its keys, so a mismatch means the
    // claims were not made by it (or by an older rule for the id).
    if lp != lp_consumer_id(account, ext) {
        return Err(Rejection::Malformed);
    }
    Ok(ConsumerIdentity {
        ext_consumer_id: ext.to_owned(),
        lp_consumer_id: lp.to_owned(),
    })
}

/// Checks the form and the RS256 signature of a JWS against `keys` (found
/// by kid) and returns its claims.
fn verify_rs256(
    token: &str,
    keys: &[SigningKey],
) -> Result<serde_json::Map<String, serde_json::Value>, Rejection> {
    let (signing_input, signature) = token.rsplit_once('.').ok_or(Rejection::Malformed)?;
    let (header, claims) = signing_input.split_once('.').ok_or(Rejection::Malformed)?;
    if claims.contains('.') {
        return Err(Rejection::Malformed);
    }
    let json = |part: &str| -> Result<serde_json::Map<String, serde_json::Value>, Rejection> {
        let bytes = URL_SAFE_NO_PAD
            .decode(part)
            .map_err(|_| Rejection::Malformed)?;
        match serde_json::from_slice(&bytes) {
            Ok(serde_json::Value::Object(map)) => Ok(map),
            _ => Err(Rejection::Malformed),
        }
    };
    let header = json(header)?;
    let claims = json(claims)?;
    let signature = URL_SAFE_NO_PAD
        .decode(signature)
        .map_err(|_| Rejection::Malformed)?;
    if header.get("alg").and_then(|v| v.as_str()) != Some("RS256") {
        return Err(Rejection::WrongAlgorithm);
    }
    let kid = header.get("kid").and_then(|v| v.as_str());
    let key = keys
        .iter()
        .find(|k| Some(k.kid()) == kid)
        .ok_or(Rejection::UnknownKey)?;
    let public = ring::signature::RsaPublicKeyComponents {
        n: key.modulus(),
        e: key.exponent(),
    };
    public
        .verify(
            &ring::signature::RSA_PKCS1_2048_8192_SHA256,
            signing_input.as_bytes(),
            &signature,
        )
        .map_err(|_| Rejection::BadSignature)?;
    Ok(claims)
}

/// `lp_consumer_id` for a consumer: the first 16 bytes of
/// SHA-256(`account` NUL `ext_consumer_id`) as a UUID (version 8, the
/// RFC 9562 layout for custom ids). Stable across emulators and restarts,
/// different for different accounts or consumers.
pub(crate) fn lp_consumer_id(account: &str, ext_consumer_id: &str) -> String {
    let mut input = Vec::with_capacity(account.len() + 1 + ext_consumer_id.len());
    input.extend_from_slice(account.as_bytes());
    input.push(0);
    input.extend_from_slice(ext_consumer_id.as_bytes());
    let digest = ring::digest::digest(&ring::digest::SHA256, &input);
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(digest.as_ref().get(..16).unwrap_or(&[0; 16]));
    uuid(bytes, 8)
}

/// `bytes` written as a UUID of `version` (RFC 9562 layout: the version in
/// the high nibble of byte 6, the variant `10` in the top bits of byte 8).
pub(crate) fn uuid(mut bytes: [u8; 16], version: u8) -> String {
    bytes[6] = (bytes[6] & 0x0f) | (version << 4);
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let mut out = String::with_capacity(36);
    for (i, b) in bytes.iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            out.push('-');
        }
        let _ = write!(out, "{b:02x}");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    fn key() -> SigningKey {
        SigningKey::shared().expect("generate key")
    }

    const NOW: i64 = 1_700_000_000;

    fn token(claims: &serde_json::Value) -> String {
        encode(&key(), &ring::rand::SystemRandom::new(), claims, false).expect("sign")
    }

    fn claims(aud: &str, iss: &str, exp: i64, iat: i64) -> serde_json::Value {
        serde_json::json!({"aud": aud, "azp": "app", "scope": "msg.consumer", "iss": iss, "exp": exp, "iat": iat})
    }

    #[test]
    fn app_jwt_checks() {
        fn check(name: &str, token: &str, keys: &[SigningKey], expected: Result<(), Rejection>) {
            assert_eq!(verify_app_jwt(token, keys, "123", NOW), expected, "{name}");
        }
        let keys = [key()];
        let good = token(&claims("123", "Sentinel", NOW + 1, NOW));
        let (head, rest) = good.split_once('.').expect("dot");
        let (body, _sig) = rest.split_once('.').expect("dot");
        let other_kid = [key().with_kid("appjwt-01-01-70")];
        let none_alg = {
            let header = URL_SAFE_NO_PAD.encode(r#"{"alg":"none","kid":"x"}"#);
            format!("{header}.{body}.")
        };
        check("good", &good, &keys, Ok(()));
        check(
            "exp is now",
            &token(&claims("123", "Sentinel", NOW, NOW - 10)),
            &keys,
            Err(Rejection::Expired),
        );
        check(
            "iat a minute ahead",
            &token(&claims("123", "Sentinel", NOW + 120, NOW + 60)),
            &keys,
            Ok(()),
        );
        check(
            "iat further ahead",
            &token(&claims("123", "Sentinel", NOW + 120, NOW + 61)),
            &keys,
            Err(Rejection::NotYetValid),
        );
        check(
            "aud",
            &token(&claims("1234", "Sentinel", NOW + 1, NOW)),
            &keys,
            Err(Rejection::WrongAudience),
        );
        check(
            "iss",
            &token(&claims("123", "sentinel", NOW + 1, NOW)),
            &keys,
            Err(Rejection::WrongIssuer),
        );
        check(
            "exp missing",
            &token(&serde_json::json!({"aud": "123", "iss": "Sentinel", "iat": NOW})),
            &keys,
            Err(Rejection::Malformed),
        );
        check(
            "exp as text",
            &token(&serde_json::json!({"aud": "123", "iss": "Sentinel", "exp": "9", "iat": NOW})),
            &keys,
            Err(Rejection::Malformed),
        );
        check("unknown kid", &good, &other_kid, Err(Rejection::UnknownKey));
        check("no keys", &good, &[], Err(Rejection::UnknownKey));
        check("alg none", &none_alg, &keys, Err(Rejection::WrongAlgorithm));
        check(
            "swapped claims",
            &format!(
                "{head}.{}.{}",
                URL_SAFE_NO_PAD.encode(claims("123", "Sentinel", NOW + 9, NOW).to_string()),
                good.rsplit_once('.').expect("dot").1
            ),
            &keys,
            Err(Rejection::BadSignature),
        );
        check(
            "two parts",
            &format!("{head}.{body}"),
            &keys,
            Err(Rejection::Malformed),
        );
        check(
            "four parts",
            &format!("{good}.x"),
            &keys,
            Err(Rejection::Malformed),
        );
        check(
            "not base64",
            &format!("{head}.!!.{body}"),
            &keys,
            Err(Rejection::Malformed),
        );
        check(
            "not an object",
            &format!("{}.{body}.x", URL_SAFE_NO_PAD.encode("[1]")),
            &keys,
            Err(Rejection::Malformed),
        );
        check("empty", "", &keys, Err(Rejection::Malformed));
    }

    #[test]
    fn consumer_jws_checks() {
        fn check(name: &str, token: &str, keys: &[SigningKey], expected: Result<&str, Rejection>) {
            let expected = expected.map(|ext| ConsumerIdentity {
                ext_consumer_id: ext.to_owned(),
                lp_consumer_id: lp_consumer_id("123", ext),
            });
            assert_eq!(verify_consumer_jws(token, keys, "123"), expected, "{name}");
        }
        let keys = [key()];
        let jws = |account: &str, ext: &str, lp: &str| {
            token(
                &serde_json::json!({"account_id": account, "ext_consumer_id": ext, "lp_consumer_id": lp, "iat": NOW}),
            )
        };
        let alice = lp_consumer_id("123", "alice");
        check("good", &jws("123", "alice", &alice), &keys, Ok("alice"));
        check(
            "an old one: no expiry",
            &token(
                &serde_json::json!({"account_id": "123", "ext_consumer_id": "alice", "lp_consumer_id": alice, "iat": 0}),
            ),
            &keys,
            Ok("alice"),
        );
        check(
            "other account",
            &jws("1234", "alice", &lp_consumer_id("1234", "alice")),
            &keys,
            Err(Rejection::WrongAudience),
        );
        check(
            "lp id of another consumer",
            &jws("123", "alice", &lp_consumer_id("123", "bob")),
            &keys,
            Err(Rejection::Malformed),
        );
        check(
            "empty ext id",
            &jws("123", "", &lp_consumer_id("123", "")),
            &keys,
            Err(Rejection::Malformed),
        );
        check(
            "an appjwt",
            &token(&claims("123", "Sentinel", NOW + 1, NOW)),
            &keys,
            Err(Rejection::WrongAudience),
        );
        check(
            "unknown kid",
            &jws("123", "alice", &alice),
            &[key().with_kid("x")],
            Err(Rejection::UnknownKey),
        );
        check("garbage", "a.b", &keys, Err(Rejection::Malformed));
    }

    #[test]
    fn lp_consumer_ids() {
        fn check(account: &str, ext: &str) {
            let id = lp_consumer_id(account, ext);
            let groups: Vec<&str> = id.split('-').collect();
            let lens: Vec<usize> = groups.iter().map(|g| g.len()).collect();
            assert_eq!(lens, [8, 4, 4, 4, 12], "{id}");
            assert!(groups[2].starts_with('8'), "version 8: {id}");
            assert!(groups[3].starts_with(['8', '9', 'a', 'b']), "variant: {id}");
            assert!(
                id.bytes()
                    .all(|b| b == b'-' || matches!(b, b'0'..=b'9' | b'a'..=b'f'))
            );
        }
        check("56072331", "John_Doe_facebook12345");
        check("1", "");
        check("le81823118", "Jörg \"東京\"");
        // The separator keeps ("12", "3") and ("1", "23") apart.
        assert_ne!(lp_consumer_id("12", "3"), lp_consumer_id("1", "23"));
    }
}
