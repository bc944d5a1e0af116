//! Secret hygiene of the middleware: every path of the 401 ladder, a 429,
//! a refused body, a token that cannot be had, with every tracing event
//! (client and layer) captured at TRACE level, and the `Debug` and
//! `Display` of the layer, the service, the errors and the responses. No
//! token and no client secret may appear anywhere.

#[allow(dead_code)]
#[path = "it/support.rs"]
mod support;

use std::io::Write;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use lp_appjwt::ExtConsumerId;
use lp_tower::AppJwtLayer;
use tower::{Layer, ServiceExt};
use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::fmt::format::FmtSpan;
use tracing_subscriber::util::SubscriberInitExt;

use support::{Fake, SECRET, SendApi};

/// Everything the subscriber wrote.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Every token of the fakes is a JWT, whose base64url header starts with
/// `eyJ`; the secret's distinctive part stands for a partial leak.
fn assert_clean(what: &str, text: &str) {
    for bad in [SECRET, "sh0uld-n3ver", "eyJ"] {
        assert!(!text.contains(bad), "{what} contains {bad:?}:\n{text}");
    }
}

fn request(body: Full<Bytes>) -> http::Request<Full<Bytes>> {
    let mut request = http::Request::post("https://va.msg.liveperson.net/send")
        .body(body)
        .unwrap();
    request
        .extensions_mut()
        .insert(ExtConsumerId::new("John_Doe_facebook12345").unwrap());
    request
}

#[tokio::test(start_paused = true)]
async fn no_token_or_secret_in_logs_debug_or_errors() {
    let captured = Captured::default();
    let sink = captured.clone();
    tracing_subscriber::fmt()
        .with_max_level(LevelFilter::TRACE)
        .with_span_events(FmtSpan::FULL)
        .with_ansi(false)
        .with_writer(move || sink.clone())
        .finish()
        .init();

    let mut texts = String::new();
    let scripts: [&[u16]; 5] = [&[], &[401], &[401, 401], &[401, 401, 401], &[429, 403]];
    for replies in scripts {
        let fake = Fake::new();
        let client = fake.client().build().unwrap();
        let api = SendApi::with_headers(replies.iter().map(|s| (*s, vec![("retry-after", "7")])));
        let layer = AppJwtLayer::new(client.clone());
        let service = layer.layer(api.service());
        let response = service
            .clone()
            .oneshot(request(Full::new(Bytes::from_static(b"{}"))))
            .await
            .unwrap();
        texts.push_str(&format!("{layer:?}\n{service:?}\n{response:?}\n"));
        // A body that cannot be sent twice, refused.
        let api = SendApi::answering(&[401]);
        let boxed = Full::new(Bytes::from_static(b"{}")).boxed();
        let mut once = http::Request::new(boxed);
        once.extensions_mut()
            .insert(ExtConsumerId::new("John_Doe_facebook12345").unwrap());
        let response = layer.layer(api.service()).oneshot(once).await.unwrap();
        texts.push_str(&format!("{response:?}\n"));
        assert!(fake.token_fetches() >= 1, "the tokens were really used");
    }

    // No token to be had: the errors.
    let fake = Fake::new();
    fake.script_tokens([401]);
    let client = fake.client().build().unwrap();
    let api = SendApi::answering(&[]);
    for with_consumer in [true, false] {
        let mut req = request(Full::new(Bytes::from_static(b"{}")));
        if !with_consumer {
            req.extensions_mut().clear();
        }
        let err = AppJwtLayer::new(client.clone())
            .layer(api.service())
            .oneshot(req)
            .await
            .unwrap_err();
        texts.push_str(&format!("{err}\n{err:?}\n"));
        let mut source = std::error::Error::source(&err);
        while let Some(s) = source {
            texts.push_str(&format!("{s}\n{s:?}\n"));
            source = s.source();
        }
    }

    assert_clean("debug and display", &texts);
    let logs = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    assert!(
        logs.contains("retrying with a new consumer jws"),
        "the layer's events were captured:\n{logs}"
    );
    assert_clean("logs", &logs);
}
