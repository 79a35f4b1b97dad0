//! The small pieces of HTTP the guard speaks to Warden with: bounded response bodies, client
//! credentials as HTTP Basic (RFC 6749 §2.3.1), and the bearer token of a request.

use axum::http::{header, HeaderMap};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;

use crate::error::GuardError;

/// The longest body read from Warden (metadata, JWKS, decisions, a feed page).
pub(crate) const MAX_BODY_BYTES: usize = 1024 * 1024;

/// Reads `response`'s body, refusing one longer than [`MAX_BODY_BYTES`].
pub(crate) async fn read_limited(mut response: reqwest::Response) -> Result<Vec<u8>, String> {
    if response
        .content_length()
        .is_some_and(|len| len > MAX_BODY_BYTES as u64)
    {
        return Err("the response is too large".into());
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|err| err.to_string())? {
        if body.len() + chunk.len() > MAX_BODY_BYTES {
            return Err("the response is too large".into());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// `application/x-www-form-urlencoded` encoding of one value.
fn form_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'*' | b'-' | b'.' | b'_' => {
                out.push(char::from(byte));
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{byte:02X}")),
        }
    }
    out
}

/// The `Authorization` value for client credentials: HTTP Basic of the form-encoded id and
/// secret, as RFC 6749 §2.3.1 has it and Warden decodes it.
pub(crate) fn basic_auth(client_id: &str, client_secret: &str) -> String {
    let pair = format!("{}:{}", form_encode(client_id), form_encode(client_secret));
    format!("Basic {}", STANDARD.encode(pair))
}

/// The bearer token of a request: `Ok(None)` without one (no `Authorization` header, or
/// another scheme), an error for a malformed bearer credential or repeated headers.
pub(crate) fn bearer(headers: &HeaderMap) -> Result<Option<&str>, GuardError> {
    let mut values = headers.get_all(header::AUTHORIZATION).iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(GuardError::MalformedCredentials);
    }
    let value = value
        .to_str()
        .map_err(|_| GuardError::MalformedCredentials)?;
    let (scheme, credential) = value.trim().split_once(' ').unwrap_or((value.trim(), ""));
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Ok(None);
    }
    let credential = credential.trim_start_matches(' ');
    // RFC 6750 §2.1 b64token.
    let body = credential.trim_end_matches('=');
    let valid = !body.is_empty()
        && body.bytes().all(|b| {
            b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'+' | b'/')
        });
    if valid {
        Ok(Some(credential))
    } else {
        Err(GuardError::MalformedCredentials)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_credentials_are_form_encoded_before_basic() {
        let value = basic_auth("wc_1", "a b:c/é");
        let decoded = STANDARD
            .decode(value.strip_prefix("Basic ").unwrap())
            .unwrap();
        assert_eq!(String::from_utf8(decoded).unwrap(), "wc_1:a+b%3Ac%2F%C3%A9");
    }

    #[test]
    fn bearer_tokens_are_found_and_malformed_ones_refused() {
        let with = |value: &str| {
            let mut headers = HeaderMap::new();
            headers.insert(header::AUTHORIZATION, value.parse().unwrap());
            headers
        };
        assert_eq!(bearer(&HeaderMap::new()), Ok(None));
        assert_eq!(bearer(&with("Bearer a.b.c")), Ok(Some("a.b.c")));
        assert_eq!(bearer(&with("bearer  a.b-c_")), Ok(Some("a.b-c_")));
        assert_eq!(bearer(&with("Basic dXNlcjpwYXNz")), Ok(None));
        assert_eq!(
            bearer(&with("Bearer")),
            Err(GuardError::MalformedCredentials)
        );
        assert_eq!(
            bearer(&with("Bearer a b")),
            Err(GuardError::MalformedCredentials)
        );
        assert_eq!(
            bearer(&with("Bearer a\"b")),
            Err(GuardError::MalformedCredentials)
        );
        let mut twice = with("Bearer a");
        twice.append(header::AUTHORIZATION, "Bearer b".parse().unwrap());
        assert_eq!(bearer(&twice), Err(GuardError::MalformedCredentials));
    }
}
