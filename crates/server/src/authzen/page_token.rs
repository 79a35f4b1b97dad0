//! AuthZEN search page tokens: opaque, naming where a scan stopped, and bound to the request
//! that produced them (a token sent with another request is refused).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::{Map, Value};

/// The request without its page token, hashed.
pub(super) fn fingerprint(body: &Map<String, Value>) -> String {
    use std::hash::{Hash, Hasher};
    let mut without = body.clone();
    if let Some(Value::Object(page)) = without.get_mut("page") {
        page.remove("token");
    }
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    Value::Object(without).to_string().hash(&mut hasher);
    format!("{:016x}", hasher.finish())
}

/// A page token: where the scan stopped, bound to the request it answers.
pub(super) fn token(fingerprint: &str, after: &str) -> String {
    URL_SAFE_NO_PAD.encode(format!("{fingerprint}\n{after}"))
}

pub(super) fn open_token(token: &str, fingerprint: &str) -> Result<String, String> {
    let text = URL_SAFE_NO_PAD
        .decode(token)
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .ok_or("`page.token` is not a token this PDP issued")?;
    match text.split_once('\n') {
        Some((bound, after)) if bound == fingerprint => Ok(after.to_owned()),
        Some(_) => {
            Err("`page.token` belongs to another request: send the same request with it".into())
        }
        None => Err("`page.token` is not a token this PDP issued".into()),
    }
}
