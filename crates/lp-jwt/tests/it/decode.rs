//! Decoding: the seed token, every `DecodeError` variant, encoding back.

use lp_jwt::{
    AppJwtClaims, Audience, DecodeError, Header, NumericDate, Segment, UnverifiedToken, assemble,
    encode_signing_input,
};

use crate::{SEED_TOKEN, b64, token};

const H: &str = r#"{"alg":"RS256"}"#;
const C: &str = r#"{"iss":"Sentinel"}"#;

fn date(secs: i64) -> Option<NumericDate> {
    NumericDate::from_secs(secs)
}

#[test]
fn seed_token_decodes_to_the_documented_header_and_claims() {
    let jwt = UnverifiedToken::decode(SEED_TOKEN).unwrap();
    assert_eq!(
        *jwt.header(),
        Header {
            alg: "RS256".into(),
            typ: Some("JWT".into()),
            kid: Some("appjwt-13-05-17".into()),
            extra: Default::default(),
        }
    );
    assert_eq!(
        *jwt.claims(),
        AppJwtClaims {
            aud: Some(Audience::One("le81823118".into())),
            azp: Some("75588e18-0213-4e33-8174-883acac7e3c4".into()),
            scope: Some("msg.consumer".into()),
            iss: Some("Sentinel".into()),
            exp: date(1_524_646_270),
            iat: date(1_524_642_670),
            extra: Default::default(),
        }
    );
    assert_eq!(jwt.signature().len(), 128);
    let second_dot = SEED_TOKEN.rfind('.').unwrap();
    assert_eq!(jwt.signing_input(), &SEED_TOKEN.as_bytes()[..second_dot]);
    let parts = jwt.header().kid_parts().unwrap();
    assert_eq!((parts.prefix, parts.date), ("appjwt", "13-05-17"));
}

#[test]
fn debug_output_leaves_out_the_token_and_signature() {
    let jwt = UnverifiedToken::decode(SEED_TOKEN).unwrap();
    let debug = format!("{jwt:?}");
    let signature = SEED_TOKEN.rsplit('.').next().unwrap();
    assert!(!debug.contains(signature), "{debug}");
    assert!(debug.contains("signature_len: 128"), "{debug}");
}

fn check(token: &str, expected: Result<(), DecodeError>) {
    let got = UnverifiedToken::decode(token).map(|_| ());
    assert_eq!(got, expected, "token {token:?}");
    if let Err(e) = got {
        let msg = e.to_string();
        assert!(!msg.is_empty() && !msg.ends_with('.'), "{msg}");
        assert!(msg.starts_with(|c: char| c.is_lowercase()), "{msg}");
    }
}

fn header_err(header: &str, expected: DecodeError) {
    check(&token(header, C), Err(expected));
}

fn claims_err(claims: &str, expected: DecodeError) {
    check(&token(H, claims), Err(expected));
}

