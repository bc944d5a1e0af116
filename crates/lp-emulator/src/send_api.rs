//! The Send API (`asyncMessagingEnt`): CONVERSATION opens a conversation,
//! SEND publishes a message into it or closes it. Both check the AppJWT in
//! `Authorization` and the ConsumerJWS in `X-LP-ON-BEHALF`.

use std::collections::HashMap;
use std::sync::Mutex;

use bytes::Bytes;
use http::header;
use http::{Method, Request, Response, StatusCode};
use hyper::body::Incoming;
use ring::rand::SecureRandom as _;
use serde_json::{Value, json};

use crate::fault::lock;
use crate::jwt::{ConsumerIdentity, Rejection};
use crate::reply::{
    JSON, has_content_type, json, method_not_allowed, no_store, query_pairs, read_body, single,
};
use crate::send_parse::{self, SendRequest};
use crate::state::State;

/// The second header of a Send API call, with the ConsumerJWS.
const ON_BEHALF: &str = "x-lp-on-behalf";
/// LivePerson's `errorCode` for a refused AppJWT; given for a refused
/// ConsumerJWS or a conversation of another consumer too, so that nothing
/// in the answer tells them apart (LivePerson's status does not either).
const UNAUTHORIZED_CODE: u32 = 40102;

/// A refused request's answer, boxed to keep `Result`s small.
type Refused = Box<Response<Bytes>>;

/// A message the Send API accepted, as [`crate::EmulatorHandle::messages`]
/// lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ReceivedMessage {
    /// The conversation (the request's `dialogId`).
    pub conversation_id: String,
    /// The account of the request path.
    pub account: String,
    /// The `ext_consumer_id` of the ConsumerJWS that sent it.
    pub ext_consumer_id: String,
    /// The `lp_consumer_id` of that ConsumerJWS (see [`crate::lp_consumer_id`]).
    pub lp_consumer_id: String,
    /// The event's `contentType`, e.g. `text/plain`.
    pub content_type: String,
    /// The event's `message`.
    pub text: String,
}

/// A conversation the Send API opened, as
/// [`crate::EmulatorHandle::conversations`] lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Conversation {
    /// The `conversationId` the CONVERSATION call answered (a random UUID).
    pub id: String,
    /// The account it belongs to.
    pub account: String,
    /// The consumer that opened it, by `ext_consumer_id`.
    pub ext_consumer_id: String,
    /// The same consumer by `lp_consumer_id`.
    pub lp_consumer_id: String,
    /// `false` once a `cm.UpdateConversationField` closed it.
    pub open: bool,
}

#[derive(Default)]
struct Inner {
    /// In the order they were opened.
    conversations: Vec<Conversation>,
    /// Conversation id to its index in `conversations`.
    by_id: HashMap<String, usize>,
    messages: Vec<ReceivedMessage>,
}

/// The conversations and messages of one emulator.
#[derive(Default)]
pub(crate) struct Store {
    inner: Mutex<Inner>,
}

impl Store {
    pub(crate) fn messages(&self) -> Vec<ReceivedMessage> {
        lock(&self.inner).messages.clone()
    }

    pub(crate) fn conversations(&self) -> Vec<Conversation> {
        lock(&self.inner).conversations.clone()
    }

    fn open(&self, conversation: Conversation) {
        let mut inner = lock(&self.inner);
        let index = inner.conversations.len();
        inner.by_id.insert(conversation.id.clone(), index);
        inner.conversations.push(conversation);
    }

    /// Applies a SEND request of `consumer` in `account`; the answer's
    /// `body` member, or the refusal.
    fn apply(
        &self,
        account: &str,
        consumer: &ConsumerIdentity,
        request: &SendRequest,
    ) -> Result<Value, Refused> {
        let mut inner = lock(&self.inner);
        let Inner {
            conversations,
            by_id,
            messages,
        } = &mut *inner;
        // An unknown id is refused like another consumer's, so that the
        // answer does not tell whether a conversation exists.
        let conversation = by_id
            .get(request.conversation_id())
            .and_then(|i| conversations.get_mut(*i))
            .filter(|c| c.account == account && c.lp_consumer_id == consumer.lp_consumer_id)
            .ok_or_else(unauthorized)?;
        if !conversation.open {
            return Err(bad("the conversation is closed"));
        }
        match request {
            SendRequest::Publish {
                content_type, text, ..
            } => {
                messages.push(ReceivedMessage {
                    conversation_id: conversation.id.clone(),
                    account: account.to_owned(),
                    ext_consumer_id: consumer.ext_consumer_id.clone(),
                    lp_consumer_id: consumer.lp_consumer_id.clone(),
                    content_type: content_type.clone(),
                    text: text.clone(),
                });
                let sequence = messages
                    .iter()
                    .filter(|m| m.conversation_id == conversation.id)
                    .count()
                    - 1;
                Ok(json!({ "sequence": sequence }))
            }
            SendRequest::Close { .. } => {
                conversation.open = false;
                Ok(json!("OK Conversation was closed"))
            }
        }
    }
}

