//! Signing keys: generation (ES256 by default, EdDSA and RS256 by configuration), sealing under
//! the master key for storage, and the public JWKS.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{
    EcdsaKeyPair, Ed25519KeyPair, KeyPair, RsaKeyPair, ECDSA_P256_SHA256_FIXED_SIGNING,
};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey};
use serde_json::{json, Value};

use crate::crypto::MasterKey;
use crate::error::DomainError;
use crate::time::Timestamp;

/// The JWS algorithms Warden signs with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum SigningAlgorithm {
    /// Ed25519: small, fast, deterministic.
    EdDSA,
    /// ECDSA over P-256 with SHA-256 (the default: what every JOSE library verifies).
    ES256,
    /// RSASSA-PKCS1-v1_5 with SHA-256 over a 2048-bit key.
    RS256,
}

impl SigningAlgorithm {
    /// Parses `EdDSA`, `ES256` or `RS256`.
    pub fn parse(text: &str) -> Result<Self, String> {
        match text {
            "EdDSA" => Ok(Self::EdDSA),
            "ES256" => Ok(Self::ES256),
            "RS256" => Ok(Self::RS256),
            other => Err(format!(
                "`{}` is not a supported algorithm: use EdDSA, ES256 or RS256",
                crate::identity::clip(other)
            )),
        }
    }

    /// The JOSE name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::EdDSA => "EdDSA",
            Self::ES256 => "ES256",
            Self::RS256 => "RS256",
        }
    }

    pub(crate) fn jose(self) -> Algorithm {
        match self {
            Self::EdDSA => Algorithm::EdDSA,
            Self::ES256 => Algorithm::ES256,
            Self::RS256 => Algorithm::RS256,
        }
    }
}

impl fmt::Display for SigningAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A key as stored: the private half sealed under the master key, the public half as a JWK.
#[derive(Debug, Clone)]
pub struct KeyRecord {
    /// Key id, unique, published as `kid`.
    pub kid: String,
    /// Signing algorithm.
    pub alg: SigningAlgorithm,
    /// PKCS#8 DER of the private key, sealed by [`MasterKey::seal`] with the kid as context.
    pub private_sealed: String,
    /// The public JWK (JSON text).
    pub public_jwk: String,
    /// When the key was created.
    pub created_at: Timestamp,
    /// From when the key signs new tokens (published before that).
    pub activate_at: Timestamp,
    /// When the key stops being published; `None` while in use.
    pub retire_at: Option<Timestamp>,
}

/// A private signing key, ready to sign.
pub struct SigningKey {
    /// Key id.
    pub kid: String,
    /// Algorithm.
    pub alg: SigningAlgorithm,
    /// When it began to sign.
    pub active_since: Timestamp,
    pub(crate) encoding: EncodingKey,
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn crypto_err(what: &str) -> DomainError {
    DomainError::Internal(format!("key generation failed: {what}"))
}

/// Generates a new key pair and seals it for storage.
pub fn generate(
    alg: SigningAlgorithm,
    master: &MasterKey,
    now: Timestamp,
    activate_at: Timestamp,
) -> Result<KeyRecord, DomainError> {
    let rng = SystemRandom::new();
    let kid = format!(
        "{}-{}",
        alg.as_str().to_lowercase(),
        &crate::crypto::random_token()[..16]
    );
    let (pkcs8, mut jwk) = match alg {
        SigningAlgorithm::EdDSA => {
            let doc = Ed25519KeyPair::generate_pkcs8(&rng).map_err(|_| crypto_err("Ed25519"))?;
            let pair =
                Ed25519KeyPair::from_pkcs8(doc.as_ref()).map_err(|_| crypto_err("Ed25519"))?;
            let x = b64(pair.public_key().as_ref());
            (
                doc.as_ref().to_vec(),
                json!({"kty": "OKP", "crv": "Ed25519", "x": x}),
            )
        }
        SigningAlgorithm::ES256 => {
            let doc = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
                .map_err(|_| crypto_err("P-256"))?;
            let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, doc.as_ref())
                .map_err(|_| crypto_err("P-256"))?;
            let point = pair.public_key().as_ref();
            if point.len() != 65 {
                return Err(crypto_err("P-256 point"));
            }
            let (x, y) = (b64(&point[1..33]), b64(&point[33..65]));
            (
                doc.as_ref().to_vec(),
                json!({"kty": "EC", "crv": "P-256", "x": x, "y": y}),
            )
        }
        SigningAlgorithm::RS256 => {
            let pair = aws_lc_rs::rsa::KeyPair::generate(KeySize::Rsa2048)
                .map_err(|_| crypto_err("RSA"))?;
            let der = pair.as_der().map_err(|_| crypto_err("RSA DER"))?;
            let parsed = RsaKeyPair::from_pkcs8(der.as_ref()).map_err(|_| crypto_err("RSA"))?;
            let components =
                aws_lc_rs::signature::RsaPublicKeyComponents::<Vec<u8>>::from(parsed.public_key());
            (
                der.as_ref().to_vec(),
                json!({"kty": "RSA", "n": b64(&components.n), "e": b64(&components.e)}),
            )
        }
    };
    if let Some(map) = jwk.as_object_mut() {
        map.insert("kid".into(), Value::String(kid.clone()));
        map.insert("alg".into(), Value::String(alg.as_str().into()));
        map.insert("use".into(), Value::String("sig".into()));
    }
    Ok(KeyRecord {
        private_sealed: master.seal(&kid, &pkcs8)?,
        kid,
        alg,
        public_jwk: jwk.to_string(),
        created_at: now,
        activate_at,
        retire_at: None,
    })
}

