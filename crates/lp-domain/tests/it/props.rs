//! Properties: parsers never panic; valid hosts round-trip.

use lp_domain::{DomainError, ServiceName, parse_all_services_response, parse_service_response};
use proptest::prelude::*;

/// Strategies, kept together.
mod strategy {
    use proptest::prelude::*;

    /// A DNS name `Host::parse` accepts, in lower case, with an optional port.
    pub fn host() -> impl Strategy<Value = String> {
        (
            prop::collection::vec("[a-z][a-z0-9-]{0,10}[a-z0-9]", 1..5),
            prop::option::of(1u16..),
        )
            .prop_map(|(labels, port)| match port {
                Some(p) => format!("{}:{p}", labels.join(".")),
                None => labels.join("."),
            })
    }

    /// A valid service name.
    pub fn service() -> impl Strategy<Value = String> {
        "[a-zA-Z][a-zA-Z0-9_-]{0,20}"
    }

    /// Text that is sometimes JSON of the right shape.
    pub fn body() -> impl Strategy<Value = String> {
        prop_oneof![
            "\\PC{0,200}",
            (service(), "\\PC{0,40}", 0usize..80).prop_map(|(s, h, cut)| {
                let h = h.replace(['"', '\\'], "");
                let mut b = format!(r#"{{"baseURIs":[{{"service":"{s}","baseURI":"{h}"}}],"service":"{s}","baseURI":"{h}"}}"#);
                if cut > 0 && b.is_char_boundary(cut) {
                    b.truncate(cut);
                }
                b
            }),
        ]
    }
}

proptest! {
    #[test]
    fn parsers_never_panic(
        status in 100u16..1000,
        body in prop_oneof![
            strategy::body().prop_map(String::into_bytes),
            prop::collection::vec(any::<u8>(), 0..200),
        ],
    ) {
        let response = http::Response::builder().status(status).body(body).unwrap();
        match parse_service_response(&response, &ServiceName::sentinel()) {
            Ok(d) => {
                prop_assert_eq!(status, 200);
                prop_assert_eq!(d.service, ServiceName::sentinel());
            }
            Err(e) => {
                let _ = e.to_string();
                if status != 200 {
                    prop_assert_eq!(e, DomainError::Status { status: response.status(), retry_after: None });
                }
            }
        }
        if let Ok(map) = parse_all_services_response(&response) {
            prop_assert_eq!(status, 200);
            for (service, host) in map.iter() {
                prop_assert!(ServiceName::new(service).is_ok());
                let again = lp_domain::Host::parse(&host.to_string());
                prop_assert_eq!(again.as_ref(), Ok(host));
            }
        }
    }

    #[test]
    fn hosts_round_trip(
        entries in prop::collection::vec((strategy::service(), strategy::host()), 0..8),
    ) {
        // Labels that are all digits would be IPv4 candidates; the strategy
        // starts every label with a letter, so none are.
        let items: Vec<String> = entries
            .iter()
            .map(|(s, h)| format!(r#"{{"service":"{s}","account":"1","baseURI":"{h}"}}"#))
            .collect();
        let body = format!(r#"{{"baseURIs":[{}]}}"#, items.join(","));
        let response = http::Response::builder().status(200).body(body.into_bytes()).unwrap();
        let map = parse_all_services_response(&response).unwrap();
        for (service, _) in &entries {
            // The first entry per service wins.
            let first = entries.iter().find(|(s, _)| s == service).map(|(_, h)| h);
            let got = map.require(&ServiceName::new(service.as_str()).unwrap()).map(|h| h.to_string());
            prop_assert_eq!(got.as_deref().ok(), first.map(String::as_str));
        }
        if let Some((service, host)) = entries.first() {
            let one = format!(r#"{{"service":"{service}","account":"1","baseURI":"{host}"}}"#);
            let response = http::Response::builder().status(200).body(one.into_bytes()).unwrap();
            let name = ServiceName::new(service.as_str()).unwrap();
            let d = parse_service_response(&response, &name).unwrap();
            prop_assert_eq!(d.host.to_string(), host.clone());
        }
    }
}
