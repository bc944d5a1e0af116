//! The vectors `tests/data/make_vectors.py` computed with Python's `hmac`.

use lp_webhook::{Signature, Verified, VerifyError, WebhookVerifier};
use serde_json::Value;

use crate::support::{algorithm, assert_clean, encoding, secret, unhex};

fn document() -> Value {
    let text = include_str!("../data/vectors.json");
    match serde_json::from_str(text) {
        Ok(v) => v,
        Err(e) => panic!("vectors.json: {e}"),
    }
}

fn text<'a>(v: &'a Value, key: &str) -> &'a str {
    match v[key].as_str() {
        Some(s) => s,
        None => panic!("vector lacks {key}: {v}"),
    }
}

#[test]
fn every_python_signature_verifies_and_no_other_secret_does() {
    let doc = document();
    let vectors = doc["vectors"].as_array().cloned().unwrap_or_default();
    assert_eq!(vectors.len(), 30, "the script writes 5 secrets x 6 bodies");
    let mut checked = 0;
    for v in &vectors {
        let key = secret(text(v, "secret"));
        // Another secret of the same length: first character dropped, one added.
        let other: String = text(v, "secret").chars().skip(1).chain(['!']).collect();
        let other = secret(&other);
        let body = unhex(text(v, "body_hex"));
        let right = WebhookVerifier::new(&key);
        let wrong = WebhookVerifier::new(&other);
        for sig in v["signatures"].as_array().into_iter().flatten() {
            let header = text(sig, "header");
            let want = Verified {
                algorithm: algorithm(text(sig, "algorithm")),
                encoding: encoding(text(sig, "encoding")),
            };
            assert_eq!(right.verify_signature(header, &body), Ok(want), "{header}");
            let refused = wrong.verify_signature(header, &body);
            assert_eq!(
                refused,
                Err(VerifyError::Mismatch {
                    algorithm: want.algorithm,
                    encoding: want.encoding
                }),
                "{header}"
            );
            if let (Err(e), Ok(parsed)) = (&refused, Signature::parse(header)) {
                assert_clean(e, text(v, "secret"), parsed.digest());
            }
            checked += 1;
        }
    }
    assert_eq!(checked, 30 * 6);
}

#[test]
fn our_signer_writes_what_python_wrote() {
    let doc = document();
    for v in doc["vectors"].as_array().into_iter().flatten() {
        let key = secret(text(v, "secret"));
        let body = unhex(text(v, "body_hex"));
        for sig in v["signatures"].as_array().into_iter().flatten() {
            let header = text(sig, "header");
            let ours = Signature::sign(
                algorithm(text(sig, "algorithm")),
                encoding(text(sig, "encoding")),
                &key,
                &body,
            );
            // Hex is written in lower case; Python's upper-case copies
            // compare without case.
            assert!(ours.to_string().eq_ignore_ascii_case(header), "{header}");
        }
    }
}

#[test]
fn the_reference_example_header_parses() {
    let doc = document();
    let example = &doc["example"];
    let header = text(example, "header");
    assert_eq!(header, "sha1=12DcfY3NhieG0uMlGlNX/SHWBeQ=");
    let sig = match Signature::parse(header) {
        Ok(s) => s,
        Err(e) => panic!("{header}: {e}"),
    };
    assert_eq!(sig.algorithm(), lp_webhook::Algorithm::Sha1);
    assert_eq!(sig.encoding(), lp_webhook::Encoding::Base64);
    // Python's base64 decoded it to these bytes.
    assert_eq!(sig.digest(), unhex(text(example, "digest_hex")).as_slice());
    assert_eq!(sig.to_string(), header);
    // Without LivePerson's secret it can only be refused, never accepted.
    let verifier = WebhookVerifier::new(&secret("not-the-secret"));
    assert!(matches!(
        verifier.verify_signature(header, b"{}"),
        Err(VerifyError::Mismatch { .. })
    ));
}
