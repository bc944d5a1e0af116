//! Sentinel's token answer parser on arbitrary status, headers and body.
//!
//! Half the inputs carry a raw body; the other half a JSON object built from
//! the input whose `access_token`, when present, is a marker string. The
//! marker must never show in an error or in `Debug` output (other members'
//! values may: they are not secret), and an accepted
//! answer must satisfy everything the parser documents.
#![no_main]

#[path = "common.rs"]
mod common;

use libfuzzer_sys::arbitrary::{Result, Unstructured};
use libfuzzer_sys::fuzz_target;
use lp_oauth::{MAX_EXPIRES_IN, TokenError, parse_token_response, parse_token_response_with_limit};

const MARKER: &str = "MARKERaccessTOKENzq9x7";

fuzz_target!(|data: &[u8]| {
    let _ = run(&mut Unstructured::new(data));
});

fn run(u: &mut Unstructured<'_>) -> Result<()> {
    let templated = u.arbitrary::<bool>()?;
    let body = if templated {
        token_body(u)?.into_bytes()
    } else {
        let n = u.arbitrary_len::<u8>()?;
        u.bytes(n)?.to_vec()
    };
    let limit = if u.ratio(1, 4)? {
        u.int_in_range(0..=body.len().saturating_add(1))?
    } else {
        lp_oauth::DEFAULT_MAX_BODY
    };
    let response = common::response(u, body)?;

    for (result, cap) in [
        (parse_token_response(&response), lp_oauth::DEFAULT_MAX_BODY),
        (parse_token_response_with_limit(&response, limit), limit),
    ] {
        match result {
            Ok(token) => {
                assert_eq!(response.status(), 200);
                assert!(response.body().len() <= cap);
                let secret = token.access_token.secret();
                assert!(!secret.is_empty());
                assert!(secret.bytes().all(|b| (0x20..=0x7e).contains(&b)));
                assert!(token.token_type.eq_ignore_ascii_case("bearer"));
                assert!(token.expires_in.is_none_or(|d| d <= MAX_EXPIRES_IN));
                assert!(!format!("{token:?}").contains(MARKER));
            }
            Err(e) => {
                assert_eq!(e.status(), response.status());
                if matches!(e, TokenError::BodyTooLarge { .. }) {
                    assert!(response.body().len() > cap);
                }
                // Only the templated body puts the marker in `access_token`
                // alone; a raw body may carry it in `error`, which is shown.
                if templated {
                    for text in [e.to_string(), format!("{e:?}")] {
                        assert!(!text.contains(MARKER), "{text}");
                    }
                }
                // Retryable exactly for throttling and server trouble.
                let code = response.status().as_u16();
                assert_eq!(e.is_retryable(), code == 429 || (500..600).contains(&code));
            }
        }
    }
    Ok(())
}

/// A token answer with each member present or not, well typed or not.
fn token_body(u: &mut Unstructured<'_>) -> Result<String> {
    let mut members = Vec::new();
    if u.ratio(7, 8)? {
        let value = match u.int_in_range(0..=5)? {
            0..=2 => common::json_string(MARKER),
            // The marker with a character a token may not carry.
            3 => common::json_string(&format!("{MARKER}{}", u.arbitrary::<char>()?)),
            4 => common::json_string(&format!("{MARKER}\u{1}{MARKER}")),
            _ => common::json_value(u, MARKER)?,
        };
        members.push(format!("\"access_token\":{value}"));
    }
    if u.ratio(7, 8)? {
        let value = match u.int_in_range(0..=3)? {
            0 => "\"Bearer\"".to_owned(),
            1 => "\"bEaReR\"".to_owned(),
            2 => "\"mac\"".to_owned(),
            _ => common::json_value(u, "Bearer")?,
        };
        members.push(format!("\"token_type\":{value}"));
    }
    if u.ratio(1, 2)? {
        let value = match u.int_in_range(0..=3)? {
            0 => u.arbitrary::<u64>()?.to_string(),
            1 => common::json_string(&u.arbitrary::<u64>()?.to_string()),
            2 => "-1".to_owned(),
            _ => common::json_value(u, "3600")?,
        };
        members.push(format!("\"expires_in\":{value}"));
    }
    if u.ratio(1, 4)? {
        members.push(format!("\"scope\":{}", common::json_value(u, "msg.consumer")?));
    }
    if u.ratio(1, 4)? {
        // A repeated or unknown member. Only `access_token` gets the marker:
        // other members are not secret, and the parser may name their values
        // in its errors.
        let name = *u.choose(&["access_token", "token_type", "expires_in", "error", "x"])?;
        let value = if name == "access_token" { MARKER } else { "other" };
        members.push(format!("\"{name}\":{}", common::json_value(u, value)?));
    }
    // Other members are not secret and may be named in errors: keep the
    // marker out of them, even where the fuzzer learnt to write it.
    let members: Vec<String> = members
        .into_iter()
        .map(|m| {
            if m.starts_with("\"access_token\"") {
                m
            } else {
                m.replace(MARKER, "other")
            }
        })
        .collect();
    Ok(format!("{{{}}}", members.join(",")))
}
