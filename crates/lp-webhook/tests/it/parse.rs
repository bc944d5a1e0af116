//! `Signature::parse`: what it accepts, and every error with its message.

use lp_webhook::{Algorithm, Encoding, Signature, SignatureError};

/// 20 and 32 bytes of digest, in each spelling.
const SHA1_B64: &str = "12DcfY3NhieG0uMlGlNX/SHWBeQ=";
const SHA1_HEX: &str = "d760dc7d8dcd862786d2e3251a5357fd21d605e4";
const SHA256_B64: &str = "YIsMQG892hlwLXGgSEg7jDMSgxBtgKII489D295QUoY=";
const SHA256_HEX: &str = "608b0c406f3dda19702d71a048483b8c331283106d80a208e3cf43dbde505286";

/// Parses `input` and expects `want`: `Ok((algorithm, encoding))` or the
/// error, and for an error a message containing `needle`.
fn check(input: &str, want: Result<(Algorithm, Encoding), SignatureError>, needle: &str) {
    let got = Signature::parse(input);
    match (&got, &want) {
        (Ok(sig), Ok((a, e))) => {
            assert_eq!((sig.algorithm(), sig.encoding()), (*a, *e), "{input}");
            assert_eq!(sig.digest().len(), a.digest_len(), "{input}");
        }
        (Err(e), Err(w)) => {
            assert_eq!(e, w, "{input}");
            let message = e.to_string();
            assert!(message.contains(needle), "{input}: {message}");
            assert!(!message.contains(SHA1_B64) && !message.contains(SHA1_HEX));
            assert!(!message.ends_with('.'), "{message}");
        }
        _ => panic!("{input:?}: got {got:?}, want {want:?}"),
    }
}

fn bad(
    encoding: Encoding,
    position: Option<usize>,
) -> Result<(Algorithm, Encoding), SignatureError> {
    Err(SignatureError::BadEncoding { encoding, position })
}

#[test]
fn accepted_forms() {
    use Algorithm::*;
    use Encoding::*;
    check(&format!("sha1={SHA1_B64}"), Ok((Sha1, Base64)), "");
    check(&format!("sha1={SHA1_HEX}"), Ok((Sha1, Hex)), "");
    check(
        &format!("sha1={}", SHA1_HEX.to_uppercase()),
        Ok((Sha1, Hex)),
        "",
    );
    check(&format!("sha256={SHA256_B64}"), Ok((Sha256, Base64)), "");
    check(&format!("sha256={SHA256_HEX}"), Ok((Sha256, Hex)), "");
    // A hex-length digest of only decimal digits is hex, though every one
    // of them is a Base64 character too.
    check(&format!("sha1={}", "1".repeat(40)), Ok((Sha1, Hex)), "");
}

#[test]
fn the_two_spellings_decode_to_the_same_digest() {
    let parse = |s: &str| Signature::parse(s).map(|s| s.digest().to_vec());
    assert_eq!(
        parse(&format!("sha1={SHA1_B64}")),
        parse(&format!("sha1={SHA1_HEX}"))
    );
    assert_eq!(
        parse(&format!("sha256={SHA256_B64}")),
        parse(&format!("sha256={}", SHA256_HEX.to_uppercase()))
    );
}

#[test]
fn errors() {
    use Algorithm::*;
    use Encoding::*;
    let unknown = |a: &str| {
        Err(SignatureError::UnknownAlgorithm {
            algorithm: a.to_owned(),
        })
    };
    let length = |algorithm, length| Err(SignatureError::BadLength { algorithm, length });

    check("", Err(SignatureError::NoAlgorithm), "no algorithm prefix");
    check(
        SHA1_HEX,
        Err(SignatureError::NoAlgorithm),
        "expected sha1= or sha256=",
    );
    check(
        &format!("md5={SHA1_B64}"),
        unknown("md5"),
        "unknown signature algorithm \"md5\"",
    );
    // Case-sensitive, as LivePerson writes it.
    check(&format!("SHA1={SHA1_B64}"), unknown("SHA1"), "\"SHA1\"");
    check(
        &format!("sha512={SHA256_HEX}"),
        unknown("sha512"),
        "expected sha1 or sha256",
    );
    check(&format!(" sha1={SHA1_B64}"), unknown(" sha1"), "\" sha1\"");
    check(&format!("={SHA1_B64}"), unknown(""), "\"\"");
    // A forged log line is escaped.
    check("x\ny=abc", unknown("x\ny"), r#""x\ny""#);
    check(
        &format!("{}=abc", "é".repeat(16)),
        unknown(&"é".repeat(16)),
        "é\"",
    );
    // Longer text before the first `=` is no prefix: a bare Base64 digest
    // is not quoted as if it were an algorithm.
    check(
        SHA1_B64,
        Err(SignatureError::NoAlgorithm),
        "no algorithm prefix",
    );
    check(
        &format!("{}=abc", "a".repeat(17)),
        Err(SignatureError::NoAlgorithm),
        "expected sha1=",
    );

    check("sha1=", length(Sha1, 0), "got 0");
    check(
        &format!("sha1={SHA256_HEX}"),
        length(Sha1, 64),
        "a sha1 digest is 28 characters of base64 or 40 of hex, got 64",
    );
    check(
        &format!("sha256={SHA1_B64}"),
        length(Sha256, 28),
        "44 characters of base64 or 64 of hex",
    );
    // Unpadded Base64 is refused: one spelling per digest.
    check(
        &format!("sha1={}", SHA1_B64.trim_end_matches('=')),
        length(Sha1, 27),
        "got 27",
    );
    check(&format!("sha1={SHA1_B64} "), length(Sha1, 29), "got 29");

    // Positions count from the start of the whole value.
    check(
        &format!("sha1=g{}", &SHA1_HEX[1..]),
        bad(Hex, Some(5)),
        "not valid hex at byte 5",
    );
    check(
        &format!("sha1={}z", &SHA1_HEX[..39]),
        bad(Hex, Some(44)),
        "at byte 44",
    );
    check(
        &format!("sha256={}-", &SHA256_HEX[..63]),
        bad(Hex, Some(70)),
        "at byte 70",
    );
    check(
        &format!("sha1={}é", &SHA1_HEX[..38]),
        bad(Hex, Some(43)),
        "at byte 43",
    );
    // URL-safe Base64 is not LivePerson's alphabet.
    check(
        &format!("sha1={}", SHA1_B64.replace('/', "_")),
        bad(Base64, Some(25)),
        "not valid base64 at byte 25",
    );
    check(
        &format!("sha1=*{}", &SHA1_B64[1..]),
        bad(Base64, Some(5)),
        "at byte 5",
    );
    // Unused bits that are not zero: another spelling of the same digest.
    check(
        &format!("sha1={}R=", &SHA1_B64[..26]),
        bad(Base64, Some(26 + 5)),
        "at byte 31",
    );
    // `==` where one `=` belongs, or padding in the middle.
    check(
        &format!("sha1={}BA==", &SHA1_B64[..24]),
        bad(Base64, None),
        "wrong padding",
    );
    check(
        &format!("sha1=={}", &SHA1_B64[..27]),
        bad(Base64, Some(5)),
        "at byte 5",
    );
}
