//! Reading the Send API's request bodies (pure; the handlers are in
//! `send_api.rs`). Every refusal is a message for a `400` body.

use serde_json::{Map, Value};

pub(crate) const SET_USER_PROFILE: &str = "userprofile.SetUserProfile";
pub(crate) const REQUEST_CONVERSATION: &str = "cm.ConsumerRequestConversation";
pub(crate) const PUBLISH_EVENT: &str = "ms.PublishEvent";
pub(crate) const UPDATE_FIELD: &str = "cm.UpdateConversationField";

/// The two request ids of a CONVERSATION batch, to answer by `reqId`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Batch {
    pub(crate) profile_id: String,
    pub(crate) conversation_id: String,
}

/// One SEND request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum SendRequest {
    /// `ms.PublishEvent` with a `ContentEvent`.
    Publish {
        id: String,
        dialog_id: String,
        content_type: String,
        text: String,
    },
    /// `cm.UpdateConversationField` setting `ConversationStateField` to
    /// `CLOSE`.
    Close { id: String, conversation_id: String },
}

impl SendRequest {
    pub(crate) fn id(&self) -> &str {
        match self {
            SendRequest::Publish { id, .. } | SendRequest::Close { id, .. } => id,
        }
    }

    /// The conversation the request is about.
    pub(crate) fn conversation_id(&self) -> &str {
        match self {
            SendRequest::Publish { dialog_id, .. } => dialog_id,
            SendRequest::Close {
                conversation_id, ..
            } => conversation_id,
        }
    }
}

/// A request object's envelope: `{"kind":"req","id":..,"type":..,"body":{..}}`.
struct Envelope<'a> {
    id: &'a str,
    kind: &'a str,
    body: &'a Map<String, Value>,
}

fn envelope(value: &Value) -> Result<Envelope<'_>, String> {
    let Value::Object(map) = value else {
        return Err("a request must be a json object".to_owned());
    };
    if map.get("kind").and_then(Value::as_str) != Some("req") {
        return Err("a request's kind must be \"req\"".to_owned());
    }
    let id = non_empty(map, "id")?;
    let kind = non_empty(map, "type")?;
    let Some(Value::Object(body)) = map.get("body") else {
        return Err(format!("the body of {kind} must be a json object"));
    };
    Ok(Envelope { id, kind, body })
}

/// A member that must be a non-empty string.
fn non_empty<'a>(map: &'a Map<String, Value>, name: &str) -> Result<&'a str, String> {
    match map.get(name).and_then(Value::as_str) {
        Some(s) if !s.is_empty() => Ok(s),
        _ => Err(format!("{name} must be a non-empty string")),
    }
}

/// A CONVERSATION body: exactly `userprofile.SetUserProfile` then
/// `cm.ConsumerRequestConversation` for `account` on `MESSAGING`.
pub(crate) fn parse_batch(value: &Value, account: &str) -> Result<Batch, String> {
    let order = || format!("the batch must hold {SET_USER_PROFILE} then {REQUEST_CONVERSATION}");
    let Value::Array(items) = value else {
        return Err("the body must be a json array of requests".to_owned());
    };
    let [profile, request] = items.as_slice() else {
        return Err(order());
    };
    let profile = envelope(profile)?;
    let request = envelope(request)?;
    if profile.kind != SET_USER_PROFILE || request.kind != REQUEST_CONVERSATION {
        return Err(order());
    }
    if profile.id == request.id {
        return Err("the requests of a batch need distinct ids".to_owned());
    }
    if request.body.get("brandId").and_then(Value::as_str) != Some(account) {
        return Err("brandId must be the account id".to_owned());
    }
    if request.body.get("channelType").and_then(Value::as_str) != Some("MESSAGING") {
        return Err("channelType must be MESSAGING".to_owned());
    }
    Ok(Batch {
        profile_id: profile.id.to_owned(),
        conversation_id: request.id.to_owned(),
    })
}

