//! The exact request, as data.

use crate::token_request;
use lp_oauth::{AccountId, ApiVersion, ClientId, ClientSecret, Host, TokenRequest};

/// What a request must look like on the wire.
struct Expected<'a> {
    uri: &'a str,
    /// Headers in a fixed order (name, value); no others are allowed.
    headers: &'a [(&'a str, &'a str)],
    body: &'a str,
    /// The decoded form, checked against `form_urlencoded::parse`.
    form: &'a [(&'a str, &'a str)],
}

const HEADERS: &[(&str, &str)] = &[
    ("accept", "application/json"),
    ("content-type", "application/x-www-form-urlencoded"),
];

fn check(request: &TokenRequest, expected: Expected<'_>) {
    let http = request.to_http();
    assert_eq!(http.method(), http::Method::POST);
    assert_eq!(http.uri().to_string(), expected.uri);
    assert_eq!(http.version(), http::Version::HTTP_11);
    let mut headers: Vec<(String, String)> = http
        .headers()
        .iter()
        .map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap().to_owned()))
        .collect();
    headers.sort();
    let want: Vec<(String, String)> = expected
        .headers
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    assert_eq!(headers, want);
    assert_eq!(std::str::from_utf8(http.body()).unwrap(), expected.body);
    let form: Vec<(String, String)> = form_urlencoded::parse(http.body())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let want_form: Vec<(String, String)> = expected
        .form
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    assert_eq!(form, want_form);
    // The secret never travels in the URL.
    let secret = request.client_secret.expose_secret();
    assert!(!http.uri().to_string().contains(secret));
    // `try_to_http` agrees.
    let again = request.try_to_http().unwrap();
    assert_eq!(again.uri(), http.uri());
    assert_eq!(again.body(), http.body());
}

const CLIENT: &str = "75588e18-0213-4e33-8174-883acac7e3c4";

#[test]
fn v1_is_the_seed_request() {
    check(
        &token_request(CLIENT, "s3cr3t", ApiVersion::V1),
        Expected {
            uri: "https://va.sentinel.liveperson.net/sentinel/api/account/56072331/app/token?v=1.0&grant_type=client_credentials",
            headers: HEADERS,
            body: "client_id=75588e18-0213-4e33-8174-883acac7e3c4&client_secret=s3cr3t",
            form: &[("client_id", CLIENT), ("client_secret", "s3cr3t")],
        },
    );
}

#[test]
fn v2_puts_grant_type_in_the_body() {
    check(
        &token_request(CLIENT, "s3cr3t", ApiVersion::V2),
        Expected {
            uri: "https://va.sentinel.liveperson.net/sentinel/api/v2/account/56072331/app/token",
            headers: HEADERS,
            body: "client_id=75588e18-0213-4e33-8174-883acac7e3c4&client_secret=s3cr3t&grant_type=client_credentials",
            form: &[
                ("client_id", CLIENT),
                ("client_secret", "s3cr3t"),
                ("grant_type", "client_credentials"),
            ],
        },
    );
}

#[test]
fn awkward_secret_and_client_id_are_form_encoded() {
    let secret = "a&b=c+d e%f/é€";
    let client = "id&x=y+z%";
    check(
        &token_request(client, secret, ApiVersion::V1),
        Expected {
            uri: "https://va.sentinel.liveperson.net/sentinel/api/account/56072331/app/token?v=1.0&grant_type=client_credentials",
            headers: HEADERS,
            body: "client_id=id%26x%3Dy%2Bz%25&client_secret=a%26b%3Dc%2Bd+e%25f%2F%C3%A9%E2%82%AC",
            form: &[("client_id", client), ("client_secret", secret)],
        },
    );
    check(
        &token_request(client, secret, ApiVersion::V2),
        Expected {
            uri: "https://va.sentinel.liveperson.net/sentinel/api/v2/account/56072331/app/token",
            headers: HEADERS,
            body: "client_id=id%26x%3Dy%2Bz%25&client_secret=a%26b%3Dc%2Bd+e%25f%2F%C3%A9%E2%82%AC&grant_type=client_credentials",
            form: &[
                ("client_id", client),
                ("client_secret", secret),
                ("grant_type", "client_credentials"),
            ],
        },
    );
}

#[test]
fn hosts_with_ports_and_addresses_form_the_authority() {
    for (host, prefix) in [
        ("127.0.0.1:8443", "https://127.0.0.1:8443/"),
        ("[::1]:8443", "https://[::1]:8443/"),
        ("localhost", "https://localhost/"),
        (
            "LO.Sentinel.LivePerson.net.",
            "https://lo.sentinel.liveperson.net/",
        ),
    ] {
        let request = TokenRequest {
            sentinel: Host::parse(host).unwrap(),
            account: AccountId::new("le-aa_9").unwrap(),
            client_id: ClientId::new("c").unwrap(),
            client_secret: ClientSecret::new("S3cr3t").unwrap(),
            version: ApiVersion::V2,
        };
        check(
            &request,
            Expected {
                uri: &format!("{prefix}sentinel/api/v2/account/le-aa_9/app/token"),
                headers: HEADERS,
                body: "client_id=c&client_secret=S3cr3t&grant_type=client_credentials",
                form: &[
                    ("client_id", "c"),
                    ("client_secret", "S3cr3t"),
                    ("grant_type", "client_credentials"),
                ],
            },
        );
    }
}

#[test]
fn default_version_is_v1() {
    assert_eq!(ApiVersion::default(), ApiVersion::V1);
}
