//! Validation: one row per outcome, `now` always explicit.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use lp_jwt::{
    AppJwtClaims, Audience, Header, NumericDate, UnverifiedToken, Validation, ValidationError,
};

use crate::SEED_TOKEN;

const ACCOUNT: &str = "81823118";
const CLIENT: &str = "75588e18-0213-4e33-8174-883acac7e3c4";
const IAT: u64 = 1_524_642_670;
const EXP: u64 = 1_524_646_270;

fn at(secs: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(secs)
}

fn seed() -> (Header, AppJwtClaims) {
    UnverifiedToken::decode(SEED_TOKEN).unwrap().into_parts()
}

fn date(secs: i64) -> NumericDate {
    NumericDate::from_secs(secs).unwrap()
}

/// Validates the seed token, changed by `edit`, at `now`.
fn check(
    validation: &Validation,
    edit: impl FnOnce(&mut Header, &mut AppJwtClaims),
    now: SystemTime,
    expected: Result<(), ValidationError>,
) {
    let (mut header, mut claims) = seed();
    edit(&mut header, &mut claims);
    let got = validation.validate(&header, &claims, now);
    assert_eq!(got, expected);
    if let Err(e) = got {
        let msg = e.to_string();
        assert!(
            !msg.ends_with('.') && msg.starts_with(char::is_lowercase),
            "{msg}"
        );
    }
}

fn none(_: &mut Header, _: &mut AppJwtClaims) {}

#[test]
fn seed_token_is_valid_for_its_hour() {
    let v = Validation::new(ACCOUNT).client_id(CLIENT);
    for now in [IAT - 30, IAT, IAT + 1800, EXP, EXP + 30] {
        check(&v, none, at(now), Ok(()));
    }
    // The plain account id as `aud`, and the `le` form, both match.
    check(&Validation::new("le81823118"), none, at(IAT), Ok(()));
    check(
        &v,
        |_, c| c.aud = Some(Audience::One(ACCOUNT.into())),
        at(IAT),
        Ok(()),
    );
    check(
        &v,
        |_, c| c.aud = Some(Audience::Many(vec!["other".into(), ACCOUNT.into()])),
        at(IAT),
        Ok(()),
    );
    // Without a client id any `azp` (or none) is accepted.
    check(
        &Validation::new(ACCOUNT),
        |_, c| c.azp = None,
        at(IAT),
        Ok(()),
    );
    // A missing `iat` is fine.
    check(&v, |_, c| c.iat = None, at(IAT), Ok(()));
}

#[test]
fn every_check_has_its_own_error() {
    use ValidationError as E;
    let v = Validation::new(ACCOUNT).client_id(CLIENT);
    let now = at(IAT);
    type Edit = fn(&mut Header, &mut AppJwtClaims);
    let rows: Vec<(Edit, ValidationError)> = vec![
        (
            |h, _| h.alg = "none".into(),
            E::Algorithm {
                found: "none".into(),
            },
        ),
        (
            |h, _| h.alg = "HS256".into(),
            E::Algorithm {
                found: "HS256".into(),
            },
        ),
        (
            |h, _| h.alg = "rs256".into(),
            E::Algorithm {
                found: "rs256".into(),
            },
        ),
        (|_, c| c.iss = None, E::MissingClaim { claim: "iss" }),
        (
            |_, c| c.iss = Some("sentinel".into()),
            E::Issuer {
                expected: "Sentinel".into(),
                found: "sentinel".into(),
            },
        ),
        (|_, c| c.aud = None, E::MissingClaim { claim: "aud" }),
        (
            |_, c| c.aud = Some(Audience::One("le818231189".into())),
            E::Audience {
                expected: ACCOUNT.into(),
            },
        ),
        (
            |_, c| c.aud = Some(Audience::One("LE81823118".into())),
            E::Audience {
                expected: ACCOUNT.into(),
            },
        ),
        (
            |_, c| c.aud = Some(Audience::One("81823118le".into())),
            E::Audience {
                expected: ACCOUNT.into(),
            },
        ),
        (
            |_, c| c.aud = Some(Audience::Many(vec![])),
            E::Audience {
                expected: ACCOUNT.into(),
            },
        ),
        (|_, c| c.azp = None, E::MissingClaim { claim: "azp" }),
        (
            |_, c| c.azp = Some("someone-else".into()),
            E::AuthorizedParty {
                expected: CLIENT.into(),
            },
        ),
        (|_, c| c.exp = None, E::MissingClaim { claim: "exp" }),
        (
            |_, c| c.exp = Some(date(IAT as i64 - 31)),
            E::Expired {
                exp: date(IAT as i64 - 31),
                now: IAT as i64,
            },
        ),
        (
            |_, c| c.iat = Some(date(IAT as i64 + 31)),
            E::IssuedInFuture {
                iat: date(IAT as i64 + 31),
                now: IAT as i64,
            },
        ),
    ];
    for (edit, expected) in rows {
        check(&v, edit, now, Err(expected));
    }
}

#[test]
fn leeway_and_time_boundaries() {
    use ValidationError as E;
    let v = Validation::new(ACCOUNT);
    let exp = date(EXP as i64);
    check(
        &v,
        none,
        at(EXP + 31),
        Err(E::Expired {
            exp,
            now: EXP as i64 + 31,
        }),
    );
    // Sub-second precision: 30.5 s after exp is past the 30 s leeway.
    check(
        &v,
        none,
        at(EXP + 30) + Duration::from_millis(500),
        Err(E::Expired {
            exp,
            now: EXP as i64 + 30,
        }),
    );
    let strict = Validation::new(ACCOUNT).leeway(Duration::ZERO);
    check(&strict, none, at(EXP), Ok(()));
    check(
        &strict,
        none,
        at(EXP + 1),
        Err(E::Expired {
            exp,
            now: EXP as i64 + 1,
        }),
    );
    check(
        &strict,
        none,
        at(IAT - 1),
        Err(E::IssuedInFuture {
            iat: date(IAT as i64),
            now: IAT as i64 - 1,
        }),
    );
    // A fractional exp is honoured.
    check(
        &strict,
        |_, c| c.exp = NumericDate::from_f64(EXP as f64 + 0.25),
        at(EXP) + Duration::from_millis(200),
        Ok(()),
    );
    // Huge leeway and times before the epoch do not overflow.
    check(
        &Validation::new(ACCOUNT).leeway(Duration::MAX),
        none,
        at(u64::MAX / 4),
        Ok(()),
    );
    let before_epoch = UNIX_EPOCH - Duration::from_secs(10);
    check(&strict, |_, c| c.iat = None, before_epoch, Ok(()));
    check(
        &strict,
        none,
        before_epoch,
        Err(E::IssuedInFuture {
            iat: date(IAT as i64),
            now: -10,
        }),
    );
}

#[test]
fn custom_issuer() {
    let v = Validation::new(ACCOUNT).issuer("Emulator");
    check(&v, |_, c| c.iss = Some("Emulator".into()), at(IAT), Ok(()));
    check(
        &v,
        none,
        at(IAT),
        Err(ValidationError::Issuer {
            expected: "Emulator".into(),
            found: "Sentinel".into(),
        }),
    );
}
