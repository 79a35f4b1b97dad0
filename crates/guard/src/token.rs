//! Strict access-token checks, independent of where the keys come from, in the order Warden
//! applies them itself: at most 8 KiB, three canonical base64url segments, a JSON header
//! without repeated members or `crit`, an `alg` of the allow-list, `typ` `at+jwt`, a `kid`;
//! then the key that `kid` names must declare that same algorithm, an ES256 signature must be
//! in its low-S form, and the signature must verify; then `iss`, `aud`, `exp`, `nbf` and `iat`
//! with a small leeway. `jku`, `x5u`, `jwk` and `x5c` headers are never looked at: the key is
//! chosen by `kid` from the issuer's own set only.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::{Map, Value};

use crate::claims::Claims;
use crate::error::TokenError;
use crate::json::unique_object;
use crate::jwks::{Alg, VerifyingKey};

/// Longest token accepted; longer ones are refused before decoding (as Warden does).
pub const MAX_TOKEN_BYTES: usize = 8 * 1024;

/// ⌊n / 2⌋ for P-256, big-endian: the largest `s` of a low-S (Warden) ES256 signature. The
/// twin (r, n - s) of a signature verifies too; Warden signs and accepts only the low form.
const P256_HALF_ORDER: [u8; 32] = [
    0x7f, 0xff, 0xff, 0xff, 0x80, 0x00, 0x00, 0x00, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xde, 0x73, 0x7d, 0x56, 0xd3, 0x8b, 0xcf, 0x42, 0x79, 0xdc, 0xe5, 0x61, 0x7e, 0x31, 0x92, 0xa8,
];

/// A token taken apart, its header checked, its signature not yet.
#[derive(Debug)]
pub(crate) struct Parsed<'a> {
    pub(crate) alg: Alg,
    pub(crate) kid: String,
    signing_input: &'a str,
    payload: Map<String, Value>,
    signature: Vec<u8>,
}

fn segment(text: &str) -> Result<Vec<u8>, TokenError> {
    // The engine refuses padding and non-zero trailing bits, so one token has one spelling.
    URL_SAFE_NO_PAD
        .decode(text)
        .map_err(|_| TokenError::Malformed)
}

/// Takes `token` apart and checks its header.
pub(crate) fn parse(token: &str) -> Result<Parsed<'_>, TokenError> {
    if token.len() > MAX_TOKEN_BYTES {
        return Err(TokenError::Malformed);
    }
    let mut parts = token.split('.');
    let (Some(header), Some(payload), Some(signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(TokenError::Malformed);
    };
    let header = unique_object(&segment(header)?).ok_or(TokenError::Malformed)?;
    let text = |name: &str| match header.get(name) {
        None => Ok(None),
        Some(Value::String(value)) => Ok(Some(value.as_str())),
        Some(_) => Err(TokenError::Malformed),
    };
    if header.contains_key("crit") {
        return Err(TokenError::Malformed);
    }
    let alg = text("alg")?
        .and_then(Alg::parse)
        .ok_or(TokenError::Algorithm)?;
    let typ = text("typ")?.map(str::to_ascii_lowercase);
    if !matches!(typ.as_deref(), Some("at+jwt" | "application/at+jwt")) {
        return Err(TokenError::Type);
    }
    let kid = text("kid")?
        .filter(|kid| !kid.is_empty())
        .ok_or(TokenError::UnknownKey)?
        .to_owned();
    let claims = unique_object(&segment(payload)?).ok_or(TokenError::Malformed)?;
    let signature = segment(signature)?;
    let signing_input = token
        .rsplit_once('.')
        .map(|(input, _)| input)
        .ok_or(TokenError::Malformed)?;
    Ok(Parsed {
        alg,
        kid,
        signing_input,
        payload: claims,
        signature,
    })
}

/// Whether a JOSE ES256 signature (`r || s`) is 64 bytes with s ≤ n / 2.
fn is_low_s(signature: &[u8]) -> bool {
    // Big-endian byte strings of one length compare as the numbers they hold.
    signature.len() == 64 && signature[32..] <= P256_HALF_ORDER[..]
}

