//! RS256 verification (feature `verify`).

use std::sync::OnceLock;

use lp_jwt::{
    AppJwtClaims, Header, Jwks, KeyError, LIVEPERSON_V1_PUBLIC_KEY_B64, Rs256Verifier,
    UnverifiedToken, VerifyError, assemble, encode_signing_input,
};
use proptest::prelude::*;
use ring::rand::SystemRandom;
use ring::signature::{RSA_PKCS1_SHA256, RsaKeyPair};

use crate::strategies;
use crate::{SEED_TOKEN, b64};

const A_PK8: &[u8] = include_bytes!("../data/rsa2048-a.pk8.der");
const B_PK8: &[u8] = include_bytes!("../data/rsa2048-b.pk8.der");
const A_SPKI: &[u8] = include_bytes!("../data/rsa2048-a.spki.der");
const B_SPKI: &[u8] = include_bytes!("../data/rsa2048-b.spki.der");
const A_PEM: &str = include_str!("../data/rsa2048-a.spki.pem");
const A_PKCS1_PEM: &str = include_str!("../data/rsa2048-a.pkcs1.pem");
const A_JWK: &str = include_str!("../data/rsa2048-a.jwk.json");
const JWKS: &str = include_str!("../data/jwks.json");
const SHORT_SPKI: &[u8] = include_bytes!("../data/rsa1024.spki.der");

/// RFC 7515 Appendix A.2: the RS256 example's key (A.2.1) and token (A.2.4).
const RFC7515_A2_JWK: &str = r#"{"kty":"RSA","e":"AQAB","n":"ofgWCuLjybRlzo0tZWJjNiuSfb4p4fAkd_wWJcyQoTbji9k0l8W26mPddxHmfHQp-Vaw-4qPCJrcS2mJPMEzP1Pt0Bm4d4QlL-yRT-SFd2lZS-pCgNMsD1W_YpRPEwOWvG6b32690r2jZ47soMZo9wGzjb_7OMg0LOL-bSf63kpaSHSXndS5z5rexMdbBYUsLA9e-KXBdQOS-UTo7WTBEMa2R2CapHg665xsmtdVMTBQY4uDZlxvb3qCo5ZwKh9kG4LT6_I5IhlJH7aGhyxXFvUK-DWNmoudF8NAco9_h9iaGNj8q2ethFkMLs91kzk2PAcDTW9gb54h4FRWyuXpoQ"}"#;
const RFC7515_A2_TOKEN: &str = "eyJhbGciOiJSUzI1NiJ9.eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ.cC4hiUPoj9Eetdgtv3hF80EGrhuB__dzERat0XF9g2VtQgr9PJbu3XOiZj5RZmh7AAuHIm4Bh-0Qc_lF5YKt_O8W2Fp5jujGbds9uJdbF9CUAr7t1dnZcAcQjbKBYNX4BAynRFdiuB--f_nZLgrnbyTyWzO75vRK5h6xBArLIARNPvkSjtQBMHlb1L07Qe7K0GarZRmB_eSN9383LcOLn6_dO--xi12jzDwusC-eOkHWEsqtFZESc6BfI7noOPqvhJ1phCnvWh6IeYI2w9QOYEUipUTI8np6LbgGY9Fs98rqVt5AXLIhWkWywlVmtVrBp0igcN_IoypGlUPQGe77Rw";

