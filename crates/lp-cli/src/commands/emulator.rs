//! `appjwt emulator`: the emulator as a server, for testing connectors
//! offline.

use std::time::Duration;

use lp_appjwt::{AccountId, ClientId};
use lp_emulator::Emulator;

use super::read_secret;
use crate::args::EmulatorArgs;
use crate::exit::Failure;
use crate::outln;

pub async fn run(a: EmulatorArgs) -> Result<(), Failure> {
    // Checked here so a typo is bad usage (exit 2), not a failed start.
    AccountId::new(a.account.as_str()).map_err(|e| Failure::usage(format!("--account: {e}")))?;
    ClientId::new(a.client_id.as_str()).map_err(|e| Failure::usage(format!("--client-id: {e}")))?;
    let secret = read_secret(None)?;
    let emulator = Emulator::builder()
        .client(&a.account, &a.client_id, secret.expose_secret())
        .lifetime(Duration::from_secs(a.lifetime))
        .listen(a.listen)
        .on_request(|log| {
            // One line per request; the log never holds secrets or tokens.
            // A closed stdout must not stop the server, so the error is
            // dropped here.
            let _ = outln!("{log}");
        })
        .start()
        .await
        .map_err(|e| Failure::network(format!("cannot start the emulator on {}: {e}", a.listen)))?;
    emulator.write_ca_pem(&a.ca_out).map_err(|e| {
        Failure::usage(format!("cannot write --ca-out {}: {e}", a.ca_out.display()))
    })?;
    // The bound address, so `--listen 127.0.0.1:0` tells the real port.
    outln!("listening on https://{}", emulator.addr())?;
    wait_for_shutdown().await;
    emulator.shutdown().await;
    Ok(())
}

/// Ctrl-C, or SIGTERM on Unix (what `kill` and CI runners send).
async fn wait_for_shutdown() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
