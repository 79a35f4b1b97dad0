//! `/v1/forward-auth`: one endpoint for nginx `auth_request`, Traefik ForwardAuth and Caddy
//! `forward_auth`. The proxy says which request it is holding (nginx: `X-Original-Method`
//! and `X-Original-URL`; Traefik and Caddy: `X-Forwarded-Method`, `-Proto`, `-Host`, `-Uri`),
//! believed only from a configured trusted proxy; the route rules say what it needs; the
//! caller's credential (bearer token, API key, or a configured cookie) is authenticated and
//! decided by the same engine as `POST /v1/check`. 200 carries the identity for the upstream;
//! 401 and 403 are what every proxy passes back. Nothing here answers 5xx for bad input: to
//! nginx a 5xx from the auth request is an error page, so a malformed request is a 403.

pub mod rules;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use warden_core::authn::AuthError;
use warden_core::authz::check::CheckRequest;
use warden_core::authz::engine::Resource;
use warden_core::authz::Access;

use crate::state::AppState;
use rules::{normalize_path, Outcome};

/// The request the proxy is holding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Original {
    /// Its method, upper case.
    pub method: String,
    /// Its host (port included, if any).
    pub host: String,
    /// Its request target, as sent.
    pub target: String,
    /// Its URL, for a sign-in redirect.
    pub url: String,
}

/// Reads the original request from the proxy's headers: nginx's `X-Original-URL` first,
/// then the `X-Forwarded-*` convention of Traefik and Caddy.
pub fn original(headers: &HeaderMap) -> Result<Original, &'static str> {
    let text = |name: &str| -> Result<Option<String>, &'static str> {
        let mut values = headers.get_all(name).iter();
        let Some(first) = values.next() else {
            return Ok(None);
        };
        if values.next().is_some() {
            return Err("a forwarded header is repeated");
        }
        first
            .to_str()
            .map(|v| Some(v.trim().to_owned()))
            .map_err(|_| "a forwarded header is not ASCII")
    };
    // Traefik and Caddy pass the client's own headers on: a request carrying both
    // conventions may have been written by the client, so it is refused.
    if headers.contains_key("x-original-url") && headers.contains_key("x-forwarded-uri") {
        return Err("the request carries both X-Original-URL and X-Forwarded-Uri");
    }
    if let Some(url) = text("x-original-url")? {
        let method = text("x-original-method")?.unwrap_or_else(|| "GET".into());
        return from_url(&method, &url);
    }
    let uri = text("x-forwarded-uri")?.ok_or("the proxy sent no original request")?;
    let host = text("x-forwarded-host")?.ok_or("the proxy sent no X-Forwarded-Host")?;
    let method = text("x-forwarded-method")?.unwrap_or_else(|| "GET".into());
    let proto = text("x-forwarded-proto")?.unwrap_or_else(|| "http".into());
    if !uri.starts_with('/') {
        return Err("X-Forwarded-Uri does not start with `/`");
    }
    Ok(Original {
        method: method.to_ascii_uppercase(),
        url: format!("{proto}://{host}{uri}"),
        host,
        target: uri,
    })
}

/// The original request from a method and an absolute URL (nginx's convention, and
/// `warden forward-auth explain`).
pub fn from_url(method: &str, url: &str) -> Result<Original, &'static str> {
    let (scheme, rest) = url
        .split_once("://")
        .ok_or("X-Original-URL is not an absolute URL")?;
    if !scheme.eq_ignore_ascii_case("http") && !scheme.eq_ignore_ascii_case("https") {
        return Err("X-Original-URL is not an http(s) URL");
    }
    let (host, target) = match rest.find('/') {
        Some(at) => (&rest[..at], &rest[at..]),
        None => (rest, "/"),
    };
    if host.is_empty() || host.contains('@') {
        return Err("X-Original-URL has no plain host");
    }
    Ok(Original {
        method: method.to_ascii_uppercase(),
        host: host.to_owned(),
        target: target.to_owned(),
        url: url.to_owned(),
    })
}

