//! How a client signs people in from a browser or an app (OpenID Connect): its type, the
//! redirect URIs it may be sent back to (exact match, no wildcards), where logout may return,
//! whether it skips consent, and the origins its pages call from. Validated strictly: a
//! redirect URI is where codes and tokens are delivered, so anything an attacker could bend
//! (a fragment, userinfo, a wildcard, a non-loopback `http`, a script scheme) is refused.

use crate::error::Problems;
use crate::model::{ClientType, SignIn};

/// At most this many URIs or origins of each kind.
const MAX_ENTRIES: usize = 20;
/// The longest URI accepted.
const MAX_URI: usize = 2000;

/// The sign-in settings as a request gives them; absent fields keep their current values.
#[derive(Debug, Default)]
pub struct SignInInput {
    /// `confidential` or `public`.
    pub client_type: Option<String>,
    /// Where codes may be delivered.
    pub redirect_uris: Option<Vec<String>>,
    /// Where RP-initiated logout may return.
    pub post_logout_redirect_uris: Option<Vec<String>>,
    /// Whether people are not asked to consent.
    pub first_party: Option<bool>,
    /// Origins allowed to call the token, userinfo, revocation and JWKS endpoints (CORS).
    pub allowed_origins: Option<Vec<String>>,
}

/// Whether `host` (as it appears in a URI's authority, without the port) is this machine.
fn is_loopback(host: &str) -> bool {
    matches!(host, "localhost" | "[::1]")
        || host
            .parse::<std::net::Ipv4Addr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// Splits `scheme://authority/rest` into (scheme, host, rest), or says why not.
fn split(uri: &str) -> Result<(&str, &str, &str), &'static str> {
    let (scheme, rest) = uri.split_once("://").ok_or("must be an absolute URI")?;
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, path) = rest.split_at(end);
    if authority.is_empty() {
        return Err("must name a host");
    }
    if authority.contains('@') {
        return Err("must not carry a user name or password");
    }
    let host = if authority.starts_with('[') {
        authority
            .find(']')
            .map(|at| &authority[..=at])
            .ok_or("has an unclosed IPv6 address")?
    } else {
        authority.split(':').next().unwrap_or_default()
    };
    if let Some(port) = authority[host.len()..].strip_prefix(':') {
        if port.is_empty() || port.parse::<u16>().is_err() {
            return Err("has an invalid port");
        }
    } else if authority.len() != host.len() {
        return Err("has an invalid port");
    }
    if !host
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '[' | ']' | ':'))
    {
        return Err("has an invalid host");
    }
    Ok((scheme, host, path))
}

/// Checks one redirect URI: `https`, `http` to a loopback host (RFC 8252 §7.3), or a
/// private-use scheme in reverse-domain form (`com.example.app:/callback`, RFC 8252 §7.1).
pub fn redirect_uri(uri: &str) -> Result<(), &'static str> {
    if uri.len() > MAX_URI {
        return Err("is too long");
    }
    if uri.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("must not contain spaces or control characters");
    }
    if uri.contains('#') {
        return Err("must not have a fragment (RFC 6749 §3.1.2)");
    }
    if uri.contains('*') {
        return Err("must be exact: no wildcards");
    }
    let scheme = uri.split(':').next().unwrap_or_default();
    if scheme.contains('.') && !uri.contains("://") {
        let valid = scheme
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '-' | '+'));
        let path = &uri[scheme.len() + 1..];
        return if valid && path.starts_with('/') && path.len() > 1 {
            Ok(())
        } else {
            Err("a private-use scheme must be reverse-domain lowercase with a path, like com.example.app:/callback")
        };
    }
    let (scheme, host, _) = split(uri)?;
    match scheme {
        "https" => Ok(()),
        "http" if is_loopback(host) => Ok(()),
        "http" => Err("may use http only for a loopback host (127.0.0.1, [::1], localhost)"),
        _ => Err("must use https (http only for loopback, or a reverse-domain private-use scheme)"),
    }
}

/// Checks one origin: `scheme://host[:port]`, nothing after, `https` or loopback `http`.
pub fn origin(text: &str) -> Result<(), &'static str> {
    if text.len() > MAX_URI || text.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("must be an origin like https://app.example.com");
    }
    let (scheme, host, path) = split(text)?;
    if !path.is_empty() {
        return Err("must be an origin only: no path, query or trailing slash");
    }
    match scheme {
        "https" => Ok(()),
        "http" if is_loopback(host) => Ok(()),
        _ => Err("must use https (http only for a loopback host)"),
    }
}