impl Parsed<'_> {
    /// Checks the signature with the key the token's `kid` names.
    pub(crate) fn check_signature(&self, key: &VerifyingKey) -> Result<(), TokenError> {
        if key.alg != self.alg {
            return Err(TokenError::Algorithm);
        }
        if self.alg == Alg::Es256 && !is_low_s(&self.signature) {
            return Err(TokenError::Signature);
        }
        if key.verifies(self.signing_input.as_bytes(), &self.signature) {
            Ok(())
        } else {
            Err(TokenError::Signature)
        }
    }

    /// Checks the claims against what this service expects, at `now` (seconds since the
    /// epoch), and returns them.
    pub(crate) fn check_claims(
        self,
        expect: &Expectations,
        now: i64,
    ) -> Result<Claims, TokenError> {
        let payload = self.payload;
        if payload.get("iss").and_then(Value::as_str) != Some(expect.issuer.as_str()) {
            return Err(TokenError::Issuer);
        }
        let audience_named = match payload.get("aud") {
            Some(Value::String(aud)) => *aud == expect.audience,
            Some(Value::Array(auds)) => auds
                .iter()
                .any(|aud| aud.as_str() == Some(expect.audience.as_str())),
            _ => false,
        };
        if !audience_named {
            return Err(TokenError::Audience);
        }
        let time = |name: &str| {
            payload
                .get(name)
                .and_then(Value::as_i64)
                .ok_or(TokenError::Claims)
        };
        let (exp, nbf, iat) = (time("exp")?, time("nbf")?, time("iat")?);
        if exp.saturating_add(expect.leeway) <= now {
            return Err(TokenError::Expired);
        }
        if nbf > now.saturating_add(expect.leeway) || iat > now.saturating_add(expect.leeway) {
            return Err(TokenError::Premature);
        }
        let claims: Claims =
            serde_json::from_value(Value::Object(payload)).map_err(|_| TokenError::Claims)?;
        if claims.sub.is_empty() || claims.sid.is_empty() {
            return Err(TokenError::Claims);
        }
        if let Some(account) = &expect.account {
            if claims.acct.as_deref() != Some(account.as_str()) {
                return Err(TokenError::Account);
            }
        }
        Ok(claims)
    }
}

/// What a token must say to be accepted here.
#[derive(Debug, Clone)]
pub(crate) struct Expectations {
    pub(crate) issuer: String,
    pub(crate) audience: String,
    pub(crate) account: Option<String>,
    /// Clock skew tolerated on `exp`, `nbf` and `iat`, seconds.
    pub(crate) leeway: i64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn b64(value: &Value) -> String {
        URL_SAFE_NO_PAD.encode(value.to_string())
    }

    fn token(header: &Value, payload: &Value) -> String {
        format!(
            "{}.{}.{}",
            b64(header),
            b64(payload),
            URL_SAFE_NO_PAD.encode([7u8; 64])
        )
    }

    fn header() -> Value {
        json!({"alg": "ES256", "typ": "at+jwt", "kid": "k1"})
    }

    fn payload(now: i64) -> Value {
        json!({"iss": "http://w", "sub": "u", "aud": "warden", "exp": now + 60, "iat": now,
            "nbf": now, "jti": "j", "client_id": "c", "sid": "s", "acct": "a1", "roles": []})
    }

    fn expect() -> Expectations {
        Expectations {
            issuer: "http://w".into(),
            audience: "warden".into(),
            account: None,
            leeway: 10,
        }
    }

