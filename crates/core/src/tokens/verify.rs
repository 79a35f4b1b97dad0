//! Strict token verification: an explicit algorithm allow-list, never `none` or HMAC, the key
//! chosen only by `kid` from our own key set, `typ`, `iss`, `aud`, `exp`, `nbf` and `iat` all
//! checked with a small fixed leeway, duplicate or critical header parameters refused, and
//! `jku`/`x5u`/`jwk` headers never followed.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Header, Validation};
use serde_json::Value;
use thiserror::Error;

use super::claims::AccessClaims;
use super::keys::{KeySet, SigningAlgorithm};
use crate::error::DomainError;
use crate::time::Timestamp;

/// Clock skew tolerated on `exp`, `nbf` and `iat`, in seconds.
pub const LEEWAY_SECONDS: i64 = 10;
/// Longest token accepted; anything longer is refused before decoding.
pub const MAX_TOKEN_BYTES: usize = 8 * 1024;

/// Why a token was refused. The text is safe to show to the caller.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum TokenError {
    /// Not three base64url segments of JSON.
    #[error("the token is malformed")]
    Malformed,
    /// The header names an algorithm we do not accept.
    #[error("the token's algorithm is not accepted")]
    Algorithm,
    /// The header's `typ` is not `at+jwt`.
    #[error("the token is not an access token")]
    Type,
    /// No key of ours has this `kid`.
    #[error("the token was not signed by a known key")]
    UnknownKey,
    /// The signature does not verify.
    #[error("the token's signature is invalid")]
    Signature,
    /// Past `exp`.
    #[error("the token has expired")]
    Expired,
    /// Before `nbf`, or issued in the future.
    #[error("the token is not valid yet")]
    Premature,
    /// Wrong `iss` or `aud`, or a claim missing.
    #[error("the token was not issued for this service")]
    Claims,
}

/// Verifies access tokens against the current key set.
#[derive(Clone)]
pub struct TokenVerifier {
    issuer: String,
    audience: String,
}

impl TokenVerifier {
    /// A verifier for tokens of `issuer` meant for `audience`.
    pub fn new(issuer: impl Into<String>, audience: impl Into<String>) -> Self {
        Self {
            issuer: issuer.into(),
            audience: audience.into(),
        }
    }

    /// The issuer this verifier expects.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// The audience this verifier expects.
    pub fn audience(&self) -> &str {
        &self.audience
    }

    /// Signs `claims` with the key set's signing key.
    pub fn sign(&self, keys: &KeySet, claims: &AccessClaims) -> Result<String, DomainError> {
        self.sign_jwt(keys, "at+jwt", claims)
    }

    /// Signs any claims with the current key, under the header type `typ` (`at+jwt` for access
    /// tokens, `JWT` for ID tokens, so neither passes for the other).
    pub fn sign_jwt<T: serde::Serialize>(
        &self,
        keys: &KeySet,
        typ: &str,
        claims: &T,
    ) -> Result<String, DomainError> {
        let key = keys.signing();
        let mut header = Header::new(key.alg.jose());
        header.typ = Some(typ.into());
        header.kid = Some(key.kid.clone());
        let token = jsonwebtoken::encode(&header, claims, &key.encoding)
            .map_err(|err| DomainError::Internal(format!("signing: {err}")))?;
        match key.alg {
            SigningAlgorithm::ES256 => low_s(token),
            SigningAlgorithm::EdDSA | SigningAlgorithm::RS256 => Ok(token),
        }
    }