/// The credential presented: `Authorization: Bearer`, else an `X-API-Key` header (an API key
/// only), else the configured cookie.
fn credential(headers: &HeaderMap, cookie: Option<&str>) -> Option<String> {
    if let Some(value) = headers.get(header::AUTHORIZATION) {
        let text = value.to_str().ok()?;
        let (scheme, token) = text.split_once(' ')?;
        return (scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty())
            .then(|| token.trim().to_owned());
    }
    if let Some(value) = headers.get("x-api-key") {
        let key = value.to_str().ok()?.trim();
        return key
            .starts_with(warden_core::authn::api_key::PREFIX)
            .then(|| key.to_owned());
    }
    let name = cookie?;
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|line| line.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value.trim().to_owned())
        .filter(|value| !value.is_empty())
}

fn answer(status: StatusCode, detail: &str) -> Response {
    let body = json!({
        "type": format!("/problems/{}", match status {
            StatusCode::UNAUTHORIZED => "unauthenticated",
            _ => "forbidden",
        }),
        "title": status.canonical_reason().unwrap_or("Error"),
        "status": status.as_u16(),
        "detail": detail,
    });
    let mut response = (status, axum::Json(body)).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/problem+json"),
    );
    response
}

fn refused(detail: &str) -> Response {
    answer(StatusCode::FORBIDDEN, detail)
}

/// 401: no credential, or one that does not authenticate.
fn unauthenticated(
    state: &AppState,
    headers: &HeaderMap,
    original: &Original,
    why: Option<&str>,
) -> Response {
    let mut response = answer(
        StatusCode::UNAUTHORIZED,
        why.unwrap_or("this route needs a bearer token or an API key"),
    );
    let challenge = match why {
        None => "Bearer realm=\"warden\"".to_owned(),
        Some(why) => format!(
            "Bearer realm=\"warden\", error=\"invalid_token\", error_description=\"{}\"",
            why.replace(['"', '\\'], "'")
        ),
    };
    if let Ok(value) = HeaderValue::from_str(&challenge) {
        response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, value);
    }
    let wants_html = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|accept| accept.contains("text/html"));
    if let (true, Some(login)) = (wants_html, &state.forward_auth().login_url) {
        let encoded: String = url_encode(&original.url);
        let location = login.replace("{url}", &encoded);
        if let Ok(value) = HeaderValue::from_str(&location) {
            // nginx: `auth_request_set $login $upstream_http_x_warden_login;` and an
            // `error_page 401` that redirects there; Traefik and Caddy can copy it too.
            response.headers_mut().insert("x-warden-login", value);
        }
    }
    response
}

fn url_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// 200, with who the caller is for the upstream.
fn allowed(state: &AppState, access: Option<&Access>, token: Option<&str>) -> Response {
    let mut response = StatusCode::OK.into_response();
    let Some(access) = access else {
        return response;
    };
    let headers = response.headers_mut();
    let mut set = |name: &'static str, value: String| {
        if let Ok(value) = HeaderValue::from_str(&value) {
            headers.insert(name, value);
        }
    };
    set("x-warden-user", access.subject());
    if let Some(account) = access.account() {
        set("x-warden-account", account.to_string());
    }
    set("x-warden-roles", access.role_names().join(","));
    if state.forward_auth().pass_token {
        if let Some(token) = token {
            set("x-warden-token", token.to_owned());
        }
    }
    response
}

