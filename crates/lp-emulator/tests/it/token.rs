//! The Sentinel token endpoint: every accepted form and every error.

use http::StatusCode;

use crate::support::*;

/// Checks a successful token answer: headers, body shape, claims, and the
/// signature against the served JWKS.
async fn check_ok(
    emu: &lp_emulator::EmulatorHandle,
    name: &str,
    req: Req,
    account: &str,
    client: &str,
) {
    let reply = call(emu, req).await;
    assert_eq!(reply.status, StatusCode::OK, "{name}: {:?}", reply.body);
    assert_eq!(
        reply.header("content-type"),
        Some("application/json;charset=utf-8"),
        "{name}"
    );
    assert_eq!(reply.header("cache-control"), Some("no-store"), "{name}");
    let body = reply.json();
    assert_eq!(body["token_type"], "Bearer", "{name}");
    assert!(
        body.get("expires_in").is_none(),
        "{name}: no expires_in by default"
    );
    let token = body["access_token"].as_str().expect("access_token");
    let jwt = decode_jwt(token);
    let kid = emu.current_kid();
    assert_eq!(
        jwt.raw_header,
        format!(r#"{{"kid":"{kid}","typ":"JWT","alg":"RS256"}}"#),
        "{name}"
    );
    let iat = jwt.claims["iat"].as_i64().expect("iat");
    let exp = jwt.claims["exp"].as_i64().expect("exp");
    assert_eq!(
        jwt.raw_claims,
        format!(
            r#"{{"aud":"{account}","azp":"{client}","scope":"msg.consumer","iss":"Sentinel","exp":{exp},"iat":{iat}}}"#
        ),
        "{name}: claims in the seed's order"
    );
    assert_eq!(exp - iat, 3600, "{name}");
    assert!((iat - now()).abs() <= 5, "{name}: iat is now");
    assert_eq!(verify_with_jwks(token, &emu.jwks_json()), Ok(()), "{name}");
}

#[tokio::test]
async fn accepted_forms() {
    let emu = emulator().await;
    let creds = [("client_id", CLIENT), ("client_secret", SECRET)];
    let with_grant = [
        ("client_id", CLIENT),
        ("client_secret", SECRET),
        ("grant_type", "client_credentials"),
    ];
    let v1 = format!("/sentinel/api/account/{ACCOUNT}/app/token");
    let v2 = format!("/sentinel/api/v2/account/{ACCOUNT}/app/token");
    let cases: Vec<(&str, Req, &str, &str)> = vec![
        (
            "seed",
            seed_request(ACCOUNT, CLIENT, SECRET),
            ACCOUNT,
            CLIENT,
        ),
        (
            "grant_type in body",
            Req::post_form(format!("{v1}?v=1.0"), &with_grant),
            ACCOUNT,
            CLIENT,
        ),
        (
            "v=2.0",
            Req::post_form(format!("{v1}?v=2.0&grant_type=client_credentials"), &creds),
            ACCOUNT,
            CLIENT,
        ),
        (
            "v2 path",
            Req::post_form(v2.clone(), &with_grant),
            ACCOUNT,
            CLIENT,
        ),
        (
            "grant_type in query and body alike",
            Req::post_form(
                format!("{v1}?v=1.0&grant_type=client_credentials"),
                &with_grant,
            ),
            ACCOUNT,
            CLIENT,
        ),
        (
            "content type with charset",
            seed_request(ACCOUNT, CLIENT, SECRET)
                .content_type(Some("application/x-www-form-urlencoded; charset=UTF-8")),
            ACCOUNT,
            CLIENT,
        ),
        (
            "other registered client",
            seed_request(OTHER_ACCOUNT, OTHER_CLIENT, OTHER_SECRET),
            OTHER_ACCOUNT,
            OTHER_CLIENT,
        ),
        (
            "http/2",
            seed_request(ACCOUNT, CLIENT, SECRET).h2(),
            ACCOUNT,
            CLIENT,
        ),
    ];
    for (name, req, account, client) in cases {
        check_ok(&emu, name, req, account, client).await;
    }
}

#[tokio::test]
async fn errors() {
    let emu = emulator().await;
    let v1 = format!("/sentinel/api/account/{ACCOUNT}/app/token");
    let seed_target = format!("{v1}?v=1.0&grant_type=client_credentials");
    let creds = [("client_id", CLIENT), ("client_secret", SECRET)];
    let cases: Vec<(&str, Req, u16, &str)> = vec![
        (
            "GET",
            seed_request(ACCOUNT, CLIENT, SECRET).method("GET"),
            405,
            "invalid_request",
        ),
        (
            "no content type",
            seed_request(ACCOUNT, CLIENT, SECRET).content_type(None),
            400,
            "invalid_request",
        ),
        (
            "json content type",
            seed_request(ACCOUNT, CLIENT, SECRET).content_type(Some("application/json")),
            400,
            "invalid_request",
        ),
        (
            "credentials in the query",
            Req::post_form(
                format!("{seed_target}&client_id={CLIENT}&client_secret=s3cret"),
                &[],
            ),
            400,
            "invalid_request",
        ),
        (
            "secret alone in the query",
            Req::post_form(format!("{seed_target}&client_secret=x"), &creds),
            400,
            "invalid_request",
        ),
        (
            "no v",
            Req::post_form(format!("{v1}?grant_type=client_credentials"), &creds),
            400,
            "invalid_request",
        ),
        (
            "v=3.0",
            Req::post_form(format!("{v1}?v=3.0&grant_type=client_credentials"), &creds),
            400,
            "invalid_request",
        ),
        (
            "no grant_type",
            Req::post_form(format!("{v1}?v=1.0"), &creds),
            400,
            "invalid_request",
        ),
        (
            "grant_type password",
            Req::post_form(format!("{v1}?v=1.0&grant_type=password"), &creds),
            400,
            "unsupported_grant_type",
        ),
        (
            "grant_type differs between query and body",
            Req::post_form(
                seed_target.clone(),
                &[
                    ("client_id", CLIENT),
                    ("client_secret", SECRET),
                    ("grant_type", "password"),
                ],
            ),
            400,
            "invalid_request",
        ),
        (
            "repeated client_id",
            Req::post_form(
                seed_target.clone(),
                &[
                    ("client_id", CLIENT),
                    ("client_id", CLIENT),
                    ("client_secret", SECRET),
                ],
            ),
            400,
            "invalid_request",
        ),
        (
            "unknown client",
            seed_request(ACCOUNT, "nobody", SECRET),
            401,
            "invalid_client",
        ),
        (
            "wrong secret",
            seed_request(ACCOUNT, CLIENT, "s3cret"),
            401,
            "invalid_client",
        ),
        (
            "secret of another client",
            seed_request(ACCOUNT, CLIENT, OTHER_SECRET),
            401,
            "invalid_client",
        ),
        (
            "client of another account",
            seed_request(OTHER_ACCOUNT, CLIENT, SECRET),
            401,
            "invalid_client",
        ),
        (
            "unknown account",
            seed_request("99999999", CLIENT, SECRET),
            401,
            "invalid_client",
        ),
        (
            "unknown account on v2",
            Req::post_form(
                "/sentinel/api/v2/account/99999999/app/token",
                &[
                    ("client_id", CLIENT),
                    ("client_secret", SECRET),
                    ("grant_type", "client_credentials"),
                ],
            ),
            401,
            "invalid_client",
        ),
        (
            "no secret",
            Req::post_form(seed_target.clone(), &[("client_id", CLIENT)]),
            401,
            "invalid_client",
        ),
        (
            "body over 64 KiB",
            seed_request(ACCOUNT, CLIENT, SECRET).body(vec![b'a'; 64 * 1024 + 1]),
            413,
            "invalid_request",
        ),
    ];
    for (name, req, status, error) in cases {
        let reply = call(&emu, req).await;
        assert_eq!(reply.status.as_u16(), status, "{name}: {:?}", reply.body);
        assert_eq!(reply.oauth_error(), error, "{name}");
        let body = reply.json();
        assert!(body["error_description"].is_string(), "{name}");
        let text = String::from_utf8_lossy(reply.bytes()).into_owned();
        assert!(!text.contains(SECRET), "{name}: secret echoed");
        if status == 405 {
            assert_eq!(reply.header("allow"), Some("POST"), "{name}");
        }
    }
}

#[tokio::test]
async fn expires_in_and_lifetime_are_configurable() {
    let emu = builder()
        .send_expires_in(true)
        .lifetime(std::time::Duration::from_secs(120))
        .start()
        .await
        .expect("start");
    let reply = call(&emu, seed_request(ACCOUNT, CLIENT, SECRET)).await;
    let body = reply.json();
    assert_eq!(body["expires_in"], 120);
    let jwt = decode_jwt(body["access_token"].as_str().expect("token"));
    let lifetime =
        jwt.claims["exp"].as_i64().expect("exp") - jwt.claims["iat"].as_i64().expect("iat");
    assert_eq!(lifetime, 120);
}

#[tokio::test]
async fn issued_tokens_match_the_endpoint() {
    let emu = emulator().await;
    let token = emu.issue_token(ACCOUNT, CLIENT).expect("issue");
    let jwt = decode_jwt(&token);
    assert_eq!(jwt.claims["aud"], ACCOUNT);
    assert_eq!(jwt.claims["azp"], CLIENT);
    assert_eq!(verify_with_jwks(&token, &emu.jwks_json()), Ok(()));
}
