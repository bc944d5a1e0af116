//! `appjwt decode`: show what a token says, and check it if asked.

use std::io::{IsTerminal, Read};
use std::time::SystemTime;

use lp_jwt::{
    AppJwtClaims, Header, Jwks, Rs256Verifier, UnverifiedToken, Validation, ValidationError,
};
use serde::Serialize;

use lp_appjwt::{Error, Transport, jwks_request, parse_jwks_response};

use super::{pretty, transport_trusting};
use crate::args::{DecodeArgs, TextOrJson};
use crate::exit::Failure;
use crate::human::{date_line, expiry_line, kid_date};
use crate::outln;

/// More than any token; stops `decode < /dev/zero` from eating memory.
const MAX_STDIN: u64 = 1024 * 1024;

/// The `--format json` object: `{"header":..,"claims":..}`, in that order.
#[derive(Serialize)]
struct Decoded<'a> {
    header: &'a Header,
    claims: &'a AppJwtClaims,
}

/// The key the signature is checked with, if one was given.
enum Key {
    One(Rs256Verifier),
    Set(Jwks),
    LivePersonV1(Rs256Verifier),
}

impl Key {
    async fn from_args(a: &DecodeArgs) -> Result<Option<Key>, Failure> {
        let read = |flag: &str, path: &std::path::Path| {
            std::fs::read_to_string(path)
                .map_err(|e| Failure::usage(format!("cannot read {flag} {}: {e}", path.display())))
        };
        if let Some(path) = &a.public_key {
            let pem = read("--public-key", path)?;
            let key = Rs256Verifier::from_pem(&pem)
                .map_err(|e| Failure::usage(format!("--public-key {}: {e}", path.display())))?;
            return Ok(Some(Key::One(key)));
        }
        if let Some(source) = &a.jwks {
            if source.starts_with("https://") || source.starts_with("http://") {
                return fetch_jwks(source, a.ca_file.as_deref())
                    .await
                    .map(Key::Set)
                    .map(Some);
            }
            let path = std::path::Path::new(source);
            let json = read("--jwks", path)?;
            let set = Jwks::from_json(&json)
                .map_err(|e| Failure::usage(format!("--jwks {}: {e}", path.display())))?;
            return Ok(Some(Key::Set(set)));
        }
        Ok(a.liveperson_key
            .then(|| Key::LivePersonV1(Rs256Verifier::liveperson_v1())))
    }

    fn verify(&self, token: &UnverifiedToken<'_>) -> Result<(), lp_jwt::VerifyError> {
        match self {
            Key::One(k) | Key::LivePersonV1(k) => k.verify(token),
            Key::Set(set) => set.verify(token),
        }
    }

    fn describe(&self) -> &'static str {
        match self {
            Key::One(_) => "the --public-key",
            Key::Set(_) => "the --jwks key named by kid",
            Key::LivePersonV1(_) => "LivePerson's v1 key",
        }
    }
}

/// Fetches a JWKS over HTTPS (plain `http://` is refused by the transport).
async fn fetch_jwks(url: &str, ca_file: Option<&std::path::Path>) -> Result<Jwks, Failure> {
    let uri: lp_appjwt::http::Uri = url
        .parse()
        .map_err(|e| Failure::usage(format!("--jwks {url}: not a url: {e}")))?;
    let transport = transport_trusting(ca_file, lp_appjwt::DEFAULT_REQUEST_TIMEOUT)?;
    let response = transport
        .send(jwks_request(&uri))
        .await
        .map_err(|e| Failure::from_client("cannot fetch --jwks", &Error::Transport(e)))?;
    parse_jwks_response(&response)
        .map_err(|e| Failure::from_client("cannot use --jwks", &Error::Jwks(e)))
}

