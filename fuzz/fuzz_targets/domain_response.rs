//! The Domain API (CSDS) parsers, one service and all services, on arbitrary
//! status, headers and body.
//!
//! Half the inputs carry a raw body, the other half JSON shaped like the real
//! answers with hosts drawn from the input. Anything accepted as a host must
//! be a host that `Host::parse` accepts again from its own text, since that
//! host receives the client secret next.
#![no_main]

#[path = "common.rs"]
mod common;

use libfuzzer_sys::arbitrary::{Result, Unstructured};
use libfuzzer_sys::fuzz_target;
use lp_domain::{
    DomainError, Host, ServiceName, parse_all_services_response_with_limit,
    parse_service_response, parse_all_services_response, parse_service_response_with_limit,
};

const HOSTS: [&str; 8] = [
    "va.sentinel.liveperson.net",
    "127.0.0.1:8443",
    "[::1]:443",
    "evil.example@127.0.0.1",
    "127.0.0.1/steal",
    "https://host",
    "host:0",
    "a..b",
];

fuzz_target!(|data: &[u8]| {
    let _ = run(&mut Unstructured::new(data));
});

fn run(u: &mut Unstructured<'_>) -> Result<()> {
    let service = if u.ratio(3, 4)? {
        ServiceName::sentinel()
    } else {
        match ServiceName::new(u.arbitrary::<String>()?) {
            Ok(s) => s,
            Err(_) => ServiceName::idp(),
        }
    };
    let body = match u.int_in_range(0..=2)? {
        0 => {
            let n = u.arbitrary_len::<u8>()?;
            u.bytes(n)?.to_vec()
        }
        1 => entry(u, service.as_str())?.into_bytes(),
        _ => {
            let mut entries = Vec::new();
            for _ in 0..u.int_in_range(0..=4)? {
                entries.push(entry(u, service.as_str())?);
            }
            let list = if u.ratio(7, 8)? {
                format!("[{}]", entries.join(","))
            } else {
                common::json_value(u, "sentinel")?
            };
            format!("{{\"baseURIs\":{list}}}").into_bytes()
        }
    };
    let limit = u.int_in_range(0..=body.len().saturating_add(8))?;
    let response = common::response(u, body)?;
    let ok_200 = |ok: bool| {
        if ok {
            assert_eq!(response.status(), 200);
        }
    };

    for result in [
        parse_service_response(&response, &service),
        parse_service_response_with_limit(&response, &service, limit),
    ] {
        ok_200(result.is_ok());
        match result {
            Ok(domain) => {
                assert_eq!(domain.service, service);
                assert_reparses(&domain.host);
            }
            Err(e) => check_error(&e),
        }
    }
    for result in [
        parse_all_services_response(&response),
        parse_all_services_response_with_limit(&response, limit),
    ] {
        ok_200(result.is_ok());
        match result {
            Ok(map) => {
                assert_eq!(map.len(), map.iter().count());
                for (name, host) in map.iter() {
                    assert!(ServiceName::new(name).is_ok());
                    assert_reparses(host);
                }
                for (name, _) in map.invalid() {
                    assert!(map.get(name).is_none());
                    if let Ok(service) = ServiceName::new(name) {
                        assert!(matches!(map.require(&service), Err(DomainError::InvalidHost { .. })));
                    }
                }
            }
            Err(e) => check_error(&e),
        }
    }
    Ok(())
}

fn assert_reparses(host: &Host) {
    let text = host.to_string();
    match Host::parse(&text) {
        Ok(again) => assert_eq!(&again, host, "{text}"),
        Err(e) => panic!("accepted host {text:?} does not parse again: {e}"),
    }
    assert!(!text.contains(['/', '@', '?', '#', ' ']));
}

fn check_error(e: &DomainError) {
    let text = e.to_string();
    assert!(!text.is_empty());
    let _ = e.is_retryable();
    let _ = e.status();
    let _ = std::error::Error::source(e);
}

/// One `{"service":..,"account":..,"baseURI":..}` object.
fn entry(u: &mut Unstructured<'_>, service: &str) -> Result<String> {
    let mut members = Vec::new();
    if u.ratio(7, 8)? {
        let value = if u.ratio(3, 4)? {
            common::json_string(service)
        } else {
            common::json_value(u, service)?
        };
        members.push(format!("\"service\":{value}"));
    }
    if u.ratio(1, 2)? {
        members.push(format!("\"account\":{}", common::json_value(u, "56072331")?));
    }
    if u.ratio(7, 8)? {
        let host = if u.ratio(1, 2)? {
            (*u.choose(&HOSTS)?).to_owned()
        } else {
            u.arbitrary::<String>()?
        };
        let value = if u.ratio(7, 8)? {
            common::json_string(&host)
        } else {
            common::json_value(u, &host)?
        };
        members.push(format!("\"baseURI\":{value}"));
    }
    Ok(format!("{{{}}}", members.join(",")))
}
