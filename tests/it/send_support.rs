//! The Send API through lp-tower's layer, as a user would call it:
//! hyper-util's own client over rustls trusting only the emulator's CA, to
//! the host the Domain API names for `asyncMessagingEnt`, with the
//! documented request bodies. Shared by `send_api.rs` and the hygiene test.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::StatusCode;
use http_body_util::{BodyExt, Full};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use lp_appjwt::{AppJwtClient, ExtConsumerId, RetryAfter};
use lp_emulator::EmulatorHandle;
use lp_tower::{AppJwtLayer, AppJwtService, ReplayableBody};
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;
use serde_json::{Value, json};
use tower::{Layer, ServiceExt};

use crate::support::ACCOUNT;

/// What the layer's service fails with around hyper-util's client.
pub type CallError = lp_tower::Error<hyper_util::client::legacy::Error>;

/// hyper-util's client over rustls with exactly one root: the emulator's
/// CA. HTTPS only, so a request cannot quietly go out in the clear.
pub fn https_client<B>(emu: &EmulatorHandle) -> Client<HttpsConnector<HttpConnector>, B>
where
    B: hyper::body::Body + Send,
    B::Data: Send,
{
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(emu.ca_pem().as_bytes()) {
        let cert = cert.unwrap_or_else(|e| panic!("the emulator's ca pem: {e}"));
        roots
            .add(cert)
            .unwrap_or_else(|e| panic!("the emulator's ca: {e}"));
    }
    assert!(!roots.is_empty(), "the emulator serves no tls");
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap_or_else(|e| panic!("tls versions: {e}"))
        .with_root_certificates(roots)
        .with_no_client_auth();
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_only()
        .enable_http1()
        .build();
    Client::builder(TokioExecutor::new()).build(https)
}

/// The middleware around an HTTPS client with body `B`, and the Send API's
/// base URL from the client's Domain API map.
pub struct SendApi<B> {
    pub service: AppJwtService<Client<HttpsConnector<HttpConnector>, B>>,
    base: String,
}

/// What a call came back with: the status, the body as JSON (`Null` when
/// it is not JSON), and whether a `Retry-After` was parsed.
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub json: Value,
    pub retry_after: Option<RetryAfter>,
}

impl<B> SendApi<B>
where
    B: hyper::body::Body<Data = Bytes> + ReplayableBody + Send + Unpin + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    pub async fn new(emu: &EmulatorHandle, client: &AppJwtClient) -> Self {
        let domains = client
            .domains()
            .await
            .unwrap_or_else(|e| panic!("domain api: {e}"));
        let host = domains
            .get("asyncMessagingEnt")
            .unwrap_or_else(|| panic!("no asyncMessagingEnt in {domains:?}"));
        SendApi {
            service: AppJwtLayer::new(client.clone()).layer(https_client(emu)),
            base: format!("https://{host}/api/account/{ACCOUNT}/messaging/consumer"),
        }
    }

    /// POSTs `body` to `{base}/{path}` for `consumer` through the layer.
    pub async fn post(&self, path: &str, consumer: &str, body: B) -> Answer {
        self.try_post(path, consumer, body)
            .await
            .unwrap_or_else(|e| panic!("send api call: {e}"))
    }

    /// Like [`SendApi::post`], with the layer's error.
    pub async fn try_post(&self, path: &str, consumer: &str, body: B) -> Result<Answer, CallError> {
        let mut request = http::Request::post(format!("{}/{path}", self.base))
            .header(http::header::CONTENT_TYPE, "application/json")
            .body(body)
            .unwrap_or_else(|e| panic!("request: {e}"));
        let consumer = ExtConsumerId::new(consumer).unwrap_or_else(|e| panic!("{e}"));
        request.extensions_mut().insert(consumer);
        let call = self.service.clone().oneshot(request);
        let response = tokio::time::timeout(Duration::from_secs(20), call)
            .await
            .unwrap_or_else(|_| panic!("no answer in 20 s"))?;
        let status = response.status();
        let retry_after = response.extensions().get::<RetryAfter>().cloned();
        let bytes = response
            .into_body()
            .collect()
            .await
            .unwrap_or_else(|e| panic!("response body: {e}"))
            .to_bytes();
        Ok(Answer {
            status,
            json: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
            retry_after,
        })
    }
}

impl SendApi<Full<Bytes>> {
    /// CONVERSATION with the documented batch; the new conversation's id.
    pub async fn open(&self, consumer: &str) -> String {
        let answer = self
            .post("conversation?v=3", consumer, json_body(&batch()))
            .await;
        assert_eq!(answer.status, StatusCode::OK, "{answer:?}");
        answer.json[1]["body"]["conversationId"]
            .as_str()
            .unwrap_or_else(|| panic!("no conversationId in {answer:?}"))
            .to_owned()
    }

    /// SEND of a text message.
    pub async fn say(&self, consumer: &str, conversation: &str, text: &str) -> Answer {
        self.post(
            "conversation/send?v=3",
            consumer,
            json_body(&message(conversation, text)),
        )
        .await
    }
}

pub fn json_body(value: &Value) -> Full<Bytes> {
    Full::new(Bytes::from(value.to_string()))
}

/// `userprofile.SetUserProfile` then `cm.ConsumerRequestConversation`, as
/// the Send API's CONVERSATION call takes them.
pub fn batch() -> Value {
    json!([
        {"kind": "req", "id": "p", "type": "userprofile.SetUserProfile", "body": {}},
        {"kind": "req", "id": "c", "type": "cm.ConsumerRequestConversation",
         "body": {"ttrDefName": "NORMAL", "channelType": "MESSAGING", "brandId": ACCOUNT}},
    ])
}

/// An `ms.PublishEvent` with a text `ContentEvent`.
pub fn message(conversation: &str, text: &str) -> Value {
    json!({"kind": "req", "id": "m", "type": "ms.PublishEvent",
           "body": {"dialogId": conversation,
                    "event": {"type": "ContentEvent", "contentType": "text/plain", "message": text}}})
}

/// `cm.UpdateConversationField` closing the conversation.
pub fn close(conversation: &str) -> Value {
    json!({"kind": "req", "id": "x", "type": "cm.UpdateConversationField",
           "body": {"conversationId": conversation,
                    "conversationField": {"field": "ConversationStateField", "conversationState": "CLOSE"}}})
}