/// Decides a request a reverse proxy holds: 200 with `X-Warden-User`, `X-Warden-Account`
/// and `X-Warden-Roles`, 401 with `WWW-Authenticate`, or 403. Answers only configured trusted
/// proxies (`trusted_proxies`); the route rules are the `[forward_auth]` section of the
/// configuration file.
#[utoipa::path(get, path = "/v1/forward-auth", tag = "check",
    params(
        ("X-Original-URL" = Option<String>, Header, description = "nginx: the original URL"),
        ("X-Original-Method" = Option<String>, Header, description = "nginx: the original method"),
        ("X-Forwarded-Method" = Option<String>, Header, description = "Traefik, Caddy"),
        ("X-Forwarded-Proto" = Option<String>, Header, description = "Traefik, Caddy"),
        ("X-Forwarded-Host" = Option<String>, Header, description = "Traefik, Caddy"),
        ("X-Forwarded-Uri" = Option<String>, Header, description = "Traefik, Caddy"),
    ),
    responses(
        (status = 200, description = "allowed; identity in X-Warden-User, X-Warden-Account, X-Warden-Roles"),
        (status = 401, description = "no valid credential", body = crate::error::Problem),
        (status = 403, description = "denied, or not asked by a trusted proxy", body = crate::error::Problem),
    ))]
pub async fn forward_auth(State(state): State<AppState>, request: Request) -> Response {
    let services = state.services();
    // Without connection info (not served through `serve`) the peer is unknown: untrusted.
    let peer = request
        .extensions()
        .get::<ConnectInfo<std::net::SocketAddr>>()
        .map_or(std::net::SocketAddr::from(([0, 0, 0, 0], 0)), |info| info.0);
    let headers = request.headers();
    // Only a proxy may say which request it holds: anyone else could name a public route.
    if !services
        .settings
        .trusted_proxies
        .iter()
        .any(|block| block.contains(peer.ip()))
    {
        return refused("forward-auth answers only the configured trusted proxies");
    }
    let original = match original(headers) {
        Ok(original) => original,
        Err(why) => return refused(why),
    };
    let path = match normalize_path(&original.target) {
        Ok(path) => path,
        Err(bad) => return refused(bad.0),
    };
    let rules = state.forward_auth();
    let matched = rules.decide(&original.method, &original.host, &path);
    let token = credential(headers, rules.cookie.as_deref());
    let ip = warden_core::net::client_ip(
        peer.ip(),
        headers.get("x-forwarded-for").and_then(|v| v.to_str().ok()),
        &services.settings.trusted_proxies,
    );
    match matched.outcome {
        Outcome::Deny => refused(&matched.rule.map_or_else(
            || "no rule matches this route".to_owned(),
            |n| format!("rule {n} denies this route"),
        )),
        // A public route takes a credential only to pass the identity on: one that does not
        // authenticate (or cannot be confirmed now) just passes none.
        Outcome::Public => {
            let access = match &token {
                Some(token) => warden_core::authn::authenticate(services, token, ip)
                    .await
                    .ok(),
                None => None,
            };
            allowed(&state, access.as_ref(), token.as_deref())
        }
        Outcome::Authenticated => {
            match credentialed(&state, headers, &original, token.as_deref(), ip).await {
                Ok(access) => allowed(&state, Some(&access), token.as_deref()),
                Err(response) => *response,
            }
        }
        Outcome::Role(role) => {
            let access = match credentialed(&state, headers, &original, token.as_deref(), ip).await
            {
                Ok(access) => access,
                Err(response) => return *response,
            };
            if access.acts_through_global_role(role) {
                return allowed(&state, Some(&access), token.as_deref());
            }
            let event = warden_core::audit::Event {
                actor: warden_core::authz::actor_name(&access),
                action: "check.denied",
                account: access.account(),
                target: Some(format!("route:{} {}", original.method, path)),
                details: json!({
                    "via": "forward-auth",
                    "rule": matched.rule,
                    "needs_role": role,
                }),
            };
            warden_core::audit::record_repeated(services, event, 1).await;
            refused(&format!("this route needs the role `{role}`"))
        }
        Outcome::Permission { action, kind } => {
            let access = match credentialed(&state, headers, &original, token.as_deref(), ip).await
            {
                Ok(access) => access,
                Err(response) => return *response,
            };
            let request = CheckRequest {
                principal: None,
                account_id: None,
                action: action.clone(),
                resource: Resource {
                    kind: kind.clone(),
                    id: matched.resource_id.clone(),
                    attributes: serde_json::Map::new(),
                    parents: Vec::new(),
                },
                context: serde_json::Map::new(),
                principal_properties: serde_json::Map::new(),
            };
            // `check` audits the denial, as for `POST /v1/check`.
            match warden_core::authz::check::check(services, &access, ip, &request).await {
                Ok(decision) if decision.allowed => {
                    allowed(&state, Some(&access), token.as_deref())
                }
                Ok(_) => refused(&format!("`{action}` is not allowed on this resource")),
                Err(err) => refused(&err.to_string()),
            }
        }
    }
}

