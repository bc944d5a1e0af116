//! Targets 1 and 2: claims decode of the seed token, and RS256 decode +
//! verify with a pre-parsed key, against jsonwebtoken and bare ring.
//!
//! Besides criterion's estimates (one contender after the other), the
//! contenders are measured in interleaved rounds: each round times a batch
//! of every contender in turn, so a slower stretch of this shared machine
//! weighs on all of them alike. The per-round ratios (median, min and max)
//! are printed and written to `$CRITERION_HOME/decode-interleaved/
//! summary.json` for `cargo xtask bench`.

use lp_bench::interleave::{Timed, rounds, summarise, timed, write_summary};
use std::hint::black_box;
use std::time::{Duration, SystemTime};

use criterion::Criterion;
use lp_bench::{ACCOUNT, CLIENT_ID, PeerClaims, SEED_TOKEN, runtime, signed_fixture};
use lp_jwt::{Rs256Verifier, UnverifiedToken, Validation};

/// jsonwebtoken 10's `decode` with signature validation off (deprecated in
/// 10 in favour of `dangerous::insecure_decode`, measured too); it needs a
/// key of the token's family even when the signature is not checked.
#[allow(deprecated)]
fn jwt10_unverified() -> jsonwebtoken::Validation {
    let mut v = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
    v.insecure_disable_signature_validation();
    v.validate_exp = false;
    v.validate_aud = false;
    v.required_spec_claims.clear();
    v
}

fn jwt9_unverified() -> jsonwebtoken9::Validation {
    let mut v = jsonwebtoken9::Validation::new(jsonwebtoken9::Algorithm::RS256);
    v.insecure_disable_signature_validation();
    v.validate_exp = false;
    v.validate_aud = false;
    v.required_spec_claims.clear();
    v
}

fn decode(c: &mut Criterion) {
    // Sanity: every contender decodes the seed token to the same audience.
    let ours = UnverifiedToken::decode(SEED_TOKEN).expect("lp-jwt decodes the seed");
    let rt = runtime(1).expect("runtime");
    let fixture = signed_fixture(&rt).expect("signed fixture");
    let key10 = jsonwebtoken::DecodingKey::from_rsa_raw_components(&fixture.n, &fixture.e);
    let key9 = jsonwebtoken9::DecodingKey::from_rsa_raw_components(&fixture.n, &fixture.e);
    let v10 = jwt10_unverified();
    let v9 = jwt9_unverified();
    let theirs10 = jsonwebtoken::decode::<PeerClaims>(SEED_TOKEN, &key10, &v10).expect("jwt 10");
    let theirs9 = jsonwebtoken9::decode::<PeerClaims>(SEED_TOKEN, &key9, &v9).expect("jwt 9");
    assert_eq!(theirs10.claims.aud.as_deref(), Some("le81823118"));
    assert_eq!(theirs9.claims.aud.as_deref(), Some("le81823118"));
    assert!(
        ours.claims()
            .aud
            .as_ref()
            .is_some_and(|a| a.contains("le81823118"))
    );

    let mut g = c.benchmark_group("decode");
    g.bench_function("lp-jwt", |b| {
        b.iter(|| UnverifiedToken::decode(black_box(SEED_TOKEN)))
    });
    g.bench_function("jsonwebtoken10", |b| {
        b.iter(|| jsonwebtoken::decode::<PeerClaims>(black_box(SEED_TOKEN), &key10, &v10))
    });
    g.bench_function("jsonwebtoken10-insecure_decode", |b| {
        b.iter(|| jsonwebtoken::dangerous::insecure_decode::<PeerClaims>(black_box(SEED_TOKEN)))
    });
    g.bench_function("jsonwebtoken9", |b| {
        b.iter(|| jsonwebtoken9::decode::<PeerClaims>(black_box(SEED_TOKEN), &key9, &v9))
    });
    g.finish();

    verify(c, &fixture);
}

/// Rounds of the interleaved measurement, and calls per contender in each.
const ROUNDS: usize = 300;
const DECODE_BATCH: u32 = 1000;
const VERIFY_BATCH: u32 = 50;

