//! Browser sign-in, OpenID Connect: the authorization endpoint and the hosted pages it leads
//! through (login, consent), RP-initiated logout, `/userinfo` and discovery. The protocol's
//! checks live in `warden_core::oauth::{authorize, browser, code}`; this layer owns the
//! browser's side: cookies, CSRF tokens, pages and redirects.
//!
//! An authorization request travels through the pages as its own query string in a hidden
//! field and is checked again in full at every step, so no step trusts what an earlier page
//! carried.

pub(crate) mod logout;
mod pages;
mod setup;
mod web;

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};
use warden_core::oauth::authorize::{self, AuthorizeError, AuthorizeRequest, Pairs};
use warden_core::oauth::browser::{self, BrowserSession, PasswordChecked, SignedIn};
use warden_core::oauth::code;
use warden_core::oauth::consent;
use warden_core::oauth::GrantError;
use warden_core::DomainError;

use crate::extract::{Authenticated, ClientAddr};
use crate::state::AppState;
use web::{Cookies, Form};

/// The sign-in routes.
pub fn routes(state: &AppState) -> Router<AppState> {
    Router::new()
        .route("/oauth/authorize", get(authorize).post(authorize_form))
        .route("/oauth/login", axum::routing::post(login))
        .route(
            "/oauth/login/second-factor",
            axum::routing::post(second_factor),
        )
        .route("/oauth/consent", axum::routing::post(consent))
        .route("/oauth/logout", get(logout::page).post(logout::form))
        .route("/oauth/pages.css", get(stylesheet))
        .route(
            "/oauth/second-factor",
            get(setup::page).post(setup::confirm),
        )
        .route(
            "/userinfo",
            crate::cors::browser(get(userinfo).post(userinfo), state),
        )
        .route(
            "/.well-known/openid-configuration",
            crate::cors::browser(get(discovery), state),
        )
        // Browsers ask every site for one; the pages have none.
        .route(
            "/favicon.ico",
            get(|| async {
                (
                    [(axum::http::header::CACHE_CONTROL, "public, max-age=86400")],
                    StatusCode::NO_CONTENT,
                )
            }),
        )
}

/// Where a request stands when the flow goes on.
enum Step {
    /// Just arrived at the authorization endpoint.
    Start,
    /// The person just signed in on the login page.
    SignedIn(SignedIn),
    /// The person just allowed the application on the consent page.
    Consented(BrowserSession),
}

/// The authorization endpoint (RFC 6749 §4.1.1, OpenID Connect Core §3.1.2), for browsers:
/// `response_type=code` with PKCE (`code_challenge`, `code_challenge_method=S256`, required),
/// `client_id`, `redirect_uri` (registered exactly), `scope` (`openid profile email
/// offline_access` and role names to narrow to), `state`, `nonce`, `prompt` (`none`, `login`,
/// `consent`), `max_age`, `login_hint`, and Warden's `account`. Shows the hosted login, second
/// factor and consent pages as needed, then redirects to the client with `code`, `state` and
/// `iss` (RFC 9207). Errors go to a registered redirect URI only; otherwise an error page.
#[utoipa::path(get, path = "/oauth/authorize", tag = "sign-in",
    responses((status = 200, description = "A hosted page (login, second factor, consent)", content_type = "text/html"),
              (status = 303, description = "Back to the client: `code` or `error`, with `state` and `iss`"),
              (status = 400, description = "Unknown client or unregistered redirect URI: an error page, nothing sent anywhere", content_type = "text/html")))]
pub(crate) async fn authorize(
    State(state): State<AppState>,
    ClientAddr(ip): ClientAddr,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let query = query.unwrap_or_default();
    proceed(
        &state,
        &Cookies::of(&state, &headers),
        ip,
        &query,
        Step::Start,
    )
    .await
}

