//! Properties: any change to the body or the signature is refused; the
//! parser never panics and round-trips what it accepts.

use lp_webhook::{Algorithm, Encoding, Signature, VerifyError, WebhookVerifier};
use proptest::prelude::*;

use crate::support::{assert_clean, secret};

fn algorithms() -> impl Strategy<Value = Algorithm> {
    prop_oneof![Just(Algorithm::Sha1), Just(Algorithm::Sha256)]
}

fn encodings() -> impl Strategy<Value = Encoding> {
    prop_oneof![Just(Encoding::Base64), Just(Encoding::Hex)]
}

/// Secrets `ClientSecret::new` accepts: printable, of any script.
fn secrets() -> impl Strategy<Value = String> {
    "[^\\p{C}]{1,80}"
}

/// Whether `a` and `b` differ only in the case of hex letters of a hex
/// digest: the one change that keeps a signature valid, by design.
fn only_hex_case(a: &str, b: &str, encoding: Encoding) -> bool {
    // The algorithm prefix is matched exactly (`sHa1=` is not a known
    // algorithm); only the hex digest after it may change case.
    let split = |s: &str| s.split_once('=').map(|(p, d)| (p.to_owned(), d.to_owned()));
    match (split(a), split(b)) {
        (Some((pa, da)), Some((pb, db))) => {
            encoding == Encoding::Hex && pa == pb && da != db && da.eq_ignore_ascii_case(&db)
        }
        _ => false,
    }
}

proptest! {
    #[test]
    fn any_change_to_the_body_is_refused(
        key in secrets(),
        body in proptest::collection::vec(any::<u8>(), 0..300),
        algorithm in algorithms(),
        encoding in encodings(),
        at in any::<prop::sample::Index>(),
        flip in 1u8..=255,
        change in 0u8..3,
    ) {
        let key = secret(&key);
        let header = Signature::sign(algorithm, encoding, &key, &body).to_string();
        let verifier = WebhookVerifier::new(&key);
        prop_assert!(verifier.verify_signature(&header, &body).is_ok());
        let mut changed = body.clone();
        match change {
            // One byte flipped, one byte added, one byte removed.
            0 if !body.is_empty() => changed[at.index(body.len())] ^= flip,
            1 | 0 => changed.insert(at.index(body.len() + 1), flip),
            _ if !body.is_empty() => { changed.remove(at.index(body.len())); }
            _ => changed.push(0),
        }
        prop_assert_ne!(&changed, &body);
        let got = verifier.verify_signature(&header, &changed);
        prop_assert_eq!(&got, &Err(VerifyError::Mismatch { algorithm, encoding }));
        if let Err(e) = &got {
            let expected = Signature::sign(algorithm, encoding, &key, &changed);
            assert_clean(e, key.expose_secret(), expected.digest());
        }
    }

    #[test]
    fn any_change_to_the_signature_is_refused(
        key in secrets(),
        body in proptest::collection::vec(any::<u8>(), 0..100),
        algorithm in algorithms(),
        encoding in encodings(),
        at in any::<prop::sample::Index>(),
        replacement in any::<char>(),
    ) {
        let key = secret(&key);
        let header = Signature::sign(algorithm, encoding, &key, &body).to_string();
        let mut chars: Vec<char> = header.chars().collect();
        let i = at.index(chars.len());
        prop_assume!(chars[i] != replacement);
        chars[i] = replacement;
        let changed: String = chars.into_iter().collect();
        let got = WebhookVerifier::new(&key).verify_signature(&changed, &body);
        if only_hex_case(&header, &changed, encoding) {
            prop_assert!(got.is_ok(), "{changed}: {got:?}");
        } else {
            prop_assert!(got.is_err(), "{changed} accepted");
        }
    }

    #[test]
    fn a_changed_digest_is_a_mismatch(
        key in secrets(),
        body in proptest::collection::vec(any::<u8>(), 0..100),
        algorithm in algorithms(),
        encoding in encodings(),
        at in any::<prop::sample::Index>(),
        flip in 1u8..=255,
    ) {
        let key = secret(&key);
        let good = Signature::sign(algorithm, encoding, &key, &body);
        let mut digest = good.digest().to_vec();
        let i = at.index(digest.len());
        digest[i] ^= flip;
        let Some(forged) = Signature::new(algorithm, encoding, &digest) else {
            return Err(TestCaseError::fail("digest of the right length refused"));
        };
        let got = WebhookVerifier::new(&key).verify_signature(&forged.to_string(), &body);
        prop_assert_eq!(&got, &Err(VerifyError::Mismatch { algorithm, encoding }));
        if let Err(e) = &got {
            assert_clean(e, key.expose_secret(), good.digest());
        }
    }

    #[test]
    fn parse_never_panics_and_round_trips(text in "\\PC{0,80}|(sha1|sha256)=[0-9a-fA-F+/=]{0,70}") {
        if let Ok(sig) = Signature::parse(&text) {
            let again = sig.to_string();
            prop_assert_eq!(Signature::parse(&again), Ok(sig.clone()));
            match sig.encoding() {
                Encoding::Base64 => prop_assert_eq!(&again, &text),
                Encoding::Hex => prop_assert_eq!(again, text.to_ascii_lowercase()),
            }
        }
    }

    #[test]
    fn every_digest_round_trips(
        algorithm in algorithms(),
        encoding in encodings(),
        bytes in proptest::collection::vec(any::<u8>(), 32),
    ) {
        let digest = &bytes[..algorithm.digest_len()];
        let Some(sig) = Signature::new(algorithm, encoding, digest) else {
            return Err(TestCaseError::fail("digest of the right length refused"));
        };
        let text = sig.to_string();
        prop_assert_eq!(text.len(), algorithm.name().len() + 1 + algorithm.encoded_len(encoding));
        prop_assert_eq!(Signature::parse(&text), Ok(sig));
    }
}

#[test]
fn a_digest_of_the_wrong_length_is_not_a_signature() {
    assert_eq!(
        Signature::new(Algorithm::Sha1, Encoding::Hex, &[0; 32]),
        None
    );
    assert_eq!(
        Signature::new(Algorithm::Sha256, Encoding::Base64, &[0; 20]),
        None
    );
    assert!(Signature::new(Algorithm::Sha256, Encoding::Base64, &[0; 32]).is_some());
}
