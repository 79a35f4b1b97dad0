//! The issuer's public keys as a JWK Set (RFC 7517): which members make a usable verifying key,
//! and how long a fetched set stays fresh (its `Cache-Control: max-age`).
//!
//! A key is usable only when it declares a `kid` and one algorithm of the allow-list (ES256,
//! EdDSA, RS256) that fits its type and curve; `oct` (HMAC) keys, keys without `alg`, keys for
//! encryption and RSA keys under 2048 bits are dropped, and a `kid` given twice is dropped
//! entirely, so a token's `kid` names at most one key and that key names its one algorithm.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use aws_lc_rs::signature::{
    ParsedPublicKey, ECDSA_P256_SHA256_FIXED, ED25519, RSA_PKCS1_2048_8192_SHA256,
};
use axum::http::{header, HeaderMap};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::Value;

/// The signature algorithms a Warden key may declare. Never `none`, never HMAC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Alg {
    /// ECDSA on P-256 with SHA-256 (Warden's default).
    Es256,
    /// Ed25519.
    EdDsa,
    /// RSASSA-PKCS1-v1_5 with SHA-256.
    Rs256,
}

impl Alg {
    /// The algorithm named `text` in a JOSE header or JWK, if it is on the allow-list.
    pub(crate) fn parse(text: &str) -> Option<Self> {
        match text {
            "ES256" => Some(Self::Es256),
            "EdDSA" => Some(Self::EdDsa),
            "RS256" => Some(Self::Rs256),
            _ => None,
        }
    }
}

/// One public key of the issuer: its `kid`, the one algorithm it verifies, the parsed key.
pub(crate) struct VerifyingKey {
    pub(crate) kid: String,
    pub(crate) alg: Alg,
    key: ParsedPublicKey,
}

impl fmt::Debug for VerifyingKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VerifyingKey")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .finish_non_exhaustive()
    }
}

impl VerifyingKey {
    /// Whether `signature` is this key's signature of `message`.
    pub(crate) fn verifies(&self, message: &[u8], signature: &[u8]) -> bool {
        self.key.verify_sig(message, signature).is_ok()
    }
}

fn member<'a>(jwk: &'a serde_json::Map<String, Value>, name: &str) -> Option<&'a str> {
    jwk.get(name).and_then(Value::as_str)
}

fn bytes(jwk: &serde_json::Map<String, Value>, name: &str) -> Option<Vec<u8>> {
    URL_SAFE_NO_PAD
        .decode(member(jwk, name)?.trim_end_matches('='))
        .ok()
}

/// One JWK as a verifying key, or `None` when it is not a usable public signing key.
pub(crate) fn parse_key(jwk: &Value) -> Option<VerifyingKey> {
    let jwk = jwk.as_object()?;
    let kid = member(jwk, "kid").filter(|kid| !kid.is_empty())?;
    let alg = Alg::parse(member(jwk, "alg")?)?;
    if jwk.get("use").is_some_and(|u| u.as_str() != Some("sig")) {
        return None;
    }
    let kty = member(jwk, "kty")?;
    let key = match (alg, kty) {
        (Alg::Es256, "EC") if member(jwk, "crv") == Some("P-256") => {
            let (x, y) = (bytes(jwk, "x")?, bytes(jwk, "y")?);
            if x.len() != 32 || y.len() != 32 {
                return None;
            }
            let point = [&[0x04][..], &x, &y].concat();
            ParsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, point).ok()?
        }
        (Alg::EdDsa, "OKP") if member(jwk, "crv") == Some("Ed25519") => {
            let x = bytes(jwk, "x")?;
            if x.len() != 32 {
                return None;
            }
            ParsedPublicKey::new(&ED25519, x).ok()?
        }
        (Alg::Rs256, "RSA") => {
            let n = bytes(jwk, "n")?;
            let e = bytes(jwk, "e")?;
            let n = strip_zeros(&n);
            if n.len() < 256 || strip_zeros(&e).is_empty() {
                return None;
            }
            ParsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, rsa_public_key_der(n, &e)).ok()?
        }
        _ => return None,
    };
    Some(VerifyingKey {
        kid: kid.to_owned(),
        alg,
        key,
    })
}

