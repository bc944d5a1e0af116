//! The AppJWT decoder and validator on arbitrary text.
//!
//! Beyond "never panics", three properties are checked on every input:
//! a decoded token re-encodes to one that decodes to the same header and
//! claims; validation at any instant with any leeway returns rather than
//! panics; and no error message quotes the signature segment or the token.
#![no_main]

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use libfuzzer_sys::fuzz_target;
use lp_jwt::{UnverifiedToken, Validation, assemble, encode_signing_input};

fuzz_target!(|data: &[u8]| {
    // The first 16 bytes choose the validation instant and leeway; the rest
    // is the token, as the facade only ever sees UTF-8 text.
    let (knobs, token) = data.split_at(data.len().min(16));
    let Ok(token) = std::str::from_utf8(token) else {
        return;
    };
    let mut k = [0u8; 16];
    k[..knobs.len()].copy_from_slice(knobs);
    let now_secs = u64::from_le_bytes([k[0], k[1], k[2], k[3], k[4], k[5], k[6], k[7]]);
    let leeway_secs = u64::from_le_bytes([k[8], k[9], k[10], k[11], k[12], k[13], k[14], k[15]]);
    let now = UNIX_EPOCH
        .checked_add(Duration::from_secs(now_secs))
        .unwrap_or(UNIX_EPOCH);

    match UnverifiedToken::decode(token) {
        Ok(jwt) => {
            // Debug leaves the signature out.
            let signature = token.rsplit('.').next().unwrap_or_default();
            if is_distinctive(signature) {
                assert!(!format!("{jwt:?}").contains(signature));
            }

            // Round trip: what we encode, we decode to the same thing.
            let input = encode_signing_input(jwt.header(), jwt.claims());
            let again = assemble(&input, jwt.signature());
            match UnverifiedToken::decode_with_limit(&again, usize::MAX) {
                Ok(back) => {
                    assert_eq!(back.header(), jwt.header());
                    assert_eq!(back.claims(), jwt.claims());
                    assert_eq!(back.signature(), jwt.signature());
                }
                Err(e) => panic!("re-encoded token does not decode: {e}"),
            }

            for validation in [
                Validation::new("56072331"),
                Validation::new("56072331")
                    .client_id("75588e18-0213-4e33-8174-883acac7e3c4")
                    .leeway(Duration::from_secs(leeway_secs)),
                Validation::new("").issuer("").leeway(Duration::MAX),
            ] {
                for at in [now, UNIX_EPOCH, SystemTime::UNIX_EPOCH - Duration::from_secs(1)] {
                    let _ = validation.validate(jwt.header(), jwt.claims(), at);
                }
            }
        }
        Err(e) => {
            let message = e.to_string();
            assert!(!message.is_empty());
            let signature = token.rsplit('.').next().unwrap_or_default();
            if token.contains('.') && is_distinctive(signature) {
                assert!(!message.contains(signature), "{message}");
            }
            if is_distinctive(token) {
                assert!(!message.contains(token), "{message}");
            }
        }
    }
});

/// Long enough and free of spaces, so that finding it inside an error
/// message means it was copied there, not that an English word matched.
fn is_distinctive(s: &str) -> bool {
    s.len() >= 20 && !s.contains(' ')
}