/// `POST /oauth/authorize`: the same request sent as a form (OpenID Connect Core §3.1.2.1).
async fn authorize_form(
    State(state): State<AppState>,
    ClientAddr(ip): ClientAddr,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    match std::str::from_utf8(&body) {
        Ok(query) => {
            proceed(
                &state,
                &Cookies::of(&state, &headers),
                ip,
                query,
                Step::Start,
            )
            .await
        }
        Err(_) => web::error_page(&state, StatusCode::BAD_REQUEST, "the form is not UTF-8"),
    }
}

/// Takes the request as far as it can go: to the login page, the consent page, or back to the
/// application with a code or an error.
async fn proceed(
    state: &AppState,
    cookies: &Cookies,
    ip: std::net::IpAddr,
    query: &str,
    step: Step,
) -> Response {
    let services = state.services();
    let request = match read_request(state, query).await {
        Ok(request) => request,
        Err(response) => return response,
    };
    let prompt = request.prompt;
    let consented = matches!(step, Step::Consented(_));
    // A sign-in rotates the CSRF cookie: forms and proofs bound to the old one are dead.
    let (rotated, rotation) = match step {
        Step::SignedIn(_) => {
            let (rotated, line) = cookies.rotated(state);
            (Some(rotated), Some(line))
        }
        _ => (None, None),
    };
    let cookies = rotated.as_ref().unwrap_or(cookies);
    let (browser, issued_cookie, fresh) = match step {
        Step::Start => match browser::current(services, cookies.session()).await {
            Ok(found) => (found, None, false),
            Err(err) => return web::failure(state, &err),
        },
        Step::SignedIn(signed_in) => (Some(signed_in.browser), Some(signed_in.cookie), true),
        Step::Consented(browser) => (Some(browser), None, true),
    };
    let now = warden_core::time::Timestamp::now().seconds();
    let stale = |b: &BrowserSession| {
        prompt.login || request.max_age.is_some_and(|age| now - b.auth_time() > age)
    };
    let browser = match browser {
        Some(b) if fresh || !stale(&b) => b,
        _ if prompt.none => {
            return web::send_back(
                state,
                &request,
                "login_required",
                "the person is not signed in",
            )
        }
        _ => return web::login_page(state, cookies, query, &request, None, StatusCode::OK),
    };
    let asks_consent = if consented {
        false
    } else if prompt.consent {
        true
    } else if request.recipient.client.sign_in.first_party {
        false
    } else {
        let asked = request.asked_for();
        let client_id = &request.recipient.client.client_id;
        match consent::covers(services, &browser.user.id, client_id, &asked).await {
            Ok(covered) => !covered,
            Err(err) => return web::failure(state, &err),
        }
    };
    let mut response = if asks_consent {
        if prompt.none {
            web::send_back(
                state,
                &request,
                "consent_required",
                "the person has not consented to this application",
            )
        } else {
            web::consent_page(state, cookies, query, &request, &browser)
        }
    } else {
        match code::issue_code(services, &request, &browser, ip).await {
            Ok(value) => web::redirect(
                &request
                    .recipient
                    .redirect(services.tokens.issuer(), &[("code", &value)]),
            ),
            Err(refused) => web::send_back(state, &request, refused.error, &refused.description),
        }
    };
    if let Some(cookie) = issued_cookie {
        web::set_session_cookie(state, &mut response, &cookie);
    }
    if let Some(line) = rotation {
        web::set_rotated(&mut response, &line);
    }
    response
}

/// Reads the authorization request carried in `query`; a refusal is already the answer (an
/// error page, or the redirect back with the error).
async fn read_request(state: &AppState, query: &str) -> Result<AuthorizeRequest, Response> {
    let pairs: Pairs = serde_urlencoded::from_str(query).map_err(|_| {
        web::error_page(
            state,
            StatusCode::BAD_REQUEST,
            "the request is not a valid query string",
        )
    })?;
    authorize::read(state.services(), &pairs)
        .await
        .map_err(|err| match err {
            AuthorizeError::Page(why) => web::error_page(state, StatusCode::BAD_REQUEST, &why),
            AuthorizeError::Redirect {
                recipient,
                error,
                description,
            } => web::redirect(&recipient.redirect(
                state.services().tokens.issuer(),
                &[("error", error), ("error_description", &description)],
            )),
            AuthorizeError::Domain(err) => web::failure(state, &err),
        })
}