/// Reads one DER element at the start of `input`: (tag, contents, rest).
fn der_element(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let count = usize::from(first & 0x7f);
        if count == 0 || count > 4 || rest.len() < count {
            return None;
        }
        let len = rest[..count]
            .iter()
            .fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
        (len, &rest[count..])
    };
    (rest.len() >= len).then(|| (tag, &rest[..len], &rest[len..]))
}

/// The `privateKey` OCTET STRING of a PKCS#8 `PrivateKeyInfo` (for RSA: the PKCS#1 key that
/// the signer wants), or `None` if `der` is not one.
fn pkcs8_private_key(der: &[u8]) -> Option<&[u8]> {
    let (0x30, info, _) = der_element(der)? else {
        return None;
    };
    let (0x02, _version, rest) = der_element(info)? else {
        return None;
    };
    let (0x30, _algorithm, rest) = der_element(rest)? else {
        return None;
    };
    let (0x04, key, _) = der_element(rest)? else {
        return None;
    };
    Some(key)
}

/// The keys a node signs and verifies with, built from the stored records.
pub struct KeySet {
    signing: Arc<SigningKey>,
    verifying: HashMap<String, (SigningAlgorithm, DecodingKey)>,
    jwks: Value,
}

impl KeySet {
    /// Opens the stored keys: the newest active one signs; every unretired one verifies and is
    /// published.
    pub fn open(
        records: &[KeyRecord],
        master: &MasterKey,
        now: Timestamp,
    ) -> Result<Self, DomainError> {
        let published: Vec<&KeyRecord> = records
            .iter()
            .filter(|r| r.retire_at.is_none_or(|t| t > now))
            .collect();
        let signer = published
            .iter()
            .filter(|r| r.activate_at <= now)
            .max_by_key(|r| r.activate_at)
            .ok_or_else(|| DomainError::Internal("no active signing key in the store".into()))?;
        let der = master.open(&signer.kid, &signer.private_sealed)?;
        let encoding = match signer.alg {
            SigningAlgorithm::EdDSA => EncodingKey::from_ed_der(&der),
            SigningAlgorithm::ES256 => EncodingKey::from_ec_der(&der),
            SigningAlgorithm::RS256 => {
                EncodingKey::from_rsa_der(pkcs8_private_key(&der).ok_or_else(|| {
                    DomainError::Internal(format!("stored key `{}` is not PKCS#8", signer.kid))
                })?)
            }
        };
        let mut verifying = HashMap::new();
        let mut jwks = Vec::new();
        for record in &published {
            let jwk: Value = serde_json::from_str(&record.public_jwk).map_err(|err| {
                DomainError::Internal(format!("stored JWK `{}`: {err}", record.kid))
            })?;
            let field = |name: &str| {
                jwk.get(name)
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned()
            };
            let decoding = match record.alg {
                SigningAlgorithm::EdDSA => DecodingKey::from_ed_components(&field("x")),
                SigningAlgorithm::ES256 => {
                    DecodingKey::from_ec_components(&field("x"), &field("y"))
                }
                SigningAlgorithm::RS256 => {
                    DecodingKey::from_rsa_components(&field("n"), &field("e"))
                }
            }
            .map_err(|err| DomainError::Internal(format!("stored JWK `{}`: {err}", record.kid)))?;
            verifying.insert(record.kid.clone(), (record.alg, decoding));
            jwks.push(jwk);
        }
        Ok(Self {
            signing: Arc::new(SigningKey {
                kid: signer.kid.clone(),
                alg: signer.alg,
                active_since: signer.activate_at,
                encoding,
            }),
            verifying,
            jwks: json!({ "keys": jwks }),
        })
    }

    /// The key new tokens are signed with.
    pub fn signing(&self) -> &SigningKey {
        &self.signing
    }

    /// Whether every key `other` verifies with is still here (a token it verified still
    /// verifies).
    pub fn verifies_every_key_of(&self, other: &KeySet) -> bool {
        other
            .verifying
            .keys()
            .all(|kid| self.verifying.contains_key(kid))
    }

    /// The verifying key with id `kid`.
    pub fn verifying(&self, kid: &str) -> Option<&(SigningAlgorithm, DecodingKey)> {
        self.verifying.get(kid)
    }

    /// The public JWK Set document.
    pub fn jwks(&self) -> &Value {
        &self.jwks
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tokens::{AccessClaims, TokenVerifier};

    #[test]
    fn every_algorithm_signs_and_verifies_through_its_published_jwk() {
        let master = MasterKey::generate();
        let now = Timestamp::now();
        let verifier = TokenVerifier::new("https://issuer.test", "warden");
        for alg in [
            SigningAlgorithm::EdDSA,
            SigningAlgorithm::ES256,
            SigningAlgorithm::RS256,
        ] {
            let record = generate(alg, &master, now, now).unwrap();
            let keys = KeySet::open(&[record], &master, now).unwrap();
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
            let token = verifier.sign(&keys, &claims).unwrap();
            assert_eq!(
                verifier.verify(&keys, &token, now).unwrap(),
                claims,
                "{alg}"
            );
            assert_eq!(keys.jwks()["keys"][0]["alg"], alg.as_str());
        }
    }

    #[test]
    fn keys_open_only_with_their_master_key() {
        let now = Timestamp::now();
        let record = generate(SigningAlgorithm::EdDSA, &MasterKey::generate(), now, now).unwrap();
        assert!(KeySet::open(&[record], &MasterKey::generate(), now).is_err());
    }

    #[test]
    fn malformed_der_is_not_mistaken_for_pkcs8() {
        assert!(pkcs8_private_key(&[]).is_none());
        assert!(pkcs8_private_key(&[0x30, 0x85, 0, 0, 0, 0, 0]).is_none());
        assert!(pkcs8_private_key(&[0x30, 0x03, 0x02, 0x01, 0x00]).is_none());
    }
}
