//! Property tests: round trips and "never panics".

use lp_jwt::{UnverifiedToken, assemble, encode_signing_input};
use proptest::prelude::*;

use crate::SEED_TOKEN;
use crate::strategies::{self, Mutation};

proptest! {
    #[test]
    fn encode_then_decode_round_trips(
        header in strategies::header(),
        claims in strategies::claims(),
        signature in prop::collection::vec(any::<u8>(), 0..600),
    ) {
        let input = encode_signing_input(&header, &claims);
        let token = assemble(&input, &signature);
        let jwt = UnverifiedToken::decode(&token).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(jwt.header(), &header);
        prop_assert_eq!(jwt.claims(), &claims);
        prop_assert_eq!(jwt.signature(), &signature[..]);
        prop_assert_eq!(jwt.signing_input(), input.as_bytes());
    }

    #[test]
    fn decode_never_panics_on_arbitrary_strings(s in any::<String>()) {
        let _ = UnverifiedToken::decode(&s);
    }

    #[test]
    fn decode_never_panics_on_base64ish_strings(s in "[A-Za-z0-9_=+/. -]{0,200}") {
        let _ = UnverifiedToken::decode(&s);
    }

    #[test]
    fn decode_never_panics_on_mutated_tokens(
        token in prop_oneof![Just(SEED_TOKEN.to_owned()), strategies::token()],
        edits in prop::collection::vec(strategies::mutation(), 1..4),
    ) {
        let mut bytes = token.into_bytes();
        for edit in &edits {
            let s = String::from_utf8_lossy(&bytes).into_owned();
            bytes = edit.apply(&s);
        }
        let mutated = String::from_utf8_lossy(&bytes);
        if let Ok(jwt) = UnverifiedToken::decode(&mutated) {
            // Whatever decodes re-encodes to a token that decodes equal.
            let again = assemble(&encode_signing_input(jwt.header(), jwt.claims()), jwt.signature());
            let back = UnverifiedToken::decode(&again).map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(back.header(), jwt.header());
            prop_assert_eq!(back.claims(), jwt.claims());
        }
    }

    #[test]
    fn one_flipped_byte_in_the_seed_never_decodes_to_the_same_signature(
        i in 0..SEED_TOKEN.len(),
        mask in 1..=255u8,
    ) {
        // Canonical base64url means any changed character changes a decoded
        // segment or fails: the same bytes can never come from two tokens.
        let bytes = Mutation::Flip(i, mask).apply(SEED_TOKEN);
        if let Ok(mutated) = std::str::from_utf8(&bytes) {
            let seed = UnverifiedToken::decode(SEED_TOKEN).unwrap();
            if let Ok(jwt) = UnverifiedToken::decode(mutated) {
                prop_assert!(
                    jwt.signing_input() != seed.signing_input() || jwt.signature() != seed.signature()
                );
            }
        }
    }
}