/// A form posted by a sign-in page: this browser's cookies, the fields (CSRF token checked),
/// and the authorization request it carries, checked again in full.
struct Posted {
    cookies: Cookies,
    form: Form,
    query: String,
    request: AuthorizeRequest,
}

impl Posted {
    async fn read(state: &AppState, headers: &HeaderMap, body: &[u8]) -> Result<Self, Response> {
        let cookies = Cookies::of(state, headers);
        let mut form = Form::read(state, &cookies, body)?;
        let query = form.take("request");
        let request = read_request(state, &query).await?;
        Ok(Self {
            cookies,
            form,
            query,
            request,
        })
    }
}

/// Before a step that checks a credential (a password, a code): the per-address budget it
/// spends, and the browser session this browser already holds, which a sign-in replaces.
async fn credentials_step(
    state: &AppState,
    cookies: &Cookies,
    ip: std::net::IpAddr,
) -> Result<Option<BrowserSession>, Response> {
    if let Err(retry_after) = state.token_limiter().check(ip) {
        return Err(web::throttled(state, retry_after));
    }
    browser::current(state.services(), cookies.session())
        .await
        .map_err(|err| web::failure(state, &err))
}

/// `POST /oauth/login`: the login form. The same password gate as the password grant (one
/// answer for every failure, the same locks and the same audit), within the per-address token
/// budget; a new browser session and a new cookie on success.
async fn login(
    State(state): State<AppState>,
    ClientAddr(ip): ClientAddr,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Posted {
        cookies,
        mut form,
        query,
        request,
    } = match Posted::read(&state, &headers, &body).await {
        Ok(posted) => posted,
        Err(response) => return response,
    };
    let replaces = match credentials_step(&state, &cookies, ip).await {
        Ok(found) => found,
        Err(response) => return response,
    };
    let services = state.services();
    let username = form.take("username");
    let password = form.take("password");
    let account = request.entered_account();
    match browser::sign_in(
        services,
        &username,
        &password,
        replaces.as_ref(),
        cookies.binding(),
        (ip, account.as_deref()),
    )
    .await
    {
        Ok(PasswordChecked::SignedIn(signed_in)) => {
            proceed(&state, &cookies, ip, &query, Step::SignedIn(*signed_in)).await
        }
        Ok(PasswordChecked::SecondFactor { pending, enrolment }) => web::second_factor_page(
            &state,
            &cookies,
            &query,
            &pending,
            enrolment
                .as_ref()
                .map(|e| (e.otpauth_uri.as_str(), e.secret.as_str())),
            None,
        ),
        Err(GrantError::InvalidGrant(why) | GrantError::InvalidRequest(why)) => web::login_page(
            &state,
            &cookies,
            &query,
            &request,
            Some(&why),
            StatusCode::UNAUTHORIZED,
        ),
        Err(GrantError::Domain(err)) => web::failure(&state, &err),
        Err(other) => web::failure(&state, &DomainError::Internal(other.to_string())),
    }
}

