//! `appjwt webhook verify`: is this webhook really from LivePerson, for us?

use std::io::{IsTerminal, Read};

use http::{HeaderMap, HeaderName, HeaderValue};
use lp_webhook::{SIGNATURE_HEADER, Verified, VerifyError, WebhookVerifier};

use super::{parse_account, parse_client_id, read_secret};
use crate::args::{WebhookArgs, WebhookCommand, WebhookVerifyArgs};
use crate::exit::Failure;
use crate::outln;

/// Far more than any webhook; stops `< /dev/zero` from eating memory.
const MAX_BODY: u64 = 16 * 1024 * 1024;

pub fn run(a: WebhookArgs) -> Result<(), Failure> {
    match a.command {
        WebhookCommand::Verify(a) => verify(a),
    }
}

fn verify(a: WebhookVerifyArgs) -> Result<(), Failure> {
    // Everything that can be bad usage first, before stdin is read.
    let mut headers = HeaderMap::new();
    for line in &a.headers {
        let (name, value) = header_line(line)?;
        headers.append(name, value);
    }
    let signature = a.signature.trim();
    let value = HeaderValue::from_str(signature).map_err(|_| {
        Failure::usage(format!(
            "malformed {SIGNATURE_HEADER}: --signature holds a character no header can"
        ))
    })?;
    headers.append(SIGNATURE_HEADER, value);
    let secret = read_secret(a.client_secret_file.as_deref())?;
    let mut verifier = WebhookVerifier::new(&secret);
    if let Some(account) = &a.account {
        verifier = verifier.expect_account(parse_account("--account", account)?);
    }
    if let Some(id) = &a.client_id {
        verifier = verifier.expect_client_id(parse_client_id("--client-id", id)?);
    }
    let body = read_body()?;
    match verifier.verify(&headers, &body) {
        Ok(Verified {
            algorithm,
            encoding,
        }) => {
            let mut line = format!(
                "valid: hmac-{algorithm} signature, {encoding} digest, over {} bytes",
                body.len()
            );
            if let Some(account) = &a.account {
                line.push_str(&format!(", account {account}"));
            }
            if let Some(id) = &a.client_id {
                line.push_str(&format!(", client id {id}"));
            }
            outln!("{line}")
        }
        Err(e) => Err(failure(&e, body.len())),
    }
}

/// The exit code the library's verdict calls for, with what to check.
fn failure(e: &VerifyError, body_len: usize) -> Failure {
    match e {
        VerifyError::MissingHeader { name } if *name != SIGNATURE_HEADER => Failure::usage(
            format!("{e}: pass it as received with --header '{name}: VALUE'"),
        ),
        VerifyError::Mismatch { .. } => Failure::refused(format!(
            "{e} ({body_len} bytes on stdin); check that the secret is the one of the app \
             installation the webhook is for, and that stdin is the body byte for byte \
             (a file redirect, not echo, which adds a newline)"
        )),
        e if e.is_malformed() => Failure::usage(e),
        e => Failure::refused(e),
    }
}

/// `NAME: VALUE`, as curl's `-H` takes it and as a log shows it.
fn header_line(line: &str) -> Result<(HeaderName, HeaderValue), Failure> {
    let bad = |why: &str| Failure::usage(format!("--header: {why}, expected NAME: VALUE"));
    let (name, value) = line.split_once(':').ok_or_else(|| bad("no colon"))?;
    let name = HeaderName::from_bytes(name.trim().as_bytes())
        .map_err(|_| bad("not a header name before the colon"))?;
    let value = HeaderValue::from_str(value.trim())
        .map_err(|_| bad("the value holds a character no header can"))?;
    Ok((name, value))
}

fn read_body() -> Result<Vec<u8>, Failure> {
    if std::io::stdin().is_terminal() {
        // Otherwise a person who forgot `< body.json` sees nothing happen.
        eprintln!("appjwt: reading the webhook body from stdin (end with Ctrl-D)");
    }
    let mut body = Vec::new();
    std::io::stdin()
        .take(MAX_BODY + 1)
        .read_to_end(&mut body)
        .map_err(|e| Failure::usage(format!("cannot read the webhook body from stdin: {e}")))?;
    if body.len() as u64 > MAX_BODY {
        return Err(Failure::usage(
            "the webhook body on stdin is larger than 16 MiB",
        ));
    }
    Ok(body)
}

#[cfg(test)]
mod tests {
    use super::header_line;

    #[test]
    fn header_lines() {
        let check = |line: &str, want: Result<(&str, &str), &str>| {
            let got = header_line(line);
            match (&got, want) {
                (Ok((n, v)), Ok((wn, wv))) => {
                    assert_eq!((n.as_str(), v.to_str().unwrap_or("?")), (wn, wv), "{line}");
                }
                (Err(e), Err(needle)) => assert!(e.message.contains(needle), "{line}: {e:?}"),
                _ => panic!("{line:?}: got {got:?}, want {want:?}"),
            }
        };
        check(
            "x-liveperson-account-id: 56072331",
            Ok(("x-liveperson-account-id", "56072331")),
        );
        check(
            "X-LivePerson-Client-Id:abc ",
            Ok(("x-liveperson-client-id", "abc")),
        );
        check("a: b: c", Ok(("a", "b: c")));
        check("empty:", Ok(("empty", "")));
        check("no colon", Err("no colon"));
        check(": value", Err("not a header name"));
        check("bad name: v", Err("not a header name"));
        check("x: a\u{1}b", Err("no header can"));
    }
}