fn key_pair(pk8: &'static [u8]) -> &'static RsaKeyPair {
    static A: OnceLock<RsaKeyPair> = OnceLock::new();
    static B: OnceLock<RsaKeyPair> = OnceLock::new();
    let cell = if pk8 == A_PK8 { &A } else { &B };
    cell.get_or_init(|| RsaKeyPair::from_pkcs8(pk8).unwrap())
}

/// Signs `signing_input` with a test key and assembles the token.
fn sign(pk8: &'static [u8], signing_input: &str) -> String {
    let pair = key_pair(pk8);
    let mut sig = vec![0; pair.public().modulus_len()];
    pair.sign(
        &RSA_PKCS1_SHA256,
        &SystemRandom::new(),
        signing_input.as_bytes(),
        &mut sig,
    )
    .unwrap();
    assemble(signing_input, &sig)
}

fn header(alg: &str, kid: Option<&str>) -> Header {
    let mut h = Header::new(alg);
    h.typ = Some("JWT".into());
    h.kid = kid.map(str::to_owned);
    h
}

fn seed_claims() -> AppJwtClaims {
    UnverifiedToken::decode(SEED_TOKEN).unwrap().into_parts().1
}

/// A token like the seed's, signed by test key a.
fn signed(kid: Option<&str>) -> String {
    sign(
        A_PK8,
        &encode_signing_input(&header("RS256", kid), &seed_claims()),
    )
}

fn verify_with(verifier: &Rs256Verifier, token: &str) -> Result<(), VerifyError> {
    verifier.verify(&UnverifiedToken::decode(token).unwrap())
}

fn key_a() -> Rs256Verifier {
    Rs256Verifier::from_spki_der(A_SPKI).unwrap()
}

#[test]
fn rfc7515_appendix_a2_verifies() {
    let key = Rs256Verifier::from_jwk(RFC7515_A2_JWK).unwrap();
    assert_eq!(key.bits(), 2048);
    let jwt = UnverifiedToken::decode(RFC7515_A2_TOKEN).unwrap();
    assert_eq!(jwt.claims().iss.as_deref(), Some("joe"));
    assert_eq!(key.verify(&jwt), Ok(()));
    assert_eq!(key_a().verify(&jwt), Err(VerifyError::BadSignature));
}

#[test]
fn every_key_format_gives_the_same_key() {
    let a = key_a();
    assert_eq!(a.bits(), 2048);
    assert_eq!(Rs256Verifier::from_pem(A_PEM).unwrap(), a);
    assert_eq!(
        Rs256Verifier::from_pem(&format!("junk\n{A_PEM}\ntrailer")).unwrap(),
        a
    );
    assert_eq!(Rs256Verifier::from_pem(A_PKCS1_PEM).unwrap(), a);
    let from_jwk = Rs256Verifier::from_jwk(A_JWK).unwrap();
    assert_eq!(from_jwk.kid(), Some("test-a"));
    assert_eq!(from_jwk, a.clone().with_kid("test-a"));
    let token = signed(None);
    for key in [&a, &from_jwk] {
        assert_eq!(verify_with(key, &token), Ok(()));
    }
}

#[test]
fn liveperson_v1_key() {
    use base64::Engine as _;
    let der = base64::engine::general_purpose::STANDARD
        .decode(LIVEPERSON_V1_PUBLIC_KEY_B64)
        .unwrap();
    let parsed = Rs256Verifier::from_spki_der(&der).unwrap();
    assert_eq!(parsed, Rs256Verifier::liveperson_v1());
    assert_eq!(parsed.bits(), 2048);
    // The seed's example token carries a 1024-bit signature: it decodes, but
    // must not verify, and the error says why.
    let err = verify_with(&parsed, SEED_TOKEN).unwrap_err();
    assert_eq!(
        err,
        VerifyError::SignatureLength {
            expected: 256,
            found: 128
        }
    );
    assert_eq!(
        err.to_string(),
        "signature is 128 bytes (1024 bits), the key needs 256 (2048 bits)"
    );
}

#[test]
fn one_flipped_bit_anywhere_fails() {
    let token = signed(Some("test-a"));
    let key = key_a();
    assert_eq!(verify_with(&key, &token), Ok(()));
    let segments: Vec<Vec<u8>> = token.split('.').map(b64_decode).collect();
    for (segment, bytes) in segments.iter().enumerate() {
        for bit in [0, 7, bytes.len() * 8 / 2, bytes.len() * 8 - 1] {
            let mut parts = segments.clone();
            parts[segment][bit / 8] ^= 1 << (bit % 8);
            let mutated = parts.iter().map(b64).collect::<Vec<_>>().join(".");
            // The result may not even decode (a flipped bit can break the
            // JSON); if it does, the signature must not match.
            if let Ok(jwt) = UnverifiedToken::decode(&mutated) {
                assert!(key.verify(&jwt).is_err(), "segment {segment} bit {bit}");
            }
        }
    }
    // A bit flipped in a JSON string value keeps the JSON valid: the header's
    // kid, the claims' scope.
    let flip_in = |segment: usize, needle: &str| {
        let mut parts = segments.clone();
        let at = parts[segment]
            .windows(needle.len())
            .position(|w| w == needle.as_bytes())
            .unwrap();
        parts[segment][at] ^= 0x01;
        parts.iter().map(b64).collect::<Vec<_>>().join(".")
    };
    for mutated in [flip_in(0, "test-a"), flip_in(1, "msg.consumer")] {
        assert_eq!(verify_with(&key, &mutated), Err(VerifyError::BadSignature));
    }
}

fn b64_decode(s: &str) -> Vec<u8> {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(s)
        .unwrap()
}

#[test]
fn wrong_key_fails() {
    let b = Rs256Verifier::from_spki_der(B_SPKI).unwrap();
    assert_eq!(
        verify_with(&b, &signed(None)),
        Err(VerifyError::BadSignature)
    );
    let by_b = sign(
        B_PK8,
        &encode_signing_input(&header("RS256", None), &seed_claims()),
    );
    assert_eq!(verify_with(&b, &by_b), Ok(()));
    assert_eq!(verify_with(&key_a(), &by_b), Err(VerifyError::BadSignature));
}

#[test]
fn algorithms_other_than_rs256_are_refused() {
    let key = key_a();
    for alg in ["none", "HS256", "RS384", "PS256", "rs256", ""] {
        let input = encode_signing_input(&header(alg, None), &seed_claims());
        // Even validly signed with the right key, the header decides nothing.
        for token in [sign(A_PK8, &input), assemble(&input, &[])] {
            let expected = Err(VerifyError::Algorithm { found: alg.into() });
            assert_eq!(verify_with(&key, &token), expected);
            let jwks = Jwks::from_verifiers(vec![key.clone()]);
            assert_eq!(
                jwks.verify(&UnverifiedToken::decode(&token).unwrap()),
                expected
            );
        }
    }
    let input = encode_signing_input(&header("RS256", None), &seed_claims());
    assert_eq!(
        verify_with(&key, &assemble(&input, &[])),
        Err(VerifyError::SignatureLength {
            expected: 256,
            found: 0
        })
    );
}

#[test]
fn key_errors() {
    let check = |got: Result<Rs256Verifier, KeyError>, expected: KeyError| {
        let err = got.unwrap_err();
        let msg = err.to_string();
        assert!(!msg.ends_with('.'), "{msg}");
        assert_eq!(err, expected);
    };
    check(
        Rs256Verifier::from_spki_der(SHORT_SPKI),
        KeyError::TooShort { bits: 1024 },
    );
    check(
        Rs256Verifier::from_spki_der(&A_SPKI[..100]),
        KeyError::Der { offset: 4 },
    );
    check(
        Rs256Verifier::from_spki_der(&[]),
        KeyError::Der { offset: 0 },
    );
    let mut trailing = A_SPKI.to_vec();
    trailing.push(0);
    check(
        Rs256Verifier::from_spki_der(&trailing),
        KeyError::Der { offset: 294 },
    );
    let mut not_rsa = A_SPKI.to_vec();
    not_rsa[14] ^= 1; // last byte of the rsaEncryption OID
    check(Rs256Verifier::from_spki_der(&not_rsa), KeyError::NotRsa);
    let mut negative = A_SPKI.to_vec();
    negative[28] = 0x80; // the modulus' sign byte, then a non-minimal INTEGER
    check(
        Rs256Verifier::from_spki_der(&negative),
        KeyError::Der { offset: 28 },
    );
    check(Rs256Verifier::from_pem("no pem here"), KeyError::Pem);
    check(
        Rs256Verifier::from_pem("-----BEGIN PUBLIC KEY-----\n!!!\n-----END PUBLIC KEY-----"),
        KeyError::Pem,
    );
    check(
        Rs256Verifier::from_pem("-----BEGIN PUBLIC KEY-----\nAAAA\n"),
        KeyError::Pem,
    );
    let n = "ofgWCuLjybRlzo0tZWJjNiuSfb4p4fAkd_wWJcyQoTbji9k0l8W26mPddxHmfHQp-Vaw-4qPCJrcS2mJPMEzP1Pt0Bm4d4QlL-yRT-SFd2lZS-pCgNMsD1W_YpRPEwOWvG6b32690r2jZ47soMZo9wGzjb_7OMg0LOL-bSf63kpaSHSXndS5z5rexMdbBYUsLA9e-KXBdQOS-UTo7WTBEMa2R2CapHg665xsmtdVMTBQY4uDZlxvb3qCo5ZwKh9kG4LT6_I5IhlJH7aGhyxXFvUK-DWNmoudF8NAco9_h9iaGNj8q2ethFkMLs91kzk2PAcDTW9gb54h4FRWyuXpoQ";
    let jwk = |extra: &str| format!(r#"{{"kty":"RSA","n":"{n}","e":"AQAB"{extra}}}"#);
    assert!(Rs256Verifier::from_jwk(&jwk(r#","use":"sig","alg":"RS256","x5c":[]"#)).is_ok());
    check(
        Rs256Verifier::from_jwk(&jwk(r#","alg":"HS256""#)),
        KeyError::Algorithm {
            alg: "HS256".into(),
        },
    );
    check(
        Rs256Verifier::from_jwk(&jwk(r#","use":"enc""#)),
        KeyError::Use {
            key_use: "enc".into(),
        },
    );
    check(
        Rs256Verifier::from_jwk(r#"{"kty":"EC","crv":"P-256"}"#),
        KeyError::KeyType { kty: "EC".into() },
    );
    check(
        Rs256Verifier::from_jwk(r#"{"kty":"RSA","e":"AQAB"}"#),
        KeyError::MissingMember { name: "n" },
    );
    check(
        Rs256Verifier::from_jwk(&format!(r#"{{"kty":"RSA","n":"{n}"}}"#)),
        KeyError::MissingMember { name: "e" },
    );
    check(
        Rs256Verifier::from_jwk(&format!(r#"{{"kty":"RSA","n":"{n}=","e":"AQAB"}}"#)),
        KeyError::Base64 { name: "n" },
    );
    check(
        Rs256Verifier::from_jwk(&format!(r#"{{"kty":"RSA","n":"{n}","e":"AQ+B"}}"#)),
        KeyError::Base64 { name: "e" },
    );
    assert!(matches!(
        Rs256Verifier::from_jwk("{"),
        Err(KeyError::Json { .. })
    ));
    assert!(matches!(
        Rs256Verifier::from_jwk(r#"{"n":"AQAB"}"#),
        Err(KeyError::Json { .. })
    ));
    let odd_2048 = |len: usize| {
        let mut n = vec![0xff; len];
        n[0] = 0x80;
        n
    };
    check(
        Rs256Verifier::from_components(&odd_2048(1025), &[1, 0, 1]),
        KeyError::TooLong { bits: 8200 },
    );
    check(
        Rs256Verifier::from_components(&[], &[1, 0, 1]),
        KeyError::TooShort { bits: 0 },
    );
    let mut even = odd_2048(256);
    even[255] = 0xfe;
    check(
        Rs256Verifier::from_components(&even, &[1, 0, 1]),
        KeyError::BadNumbers,
    );
    check(
        Rs256Verifier::from_components(&odd_2048(256), &[1]),
        KeyError::BadNumbers,
    );
    check(
        Rs256Verifier::from_components(&odd_2048(256), &[2, 0, 0, 0, 1]),
        KeyError::BadNumbers,
    );
    assert!(
        Rs256Verifier::from_components(&[&[0, 0][..], &odd_2048(256)].concat(), &[0, 3]).is_ok()
    );
}

#[test]
fn jwks_selects_by_kid() {
    let jwks = Jwks::from_json(JWKS).unwrap();
    let kids: Vec<_> = jwks.keys().iter().map(|k| k.kid()).collect();
    assert_eq!(kids, [Some("test-a"), Some("test-b")]);
    let verify = |token: &str| jwks.verify(&UnverifiedToken::decode(token).unwrap());
    assert_eq!(verify(&signed(Some("test-a"))), Ok(()));
    // Signed by a but claiming b's kid.
    assert_eq!(
        verify(&signed(Some("test-b"))),
        Err(VerifyError::BadSignature)
    );
    assert_eq!(
        verify(&signed(Some("test-c"))),
        Err(VerifyError::UnknownKeyId {
            kid: Some("test-c".into())
        })
    );
    // Skipped keys cannot be selected.
    assert_eq!(
        verify(&signed(Some("test-b-enc"))),
        Err(VerifyError::UnknownKeyId {
            kid: Some("test-b-enc".into())
        })
    );
    assert_eq!(
        verify(&signed(None)),
        Err(VerifyError::UnknownKeyId { kid: None })
    );
    let single = Jwks::from_verifiers(vec![key_a().with_kid("only")]);
    assert_eq!(
        single.verify(&UnverifiedToken::decode(&signed(None)).unwrap()),
        Ok(())
    );

    assert_eq!(
        Jwks::from_json(r#"{"keys":[]}"#).unwrap_err(),
        KeyError::NoUsableKey {
            skipped: 0,
            first: None
        }
    );
    assert_eq!(
        Jwks::from_json(r#"{"keys":[{"kty":"EC"}]}"#)
            .unwrap_err()
            .to_string(),
        "JWKS holds no RS256 signing key (1 skipped, first key 0 (no kid): JWK kty `EC` is not RSA)"
    );
    assert!(matches!(
        Jwks::from_json(r#"{"keys":{}}"#),
        Err(KeyError::Json { .. })
    ));
    assert!(matches!(
        Jwks::from_json(r#"{"keys":[{"kty":"RSA","n":"AQAB","e":"AQAB"}]}"#),
        Err(KeyError::TooShort { bits: 17 })
    ));
}

#[test]
fn debug_shows_no_key_bytes() {
    let debug = format!("{:?}", key_a().with_kid("k"));
    assert_eq!(debug, r#"Rs256Verifier { bits: 2048, kid: Some("k") }"#);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn any_mutation_of_a_signed_token_fails_to_decode_or_to_verify(
        edits in prop::collection::vec(strategies::mutation(), 1..3),
    ) {
        static TOKEN: OnceLock<String> = OnceLock::new();
        let token = TOKEN.get_or_init(|| signed(Some("test-a")));
        let mut bytes = token.clone().into_bytes();
        for edit in &edits {
            bytes = edit.apply(&String::from_utf8_lossy(&bytes));
        }
        let mutated = String::from_utf8_lossy(&bytes);
        prop_assume!(mutated != token.as_str());
        if let Ok(jwt) = UnverifiedToken::decode(&mutated) {
            prop_assert!(key_a().verify(&jwt).is_err());
        }
    }

    #[test]
    fn signed_arbitrary_claims_verify(claims in strategies::claims()) {
        let token = sign(A_PK8, &encode_signing_input(&header("RS256", None), &claims));
        prop_assert_eq!(verify_with(&key_a(), &token), Ok(()));
    }
}

const LEGACY_JWK: &str = include_str!("../data/rsa1024.jwk.json");
const X5C_JWK: &str = include_str!("../data/rsa2048-a.x5c.jwk.json");

/// Key `i` of `jwks.json`, as JSON text.
fn jwks_key(i: usize) -> String {
    let set: serde_json::Value = serde_json::from_str(JWKS).unwrap();
    set["keys"][i].to_string()
}

/// The `kid`s of a set's keys.
fn kids(jwks: &Jwks) -> Vec<&str> {
    jwks.keys().iter().map(|k| k.kid().unwrap_or("-")).collect()
}

/// The same reason; JSON parser messages only by variant (they are
/// serde_json's wording, not ours).
fn same_reason(got: &KeyError, expected: &KeyError) -> bool {
    match (got, expected) {
        (KeyError::Json { .. }, KeyError::Json { .. }) => true,
        _ => got == expected,
    }
}

/// A set of `keys` read both ways: leniently it must keep `usable` and
/// skip `skipped` (index, kid, reason); strictly it must give the same keys
/// or fail with `strict_error`.
fn check_set(
    keys: &[&str],
    usable: &[&str],
    skipped: &[(usize, Option<&str>, KeyError)],
    strict_error: Option<KeyError>,
) {
    let set = format!(r#"{{"keys":[{}]}}"#, keys.join(","));
    let (jwks, got) = Jwks::from_json_lenient(&set).unwrap();
    assert_eq!(kids(&jwks), usable, "{set}");
    assert_eq!(got.len(), skipped.len(), "{got:?}");
    for (got, (index, kid, reason)) in got.iter().zip(skipped) {
        assert_eq!((got.index(), got.kid()), (*index, *kid), "{got:?}");
        assert!(same_reason(got.reason(), reason), "{got:?}, not {reason:?}");
        assert!(got.to_string().starts_with(&format!("key {index} (")));
    }
    match (Jwks::from_json(&set), strict_error) {
        (Ok(strict), None) => assert_eq!(kids(&strict), usable),
        (Err(got), Some(expected)) => assert!(same_reason(&got, &expected), "{got:?}"),
        (other, expected) => panic!("strict: {other:?}, expected {expected:?}"),
    }
}

#[test]
fn lenient_jwks_skips_each_kind_of_unusable_key() {
    let a = jwks_key(1);
    let b = jwks_key(3);
    let n_a = serde_json::from_str::<serde_json::Value>(&a).unwrap()["n"].to_string();
    let json = || KeyError::Json {
        message: String::new(),
    };
    let one_exponent = format!(r#"{{"kty":"RSA","kid":"e-1","n":{n_a},"e":"AQ"}}"#);
    let no_e = format!(r#"{{"kty":"RSA","kid":"no-e","n":{n_a}}}"#);
    let other_alg = format!(r#"{{"kty":"RSA","kid":"ps","alg":"PS256","n":{n_a},"e":"AQAB"}}"#);
    let (ec, enc) = (jwks_key(0), jwks_key(2));
    // (the key, its kid, why it is skipped, whether a strict read fails).
    let table: Vec<(&str, Option<&str>, KeyError, bool)> = vec![
        (
            LEGACY_JWK,
            Some("legacy-1024"),
            KeyError::TooShort { bits: 1024 },
            true,
        ),
        (
            X5C_JWK,
            Some("x5c-only"),
            KeyError::MissingMember { name: "n" },
            true,
        ),
        (
            &no_e,
            Some("no-e"),
            KeyError::MissingMember { name: "e" },
            true,
        ),
        (
            r#"{"kty":"RSA","kid":"bad-n","n":"@@","e":"AQAB"}"#,
            Some("bad-n"),
            KeyError::Base64 { name: "n" },
            true,
        ),
        (&one_exponent, Some("e-1"), KeyError::BadNumbers, true),
        (
            &ec,
            Some("ec"),
            KeyError::KeyType { kty: "EC".into() },
            false,
        ),
        (
            r#"{"kty":"oct","kid":"hmac","k":"c2VjcmV0"}"#,
            Some("hmac"),
            KeyError::KeyType { kty: "oct".into() },
            false,
        ),
        (
            &enc,
            Some("test-b-enc"),
            KeyError::Use {
                key_use: "enc".into(),
            },
            false,
        ),
        (
            &other_alg,
            Some("ps"),
            KeyError::Algorithm {
                alg: "PS256".into(),
            },
            false,
        ),
        (r#""not a key""#, None, json(), true),
        (
            r#"{"kid":"no-kty","n":"AQAB"}"#,
            Some("no-kty"),
            json(),
            true,
        ),
        (r#"{"kty":5,"kid":"number"}"#, Some("number"), json(), true),
        (
            r#"{"kty":"RSA","kty":"EC","kid":"dup"}"#,
            Some("dup"),
            json(),
            true,
        ),
        (r#"{"kty":"EC","kid":7}"#, None, json(), true),
    ];
    for (key, kid, reason, strict_fails) in table {
        let strict_error = strict_fails.then(|| reason.clone());
        check_set(
            &[&a, key, &b],
            &["test-a", "test-b"],
            &[(1, kid, reason)],
            strict_error,
        );
    }
    // Several at once, in set order, and the published set itself.
    check_set(
        &[LEGACY_JWK, &a, X5C_JWK, &ec],
        &["test-a"],
        &[
            (0, Some("legacy-1024"), KeyError::TooShort { bits: 1024 }),
            (2, Some("x5c-only"), KeyError::MissingMember { name: "n" }),
            (3, Some("ec"), KeyError::KeyType { kty: "EC".into() }),
        ],
        Some(KeyError::TooShort { bits: 1024 }),
    );
    let (jwks, skipped) = Jwks::from_json_lenient(JWKS).unwrap();
    assert_eq!(kids(&jwks), ["test-a", "test-b"]);
    let skipped: Vec<_> = skipped.iter().map(ToString::to_string).collect();
    assert_eq!(
        skipped,
        [
            "key 0 (kid `ec`): JWK kty `EC` is not RSA",
            "key 2 (kid `test-b-enc`): JWK use `enc` is not sig",
        ]
    );
    // What is kept verifies.
    let token = signed(Some("test-a"));
    assert_eq!(
        jwks.verify(&UnverifiedToken::decode(&token).unwrap()),
        Ok(())
    );
}

#[test]
fn lenient_jwks_fails_on_no_jwks_or_no_usable_key() {
    for document in [
        "",
        "[]",
        "{}",
        r#"{"keys":{}}"#,
        r#"{"keys":[1"#,
        r#"{"keys":null}"#,
    ] {
        assert!(
            matches!(
                Jwks::from_json_lenient(document),
                Err(KeyError::Json { .. })
            ),
            "{document}"
        );
    }
    assert_eq!(
        Jwks::from_json_lenient(r#"{"keys":[]}"#).unwrap_err(),
        KeyError::NoUsableKey {
            skipped: 0,
            first: None
        }
    );
    let set = format!(r#"{{"keys":[{LEGACY_JWK},{X5C_JWK}]}}"#);
    for err in [
        Jwks::from_json_lenient(&set).unwrap_err(),
        // Strict reads skip nothing that is broken: the first reason.
        Jwks::from_json(&set).unwrap_err(),
    ] {
        match &err {
            KeyError::NoUsableKey {
                skipped: 2,
                first: Some(first),
            } => {
                assert_eq!(first.kid(), Some("legacy-1024"))
            }
            KeyError::TooShort { bits: 1024 } => {}
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(
        Jwks::from_json_lenient(&set).unwrap_err().to_string(),
        "JWKS holds no RS256 signing key (2 skipped, first key 0 (kid `legacy-1024`): \
         RSA key has 1024 bits, at least 2048 are required)"
    );
}

/// A JWKS `keys` element: a real key, a broken variant of one, or any JSON.
fn jwk_element() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(jwks_key(1)),
        Just(jwks_key(0)),
        Just(LEGACY_JWK.to_owned()),
        Just(X5C_JWK.trim().to_owned()),
        strategies::json_value().prop_map(|v| v.to_string()),
        (strategies::text(), strategies::text(), strategies::text()).prop_map(|(kty, kid, n)| {
            serde_json::json!({ "kty": kty, "kid": kid, "n": n, "e": "AQAB" }).to_string()
        }),
    ]
}

proptest! {
    #[test]
    fn lenient_jwks_never_panics_on_arbitrary_text(s in any::<String>()) {
        let _ = Jwks::from_json_lenient(&s);
    }

    #[test]
    fn lenient_jwks_accounts_for_every_key(keys in prop::collection::vec(jwk_element(), 0..6)) {
        let set = format!(r#"{{"keys":[{}]}}"#, keys.join(","));
        match Jwks::from_json_lenient(&set) {
            Ok((jwks, skipped)) => {
                prop_assert!(!jwks.keys().is_empty());
                prop_assert_eq!(jwks.keys().len() + skipped.len(), keys.len());
                prop_assert!(skipped.windows(2).all(|w| w[0].index() < w[1].index()));
                prop_assert!(skipped.iter().all(|s| s.index() < keys.len()));
                // A strict read keeps the same keys or fails.
                if let Ok(strict) = Jwks::from_json(&set) {
                    prop_assert_eq!(strict.keys(), jwks.keys());
                }
            }
            Err(KeyError::NoUsableKey { skipped, first }) => {
                prop_assert_eq!(skipped, keys.len());
                prop_assert_eq!(first.is_some(), !keys.is_empty());
                prop_assert!(Jwks::from_json(&set).is_err());
            }
            Err(other) => prop_assert!(false, "{other:?} for {set}"),
        }
    }
}
