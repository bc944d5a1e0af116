//! `appjwt domains`: what the Domain API says for an account.

use lp_appjwt::{AccountId, Transport};
use lp_domain::{ServiceName, all_services_request, parse_all_services_response};
use lp_domain::{parse_service_response, service_request};
use serde_json::{Map, Value};

use super::{parse_host, transport};
use crate::args::{DomainsArgs, TextOrJson};
use crate::exit::Failure;
use crate::outln;

pub async fn run(a: DomainsArgs) -> Result<(), Failure> {
    let account =
        AccountId::new(a.account).map_err(|e| Failure::usage(format!("--account: {e}")))?;
    let csds = parse_host("--csds-host", &a.connection.csds_host)?;
    let transport = transport(&a.connection)?;
    let rows: Vec<(String, String)> = match &a.service {
        Some(name) => {
            let service = ServiceName::new(name.as_str())
                .map_err(|e| Failure::usage(format!("--service: {e}")))?;
            let response = transport
                .send(service_request(&csds, &account, &service))
                .await
                .map_err(|e| Failure::from_client("domain lookup failed", &e.into()))?;
            let found = parse_service_response(&response, &service)
                .map_err(|e| Failure::from_client("domain lookup failed", &e.into()))?;
            vec![(found.service.as_str().to_owned(), found.host.to_string())]
        }
        None => {
            let response = transport
                .send(all_services_request(&csds, &account))
                .await
                .map_err(|e| Failure::from_client("domain lookup failed", &e.into()))?;
            let map = parse_all_services_response(&response)
                .map_err(|e| Failure::from_client("domain lookup failed", &e.into()))?;
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
