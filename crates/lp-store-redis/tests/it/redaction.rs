//! The password of a store's URL appears in none of its texts: Debug and
//! Display of the builder and the store, `redact_url`, and the errors of
//! bad URLs, refused connections, wrong passwords and timeouts.

use std::time::Duration;

use integration_tests::redis_server::RedisServer;
use lp_store::TokenStore;
use lp_store_redis::{RedisStore, redact_url};
use proptest::prelude::*;

use crate::support::key;

/// `text` percent-encoded except for the unreserved characters, as a
/// user would write it in a URL.
fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Every text of a store built from `url`, and of its builder, or the
/// build error's.
fn texts_of(url: &str) -> Vec<String> {
    let mut texts = vec![redact_url(url)];
    match RedisStore::builder(url) {
        Ok(builder) => {
            texts.push(format!("{builder:?}"));
            match builder.build() {
                Ok(store) => {
                    texts.push(format!("{store:?}"));
                    texts.push(store.to_string());
                    texts.push(store.redacted_url().to_owned());
                }
                Err(err) => texts.push(format!("{err} {err:?}")),
            }
        }
        Err(err) => texts.push(format!("{err} {err:?}")),
    }
    texts
}

/// Checks that no text shows `password` in any form.
fn check_hidden(texts: &[String], password: &str) {
    for text in texts {
        for form in [password.to_owned(), encode(password)] {
            assert!(!text.contains(&form), "{text:?} shows the password");
        }
    }
}

/// URL shapes around a password: valid ones and broken ones.
fn shapes(password: &str) -> Vec<String> {
    let p = encode(password);
    vec![
        format!("redis://:{p}@127.0.0.1:6379"),
        format!("redis://app:{p}@cache.internal:6380/2"),
        format!("rediss://app:{p}@cache.internal"),
        format!("redis://app:{p}@[::1]:7000"),
        format!("http://app:{p}@cache"),
        format!("redis://app:{p}@"),
        format!("redis://app:{p}@cache:99999"),
        format!("redis://app:{p}@cache/notadb"),
        format!("redis://app:{p}@cache?password={p}"),
        format!("rediss://app:{p}@cache#{p}"),
        format!("redis:/app:{p}@cache"),
        format!("app:{p}@cache:6379"),
        // The password written raw, unencoded, as users do.
        format!("redis://app:{password}@cache"),
    ]
}

proptest! {
    #[test]
    fn no_text_shows_the_password(tail in "[ -~]{6,24}") {
        // A marker that cannot occur by chance in a host, port or message.
        let password = format!("Qz{tail}");
        for url in shapes(&password) {
            check_hidden(&texts_of(&url), &password);
        }
    }

    #[test]
    fn redact_url_never_panics(url in "\\PC{0,80}") {
        let _ = redact_url(&url);
        let _ = RedisStore::builder(&url).map(|b| b.build());
    }
}

#[tokio::test]
async fn errors_from_the_network_hide_the_password() {
    let right = "Qz-right-8841!";
    let wrong = "Qz-wrong-2230#";
    let Some(mut redis) = RedisServer::start_with_password(right) else {
        return;
    };
    let k = key("k");
    let mut texts = Vec::new();
    let mut note = |result: Result<Option<Vec<u8>>, lp_store::StoreError>| {
        let err = result.expect_err("the call should fail");
        texts.push(format!("{err} {err:?}"));
    };
    note(
        RedisStore::open(&redis.url_with_password(&encode(wrong)))
            .unwrap()
            .get(&k)
            .await,
    );
    redis.pause();
    let slow = RedisStore::builder(&redis.url_with_password(&encode(right)))
        .unwrap()
        .connect_timeout(Duration::from_millis(200))
        .build()
        .unwrap();
    note(slow.get(&k).await);
    redis.resume();
    redis.kill();
    note(
        RedisStore::open(&redis.url_with_password(&encode(right)))
            .unwrap()
            .get(&k)
            .await,
    );
    assert_eq!(texts.len(), 3);
    check_hidden(&texts, right);
    check_hidden(&texts, wrong);
}
