//! What the test modules share.

use lp_oauth::ClientSecret;
use lp_webhook::{Algorithm, Encoding};

/// The secret of the hand-written tests; no message may contain it.
pub const SECRET: &str = "webhook-s3cr3t+distinct";

pub fn secret(text: &str) -> ClientSecret {
    match ClientSecret::new(text) {
        Ok(s) => s,
        Err(e) => panic!("test secret {text:?}: {e}"),
    }
}

pub fn algorithm(name: &str) -> Algorithm {
    match name {
        "sha1" => Algorithm::Sha1,
        "sha256" => Algorithm::Sha256,
        other => panic!("vector names algorithm {other:?}"),
    }
}

pub fn encoding(name: &str) -> Encoding {
    match name {
        "base64" => Encoding::Base64,
        "hex" => Encoding::Hex,
        other => panic!("vector names encoding {other:?}"),
    }
}

/// Hex to bytes, for the vectors' bodies (written by Python's `bytes.hex`).
pub fn unhex(text: &str) -> Vec<u8> {
    (0..text.len())
        .step_by(2)
        .map(|i| match u8::from_str_radix(&text[i..i + 2], 16) {
            Ok(b) => b,
            Err(e) => panic!("bad hex in vectors at {i}: {e}"),
        })
        .collect()
}

/// Asserts that neither `Display` nor `Debug` of `e` contains the secret
/// or `digest` (the expected digest, in any of its spellings). A secret
/// short or plain enough to match an English word by chance is not
/// looked for.
pub fn assert_clean(e: &(impl std::fmt::Display + std::fmt::Debug), secret: &str, digest: &[u8]) {
    use base64::Engine as _;
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    let b64 = base64::engine::general_purpose::STANDARD.encode(digest);
    for text in [e.to_string(), format!("{e:?}")] {
        let distinctive = secret.chars().count() >= 12 && !secret.contains(' ');
        assert!(!distinctive || !text.contains(secret), "secret in {text}");
        for spelling in [hex.as_str(), &hex.to_uppercase(), b64.as_str()] {
            assert!(
                spelling.is_empty() || !text.contains(spelling),
                "digest in {text}"
            );
        }
        assert!(
            !text.chars().any(char::is_control),
            "control character in {text:?}"
        );
    }
}