fn bad(message: &str) -> Refused {
    Box::new(json(
        StatusCode::BAD_REQUEST,
        &json!({"error": "bad request", "message": message}),
    ))
}

/// The one answer to every refused credential or conversation.
fn unauthorized() -> Refused {
    let mut response = json(
        StatusCode::UNAUTHORIZED,
        &json!({
            "error": "unauthorized",
            "errorCode": UNAUTHORIZED_CODE,
            "message": "the appjwt or the consumerjws is missing, expired or invalid",
        }),
    );
    no_store(&mut response);
    Box::new(response)
}

/// The checks both calls make before reading the body: method, `v=3`, both
/// tokens, the JSON content type. Returns who the ConsumerJWS speaks for.
fn admit(
    state: &State,
    req: &Request<Incoming>,
    account: &str,
) -> Result<ConsumerIdentity, Refused> {
    if req.method() != Method::POST {
        return Err(Box::new(method_not_allowed("POST")));
    }
    match single(&query_pairs(req), "v") {
        Ok(Some("3")) => {}
        Ok(Some(_)) => return Err(bad("unsupported api version")),
        Ok(None) => return Err(bad("query parameter v=3 is required")),
        Err(()) => return Err(bad("repeated query parameter v")),
    }
    let token = |name| {
        req.headers()
            .get(name)
            .map(|v| v.to_str().map_err(|_| Rejection::Malformed))
            .unwrap_or(Err(Rejection::Missing))
    };
    let app = token(header::AUTHORIZATION.as_str()).and_then(|t| state.verify_app_jwt(t, account));
    let consumer = token(ON_BEHALF).and_then(|t| state.verify_consumer_jws(t, account));
    let consumer = match (app, consumer) {
        (Ok(()), Ok(consumer)) => consumer,
        (app, consumer) => {
            // Only the server's log says which one failed, never the answer.
            tracing::debug!(
                appjwt = ?app.err(),
                consumer_jws = ?consumer.err(),
                "send api credentials refused"
            );
            return Err(unauthorized());
        }
    };
    if !has_content_type(req, JSON) {
        return Err(bad("content type must be application/json"));
    }
    Ok(consumer)
}

/// The body as JSON, or the refusal.
async fn read_json(state: &State, req: Request<Incoming>) -> Result<Value, Refused> {
    let body = read_body(req, state.max_body).await.map_err(Box::new)?;
    serde_json::from_slice(&body).map_err(|_| bad("the body is not valid json"))
}

/// `POST /api/account/{acc}/messaging/consumer/conversation?v=3`.
pub(crate) async fn conversation(
    state: &State,
    req: Request<Incoming>,
    account: &str,
) -> Response<Bytes> {
    let opened = async {
        let consumer = admit(state, &req, account)?;
        let value = read_json(state, req).await?;
        let batch = send_parse::parse_batch(&value, account).map_err(|m| bad(&m))?;
        let mut bytes = [0u8; 16];
        state.rng.fill(&mut bytes).map_err(|_| {
            Box::new(json(
                StatusCode::INTERNAL_SERVER_ERROR,
                &json!({"error": "server error", "message": "no random source"}),
            ))
        })?;
        let id = crate::jwt::uuid(bytes, 4);
        state.send_api.open(Conversation {
            id: id.clone(),
            account: account.to_owned(),
            ext_consumer_id: consumer.ext_consumer_id,
            lp_consumer_id: consumer.lp_consumer_id,
            open: true,
        });
        Ok::<_, Refused>(json(
            StatusCode::OK,
            &json!([
                {
                    "kind": "resp",
                    "reqId": batch.profile_id,
                    "code": 200,
                    "body": "OK Consumer profile set",
                    "type": "GenericResponse",
                },
                {
                    "kind": "resp",
                    "reqId": batch.conversation_id,
                    "code": 200,
                    "body": {"conversationId": id},
                    "type": "cm.RequestConversationResponse",
                },
            ]),
        ))
    };
    opened.await.unwrap_or_else(|refusal| *refusal)
}

/// `POST /api/account/{acc}/messaging/consumer/conversation/send?v=3`.
pub(crate) async fn send(state: &State, req: Request<Incoming>, account: &str) -> Response<Bytes> {
    let sent = async {
        let consumer = admit(state, &req, account)?;
        let value = read_json(state, req).await?;
        let request = send_parse::parse_send(&value).map_err(|m| bad(&m))?;
        let body = state.send_api.apply(account, &consumer, &request)?;
        let kind = match request {
            SendRequest::Publish { .. } => "ms.PublishEventResponse",
            SendRequest::Close { .. } => "GenericResponse",
        };
        Ok::<_, Refused>(json(
            StatusCode::OK,
            &json!({"kind": "resp", "reqId": request.id(), "code": 200, "body": body, "type": kind}),
        ))
    };
    sent.await.unwrap_or_else(|refusal| *refusal)
}