/// `POST /oauth/login/second-factor`: the code of the second factor (or a recovery code), or
/// the first code of a factor being set up; the browser session opens only then.
async fn second_factor(
    State(state): State<AppState>,
    ClientAddr(ip): ClientAddr,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Posted {
        cookies,
        mut form,
        query,
        ..
    } = match Posted::read(&state, &headers, &body).await {
        Ok(posted) => posted,
        Err(response) => return response,
    };
    let replaces = match credentials_step(&state, &cookies, ip).await {
        Ok(found) => found,
        Err(response) => return response,
    };
    let services = state.services();
    let pending = form.take("pending");
    let code = form.take("code");
    match browser::complete(
        services,
        &pending,
        &code,
        replaces.as_ref(),
        cookies.binding(),
    )
    .await
    {
        Ok(mut signed_in) => match signed_in.recovery_codes.take() {
            // Enrolled just now: the codes are shown once, then the request goes on.
            Some(codes) => {
                // The person has just signed in: a `prompt=login` or `max_age` of the request is
                // met, and must not send them to the login page again.
                let next = format!("/oauth/authorize?{}", without_freshness(&query));
                let mut response = pages::recovery(state.theme(), &codes, &next);
                web::set_session_cookie(&state, &mut response, &signed_in.cookie);
                web::set_rotated(&mut response, &cookies.rotated(&state).1);
                response
            }
            None => proceed(&state, &cookies, ip, &query, Step::SignedIn(signed_in)).await,
        },
        Err(GrantError::InvalidGrant(why)) => {
            // Enrolling, the setup stays on screen: the pending enrolment is unchanged.
            let enrolment = match pending_enrolment(&state, &pending, cookies.binding()).await {
                Ok(found) => found,
                Err(response) => return response,
            };
            web::second_factor_page(
                &state,
                &cookies,
                &query,
                &pending,
                enrolment.as_ref().map(|(u, s)| (u.as_str(), s.as_str())),
                Some(&why),
            )
        }
        Err(GrantError::InvalidRequest(why)) => {
            web::error_page(&state, StatusCode::BAD_REQUEST, &why)
        }
        Err(GrantError::Domain(err)) => web::failure(&state, &err),
        Err(other) => web::failure(&state, &DomainError::Internal(other.to_string())),
    }
}

/// The enrolment a pending sign-in is completing, to show again after a wrong first code.
async fn pending_enrolment(
    state: &AppState,
    pending: &str,
    binding: &str,
) -> Result<Option<(String, String)>, Response> {
    browser::pending_enrolment(state.services(), pending, binding)
        .await
        .map_err(|err| web::failure(state, &err))
}

/// An authorization request without `prompt=login` and `max_age`, for going on after a sign-in
/// that just met them.
fn without_freshness(query: &str) -> String {
    let pairs: Pairs = serde_urlencoded::from_str(query).unwrap_or_default();
    let kept: Vec<(String, String)> = pairs
        .into_iter()
        .filter(|(name, _)| name != "max_age")
        .filter_map(|(name, value)| match name.as_str() {
            "prompt" => {
                let rest: Vec<&str> = value.split(' ').filter(|v| *v != "login").collect();
                (!rest.is_empty()).then(|| (name.clone(), rest.join(" ")))
            }
            _ => Some((name, value)),
        })
        .collect();
    serde_urlencoded::to_string(kept).unwrap_or_default()
}

/// `POST /oauth/consent`: the person allows or denies the application.
async fn consent(
    State(state): State<AppState>,
    ClientAddr(ip): ClientAddr,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Posted {
        cookies,
        mut form,
        query,
        request,
    } = match Posted::read(&state, &headers, &body).await {
        Ok(posted) => posted,
        Err(response) => return response,
    };
    let browser = match browser::current(state.services(), cookies.session()).await {
        Ok(Some(browser)) => browser,
        // Signed out meanwhile: start over, at the login page.
        Ok(None) => return proceed(&state, &cookies, ip, &query, Step::Start).await,
        Err(err) => return web::failure(&state, &err),
    };
    if !web::consent_shown(&state, &browser, &query, &form.take("proof")) {
        return web::error_page(
            &state,
            StatusCode::BAD_REQUEST,
            "this consent form is not from a page shown to this browser; start again from the application",
        );
    }
    match form.take("decision").as_str() {
        "allow" => {
            let client_id = &request.recipient.client.client_id;
            let asked = request.asked_for();
            if let Err(err) =
                consent::remember(state.services(), &browser.user.id, client_id, &asked).await
            {
                return web::failure(&state, &err);
            }
            proceed(&state, &cookies, ip, &query, Step::Consented(browser)).await
        }
        "deny" => web::send_back(
            &state,
            &request,
            "access_denied",
            "the person denied the request",
        ),
        _ => web::error_page(
            &state,
            StatusCode::BAD_REQUEST,
            "the form's decision is missing",
        ),
    }
}