    #[test]
    fn headers_are_held_to_the_rules() {
        let ok = token(&header(), &payload(0));
        assert_eq!(parse(&ok).unwrap().kid, "k1");
        let mut cases = vec![
            (
                json!({"alg": "none", "typ": "at+jwt", "kid": "k1"}),
                TokenError::Algorithm,
            ),
            (
                json!({"alg": "HS256", "typ": "at+jwt", "kid": "k1"}),
                TokenError::Algorithm,
            ),
            (json!({"typ": "at+jwt", "kid": "k1"}), TokenError::Algorithm),
            (
                json!({"alg": "ES256", "typ": "JWT", "kid": "k1"}),
                TokenError::Type,
            ),
            (json!({"alg": "ES256", "kid": "k1"}), TokenError::Type),
            (
                json!({"alg": "ES256", "typ": "at+jwt"}),
                TokenError::UnknownKey,
            ),
            (
                json!({"alg": "ES256", "typ": "at+jwt", "kid": ""}),
                TokenError::UnknownKey,
            ),
            (
                json!({"alg": "ES256", "typ": "at+jwt", "kid": 7}),
                TokenError::Malformed,
            ),
            (
                json!({"alg": "ES256", "typ": "at+jwt", "kid": "k1", "crit": ["exp"]}),
                TokenError::Malformed,
            ),
        ];
        cases.push((json!(["not", "an", "object"]), TokenError::Malformed));
        for (header, expected) in cases {
            assert_eq!(
                parse(&token(&header, &payload(0))).unwrap_err(),
                expected,
                "{header}"
            );
        }
        let upper = json!({"alg": "ES256", "typ": "application/AT+JWT", "kid": "k1"});
        assert!(parse(&token(&upper, &payload(0))).is_ok());
        // A repeated member, which serde_json would silently resolve to the last one.
        let repeated =
            URL_SAFE_NO_PAD.encode(r#"{"alg":"ES256","typ":"at+jwt","kid":"k1","alg":"none"}"#);
        let (_, rest) = ok.split_once('.').unwrap();
        assert_eq!(
            parse(&format!("{repeated}.{rest}")).unwrap_err(),
            TokenError::Malformed
        );
    }

    #[test]
    fn only_canonical_compact_tokens_parse() {
        let ok = token(&header(), &payload(0));
        for bad in [
            String::new(),
            "a.b".into(),
            format!("{ok}.extra"),
            format!("{ok}="),
            ok.replace('.', ".."),
            "x".repeat(MAX_TOKEN_BYTES + 1),
        ] {
            assert_eq!(parse(&bad).unwrap_err(), TokenError::Malformed, "{bad}");
        }
    }

    #[test]
    fn high_s_signatures_are_refused() {
        let mut low = [0u8; 64];
        low[32..].copy_from_slice(&P256_HALF_ORDER);
        assert!(is_low_s(&low));
        low[63] += 1;
        assert!(!is_low_s(&low));
        assert!(!is_low_s(&[0; 63]));
    }

    #[test]
    fn claims_are_checked_with_the_leeway() {
        let now = 1_000_000;
        let check = |payload: Value, expect: &Expectations| {
            parse(&token(&header(), &payload))
                .unwrap()
                .check_claims(expect, now)
        };
        assert!(check(payload(now), &expect()).is_ok());
        let with = |name: &str, value: Value| {
            let mut p = payload(now);
            p[name] = value;
            p
        };
        assert_eq!(
            check(with("iss", json!("http://x")), &expect()),
            Err(TokenError::Issuer)
        );
        assert_eq!(
            check(with("aud", json!("other")), &expect()),
            Err(TokenError::Audience)
        );
        assert!(check(with("aud", json!(["other", "warden"])), &expect()).is_ok());
        assert_eq!(
            check(with("exp", json!(now - 11)), &expect()),
            Err(TokenError::Expired)
        );
        assert!(check(with("exp", json!(now - 5)), &expect()).is_ok());
        assert_eq!(
            check(with("nbf", json!(now + 11)), &expect()),
            Err(TokenError::Premature)
        );
        assert!(check(with("nbf", json!(now + 5)), &expect()).is_ok());
        assert_eq!(
            check(with("iat", json!(now + 60)), &expect()),
            Err(TokenError::Premature)
        );
        assert_eq!(
            check(with("exp", json!("soon")), &expect()),
            Err(TokenError::Claims)
        );
        assert_eq!(
            check(with("sid", json!(3)), &expect()),
            Err(TokenError::Claims)
        );
        let mut missing = payload(now);
        missing.as_object_mut().unwrap().remove("nbf");
        assert_eq!(check(missing, &expect()), Err(TokenError::Claims));

        let pinned = Expectations {
            account: Some("a1".into()),
            ..expect()
        };
        assert!(check(payload(now), &pinned).is_ok());
        let other = Expectations {
            account: Some("a2".into()),
            ..expect()
        };
        assert_eq!(check(payload(now), &other), Err(TokenError::Account));
        let mut global = payload(now);
        global.as_object_mut().unwrap().remove("acct");
        assert_eq!(check(global, &pinned), Err(TokenError::Account));
    }
}
