//! AppJWT encoding, written independently of the client crates so that a
//! misreading of the format there is not mirrored here.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Serialize;

use crate::{EmulatorError, SigningKey};

/// The claims of an AppJWT, serialised in the seed's order.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Claims<'a> {
    pub(crate) aud: &'a str,
    pub(crate) azp: &'a str,
    pub(crate) scope: &'a str,
    pub(crate) iss: &'a str,
    pub(crate) exp: i64,
    pub(crate) iat: i64,
}

#[derive(Serialize)]
struct Header<'a> {
    kid: &'a str,
    typ: &'a str,
    alg: &'a str,
}

/// `base64url(header).base64url(claims).base64url(RS256 signature)`; with
/// `corrupt_signature` one bit of the signature is flipped.
pub(crate) fn encode(
    key: &SigningKey,
    rng: &ring::rand::SystemRandom,
    claims: &Claims<'_>,
    corrupt_signature: bool,
) -> Result<String, EmulatorError> {
    let header = Header {
        kid: key.kid(),
        typ: "JWT",
        alg: "RS256",
    };
    // Serialising these plain structs cannot fail; map it anyway.
    let header = serde_json::to_vec(&header).map_err(|_| EmulatorError::Signing)?;
    let claims = serde_json::to_vec(claims).map_err(|_| EmulatorError::Signing)?;
    let mut token = URL_SAFE_NO_PAD.encode(header);
    token.push('.');
    token.push_str(&URL_SAFE_NO_PAD.encode(claims));
    let mut signature = key.sign(rng, token.as_bytes())?;
    if corrupt_signature {
        let middle = signature.len() / 2;
        if let Some(b) = signature.get_mut(middle) {
            *b ^= 0x01;
        }
    }
    token.push('.');
    token.push_str(&URL_SAFE_NO_PAD.encode(signature));
    Ok(token)
}