pub async fn run(a: DecodeArgs) -> Result<(), Failure> {
    // Keys first: a wrong path is bad usage whatever the token says.
    let key = Key::from_args(&a).await?;
    let input = match a.token.as_deref() {
        None | Some("-") => read_stdin()?,
        Some(t) => t.to_owned(),
    };
    let text = token_text(&input);
    if text.is_empty() {
        return Err(Failure::usage(
            "no token given: pass it as the argument, or on stdin",
        ));
    }
    let token = UnverifiedToken::decode(text)
        .map_err(|e| Failure::usage(format!("malformed token: {e}")))?;
    let (header, claims) = (token.header(), token.claims());
    let now = SystemTime::now();
    let signature = key.as_ref().map(|k| (k, k.verify(&token)));
    match a.format {
        TextOrJson::Json => {
            let json = serde_json::to_string(&Decoded { header, claims })
                .map_err(|e| Failure::usage(format!("cannot write the token as json: {e}")))?;
            outln!("{json}")?;
        }
        TextOrJson::Text => {
            outln!("Header:\n{}", pretty(header))?;
            outln!("Claims:\n{}", pretty(claims))?;
            if let Some(parts) = header.kid_parts() {
                let kid = format!("{}-{}", parts.prefix, parts.date);
                match kid_date(parts.date) {
                    Some(date) => outln!("signing key issued {date} (kid {kid})")?,
                    None => outln!("signing key date part {} (kid {kid})", parts.date)?,
                }
            }
            if let Some(iat) = claims.iat {
                outln!("{}", date_line("issued ", iat.to_system_time()))?;
            }
            if let Some(exp) = claims.exp {
                let exp = exp.to_system_time();
                outln!("{}, {}", date_line("expires", exp), expiry_line(exp, now))?;
            }
            match &signature {
                None => outln!(
                    "signature not checked (--public-key, --jwks or --liveperson-key checks it)"
                )?,
                Some((k, Ok(()))) => outln!("signature verified with {}", k.describe())?,
                Some((k, Err(e))) => outln!("signature INVALID with {}: {e}", k.describe())?,
            }
        }
    }

    if let Some((k, Err(e))) = &signature {
        return Err(Failure::refused(format!(
            "invalid token: signature refused by {}: {e}",
            k.describe()
        )));
    }

    // Checks come after printing so a person sees what was wrong.
    if let Some(account) = &a.account {
        let mut v = Validation::new(account);
        if let Some(id) = &a.client_id {
            v = v.client_id(id);
        }
        v.validate(header, claims, now).map_err(|e| match e {
            // The same words as without --account, rather than two epoch
            // numbers a person has to subtract.
            ValidationError::Expired { exp, .. } => Failure::refused(format!(
                "invalid token: {}",
                expiry_line(exp.to_system_time(), now)
            )),
            e => Failure::refused(format!("invalid token: {e}")),
        })?;
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

/// The token in what was given: surrounding whitespace and a `Bearer `
/// prefix (any case, as in a copied `Authorization` header) are not part
/// of it.
fn token_text(input: &str) -> &str {
    let text = input.trim();
    let bearer = text
        .get(..6)
        .filter(|p| p.eq_ignore_ascii_case("bearer"))
        .map(|_| &text[6..])
        .filter(|rest| rest.is_empty() || rest.starts_with(char::is_whitespace));
    bearer.map_or(text, str::trim_start)
}

fn read_stdin() -> Result<String, Failure> {
    if std::io::stdin().is_terminal() {
        // Otherwise a person who forgot the argument sees nothing happen.
        eprintln!("appjwt: reading the token from stdin (paste it, then press Ctrl-D)");
    }
    let mut buf = String::new();
    std::io::stdin()
        .take(MAX_STDIN)
        .read_to_string(&mut buf)
        .map_err(|e| Failure::usage(format!("cannot read the token from stdin: {e}")))?;
    Ok(buf)
}

#[cfg(test)]
mod tests {
    use super::token_text;

    #[test]
    fn what_is_not_the_token() {
        let check = |input: &str, want: &str| assert_eq!(token_text(input), want, "{input:?}");
        check("a.b.c", "a.b.c");
        check("  a.b.c \n", "a.b.c");
        check("\ta.b.c\r\n", "a.b.c");
        check("Bearer a.b.c", "a.b.c");
        check("bearer  a.b.c", "a.b.c");
        check(" BEARER a.b.c\n", "a.b.c");
        check("Bearer", "");
        check("Bearer \n", "");
        check("Bearera.b.c", "Bearera.b.c");
        check("", "");
        check("é", "é");
    }
}