    /// Reads an ID token Warden issued, as an `id_token_hint` (OpenID Connect RP-Initiated
    /// Logout §2): the signature, the issuer and the type are checked, expiry is not (a hint
    /// may have expired). `None` for anything else.
    pub fn read_id_token_hint(&self, keys: &KeySet, token: &str) -> Option<IdTokenHint> {
        if token.len() > MAX_TOKEN_BYTES || token.split('.').count() != 3 {
            return None;
        }
        let header = strict_header(token).ok()?;
        if !header
            .typ
            .as_deref()
            .is_some_and(|t| t.eq_ignore_ascii_case("JWT"))
        {
            return None;
        }
        let alg = SigningAlgorithm::parse(&header.alg).ok()?;
        let (key_alg, key) = keys.verifying(header.kid.as_deref()?)?;
        if *key_alg != alg {
            return None;
        }
        let mut validation = Validation::new(alg.jose());
        validation.validate_exp = false;
        validation.validate_aud = false;
        validation.set_issuer(&[&self.issuer]);
        validation.set_required_spec_claims(&["iss", "aud", "sub"]);
        jsonwebtoken::decode::<IdTokenHint>(token, key, &validation)
            .ok()
            .map(|data| data.claims)
    }

    /// Verifies `token` and returns its claims.
    pub fn verify(
        &self,
        keys: &KeySet,
        token: &str,
        now: Timestamp,
    ) -> Result<AccessClaims, TokenError> {
        if token.len() > MAX_TOKEN_BYTES || token.split('.').count() != 3 {
            return Err(TokenError::Malformed);
        }
        let header = strict_header(token)?;
        let alg = match header.alg.as_str() {
            "EdDSA" | "ES256" | "RS256" => {
                SigningAlgorithm::parse(&header.alg).map_err(|_| TokenError::Algorithm)?
            }
            _ => return Err(TokenError::Algorithm),
        };
        let typ = header.typ.as_deref().map(str::to_ascii_lowercase);
        if !matches!(typ.as_deref(), Some("at+jwt" | "application/at+jwt")) {
            return Err(TokenError::Type);
        }
        let (key_alg, key) = header
            .kid
            .as_deref()
            .and_then(|kid| keys.verifying(kid))
            .ok_or(TokenError::UnknownKey)?;
        if *key_alg != alg {
            return Err(TokenError::Algorithm);
        }
        // Only the low-s form of an ECDSA signature is Warden's; its twin (r, n - s) would
        // verify too, a second valid form of the same token.
        if alg == SigningAlgorithm::ES256 {
            let signature = token
                .rsplit('.')
                .next()
                .and_then(|segment| URL_SAFE_NO_PAD.decode(segment).ok())
                .ok_or(TokenError::Malformed)?;
            if !super::ecdsa::is_low_s(&signature) {
                return Err(TokenError::Signature);
            }
        }
        let mut validation = Validation::new(alg.jose());
        validation.leeway = LEEWAY_SECONDS as u64;
        validation.validate_nbf = true;
        validation.set_issuer(&[&self.issuer]);
        validation.set_audience(&[&self.audience]);
        validation.set_required_spec_claims(&["exp", "nbf", "iss", "aud", "sub"]);
        let data = jsonwebtoken::decode::<AccessClaims>(token, key, &validation).map_err(
            |err| match err.kind() {
                ErrorKind::InvalidSignature
                | ErrorKind::InvalidEcdsaKey
                | ErrorKind::InvalidRsaKey(_) => TokenError::Signature,
                ErrorKind::ExpiredSignature => TokenError::Expired,
                ErrorKind::ImmatureSignature => TokenError::Premature,
                ErrorKind::InvalidIssuer
                | ErrorKind::InvalidAudience
                | ErrorKind::MissingRequiredClaim(_)
                | ErrorKind::InvalidSubject => TokenError::Claims,
                ErrorKind::InvalidAlgorithm | ErrorKind::InvalidAlgorithmName => {
                    TokenError::Algorithm
                }
                _ => TokenError::Malformed,
            },
        )?;
        if data.claims.iat > now.seconds() + LEEWAY_SECONDS {
            return Err(TokenError::Premature);
        }
        Ok(data.claims)
    }
}

/// What logout reads from an `id_token_hint`.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct IdTokenHint {
    /// The user.
    pub sub: String,
    /// The client it was issued to.
    pub aud: String,
    /// The browser session it was issued in (OpenID Connect's `sid`).
    #[serde(default)]
    pub sid: Option<String>,
}

