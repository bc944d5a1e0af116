//! The exact requests, as data.

use lp_domain::{AccountId, Host, ServiceName, all_services_request, service_request};

fn check(request: http::Request<Vec<u8>>, uri: &str) {
    assert_eq!(request.method(), http::Method::GET);
    assert_eq!(request.uri().to_string(), uri);
    let headers: Vec<(&str, &str)> = request
        .headers()
        .iter()
        .map(|(k, v)| (k.as_str(), v.to_str().unwrap()))
        .collect();
    assert_eq!(headers, [("accept", "application/json")]);
    assert!(request.body().is_empty());
}

#[test]
fn requests() {
    let csds = Host::parse(lp_domain::DEFAULT_CSDS_HOST).unwrap();
    let account = AccountId::new("56072331").unwrap();
    check(
        service_request(&csds, &account, &ServiceName::sentinel()),
        "https://api.liveperson.net/api/account/56072331/service/sentinel/baseURI.json?version=1.0",
    );
    check(
        service_request(
            &csds,
            &account,
            &ServiceName::new("asyncMessagingEnt").unwrap(),
        ),
        "https://api.liveperson.net/api/account/56072331/service/asyncMessagingEnt/baseURI.json?version=1.0",
    );
    check(
        all_services_request(&csds, &account),
        "https://api.liveperson.net/api/account/56072331/service/baseURI.json?version=1.0",
    );
    let local = Host::parse("[::1]:8443").unwrap();
    let alpha = AccountId::new("aa-le_1").unwrap();
    check(
        service_request(&local, &alpha, &ServiceName::new("a.b").unwrap()),
        "https://[::1]:8443/api/account/aa-le_1/service/a.b/baseURI.json?version=1.0",
    );
    check(
        all_services_request(&Host::parse("AdminLogin.LivePerson.net").unwrap(), &alpha),
        "https://adminlogin.liveperson.net/api/account/aa-le_1/service/baseURI.json?version=1.0",
    );
}