/// The decoded header as a peer's user would declare it, for the floor.
#[derive(serde::Deserialize)]
#[allow(dead_code)]
struct BareHeader {
    alg: Option<String>,
    typ: Option<String>,
    kid: Option<String>,
}

fn interleaved(fixture: &lp_bench::SignedFixture) {
    use base64::Engine as _;
    let b64 = &base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let mut parts = SEED_TOKEN.split('.');
    let (header_b64, claims_b64) = (parts.next().expect("header"), parts.next().expect("claims"));
    let header_json = b64.decode(header_b64).expect("header base64");
    let claims_json = b64.decode(claims_b64).expect("claims base64");
    let key10 = jsonwebtoken::DecodingKey::from_rsa_raw_components(&fixture.n, &fixture.e);
    let key9 = jsonwebtoken9::DecodingKey::from_rsa_raw_components(&fixture.n, &fixture.e);
    let (v10, v9) = (jwt10_unverified(), jwt9_unverified());
    let decode: Vec<(&str, Timed)> = vec![
        (
            "lp-jwt",
            timed(|| UnverifiedToken::decode(black_box(SEED_TOKEN)).is_ok()),
        ),
        (
            "jsonwebtoken10",
            timed(move || {
                jsonwebtoken::decode::<PeerClaims>(black_box(SEED_TOKEN), &key10, &v10).is_ok()
            }),
        ),
        (
            "jsonwebtoken10-insecure_decode",
            timed(|| {
                jsonwebtoken::dangerous::insecure_decode::<PeerClaims>(black_box(SEED_TOKEN))
                    .is_ok()
            }),
        ),
        (
            "jsonwebtoken9",
            timed(move || {
                jsonwebtoken9::decode::<PeerClaims>(black_box(SEED_TOKEN), &key9, &v9).is_ok()
            }),
        ),
        // Floors: what any decoder of this token does at the least, each
        // alone: base64url of header and claims into a stack buffer, and
        // serde_json into plain derived structs (no strictness) from the
        // already decoded bytes.
        (
            "floor-base64",
            timed(move || {
                let mut buf = [0u8; 512];
                let h = b64.decode_slice(black_box(header_b64), &mut buf).is_ok();
                let c = b64.decode_slice(black_box(claims_b64), &mut buf).is_ok();
                h & c
            }),
        ),
        (
            "floor-serde_json",
            timed(move || {
                let h = serde_json::from_slice::<BareHeader>(black_box(&header_json)).is_ok();
                let c = serde_json::from_slice::<PeerClaims>(black_box(&claims_json)).is_ok();
                h & c
            }),
        ),
    ];
    let names: Vec<&str> = decode.iter().map(|(n, _)| *n).collect();
    let ns = rounds(&decode, ROUNDS, DECODE_BATCH);
    let decode_json = summarise(
        "decode",
        &names,
        &ns,
        DECODE_BATCH,
        &[
            ("jsonwebtoken10", "lp-jwt"),
            ("jsonwebtoken10-insecure_decode", "lp-jwt"),
            ("jsonwebtoken9", "lp-jwt"),
            ("lp-jwt", "floor-base64"),
            ("lp-jwt", "floor-serde_json"),
        ],
    );

    let token = fixture.token.clone();
    let verifier = Rs256Verifier::from_components(&fixture.n, &fixture.e).expect("key");
    let jwt = UnverifiedToken::decode(&token).expect("decodes");
    let message = jwt.signing_input().to_vec();
    let signature = jwt.signature().to_vec();
    let ring_key = ring::signature::RsaPublicKeyComponents {
        n: fixture.n.clone(),
        e: fixture.e.clone(),
    };
    let verify: Vec<(&str, Timed)> = vec![
        (
            "ring",
            timed(move || {
                ring_key
                    .verify(
                        &ring::signature::RSA_PKCS1_2048_8192_SHA256,
                        black_box(&message),
                        black_box(&signature),
                    )
                    .is_ok()
            }),
        ),
        (
            "lp-jwt",
            timed(move || {
                UnverifiedToken::decode(black_box(&token))
                    .is_ok_and(|jwt| verifier.verify(&jwt).is_ok())
            }),
        ),
    ];
    let names: Vec<&str> = verify.iter().map(|(n, _)| *n).collect();
    let ns = rounds(&verify, ROUNDS, VERIFY_BATCH);
    let verify_json = summarise("verify", &names, &ns, VERIFY_BATCH, &[("lp-jwt", "ring")]);

    write_summary(
        "decode-interleaved",
        &format!("{decode_json},{verify_json}"),
    )
    .expect("write summary");
}

