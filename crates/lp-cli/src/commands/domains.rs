//! `appjwt domains`: what the Domain API says for an account.

use lp_appjwt::{Error, Transport, TransportErrorKind};
use lp_domain::{ServiceName, all_services_request, parse_all_services_response};
use lp_domain::{parse_service_response, service_request};
use serde_json::{Map, Value};

use super::{parse_account, parse_host, transport};
use crate::args::{DomainsArgs, TextOrJson};
use crate::exit::Failure;
use crate::outln;
use crate::watch::Watch;

pub async fn run(a: DomainsArgs, watch: Watch) -> Result<(), Failure> {
    let account = parse_account("--account", &a.account)?;
    let csds = parse_host("--csds-host", "LP_CSDS_HOST", &a.connection.csds_host)?;
    let service = match &a.service {
        Some(name) => Some(
            ServiceName::new(name.as_str())
                .map_err(|e| Failure::usage(format!("--service: {e}")))?,
        ),
        None => None,
    };
    let transport = transport(&a.connection, &watch)?;
    // The library's errors start with "domain lookup failed" themselves.
    let failed = |e: Error| {
        let advice = match (&e, &a.service) {
            (Error::Transport(t), _) if t.kind() == TransportErrorKind::Connect => Some(format!(
                "is {csds} the Domain API host, and does anything listen there? (--csds-host)"
            )),
            (_, Some(name)) if e.status().is_some_and(|s| s.as_u16() == 404) => Some(format!(
                "is {name} one of the account's services? without --service all are listed"
            )),
            _ => None,
        };
        Failure::from_client("domain lookup failed", &e).advise(advice)
    };
    let rows: Vec<(String, String)> = match &service {
        Some(service) => {
            let response = transport
                .send(service_request(&csds, &account, service))
                .await
                .map_err(|e| failed(e.into()))?;
            let found = parse_service_response(&response, service).map_err(|e| failed(e.into()))?;
            vec![(found.service.as_str().to_owned(), found.host.to_string())]
        }
        None => {
            let response = transport
                .send(all_services_request(&csds, &account))
                .await
                .map_err(|e| failed(e.into()))?;
            let map = parse_all_services_response(&response).map_err(|e| failed(e.into()))?;
            map.iter()
                .map(|(s, h)| (s.to_owned(), h.to_string()))
                .collect()
        }
    };
    match a.format {
        TextOrJson::Json => {
            let obj: Map<String, Value> = rows
                .into_iter()
                .map(|(s, h)| (s, Value::String(h)))
                .collect();
            outln!("{}", Value::Object(obj))?;
        }
        TextOrJson::Text => {
            let width = rows.iter().map(|(s, _)| s.len()).max().unwrap_or(0).max(7);
            outln!("{:width$}  HOST", "SERVICE")?;
            for (s, h) in rows {
                outln!("{s:width$}  {h}")?;
            }
        }
    }
    Ok(())
}