/// The usable keys of a JWK Set by `kid`; a `kid` given twice is dropped entirely.
pub(crate) fn parse_jwks(document: &Value) -> Result<HashMap<String, Arc<VerifyingKey>>, String> {
    let keys = document
        .get("keys")
        .and_then(Value::as_array)
        .ok_or("the JWKS is not an object with a `keys` list")?;
    let mut usable: HashMap<String, Arc<VerifyingKey>> = HashMap::new();
    let mut seen = HashSet::new();
    let mut repeated = HashSet::new();
    for jwk in keys {
        if let Some(kid) = jwk.get("kid").and_then(Value::as_str) {
            if !seen.insert(kid) {
                repeated.insert(kid);
            }
        }
        if let Some(key) = parse_key(jwk) {
            usable.insert(key.kid.clone(), Arc::new(key));
        }
    }
    usable.retain(|kid, _| !repeated.contains(kid.as_str()));
    Ok(usable)
}

/// The `max-age` of a `Cache-Control` header; `no-store` and `no-cache` count as zero, and
/// `None` means the header says nothing about freshness.
pub(crate) fn max_age(headers: &HeaderMap) -> Option<Duration> {
    let mut found = None;
    for value in headers.get_all(header::CACHE_CONTROL) {
        let Ok(text) = value.to_str() else { continue };
        for directive in text.split(',') {
            let directive = directive.trim().to_ascii_lowercase();
            if directive == "no-store" || directive == "no-cache" {
                return Some(Duration::ZERO);
            }
            if let Some(seconds) = directive.strip_prefix("max-age=") {
                if let Ok(seconds) = seconds.trim_matches('"').parse::<u64>() {
                    found = Some(Duration::from_secs(seconds));
                }
            }
        }
    }
    found
}

fn strip_zeros(bytes: &[u8]) -> &[u8] {
    let start = bytes.iter().position(|b| *b != 0).unwrap_or(bytes.len());
    &bytes[start..]
}

