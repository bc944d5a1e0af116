//! `appjwt send`: a message to the Send API through lp-tower's
//! middleware, over the same transport that fetches the tokens. Also the
//! Send API calls of `appjwt demo`.

use std::time::SystemTime;

use lp_appjwt::http::{self, StatusCode, header};
use lp_appjwt::{AccountId, AppJwtClient, ExtConsumerId, Host, RetryAfter, Transport};
use lp_jwt::Untrusted;
use lp_tower::{AppJwtLayer, AppJwtService, TransportService};
use serde::Serialize;
use serde_json::{Value, json};
use tower::{Layer, ServiceExt};

use super::{client_builder_over, client_failure, parse_host, transport};
use crate::args::{SendArgs, TextOrJson};
use crate::exit::Failure;
use crate::watch::Watch;

/// The Domain API's name for the Send API.
pub const SEND_API_SERVICE: &str = "asyncMessagingEnt";

/// The longest conversation id taken from a server or the command line.
const MAX_CONVERSATION_ID: usize = 128;

pub async fn run(a: SendArgs, watch: Watch) -> Result<(), Failure> {
    let consumer = ExtConsumerId::new(a.ext_consumer_id.as_str())
        .map_err(|e| Failure::usage(format!("--ext-consumer-id: {e}")))?;
    let given = match &a.conversation {
        Some(id) => Some(
            conversation_id(id).map_err(|why| Failure::usage(format!("--conversation: {why}")))?,
        ),
        None => None,
    };
    if a.text.is_empty() {
        return Err(Failure::usage("--text: a message needs some text"));
    }
    let transport = transport(&a.client.connection, &watch)?;
    let mut builder = client_builder_over(&a.client, transport.clone())?;
    if let Some(h) = &a.idp_host {
        builder = builder.idp_host(parse_host("--idp-host", "LP_IDP_HOST", h)?);
    }
    let client = builder
        .build()
        .map_err(|e| Failure::usage(format!("cannot build the client: {e}")))?;
    let host = match &a.send_api_host {
        Some(h) => parse_host("--send-api-host", "LP_SEND_API_HOST", h)?,
        None => {
            let domains = client
                .domains()
                .await
                .map_err(|e| client_failure("domain lookup failed", &e, &a.client, &watch))?;
            domains.get(SEND_API_SERVICE).cloned().ok_or_else(|| {
                Failure::refused(format!(
                    "the domain api names no {SEND_API_SERVICE} host for this account; \
                     pass --send-api-host HOST"
                ))
            })?
        }
    };
    let api = SendApi::new(&client, transport, &host);
    let fail = |e| send_failure(e, &a, &watch);
    let (conversation, opened) = match given {
        Some(id) => (id, false),
        None => (api.open(&consumer).await.map_err(fail)?, true),
    };
    let sequence = api
        .publish(&consumer, &conversation, &a.text)
        .await
        .map_err(fail)?;
    if a.close {
        api.close(&consumer, &conversation).await.map_err(fail)?;
    }
    match a.format {
        TextOrJson::Text => crate::outln!("{conversation}"),
        TextOrJson::Json => {
            let out = SendJson {
                conversation_id: &conversation,
                opened,
                sequence,
                closed: a.close,
            };
            let text = serde_json::to_string(&out)
                .map_err(|e| Failure::usage(format!("cannot write the answer as json: {e}")))?;
            crate::outln!("{text}")
        }
    }
}

/// The `--format json` object.
#[derive(Serialize)]
struct SendJson<'a> {
    conversation_id: &'a str,
    opened: bool,
    /// The message's sequence number in the conversation, when the Send
    /// API said it.
    sequence: Option<u64>,
    closed: bool,
}

/// Why a Send API call gave no usable answer.
#[derive(Debug)]
pub enum SendError {
    /// No AppJWT or ConsumerJWS, or no answer at all.
    Call(lp_tower::Error<lp_appjwt::TransportError>),
    /// An HTTP answer other than 200, after the middleware's retries.
    Status {
        status: StatusCode,
        retry_after: Option<RetryAfter>,
        /// The server's own words, escaped and cut.
        detail: String,
    },
    /// A 200 whose body is not the documented answer.
    Malformed(String),
}

