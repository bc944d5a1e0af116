//! A third-party client (curl) works exactly as the seed describes.

use crate::support::*;

#[tokio::test]
async fn curl_gets_a_token_the_seed_way() {
    let available = tokio::process::Command::new("curl")
        .arg("--version")
        .output()
        .await
        .is_ok_and(|o| o.status.success());
    if !available {
        eprintln!("note: curl not installed; skipping the curl conformity check");
        return;
    }
    let emu = emulator().await;
    let ca = std::env::temp_dir().join(format!("lp-emulator-curl-{}.pem", emu.addr().port()));
    emu.write_ca_pem(&ca).expect("write ca");
    let url = format!(
        "https://127.0.0.1:{}/sentinel/api/account/{ACCOUNT}/app/token?v=1.0&grant_type=client_credentials",
        emu.addr().port()
    );
    let output = tokio::process::Command::new("curl")
        .arg("--silent")
        .arg("--show-error")
        .arg("--noproxy")
        .arg("*")
        .arg("--cacert")
        .arg(&ca)
        .args(["-X", "POST", &url])
        .args(["-H", "Content-Type: application/x-www-form-urlencoded"])
        .args(["--data-urlencode", &format!("client_id={CLIENT}")])
        .args(["--data-urlencode", &format!("client_secret={SECRET}")])
        .args(["--write-out", "\n%{http_code}"])
        .output()
        .await
        .expect("run curl");
    let _ = std::fs::remove_file(&ca);
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "{stdout} {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let (body, code) = stdout.rsplit_once('\n').expect("status line");
    assert_eq!(code, "200", "{body}");
    let body: serde_json::Value = serde_json::from_str(body).expect("json");
    assert_eq!(body["token_type"], "Bearer");
    let token = body["access_token"].as_str().expect("access_token");
    assert_eq!(verify_with_jwks(token, &emu.jwks_json()), Ok(()));
}