/// DER of a PKCS#1 `RSAPublicKey ::= SEQUENCE { modulus INTEGER, publicExponent INTEGER }`.
fn rsa_public_key_der(n: &[u8], e: &[u8]) -> Vec<u8> {
    fn length(len: usize, out: &mut Vec<u8>) {
        if len < 0x80 {
            out.push(len as u8);
        } else {
            let bytes = len.to_be_bytes();
            let significant = strip_zeros(&bytes);
            out.push(0x80 | significant.len() as u8);
            out.extend_from_slice(significant);
        }
    }
    fn integer(value: &[u8], out: &mut Vec<u8>) {
        let value = strip_zeros(value);
        // A leading 1 bit would make the INTEGER negative.
        let pad = value.first().is_none_or(|b| b & 0x80 != 0);
        out.push(0x02);
        length(value.len() + usize::from(pad), out);
        if pad {
            out.push(0);
        }
        out.extend_from_slice(value);
    }
    let mut body = Vec::with_capacity(n.len() + e.len() + 16);
    integer(n, &mut body);
    integer(e, &mut body);
    let mut der = Vec::with_capacity(body.len() + 8);
    der.push(0x30);
    length(body.len(), &mut der);
    der.extend_from_slice(&body);
    der
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_lc_rs::rand::SystemRandom;
    use aws_lc_rs::signature::{
        EcdsaKeyPair, Ed25519KeyPair, KeyPair, RsaKeyPair, ECDSA_P256_SHA256_FIXED_SIGNING,
        RSA_PKCS1_SHA256,
    };
    use serde_json::json;

    fn b64(bytes: &[u8]) -> String {
        URL_SAFE_NO_PAD.encode(bytes)
    }

    fn ec_jwk(kid: &str) -> (EcdsaKeyPair, Value) {
        let pkcs8 =
            EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &SystemRandom::new())
                .unwrap();
        let pair =
            EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref()).unwrap();
        let point = pair.public_key().as_ref().to_vec();
        let jwk = json!({"kty": "EC", "crv": "P-256", "kid": kid, "alg": "ES256", "use": "sig",
            "x": b64(&point[1..33]), "y": b64(&point[33..])});
        (pair, jwk)
    }

    #[test]
    fn every_algorithm_verifies_through_its_jwk() {
        let rng = SystemRandom::new();
        let message = b"header.payload";

        let (pair, jwk) = ec_jwk("ec");
        let key = parse_key(&jwk).unwrap();
        let signature = pair.sign(&rng, message).unwrap();
        assert_eq!(key.alg, Alg::Es256);
        assert!(key.verifies(message, signature.as_ref()));
        assert!(!key.verifies(b"header.other", signature.as_ref()));

        let pkcs8 = Ed25519KeyPair::generate_pkcs8(&rng).unwrap();
        let pair = Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).unwrap();
        let jwk = json!({"kty": "OKP", "crv": "Ed25519", "kid": "ed", "alg": "EdDSA",
            "x": b64(pair.public_key().as_ref())});
        let key = parse_key(&jwk).unwrap();
        assert!(key.verifies(message, pair.sign(message).as_ref()));

        let pair = RsaKeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).unwrap();
        let components: aws_lc_rs::signature::RsaPublicKeyComponents<Vec<u8>> =
            pair.public_key().into();
        let jwk = json!({"kty": "RSA", "kid": "rsa", "alg": "RS256",
            "n": b64(&components.n), "e": b64(&components.e)});
        let key = parse_key(&jwk).unwrap();
        let mut signature = vec![0; pair.public_modulus_len()];
        pair.sign(&RSA_PKCS1_SHA256, &rng, message, &mut signature)
            .unwrap();
        assert!(key.verifies(message, &signature));
    }

    #[test]
    fn unusable_keys_are_dropped() {
        let (_, good) = ec_jwk("k");
        let variants = [
            ("alg", json!("HS256")),
            ("alg", json!("none")),
            ("alg", json!("EdDSA")),
            ("alg", Value::Null),
            ("use", json!("enc")),
            ("crv", json!("P-384")),
            ("kty", json!("oct")),
            ("kid", json!("")),
            ("x", json!("AAAA")),
        ];
        for (name, value) in variants {
            let mut jwk = good.clone();
            if value.is_null() {
                jwk.as_object_mut().unwrap().remove(name);
            } else {
                jwk[name] = value.clone();
            }
            assert!(parse_key(&jwk).is_none(), "{name} = {value}");
        }
        let short_rsa = json!({"kty": "RSA", "kid": "r", "alg": "RS256",
            "n": b64(&[0xc5; 128]), "e": b64(&[1, 0, 1])});
        assert!(parse_key(&short_rsa).is_none());
        assert!(
            parse_key(&json!({"kty": "oct", "kid": "h", "alg": "HS256", "k": "c2VjcmV0"}))
                .is_none()
        );
    }

    #[test]
    fn a_kid_given_twice_names_no_key() {
        let (_, first) = ec_jwk("same");
        let (_, second) = ec_jwk("same");
        let (_, third) = ec_jwk("other");
        let keys = parse_jwks(&json!({"keys": [first, second, third]})).unwrap();
        assert_eq!(keys.len(), 1);
        assert!(keys.contains_key("other"));
        assert!(parse_jwks(&json!({"nokeys": []})).is_err());
    }

    #[test]
    fn cache_control_max_age_is_read() {
        let mut headers = HeaderMap::new();
        assert_eq!(max_age(&headers), None);
        headers.insert(
            header::CACHE_CONTROL,
            "public, max-age=300".parse().unwrap(),
        );
        assert_eq!(max_age(&headers), Some(Duration::from_secs(300)));
        headers.insert(header::CACHE_CONTROL, "no-store".parse().unwrap());
        assert_eq!(max_age(&headers), Some(Duration::ZERO));
        headers.insert(header::CACHE_CONTROL, "public".parse().unwrap());
        assert_eq!(max_age(&headers), None);
    }

    #[test]
    fn rsa_der_encodes_long_lengths_and_sign_bits() {
        let der = rsa_public_key_der(&[0x80; 256], &[1, 0, 1]);
        // SEQUENCE, long length of two bytes; INTEGER with a 0x00 pad before the high bit.
        assert_eq!(&der[..4], &[0x30, 0x82, 0x01, 0x0a]);
        assert_eq!(&der[4..9], &[0x02, 0x82, 0x01, 0x01, 0x00]);
        assert_eq!(&der[der.len() - 5..], &[0x02, 0x03, 1, 0, 1]);
    }
}