fn verify(c: &mut Criterion, fixture: &lp_bench::SignedFixture) {
    let token = fixture.token.as_str();
    let verifier = Rs256Verifier::from_components(&fixture.n, &fixture.e).expect("key");
    let validation = Validation::new(ACCOUNT).client_id(CLIENT_ID);

    // ring alone: the signature already decoded, the message already split.
    let jwt = UnverifiedToken::decode(token).expect("decodes");
    let message = jwt.signing_input().to_vec();
    let signature = jwt.signature().to_vec();
    let ring_key = ring::signature::RsaPublicKeyComponents {
        n: fixture.n.clone(),
        e: fixture.e.clone(),
    };
    let alg = &ring::signature::RSA_PKCS1_2048_8192_SHA256;
    ring_key
        .verify(alg, &message, &signature)
        .expect("ring verifies");

    let mut v10 = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
    v10.set_audience(&[ACCOUNT]);
    v10.set_issuer(&["Sentinel"]);
    let key10 = jsonwebtoken::DecodingKey::from_rsa_raw_components(&fixture.n, &fixture.e);
    let mut v9 = jsonwebtoken9::Validation::new(jsonwebtoken9::Algorithm::RS256);
    v9.set_audience(&[ACCOUNT]);
    v9.set_issuer(&["Sentinel"]);
    let key9 = jsonwebtoken9::DecodingKey::from_rsa_raw_components(&fixture.n, &fixture.e);
    jsonwebtoken::decode::<PeerClaims>(token, &key10, &v10).expect("jwt 10 verifies");
    jsonwebtoken9::decode::<PeerClaims>(token, &key9, &v9).expect("jwt 9 verifies");
    let ours = |now: SystemTime| -> Result<(), Box<dyn std::error::Error>> {
        let jwt = UnverifiedToken::decode(black_box(token))?;
        verifier.verify(&jwt)?;
        validation.validate(jwt.header(), jwt.claims(), now)?;
        Ok(())
    };
    ours(SystemTime::now()).expect("lp-jwt verifies and validates");

    let mut g = c.benchmark_group("verify");
    g.bench_function("ring", |b| {
        b.iter(|| ring_key.verify(alg, black_box(&message), black_box(&signature)))
    });
    g.bench_function("lp-jwt", |b| {
        b.iter(|| {
            let jwt = UnverifiedToken::decode(black_box(token))?;
            verifier
                .verify(&jwt)
                .map_err(|e| Box::new(e) as Box<dyn std::error::Error>)
        })
    });
    // The same plus the claim checks jsonwebtoken's decode does (expiry,
    // audience, issuer), for the comparison with it.
    g.bench_function("lp-jwt-validated", |b| b.iter(|| ours(SystemTime::now())));
    g.bench_function("jsonwebtoken10", |b| {
        b.iter(|| jsonwebtoken::decode::<PeerClaims>(black_box(token), &key10, &v10))
    });
    g.bench_function("jsonwebtoken9", |b| {
        b.iter(|| jsonwebtoken9::decode::<PeerClaims>(black_box(token), &key9, &v9))
    });
    g.finish();
}

fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(4))
        .without_plots()
}

fn main() {
    // `LP_BENCH_INTERLEAVED=only` runs the interleaved rounds alone (a
    // quick comparison while working on the decoder).
    let only = std::env::var_os("LP_BENCH_INTERLEAVED").is_some_and(|v| v == "only");
    if !only {
        let mut c = config().configure_from_args();
        decode(&mut c);
        c.final_summary();
    }
    // Skipped when criterion is asked for a subset (`cargo bench -- lp-jwt`,
    // `--profile-time`): only a full run measures every contender.
    if only
        || std::env::args()
            .skip(1)
            .all(|a| a.starts_with("--") && a != "--profile-time")
    {
        let rt = runtime(1).expect("runtime");
        interleaved(&signed_fixture(&rt).expect("signed fixture"));
    }
}