/// The caller behind `token`, or the 401 to answer: none presented, one that does not
/// authenticate, or credentials Warden cannot confirm right now.
async fn credentialed(
    state: &AppState,
    headers: &HeaderMap,
    original: &Original,
    token: Option<&str>,
    ip: std::net::IpAddr,
) -> Result<Access, Box<Response>> {
    let Some(token) = token else {
        return Err(Box::new(unauthenticated(state, headers, original, None)));
    };
    match warden_core::authn::authenticate(state.services(), token, ip).await {
        Ok(access) => Ok(access),
        Err(AuthError::Refused(why)) => Err(Box::new(unauthenticated(
            state,
            headers,
            original,
            Some(&why),
        ))),
        Err(AuthError::Stale) => Err(Box::new(answer(
            StatusCode::UNAUTHORIZED,
            "Warden cannot confirm credentials right now; retry shortly",
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(
                axum::http::HeaderName::from_bytes(name.as_bytes()).expect("name"),
                HeaderValue::from_str(value).expect("value"),
            );
        }
        map
    }

    #[test]
    fn nginx_and_traefik_conventions_both_name_the_original_request() {
        let nginx = original(&headers(&[
            ("x-original-url", "https://app.example.com/docs/1?x=y"),
            ("x-original-method", "post"),
        ]))
        .expect("nginx");
        assert_eq!(nginx.method, "POST");
        assert_eq!(nginx.host, "app.example.com");
        assert_eq!(nginx.target, "/docs/1?x=y");
        let traefik = original(&headers(&[
            ("x-forwarded-method", "GET"),
            ("x-forwarded-proto", "https"),
            ("x-forwarded-host", "app.example.com"),
            ("x-forwarded-uri", "/docs/1"),
        ]))
        .expect("traefik");
        assert_eq!(traefik.url, "https://app.example.com/docs/1");
        for bad in [
            vec![],
            vec![("x-original-url", "/relative")],
            vec![("x-original-url", "ftp://h/x")],
            vec![("x-original-url", "http://user@h/x")],
            vec![("x-forwarded-uri", "/x")],
            vec![
                ("x-forwarded-uri", "/x"),
                ("x-forwarded-host", "a"),
                ("x-forwarded-host", "b"),
            ],
        ] {
            assert!(original(&headers(&bad)).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn the_credential_comes_from_the_bearer_header_or_the_named_cookie() {
        let bearer = headers(&[("authorization", "Bearer abc"), ("cookie", "t=zzz")]);
        assert_eq!(credential(&bearer, Some("t")).as_deref(), Some("abc"));
        let cookie = headers(&[("cookie", "a=1; t=zzz")]);
        assert_eq!(credential(&cookie, Some("t")).as_deref(), Some("zzz"));
        assert_eq!(credential(&cookie, None), None);
        assert_eq!(
            credential(&headers(&[("authorization", "Basic x")]), Some("t")),
            None
        );
        let key = headers(&[("x-api-key", "wk_abc")]);
        assert_eq!(credential(&key, None).as_deref(), Some("wk_abc"));
        // The API-key header carries API keys only, never a bearer token.
        assert_eq!(
            credential(&headers(&[("x-api-key", "eyJ.x.y")]), None),
            None
        );
    }
}