fn list(
    problems: &mut Problems,
    field: &str,
    values: Vec<String>,
    check: fn(&str) -> Result<(), &'static str>,
) -> Vec<String> {
    if values.len() > MAX_ENTRIES {
        problems.push(field, format!("must list at most {MAX_ENTRIES}"));
    }
    let mut out: Vec<String> = Vec::new();
    for (i, value) in values.into_iter().enumerate() {
        match check(&value) {
            Err(why) => problems.push(format!("{field}[{i}]"), why),
            Ok(()) if !out.contains(&value) => out.push(value),
            Ok(()) => {}
        }
    }
    out
}

/// Applies `input` to `current` (a new client's defaults, or a stored client's settings),
/// checking it against the client's `grant_types`. `creating` says whether the type may be
/// set; `may_be_first_party` whether the actor may mark the client first-party.
pub fn apply(
    problems: &mut Problems,
    mut current: SignIn,
    input: SignInInput,
    grant_types: &[String],
    creating: bool,
    may_be_first_party: bool,
) -> SignIn {
    if let Some(kind) = input.client_type {
        match (creating, kind.as_str()) {
            (true, "confidential") => current.client_type = ClientType::Confidential,
            (true, "public") => current.client_type = ClientType::Public,
            (true, _) => problems.push("client_type", "must be `confidential` or `public`"),
            (false, _) if kind == current.client_type.as_str() => {}
            (false, _) => problems.push(
                "client_type",
                "is fixed at creation: create a new client of the other type",
            ),
        }
    }
    if let Some(uris) = input.redirect_uris {
        current.redirect_uris = list(problems, "redirect_uris", uris, redirect_uri);
    }
    if let Some(uris) = input.post_logout_redirect_uris {
        current.post_logout_redirect_uris =
            list(problems, "post_logout_redirect_uris", uris, redirect_uri);
    }
    if let Some(origins) = input.allowed_origins {
        current.allowed_origins = list(problems, "allowed_origins", origins, origin);
    }
    if let Some(first_party) = input.first_party {
        if first_party && !current.first_party && !may_be_first_party {
            problems.push(
                "first_party",
                "only a global administrator may let a client skip consent",
            );
        } else {
            current.first_party = first_party;
        }
    }
    let grants = |name: &str| grant_types.iter().any(|g| g == name);
    if grants("authorization_code") && current.redirect_uris.is_empty() {
        problems.push(
            "redirect_uris",
            "the authorization_code grant needs at least one redirect URI",
        );
    }
    if current.client_type == ClientType::Public {
        for machine in ["client_credentials", "password"] {
            if grants(machine) {
                problems.push(
                    "grant_types",
                    format!("a public client has no secret and may not use `{machine}`"),
                );
            }
        }
    }
    current
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirect_uris_are_exact_and_safe() {
        for good in [
            "https://app.example.com/callback",
            "https://app.example.com:8443/cb?x=1",
            "http://127.0.0.1:8000/callback",
            "http://localhost/cb",
            "http://[::1]:9000/cb",
            "com.example.app:/oauth2redirect",
        ] {
            assert_eq!(redirect_uri(good), Ok(()), "{good}");
        }
        for bad in [
            "http://app.example.com/callback",
            "https://app.example.com/cb#frag",
            "https://*.example.com/cb",
            "https://user:pw@app.example.com/cb",
            "https://evil.example@app.example.com/cb",
            "javascript:alert(1)",
            "data:text/html,hi",
            "/relative/path",
            "https:///no-host",
            "https://app.example.com:99999/cb",
            "https://app.example.com/c b",
            "http://127.0.0.1.evil.com/cb",
            "ftp://files.example.com/",
            "com.example.app:",
        ] {
            assert!(redirect_uri(bad).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn origins_have_no_path() {
        assert_eq!(origin("https://app.example.com"), Ok(()));
        assert_eq!(origin("http://localhost:5173"), Ok(()));
        for bad in [
            "https://app.example.com/",
            "https://app.example.com/x",
            "http://app.example.com",
            "app.example.com",
            "*",
        ] {
            assert!(origin(bad).is_err(), "{bad} accepted");
        }
    }
}
