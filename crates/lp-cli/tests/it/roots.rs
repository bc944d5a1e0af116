//! Which roots `appjwt` trusts: the compiled-in webpki roots and
//! `--ca-file`, plus the platform's store (and `SSL_CERT_FILE`) when built
//! with the `native-roots` feature.

use crate::support::{ACCOUNT, CLIENT_ID, Cli, SECRET, emulator, start};

fn token_without_ca_file(host: &str) -> Cli {
    Cli::new(&["token", "--account", ACCOUNT, "--client-id", CLIENT_ID])
        .args(&[
            "--csds-host",
            host,
            "--verify-with",
            "jwks",
            "--retries",
            "0",
        ])
        .secret_env(SECRET)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_emulators_ca_is_trusted_only_when_given() {
    let emu = start(emulator()).await;
    let out = token_without_ca_file(&emu.host()).run().await;
    out.expect(3, "tls handshake failed");
    emu.token_cmd().run().await.expect(0, "");
}

/// With `native-roots`, `SSL_CERT_FILE` names the platform's roots; the
/// emulator's CA there is trusted without `--ca-file`. Without the
/// feature the variable means nothing to `appjwt`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ssl_cert_file_counts_with_native_roots() {
    let emu = start(emulator()).await;
    let out = token_without_ca_file(&emu.host())
        .env("SSL_CERT_FILE", &emu.ca())
        .run()
        .await;
    if cfg!(feature = "native-roots") {
        out.expect(0, "");
    } else {
        out.expect(3, "tls handshake failed");
    }
}
