//! The JWKS and key rotation.

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use lp_emulator::kid_for;

use crate::support::*;

fn kids(jwks: &str) -> Vec<String> {
    let v: serde_json::Value = serde_json::from_str(jwks).expect("json");
    v["keys"]
        .as_array()
        .expect("keys")
        .iter()
        .map(|k| k["kid"].as_str().expect("kid").to_owned())
        .collect()
}

#[tokio::test]
async fn jwks_shape() {
    let emu = emulator().await;
    let reply = call(&emu, Req::get("/sentinel/well-known/jwks")).await;
    assert_eq!(reply.status, 200);
    assert_eq!(
        reply.header("content-type"),
        Some("application/json;charset=utf-8")
    );
    assert_eq!(reply.bytes(), emu.jwks_json().as_bytes());
    let body = reply.json();
    let keys = body["keys"].as_array().expect("keys");
    assert_eq!(keys.len(), 1);
    let k = &keys[0];
    let mut members: Vec<&str> = k
        .as_object()
        .expect("object")
        .keys()
        .map(String::as_str)
        .collect();
    members.sort_unstable();
    assert_eq!(members, ["alg", "e", "kid", "kty", "n", "use"]);
    assert_eq!(
        (&k["kty"], &k["use"], &k["alg"]),
        (&"RSA".into(), &"sig".into(), &"RS256".into())
    );
    let n = URL_SAFE_NO_PAD
        .decode(k["n"].as_str().expect("n"))
        .expect("b64 n");
    let e = URL_SAFE_NO_PAD
        .decode(k["e"].as_str().expect("e"))
        .expect("b64 e");
    assert_eq!(n.len(), 256, "RSA-2048 modulus without leading zero");
    assert_ne!(n[0], 0);
    assert_eq!(e, [1, 0, 1]);
    assert_eq!(k["kid"], key().kid());
    // The shared key was generated today (or yesterday, past midnight UTC).
    let now = std::time::SystemTime::now();
    let days = [now, now - Duration::from_secs(86_400)].map(kid_for);
    assert!(
        days.iter().any(|d| d == key().kid()),
        "{} vs {days:?}",
        key().kid()
    );
    assert_eq!(emu.public_key_spki_der(), key().public_key_spki_der());

    let reply = call(&emu, Req::get("/sentinel/well-known/jwks").method("POST")).await;
    assert_eq!(reply.status, 405);
}

#[tokio::test]
async fn spki_matches_the_jwk() {
    // ring parses SPKI-wrapped keys only through webpki; instead check that
    // the DER embeds the JWK's modulus and exponent.
    let k = key();
    let spki = k.public_key_spki_der();
    let contains = |needle: &[u8]| spki.windows(needle.len()).any(|w| w == needle);
    assert!(contains(k.modulus()) && contains(&[0x02, 0x03, 1, 0, 1]));
}

#[tokio::test]
async fn rotation_keeps_the_previous_key_until_the_next_rotation() {
    let emu = emulator().await;
    let first_kid = emu.current_kid();
    let old_token = fetch_token(&emu).await;

    emu.rotate_key_to(second_key());
    let second_kid = emu.current_kid();
    assert_ne!(second_kid, first_kid, "kids stay unique");
    assert_eq!(
        kids(&emu.jwks_json()),
        [second_kid.clone(), first_kid.clone()]
    );
    let new_token = fetch_token(&emu).await;
    assert_eq!(decode_jwt(&new_token).header["kid"], second_kid.as_str());
    let served = call(&emu, Req::get("/sentinel/well-known/jwks")).await;
    let served = String::from_utf8_lossy(served.bytes()).into_owned();
    for token in [&old_token, &new_token] {
        assert_eq!(verify_with_jwks(token, &served), Ok(()));
    }
    assert_eq!(
        emu.public_key_spki_der(),
        second_key().public_key_spki_der()
    );

    // Back to the first key material: it gets a fresh kid, and the first
    // kid, two rotations old, is gone.
    emu.rotate_key_to(key());
    let third_kid = emu.current_kid();
    assert!(
        third_kid != first_kid && third_kid != second_kid,
        "{third_kid}"
    );
    assert_eq!(kids(&emu.jwks_json()), [third_kid, second_kid]);
    assert!(verify_with_jwks(&old_token, &emu.jwks_json()).is_err());
}

#[tokio::test]
async fn grace_period_decides_how_long_retired_keys_stay() {
    let cases = [
        (Some(Duration::ZERO), 1),
        (Some(Duration::from_secs(3600)), 3),
        (None, 2),
    ];
    for (grace, published) in cases {
        let emu = builder().key_grace(grace).start().await.expect("start");
        emu.rotate_key_to(second_key());
        emu.rotate_key_to(key());
        assert_eq!(kids(&emu.jwks_json()).len(), published, "{grace:?}");
    }
}

#[tokio::test]
async fn rotate_key_generates_a_fresh_key() {
    let emu = emulator().await;
    let before = emu.public_key_spki_der();
    emu.rotate_key().expect("rotate");
    assert_ne!(emu.public_key_spki_der(), before);
    let token = fetch_token(&emu).await;
    assert_eq!(verify_with_jwks(&token, &emu.jwks_json()), Ok(()));
}