#[test]
fn accepted_shapes() {
    for (header, claims) in [
        (H, C),
        (H, "{}"),
        (
            r#"{"alg":"none","typ":"JWT","kid":"k","x":{"y":[1,{"z":null}]}}"#,
            C,
        ),
        (H, r#"{"aud":[]}"#),
        (H, r#"{"aud":["a","b"],"exp":1.5,"iat":0,"exp2":"x"}"#),
        (H, r#"{"exp":253402300799}"#),
        (H, r#"{"exp":1e3}"#),
        (H, r#"{"x":{"a":1},"y":{"a":1}}"#),
        (H, " \n{\"iss\" : \"\\u0053entinel\"}\t"),
    ] {
        check(&token(header, claims), Ok(()));
    }
    // An empty signature is a decoding matter of no concern; verification
    // refuses it.
    check(&format!("{}.{}.", b64(H), b64(C)), Ok(()));
}

#[test]
fn size_and_segment_count() {
    let long = "a".repeat(16 * 1024 + 1);
    check(
        &long,
        Err(DecodeError::TooLong {
            len: 16385,
            max: 16384,
        }),
    );
    assert_eq!(
        UnverifiedToken::decode_with_limit(SEED_TOKEN, 100).map(|_| ()),
        Err(DecodeError::TooLong {
            len: SEED_TOKEN.len(),
            max: 100
        })
    );
    for (t, found) in [("", 1), ("abc", 1), ("a.b", 2), ("a.b.c.d", 4), ("....", 5)] {
        check(t, Err(DecodeError::SegmentCount { found }));
    }
    for (found, message) in [
        (1, "token has 1 segment, expected 3"),
        (2, "token has 2 segments, expected 3"),
    ] {
        assert_eq!(DecodeError::SegmentCount { found }.to_string(), message);
    }
}

#[test]
fn base64_errors_carry_segment_and_token_offset() {
    let (h, c) = (b64(H), b64(C));
    let c_start = h.len() + 1;
    let s_start = h.len() + c.len() + 2;
    let cases = [
        (
            format!("e yJ.{c}.AQ"),
            DecodeError::InvalidCharacter {
                segment: Segment::Header,
                offset: 1,
            },
        ),
        (
            format!("{h}.{c}+.AQ"),
            DecodeError::InvalidCharacter {
                segment: Segment::Claims,
                offset: c_start + c.len(),
            },
        ),
        (
            format!("{h}.{c}.AQ/A"),
            DecodeError::InvalidCharacter {
                segment: Segment::Signature,
                offset: s_start + 2,
            },
        ),
        (
            format!("{h}.{c}.AQ\n"),
            DecodeError::InvalidCharacter {
                segment: Segment::Signature,
                offset: s_start + 2,
            },
        ),
        (
            format!("{h}.{c}.AQ=="),
            DecodeError::Padding {
                segment: Segment::Signature,
                offset: s_start + 2,
            },
        ),
        (
            format!("{h}.{c}.AQI="),
            DecodeError::Padding {
                segment: Segment::Signature,
                offset: s_start + 3,
            },
        ),
        (
            format!("{h}.{c}.AQIDB"),
            DecodeError::InvalidLength {
                segment: Segment::Signature,
                len: 5,
            },
        ),
        (
            format!("e30Ae.{c}.AQ"),
            DecodeError::InvalidLength {
                segment: Segment::Header,
                len: 5,
            },
        ),
        (
            format!("e31.{c}.AQ"),
            DecodeError::NonCanonical {
                segment: Segment::Header,
                offset: 2,
            },
        ),
        (
            format!("{h}.{c}.AR"),
            DecodeError::NonCanonical {
                segment: Segment::Signature,
                offset: s_start + 1,
            },
        ),
    ];
    for (t, expected) in cases {
        check(&t, Err(expected));
    }
}

#[test]
fn json_errors() {
    use DecodeError as E;
    use Segment::{Claims, Header as Hd};
    let json = |segment, column, message: &str| E::Json {
        segment,
        line: 1,
        column,
        message: message.into(),
    };
    header_err("", json(Hd, 0, "EOF while parsing a value"));
    header_err("{", json(Hd, 1, "EOF while parsing an object"));
    header_err(r#"{"alg":"RS256"} x"#, json(Hd, 17, "trailing characters"));
    claims_err(r#"{"exp":1e400}"#, json(Claims, 12, "number out of range"));
    claims_err(
        "{\"a\":\"\u{1}\"}",
        json(
            Claims,
            7,
            "control character (\\u0000-\\u001F) found while parsing a string",
        ),
    );
    check(
        &format!("{}.{}.AQ", b64([0xff]), b64(C)),
        Err(E::NotUtf8 {
            segment: Hd,
            offset: 0,
        }),
    );
    check(
        &format!("{}.{}.AQ", b64(H), b64(b"{\"a\":\"\xc3\"}")),
        Err(E::NotUtf8 {
            segment: Claims,
            offset: 6,
        }),
    );
    for not_object in ["[]", "1", "\"x\"", "null", "true", "1.5", "-1"] {
        header_err(not_object, E::NotObject { segment: Hd });
        claims_err(not_object, E::NotObject { segment: Claims });
    }
}

#[test]
fn duplicate_keys_are_rejected_at_every_depth() {
    use DecodeError as E;
    let dup = |segment, key: &str, column| E::DuplicateKey {
        segment,
        key: key.into(),
        line: 1,
        column,
    };
    header_err(
        r#"{"alg":"RS256","alg":"none"}"#,
        dup(Segment::Header, "alg", 20),
    );
    header_err(
        r#"{"alg":"RS256","x":1,"x":1}"#,
        dup(Segment::Header, "x", 24),
    );
    for (claims, key, column) in [
        (r#"{"aud":"a","aud":"b"}"#, "aud", 16),
        (r#"{"exp":1,"exp":1}"#, "exp", 14),
        (r#"{"iat":1,"iat":1}"#, "iat", 14),
        (r#"{"iss":"a","iss":"a"}"#, "iss", 16),
        (r#"{"azp":"a","azp":"a"}"#, "azp", 16),
        (r#"{"scope":"a","scope":"a"}"#, "scope", 20),
        (r#"{"x":{"y":1,"y":2}}"#, "y", 15),
        (r#"{"x":[{"y":1,"y":2}]}"#, "y", 16),
    ] {
        claims_err(claims, dup(Segment::Claims, key, column));
    }
    // Long keys are kept whole in the error and cut in its message.
    let long = "k".repeat(100);
    let claims = format!(r#"{{"{long}":1,"{long}":2}}"#);
    match UnverifiedToken::decode(&token(H, &claims)) {
        Err(e @ E::DuplicateKey { .. }) => {
            assert!(matches!(&e, E::DuplicateKey { key, .. } if *key == long));
            assert_eq!(
                e.to_string(),
                format!(
                    "claims segment: duplicate key `{}...` at line 1 column 208",
                    "k".repeat(64)
                )
            );
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn registered_members_of_the_wrong_type_are_errors() {
    use DecodeError as E;
    let wrong = |segment, name, expected, column| E::WrongType {
        segment,
        name,
        expected,
        line: 1,
        column,
    };
    let aud = "a string or an array of strings";
    header_err(r#"{"alg":1}"#, wrong(Segment::Header, "alg", "a string", 8));
    header_err(
        r#"{"alg":"RS256","typ":null}"#,
        wrong(Segment::Header, "typ", "a string", 25),
    );
    header_err(
        r#"{"alg":"RS256","kid":["k"]}"#,
        wrong(Segment::Header, "kid", "a string", 22),
    );
    for (claims, name, expected, column) in [
        (r#"{"aud":1}"#, "aud", aud, 8),
        (r#"{"aud":{}}"#, "aud", aud, 9),
        (r#"{"aud":["a",1]}"#, "aud", aud, 13),
        (r#"{"aud":null}"#, "aud", aud, 11),
        (r#"{"azp":false}"#, "azp", "a string", 12),
        (r#"{"scope":["a"]}"#, "scope", "a string", 10),
        (r#"{"iss":1.5}"#, "iss", "a string", 10),
        (r#"{"exp":"1524646270"}"#, "exp", "a number", 19),
        (r#"{"exp":null}"#, "exp", "a number", 11),
        (r#"{"iat":[1]}"#, "iat", "a number", 8),
        (r#"{"iat":true}"#, "iat", "a number", 11),
    ] {
        claims_err(claims, wrong(Segment::Claims, name, expected, column));
    }
    header_err(
        r#"{"typ":"JWT"}"#,
        E::MissingMember {
            segment: Segment::Header,
            name: "alg",
        },
    );
    header_err(
        "{}",
        E::MissingMember {
            segment: Segment::Header,
            name: "alg",
        },
    );
}

#[test]
fn numeric_dates_out_of_range_are_errors() {
    let range = |claim, column| DecodeError::DateOutOfRange {
        claim,
        line: 1,
        column,
    };
    for (claims, claim, column) in [
        (r#"{"exp":-1}"#, "exp", 9),
        (r#"{"exp":253402300800}"#, "exp", 19),
        (r#"{"exp":18446744073709551615}"#, "exp", 27),
        (r#"{"iat":-0.5}"#, "iat", 11),
        (r#"{"iat":1e300}"#, "iat", 12),
        (r#"{"exp":253402300799.5}"#, "exp", 21),
    ] {
        claims_err(claims, range(claim, column));
    }
}

#[test]
fn numeric_date_conversions() {
    assert_eq!(NumericDate::from_secs(-1), None);
    assert_eq!(NumericDate::from_secs(NumericDate::MAX_SECS + 1), None);
    assert_eq!(NumericDate::from_f64(f64::NAN), None);
    assert_eq!(NumericDate::from_f64(f64::INFINITY), None);
    assert_eq!(NumericDate::from_f64(-0.1), None);
    assert_eq!(
        NumericDate::from_f64(-0.0).map(|d| d.as_f64().to_bits()),
        Some(0)
    );
    let d = NumericDate::from_f64(1.75).unwrap();
    assert_eq!((d.as_secs(), d.to_string()), (1, "1.75".to_owned()));
    let max = NumericDate::from_secs(NumericDate::MAX_SECS).unwrap();
    assert_eq!(max.to_string(), "253402300799");
    assert_eq!(
        max.to_system_time(),
        std::time::UNIX_EPOCH + std::time::Duration::from_secs(253_402_300_799)
    );
}

#[test]
fn kid_parts() {
    let check = |kid: Option<&str>, expected: Option<(&str, &str)>| {
        let mut h = Header::new("RS256");
        h.kid = kid.map(str::to_owned);
        assert_eq!(
            h.kid_parts().map(|p| (p.prefix, p.date)),
            expected,
            "{kid:?}"
        );
    };
    check(Some("appjwt-13-05-17"), Some(("appjwt", "13-05-17")));
    check(Some("appjwt-2024"), Some(("appjwt", "2024")));
    check(Some("appjwt-"), None);
    check(Some("appjwt"), None);
    check(Some("other-13-05-17"), None);
    check(None, None);
}

#[test]
fn encoding_round_trips_the_seed_token() {
    let jwt = UnverifiedToken::decode(SEED_TOKEN).unwrap();
    let input = encode_signing_input(jwt.header(), jwt.claims());
    let again = assemble(&input, jwt.signature());
    let back = UnverifiedToken::decode(&again).unwrap();
    assert_eq!(
        (back.header(), back.claims(), back.signature()),
        (jwt.header(), jwt.claims(), jwt.signature())
    );
    assert_eq!(back.signing_input(), input.as_bytes());
}

#[test]
fn extra_entries_named_like_registered_members_are_not_serialized_twice() {
    let mut header = Header::new("RS256");
    header.extra.insert("alg".into(), "none".into());
    let mut claims = AppJwtClaims {
        iss: Some("Sentinel".into()),
        ..Default::default()
    };
    claims.extra.insert("iss".into(), "other".into());
    claims.extra.insert("exp".into(), 5.into());
    let t = assemble(&encode_signing_input(&header, &claims), &[]);
    let jwt = UnverifiedToken::decode(&t).unwrap();
    assert_eq!(jwt.header().alg, "RS256");
    assert_eq!(jwt.claims().iss.as_deref(), Some("Sentinel"));
    assert_eq!(jwt.claims().exp, None);
}

#[test]
fn serde_impls_are_strict_too() {
    assert!(serde_json::from_str::<AppJwtClaims>(r#"{"exp":"1"}"#).is_err());
    assert!(serde_json::from_str::<AppJwtClaims>(r#"{"a":1,"a":1}"#).is_err());
    assert!(serde_json::from_str::<Header>(r#"{"typ":"JWT"}"#).is_err());
    let claims: AppJwtClaims = serde_json::from_str(r#"{"aud":["x"],"exp":2.5}"#).unwrap();
    assert_eq!(
        serde_json::to_string(&claims).unwrap(),
        r#"{"aud":["x"],"exp":2.5}"#
    );
}
