//! The `x-liveperson-signature` parser and the verifier on arbitrary text.
//!
//! Beyond "never panics": a parsed signature prints back as it was given
//! (hex in lower case) and parses to the same value; an error message is
//! one line that quotes no digest; and the verifier, keyed with a fixed
//! secret, refuses every signature it did not make (the only one it would
//! accept for this body is computed and skipped).
#![no_main]

use libfuzzer_sys::fuzz_target;
use lp_oauth::ClientSecret;
use lp_webhook::{Encoding, Signature, WebhookVerifier};

fuzz_target!(|data: &[u8]| {
    // The first byte splits the rest into header and body.
    let Some((&split, rest)) = data.split_first() else {
        return;
    };
    let (header, body) = rest.split_at((split as usize).min(rest.len()));
    let Ok(header) = std::str::from_utf8(header) else {
        return;
    };
    let Ok(secret) = ClientSecret::new("fuzz-secret-0123456789") else {
        return;
    };
    match Signature::parse(header) {
        Ok(sig) => {
            let again = sig.to_string();
            match sig.encoding() {
                Encoding::Base64 => assert_eq!(again, header),
                Encoding::Hex => assert_eq!(again, header.to_ascii_lowercase()),
            }
            assert_eq!(Signature::parse(&again).as_ref(), Ok(&sig));
            let right = Signature::sign(sig.algorithm(), sig.encoding(), &secret, body);
            let verdict = WebhookVerifier::new(&secret).verify_signature(header, body);
            assert_eq!(verdict.is_ok(), sig.digest() == right.digest());
            if let Err(e) = verdict {
                let message = e.to_string();
                assert!(!message.contains(&right.to_string()[5..]), "{message}");
                assert!(!message.contains("fuzz-secret"), "{message}");
            }
        }
        Err(e) => {
            let message = e.to_string();
            assert!(!message.is_empty());
            assert!(!message.chars().any(char::is_control), "{message:?}");
            // Quoted text is at most a 16-character algorithm name, so a
            // digest-like run (the alphabets, no spaces) of 20 characters
            // is never copied into the message.
            if let Some((_, digest)) = header.split_once('=') {
                let digest_like = digest
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"+/=".contains(&b));
                if digest.len() >= 20 && digest_like {
                    assert!(!message.contains(digest), "{message}");
                }
            }
        }
    }
});