/// Rewrites a signed ES256 token's signature to its low-s form: the signer may produce
/// either form, and verification accepts only the low one.
fn low_s(token: String) -> Result<String, DomainError> {
    let (signed, signature) = token
        .rsplit_once('.')
        .ok_or_else(|| DomainError::Internal("signing: no signature segment".into()))?;
    let mut signature = URL_SAFE_NO_PAD
        .decode(signature)
        .map_err(|err| DomainError::Internal(format!("signing: {err}")))?;
    super::ecdsa::normalize_s(&mut signature);
    Ok(format!("{signed}.{}", URL_SAFE_NO_PAD.encode(signature)))
}

/// The JOSE header fields we act on.
#[derive(Debug)]
struct StrictHeader {
    alg: String,
    typ: Option<String>,
    kid: Option<String>,
}

/// Decodes the header segment, refusing duplicate names, `crit`, and anything not an object.
fn strict_header(token: &str) -> Result<StrictHeader, TokenError> {
    let segment = token.split('.').next().ok_or(TokenError::Malformed)?;
    let bytes = URL_SAFE_NO_PAD
        .decode(segment)
        .map_err(|_| TokenError::Malformed)?;
    let fields = crate::json::unique_object(&bytes).map_err(|_| TokenError::Malformed)?;
    let mut header = StrictHeader {
        alg: String::new(),
        typ: None,
        kid: None,
    };
    for (name, value) in fields {
        match (name.as_str(), value) {
            ("alg", Value::String(alg)) => header.alg = alg,
            ("typ", Value::String(typ)) => header.typ = Some(typ),
            ("kid", Value::String(kid)) => header.kid = Some(kid),
            ("alg" | "typ" | "kid" | "crit", _) => return Err(TokenError::Malformed),
            _ => {}
        }
    }
    Ok(header)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::MasterKey;
    use crate::tokens::keys_generate;

    #[test]
    fn es256_tokens_are_signed_low_s_and_their_high_s_twins_refused() {
        let master = MasterKey::generate();
        let now = Timestamp::now();
        let record = keys_generate(SigningAlgorithm::ES256, &master, now, now).unwrap();
        let keys = KeySet::open(&[record], &master, now).unwrap();
        let verifier = TokenVerifier::new("https://issuer.test", "warden");
        let claims = AccessClaims {
            iss: "https://issuer.test".into(),
            sub: "s".into(),
            aud: "warden".into(),
            exp: now.seconds() + 60,
            iat: now.seconds(),
            nbf: now.seconds(),
            jti: "j".into(),
            client_id: "c".into(),
            sid: "x".into(),
            acct: None,
            roles: vec![],
            scope: None,
            narrowed: false,
            permissions: None,
        };
        // A signer without normalization yields a high s about half the time.
        for _ in 0..32 {
            let token = verifier.sign(&keys, &claims).unwrap();
            let (signed, signature) = token.rsplit_once('.').unwrap();
            let signature = URL_SAFE_NO_PAD.decode(signature).unwrap();
            assert!(super::super::ecdsa::is_low_s(&signature));
            assert!(verifier.verify(&keys, &token, now).is_ok());
            // (r, n - s): the same signature in its other form.
            let mut twin = signature.clone();
            let order = [
                0xffu8, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff,
                0xff, 0xff, 0xff, 0xbc, 0xe6, 0xfa, 0xad, 0xa7, 0x17, 0x9e, 0x84, 0xf3, 0xb9, 0xca,
                0xc2, 0xfc, 0x63, 0x25, 0x51,
            ];
            let mut borrow = 0i16;
            for i in (0..32).rev() {
                let d = i16::from(order[i]) - i16::from(signature[32 + i]) - borrow;
                borrow = i16::from(d < 0);
                twin[32 + i] = u8::try_from(d.rem_euclid(256)).unwrap();
            }
            let twin = format!("{signed}.{}", URL_SAFE_NO_PAD.encode(twin));
            assert_eq!(
                verifier.verify(&keys, &twin, now),
                Err(TokenError::Signature)
            );
        }
    }
}
