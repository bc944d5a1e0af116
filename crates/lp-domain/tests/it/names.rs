//! Service name validation.

use lp_domain::ServiceName;

fn check(input: &str, expected: Result<&str, &str>) {
    let got = ServiceName::new(input)
        .map(|n| n.as_str().to_owned())
        .map_err(|e| e.to_string());
    let expected = expected.map(str::to_owned).map_err(str::to_owned);
    assert_eq!(got, expected, "{input:?}");
}

#[test]
fn service_names() {
    for ok in [
        "sentinel",
        "idp",
        "asyncMessagingEnt",
        "accountConfigReadOnly",
        "a.b-c_d",
        "x",
        ".hidden",
        "a.",
    ] {
        check(ok, Ok(ok));
    }
    let long = "a".repeat(65);
    check(&"a".repeat(64), Ok(&"a".repeat(64)));
    check(&long, Err("service name is longer than 64 bytes"));
    check("", Err("service name is empty"));
    let chars = Err("service name may only hold ascii letters, digits, '-', '_' and '.'");
    for bad in ["a/b", "a b", "a?x", "a#x", "a%2f", "a@b", "é", "a\n", "a:b"] {
        check(bad, chars);
    }
    let dots = Err("service name is '.' or contains '..'");
    for bad in [".", "..", "a..b", "...", "a.."] {
        check(bad, dots);
    }
    // Case sensitive: kept exactly.
    check("Sentinel", Ok("Sentinel"));
    assert_ne!(
        ServiceName::new("Sentinel").unwrap(),
        ServiceName::sentinel()
    );
    assert_eq!(ServiceName::sentinel().as_str(), ServiceName::SENTINEL);
    assert_eq!(ServiceName::idp().to_string(), "idp");
    assert_eq!("idp".parse::<ServiceName>(), Ok(ServiceName::idp()));
}