impl std::fmt::Display for SendError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SendError::Call(e) => write!(f, "{e}"),
            SendError::Status { status, detail, .. } => {
                write!(f, "the send api answered {status}")?;
                if !detail.is_empty() {
                    write!(f, ": {detail}")?;
                }
                Ok(())
            }
            SendError::Malformed(why) => write!(f, "the send api's answer is malformed: {why}"),
        }
    }
}

/// The exit code and advice for a failed Send API call.
fn send_failure(e: SendError, a: &SendArgs, watch: &Watch) -> Failure {
    match e {
        SendError::Call(lp_tower::Error::Token(e)) => {
            client_failure("cannot get a token", &e, &a.client, watch)
        }
        SendError::Call(lp_tower::Error::ConsumerJws(e)) => {
            client_failure("cannot get a consumer jws", &e, &a.client, watch)
        }
        SendError::Call(lp_tower::Error::Service(e)) => client_failure(
            "send api request failed",
            &lp_appjwt::Error::Transport(e),
            &a.client,
            watch,
        ),
        e @ SendError::Status {
            status: StatusCode::UNAUTHORIZED,
            ..
        } => Failure::refused(format!(
            "{e}; it was refused with a new appjwt and a new consumer jws too: is the \
             conversation this consumer's, and may this client id use the send api?"
        )),
        SendError::Status {
            status,
            retry_after: Some(after),
            detail,
        } if status == StatusCode::TOO_MANY_REQUESTS => {
            let wait = after.delay_from(SystemTime::now()).as_secs();
            let e = SendError::Status {
                status,
                retry_after: None,
                detail,
            };
            Failure::refused(format!(
                "{e}; it asks to wait {wait} s before the next request"
            ))
        }
        e => Failure::refused(e),
    }
}

/// The Send API of one account at one host, through the middleware over
/// the client's transport.
pub struct SendApi<T> {
    service: AppJwtService<TransportService<T>>,
    base: String,
    account: AccountId,
}

impl<T: Transport> SendApi<T> {
    pub fn new(client: &AppJwtClient, transport: T, host: &Host) -> Self {
        let account = client.account().clone();
        SendApi {
            service: AppJwtLayer::new(client.clone()).layer(TransportService::new(transport)),
            base: format!("https://{host}/api/account/{account}/messaging/consumer/conversation"),
            account,
        }
    }

    /// CONVERSATION: the documented batch (profile, then the conversation
    /// request); the new conversation's id.
    pub async fn open(&self, consumer: &ExtConsumerId) -> Result<String, SendError> {
        let batch = json!([
            {"kind": "req", "id": "profile", "type": "userprofile.SetUserProfile", "body": {}},
            {"kind": "req", "id": "conversation", "type": "cm.ConsumerRequestConversation",
             "body": {"ttrDefName": "NORMAL", "channelType": "MESSAGING",
                      "brandId": self.account.as_str()}},
        ]);
        let answer = self.post("?v=3", consumer, &batch).await?;
        let response = answer
            .as_array()
            .and_then(|all| all.iter().find(|r| r["reqId"] == "conversation"))
            .ok_or_else(|| {
                SendError::Malformed("no response for the conversation request".to_owned())
            })?;
        if let Some(code) = response["code"].as_u64().filter(|c| *c != 200) {
            return Err(SendError::Malformed(format!(
                "the conversation request got code {code}"
            )));
        }
        let id = response["body"]["conversationId"]
            .as_str()
            .ok_or_else(|| SendError::Malformed("no conversationId".to_owned()))?;
        conversation_id(id).map_err(|why| SendError::Malformed(format!("conversationId: {why}")))
    }