/// The pages' stylesheet, from the theme.
async fn stylesheet(State(state): State<AppState>) -> Response {
    (
        [
            (axum::http::header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (axum::http::header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        state.theme().stylesheet(),
    )
        .into_response()
}

/// The claims about the token's user that its scopes released (OpenID Connect Core §5.3):
/// `sub`, and by scope `name`, `preferred_username`, `updated_at`, `email`,
/// `email_verified`. `POST` answers the same.
#[utoipa::path(get, path = "/userinfo", tag = "sign-in", security(("bearer" = [])),
    responses((status = 200, description = "The claims", body = Object),
              (status = 401, description = "No or a bad bearer token (`WWW-Authenticate: Bearer`)")))]
pub(crate) async fn userinfo(
    State(state): State<AppState>,
    auth: Result<Authenticated, crate::error::ApiError>,
) -> Response {
    let auth = match auth {
        Ok(auth) => auth,
        Err(err) => return err.into_response(),
    };
    let caller = match auth.reader() {
        Ok(caller) => caller,
        Err(err) => return err.into_response(),
    };
    match code::userinfo(state.services(), &caller.user_id, &caller.session_id).await {
        Ok(claims) => crate::oauth::no_store(Json(Value::Object(claims)).into_response()),
        Err(err) => crate::error::ApiError::from(err).into_response(),
    }
}

/// The metadata both discovery documents share (RFC 8414 and OpenID Connect Discovery 1.0).
pub fn metadata(state: &AppState) -> serde_json::Map<String, Value> {
    let issuer = state.services().tokens.issuer();
    let alg = state.services().tokens.keys().signing().alg.as_str();
    let value = json!({
        "issuer": issuer,
        "authorization_endpoint": format!("{issuer}/oauth/authorize"),
        "token_endpoint": format!("{issuer}/oauth/token"),
        "jwks_uri": format!("{issuer}/.well-known/jwks.json"),
        "revocation_endpoint": format!("{issuer}/oauth/revoke"),
        "introspection_endpoint": format!("{issuer}/oauth/introspect"),
        "grant_types_supported": ["authorization_code", "password", "refresh_token", "client_credentials"],
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "code_challenge_methods_supported": ["S256"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "revocation_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "introspection_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "scopes_supported": authorize::OIDC_SCOPES,
        "authorization_response_iss_parameter_supported": true,
        "service_documentation": format!("{issuer}/docs"),
        "userinfo_endpoint": format!("{issuer}/userinfo"),
        "end_session_endpoint": format!("{issuer}/oauth/logout"),
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": [alg],
        "claims_supported": ["iss", "sub", "aud", "exp", "iat", "auth_time", "nonce", "amr", "azp", "sid", "acct", "name", "preferred_username", "updated_at", "email", "email_verified"],
        "prompt_values_supported": ["none", "login", "consent", "select_account"],
    });
    match value {
        Value::Object(map) => map,
        _ => serde_json::Map::new(),
    }
}

/// OpenID Connect Discovery 1.0: the same document as the RFC 8414 metadata.
#[utoipa::path(get, path = "/.well-known/openid-configuration", tag = "sign-in",
    responses((status = 200, description = "Provider metadata", body = Object)))]
pub(crate) async fn discovery(State(state): State<AppState>) -> Json<Value> {
    Json(Value::Object(metadata(&state)))
}