/// A SEND body: one `ms.PublishEvent` with a `ContentEvent`, or one
/// `cm.UpdateConversationField` closing the conversation.
pub(crate) fn parse_send(value: &Value) -> Result<SendRequest, String> {
    let request = envelope(value)?;
    let id = request.id.to_owned();
    match request.kind {
        PUBLISH_EVENT => {
            let dialog_id = non_empty(request.body, "dialogId")?.to_owned();
            let Some(Value::Object(event)) = request.body.get("event") else {
                return Err("event must be a json object".to_owned());
            };
            if event.get("type").and_then(Value::as_str) != Some("ContentEvent") {
                return Err("only an event of type ContentEvent is supported".to_owned());
            }
            let content_type = non_empty(event, "contentType")?.to_owned();
            let Some(text) = event.get("message").and_then(Value::as_str) else {
                return Err("message must be a string".to_owned());
            };
            Ok(SendRequest::Publish {
                id,
                dialog_id,
                content_type,
                text: text.to_owned(),
            })
        }
        UPDATE_FIELD => {
            let conversation_id = non_empty(request.body, "conversationId")?.to_owned();
            let Some(Value::Object(field)) = request.body.get("conversationField") else {
                return Err("conversationField must be a json object".to_owned());
            };
            let text = |name: &str| field.get(name).and_then(Value::as_str);
            if text("field") != Some("ConversationStateField")
                || text("conversationState") != Some("CLOSE")
            {
                return Err(
                    "only ConversationStateField with conversationState CLOSE is supported"
                        .to_owned(),
                );
            }
            Ok(SendRequest::Close {
                id,
                conversation_id,
            })
        }
        other => Err(format!("unsupported request type {other}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn req(id: &str, kind: &str, body: Value) -> Value {
        json!({"kind": "req", "id": id, "type": kind, "body": body})
    }

    fn conversation_request(brand: &str) -> Value {
        req(
            "2",
            REQUEST_CONVERSATION,
            json!({"brandId": brand, "channelType": "MESSAGING", "ttrDefName": "NORMAL"}),
        )
    }

    #[test]
    fn batches() {
        fn check(name: &str, value: Value, expected: Result<(&str, &str), &str>) {
            let expected = expected
                .map(|(p, c)| Batch {
                    profile_id: p.to_owned(),
                    conversation_id: c.to_owned(),
                })
                .map_err(str::to_owned);
            assert_eq!(parse_batch(&value, "123"), expected, "{name}");
        }
        let profile = req("1,", SET_USER_PROFILE, json!({}));
        let order =
            "the batch must hold userprofile.SetUserProfile then cm.ConsumerRequestConversation";
        check(
            "documented",
            json!([profile, conversation_request("123")]),
            Ok(("1,", "2")),
        );
        check(
            "swapped",
            json!([conversation_request("123"), profile]),
            Err(order),
        );
        check("only the profile", json!([profile]), Err(order));
        check("empty", json!([]), Err(order));
        check(
            "three",
            json!([profile, conversation_request("123"), profile]),
            Err(order),
        );
        check(
            "object",
            json!({}),
            Err("the body must be a json array of requests"),
        );
        check(
            "other brand",
            json!([profile, conversation_request("1234")]),
            Err("brandId must be the account id"),
        );
        check(
            "other channel",
            json!([
                profile,
                req(
                    "2",
                    REQUEST_CONVERSATION,
                    json!({"brandId": "123", "channelType": "CHAT"})
                )
            ]),
            Err("channelType must be MESSAGING"),
        );
        check(
            "same ids",
            json!([
                req("2", SET_USER_PROFILE, json!({})),
                conversation_request("123")
            ]),
            Err("the requests of a batch need distinct ids"),
        );
        check(
            "kind",
            json!([{"kind": "resp", "id": "1", "type": SET_USER_PROFILE, "body": {}}, conversation_request("123")]),
            Err("a request's kind must be \"req\""),
        );
        check(
            "no id",
            json!([{"kind": "req", "type": SET_USER_PROFILE, "body": {}}, conversation_request("123")]),
            Err("id must be a non-empty string"),
        );
        check(
            "body not an object",
            json!([
                req("1", SET_USER_PROFILE, json!([])),
                conversation_request("123")
            ]),
            Err("the body of userprofile.SetUserProfile must be a json object"),
        );
        check(
            "not an object",
            json!(["x", conversation_request("123")]),
            Err("a request must be a json object"),
        );
    }

    #[test]
    fn sends() {
        fn check(name: &str, value: Value, expected: Result<SendRequest, &str>) {
            assert_eq!(
                parse_send(&value),
                expected.map_err(str::to_owned),
                "{name}"
            );
        }
        let event =
            |event: Value| req("1", PUBLISH_EVENT, json!({"dialogId": "c", "event": event}));
        let close = |field: Value| {
            req(
                "7",
                UPDATE_FIELD,
                json!({"conversationId": "c", "conversationField": field}),
            )
        };
        check(
            "documented message",
            event(json!({"type": "ContentEvent", "contentType": "text/plain", "message": "Hi"})),
            Ok(SendRequest::Publish {
                id: "1".to_owned(),
                dialog_id: "c".to_owned(),
                content_type: "text/plain".to_owned(),
                text: "Hi".to_owned(),
            }),
        );
        check(
            "documented close",
            close(json!({"field": "ConversationStateField", "conversationState": "CLOSE"})),
            Ok(SendRequest::Close {
                id: "7".to_owned(),
                conversation_id: "c".to_owned(),
            }),
        );
        check(
            "other state",
            close(json!({"field": "ConversationStateField", "conversationState": "OPEN"})),
            Err("only ConversationStateField with conversationState CLOSE is supported"),
        );
        check(
            "no field",
            req("7", UPDATE_FIELD, json!({"conversationId": "c"})),
            Err("conversationField must be a json object"),
        );
        check(
            "typing",
            event(json!({"type": "ChatStateEvent", "chatState": "COMPOSING"})),
            Err("only an event of type ContentEvent is supported"),
        );
        check(
            "number message",
            event(json!({"type": "ContentEvent", "contentType": "text/plain", "message": 5})),
            Err("message must be a string"),
        );
        check(
            "no content type",
            event(json!({"type": "ContentEvent", "message": "x"})),
            Err("contentType must be a non-empty string"),
        );
        check(
            "no dialog",
            req("1", PUBLISH_EVENT, json!({"event": {}})),
            Err("dialogId must be a non-empty string"),
        );
        check(
            "no event",
            req("1", PUBLISH_EVENT, json!({"dialogId": "c"})),
            Err("event must be a json object"),
        );
        check(
            "batch on send",
            json!([event(json!({}))]),
            Err("a request must be a json object"),
        );
        check(
            "other type",
            req("1", SET_USER_PROFILE, json!({})),
            Err("unsupported request type userprofile.SetUserProfile"),
        );
    }
}

#[cfg(test)]
mod proptests {
    use super::*;
    use proptest::prelude::*;

    /// JSON values of the shapes the parsers look into.
    fn values() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            prop_oneof![
                Just("req".to_owned()),
                Just(PUBLISH_EVENT.to_owned()),
                Just(UPDATE_FIELD.to_owned()),
                Just("ContentEvent".to_owned()),
                ".{0,8}",
            ]
            .prop_map(Value::from),
        ];
        leaf.prop_recursive(4, 32, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
                prop::collection::vec(
                    (
                        prop_oneof![
                            Just("kind".to_owned()),
                            Just("id".to_owned()),
                            Just("type".to_owned()),
                            Just("body".to_owned()),
                            Just("event".to_owned()),
                            Just("dialogId".to_owned()),
                        ],
                        inner
                    ),
                    0..5
                )
                .prop_map(|pairs| Value::Object(pairs.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #[test]
        fn parsers_never_panic(value in values()) {
            let _ = parse_batch(&value, "123");
            let _ = parse_send(&value);
        }
    }
}
