//! `appjwt decode`: show what a token says, and check it if asked.

use std::io::Read;
use std::time::SystemTime;

use lp_jwt::{UnverifiedToken, Validation};
use serde_json::json;

use super::pretty;
use crate::args::{DecodeArgs, TextOrJson};
use crate::exit::Failure;
use crate::human::expiry_line;

/// More than any token; stops `decode < /dev/zero` from eating memory.
const MAX_STDIN: u64 = 1024 * 1024;

pub fn run(a: DecodeArgs) -> Result<(), Failure> {
    let input = match a.token.as_deref() {
        None | Some("-") => read_stdin()?,
        Some(t) => t.to_owned(),
    };
    let text = input.trim_end_matches(['\n', '\r']);
    let token = UnverifiedToken::decode(text)
        .map_err(|e| Failure::usage(format!("malformed token: {e}")))?;
    let (header, claims) = (token.header(), token.claims());
    let now = SystemTime::now();
    match a.format {
        TextOrJson::Json => println!("{}", json!({ "header": header, "claims": claims })),
        TextOrJson::Text => {
            println!("Header:\n{}", pretty(header));
            println!("Claims:\n{}", pretty(claims));
            if let Some(exp) = claims.exp {
                println!("{}", expiry_line(exp.to_system_time(), now));
            }
        }
    }

    // Checks come after printing so a person sees what was wrong.
    if let Some(account) = &a.account {
        let mut v = Validation::new(account);
        if let Some(id) = &a.client_id {
            v = v.client_id(id);
        }
        v.validate(header, claims, now)
            .map_err(|e| Failure::refused(format!("invalid token: {e}")))?;
    } else {
        if let Some(id) = &a.client_id {
            if claims.azp.as_deref() != Some(id.as_str()) {
                return Err(Failure::refused(format!(
                    "invalid token: not issued to client id {id}"
                )));
            }
        }
        if let Some(exp) = claims.exp {
            if exp.to_system_time() < now {
                return Err(Failure::refused(format!(
                    "invalid token: {}",
                    expiry_line(exp.to_system_time(), now)
                )));
            }
        }
    }
    Ok(())
}

fn read_stdin() -> Result<String, Failure> {
    let mut buf = String::new();
    std::io::stdin()
        .take(MAX_STDIN)
        .read_to_string(&mut buf)
        .map_err(|e| Failure::usage(format!("cannot read the token from stdin: {e}")))?;
    if buf.trim().is_empty() {
        return Err(Failure::usage("no token given (argument or stdin)"));
    }
    Ok(buf)
}