    /// SEND of a text message; its sequence number, if the answer says it.
    pub async fn publish(
        &self,
        consumer: &ExtConsumerId,
        conversation: &str,
        text: &str,
    ) -> Result<Option<u64>, SendError> {
        let message = json!({"kind": "req", "id": "message", "type": "ms.PublishEvent",
            "body": {"dialogId": conversation,
                     "event": {"type": "ContentEvent", "contentType": "text/plain", "message": text}}});
        let answer = self.post("/send?v=3", consumer, &message).await?;
        Ok(answer["body"]["sequence"].as_u64())
    }

    /// SEND of `cm.UpdateConversationField`, closing the conversation.
    pub async fn close(
        &self,
        consumer: &ExtConsumerId,
        conversation: &str,
    ) -> Result<(), SendError> {
        let close = json!({"kind": "req", "id": "close", "type": "cm.UpdateConversationField",
            "body": {"conversationId": conversation,
                     "conversationField": {"field": "ConversationStateField",
                                           "conversationState": "CLOSE"}}});
        self.post("/send?v=3", consumer, &close).await.map(drop)
    }

    async fn post(
        &self,
        path: &str,
        consumer: &ExtConsumerId,
        body: &Value,
    ) -> Result<Value, SendError> {
        let mut request = http::Request::post(format!("{}{path}", self.base))
            .header(header::CONTENT_TYPE, "application/json")
            .body(body.to_string().into_bytes())
            .map_err(|e| SendError::Malformed(format!("cannot build the request: {e}")))?;
        request.extensions_mut().insert(consumer.clone());
        let response = self
            .service
            .clone()
            .oneshot(request)
            .await
            .map_err(SendError::Call)?;
        let status = response.status();
        let retry_after = response.extensions().get::<RetryAfter>().cloned();
        let body = response.into_body();
        if status != StatusCode::OK {
            return Err(SendError::Status {
                status,
                retry_after,
                detail: server_words(&body),
            });
        }
        serde_json::from_slice(&body).map_err(|e| SendError::Malformed(format!("not json ({e})")))
    }
}

/// What a refusal's body says, for the error line: its `message` (or
/// `error`) member, escaped and cut; never the whole body.
fn server_words(body: &[u8]) -> String {
    let value: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let text = value["message"]
        .as_str()
        .or_else(|| value["error"].as_str())
        .unwrap_or_default();
    Untrusted::new(text).max_chars(120).to_string()
}

/// A conversation id as the Send API uses it: 1 to 128 visible ASCII
/// characters (a UUID in practice).
fn conversation_id(id: &str) -> Result<String, String> {
    if id.is_empty() || id.len() > MAX_CONVERSATION_ID {
        return Err(format!("1 to {MAX_CONVERSATION_ID} characters expected"));
    }
    if !id.bytes().all(|b| b.is_ascii_graphic()) {
        return Err("visible ascii characters only".to_owned());
    }
    Ok(id.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conversation_ids() {
        for (id, ok) in [
            ("2a0c8b72-1f3e-4c6a-9d55-0b1f2e3a4c5d", true),
            ("x", true),
            ("", false),
            ("a b", false),
            ("a\nb", false),
            ("é", false),
        ] {
            assert_eq!(conversation_id(id).is_ok(), ok, "{id:?}");
        }
        assert!(conversation_id(&"a".repeat(129)).is_err());
    }

    #[test]
    fn server_words_are_escaped_and_cut() {
        for (body, expected) in [
            (
                &br#"{"error":"bad request","message":"no dialogId"}"#[..],
                "no dialogId",
            ),
            (br#"{"error":"unauthorized"}"#, "unauthorized"),
            (b"<html>", ""),
        ] {
            assert_eq!(server_words(body), expected);
        }
        let long = format!(r#"{{"message":"{}\u001b[31m"}}"#, "x".repeat(300));
        let words = server_words(long.as_bytes());
        assert!(words.chars().count() < 140, "{words}");
        assert!(!words.contains('\u{1b}'), "{words:?}");
    }
}
