//! `rediss://` against redis-server's own TLS port, with a throw-away CA.

use std::time::Duration;

use integration_tests::redis_server::{RedisOptions, RedisServer, RedisTls};
use lp_store::{StoreErrorKind, TokenStore};
use lp_store_redis::RedisStore;
use rcgen::{
    BasicConstraints, CertificateParams, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};

use crate::support::{check_error, key};

const PASSWORD: &str = "tls-pass-5521";

/// A CA (PEM) and a server certificate for 127.0.0.1 signed by it.
fn certificates() -> (String, RedisTls) {
    let ca_key = KeyPair::generate().unwrap();
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    ca.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca, ca_key);
    let leaf_key = KeyPair::generate().unwrap();
    let mut leaf = CertificateParams::new(vec!["127.0.0.1".to_owned()]).unwrap();
    leaf.is_ca = IsCa::ExplicitNoCa;
    leaf.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let leaf_cert = leaf.signed_by(&leaf_key, &issuer).unwrap();
    (
        ca_cert.pem(),
        RedisTls {
            cert_pem: leaf_cert.pem(),
            key_pem: leaf_key.serialize_pem(),
        },
    )
}

fn tls_server() -> Option<(String, RedisServer)> {
    let (ca_pem, tls) = certificates();
    let server = RedisServer::start_with(RedisOptions {
        password: Some(PASSWORD.to_owned()),
        tls: Some(tls),
    })?;
    Some((ca_pem, server))
}

#[tokio::test]
async fn rediss_with_a_private_ca() {
    let Some((ca_pem, redis)) = tls_server() else {
        return;
    };
    assert!(redis.url().starts_with("rediss://"));
    let store = RedisStore::builder(&redis.url())
        .unwrap()
        .ca_certificates_pem(ca_pem)
        .connect()
        .await
        .unwrap();
    assert!(
        store
            .to_string()
            .starts_with("rediss://:[redacted]@127.0.0.1:")
    );
    let k = key("over-tls");
    store
        .put(&k, b"sealed", Duration::from_secs(60))
        .await
        .unwrap();
    assert_eq!(
        store.get(&k).await.unwrap().as_deref(),
        Some(&b"sealed"[..])
    );
}

#[tokio::test]
async fn an_unknown_certificate_is_refused() {
    let Some((_, redis)) = tls_server() else {
        return;
    };
    // The system's roots do not know the throw-away CA.
    let store = RedisStore::open(&redis.url()).unwrap();
    check_error(
        store.get(&key("k")).await,
        StoreErrorKind::Unavailable,
        "certificate",
        &[PASSWORD],
    );
    // Nor does another throw-away CA.
    let (other_ca, _) = certificates();
    let store = RedisStore::builder(&redis.url())
        .unwrap()
        .ca_certificates_pem(other_ca)
        .build()
        .unwrap();
    check_error(
        store.get(&key("k")).await,
        StoreErrorKind::Unavailable,
        "certificate",
        &[PASSWORD],
    );
}

#[tokio::test]
async fn rediss_to_a_plain_port_fails_cleanly() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let url = format!("rediss://127.0.0.1:{}", redis.port());
    let store = RedisStore::builder(&url)
        .unwrap()
        .connect_timeout(Duration::from_millis(500))
        .build()
        .unwrap();
    let err = store.get(&key("k")).await.unwrap_err();
    assert!(
        matches!(
            err.kind(),
            StoreErrorKind::Unavailable | StoreErrorKind::Timeout
        ),
        "{err}"
    );
}

#[test]
fn a_ca_without_certificates_is_a_config_error() {
    for pem in [
        &b""[..],
        b"not pem",
        b"-----BEGIN CERTIFICATE-----\n%%%\n-----END CERTIFICATE-----\n",
    ] {
        let err = RedisStore::builder(&format!("rediss://:{PASSWORD}@127.0.0.1:1"))
            .unwrap()
            .ca_certificates_pem(pem)
            .build()
            .unwrap_err();
        assert_eq!(err.kind(), StoreErrorKind::Config, "{err}");
        assert!(!err.to_string().contains(PASSWORD));
    }
}
