//! `WebhookVerifier::verify` over a header map: each error, and the order
//! of the checks.

use http::HeaderMap;
use lp_webhook::{
    ACCOUNT_ID_HEADER, AccountId, Algorithm, CLIENT_ID_HEADER, ClientId, Encoding,
    SIGNATURE_HEADER, Signature, SignatureError, Verified, VerifyError, WebhookVerifier,
};

use crate::support::{SECRET, assert_clean, secret};

const ACCOUNT: &str = "56072331";
const CLIENT: &str = "75588e18-0213-4e33-8174-883acac7e3c4";
const BODY: &[u8] = br#"{"kind":"notification","body":{"changes":[]}}"#;

fn account(s: &str) -> AccountId {
    AccountId::new(s).unwrap_or_else(|e| panic!("{e}"))
}

fn client(s: &str) -> ClientId {
    ClientId::new(s).unwrap_or_else(|e| panic!("{e}"))
}

/// The signature LivePerson would send for `BODY`.
fn good() -> String {
    Signature::sign(Algorithm::Sha256, Encoding::Base64, &secret(SECRET), BODY).to_string()
}

/// A header map from `(name, value)` pairs (repeats kept), values as bytes
/// so that non-ASCII ones can be built.
fn headers(pairs: &[(&'static str, &[u8])]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in pairs {
        match http::HeaderValue::from_bytes(value) {
            Ok(v) => {
                map.append(*name, v);
            }
            Err(e) => panic!("{name}: {e}"),
        }
    }
    map
}

fn verifier() -> WebhookVerifier {
    WebhookVerifier::new(&secret(SECRET))
        .expect_account(account(ACCOUNT))
        .expect_client_id(client(CLIENT))
}

/// Runs the full verifier on `pairs` and `body`; expects `want`, and for
/// an error a message containing `needle` and none of the secret or the
/// expected digest.
fn check(
    pairs: &[(&'static str, &[u8])],
    body: &[u8],
    want: Result<Verified, VerifyError>,
    needle: &str,
) {
    let got = verifier().verify(&headers(pairs), body);
    assert_eq!(got, want, "{pairs:?}");
    if let Err(e) = got {
        let message = e.to_string();
        assert!(message.contains(needle), "{message}");
        let expected = Signature::sign(Algorithm::Sha256, Encoding::Base64, &secret(SECRET), body);
        assert_clean(&e, SECRET, expected.digest());
        let sha1 = Signature::sign(Algorithm::Sha1, Encoding::Hex, &secret(SECRET), body);
        assert_clean(&e, SECRET, sha1.digest());
    }
}

#[test]
fn a_good_webhook_passes_and_every_fault_has_its_error() {
    let sig = good();
    let s = sig.as_bytes();
    let acc = ACCOUNT.as_bytes();
    let cid = CLIENT.as_bytes();
    let ok = Ok(Verified {
        algorithm: Algorithm::Sha256,
        encoding: Encoding::Base64,
    });
    let all = [
        (SIGNATURE_HEADER, s),
        (ACCOUNT_ID_HEADER, acc),
        (CLIENT_ID_HEADER, cid),
    ];
    check(&all, BODY, ok.clone(), "");
    // Header names are case-insensitive in HTTP; `http` lower-cases them.
    check(
        &[
            ("X-LivePerson-Signature", s),
            ("X-LIVEPERSON-ACCOUNT-ID", acc),
            (CLIENT_ID_HEADER, cid),
        ],
        BODY,
        ok,
        "",
    );

    let missing = |name| Err(VerifyError::MissingHeader { name });
    check(
        &[(ACCOUNT_ID_HEADER, acc), (CLIENT_ID_HEADER, cid)],
        BODY,
        missing(SIGNATURE_HEADER),
        "webhook has no x-liveperson-signature header",
    );
    check(
        &[(SIGNATURE_HEADER, s), (CLIENT_ID_HEADER, cid)],
        BODY,
        missing(ACCOUNT_ID_HEADER),
        "no x-liveperson-account-id",
    );
    check(
        &[(SIGNATURE_HEADER, s), (ACCOUNT_ID_HEADER, acc)],
        BODY,
        missing(CLIENT_ID_HEADER),
        "no x-liveperson-client-id",
    );

    let twice = |name| Err(VerifyError::DuplicateHeader { name });
    check(
        &[
            (SIGNATURE_HEADER, s),
            (SIGNATURE_HEADER, s),
            (ACCOUNT_ID_HEADER, acc),
            (CLIENT_ID_HEADER, cid),
        ],
        BODY,
        twice(SIGNATURE_HEADER),
        "more than one x-liveperson-signature",
    );
    check(
        &[
            (SIGNATURE_HEADER, s),
            (ACCOUNT_ID_HEADER, acc),
            (ACCOUNT_ID_HEADER, b"1"),
            (CLIENT_ID_HEADER, cid),
        ],
        BODY,
        twice(ACCOUNT_ID_HEADER),
        "more than one",
    );

    let not_text = |name| Err(VerifyError::NotText { name });
    check(
        &[
            (SIGNATURE_HEADER, "sha1=\u{e9}".as_bytes()),
            (ACCOUNT_ID_HEADER, acc),
            (CLIENT_ID_HEADER, cid),
        ],
        BODY,
        not_text(SIGNATURE_HEADER),
        "not visible ascii",
    );
    check(
        &[
            (SIGNATURE_HEADER, s),
            (ACCOUNT_ID_HEADER, b"5607\xff"),
            (CLIENT_ID_HEADER, cid),
        ],
        BODY,
        not_text(ACCOUNT_ID_HEADER),
        "x-liveperson-account-id header is not visible ascii",
    );

    check(
        &[
            (SIGNATURE_HEADER, b"sha384=abc"),
            (ACCOUNT_ID_HEADER, acc),
            (CLIENT_ID_HEADER, cid),
        ],
        BODY,
        Err(VerifyError::Malformed(SignatureError::UnknownAlgorithm {
            algorithm: "sha384".to_owned(),
        })),
        "malformed x-liveperson-signature: unknown signature algorithm \"sha384\"",
    );
    check(
        &[
            (SIGNATURE_HEADER, b"sha1=abc"),
            (ACCOUNT_ID_HEADER, acc),
            (CLIENT_ID_HEADER, cid),
        ],
        BODY,
        Err(VerifyError::Malformed(SignatureError::BadLength {
            algorithm: Algorithm::Sha1,
            length: 3,
        })),
        "got 3",
    );

    check(
        &[
            (SIGNATURE_HEADER, s),
            (ACCOUNT_ID_HEADER, b"12345678"),
            (CLIENT_ID_HEADER, cid),
        ],
        BODY,
        Err(VerifyError::WrongAccount {
            expected: account(ACCOUNT),
            received: "12345678".to_owned(),
        }),
        "webhook is for account \"12345678\", expected 56072331",
    );
    check(
        &[
            (SIGNATURE_HEADER, s),
            (ACCOUNT_ID_HEADER, acc),
            (CLIENT_ID_HEADER, b"other\tid"),
        ],
        BODY,
        Err(VerifyError::WrongClientId {
            expected: client(CLIENT),
            received: "other\tid".to_owned(),
        }),
        r#"webhook is for client id "other\tid", expected 75588e18"#,
    );
    // Exact comparison: no trimming, no case folding.
    check(
        &[
            (SIGNATURE_HEADER, s),
            (ACCOUNT_ID_HEADER, acc),
            (CLIENT_ID_HEADER, CLIENT.to_uppercase().as_bytes()),
        ],
        BODY,
        Err(VerifyError::WrongClientId {
            expected: client(CLIENT),
            received: CLIENT.to_uppercase(),
        }),
        "webhook is for client id",
    );

    let mismatch = Err(VerifyError::Mismatch {
        algorithm: Algorithm::Sha256,
        encoding: Encoding::Base64,
    });
    check(
        &all,
        b"{}",
        mismatch.clone(),
        "webhook signature does not match the body (hmac-sha256, base64 digest)",
    );
    let other = Signature::sign(
        Algorithm::Sha256,
        Encoding::Base64,
        &secret("another-secret"),
        BODY,
    )
    .to_string();
    check(
        &[
            (SIGNATURE_HEADER, other.as_bytes()),
            (ACCOUNT_ID_HEADER, acc),
            (CLIENT_ID_HEADER, cid),
        ],
        BODY,
        mismatch,
        "does not match",
    );
}

#[test]
fn ids_are_checked_only_when_expected_and_before_the_digest() {
    let sig = good();
    let only_signature = headers(&[(SIGNATURE_HEADER, sig.as_bytes())]);
    let plain = WebhookVerifier::new(&secret(SECRET));
    assert!(plain.verify(&only_signature, BODY).is_ok());
    // A webhook for another account under another secret: the account is
    // named, not only "mismatch".
    let foreign = headers(&[
        (SIGNATURE_HEADER, sig.as_bytes()),
        (ACCOUNT_ID_HEADER, b"999"),
    ]);
    let got = WebhookVerifier::new(&secret("mine"))
        .expect_account(account(ACCOUNT))
        .verify(&foreign, BODY);
    assert!(
        matches!(got, Err(VerifyError::WrongAccount { .. })),
        "{got:?}"
    );
    // The signature's shape comes first of all.
    let malformed = headers(&[(SIGNATURE_HEADER, b"nope"), (ACCOUNT_ID_HEADER, b"999")]);
    assert!(matches!(
        verifier().verify(&malformed, BODY),
        Err(VerifyError::Malformed(_))
    ));
}

#[test]
fn which_errors_are_malformed() {
    let check = |e: VerifyError, want: bool| assert_eq!(e.is_malformed(), want, "{e:?}");
    check(
        VerifyError::MissingHeader {
            name: SIGNATURE_HEADER,
        },
        true,
    );
    check(
        VerifyError::DuplicateHeader {
            name: SIGNATURE_HEADER,
        },
        true,
    );
    check(
        VerifyError::NotText {
            name: ACCOUNT_ID_HEADER,
        },
        true,
    );
    check(VerifyError::Malformed(SignatureError::NoAlgorithm), true);
    check(
        VerifyError::WrongAccount {
            expected: account(ACCOUNT),
            received: String::new(),
        },
        false,
    );
    check(
        VerifyError::WrongClientId {
            expected: client(CLIENT),
            received: String::new(),
        },
        false,
    );
    check(
        VerifyError::Mismatch {
            algorithm: Algorithm::Sha1,
            encoding: Encoding::Hex,
        },
        false,
    );
}

#[test]
fn the_malformed_error_keeps_its_cause() {
    use std::error::Error as _;
    let e = VerifyError::Malformed(SignatureError::NoAlgorithm);
    let source = e.source().map(ToString::to_string);
    assert_eq!(
        source.as_deref(),
        Some("signature has no algorithm prefix: expected sha1= or sha256=")
    );
    assert!(
        VerifyError::MissingHeader {
            name: SIGNATURE_HEADER
        }
        .source()
        .is_none()
    );
}

#[test]
fn debug_redacts_the_secret() {
    let text = format!("{:?}", verifier());
    assert!(!text.contains(SECRET), "{text}");
    assert!(text.contains("secret: [redacted]"), "{text}");
    assert!(text.contains(ACCOUNT), "{text}");
}
